"""``python -m metanlp_lite languages --data FILE``: notebook 06's leave-one-language-out run on a
practitioner's own multilingual file (:func:`metanlp_lite.crosslingual.corpus_from_file`). The files
here are real xSID sentences (English, German, Swiss German), written out as a user would."""
from __future__ import annotations

import csv
import json
from collections import Counter

import pytest
import torch

from metanlp_lite import crosslingual as cl
from metanlp_lite.__main__ import main
from metanlp_lite.leakage import normalised, twin_rows

INTENTS = ("AddToPlaylist", "BookRestaurant", "PlayMusic", "RateBook", "SearchCreativeWork", "SearchScreeningEvent")
TWINS = ("Set alarm for 5am", "Set alarm for 5 am", "Is it cloudy today?", "is it cloudy today")   # near-duplicates


@pytest.fixture(scope="module")
def xsid():
    """Swiss German, German and English."""
    return cl.load_corpus(["de", "gsw"], show_progress=False)


def parallel_rows(corpus: cl.Corpus, n_test: int = 12, n_valid: int = 20, intents=INTENTS, twins=TWINS) -> list[int]:
    """The rows, in every language, of the first ``n_test`` test and ``n_valid`` valid English
    sentences of each of ``intents``, and of the English sentences ``twins``."""
    taken, chosen = Counter(), set()
    for i in corpus.rows("en").tolist():
        key = (int(corpus.labels[i]), corpus.split[i])
        if corpus.texts[i] in twins or (corpus.class_names[key[0]] in intents
                                        and taken[key] < (n_test if key[1] == "test" else n_valid)):
            taken[key] += 1
            chosen.add(i)
    return [i for i in range(len(corpus.texts)) if int(corpus.english[i]) in chosen]


def records(corpus: cl.Corpus, rows: list[int], columns=("text", "label", "language", "parallel", "split")) -> list[dict]:
    """One dict a row: parallel is the position of the English original, split xSID's file."""
    full = {"text": lambda i: corpus.texts[i], "label": lambda i: corpus.class_names[corpus.labels[i]],
            "language": lambda i: corpus.language[i], "parallel": lambda i: int(corpus.english[i]),
            "split": lambda i: "test" if corpus.split[i] == "test" else "valid"}
    return [{c: full[c](i) for c in columns} for i in rows]


