"""The paper's OML variant (:mod:`metanlp_lite.oml_paper`): its meta-gradient, the reset of the trajectory's
rows, the remember batch, and the stored runs of ``benchmarks/continual_oml_paper.py``."""
from __future__ import annotations

import torch

from metanlp_lite.oml import RepresentationNet
from metanlp_lite.oml_paper import (PaperHead, load_oml_paper, oml_meta_loss_paper, oml_paper_table, paper_batch,
                                    reset_rows)


def small_problem(seed: int = 0, n: int = 9, D: int = 6):
    g = torch.Generator().manual_seed(seed)
    rln = RepresentationNet(dim=D, hidden=5, lr=0.3, seed=seed).double()
    with torch.no_grad():           # a non-trivial adapter (it starts as the identity)
        rln.outer.weight.copy_(0.3 * torch.randn(D, 5, generator=g, dtype=torch.float64))
    model = PaperHead(rln, torch.randn(n, D, generator=g, dtype=torch.float64),
                      0.1 * torch.randn(n, generator=g, dtype=torch.float64))
    B, C, K, Q, R = 2, 3, 2, 2, 4
    support = torch.randn(B, C, K, D, generator=g, dtype=torch.float64)
    queries = torch.randn(B, C, Q, D, generator=g, dtype=torch.float64)
    columns = torch.stack([torch.randperm(n, generator=g)[:C] for _ in range(B)])
    remember_columns = torch.stack([c[torch.randint(n - C, (R,), generator=g)] for c in
                                    [torch.tensor([j for j in range(n) if j not in cols]) for cols in columns.tolist()]])
    remember = torch.randn(B, R, D, generator=g, dtype=torch.float64)
    return model, (support, queries, columns, remember, remember_columns)


def test_meta_gradient_matches_a_central_finite_difference():
    model, batch = small_problem()
    loss = lambda: oml_meta_loss_paper(model, *batch, inner_steps=2)  # noqa: E731
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss(), list(params.values()))
    g = torch.Generator().manual_seed(1)
    directions = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in params.values()]
    analytic = sum((gr * d).sum() for gr, d in zip(grads, directions))
    eps = 1e-6
    with torch.no_grad():
        for p, d in zip(params.values(), directions):
            p.add_(eps * d)
        up = loss()
        for p, d in zip(params.values(), directions):
            p.sub_(2 * eps * d)
        down = loss()
        for p, d in zip(params.values(), directions):
            p.add_(eps * d)
    numeric = (up - down) / (2 * eps)
    assert abs(analytic - numeric) / abs(numeric) < 1e-6
    # each meta-parameter gets a gradient: the step size, W0 and b0 included
    assert all(gr.abs().sum() > 0 for gr in grads)


def test_trajectory_rows_start_at_zero_whatever_W0_is():
    model, (support, queries, columns, remember, remember_columns) = small_problem()
    W, b = reset_rows(model.W0, model.b0, columns)
    for i, cols in enumerate(columns):
        assert torch.equal(W[i, cols], torch.zeros_like(W[i, cols])) and torch.equal(b[i, cols], torch.zeros(len(cols),
                                                                                                              dtype=b.dtype))
        others = [j for j in range(len(model.W0)) if j not in cols.tolist()]
        assert torch.equal(W[i, others], model.W0[others].detach())
    # the loss does not depend on W0's rows of the trajectory's intents (one trajectory: its rows get no gradient)
    one = (support[:1], queries[:1], columns[:1], remember[:1], remember_columns[:1])
    loss = oml_meta_loss_paper(model, *one, inner_steps=2)
    (gW0,) = torch.autograd.grad(loss, [model.W0])
    assert torch.equal(gW0[columns[0]], torch.zeros_like(gW0[columns[0]])) and gW0.abs().sum() > 0
    with torch.no_grad():
        model.W0[columns[0]] += 5.0
        model.b0[columns[0]] -= 3.0
    assert torch.equal(oml_meta_loss_paper(model, *one, inner_steps=2), loss.detach())


def test_remember_batch_draws_only_other_meta_train_intents():
    labels = torch.arange(30).repeat_interleave(8)          # 30 classes of 8 rows
    train = torch.arange(2, 27)                             # 25 meta-train intents
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        support, queries, columns, remember, remember_columns = paper_batch(labels, train, 6, 1, 3, gen)
        assert support.shape == (6, 1) and queries.shape == (6, 3) and remember.shape == remember_columns.shape == (18,)
        assert torch.equal(labels[support[:, 0]], train[columns])
        assert not torch.isin(remember_columns, columns).any()
        assert torch.equal(train[remember_columns], labels[remember])              # the columns are the rows' intents
        assert torch.isin(labels[remember], train).all()                           # meta-train intents only
    model, (support, queries, columns, remember, remember_columns) = small_problem()
    bad = remember_columns.clone()
    bad[0, 0] = columns[0, 0]
    try:
        oml_meta_loss_paper(model, support, queries, columns, remember, bad)
    except ValueError:
        pass
    else:
        raise AssertionError("a remember batch holding a trajectory intent was accepted")


def test_stored_runs_have_their_shapes_and_table():
    stored = load_oml_paper()
    cfg, seeds, tr = stored["config"], stored["config"]["seeds"], stored["training"]
    assert len(seeds) >= 3 and cfg["steps"] >= 600 and cfg["n_streams"] == 20 and cfg["chosen"] in stored["configs"]
    assert tr["val"].shape == (len(seeds), len(tr["checked"])) and tr["checked"][-1] == cfg["steps"]
    assert tr["losses"].shape == (len(seeds), cfg["steps"]) and len(tr["step_size"]) == len(seeds)
    assert all(b in tr["checked"] for b in tr["best_step"])
    chosen = stored["configs"][cfg["chosen"]]
    assert max(chosen["val"]) == max(max(c["val"]) for c in stored["configs"].values())   # chosen on meta-val
    for name, v in stored["learners"].items():
        assert v["final"].shape == v["retention"].shape == (v["seeds"], cfg["n_streams"]), name
        assert 0 <= v["final"].min() and v["final"].max() <= 100
    assert stored["learners"]["paper OML"]["final"].shape[0] == len(seeds)
    table = oml_paper_table(stored)
    assert "paper OML - OML (continual_oml_seeds)" in table and cfg["chosen"] in table
