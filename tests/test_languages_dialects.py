"""Notebook 06's check on the dialects: xSID's Norwegian dialect test sentences (:func:`metanlp_lite.crosslingual.with_dialects`)
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
        else xsid.download_file(cl.DIALECT_FILE)
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
    monkeypatch.setattr(xsid, "download_file", offline)
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


def test_dialect_rows_valid_file(norwegian):
    """The speakers' versions of the validation file: each row's English original is the validation sentence of the same
    number (its Bokmål version, # id = n/B, is the Bokmål validation row of that English row), never a test sentence."""
    rows = cl.dialect_rows(norwegian, "valid")
    assert len(rows) == 2999 and {code for code, *_ in rows} == {f"no-{v}" for v in range(1, 11)}   # one empty dropped
    en_valid = [r for r in norwegian.rows("en").tolist() if norwegian.split[r] == "valid"]
    bokmaal = {int(norwegian.english[r]): norwegian.texts[r] for r in norwegian.rows("no").tolist()
               if norwegian.split[r] == "valid"}
    folder = data_dir_from_env()
    text = (folder / "xsid" / "no.valid.conll").read_text(encoding="utf-8") if folder is not None \
        else xsid.download_file("no.valid.conll")
    blocks = {(int(m[1]), m[2]): b for b in re.split(r"\n\s*\n", text.strip()) if (m := re.search(r"# id = (\d+)/(\w+)", b))}
    for code, t, label, e in rows[::97]:
        number = en_valid.index(e) + 1
        assert f"# text = {t}" in blocks[number, code[3:]] and f"# intent = {norwegian.class_names[label]}" in blocks[number, code[3:]]
        assert f"# text = {bokmaal[e]}" in blocks[number, "B"]
    assert all(norwegian.split[e] == "valid" for *_, e in rows)
    with pytest.raises(ValueError, match="split"):
        cl.dialect_rows(norwegian, "train")


def test_dialect_twins_found_by_the_split_rule():
    """The split's first rule with the speakers as languages finds exactly two meta-train sentences beyond those the
    split of all 19 languages dropped (notebook 06's): speaker 1 or 2 says each as a meta-test sentence. Without the
    valid file's versions, or without those two speakers', the rule finds none."""
    norwegian = cl.load_corpus(show_progress=False)
    parts = cl.position_split(norwegian)
    d = cl.with_dialects(norwegian, features=False)
    valid = cl.dialect_rows(norwegian, "valid")
    rows = (d.texts + [t for _, t, _, _ in valid], d.language + [c for c, *_ in valid],
            d.text_en + [norwegian.texts[e] for *_, e in valid])
    new = cl.word_twins(*rows, parts["test"]) - parts["dropped"]
    assert new == {"What will be the heat index today?", "is it going to be hot tomorrow"} and new <= parts["train"]
    assert cl.word_twins(*rows, new) & parts["test"] == {"What is the temperature today?", "Is it going to be hot today?"}
    # without the valid file's versions the speakers add none: the twins come through them
    assert cl.word_twins(d.texts, d.language, d.text_en, parts["test"]) <= parts["dropped"]
    # and through speakers 1 and 2 only: without their validation versions the rule finds nothing new
    others = [(c, t, y, e) for c, t, y, e in valid if c not in ("no-1", "no-2")]
    rows = (d.texts + [t for _, t, _, _ in others], d.language + [c for c, *_ in others],
            d.text_en + [norwegian.texts[e] for *_, e in others])
    assert cl.word_twins(*rows, parts["test"]) <= parts["dropped"]


def test_dialect_episodes_redrawn_score_the_stored_accuracies(norwegian):
    """features=False changes nothing but the new rows' features, and episode_rows on it draws the benchmark's episodes:
    nearest class mean on them (with the real embeddings) gives exactly the stored per-episode accuracies."""
    from metanlp_lite.fewshot.metric import ncm_logits, prototypes
    full = cl.with_dialects(norwegian, show_progress=False)
    bare = cl.with_dialects(norwegian, features=False)
    n = len(norwegian.texts)
    assert bare.texts == full.texts and bare.language == full.language and bare.text_en == full.text_en
    assert torch.equal(bare.labels, full.labels) and torch.equal(bare.english, full.english)
    assert torch.equal(bare.minilm[:n], full.minilm[:n]) and bare.minilm[n:].isnan().all()
    stored = cl.load_language_results()["dialects"]["ncm"]
    for v in (1, 7):
        for k in (1, 5):
            e = cl.episode_rows(bare, f"no-{v}", k_shot=k)
            z = lambda r: full.minilm[r].double()
            right = ncm_logits(z(e.query_x), prototypes(z(e.support_x), e.support_y, 5)).argmax(-1) == e.query_y
            assert torch.equal((100 * right.double().mean(1)).round().to(torch.uint8), stored[f"k{k}"][v - 1])
