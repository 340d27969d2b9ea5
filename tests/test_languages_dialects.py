"""Notebook 06's blind check: xSID's Norwegian dialect test sentences (:func:`metanlp_lite.crosslingual.with_dialects`)
and the stored runs scored on them (``benchmarks/xsid_languages.py --dialects``). The loader is tested on a slice of
the real file, written into a folder laid out like ``shared/data``."""
from __future__ import annotations

import re

import pytest
import torch

from metanlp_lite import crosslingual as cl
from metanlp_lite import xsid
from metanlp_lite.data import data_dir_from_env


@pytest.fixture(scope="module")
def norwegian():
    return cl.load_corpus(["no"], show_progress=False)


def real_blocks() -> list[str]:
    folder = data_dir_from_env()
    text = (folder / "xsid" / cl.DIALECT_FILE).read_text(encoding="utf-8") if folder is not None \
        else xsid._download(cl.DIALECT_FILE)
    return re.split(r"\n\s*\n", text.strip())


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    """xsid/no.test.conll with the Bokmål and speaker 3 and 7 versions of the first 30 sentences, in file order."""
    keep = []
    for block in real_blocks():
        ident = re.search(r"# id = (\d+)/(\w+)", block)
        if int(ident[1]) <= 30 and ident[2] in ("B", "3", "7"):
            keep.append(block)
    folder = tmp_path_factory.mktemp("data")
    (folder / "xsid").mkdir()
    (folder / "xsid" / cl.DIALECT_FILE).write_text("\n\n".join(keep) + "\n", encoding="utf-8")
    return folder


def test_with_dialects_rows(norwegian, small_dir):
    d = cl.with_dialects(norwegian, data_dir=small_dir, show_progress=False)
    n = len(norwegian.texts)
    assert d.language[:n] == norwegian.language and d.texts[:n] == norwegian.texts
    assert torch.equal(d.minilm[:n], norwegian.minilm) and torch.equal(d.english[:n], norwegian.english)
    width = norwegian.chars.ids.shape[1]          # the old rows keep their n-grams (padding aside)
    assert torch.equal(d.chars.ids[:n, :width], norwegian.chars.ids) and not d.chars.ids[:n, width:].any()
    assert torch.equal(d.chars.weights[:n, :width], norwegian.chars.weights)
    new = list(range(n, len(d.texts)))
    assert sorted(set(d.language[n:])) == ["no-3", "no-7"] and len(new) == 60
    assert all(d.split[r] == "test" for r in new)
    en_test = [r for r in norwegian.rows("en").tolist() if norwegian.split[r] == "test"]
    blocks = {(int(m[1]), m[2]): b for b in real_blocks() if (m := re.search(r"# id = (\d+)/(\w+)", b))}
    for r in new:                                  # each row: its speaker's text, its intent, its English original
        number = en_test.index(int(d.english[r])) + 1
        block = blocks[number, d.language[r][3:]]
        assert f"# text = {d.texts[r]}" in block and f"# intent = {d.class_names[d.labels[r]]}" in block
        assert d.text_en[r] == norwegian.texts[en_test[number - 1]]
    # no leakage: every dialect row's sentence is a meta-test sentence, in no part that trains or validates
    parts = cl.position_split(norwegian)
    assert set(d.text_en[n:]) <= parts["test"] and not set(d.text_en[n:]) & (parts["train"] | parts["val"])
    # a speaker's rows follow the Bokmål test rows of the same sentences
    bokmaal = [int(norwegian.english[r]) for r in norwegian.rows("no").tolist() if norwegian.split[r] == "test"]
    order = [bokmaal.index(int(d.english[r])) for r in new if d.language[r] == "no-3"]
    assert order == sorted(order)
    # the embeddings are those of the texts (the cache's, the same as embedding them alone)
    from metanlp_lite.text import embed
    assert torch.equal(d.minilm[new[:3]], embed([d.texts[r] for r in new[:3]], show_progress=False))


def test_with_dialects_errors(norwegian, tmp_path, monkeypatch):
    def offline(name):
        raise OSError("no network")
    monkeypatch.setattr(xsid, "_download", offline)
    with pytest.raises(FileNotFoundError, match=r"METANLP_DATA_DIR(.|\n)*xsid/no\.test\.conll"):
        cl.with_dialects(norwegian, data_dir=tmp_path, show_progress=False)
    (tmp_path / "xsid").mkdir()
    (tmp_path / "xsid" / cl.DIALECT_FILE).write_text("# id = 5\n# text = Vis alarmane\n# intent = alarm/show_alarms\n",
                                                     encoding="utf-8")
    with pytest.raises(ValueError, match="speaker"):
        cl.with_dialects(norwegian, data_dir=tmp_path, show_progress=False)
    english_only = cl.load_corpus(["de"], show_progress=False)
    with pytest.raises(ValueError, match="Norwegian"):
        cl.with_dialects(english_only, data_dir=tmp_path, show_progress=False)


def test_stored_dialect_runs():
    """What notebook 06 reads: 4 models x 3 seeds and nearest class mean, 10 speakers x 600 episodes at every K, each
    retrained run reproducing its stored Bokmål accuracies; the leave-one-language-out runs are untouched."""
    results = cl.load_language_results()
    dialects = results["dialects"]
    assert set(dialects) == {"ncm"} | {f"{i}/{s}" for i in ("both", "both+frozen", "both-sup", "both-sup+frozen")
                                       for s in (0, 1, 2)}
    for key, run in dialects.items():
        for k in (1, 2, 5, 10):
            assert run[f"k{k}"].shape == (10, 600) and run[f"k{k}"].dtype == torch.uint8
            assert int(run[f"k{k}"].max()) <= 100
        assert key == "ncm" or run["no_same"] is True
    assert not any(key.startswith("dialects") for key in results["runs"])
