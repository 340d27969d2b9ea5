"""xSID's languages, or your own, in one table, and the split that keeps a test sentence out of training.

- :func:`load_corpus`: every xSID language's rows in one table (Norwegian: its Bokmål version),
  with frozen MiniLM embeddings, hashed character n-grams of any script, and for each row the row
  of its English original (:class:`Corpus`); :func:`corpus_from_file`: the same from a user's
  CSV, TSV or JSONL file; :func:`reembed`: another encoder's embeddings;
- :func:`position_split`: the parallel sentences (keyed by their English text) of meta-training,
  meta-validation and meta-testing, disjoint: meta-test is every sentence of xSID's test files,
  in every language; the other two share out the rest, less every near-duplicate of a test
  sentence in any language (:func:`part_labels` turns a part and a set of languages into labels,
  -1 elsewhere);
- :func:`with_dialects`: a corpus with xSID's Norwegian dialect test sentences added, each speaker a
  language ("no-1" .. "no-10"), for a check of the models held out on Norwegian on new texts with the same content;
  :func:`dialect_rows`: the speakers' versions of the test or the validation file, as rows (for
  finding twins among them).

:mod:`metanlp_lite.crosslingual` trains and scores on this table (notebook 06) and re-exports
these names.
"""
from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .fewshot.features import HashedNgrams
from .leakage import normalised, twin_rows
from .xsid import XSID_INTENTS, XSID_LANGUAGES

__all__ = ["LANGUAGES", "CHAR_BUCKETS", "Corpus", "load_corpus", "corpus_from_file", "reembed", "position_split",
           "part_labels", "word_twins", "DIALECT_FILE", "with_dialects", "dialect_rows"]

LANGUAGES: tuple[str, ...] = tuple(XSID_LANGUAGES)   # the 19 codes, "ar" ... "zh"
CHAR_BUCKETS = 4096          # hashed n-grams: word unigrams and bigrams, character 2- to 4-grams


class Corpus(NamedTuple):
    """xSID's languages in one table of P rows (one utterance each).

    texts, language (code), split ("valid"/"test", xSID's file), text_en (the English sentence
    it translates: the parallel key): P values each. labels: (P,) intent id, an index of
    ``class_names`` (:data:`~metanlp_lite.xsid.XSID_INTENTS`). english: (P,) the row of the
    English original (the English row of the same split and position; English rows point to
    themselves). minilm: (P, 384) frozen, L2-normalised embeddings. chars: hashed n-grams of
    the texts, any script (:class:`~metanlp_lite.fewshot.features.HashedNgrams`, ``ids`` (P, W)).
    """

    texts: list[str]
    labels: Tensor
    language: list[str]
    split: list[str]
    text_en: list[str]
    english: Tensor
    class_names: list[str]
    minilm: Tensor
    chars: HashedNgrams

    def rows(self, language: str) -> Tensor:
        """The rows of one language: (n,) long."""
        return torch.tensor([i for i, lang in enumerate(self.language) if lang == language], dtype=torch.long)


def load_corpus(languages: Sequence[str] = LANGUAGES, *, data_dir: Any = None, show_progress: bool = True) -> Corpus:
    """Every language's utterances (Norwegian: Bokmål only, its 800 of 8,799), English first.

    English is always loaded: each row points to its English original. The MiniLM embeddings
    come from the cache that ``python -m metanlp_lite prefetch`` fills (about 1.5 minutes of
    encoding for the 14,800 texts on 2 cores otherwise).
    """
    from .data import load_intents
    from .text import embed

    unknown = [code for code in languages if code not in XSID_LANGUAGES]
    if unknown:
        raise ValueError(f"unknown xSID language(s) {unknown}: use codes of {', '.join(XSID_LANGUAGES)}")
    codes = ["en"] + [code for code in dict.fromkeys(languages) if code != "en"]
    texts, labels, language, split, text_en, positions = [], [], [], [], [], []
    for code in codes:
        ds = load_intents(f"xsid:{code}", data_dir=data_dir)[:]      # {column: list}: fast to walk
        keep = [d == "B" for d in ds["dialect"]] if code == "no" else [True] * len(ds["text"])
        for k, t, y, s, p, e in zip(keep, ds["text"], ds["label"], ds["split"], ds["position"], ds["text_en"]):
            if k:
                texts.append(t), labels.append(y), language.append(code), split.append(s), text_en.append(e)
                positions.append((s, p))
    english_row = {sp: i for i, (sp, lang) in enumerate(zip(positions, language)) if lang == "en"}
    english = torch.tensor([english_row[sp] for sp in positions], dtype=torch.long)
    minilm = embed(texts, show_progress=show_progress)
    chars = HashedNgrams(texts, CHAR_BUCKETS, (1, 2), (2, 3, 4), any_script=True, dtype=torch.float64)
    return Corpus(texts, torch.tensor(labels, dtype=torch.long), language, split, text_en, english,
                  list(XSID_INTENTS), minilm, chars)


