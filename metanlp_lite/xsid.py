"""xSID 0.7 (van der Goot et al., NAACL 2021; CC BY-SA 4.0): the same utterances to a voice
assistant in 19 languages and dialects, each labelled with one of 16 intents.

The readers here turn the original CoNLL files into rows; :mod:`metanlp_lite.data` registers one
dataset per language, so ``load_intents("xsid:de")`` is German (see :data:`XSID_LANGUAGES`).

Every row keeps its **parallel position**: ``split`` (``"valid"`` or ``"test"``, the file it comes
from) and ``position``, the index of the English sentence of that split that it translates (0-based,
the same in every language), and ``text_en``, that English sentence. Keep a meta-test sentence out of
meta-training in *every* language by its ``(split, position)``; English itself repeats sentences
(17 texts occur more than once in valid, 32 in test, 25 in both splits: "Show all alarms" ...), so
``text_en`` is the safer key.

What the files hold, and how the positions are found (checked on the files at :data:`XSID_COMMIT`):

- 300 valid and 500 test sentences per language, in the order of English, except Japanese: the
  first 150 and 250 only (10 intents: the alarm, reminder and weather ones), and Norwegian: 11
  versions of each sentence (``# id = 17/B``: Bokmål, ``17/1`` .. ``17/10``: dialect speakers),
  3,300 and 5,500, with a ``dialect`` column (B, N, T, V), one empty valid sentence dropped;
- the translations carry the English sentence (``# text-en``), and it, not the file order nor
  ``# id``, gives the position: Lithuanian's ``# id`` numbers are not the English order, and
  Bavarian (``de-ba``) moves three sentences (valid 99 and 103 after 151, test 148 to the end);
  Norwegian has no ``# text-en`` and is placed by its ``# id``;
- the ``label`` is each file's own ``# intent``, which differs from the English one at a few
  positions (Arabic test: 26, Norwegian test: 2 positions in all 11 versions, Munich Bavarian
  valid: 1); the intents of valid and test differ by one each (``alarm/modify_alarm``, 1 sentence,
  valid only; ``alarm/time_left_on_alarm``, test only);
- the texts are the ``# text =`` lines, whitespace stripped (Japanese's are split into words by
  spaces); two Italian test sentences were left in English.
"""
from __future__ import annotations

import difflib
import re
import urllib.request
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

__all__ = ["download_file", "XSID_LANGUAGES", "XSID_INTENTS", "XSID_SPLITS", "XSID_COMMIT", "XSID_URL", "XSID_SOURCE", "xsid_files",
           "read_xsid", "fetch_xsid", "parse_conll", "parallel_positions"]

XSID_LANGUAGES: dict[str, str] = {  # code (as in the file names) -> name
    "ar": "Arabic", "da": "Danish", "de": "German", "de-ba": "Bavarian",
    "de-muc": "Munich Bavarian", "de-st": "South Tyrolean", "en": "English",
    "gsw": "Swiss German", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh",
    "lt": "Lithuanian", "nap": "Neapolitan", "nl": "Dutch", "no": "Norwegian", "sr": "Serbian",
    "tr": "Turkish", "zh": "Chinese",
}
XSID_INTENTS: tuple[str, ...] = (  # sorted, as ClassLabel names: the same ids in every language
    "AddToPlaylist", "BookRestaurant", "PlayMusic", "RateBook", "SearchCreativeWork", "SearchScreeningEvent",
    "alarm/cancel_alarm", "alarm/modify_alarm", "alarm/set_alarm", "alarm/show_alarms", "alarm/snooze_alarm",
    "alarm/time_left_on_alarm", "reminder/cancel_reminder", "reminder/set_reminder", "reminder/show_reminders",
    "weather/find",
)
XSID_SPLITS = ("valid", "test")
XSID_COMMIT = "761d926c3f2e9f6bea13192d2f39cec1d04d9777"  # mainlp/xsid, data/xSID-0.7/
XSID_URL = f"https://raw.githubusercontent.com/mainlp/xsid/{XSID_COMMIT}/data/xSID-0.7/{{file}}"
XSID_SOURCE = f"https://github.com/mainlp/xsid/tree/{XSID_COMMIT}/data/xSID-0.7"  # for people

_COMMENT = re.compile(r"#\s*([\w-]+)\s*=\s?(.*)")  # "# text = ...", "# text-en = ...", "# id = 17/B"
XsidRows = tuple[list[str], list[str], dict[str, list]]  # texts, intents, {column: one value per row}


