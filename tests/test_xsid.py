"""xSID's loader: every language from the local copy (METANLP_DATA_DIR, as in CI), sentence counts,
the parallel positions checked against the files' own ``# text-en`` lines and intents, the texts,
and the errors (an unknown language; no folder and no network, with the network switched off)."""
from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

from metanlp_lite import xsid
from metanlp_lite.data import DATASETS, data_dir_from_env, load_intents
from metanlp_lite.xsid import XSID_COMMIT, XSID_INTENTS, XSID_LANGUAGES, parallel_positions

# (valid, test) sentences, and intents per split / in all: what the files hold
COUNTS = {code: (300, 500) for code in XSID_LANGUAGES} | {"ja": (150, 250), "no": (3299, 5500)}
INTENTS = {code: (15, 16) for code in XSID_LANGUAGES} | {"ja": (9, 10)}
# positions (split, English index) where a language's own # intent differs from English's
DISAGREE = {"ar": 26, "de-muc": 1, "no": 2}


@pytest.fixture(scope="module")
def every():
    """Every language, loaded once: {"de": Dataset, ...}."""
    return {code: load_intents(f"xsid:{code}") for code in XSID_LANGUAGES}


def keys(ds):
    return list(zip(ds["split"], ds["position"]))


def file_lines(code: str, split: str, key: str) -> list[str]:
    """The ``# key = ...`` lines of a file, read here line by line (not by the package's parser)."""
    path = data_dir_from_env() / "xsid" / f"{code}.{split}.conll"
    prefix = f"# {key} ="
    return [line[len(prefix):].strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith(prefix)]


def test_the_registry_has_every_language():
    assert len(XSID_LANGUAGES) == 19 and {"de-ba", "de-muc", "gsw", "nap", "no", "ja"} <= set(XSID_LANGUAGES)
    assert [n for n in DATASETS if n.startswith("xsid:")] == [f"xsid:{c}" for c in XSID_LANGUAGES]
    assert load_intents("XSID:DE_BA").info.dataset_name == "xsid:de-ba"       # case, "-" and "_" ignored


@pytest.mark.parametrize("code", list(XSID_LANGUAGES))
def test_every_language_loads_with_its_counts(every, code):
    ds = every[code]
    assert ds.info.dataset_name == f"xsid:{code}"
    assert ds.column_names == ["text", "label", "split", "position", "text_en"] + (["dialect"] if code == "no" else [])
    assert ds.features["label"].names == list(XSID_INTENTS)                    # the same ids in every language
    per_split = collections.Counter(ds["split"])
    assert (per_split["valid"], per_split["test"]) == COUNTS[code] and len(per_split) == 2
    names = ds.features["label"].names
    for split in ("valid", "test"):
        found = {names[lab] for lab, s in zip(ds["label"], ds["split"]) if s == split}
        assert len(found) == INTENTS[code][0]
        assert ("alarm/modify_alarm" in found) == (split == "valid")      # 1 sentence, within Japanese's too
        assert ("alarm/time_left_on_alarm" in found) == (split == "test")
    assert len(set(ds["label"])) == INTENTS[code][1]
    assert all(ds["text"]) and all(ds["text_en"])


@pytest.mark.parametrize("code", list(XSID_LANGUAGES))
def test_positions_are_the_english_sentences(every, code):
    """Each position is used once (Norwegian: once per version), and it is the English sentence that
    the file's own ``# text-en`` names, but for the few lines edited there."""
    ds = every[code]
    count = collections.Counter(keys(ds))
    valid, test = COUNTS["ja"] if code == "ja" else (300, 500)
    assert set(count) == {("valid", p) for p in range(valid)} | {("test", p) for p in range(test)}
    if code == "no":   # Bokmål and ten dialect versions of each; one empty valid version (289/1) dropped
        assert collections.Counter(count.values()) == {11: 799, 10: 1} and count[("valid", 288)] == 10
        assert collections.Counter(ds["dialect"]) == {"B": 800, "N": 1599, "T": 2400, "V": 4000}
        return
    assert set(count.values()) == {1}
    if code == "en":
        assert ds["text_en"] == ds["text"]
        return
    edited = 0
    for split in ("valid", "test"):
        own = file_lines(code, split, "text-en")
        in_file_order = [t for t, s in zip(ds["text_en"], ds["split"]) if s == split]
        edited += sum(a != b for a, b in zip(own, in_file_order))
    assert edited == {"de-ba": 3, "de-muc": 1}.get(code, 0)     # "remind me to buy ice#", a cut sentence ...


def test_bavarian_is_not_in_file_order_and_the_others_are(every):
    for code, ds in every.items():
        moved = [(s, p, i) for i, (s, p) in enumerate(keys(ds)) if p != (i if s == "valid" else i - COUNTS[code][0])]
        if code == "de-ba":   # valid 99 and 103 come after 151; test 148 comes last
            assert ds["position"][148:154] == [150, 151, 99, 103, 152, 153]
            assert ds["position"][-3:] == [498, 499, 148]
            assert len(moved) == 405
        elif code != "no":
            assert moved == [], code
    lt = file_lines("lt", "valid", "id")                                     # Lithuanian's ids are not positions
    assert lt[:3] == ["137", "167", "150"] and every["lt"]["position"][:3] == [0, 1, 2]