TEST_FRACTION = 0.3   # corpus_from_file without a split column: this share of the parallel sentences is meta-test


def corpus_from_file(path: str | os.PathLike, *, show_progress: bool = True) -> Corpus:
    """A practitioner's own multilingual intent data as a :class:`Corpus` of P rows, for
    :func:`leave_one_out` and :func:`evaluate_language` (``python -m metanlp_lite languages --data``).

    path: a CSV, TSV or JSONL file with one utterance a row and the columns ``text``, ``label`` and
    ``language`` (any codes: "en", "de", "gsw"), and optionally ``parallel``, an id shared by the
    translations of one sentence, and ``split``: ``test`` marks the meta-test rows, any other value
    meta-training and meta-validation (:func:`position_split` shares those out). A sentence is
    meta-test in every language when any of its translations is marked ``test``; without a ``split``
    column, a seeded random 30% of the sentences (``random.Random(0)``) are, all their translations
    together.

    The result: texts, language, split ("test"/"valid"): P values each; labels: (P,) long, an index
    of ``class_names`` (the file's distinct labels, sorted); text_en: the parallel key of each row,
    the text of its sentence's original; english: (P,) long, the row of that original: of the rows
    that share a ``parallel`` id (or, without one, a text), the first in English ("en") if there is
    one, else the first; a row alone points to itself. Sentences whose originals have the same text
    are one sentence, as in xSID, where the key is the English text: :func:`position_split` keys its
    parts by ``text_en`` and drops a near-duplicate by the text of its original row, so the key must
    be that text, not the id. minilm: (P, 384) L2-normalised embeddings (cached,
    :func:`~metanlp_lite.text.embed`); chars: hashed n-grams of any script, as in :func:`load_corpus`.

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for a missing
    column, an empty text, label or language, fewer than 2 languages, or no meta-test row.
    """
    from pathlib import Path

    from .text import embed
    from .userfile import read_language_file

    path = Path(path)
    columns = read_language_file(path)
    texts, label_names, language = columns["text"], columns["label"], columns["language"]
    codes = sorted(set(language))
    if len(codes) < 2:
        raise ValueError(f"{path}: only one language ({codes[0]!r}) in the 'language' column; leaving one "
                         "language out needs at least 2: the held-out one and one or more to meta-train on. "
                         "Add rows in other languages")
    ids = columns["parallel"] or [""] * len(texts)
    group = [f"id:{p}" if p else f"row:{i}" for i, p in enumerate(ids)]      # a row without an id is alone
    first: dict[str, int] = {}
    for i, g in enumerate(group):    # each sentence's original: its first English row, else its first row
        if g not in first or (language[i] == "en" and language[first[g]] != "en"):
            first[g] = i
    text_en = [texts[first[g]] for g in group]
    original: dict[str, int] = {}    # sentences whose originals have the same text are one: the same rule
    for r in sorted(set(first.values())):
        e = texts[r]
        if e not in original or (language[r] == "en" and language[original[e]] != "en"):
            original[e] = r
    english = torch.tensor([original[e] for e in text_en], dtype=torch.long)
    if columns["split"] is not None:
        test = {e for e, s in zip(text_en, columns["split"]) if s.lower() == "test"}
        if not test:
            raise ValueError(f"{path}: no row has 'test' in the 'split' column; mark the meta-test rows "
                             "split=test, or leave the column out to draw 30% of the sentences at random")
    else:
        keys = sorted(set(text_en))
        random.Random(0).shuffle(keys)
        test = set(keys[:round(TEST_FRACTION * len(keys))])
    split = ["test" if e in test else "valid" for e in text_en]
    class_names = sorted(set(label_names))
    index = {name: c for c, name in enumerate(class_names)}
    labels = torch.tensor([index[name] for name in label_names], dtype=torch.long)
    minilm = embed(texts, show_progress=show_progress)
    chars = HashedNgrams(texts, CHAR_BUCKETS, (1, 2), (2, 3, 4), any_script=True, dtype=torch.float64)
    return Corpus(list(texts), labels, list(language), split, text_en, english, class_names, minilm, chars)

