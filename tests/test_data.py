import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from metanlp_lite.data import (CLINC150_DOMAINS, class_splits, load_intents, pretty_label,
                               sample_sinusoid_tasks, select_classes, sinusoid)


def test_clinc150_local(clinc150):
    ds = clinc150
    assert ds.column_names == ["text", "label", "domain"]
    assert len(ds) == 150 * 150                     # 100 train + 20 val + 30 test per intent
    names = ds.features["label"].names
    assert len(names) == 150 and "oos" not in names and names == sorted(names)
    counts = torch.bincount(torch.tensor(ds["label"]), minlength=150)
    assert (counts == 150).all()
    row = ds[0]
    assert row["domain"] in CLINC150_DOMAINS
    assert names[row["label"]] in CLINC150_DOMAINS[row["domain"]]
    assert ds.info.dataset_name == "clinc150"


def test_banking77_local(banking77):
    ds = banking77
    assert ds.column_names == ["text", "label"]
    assert len(ds) == 10003 + 3080
    names = ds.features["label"].names
    assert len(names) == 77 and "card_arrival" in names
    counts = torch.bincount(torch.tensor(ds["label"]), minlength=77)
    assert counts.min() >= 35 + 40


def test_domain_split_is_class_disjoint(clinc150):
    s = class_splits(clinc150)
    assert (len(s.train), len(s.val), len(s.test)) == (90, 30, 30)
    assert not set(s.train) & set(s.val) and not set(s.train) & set(s.test) and not set(s.val) & set(s.test)
    assert set(s.test) == set(CLINC150_DOMAINS["travel"]) | set(CLINC150_DOMAINS["utility"])
    test_rows = select_classes(clinc150, s.test)
    assert set(test_rows["domain"]) == {"travel", "utility"} and len(test_rows) == 30 * 150


@pytest.mark.parametrize("split", ["01", "03", "05"])
def test_published_splits(banking77, clinc150, split):
    b = class_splits(banking77, split)
    assert (len(b.train), len(b.val), len(b.test)) == (25, 25, 27)
    c = class_splits(clinc150, split)
    assert (len(c.train), len(c.val), len(c.test)) == (50, 50, 50)
    for s in (b, c):
        assert not set(s.train) & set(s.test) and not set(s.val) & set(s.test)
    assert class_splits(banking77) == class_splits(banking77, "01")   # BANKING77's default


def test_random_split_is_seeded_and_disjoint(banking77):
    a, b, c = (class_splits(banking77, "random", seed=s) for s in (0, 0, 1))
    assert a == b and a != c
    assert sorted(a.train + a.val + a.test) == sorted(banking77.features["label"].names)


def test_bad_split_names(banking77, clinc150):
    with pytest.raises(ValueError, match="CLINC150 only"):
        class_splits(banking77, "domains")
    with pytest.raises(ValueError, match="unknown split"):
        class_splits(clinc150, "06")


def test_user_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("utterance,intent\nhello there,greet\nbye now,leave\nhi,greet\n", encoding="utf-8")
    ds = load_intents(csv_path)
    assert ds["text"] == ["hello there", "bye now", "hi"]
    assert ds.features["label"].names == ["greet", "leave"] and ds["label"] == [0, 1, 0]
    assert ds.info.dataset_name == "mine"

    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text("\n".join(json.dumps({"sentence": t, "category": c})
                               for t, c in [("a b", "x"), ("c d", "y"), ("e", "y")]), encoding="utf-8")
    ds = load_intents(jsonl)
    assert ds["label"] == [0, 1, 1]

    odd = tmp_path / "odd.csv"
    odd.write_text("words,tag\nhello,a\nbye,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot tell which column holds the text"):
        load_intents(odd)
    ds = load_intents(odd, text_column="words", label_column="tag")
    assert ds.features["label"].names == ["a", "b"]
    with pytest.raises(ValueError, match="no column 'nope'"):
        load_intents(odd, text_column="nope", label_column="tag")


def test_user_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_intents(tmp_path / "missing.csv")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        load_intents(bad)
    one = tmp_path / "one.csv"
    one.write_text("text,label\na,x\nb,x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least 2"):
        load_intents(one)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_intents("imdb")


def test_explicit_folder_without_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="banking77 was not found in"):
        load_intents("banking77", data_dir=tmp_path)


def test_offline_error_reads_well(tmp_path):
    """No local folder and no hub: a FileNotFoundError that says what to do (never fake data)."""
    env = {k: v for k, v in os.environ.items() if k != "METANLP_DATA_DIR"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    code = textwrap.dedent("""
        from metanlp_lite.data import load_intents
        try:
            load_intents("clinc150")
        except FileNotFoundError as err:
            print(err)
        else:
            print("NO ERROR")
    """)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert "CLINC150 is not cached and the Hugging Face hub cannot be reached" in out
    assert "export METANLP_DATA_DIR=" in out and "clinc150/data_full.json" in out


def test_pretty_label():
    assert pretty_label("book_flight") == "book flight"


def test_sinusoid_tasks_follow_finn_et_al():
    g = torch.Generator().manual_seed(0)
    batch, amp, phase = sample_sinusoid_tasks(500, k_support=10, k_query=7, generator=g)
    assert batch.support_x.shape == (500, 10, 1) and batch.query_y.shape == (500, 7, 1)
    assert 0.1 <= amp.min() and amp.max() <= 5.0 and 0 <= phase.min() and phase.max() <= torch.pi
    assert batch.support_x.abs().max() <= 5.0
    torch.testing.assert_close(batch.support_y, sinusoid(batch.support_x, amp, phase))
    torch.testing.assert_close(batch.support_y[0, :, 0], amp[0] * torch.sin(batch.support_x[0, :, 0] - phase[0]))
    again, _, _ = sample_sinusoid_tasks(500, 10, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.query_x, batch.query_x)
