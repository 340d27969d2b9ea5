"""Notebook 07's streams, learners and OML (metanlp_lite.continual, metanlp_lite.oml), on small
made-up feature tables: no encoder, no dataset."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metanlp_lite import continual as cl
from metanlp_lite.oml import OML, RepresentationNet, meta_train_oml, oml_meta_loss


def clustered(n_classes: int = 12, per_class: int = 30, dim: int = 16, spread: float = 0.3, seed: int = 0):
    """Features around one random centre per class, the centres sharing one direction (as sentence
    embeddings share topic and register): (P, dim) float32 and (P,) labels."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_classes, dim, generator=g) / dim ** 0.5 + F.normalize(torch.ones(dim), dim=0), dim=-1)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    x = centres[labels] + spread * torch.randn(len(labels), dim, generator=g) / dim ** 0.5
    return F.normalize(x, dim=-1), labels


def test_make_stream_is_seeded_disjoint_and_says_what_is_impossible():
    _, labels = clustered()
    a, b = cl.make_stream(labels, range(6), k_shot=2, n_query=5, seed=3), cl.make_stream(labels, range(6), k_shot=2, n_query=5, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.classes, cl.make_stream(labels, range(6), k_shot=2, n_query=5, seed=4).classes)
    assert sorted(a.classes.tolist()) == list(range(6))
    for c, s, q in zip(a.classes, a.support, a.queries):
        assert (labels[s] == c).all() and (labels[q] == c).all() and not set(s.tolist()) & set(q.tolist())
    assert a.events()[:2] == [(int(a.support[0, 0]), int(a.classes[0])), (int(a.support[0, 1]), int(a.classes[0]))]
    with pytest.raises(ValueError, match="lower k_shot or n_query"):
        cl.make_stream(labels, range(6), k_shot=10, n_query=25)
    with pytest.raises(ValueError, match="distinct"):
        cl.make_stream(labels, [1, 1, 2])


def test_running_prototypes_score_the_cosine_to_each_class_mean_in_order_of_arrival():
    x, labels = clustered()
    learner = cl.RunningPrototypes(dim=16)
    rows = [0, 31, 1, 62, 32]          # classes 0, 1, 0, 2, 1
    for r in rows:
        learner.learn(x[r], int(labels[r]))
    means = torch.stack([x[[0, 1]].mean(0), x[[31, 32]].mean(0), x[62]]).double()
    expected = F.normalize(x[:5].double(), dim=-1) @ F.normalize(means, dim=-1).T
    assert torch.allclose(learner.scores(x[:5]), expected, atol=1e-12)
    assert learner.state_bytes() == 3 * 16 * 8 + 3 * 8


def test_head_step_is_sgd_on_the_mean_cross_entropy():
    g = torch.Generator().manual_seed(0)
    z, W, b = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((2, 5, 7), (2, 4, 7), (2, 4)))
    y = torch.randint(0, 4, (2, 5), generator=g)
    Wr, br = W.clone().requires_grad_(), b.clone().requires_grad_()
    for k in range(2):
        loss = F.cross_entropy(3.0 * (z[k] @ Wr[k].T + br[k]), y[k])
        gW, gb = torch.autograd.grad(loss, (Wr, br))
        W1, b1 = cl.head_step(z, y, W, b, 0.4, 3.0)
        assert torch.allclose(W1[k], W[k] - 0.4 * gW[k], atol=1e-12)
        assert torch.allclose(b1[k], b[k] - 0.4 * gb[k], atol=1e-12)


def test_online_fine_tuning_forgets_and_replay_or_prototypes_do_not():
    x, labels = clustered()
    streams = [cl.make_stream(labels, range(12), n_query=10, seed=s) for s in range(3)]

    def keep(make):
        return torch.stack([cl.retention(cl.run_stream(make(), x, s).acc, 4) for s in streams]).mean()

    forgets = keep(lambda: cl.OnlineHead(16, lr=1.0))
    assert forgets < 10, forgets
    assert keep(lambda: cl.OnlineHead(16, lr=1.0, replay=-1, steps=5)) > 90
    assert keep(lambda: cl.RunningPrototypes(16)) > 90
    head = cl.OnlineHead(16, replay=-1)
    run = cl.run_stream(head, x, streams[0])
    assert head.memory_z.shape == (12, 16) and run.state_bytes > cl.run_stream(cl.OnlineHead(16), x, streams[0]).state_bytes


def test_prototype_initialisation_is_nearest_class_mean_before_any_step():
    x, labels = clustered()
    s = cl.make_stream(labels, range(12), seed=1)
    a = cl.run_stream(cl.OnlineHead(16, lr=0.0, init="prototype"), x, s).acc
    b = cl.run_stream(cl.RunningPrototypes(16), x, s).acc
    assert torch.equal(a.nan_to_num(-1), b.nan_to_num(-1))
    with pytest.raises(ValueError, match="init must be"):
        cl.OnlineHead(16, init="random")


