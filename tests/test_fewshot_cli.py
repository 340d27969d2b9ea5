"""The few-shot command line on a user's small file: --n-query reaches meta-training and meta-val,
and an impossible request gets one clear line naming only the remedies that work."""
from __future__ import annotations

import csv
import json

import pytest
import torch
import torch.nn.functional as F

from metanlp_lite.fewshot import training
from metanlp_lite.fewshot.cli import main, run
from metanlp_lite.fewshot.features import Pool


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_intents(clinc150, path, sizes):
    """A CSV of real CLINC150 utterances: intent i (by id) with ``sizes[i]`` of its examples."""
    by_class: dict[int, list[str]] = {}
    for text, label in zip(clinc150["text"], clinc150["label"]):
        by_class.setdefault(label, []).append(text)
    names = clinc150.features["label"].names
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for c, n in zip(sorted(by_class), sizes):
            w.writerows([t, names[c]] for t in by_class[c][:n])
    return path


# 25 intents (a random split: 15 meta-train, 5 meta-val, 5 meta-test), 10, 12 or 14 examples each
SIZES = [10 + 2 * (i % 3) for i in range(25)]


@pytest.fixture
def small_csv(clinc150, tmp_path):
    return write_intents(clinc150, tmp_path / "my.csv", SIZES)


def run_cli(capsys, path, *args):
    """main() on ``path`` (random split, n-gram encoder, 3 meta-training steps, 20 episodes):
    (exit code, stdout, stderr); an error exits with SystemExit."""
    argv = ["--data", str(path), "--split", "random", "--encoder", "bow", "--steps", "3", "--episodes", "20",
            "--quiet", *args]
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code, err):
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err      # one line: no usage, no traceback
    assert err.startswith("python -m metanlp_lite.fewshot: error: ") and "Traceback" not in err


def test_smallest_class_has_ten_examples(small_csv):
    from metanlp_lite.data import load_intents

    counts = torch.bincount(torch.as_tensor(load_intents(str(small_csv))["label"]))
    assert counts.min().item() == 10 and len(counts) == 25


def test_n_query_reaches_meta_training(small_csv, capsys):
    """The practitioner's command: 1-shot, 5 queries, on a file whose smallest class has 10 examples."""
    code, out, err = run_cli(capsys, small_csv, "--method", "protonet", "--n-query", "5")
    assert code == 0, err
    result = json.loads(out)
    assert 0.0 <= result["mean"] <= 100.0 and result["ci95"] >= 0
    assert result["settings"]["n_query"] == 5 and result["settings"]["train_steps"] == 3
    assert result["val_acc"] is not None                        # meta-val episodes were drawn and scored
    assert result["n_classes"] == {"train": 15, "val": 5, "test": 5}


def test_the_default_n_query_names_the_value_that_works(small_csv, capsys):
    code, _, err = run_cli(capsys, small_csv, "--method", "protonet")
    assert_one_line_error(code, err)
    assert "meta-train: its smallest class" in err and "has only 10 examples" in err
    assert "5-shot episodes with 15 queries per class need K+Q = 20" in err
    assert "1- and 5-shot whatever --k-shot" in err             # so lowering --k-shot would not help
    assert err.rstrip().endswith("lower --n-query to 5") and "lower --k-shot" not in err
    # a value lowered, but not enough: the message says what would work
    code, _, err = run_cli(capsys, small_csv, "--method", "protonet", "--n-query", "8")
    assert_one_line_error(code, err)
    assert "with 8 queries per class need K+Q = 13" in err and err.rstrip().endswith("lower --n-query to 5")


def test_meta_test_only_problem_names_k_shot(small_csv, capsys):
    code, _, err = run_cli(capsys, small_csv, "--method", "ncm", "--k-shot", "12", "--n-query", "5")
    assert_one_line_error(code, err)
    assert "meta-test: its smallest class" in err and "12-shot episodes with 5 queries per class need K+Q = 17" in err
    assert err.rstrip().endswith("lower --k-shot to 5") and "--n-query to" not in err
    code, _, err = run_cli(capsys, small_csv, "--method", "ncm", "--k-shot", "6", "--n-query", "5")
    assert_one_line_error(code, err)
    assert err.rstrip().endswith("lower --n-query to 4 or --k-shot to 5")