def write(path, rows: list[dict]):
    """``rows`` as a CSV (or TSV) file with a header, or as JSONL: ``path``."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, list(rows[0]), delimiter="\t" if path.suffix == ".tsv" else ",")
            w.writeheader()
            w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def mine(xsid, tmp_path_factory):
    rows = parallel_rows(xsid)
    return rows, write(tmp_path_factory.mktemp("languages") / "mine.csv", records(xsid, rows))


def test_a_file_is_the_same_corpus_and_no_translation_of_a_test_sentence_is_trained_on(xsid, mine):
    rows, path = mine
    corpus = cl.corpus_from_file(path, show_progress=False)
    assert corpus.texts == [xsid.texts[i] for i in rows] and corpus.language == [xsid.language[i] for i in rows]
    assert corpus.class_names == sorted({xsid.class_names[xsid.labels[i]] for i in rows})
    assert [corpus.class_names[y] for y in corpus.labels] == [xsid.class_names[xsid.labels[i]] for i in rows]
    # the parallel key is the English original's text, as in xSID, and each row points to an English row of it
    assert corpus.text_en == [xsid.text_en[i] for i in rows]
    assert all(corpus.language[e] == "en" and corpus.texts[e] == corpus.text_en[r]
               for r, e in enumerate(corpus.english.tolist()))
    assert torch.equal(corpus.minilm, xsid.minilm[rows]) and corpus.chars.ids.shape[0] == len(rows)
    # "Set alarm for 5 am" is in both of xSID's files (two ids, one text): meta-test in every language
    five = [r for r, e in enumerate(corpus.text_en) if e == "Set alarm for 5 am"]
    assert len(five) == 6 and {corpus.split[r] for r in five} == {"test"}
    assert corpus.split == ["test" if xsid.text_en[i] in {e for e, s in zip(xsid.text_en, xsid.split) if s == "test"}
                            else "valid" for i in rows]
    parts = cl.position_split(corpus)
    seen = parts["train"] | parts["val"]
    assert parts["test"] == {e for e, s in zip(corpus.text_en, corpus.split) if s == "test"} and not seen & parts["test"]
    # near-duplicates of a test sentence are dropped: the same words, and (through the originals' texts) the cosine
    assert {"Set alarm for 5am", "Is it cloudy today?"} <= parts["dropped"] and not seen & parts["dropped"]
    original = dict(zip(corpus.text_en, corpus.english.tolist()))
    originals = lambda keys: torch.tensor([original[e] for e in sorted(keys)])
    assert len(twin_rows(corpus.minilm, corpus.texts, originals(seen), originals(parts["test"]))) == 0
    for code in ("en", "de", "gsw"):      # no translation of a meta-test sentence in train or val, in any language
        words = {part: {normalised(t) for t, lang, e in zip(corpus.texts, corpus.language, corpus.text_en)
                        if lang == code and e in keys} for part, keys in (("test", parts["test"]), ("seen", seen))}
        assert not words["test"] & words["seen"]
    train = cl.part_labels(corpus, ["en", "de"], parts["train"])
    assert all(corpus.text_en[r] in parts["train"] for r in torch.nonzero(train >= 0).flatten().tolist())


def test_jsonl_and_tsv_files_give_the_same_corpus(xsid, mine, tmp_path):
    rows, path = mine
    csv_corpus = cl.corpus_from_file(path, show_progress=False)
    for name in ("mine.jsonl", "mine.tsv"):        # JSONL: parallel ids are numbers there
        other = cl.corpus_from_file(write(tmp_path / name, records(xsid, rows)), show_progress=False)
        assert (other.texts, other.language, other.split, other.text_en) == \
               (csv_corpus.texts, csv_corpus.language, csv_corpus.split, csv_corpus.text_en)
        assert torch.equal(other.labels, csv_corpus.labels) and torch.equal(other.english, csv_corpus.english)


def test_without_split_or_parallel_columns(xsid, mine, tmp_path):
    rows, _ = mine
    no_split = cl.corpus_from_file(write(tmp_path / "a.csv", records(xsid, rows, ("text", "label", "language", "parallel"))),
                                   show_progress=False)
    test = {e for e, s in zip(no_split.text_en, no_split.split) if s == "test"}
    assert len(test) == round(0.3 * len(set(no_split.text_en)))                    # 30% of the sentences
    for e in set(no_split.text_en):                                               # every translation on one side
        assert len({s for k, s in zip(no_split.text_en, no_split.split) if k == e}) == 1
    again = cl.corpus_from_file(tmp_path / "a.csv", show_progress=False)
    assert again.split == no_split.split                                          # seeded
    alone = cl.corpus_from_file(write(tmp_path / "b.csv", records(xsid, rows, ("text", "label", "language", "split"))),
                                show_progress=False)
    assert alone.text_en == alone.texts                                          # each row is its own sentence
    assert all(alone.texts[e] == alone.texts[r] for r, e in enumerate(alone.english.tolist()))


def test_the_command_line_runs_on_a_file(mine, capsys):
    _, path = mine
    assert main(["languages", "--data", str(path), "--target", "gsw", "--inputs", "chars", "--shots", "1",
                 "--episodes", "20", "--steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "held out: gsw, 5-way, 20 episodes" in out and "gsw: MiniLM's tokenizer:" in out
    assert "of its character trigrams occur in the other languages" in out
    for setting in ("ncm", "ncm, English support", "chars"):
        assert f"{setting:>22}: 1-shot" in out


def test_the_file_and_the_target_are_checked_in_one_line(xsid, mine, tmp_path, capsys):
    _, path = mine

    def error(*args: str) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(["languages", "--inputs", "--episodes", "20", "--shots", "1", *args])     # the last --shots counts
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "error:" in err and "Traceback" not in err
        return err

    no_language = write(tmp_path / "nolang.csv", records(xsid, mine[0][:50], ("text", "label", "parallel")))
    assert "no 'language' column" in error("--data", str(no_language), "--target", "gsw")
    assert "de, en, gsw" in error("--data", str(path), "--target", "sw")              # the file's languages
    assert "de, en, gsw" in error("--data", str(path))                                # no --target
    one = write(tmp_path / "one.csv", [r for r in records(xsid, mine[0]) if r["language"] == "de"])
    assert "at least 2" in error("--data", str(one), "--target", "de")
    # 3 meta-test sentences of each intent: not enough for 1-shot episodes with 5 queries
    tiny = write(tmp_path / "tiny.csv", records(xsid, parallel_rows(xsid, n_test=3, n_valid=8, twins=())))
    err = error("--data", str(tiny), "--target", "gsw")
    assert "gsw has 0 of its 6 classes with 1 + 5" in err and "add meta-test sentences in gsw" in err
    assert "lower --shots to at most 7" in error("--data", str(path), "--target", "gsw", "--shots", "10")
    # enough to test on, too few of the other languages' sentences to meta-train on (3 a class outside test)
    few = write(tmp_path / "few.csv", records(xsid, parallel_rows(xsid, n_test=12, n_valid=3, twins=())))
    err = error("--data", str(few), "--target", "gsw", "--inputs", "chars")
    assert "cannot meta-train without gsw" in err and "add sentences in the other languages" in err
    assert "does not exist" in error("--data", str(tmp_path / "missing.csv"), "--target", "gsw")
    with pytest.raises(SystemExit) as exit_:           # without --data, xSID's 19 codes, as argparse's choices said
        main(["languages", "--target", "xx"])
    assert exit_.value.code == 2 and "invalid choice: 'xx'" in capsys.readouterr().err.splitlines()[-1]