def test_run_stream_fills_the_lower_triangle_and_the_summaries_read_it():
    x, labels = clustered()
    s = cl.make_stream(labels, range(6), k_shot=2, n_query=5)
    names = F.normalize(torch.randn(12, 16, generator=torch.Generator().manual_seed(1)), dim=-1)
    run = cl.run_stream(cl.RunningPrototypes(16), x, s, names=names)
    assert torch.isnan(run.acc.triu(1)[torch.ones(6, 6).triu(1).bool()]).all()
    assert not torch.isnan(run.acc.tril()).any() and run.update_ms.shape == (12,)   # a name is timed with its first example
    acc = torch.full((4, 4), float("nan"))
    acc[torch.tril_indices(4, 4).unbind()] = torch.tensor([100., 80, 100, 60, 90, 100, 50, 80, 90, 100])
    assert torch.allclose(cl.average_accuracy(acc), torch.tensor([100., 90, 250 / 3, 80]))
    assert cl.retention(acc, first=2).item() == pytest.approx(65 / 90 * 100)
    # Chaudhry et al.'s forgetting: the best before the end minus the end, over intents 1 to 3
    assert cl.forgetting(acc).item() == pytest.approx(((100 - 50) + (100 - 80) + (100 - 90)) / 3)
    assert cl.backward_transfer(acc).item() == pytest.approx(((50 - 100) + (80 - 100) + (90 - 100)) / 3)


def test_choose_on_val_returns_the_best_combination():
    x, labels = clustered()
    data = cl.StreamData(x, labels, x[:12], [str(i) for i in range(12)], [""] * len(labels),
                         {"train": [0, 1, 2, 3], "val": [4, 5, 6, 7, 8, 9], "test": [10, 11]})
    best, scores = cl.choose_on_val(lambda lr, steps: cl.OnlineHead(16, lr=lr, steps=steps, replay=-1), data,
                                    {"lr": (0.0, 1.0), "steps": (1, 3)}, n_streams=2)
    assert len(scores) == 4 and scores[best["lr"], best["steps"]] == max(scores.values())
    assert best["lr"] == 1.0 and scores[0.0, 1] < 50     # a head that never learns is near chance
    runs = {name: cl.run_streams(make, data, [cl.make_stream(labels, range(12), seed=i) for i in range(3)])
            for name, make in (("ncm", lambda: cl.RunningPrototypes(16)), ("ft", lambda: cl.OnlineHead(16, lr=1.0)))}
    table = cl.summarize(runs, "ft", first=4).splitlines()
    assert "retention" in table[0] and table[1].split()[0] == "ncm" and len(table) == 3
    assert table[2].split()[7:10] == ["0.0", "±", "0.0"]    # fine-tuning forgets the first four entirely


def test_oml_meta_gradient_matches_finite_differences_and_training_keeps_the_best_val_step():
    x, labels = clustered(dim=8)
    rln = RepresentationNet(dim=8, hidden=6, lr=0.05).double()
    with torch.no_grad():
        rln.outer.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    sup, qry = x.double()[torch.tensor([[0, 30, 60]])].unsqueeze(2), x.double()[torch.tensor([[[1, 2], [31, 32], [61, 62]]])]
    loss = oml_meta_loss(rln, sup, qry)
    grads = torch.autograd.grad(loss, [rln.outer.weight, rln.log_lr])
    for p, gp in zip([rln.outer.weight, rln.log_lr], grads):
        u, eps = torch.randn(p.shape, dtype=torch.float64), 1e-6
        with torch.no_grad():
            p += eps * u
            up = oml_meta_loss(rln, sup, qry)
            p -= 2 * eps * u
            down = oml_meta_loss(rln, sup, qry)
            p += eps * u
        assert (gp * u).sum().item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-6)
    rln = RepresentationNet(dim=8, hidden=6, lr=0.05)
    log = meta_train_oml(rln, x, labels, range(8), range(8, 12), steps=4, eval_every=2, n_classes=4, meta_batch=2,
                         n_query=3, show_progress=False)
    assert log.checked == [0, 2, 4] and len(log.losses) == 4
    assert log.val[log.checked.index(log.best_step)] == max(log.val)
    assert rln.outer.weight.dtype == torch.float64 and torch.equal(rln.outer.weight, rln.outer.weight.float().double())
    learner = OML(rln)
    learner.learn(x[0], 0)
    assert learner.lr == pytest.approx(rln.log_lr.exp().item()) and learner.W.shape == (1, 8)


def fake_embed(texts):
    """A bag-of-letters embedding (26 dims, normalised): similar spelling, similar vectors."""
    out = torch.zeros(len(texts), 26)
    for i, t in enumerate(texts):
        for ch in t.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return F.normalize(out, dim=-1)


def test_assistant_learns_a_new_intent_and_says_what_is_wrong():
    a = cl.Assistant(fake_embed, dim=26)
    with pytest.raises(ValueError, match="knows no intent"):
        a.predict(["hello"])
    a.teach("weather", ["what is the weather"])
    a.teach("music", ["play music"])
    assert a.predict(["zzz qqq xxx"])[0].intent in ("weather", "music")
    a.teach("zzz", ["zzz qqq xxx"])
    p = a.predict(["zzz qqq"])[0]
    assert p.intent == "zzz" and p.nearest[0][0] == "zzz" and len(p.nearest) == 3 and 0 < p.confidence <= 100
    with pytest.raises(ValueError, match="needs a name"):
        a.teach("  ", ["x"])
    with pytest.raises(TypeError, match="list of example sentences"):
        a.teach("weather", "one string")
    a.teach("weather", ["is it sunny"])
    assert a.intents == ["weather", "music", "zzz"] and a.learner.counts.tolist() == [3, 2, 2]
