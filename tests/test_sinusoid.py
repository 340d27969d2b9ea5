"""The sinusoid benchmark's test protocol and the networks trained at the paper's scale."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from metanlp_lite.maml import adaptation_curve
from metanlp_lite.sinusoid import (SINUSOID_METHODS, evaluate_sinusoid, load_sinusoid_results, load_sinusoid_runs,
                                   sinusoid_mlp, sinusoid_test_tasks, train_sinusoid)

ROOT = Path(__file__).resolve().parents[1]


def test_test_tasks_are_fixed_and_shaped():
    a, b = sinusoid_test_tasks(7, 10, 20), sinusoid_test_tasks(7, 10, 20)
    assert a.support_x.shape == (7, 10, 1) and a.query_y.shape == (7, 20, 1)
    assert torch.equal(a.query_y, b.query_y)
    assert not torch.equal(a.query_y, sinusoid_test_tasks(7, 10, 20, seed=1).query_y)


@pytest.mark.parametrize("method", sorted(SINUSOID_METHODS))
def test_own_protocol_is_the_methods_inner_loop(method):
    model, tasks = sinusoid_mlp(seed=0), sinusoid_test_tasks(5, 10, 30)
    res = evaluate_sinusoid(model, method, tasks, steps=6)
    cfg = SINUSOID_METHODS[method]
    assert res["common"].shape == res["own_curve"].shape == (7, 5)
    torch.testing.assert_close(res["own"], res["own_curve"][cfg["inner_steps"]])
    torch.testing.assert_close(res["common"], adaptation_curve(model, tasks, inner_lr=0.01, steps=6,
                                                               loss_fn=torch.nn.functional.mse_loss))
    torch.testing.assert_close(res["own_curve"][0], res["common"][0])      # no step: the same network
    if cfg["inner_lr"] != 0.01:
        assert not torch.allclose(res["own_curve"][1], res["common"][1])


def test_evaluate_refuses_fewer_steps_than_the_methods_own():
    with pytest.raises(ValueError, match="fewer than reptile's own 5"):
        evaluate_sinusoid(sinusoid_mlp(seed=0), "reptile", sinusoid_test_tasks(2), steps=3)
    with pytest.raises(ValueError, match="unknown method"):
        evaluate_sinusoid(sinusoid_mlp(seed=0), "protonet", sinusoid_test_tasks(2))


def test_script_stores_networks_that_load_back(tmp_path):
    spec = importlib.util.spec_from_file_location("repro", ROOT / "benchmarks" / "sinusoid_reproduction.py")
    repro = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(repro)
    method, seed, state, per_1000, seconds = repro.train_one(("joint", 3, 1000))
    assert len(per_1000) == 1 and seconds > 0
    path = tmp_path / "runs.pt"
    torch.save({"steps": 1000, "runs": {f"{method}/{seed}": {"state": state, "loss_per_1000": per_1000,
                                                             "seconds": seconds}}}, path)
    (key, model), = load_sinusoid_runs(path).items()
    assert key == ("joint", 3)
    x = torch.linspace(-5, 5, 11).reshape(-1, 1)
    reference = sinusoid_mlp(seed=3)
    reference.load_state_dict(state)
    assert torch.equal(model(x), reference(x))
    assert not torch.equal(model(x), sinusoid_mlp(seed=3)(x))          # trained, not the initial network
    # the script's worker trains exactly what notebook 02's call trains (FULL_TRAINING relies on it)
    here, _ = train_sinusoid("joint", 1000, seed=3, dtype=torch.float64, show_progress=False)
    assert all(torch.equal(a, b) for a, b in zip(here.float().state_dict().values(), state.values()))


def test_missing_runs_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/sinusoid_reproduction.py"):
        load_sinusoid_runs(tmp_path / "nothing.pt")


def test_shipped_short_runs_are_notebook_02s_call():
    """sinusoid_3k.pt: the four 3,000-step runs notebook 02 reads, made by train_sinusoid itself (a
    rerun of its first meta-steps gives the same losses), and each method's network after 1,000 steps
    (notebook 02 checks MAML's against a live run, notebook 03 reads the other three)."""
    from metanlp_lite.sinusoid import SHORT_RUNS_FILE

    short = load_sinusoid_results(file=SHORT_RUNS_FILE)
    assert short["steps"] == 3_000 and sorted(short["runs"]) == sorted(f"{m}/0" for m in SINUSOID_METHODS)
    assert all(len(run["losses"]) == 3_000 for run in short["runs"].values())
    assert set(short["checkpoints"]) == {f"{m}/0/1000" for m in SINUSOID_METHODS}
    assert all(set(c) == set(short["runs"]["maml/0"]["state"]) for c in short["checkpoints"].values())
    for method in ("maml", "reptile"):
        _, losses = train_sinusoid(method, 20, seed=0, dtype=torch.float64, show_progress=False)
        assert losses == short["runs"][f"{method}/0"]["losses"][:20], method


def test_shipped_runs_are_the_papers_scale():
    stored = load_sinusoid_results()                                   # the file shipped as package data
    assert stored["steps"] == 70_000
    assert sorted(stored["runs"]) == sorted(f"{m}/{s}" for m in SINUSOID_METHODS for s in (0, 1, 2))
    assert all(len(run["loss_per_1000"]) == 70 for run in stored["runs"].values())
    assert set(load_sinusoid_runs()) == {(m, s) for m in SINUSOID_METHODS for s in (0, 1, 2)}
