"""Notebook 07's controls: the head's switches that separate the bias in training from the bias
in scoring (score_bias), the rows' interference (freeze_rows), a pluggable SGD step, the accuracy
at arrival, and OML's controls (nearest class mean on h_theta, the adapter trained without episodes)."""
from __future__ import annotations

import pytest
import torch

from metanlp_lite import continual as cl
from metanlp_lite.oml import OML, PrototypesOn, RepresentationNet, train_adapter_supervised

from test_continual import clustered


def test_score_bias_false_trains_the_bias_and_scores_without_it():
    x, labels = clustered()
    trained, plain = cl.OnlineHead(16, lr=0.5, score_bias=False), cl.OnlineHead(16, lr=0.5)
    for c in range(5):
        trained.learn(x[labels == c][0], c), plain.learn(x[labels == c][0], c)
    assert torch.equal(trained.W, plain.W) and torch.equal(trained.b, plain.b) and trained.b.abs().sum() > 0
    h = trained.represent(x[:7])
    assert torch.allclose(trained.classify(h), h @ trained.W.T)
    assert not torch.allclose(plain.classify(h), h @ plain.W.T)      # the plain head adds its bias
    # and it is not the head without a bias: that one's rows were trained differently
    nobias = cl.OnlineHead(16, lr=0.5, bias=False)
    for c in range(5):
        nobias.learn(x[labels == c][0], c)
    assert not torch.allclose(nobias.W, trained.W)


def test_freeze_rows_moves_only_the_examples_own_row():
    x, labels = clustered()
    head, free = cl.OnlineHead(16, lr=0.01, bias=False, freeze_rows=True), cl.OnlineHead(16, lr=0.01, bias=False)
    for c in range(4):
        head.learn(x[labels == c][0], c), free.learn(x[labels == c][0], c)
    before, before_free = head.W.clone(), free.W.clone()
    head.learn(x[labels == 1][1], 1), free.learn(x[labels == 1][1], 1)
    moved = (head.W - before).abs().sum(-1)
    assert moved[1] > 0 and moved[[0, 2, 3]].abs().sum() == 0
    assert (free.W - before_free).abs().sum(-1)[[0, 2, 3]].min() > 0     # without the switch, every row moves


def test_step_argument_runs_the_head_with_another_step():
    x, labels = clustered()
    stream = cl.make_stream(labels, range(8), n_query=5, seed=0)
    ref = cl.run_stream(cl.OnlineHead(16, lr=0.3), x, stream).acc
    same = cl.run_stream(cl.OnlineHead(16, lr=0.3, step=cl.head_step), x, stream).acc
    assert torch.equal(ref.nan_to_num(-1), same.nan_to_num(-1))
    wrong = cl.run_stream(cl.OnlineHead(16, lr=0.3, step=lambda z, y, W, b, lr, s: cl.head_step(z, y, W, b, -lr, s)), x, stream).acc
    assert not torch.equal(ref.nan_to_num(-1), wrong.nan_to_num(-1))


def test_accuracy_at_arrival_is_the_diagonal_mean():
    acc = torch.tensor([[50.0, float("nan"), float("nan")], [40.0, 100.0, float("nan")], [30.0, 90.0, 0.0]])
    assert cl.accuracy_at_arrival(acc).item() == pytest.approx(50.0)
    assert cl.accuracy_at_arrival(torch.stack([acc, acc])).shape == (2,)


def test_prototypes_on_h_theta_equal_oml_without_a_step_and_average_the_name():
    x, labels = clustered()
    rln = RepresentationNet(16, 8, lr=0.1, seed=0)
    with torch.no_grad():
        rln.outer.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
    stream = cl.make_stream(labels, range(8), n_query=5, seed=0)
    a = cl.run_stream(PrototypesOn(rln), x, stream).acc
    b = cl.run_stream(OML(rln, steps=0), x, stream).acc
    assert torch.equal(a.nan_to_num(-1), b.nan_to_num(-1))     # one example: its prototype is the row
    names = torch.randn(12, 16, generator=torch.Generator().manual_seed(2))
    learner = PrototypesOn(rln)
    cl.run_stream(learner, x, stream, names=names)
    assert learner.counts.tolist() == [2.0] * 8                 # the name and the example, averaged
    assert learner.state_bytes() > cl.RunningPrototypes(16).state_bytes() + 8 * 16 * 8   # the adapter counts


def test_adapter_trained_without_episodes_learns_and_keeps_the_best_val_step():
    x, labels = clustered(n_classes=12, per_class=30, dim=16, spread=0.8)
    rln = RepresentationNet(16, 32, lr=0.1, seed=0)
    start = {k: v.clone() for k, v in rln.state_dict().items()}
    log = train_adapter_supervised(rln, x, labels, range(8), range(8, 12), steps=30, batch=64, lr=3e-2,
                                   eval_every=10, val_streams=2, show_progress=False)
    assert log.checked == [0, 10, 20, 30] and len(log.losses) == 30
    assert sum(log.losses[-5:]) < sum(log.losses[:5])                 # it learns the meta-train intents
    assert log.val[log.checked.index(log.best_step)] == max(log.val)
    assert not hasattr(rln, "class_vectors") and rln.log_lr.requires_grad
    assert rln.log_lr.item() == start["log_lr"].item()                 # the step size is not trained
    if log.best_step > 0:
        assert not torch.equal(rln.outer.weight, start["outer.weight"].double())
    with pytest.raises(ValueError, match="at least 2"):
        train_adapter_supervised(rln, x, labels, [0], range(8, 12), steps=1, show_progress=False)


def test_oml_takes_a_chosen_step_size():
    rln = RepresentationNet(16, 8, lr=0.1, seed=0)
    assert OML(rln).lr == pytest.approx(0.1) and OML(rln, lr=0.003).lr == 0.003