def test_impossible_request_gets_one_clear_line(clinc150, tmp_path, capsys):
    """Every intent with 5 examples: meta-training's 5-shot episodes need 6, whatever --n-query."""
    path = write_intents(clinc150, tmp_path / "tiny.csv", [5] * 25)
    code, _, err = run_cli(capsys, path, "--method", "protonet", "--n-query", "1")
    assert_one_line_error(code, err)
    assert "meta-train: its smallest class" in err and "has only 5 examples" in err
    assert "no --n-query fits, as 5-shot episodes need at least 6 examples per class" in err
    assert "lower" not in err                                   # no remedy that would not work


# ---------------------------------------------------------------------------------------
# Without --n-query, meta-training is exactly as before: the same samplers, the same seeds
# ---------------------------------------------------------------------------------------
def cluster_pools():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(12).repeat_interleave(30)
    x = F.normalize(torch.randn(12, 16, generator=g)[labels] + 0.3 * torch.randn(len(labels), 16, generator=g), dim=1)
    names = [f"class_{i}" for i in range(12)]
    parts = {"train": list(range(6)), "val": list(range(6, 9)), "test": list(range(9, 12))}
    texts = [f"utterance {i}" for i in range(len(labels))]
    return {p: Pool(x, labels, c, None, names, texts) for p, c in parts.items()}


def sampler_calls(monkeypatch, **kwargs):
    """(pool's first class, K, Q, seed) of every sampler meta-training builds (3-way protonet, 2 steps)."""
    calls = []
    original = Pool.sampler

    def spy(pool, n_way, k_shot, n_query=15, seed=0):
        calls.append((pool.classes[0], k_shot, n_query, seed))
        return original(pool, n_way, k_shot, n_query, seed=seed)

    monkeypatch.setattr(Pool, "sampler", spy)
    training.train_for("protonet", "minilm", cluster_pools(), n_way=3, steps=2, show_progress=False, **kwargs)
    return calls


def test_default_n_query_keeps_notebook_04s_episodes(monkeypatch):
    # meta-val (classes from 6): 1- and 5-shot, 15 queries, seeds 1+1, 1+5; meta-train (from 0): seeds 100+k
    assert sampler_calls(monkeypatch) == [(6, 1, 15, 2), (6, 5, 15, 6), (0, 1, 15, 101), (0, 5, 15, 105)]
    assert sampler_calls(monkeypatch, n_query=5) == [(6, 1, 5, 2), (6, 5, 5, 6), (0, 1, 5, 101), (0, 5, 5, 105)]


def test_default_n_query_keeps_the_layer_methods_own(monkeypatch):
    """minilm-block meta-trains on 5 queries, meta-val on 15; an n_query given sets both."""
    seen = []
    monkeypatch.setattr(training, "featurize", lambda texts, encoder, show_progress=False: torch.zeros(len(texts), 384))
    monkeypatch.setattr(training, "build_method", lambda *a, **k: torch.nn.Linear(1, 1))
    monkeypatch.setattr(training, "train_method", lambda m, train, val, **kw: seen.append(kw) or training.TrainLog(
        [0], [], [], 0, float("nan"), 0.0, []))
    pools = cluster_pools()
    for n_query in (None, 7):
        training.train_for("protonet", "minilm-block", pools, n_way=3, n_query=n_query, steps=1, show_progress=False)
    assert seen[0]["n_query"] == 5 and "val_n_query" not in seen[0]           # train_method's 15 on meta-val
    assert seen[1]["n_query"] == 7 and seen[1]["val_n_query"] == 7


def test_run_reports_the_meta_test_queries(clinc150, tmp_path):
    path = write_intents(clinc150, tmp_path / "larger.csv", [20] * 25)
    result = run(str(path), "ncm", "bow", split="random", episodes=20, show_progress=False)
    assert result["settings"]["n_query"] == 15                   # the default, as before