def test_the_same_position_has_the_same_intent_in_every_language(every):
    """Parallel alignment: at every (split, position) the intent is English's, in every language,
    except the few sentences where a translation's file labels it otherwise."""
    names = list(XSID_INTENTS)
    english = {k: lab for k, lab in zip(keys(every["en"]), every["en"]["label"])}
    assert len(english) == 800
    for code, ds in every.items():
        differ = {k for k, lab in zip(keys(ds), ds["label"]) if english[k] != lab}
        assert len(differ) == DISAGREE.get(code, 0), code
    ar = {k for k, lab in zip(keys(every["ar"]), every["ar"]["label"]) if english[k] != lab}
    assert {s for s, _ in ar} == {"test"}
    muc = [(k, names[lab]) for k, lab in zip(keys(every["de-muc"]), every["de-muc"]["label"]) if english[k] != lab]
    assert muc == [(("valid", 17), "alarm/cancel_alarm")] and names[english[("valid", 17)]] == "reminder/cancel_reminder"
    no = {k for k, lab in zip(keys(every["no"]), every["no"]["label"]) if english[k] != lab}
    assert no == {("test", 225), ("test", 233)}


@pytest.mark.parametrize("code", list(XSID_LANGUAGES))
def test_texts_are_the_text_lines_not_the_english_ones(every, code):
    ds = every[code]
    for split in ("valid", "test"):
        lines = [t for t in file_lines(code, split, "text") if t]             # Norwegian's one empty line
        assert [t for t, s in zip(ds["text"], ds["split"]) if s == split] == lines
    if code != "en":
        same = sum(t == e for t, e in zip(ds["text"], ds["text_en"]))        # da: "Snooze alarm"; it: two test
        assert same == {"da": 1, "it": 2}.get(code, 0)                          # sentences left in English
    first = {"de": "Regnet es heute?", "en": "Is it going to rain today?"}.get(code)
    if first is not None:
        assert ds["text"][0] == first and ds["text_en"][0] == "Is it going to rain today?"


def test_parallel_positions_on_a_small_case():
    english = ["a", "b", "c", "b", "d"]
    assert parallel_positions(english, ["a", "b", "c", "b", "d"]) == [0, 1, 2, 3, 4]
    assert parallel_positions(english, ["a", "c", "b", "d", "b"]) == [0, 2, 3, 4, 1]     # "b" moved to the end
    assert parallel_positions(english, ["a", "b", "c#", "b", "d"]) == [0, 1, 2, 3, 4]    # a typo keeps its place
    assert parallel_positions(english, ["a", "b"]) == [0, 1]                             # a prefix (Japanese)
    with pytest.raises(ValueError, match=r"sentence 1 \('# text-en = z'\) matches no English sentence"):
        parallel_positions(english, ["a", "z", "q"])


def test_an_unknown_language_names_the_valid_codes():
    for name in ("xsid:xx", "xsid", "xsid:english"):
        with pytest.raises(ValueError) as err:
            load_intents(name)
        assert str(err.value).startswith(f"unknown dataset {name!r}: xsid takes one of ar, da, de, de-ba, de-muc,")
        assert all(code in str(err.value) for code in XSID_LANGUAGES)
    with pytest.raises(ValueError, match=r"unknown dataset 'imdb': use 'clinc150', 'banking77', or the path .*"
                                         r"; or 'xsid:' and one of ar, da, de, "):
        load_intents("imdb")


@pytest.fixture
def offline(monkeypatch):
    """No network: every download fails at once, and is recorded."""
    tried = []

    def urlopen(url, *args, **kwargs):
        tried.append(url)
        raise OSError("network switched off by the test")

    monkeypatch.setattr(xsid.urllib.request, "urlopen", urlopen)
    xsid.download_file.cache_clear()
    yield tried
    xsid.download_file.cache_clear()


def test_no_folder_and_no_network_says_what_to_do(offline, monkeypatch, tmp_path):
    monkeypatch.delenv("METANLP_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        load_intents("xsid:de")
    msg = str(err.value)
    assert msg.startswith(f"xSID de (German) is not cached and https://github.com/mainlp/xsid/tree/{XSID_COMMIT}"
                          "/data/xSID-0.7 cannot be reached.\n")
    assert "export METANLP_DATA_DIR=" in msg and "xsid/de.valid.conll and xsid/de.test.conll and xsid/en.valid.conll" in msg
    assert "(It said: OSError: network switched off by the test)" in msg
    assert offline == [f"https://raw.githubusercontent.com/mainlp/xsid/{XSID_COMMIT}/data/xSID-0.7/en.valid.conll"]
    assert len(XSID_COMMIT) == 40 and XSID_COMMIT.startswith("761d926c")

    monkeypatch.setenv("METANLP_DATA_DIR", str(tmp_path))                    # a data folder without xsid/
    with pytest.raises(FileNotFoundError, match=f"xSID ja .* cannot be reached \\(and {re.escape(str(tmp_path))} has no xsid/"):
        load_intents("xsid:ja")
    with pytest.raises(FileNotFoundError, match="xsid:ja was not found in .*: expected the folder .*xsid"):
        load_intents("xsid:ja", data_dir=tmp_path)                           # named explicitly: no download tried
    assert len(offline) == 2


def test_a_folder_without_english_says_which_file_is_missing(offline, tmp_path):
    shared = data_dir_from_env() / "xsid"
    (tmp_path / "xsid").mkdir()
    for split in ("valid", "test"):
        (tmp_path / "xsid" / f"de.{split}.conll").symlink_to(Path(shared / f"de.{split}.conll").resolve())
    with pytest.raises(FileNotFoundError, match=r"xSID: .*en\.valid\.conll is missing"):
        load_intents("xsid:de", data_dir=tmp_path)
    assert offline == []                                                     # a local folder: never the network
