"""Notebook 07's standard continual-learning metrics (backward transfer, forgetting, recency), the
online head's bias / cosine / weight-aligning switches and the joint offline bound, on small
hand-made matrices and made-up feature tables."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metanlp_lite import continual as cl

NAN = float("nan")


def lower(rows: list[list[float]]) -> torch.Tensor:
    """An accuracy matrix from its lower-triangle rows (NaN above the diagonal)."""
    acc = torch.full((len(rows), len(rows)), NAN)
    for t, row in enumerate(rows):
        acc[t, :len(row)] = torch.tensor(row)
    return acc


def clustered(n_classes: int = 12, per_class: int = 30, dim: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_classes, dim, generator=g), dim=-1)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    return F.normalize(centres[labels] + 0.3 * torch.randn(len(labels), dim, generator=g) / dim ** 0.5, dim=-1), labels


def test_backward_transfer_and_forgetting_by_hand():
    # intent 0 known at 80 on arrival, 95 one step later, 70 at the end; intent 1: 90 then 50
    acc = lower([[80], [95, 90], [70, 50, 100]])
    # BWT: mean of (70 - 80, 50 - 90); forgetting: mean of (max(80, 95) - 70, 90 - 50)
    assert cl.backward_transfer(acc).item() == pytest.approx(-25.0)
    assert cl.forgetting(acc).item() == pytest.approx(32.5)
    # a learner that never gets better on an old intent after its arrival: forgetting = -BWT
    monotone = lower([[100], [80, 100], [60, 90, 100], [50, 80, 90, 100]])
    assert cl.forgetting(monotone).item() == pytest.approx(80 / 3)
    assert cl.backward_transfer(monotone).item() == pytest.approx(-80 / 3)
    # batched: (..., T, T) -> (...); the last intent never counts
    both = torch.stack([acc, lower([[80], [95, 90], [70, 50, 0]])])
    assert torch.allclose(cl.backward_transfer(both), torch.tensor([-25.0, -25.0]))
    assert torch.allclose(cl.forgetting(both), torch.tensor([32.5, 32.5]))
    with pytest.raises(ValueError, match="at least 2 arrivals"):
        cl.forgetting(lower([[50]]))
    with pytest.raises(ValueError, match="at least 2 arrivals"):
        cl.backward_transfer(lower([[50]]))


def test_predicted_age_and_recency_share():
    x, labels = clustered()
    s = cl.make_stream(labels, range(12), n_query=10, seed=2)
    run = cl.run_stream(cl.RunningPrototypes(16), x, s)
    assert torch.allclose(run.predicted_age.nansum(-1), torch.full((12,), 100.0, dtype=run.predicted_age.dtype))
    assert torch.isnan(run.predicted_age[3, 4:]).all() and not torch.isnan(run.predicted_age[3, :4]).any()
    age = torch.tensor([[100.0, NAN, NAN], [30.0, 70.0, NAN], [10.0, 20.0, 70.0]])
    assert cl.recency_share(age, 1).tolist() == [100.0, 30.0, 10.0]
    assert cl.recency_share(age, 2).tolist() == [100.0, 100.0, 30.0]


def test_the_bias_makes_fine_tuning_predict_the_newest_intent_and_without_it_it_does_not():
    """After two arrivals, row 1 never moved (a softmax over one intent has no gradient) and the
    step on intent 2's example gives W2 - W1 = alpha s z2 and b2 - b1 = alpha s: intent 2 wins
    every query q with q . z2 > -1, i.e. all of them. Without the bias, only those with q . z2 > 0."""
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(400, 16, generator=g), dim=-1)     # zero-mean: cosines of both signs
    labels = torch.arange(8).repeat_interleave(50)
    streams = [cl.make_stream(labels, range(8), n_query=20, seed=i) for i in range(5)]

    def newest_at_2(**kw):
        return torch.stack([cl.recency_share(cl.run_stream(cl.OnlineHead(16, lr=0.001, **kw), x, st).predicted_age, 1)[1]
                            for st in streams]).mean().item()

    assert newest_at_2() == 100.0
    assert 20 < newest_at_2(bias=False) < 80 and 20 < newest_at_2(cosine=True) < 80


def test_bias_cosine_and_weight_aligning_switches():
    x, labels = clustered()
    s = cl.make_stream(labels, range(6), n_query=5, seed=1)
    plain, nobias = cl.OnlineHead(16, lr=0.5), cl.OnlineHead(16, lr=0.5, bias=False)
    cosine, aligned = cl.OnlineHead(16, lr=0.5, cosine=True), cl.OnlineHead(16, lr=0.5, align=True)
    for head in (plain, nobias, cosine, aligned):
        cl.run_stream(head, x, s)
    h = plain.represent(x[:7])
    assert plain.b.abs().sum() > 0 and torch.equal(nobias.b, torch.zeros(6, dtype=torch.float64))
    assert torch.allclose(nobias.classify(h), h @ nobias.W.T)
    assert torch.equal(cosine.b, torch.zeros(6, dtype=torch.float64))          # a cosine head has no bias
    assert torch.allclose(cosine.classify(h), h @ F.normalize(cosine.W, dim=-1).T)
    # WA: the trained head is the plain one; scoring drops the bias and rescales the newest row
    assert torch.allclose(aligned.W, plain.W) and torch.allclose(aligned.b, plain.b)
    rows = aligned.aligned_rows()
    assert torch.allclose(rows[:-1], plain.W[:-1])
    assert rows[-1].norm().item() == pytest.approx(plain.W[:-1].norm(dim=-1).mean().item())
    assert torch.allclose(aligned.classify(h), h @ rows.T)
    # a row still at zero (one intent, no gradient yet) scores 0 in a cosine head, not NaN
    fresh = cl.OnlineHead(16, cosine=True)
    fresh.learn(x[0], 0)
    assert torch.equal(fresh.classify(h[:2]), torch.zeros(2, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="choose one"):
        cl.OnlineHead(16, cosine=True, align=True)


def test_joint_head_is_trained_to_convergence_and_ignores_the_order():
    x, labels = clustered()
    a, b = cl.make_stream(labels, range(8), n_query=5, seed=0), cl.make_stream(labels, range(8), n_query=5, seed=3)
    rows = {int(c): int(r) for c, r in zip(a.classes, a.support[:, 0])}
    heads = []
    for order in (a.classes.tolist(), b.classes.tolist()):
        head = cl.JointHead(16, l2=1e-2)
        for c in order:
            head.learn(x[rows[c]], c)
        head.classify(x[:1].double())
        heads.append(head)
    W, bias = heads[0].W.clone().requires_grad_(), heads[0].b.clone().requires_grad_()
    gW, gb = torch.autograd.grad(heads[0].loss(W, bias), (W, bias))
    assert max(gW.abs().max().item(), gb.abs().max().item()) < 1e-6           # a stationary point of a convex loss
    perm = [heads[1].column[c] for c in sorted(heads[0].column, key=heads[0].column.get)]
    assert torch.allclose(heads[0].W, heads[1].W[perm], atol=1e-5)          # the same head, whatever the order
    with pytest.raises(ValueError, match="l2 must be positive"):
        cl.JointHead(16, l2=0.0)


def test_score_at_use_names_and_the_metrics_table():
    x, labels = clustered()
    names = F.normalize(torch.randn(12, 16, generator=torch.Generator().manual_seed(5)), dim=-1)
    data = cl.StreamData(x, labels, names, [str(i) for i in range(12)], [""] * len(labels),
                         {"train": [0, 1, 2, 3], "val": [4, 5, 6, 7, 8, 9], "test": [10, 11]})
    streams = [cl.make_stream(labels, range(12), n_query=5, seed=i) for i in range(3)]
    part = cl.run_streams(lambda: cl.JointHead(16), data, streams, score_at=(4, 12))
    full = cl.run_streams(lambda: cl.RunningPrototypes(16), data, streams)
    assert not torch.isnan(part[0].acc[[3, 11]].tril()).all() and torch.isnan(part[0].acc[[0, 1, 2, 4, 10]]).all()
    # the scored rows do not depend on which others are scored
    assert torch.equal(cl.run_stream(cl.RunningPrototypes(16), x, streams[0], score_at=[12]).acc[-1], full[0].acc[-1])
    # use_names: every intent is learned twice, its name first; choose_on_val passes it on
    proto = cl.RunningPrototypes(16)
    cl.run_stream(proto, x, streams[0], names=names)
    assert proto.counts.tolist() == [2.0] * 12
    _, with_names = cl.choose_on_val(lambda: cl.RunningPrototypes(16), data, {}, n_streams=2, n_query=5, use_names=True)
    _, without = cl.choose_on_val(lambda: cl.RunningPrototypes(16), data, {}, n_streams=2, n_query=5)
    assert with_names[()] != without[()]    # the random "names" change the prototypes
    table = cl.metrics_table({"ncm": full, "joint": part}, newest=2).splitlines()
    assert "BWT" in table[0] and table[1].split()[-2:] == [f"{100 / 12:.1f}", f"{200 / 12:.1f}"]
    assert table[2].split()[0] == "ncm" and table[3].split()[-4:] == ["-"] * 4