def reembed(corpus: Corpus, model_id: str, batch_size: int = 64, show_progress: bool = True) -> Corpus:
    """``corpus`` with its embeddings (the ``minilm`` column) replaced by those of another sentence
    encoder from the Hugging Face hub, L2-normalised, e.g. the multilingual
    ``"sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"`` (384-d, like MiniLM, so every
    :class:`LanguageBody` fits it). An optional online path: not cached, and notebook 06's results
    do not use it. Raises RuntimeError, saying so, when the model cannot be loaded (offline)."""
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(model_id, device="cpu")
    except Exception as err:
        raise RuntimeError(f"could not load the sentence encoder {model_id!r} from the Hugging Face hub "
                           f"({type(err).__name__}: {err}). This optional path needs network access; notebook "
                           "06's results use all-MiniLM-L6-v2, which works offline.") from None
    vectors = model.encode(list(corpus.texts), batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=show_progress)
    return corpus._replace(minilm=torch.from_numpy(vectors).float())


def position_split(corpus: Corpus, val_fraction: float = 0.25, seed: int = 0,
                   cut: float = 0.95) -> dict[str, set[str]]:
    """The parallel sentences, by English text, of ``"train"``, ``"val"`` and ``"test"`` (disjoint),
    and ``"dropped"``: the near-duplicates of a test sentence, in no part.

    test: every sentence of xSID's test files (500; 451 distinct English texts). train and val: the
    valid files' other sentences, shared out at random (``val_fraction`` to val), less every
    near-duplicate of a test sentence: a sentence whose translation in one of the corpus's
    languages has the same words as a test sentence's translation there, up to case and
    punctuation (:func:`~metanlp_lite.leakage.normalised`: "Is it cloudy today?" and "is it
    cloudy today"; Arabic says "Will it rain today?" and "Is it going to rain today?" alike), or
    whose English original has a MiniLM cosine of at least ``cut`` with a test sentence's ("Set
    alarm for 5am", "Set alarm for 5 am"). Keyed by the English text, so that a sentence is in
    one part only, in every language.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    test = {e for e, s in zip(corpus.text_en, corpus.split) if s == "test"}
    rest = {e for e in corpus.text_en if e not in test}
    dropped = word_twins(corpus.texts, corpus.language, corpus.text_en, test)
    english_row = {e: int(r) for e, r in zip(corpus.text_en, corpus.english.tolist())}
    candidates = sorted(rest - dropped)
    twins = twin_rows(corpus.minilm, corpus.texts, torch.tensor([english_row[e] for e in candidates], dtype=torch.long),
                      torch.tensor([english_row[e] for e in sorted(test)], dtype=torch.long), cut=cut)
    dropped |= {corpus.texts[r] for r in twins.tolist()}
    kept = sorted(rest - dropped)
    random.Random(seed).shuffle(kept)
    n_val = round(val_fraction * len(kept))
    return {"train": set(kept[n_val:]), "val": set(kept[:n_val]), "test": test, "dropped": dropped}


def word_twins(texts: Sequence[str], language: Sequence[str], text_en: Sequence[str], sentences: set[str]) -> set[str]:
    """The sentences (English texts) not in ``sentences`` that have, in some language, a translation
    with the same words as a translation of one of ``sentences`` in that language, up to case and
    punctuation (:func:`~metanlp_lite.leakage.normalised`): the first rule of :func:`position_split`.

    texts, language, text_en: one value a row (a :class:`Corpus`'s). "Is it cloudy today?" is a twin of
    the meta-test sentence "is it cloudy today" in English; "Set alarm for 5am" of "Set alarm for 5
    am" in Danish, where both are "Sæt alarm til klokken 5 om morgenen".
    """
    if not len(texts) == len(language) == len(text_en):
        raise ValueError(f"texts, language and text_en must have one value a row: got {len(texts)}, "
                         f"{len(language)} and {len(text_en)}")
    same_words: dict[tuple[str, str], set[str]] = {}      # (language, normalised text) -> English keys
    for text, code, e in zip(texts, language, text_en):
        same_words.setdefault((code, normalised(text)), set()).add(e)
    return {e for keys in same_words.values() if keys & sentences for e in keys - sentences}


DIALECT_FILE = "no.test.conll"   # xSID's Norwegian test file: Bokmål (# id = 17/B) and 10 dialect speakers (17/1 .. 17/10)


def _dialect_file_text(data_dir: Any = None, name: str = DIALECT_FILE) -> str:
    """The text of one of xSID's Norwegian files (``no.test.conll``, or ``no.valid.conll``): from ``data_dir``
    (or $METANLP_DATA_DIR)'s ``xsid/`` folder, else downloaded; a FileNotFoundError that says how to fix it
    when neither works."""
    from .data import DATA_DIR_ENV, data_dir_from_env
    from .xsid import XSID_SOURCE, download_file

    folder = data_dir_from_env(data_dir)
    if folder is not None and (folder / "xsid" / name).is_file():
        return (folder / "xsid" / name).read_text(encoding="utf-8")
    try:
        return download_file(name)
    except Exception as err:  # offline, or a server's error: never made-up rows
        where = f"{folder / 'xsid' / name} does not exist and " if folder is not None else ""
        raise FileNotFoundError(
            f"xSID's Norwegian dialect sentences: {where}the file cannot be downloaded from {XSID_SOURCE}.\n"
            f"  Point {DATA_DIR_ENV} at a folder holding xsid/{name}, e.g.\n"
            f"      export {DATA_DIR_ENV}=/path/to/data\n"
            f"  or connect to the internet once (about 3 MB).\n"
            f"  (The download said: {type(err).__name__}: {err})") from None


def dialect_rows(corpus: Corpus, split: str = "test", *, data_dir: Any = None) -> list[tuple[str, str, int, int]]:
    """xSID's Norwegian dialect speakers' versions of one file's sentences, as rows: (speaker's code "no-1" ..
    "no-10", text, intent id, row of the English original in ``corpus``), speaker by speaker.

    split "test": ``no.test.conll``, 10 speakers' versions of the 500 test sentences, each speaker's rows in
    the order of the Bokmål test rows of the same sentences (the rows :func:`with_dialects` appends);
    "valid": ``no.valid.conll``, their versions of the 300 validation sentences (translations of meta-train
    and meta-val sentences: for finding twins, never for scoring), in file order. No encoder is run.
    Raises ValueError for another split, a corpus without English or Bokmål rows of that split, or a
    sentence without a speaker's id.
    """
    from .xsid import parse_conll

    if split not in ("test", "valid"):
        raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
    en_rows = [i for i, (lang, s) in enumerate(zip(corpus.language, corpus.split)) if lang == "en" and s == split]
    no_rows = [i for i, (lang, s) in enumerate(zip(corpus.language, corpus.split)) if lang == "no" and s == split]
    if not en_rows or not no_rows:
        raise ValueError("the dialect sentences need a corpus with English and Norwegian (load_corpus(['no']) loads both)")
    position_of_english = {r: p for p, r in enumerate(en_rows)}
    bokmaal_order = {position_of_english[int(corpus.english[r])]: n for n, r in enumerate(no_rows)}
    index = {name: c for c, name in enumerate(corpus.class_names)}
    name = DIALECT_FILE if split == "test" else DIALECT_FILE.replace("test", "valid")
    new: list[tuple[int, int, str, int, int]] = []        # (speaker, Bokmål order, text, label, English row)
    for n, s in enumerate(parse_conll(_dialect_file_text(data_dir, name), name), 1):
        number, _, version = s.get("id", "").partition("/")
        if version == "B":
            continue
        if not (number.isdigit() and version.isdigit()):
            raise ValueError(f"{name}, sentence {n}: expected '# id = <sentence>/<speaker>', got {s.get('id')!r}")
        p = int(number) - 1
        if not s["text"]:
            continue
        order = bokmaal_order.get(p, len(no_rows) + p) if split == "test" else p
        new.append((int(version), order, s["text"], index[s["intent"]], en_rows[p]))
    new.sort()
    return [(f"no-{v}", text, label, e) for v, _, text, label, e in new]


def with_dialects(corpus: Corpus, *, data_dir: Any = None, show_progress: bool = True, features: bool = True) -> Corpus:
    """``corpus`` with xSID's Norwegian dialect test sentences appended: 10 speakers' versions of the
    500 test sentences (``# id = 17/3``: speaker 3's version of English test sentence 17), each speaker
    a language of its own, ``"no-1"`` .. ``"no-10"`` (split "test", text_en and english: the English
    original, as for Bokmål; :func:`dialect_rows`).

    Only the test file's versions are read: their sentences are meta-test sentences of
    :func:`position_split` in every language, so none of them, in any language, reached meta-training
    or meta-validation (the valid file's dialect versions translate meta-train and meta-val sentences
    and are left out, even where their English text is also a test sentence's). Each speaker's rows are
    in the order of the Bokmål test rows of the same sentences. The rows of ``corpus`` keep their features. A model
    held out on "no" must be trained on ``corpus`` itself (the speakers would otherwise be training
    languages) and scored on this one.

    ``features=False``: the new rows' MiniLM embeddings are NaN and their n-grams empty (no encoder is
    run: a minute saved the first time): enough to draw their episodes (:func:`episode_rows`) and read
    their texts, not to score a model on them.

    Raises ValueError when ``corpus`` has no English or Bokmål test rows, or the file a sentence
    without a speaker's id; FileNotFoundError when the file is neither local nor downloadable.
    """
    from .text import embed

    new = dialect_rows(corpus, "test", data_dir=data_dir)
    texts = [t for _, t, _, _ in new]
    language = [code for code, _, _, _ in new]
    english = torch.tensor([e for *_, e in new], dtype=torch.long)
    if features:
        minilm = embed(texts, show_progress=show_progress)
        chars = HashedNgrams(texts, CHAR_BUCKETS, (1, 2), (2, 3, 4), any_script=True, dtype=torch.float64)
        ids, weights = chars.ids, chars.weights
    else:
        minilm = torch.full((len(texts), corpus.minilm.shape[1]), float("nan"), dtype=corpus.minilm.dtype)
        ids = torch.zeros((len(texts), 1), dtype=corpus.chars.ids.dtype)
        weights = torch.zeros((len(texts), 1), dtype=corpus.chars.weights.dtype)
    width = max(corpus.chars.ids.shape[1], ids.shape[1])
    pad = lambda t: F.pad(t, (0, width - t.shape[1]))
    joined = HashedNgrams.__new__(HashedNgrams)
    joined.__dict__.update(corpus.chars.__dict__)
    joined.ids = torch.cat([pad(corpus.chars.ids), pad(ids)])
    joined.weights = torch.cat([pad(corpus.chars.weights), pad(weights)])
    return Corpus(corpus.texts + texts, torch.cat([corpus.labels, torch.tensor([y for _, _, y, _ in new], dtype=torch.long)]),
                  corpus.language + language, corpus.split + ["test"] * len(texts),
                  corpus.text_en + [corpus.texts[e] for *_, e in new], torch.cat([corpus.english, english]),
                  corpus.class_names, torch.cat([corpus.minilm, minilm]), joined)


def part_labels(corpus: Corpus, languages: Sequence[str], sentences: set[str]) -> Tensor:
    """(P,) labels of the rows in ``languages`` whose English text is in ``sentences``; -1 elsewhere.

    An :class:`~metanlp_lite.episodes.EpisodeSampler` over these labels never draws a -1 row."""
    keep = torch.tensor([lang in set(languages) and e in sentences for lang, e in zip(corpus.language, corpus.text_en)])
    return torch.where(keep, corpus.labels, torch.full_like(corpus.labels, -1))