def xsid_files(language: str) -> tuple[str, ...]:
    """The files a language is read from: its own two, and English's (for the positions)."""
    return tuple(f"{lang}.{split}.conll" for lang in dict.fromkeys((language, "en")) for split in XSID_SPLITS)


def parse_conll(text: str, where: str = "xSID") -> list[dict[str, str]]:
    """The comment lines of each sentence of an xSID CoNLL file, as ``{"text": ..., "intent": ...,
    "text-en": ..., "id": ...}`` (what the file has), in file order; the token rows are skipped."""
    sentences = []
    for n, block in enumerate(re.split(r"\n\s*\n", text.strip()), 1):
        meta: dict[str, str] = {}
        for line in block.splitlines():
            if (m := _COMMENT.fullmatch(line.strip())) is not None:
                meta.setdefault(m[1], m[2].strip())
        if "text" not in meta or "intent" not in meta:
            raise ValueError(f"{where}, sentence {n}: no '# text =' or '# intent =' line")
        sentences.append(meta)
    return sentences


def parallel_positions(english: list[str], text_en: list[str]) -> list[int]:
    """The index in ``english`` of each of ``text_en`` (the translations' ``# text-en``), (n,) -> (n,).

    The two lists are matched in order (difflib), so that a sentence repeated in English is placed
    where its neighbours are; a line changed in between (a typo, a cut) keeps the place of the one it
    replaces, and a sentence moved elsewhere goes to the unmatched English sentence of the same text.
    """
    pos: list[int | None] = [None] * len(text_en)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, english, text_en, autojunk=False).get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            pos[j1:j2] = range(i1, i2)
    free: dict[str, list[int]] = {}
    for i in sorted(set(range(len(english))) - set(pos)):
        free.setdefault(english[i], []).append(i)
    for j, t in enumerate(text_en):
        if pos[j] is None and free.get(t):
            pos[j] = free[t].pop(0)
    if None in pos:
        j = pos.index(None)
        raise ValueError(f"sentence {j} ('# text-en = {text_en[j]}') matches no English sentence")
    return pos  # type: ignore[return-value]


def _rows(language: str, read: Callable[[str], str]) -> XsidRows:
    """xSID's rows for ``language`` from ``read(file name) -> file contents``."""
    if language not in XSID_LANGUAGES:
        raise ValueError(f"unknown xSID language {language!r}: use one of {', '.join(XSID_LANGUAGES)}")
    texts, intents, cols = [], [], {"split": [], "position": [], "text_en": []}
    if language == "no":
        cols["dialect"] = []
    for split in XSID_SPLITS:
        english = [s["text"] for s in parse_conll(read(f"en.{split}.conll"), f"en.{split}.conll")]
        sentences = parse_conll(read(f"{language}.{split}.conll"), f"{language}.{split}.conll")
        if language == "en":
            positions = list(range(len(sentences)))
        elif language == "no":  # "# id = 17/B": the 17th English sentence, version B
            positions = [int(s["id"].split("/")[0]) - 1 for s in sentences]
        else:
            positions = parallel_positions(english, [s["text-en"] for s in sentences])
        for s, p in zip(sentences, positions):
            if not s["text"]:  # one Norwegian valid sentence (289/1) is empty
                continue
            texts.append(s["text"])
            intents.append(s["intent"])
            cols["split"].append(split)
            cols["position"].append(p)
            cols["text_en"].append(english[p])
            if language == "no":
                cols["dialect"].append(s["dialect"])
    return texts, intents, cols


def read_xsid(language: str, folder: Path) -> XsidRows:
    """``language``'s rows from a local copy of ``data/xSID-0.7/`` (its files and English's:
    :func:`xsid_files`): texts, intents, and the columns ``split``, ``position``, ``text_en``
    (and ``dialect`` for Norwegian), one value per row."""
    def read(name: str) -> str:
        path = Path(folder) / name
        if not path.is_file():
            raise FileNotFoundError(f"xSID: {path} is missing (expected the original {name} of xSID 0.7)")
        return path.read_text(encoding="utf-8")

    return _rows(language, read)


@lru_cache(maxsize=None)
def download_file(name: str) -> str:
    """The text of one file of xSID's repository at :data:`XSID_COMMIT` (``de.test.conll``...), downloaded once a
    session."""
    with urllib.request.urlopen(XSID_URL.format(file=name), timeout=20) as response:
        return response.read().decode("utf-8")


def fetch_xsid(language: str, spec: object = None) -> XsidRows:
    """:func:`read_xsid`, downloaded from the repository at :data:`XSID_COMMIT` (each file once a
    session); ``spec`` (the dataset's, from the registry) is not needed."""
    return _rows(language, download_file)
