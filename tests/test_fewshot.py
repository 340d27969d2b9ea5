import math

import pytest
import torch

from metanlp_lite.episodes import EpisodeSampler
from metanlp_lite.fewshot.metric import ncm_predict, prototypes
from metanlp_lite.fewshot.training import evaluate
from metanlp_lite.stats import accuracy, mean_ci95


def clusters(n_classes=8, per_class=40, dim=16, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=g)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[labels] + spread * torch.randn(len(labels), dim, generator=g), labels


def test_prototypes_are_class_means():
    x = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]]])
    y = torch.tensor([[0, 0, 1]])
    torch.testing.assert_close(prototypes(x, y, 2), torch.tensor([[[1.0, 0.0], [0.0, 4.0]]]))
    with pytest.raises(ValueError, match="at least one support example"):
        prototypes(x, torch.tensor([[0, 0, 0]]), 2)


def test_ncm_separates_well_separated_clusters():
    feats, labels = clusters()
    accs = evaluate(ncm_predict, EpisodeSampler(labels, 5, 1, 15, seed=0), feats, 100, show_progress=False)
    assert accs.shape == (100,) and accs.min() == 100.0


def test_ncm_is_at_chance_on_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(8).repeat_interleave(40)
    feats = torch.randn(len(labels), 16, generator=g)
    m, h = mean_ci95(evaluate(ncm_predict, EpisodeSampler(labels, 5, 1, 15, seed=0), feats, 300,
                              show_progress=False))
    assert abs(m - 20.0) < 3 * h + 1


def test_accuracy_and_interval():
    assert accuracy(torch.tensor([[0, 1, 1, 0]]), torch.tensor([[0, 1, 0, 0]])).item() == 75.0
    m, h = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert h == pytest.approx(1.96 * math.sqrt(5 / 3) / 2)   # s = sqrt(5/3), n = 4
    with pytest.raises(ValueError):
        mean_ci95([1.0])


def test_ncm_reference_number_on_clinc150(clinc150, tmp_path_factory):
    """The training-free baseline on the held-out domains lands near the data README's 93.96 ± 0.44."""
    from metanlp_lite.data import class_splits, select_classes
    from metanlp_lite.text import embed

    pool = select_classes(clinc150, class_splits(clinc150).test)
    feats = embed(list(pool["text"]), show_progress=False)
    accs = evaluate(ncm_predict, EpisodeSampler(list(pool["label"]), 5, 1, 15, seed=0), feats, 600,
                    show_progress=False)
    m, h = mean_ci95(accs)
    assert abs(m - 93.96) < 2 * max(h, 0.44), (m, h)


def test_missing_fewshot_runs_file_says_how_to_make_it(tmp_path):
    from metanlp_lite.fewshot.stored import load_fewshot_runs

    with pytest.raises(FileNotFoundError, match="benchmarks/fewshot_models.py"):
        load_fewshot_runs(tmp_path / "nothing.pt")


def test_fewshot_runs_made_with_other_settings_are_refused(tmp_path):
    """Another seed or budget than asked, or hyper-parameters the package no longer has: a
    ValueError naming what differs and how to remake the file."""
    from importlib.resources import files

    from metanlp_lite.fewshot.stored import FEWSHOT_RUNS_FILE, load_fewshot_runs

    with pytest.raises(ValueError, match="made with seed 0, but it is 1 here.*fewshot_models.py"):
        load_fewshot_runs(seed=1)
    with pytest.raises(ValueError, match="made with budget 'quick'"):
        load_fewshot_runs(budget="full")
    with pytest.raises(ValueError, match="made with pools"):
        load_fewshot_runs(pools_of=[("clinc150", "minilm")])
    stored = torch.load(str(files("metanlp_lite") / "results" / FEWSHOT_RUNS_FILE), weights_only=True)
    stored["made"]["hyperparams"]["banking77", "minilm", "reptile"]["inner_lr"] = 0.1   # as if tuned since
    torch.save(stored, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"made with hyperparams of \('banking77', 'minilm', 'reptile'\).*'inner_lr': 0.1"):
        load_fewshot_runs(tmp_path / "old.pt")


def test_stored_fewshot_runs_are_notebook_04s_calls(banking77):
    """fewshot_quick.pt: every model's log and scores, the BANKING77 MiniLM models rebuilt with their
    shapes; Reptile retrained here (float64, rounded: the same network on any CPU) gives the stored
    network, meta-val accuracies and (to float32) losses, and nearest class mean the stored scores."""
    from metanlp_lite.fewshot.features import make_pools
    from metanlp_lite.fewshot.methods import METHODS, build_method
    from metanlp_lite.fewshot.stored import load_fewshot_runs
    from metanlp_lite.fewshot.training import episode_batches, evaluate_batches, train_for

    pools_of = [("clinc150", "minilm"), ("banking77", "minilm"), ("clinc150", "bow")]
    stored = load_fewshot_runs(pools_of=pools_of)
    assert set(stored.logs) == {(d, enc, m) for d, enc in pools_of for m in METHODS}
    no_parameters = {(d, enc, "ncm") for d, enc in pools_of}
    assert set(stored.models) == {("banking77", "minilm", m) for m in METHODS} | no_parameters
    assert set(stored.results) == {(run[0][0], run[1], m) for run in stored.runs for m in METHODS}
    assert all(len(stored.results[run[0][0], run[1], m]) == run[2] for run in stored.runs for m in METHODS)
    for (_, enc, method), model in stored.models.items():
        fresh = build_method(method, enc, 384, n_classes=25)
        shapes = {k: v.shape for k, v in fresh.state_dict().items()}
        assert {k: v.shape for k, v in model.state_dict().items()} == shapes
        assert model.dtype == torch.float32
    pools = make_pools(banking77, "minilm", "01", seed=0, show_progress=False)
    model, log = train_for("reptile", "minilm", pools, budget="quick", seed=0, show_progress=False)
    kept = stored.logs["banking77", "minilm", "reptile"]
    assert (log.steps, log.val_acc, log.best_step) == (kept.steps, kept.val_acc, kept.best_step)
    assert torch.equal(torch.tensor(log.losses, dtype=torch.float32), torch.tensor(kept.losses, dtype=torch.float32))
    reference = stored.models["banking77", "minilm", "reptile"].state_dict()
    assert all(torch.equal(p, reference[name]) for name, p in model.state_dict().items())
    run = next(r for r in stored.runs if r[0][0] == "BANKING77 1-shot")
    batches = episode_batches(pools["test"], k_shot=1, episodes=run[2], seed=0)
    assert torch.equal(evaluate_batches(stored.models["banking77", "minilm", "ncm"], batches),
                       stored.scores([run])["BANKING77 1-shot", "minilm", "ncm"])
    with pytest.raises(ValueError, match="no stored scores"):
        stored.scores([(run[0][:5] + (100,), "minilm", 100)])


