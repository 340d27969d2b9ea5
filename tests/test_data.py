import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from metanlp_lite import data
from metanlp_lite.data import (CLINC150_DOMAINS, ClassSplit, DatasetSpec, class_splits, load_intents,
                               pretty_label, register, sample_sinusoid_tasks, select_classes, sinusoid)


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


def _read_toy(folder):
    rows = [line.split("\t") for line in (folder / "rows.tsv").read_text(encoding="utf-8").splitlines()]
    return [t for t, _ in rows], [lab for _, lab in rows]


@pytest.fixture
def registry(monkeypatch):
    """DATASETS as it is, for a test to register its own datasets in."""
    monkeypatch.setattr(data, "DATASETS", dict(data.DATASETS))
    return data.DATASETS


def test_a_new_dataset_is_one_spec(registry, tmp_path, banking77):
    """Registering one spec is all it takes: load_intents, its aliases, its columns, class_splits."""
    (tmp_path / "toy").mkdir()
    rows = [("hi", "greet"), ("bye", "leave"), ("hello", "greet"), ("what?", "oos"), ("thanks", "thank"),
            ("pay", "pay_bill"), ("weather", "weather")]
    (tmp_path / "toy" / "rows.tsv").write_text("\n".join(map("\t".join, rows)), encoding="utf-8")
    for part, names in zip(("train", "valid", "test"), (["greet", "leave"], ["thank"], ["pay_bill", "weather"])):
        (tmp_path / "splits" / "toy" / "02").mkdir(parents=True, exist_ok=True)
        (tmp_path / "splits" / "toy" / "02" / f"labels.{part}.txt").write_text("\n".join(names), encoding="utf-8")
    register(DatasetSpec("toy", "Toy", _read_toy, ("rows.tsv",), "a few bytes", aliases=("toy-set",),
                         hub_id="nobody/toy", split_folder="TOY", default_split="halves",
                         named_splits={"halves": ClassSplit(["greet", "leave"], ["thank"], ["pay_bill", "weather"])},
                         columns={"initial": lambda intent: intent[0]}))
    ds = load_intents("Toy_Set", data_dir=tmp_path)
    assert ds.column_names == ["text", "label", "initial"] and ds.info.dataset_name == "toy"
    assert ds.features["label"].names == ["greet", "leave", "pay_bill", "thank", "weather"]   # oos dropped
    assert ds["text"] == ["hi", "bye", "hello", "thanks", "pay", "weather"] and ds["initial"][:2] == ["g", "l"]
    assert class_splits(ds) == ClassSplit(["greet", "leave"], ["thank"], ["pay_bill", "weather"])
    assert class_splits(ds, "02", data_dir=tmp_path) == class_splits(ds)
    with pytest.raises(ValueError, match="split='halves' exists for Toy only, not 'banking77'"):
        class_splits(banking77, "halves")
    (tmp_path / "mine.csv").write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the published splits exist for clinc150 and banking77 and toy, not 'mine'"):
        class_splits(load_intents(tmp_path / "mine.csv"), "01")
    with pytest.raises(ValueError, match=r"unknown dataset 'imdb': use 'clinc150', 'banking77', 'toy', or the path"):
        load_intents("imdb")


def test_a_dataset_from_another_online_source(registry, tmp_path, monkeypatch):
    """fetch_online replaces the hub (xSID will come from GitHub); its failure names its source."""
    def fetch(spec):
        if spec.name == "down":
            raise OSError("no route to host")
        return ["a", "b", "c"], ["x", "y", "x"]

    register(DatasetSpec("up", "Up", _read_toy, ("rows.tsv",), "1 kB", fetch_online=fetch, source="https://x.org/up"))
    register(DatasetSpec("down", "Down", _read_toy, ("rows.tsv",), "1 kB", folder="shared",
                         fetch_online=fetch, source="https://x.org/down"))
    monkeypatch.delenv("METANLP_DATA_DIR", raising=False)
    up = load_intents("up")
    assert up["label"] == [0, 1, 0] and class_splits(up) == class_splits(up, "random")   # the default default
    with pytest.raises(FileNotFoundError) as err:
        load_intents("down")
    assert str(err.value).startswith("Down is not cached and https://x.org/down cannot be reached.\n")
    assert "holding shared/rows.tsv" in str(err.value) and "(It said: OSError: no route to host)" in str(err.value)

    from metanlp_lite.__main__ import main    # prefetch offers the registered datasets; "up" has no published splits
    assert main(["prefetch", "--datasets", "up", "--no-embeddings", "--no-xsid"]) == 0
    with pytest.raises(SystemExit):
        main(["prefetch", "--datasets", "imdb", "--no-embeddings"])


def test_a_spec_must_be_complete_and_its_names_free(registry):
    with pytest.raises(ValueError, match="give either hub_id, or fetch_online and source"):
        DatasetSpec("local", "Local", _read_toy, ("rows.tsv",), "1 kB")
    with pytest.raises(ValueError, match="dataset name 'clinc-oos' is taken by 'clinc150'"):
        register(DatasetSpec("other", "Other", _read_toy, ("rows.tsv",), "1 kB", aliases=("clinc-oos",), hub_id="o/o"))


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
