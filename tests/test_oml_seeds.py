"""OML's controls over training seeds: the ProtoNet adapter (:func:`metanlp_lite.oml.train_adapter_protonet`)
and the stored runs of ``benchmarks/continual_oml_seeds.py`` (:func:`~metanlp_lite.oml.load_oml_seeds`,
:func:`~metanlp_lite.oml.oml_seeds_table`)."""
from __future__ import annotations

import torch

from metanlp_lite.continual import average_accuracy, make_stream, run_stream
from metanlp_lite.oml import (OML, TRAINERS, RepresentationNet, load_oml_seeds, oml_seeds_table,
                              train_adapter_protonet)
from metanlp_lite.stats import paired_over_seeds_t, t_quantile


def tiny_problem(n_classes: int = 14, per_class: int = 12, dim: int = 16, seed: int = 0):
    """Classes apart in the first half of the dimensions, buried under a larger shared noise in the
    second half: an adapter that damps the second half helps prototypes of unseen classes."""
    g = torch.Generator().manual_seed(seed)
    means = torch.zeros(n_classes, dim)
    means[:, : dim // 2] = torch.randn(n_classes, dim // 2, generator=g)
    noise = torch.randn(n_classes * per_class, dim, generator=g) * torch.cat([torch.full((dim // 2,), 0.3),
                                                                             torch.full((dim - dim // 2,), 1.5)])
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    return means[labels] + noise, labels


def test_train_adapter_protonet_lowers_its_loss_and_keeps_the_best_step():
    x, y = tiny_problem()
    train, val = list(range(8)), list(range(8, 14))
    rln = RepresentationNet(dim=16, hidden=32, lr=0.003, seed=0)
    log = train_adapter_protonet(rln, x, y, train, val, steps=60, meta_batch=4, n_classes=5, n_query=5, lr=3e-2,
                                 eval_every=10, val_streams=3, seed=0, show_progress=False)
    assert len(log.losses) == 60 and log.checked == [0, 10, 20, 30, 40, 50, 60]
    assert sum(log.losses[-10:]) / 10 < sum(log.losses[:10]) / 10 - 0.05          # the ProtoNet loss falls
    assert log.best_step == log.checked[log.val.index(max(log.val))]              # the first best step is kept
    assert 0 < log.best_step < 60                          # here meta-val peaks before the end (a tie later keeps the first)
    # the network is left at the best step: its meta-val score is the best one, recomputed
    streams = [make_stream(y, val, k_shot=1, n_query=5, seed=1000 + i) for i in range(3)]
    again = sum(average_accuracy(run_stream(OML(rln), x.double(), s).acc)[-1].item() for s in streams) / 3
    assert abs(again - max(log.val)) < 1e-9
    assert rln.log_lr.requires_grad and abs(rln.log_lr.exp().item() - 0.003) < 1e-9   # the step size is not trained
    assert all(p.dtype == torch.float64 and torch.equal(p, p.float().double()) for p in rln.parameters())


def test_stored_runs_have_their_shapes():
    stored = load_oml_seeds()
    cfg, seeds = stored["config"], stored["config"]["seeds"]
    assert len(seeds) >= 3 and cfg["steps"] >= 600 and cfg["n_streams"] == 20 and cfg["cpu"]
    assert set(stored["training"]) == set(TRAINERS)
    for log in stored["training"].values():
        assert log["val"].shape == (len(seeds), len(log["checked"])) and log["checked"][-1] == cfg["steps"]
        assert log["losses"].shape == (len(seeds), cfg["steps"])
        assert all(b in log["checked"] for b in log["best_step"]) and len(log["seconds"]) == len(seeds)
    for name, v in stored["learners"].items():
        rows = len(seeds) if v["trainer"] else 1
        assert v["final"].shape == v["retention"].shape == (rows, cfg["n_streams"]), name
        assert v["final"].dtype == torch.float32 and 0 <= v["final"].min() and v["final"].max() <= 100
    assert {"Proto-MAML init", "Proto-MAML init + names", "nearest class mean"} <= set(stored["learners"])
    assert stored["wall_s"] > 0


def test_the_table_of_the_stored_runs():
    stored = load_oml_seeds()
    table = oml_seeds_table(stored)
    for trainer in TRAINERS:
        for seed in stored["config"]["seeds"]:
            assert f"{trainer}, seed {seed}:" in table
    assert "OML - supervised adapter" in table and "supervised adapter - ProtoNet adapter" in table
    assert "rising" in table and "Proto-MAML init + names" in table
    # the intervals cover streams and seeds with Student's t (4.30 for 3 seeds, not 1.96)
    a, b = stored["learners"]["OML"]["final"], stored["learners"]["supervised adapter"]["final"]
    m, h = paired_over_seeds_t(a, b)
    assert f"{m:+6.2f} ± {h:4.2f}" in table
    assert t_quantile(0.975, len(stored["config"]["seeds"]) - 1) > 4.0