def test_fewshot_splits_missing_or_made_otherwise_are_refused(tmp_path):
    """fewshot_splits.json: a missing file says how to make it; another budget or schedule, a lost
    seed or a count out of range is refused, naming what differs."""
    import json
    from importlib.resources import files

    from metanlp_lite.fewshot.stored import FEWSHOT_SPLITS_FILE, load_fewshot_splits

    with pytest.raises(FileNotFoundError, match="benchmarks/fewshot_splits.py"):
        load_fewshot_splits(tmp_path / "nothing.json")
    with pytest.raises(ValueError, match="made with budget 'quick'.*fewshot_splits.py"):
        load_fewshot_splits(budget="full")
    stored = json.loads((files("metanlp_lite") / "results" / FEWSHOT_SPLITS_FILE).read_text())
    for change, message in ((lambda d: d["made"]["schedule"].update(steps=30), "made with schedule"),
                            (lambda d: d["splits"]["03"]["anil"].pop("2"), "split 03, anil has the seeds"),
                            (lambda d: d["splits"]["05"]["maml"]["1"]["names"].__setitem__(7, 76), "counts of 0 to 75")):
        changed = json.loads(json.dumps(stored))
        change(changed)
        (tmp_path / "changed.json").write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=message):
            load_fewshot_splits(tmp_path / "changed.json")


def test_fewshot_splits_hold_five_splits_and_split_01_is_notebook_04s_run():
    """The five class splits x every method x three seeds (nearest class mean: one run), 600
    episodes each; split 01's seed-0 runs are the very runs of fewshot_quick.pt (its BANKING77 1-shot
    scores without and with names, episode by episode, and each model's kept step and meta-val)."""
    from metanlp_lite.fewshot.methods import METHODS
    from metanlp_lite.fewshot.stored import load_fewshot_runs, load_fewshot_splits

    splits = load_fewshot_splits()
    assert splits.splits == ["01", "02", "03", "04", "05"] and splits.methods == list(METHODS)
    assert splits.seeds == [0, 1, 2] and splits.made["episodes"] == 600 and splits.made["k_shot"] == 1
    for split in splits.splits:
        for method in METHODS:
            for names in (False, True):
                acc = splits.acc[split, method, names]
                assert acc.shape == (1 if method == "ncm" else 3, 600) and 0 <= acc.min() and acc.max() <= 100
            assert all(0 <= step <= splits.made["schedule"]["steps"] for step in splits.best_step[split, method])
    # nearest class mean has nothing to train or choose; the trained methods differ between splits
    assert all(splits.best_step[s, "ncm"] == [0] and splits.best_val[s, "ncm"] == [] for s in splits.splits)
    assert len({splits.acc[s, "protonet", False].mean().item() for s in splits.splits}) == 5
    stored = load_fewshot_runs(pools_of=[("clinc150", "minilm"), ("banking77", "minilm"), ("clinc150", "bow")])
    for method in METHODS:
        for names, setting in ((False, "BANKING77 1-shot"), (True, "BANKING77 1-shot +names")):
            there = (stored.results[setting, "minilm", method].double() * 75 / 100).round()
            assert torch.equal((splits.acc["01", method, names][0] * 75 / 100).round(), there), (method, names)
        log = stored.logs["banking77", "minilm", method]
        assert splits.best_step["01", method][0] == log.best_step
        if method != "ncm":
            assert splits.best_val["01", method][0] == round(log.best_val, 3)


def test_train_queries_change_meta_training_only(banking77, monkeypatch):
    """train_for(train_queries=5): the meta-training episodes take 5 queries a class, meta-val keeps its 15
    (notebook 05's frozen ProtoNet on the layer's episodes); n_query changes both."""
    from metanlp_lite.fewshot import training
    from metanlp_lite.fewshot.features import make_pools

    seen = {}
    monkeypatch.setattr(training, "train_method", lambda m, *a, **kw: seen.update(kw) or training.TrainLog([0], [0.0], [], 0, 0.0, 0.0, []))
    pools = make_pools(banking77, "minilm", "01", seed=0, show_progress=False)
    training.train_for("protonet", "minilm", pools, budget="quick", meta_batch=4, train_queries=5, show_progress=False)
    assert seen["n_query"] == 5 and seen["meta_batch"] == 4 and "val_n_query" not in seen
    training.train_for("protonet", "minilm", pools, budget="quick", n_query=5, show_progress=False)
    assert seen["n_query"] == seen["val_n_query"] == 5
