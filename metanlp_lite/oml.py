"""OML: a representation meta-learned for continual learning (Javed & White, 2019), notebook 07.

OML splits the network in two: a *representation* (here :class:`RepresentationNet`, a residual
adapter of the frozen sentence embeddings, starting as the identity) and a *prediction* head that
learns online, one example at a time, by plain SGD. Meta-training (:func:`meta_train_oml`)
simulates that online learning on streams of meta-train intents and backpropagates the loss of
the final head, on every intent of the stream, through all the online steps into the
representation and the step size: the representation is trained to make online SGD forget less.

- :func:`oml_meta_loss`: one batch of simulated streams, differentiable end to end (the head's
  steps are :func:`~metanlp_lite.continual.head_step`, in closed form);
- :class:`OML`: the online learner at meta-test time (frozen representation, online head), run
  by :func:`~metanlp_lite.continual.run_stream` like any other learner;
- :func:`train_adapter_supervised`: the control without episodes, the same adapter trained as a
  plain classifier of the meta-train intents (cosine softmax), kept by the same meta-val rule;
- :func:`train_adapter_protonet`: the control with episodes but no online step, the same adapter
  trained as a ProtoNet (Snell et al., 2017) on :func:`meta_train_oml`'s episodes, same budget and rule;
- :func:`load_oml_seeds` and :func:`oml_seeds_table`: the three trainers over 3 training seeds and a
  longer budget (``benchmarks/continual_oml_seeds.py``), with intervals over streams and seeds.

All three trainers keep the step with the best meta-val score (:func:`~metanlp_lite.reproducible.train_keeping_best`,
no early stop): "trained until meta-val stops rising" is read off a budget long enough that the
best step comes before the end.

Each new intent's row starts at its first example's representation (Proto-MAML's
initialisation) by default, with ``init="zero"`` at zero; the paper also meta-learns the head's
initial weights and replays a "remember" set in the meta-loss, which this variant does not.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .continual import (OnlineHead, RunningPrototypes, average_accuracy, head_step, make_stream, retention, run_stream,
                        tensor_bytes)
from .episodes import TaskBatch, check_class_sizes, check_shots
from .fewshot.metric import ProtoNet
from .reproducible import check_eval_every, init_linear_, train_keeping_best
from .stats import mean_ci95_t, paired_over_seeds_t, verdict

__all__ = ["RepresentationNet", "OML", "PrototypesOn", "OMLLog", "oml_meta_loss", "meta_train_oml", "train_adapter_supervised",
           "train_adapter_protonet", "OML_SEEDS_RESULTS", "TRAINERS", "load_oml_seeds", "oml_seeds_table"]


class RepresentationNet(nn.Module):
    """OML's representation-learning network on frozen embeddings: a residual adapter
    ``h = normalize(x + U2 relu(U1 x + u1) + u2)``, starting as the identity (U2 = 0, u2 = 0).
    x: (..., D) -> h: (..., D), |h| = 1. Also holds the inner step size (log_lr) it was meta-learned with."""

    def __init__(self, dim: int = 384, hidden: int = 256, lr: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        self.inner = init_linear_(nn.Linear(dim, hidden), seed)
        self.outer = nn.Linear(hidden, dim)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)
        self.log_lr = nn.Parameter(torch.tensor(math.log(lr)))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x + self.outer(F.relu(self.inner(x))), dim=-1)


class OML(OnlineHead):
    """OML at meta-test time (Javed & White, 2019): the meta-learned representation, frozen, and
    an online head on it, trained by plain SGD (no replay) with the meta-learned step size (or
    ``lr``, if given: a step size chosen otherwise, e.g. on meta-val)."""

    def __init__(self, rln: RepresentationNet, *, steps: int = 1, scale: float = 10.0, replay: int = 0,
                 init: str = "prototype", lr: float | None = None) -> None:
        rln = copy.deepcopy(rln).double().eval()    # float64 arithmetic: the same on any CPU

        @torch.no_grad()
        def body(z: Tensor) -> Tensor:
            return rln(z.double())

        super().__init__(rln.outer.out_features, lr=rln.log_lr.exp().item() if lr is None else lr, steps=steps, replay=replay,
                         init=init, scale=scale, body=body)
        self.rln = rln

    def state_bytes(self) -> int:
        return super().state_bytes() + tensor_bytes(*self.rln.parameters())


class PrototypesOn(RunningPrototypes):
    """Nearest class mean (running means, by cosine) on a frozen representation ``h_θ``: OML's
    control without any online step, which with names averages the name and the example."""

    def __init__(self, rln: RepresentationNet) -> None:
        super().__init__(rln.outer.out_features)
        self.rln = copy.deepcopy(rln).double().eval()

    @torch.no_grad()
    def learn(self, z: Tensor, label: int) -> None:
        super().learn(self.rln(z.double()), label)

    @torch.no_grad()
    def represent(self, z: Tensor) -> Tensor:
        return super().represent(self.rln(z.double()))

    def state_bytes(self) -> int:
        return super().state_bytes() + tensor_bytes(*self.rln.parameters())


class OMLLog(NamedTuple):
    """checked: the steps scored on meta-val streams; val: their mean final accuracy (percent);
    losses: the meta-loss of every step; best_step: the step kept; seconds: the wall time."""

    checked: list[int]
    val: list[float]
    losses: list[float]
    best_step: int
    seconds: float


def _check_init(init: str) -> None:
    if init not in ("prototype", "zero"):
        raise ValueError(f"init must be 'prototype' (a new intent's row starts at its first example) or 'zero' (at zero), "
                         f"got {init!r}")


def _check_training(labels: Tensor, train_classes: Sequence[int], val_classes: Sequence[int], k_shot: int, n_query: int,
                    init: str, eval_every: int, episodes: bool = True) -> None:
    """The trainers' settings, checked before anything is drawn or changed: a ValueError that says what to change
    (``episodes``: the trainer draws k_shot + n_query rows of each meta-train intent, :func:`_stream_indices`)."""
    _check_init(init)
    check_eval_every(eval_every)
    check_shots(k_shot, n_query)
    if episodes:
        check_class_sizes(labels, list(train_classes), k_shot, n_query, what="meta-train intent")
    check_class_sizes(labels, list(val_classes), k_shot, n_query, what="meta-val intent")


def _stream_indices(labels: Tensor, classes: Tensor, n_classes: int, k_shot: int, n_query: int,
                    gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """One meta-training trajectory: n_classes random classes, k_shot + n_query random rows each."""
    picked = classes[torch.randperm(len(classes), generator=gen)[:n_classes]]
    rows = []
    for c in picked.tolist():
        pool = torch.nonzero(labels == c).flatten()
        rows.append(pool[torch.randperm(len(pool), generator=gen)[:k_shot + n_query]])
    rows = torch.stack(rows)
    return rows[:, :k_shot], rows[:, k_shot:]


def _meta_val(rln: RepresentationNet, features: Tensor, labels: Tensor, val_classes: Sequence[int], k_shot: int,
              n_query: int, val_streams: int, seed: int, scale: float, init: str) -> Callable[[], float]:
    """The meta-val rule of the three trainers: the mean final accuracy (percent) of :class:`OML` on
    ``rln`` (as it is when called) over ``val_streams`` seeded streams of all meta-val intents."""
    streams = [make_stream(labels, list(val_classes), k_shot=k_shot, n_query=n_query, seed=seed + 1000 + i)
               for i in range(val_streams)]

    def score() -> float:
        return sum(average_accuracy(run_stream(OML(rln, scale=scale, init=init), features, s).acc)[-1].item()
                   for s in streams) / len(streams)
    return score


def oml_meta_loss(rln: RepresentationNet, support: Tensor, queries: Tensor, scale: float = 10.0,
                  init: str = "prototype") -> Tensor:
    """OML's meta-loss for a batch of trajectories (differentiable in the representation and step size).

    support: (B, C, K, D) the examples of C intents arriving in order, K each; queries: (B, C, Q, D).
    The head starts empty; each example, in order, adds its intent's row (if new: at zero, or with
    ``init="prototype"`` at the example's representation, as :class:`OnlineHead`) and
    takes one SGD step on it alone (:func:`head_step`), with the softmax over the intents seen so
    far. The loss: cross-entropy of every intent's queries under the final head, over all C intents.
    """
    _check_init(init)
    B, C, K, D = support.shape
    hs, hq = rln(support), rln(queries)
    lr = rln.log_lr.exp()
    # each intent's row starts at zero or at its first example (normalised), before any step
    W = F.normalize(hs[:, :, 0], dim=-1) if init == "prototype" else hs.new_zeros(B, C, hs.shape[-1])
    b = hs.new_zeros(B, C)
    y = torch.zeros(B, 1, dtype=torch.long)
    for c in range(C):
        for k in range(K):
            # the columns beyond c do not exist yet: their rows stay zero and their logits are left out
            W_c, b_c = head_step(hs[:, c, k:k + 1], y + c, W[:, :c + 1], b[:, :c + 1], lr, scale)
            W = torch.cat([W_c, W[:, c + 1:]], dim=1)
            b = torch.cat([b_c, b[:, c + 1:]], dim=1)
    logits = scale * (hq.flatten(1, 2) @ W.transpose(1, 2) + b.unsqueeze(1))     # (B, C*Q, C)
    target = torch.arange(C).repeat_interleave(queries.shape[2]).expand(B, -1)
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def meta_train_oml(rln: RepresentationNet, features: Tensor, labels: Tensor, train_classes: Sequence[int],
                   val_classes: Sequence[int], *, steps: int = 150, meta_batch: int = 8, n_classes: int = 20,
                   k_shot: int = 1, n_query: int = 5, lr: float = 1e-4, weight_decay: float = 1e-2,
                   scale: float = 10.0, init: str = "prototype", eval_every: int = 25, val_streams: int = 5,
                   seed: int = 0, show_progress: bool = True) -> OMLLog:
    """Meta-train OML's representation (and its inner step size) on trajectories of meta-train intents.

    Each step: ``meta_batch`` trajectories of ``n_classes`` intents, ``k_shot`` examples each,
    :func:`oml_meta_loss`, one AdamW step; in float64 with the parameters rounded to float32
    after each step (the same network on any CPU). Every ``eval_every`` steps (and at step 0) the
    online learner :class:`OML` runs ``val_streams`` streams of all meta-val intents; the step
    with the best mean final accuracy is kept. features: (P, D); labels: (P,) class ids.
    """
    _check_training(labels, train_classes, val_classes, k_shot, n_query, init, eval_every)
    start = time.perf_counter()
    features, labels = features.double(), torch.as_tensor(labels)
    train_classes, val_classes = torch.tensor(list(train_classes)), list(val_classes)
    gen = torch.Generator().manual_seed(seed)
    score = _meta_val(rln, features, labels, val_classes, k_shot, n_query, val_streams, seed, scale, init)
    rln.double()
    opt = torch.optim.AdamW(rln.parameters(), lr=lr, weight_decay=weight_decay)

    def loss_fn() -> Tensor:
        batch = [_stream_indices(labels, train_classes, n_classes, k_shot, n_query, gen) for _ in range(meta_batch)]
        support = features[torch.stack([s for s, _ in batch])]
        queries = features[torch.stack([q for _, q in batch])]
        return oml_meta_loss(rln, support, queries, scale, init)

    checked, val, losses, best_step = train_keeping_best(rln, opt, loss_fn, score, steps=steps, eval_every=eval_every,
                                                         desc="meta-training OML", show_progress=show_progress)
    return OMLLog(checked, val, losses, best_step, time.perf_counter() - start)


def train_adapter_supervised(rln: RepresentationNet, features: Tensor, labels: Tensor, train_classes: Sequence[int],
                             val_classes: Sequence[int], *, steps: int = 150, batch: int = 960, lr: float = 1e-4,
                             weight_decay: float = 1e-2, scale: float = 10.0, init: str = "prototype",
                             eval_every: int = 25, val_streams: int = 5, k_shot: int = 1, n_query: int = 5,
                             seed: int = 0, show_progress: bool = True) -> OMLLog:
    """The control of OML without episodes: the same adapter trained as a plain classifier of all
    the meta-train intents at once, no stream, no online step.

    Each step: ``batch`` random meta-train utterances (960 = :func:`meta_train_oml`'s 8 streams of
    20 intents x 6 utterances), the cross-entropy of a cosine softmax
    ``scale * <h(x), normalize(v_y)>`` over all meta-train intents (one learned vector ``v_y`` per
    intent, starting at its normalised mean embedding), one AdamW step on the adapter and the
    vectors; float64, parameters rounded to float32 after each step. The checkpoint is chosen by
    :func:`meta_train_oml`'s rule (the online learner :class:`OML` on ``val_streams`` streams of
    all meta-val intents, every ``eval_every`` steps and at step 0). The step size ``rln.log_lr``
    is not trained. features: (P, D); labels: (P,) class ids.
    """
    _check_training(labels, train_classes, val_classes, k_shot, n_query, init, eval_every, episodes=False)
    start = time.perf_counter()
    features, labels = features.double(), torch.as_tensor(labels)
    train = torch.tensor(list(train_classes))
    if len(train) < 2:
        raise ValueError(f"a classifier of the meta-train intents needs at least 2 of them, got {len(train)}")
    rows = torch.nonzero(torch.isin(labels, train)).flatten()
    column = {c: i for i, c in enumerate(train.tolist())}
    x, y = features[rows], torch.tensor([column[int(c)] for c in labels[rows]])
    gen = torch.Generator().manual_seed(seed)
    score = _meta_val(rln, features, labels, val_classes, k_shot, n_query, val_streams, seed, scale, init)
    rln.double()
    rln.log_lr.requires_grad_(False)
    # the intents' vectors live on the module, so that the checkpoint keeps them with the adapter
    rln.class_vectors = nn.Parameter(torch.stack([F.normalize(x[y == k].mean(0), dim=-1) for k in range(len(train))]))
    opt = torch.optim.AdamW([p for p in rln.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)

    def loss_fn() -> Tensor:
        idx = torch.randint(len(y), (batch,), generator=gen)
        logits = scale * rln(x[idx]) @ F.normalize(rln.class_vectors, dim=-1).T
        return F.cross_entropy(logits, y[idx])

    try:
        checked, val, losses, best_step = train_keeping_best(rln, opt, loss_fn, score, steps=steps, eval_every=eval_every,
                                                             desc="training the adapter without episodes",
                                                             show_progress=show_progress)
    finally:
        del rln.class_vectors
        rln.log_lr.requires_grad_(True)
    return OMLLog(checked, val, losses, best_step, time.perf_counter() - start)


def train_adapter_protonet(rln: RepresentationNet, features: Tensor, labels: Tensor, train_classes: Sequence[int],
                           val_classes: Sequence[int], *, steps: int = 150, meta_batch: int = 8, n_classes: int = 20,
                           k_shot: int = 1, n_query: int = 5, lr: float = 1e-4, weight_decay: float = 1e-2,
                           scale: float = 10.0, init: str = "prototype", eval_every: int = 25, val_streams: int = 5,
                           seed: int = 0, show_progress: bool = True) -> OMLLog:
    """The control of OML with episodes but no online step: the same adapter trained as a
    Prototypical Network (Snell et al., 2017) on :func:`meta_train_oml`'s episodes.

    Each step: ``meta_batch`` episodes of ``n_classes`` meta-train intents, ``k_shot`` support and
    ``n_query`` queries each, drawn as :func:`meta_train_oml` draws its trajectories (the same
    generator: with the same ``seed``, the same episodes; 8 x 20 x 6 = 960 utterances a step);
    prototypes: the normalised mean of each intent's adapted support; the loss: notebook 04's
    :class:`~metanlp_lite.fewshot.metric.ProtoNet` loss, the cross-entropy of the cosine logits
    ``scale * <h(q), proto>`` (its temperature fixed at ``scale``); one AdamW step on the adapter;
    float64, parameters rounded to float32 after each step. The checkpoint is chosen by
    :func:`meta_train_oml`'s rule; ``rln.log_lr`` is not trained. features: (P, D); labels: (P,).
    """
    _check_training(labels, train_classes, val_classes, k_shot, n_query, init, eval_every)
    start = time.perf_counter()
    features, labels = features.double(), torch.as_tensor(labels)
    train_classes = torch.tensor(list(train_classes))
    if len(train_classes) < n_classes:
        raise ValueError(f"an episode of n_classes={n_classes} intents needs as many meta-train intents, "
                         f"got {len(train_classes)}: lower n_classes")
    gen = torch.Generator().manual_seed(seed)
    score = _meta_val(rln, features, labels, val_classes, k_shot, n_query, val_streams, seed, scale, init)
    rln.double()
    rln.log_lr.requires_grad_(False)
    protonet = ProtoNet(rln, tau=scale).double()          # cosine logits, tau * cos(h(q), c_j)
    protonet.log_tau.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in rln.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    support_y = torch.arange(n_classes).repeat_interleave(k_shot).expand(meta_batch, -1)
    query_y = torch.arange(n_classes).repeat_interleave(n_query).expand(meta_batch, -1)

    def loss_fn() -> Tensor:
        batch = [_stream_indices(labels, train_classes, n_classes, k_shot, n_query, gen) for _ in range(meta_batch)]
        support = features[torch.stack([s for s, _ in batch])].flatten(1, 2)     # (B, C*K, D), class-major
        queries = features[torch.stack([q for _, q in batch])].flatten(1, 2)     # (B, C*Q, D)
        return protonet.loss(TaskBatch(support, support_y, queries, query_y))

    try:
        checked, val, losses, best_step = train_keeping_best(rln, opt, loss_fn, score, steps=steps, eval_every=eval_every,
                                                             desc="training the adapter as a ProtoNet",
                                                             show_progress=show_progress)
    finally:
        rln.log_lr.requires_grad_(True)
    return OMLLog(checked, val, losses, best_step, time.perf_counter() - start)


OML_SEEDS_RESULTS = "continual_oml_seeds.pt"   # benchmarks/continual_oml_seeds.py's runs, in metanlp_lite/results/
TRAINERS = ("OML", "supervised adapter", "ProtoNet adapter")


def load_oml_seeds(path: str | Path | None = None) -> dict[str, Any]:
    """The stored runs of ``benchmarks/continual_oml_seeds.py``: ``{"config": {...}, "training":
    {trainer: {"checked": [...], "val": (seeds, checks), "best_step": [...], "seconds": [...],
    "losses": (seeds, steps)}}, "learners": {name: {"final", "retention": (seeds, streams) float32
    percent (one row for a learner with nothing trained), "trainer": its trainer or None, "names":
    bool}}, "wall_s": float}``."""
    from importlib.resources import files

    path = Path(str(files("metanlp_lite") / "results" / OML_SEEDS_RESULTS)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/continual_oml_seeds.py` to make the "
                                "runs (several minutes on 2 cores)")
    stored = torch.load(path, weights_only=True)
    for learner in stored["learners"].values():
        learner["final"], learner["retention"] = learner["final"].float(), learner["retention"].float()
    return stored


def _over(x: Tensor, y: Tensor | None = None, paired: bool = False) -> tuple[float, float]:
    """Mean of x (seeds, streams), or of x - y, with a 95% interval over the streams (Student's t,
    streams - 1 df) and the training seeds (Student's t, seeds - 1 df): :func:`paired_over_seeds_t`."""
    y = torch.zeros(1, x.shape[1], dtype=x.dtype) if y is None else y
    return paired_over_seeds_t(x, y, seeds_paired=paired and x.shape[0] == y.shape[0] > 1)


def oml_seeds_table(stored: dict[str, Any]) -> str:
    """The stored runs' tables: each trainer's meta-val (best step per seed, and whether it came
    before the end of the budget: meta-val stopped rising), each learner's final accuracy over all
    test intents (mean ± 95% interval over the streams, per seed, then over streams and seeds
    together) and retention, and the paired differences of final accuracy between the trainers
    (the same learner on each adapter) and of each learner from Proto-MAML init with the same
    information. Intervals over streams and seeds: :func:`~metanlp_lite.stats.paired_over_seeds_t`
    (Student's t for both parts); "seeds paired": seed s of both adapters from the same start."""
    cfg, learners, training = stored["config"], stored["learners"], stored["training"]
    steps = cfg["steps"]
    lines = [f"{cfg['n_streams']} test streams of {cfg['n_test_intents']} intents (1 example, {cfg['n_query']} test "
             f"utterances each), training seeds {cfg['seeds']}, {steps} steps each (meta-val every {cfg['eval_every']}); "
             "95% intervals: per seed over the streams (Student's t), 'all' over streams and seeds (Student's t for both)",
             "", "meta-val (OML's online learner on the meta-val streams), per seed: step 0 -> best (step) -> last"]
    for trainer, log in training.items():
        for s, seed in enumerate(cfg["seeds"]):
            val, best = log["val"][s], log["best_step"][s]
            stopped = "before the end: stopped rising" if best < steps else "AT THE END: still rising"
            lines.append(f"  {trainer:>18}, seed {seed}: {val[0]:5.2f} -> {max(val):5.2f} (step {best:4d}) -> "
                         f"{val[-1]:5.2f}; {stopped}; {log['seconds'][s]:5.1f} s")
    w = max(len(n) for n in learners)
    seeds = "".join(f"{f'seed {s}':>16}" for s in cfg["seeds"])
    first = f"retention, first {cfg['first']} %"
    lines += ["", f"{'final accuracy, all intents %':>{w}}{seeds}{'all':>16}{first:>24}"]
    for name, v in learners.items():
        per = "".join(f"{'%5.1f ± %3.1f' % mean_ci95_t(row):>16}" for row in v["final"]) if v["trainer"] else \
            f"{'(nothing trained)':>{16 * len(cfg['seeds'])}}"
        lines.append(f"{name:>{w}}{per}{'%5.2f ± %4.2f' % _over(v['final']):>16}{'%5.1f ± %3.1f' % _over(v['retention']):>24}")
    lines += ["", "paired differences of final accuracy between the adapters (points), over streams and seeds; seeds paired: "
              "seed s of each adapter from the same start (and, OML and ProtoNet, the same episodes)"]
    for base in [name for name, v in learners.items() if v["trainer"] == TRAINERS[0]]:   # each learner on OML's body
        kind = "the online head, OML(adapter, steps=1)" if base == TRAINERS[0] else base.replace(f" ({TRAINERS[0]})", "")
        lines.append(f"  {'as ' + kind + ':':<{w}}{'seeds unpaired':>30}{'seeds paired':>30}")
        for a, b in ((0, 1), (0, 2), (1, 2)):
            fa, fb = (learners[base.replace(TRAINERS[0], TRAINERS[i])]["final"] for i in (a, b))
            (m, h), (mp, hp) = _over(fa, fb), _over(fa, fb, paired=True)
            lines.append(f"{TRAINERS[a] + ' - ' + TRAINERS[b]:>{w}}{f'{m:+6.2f} ± {h:4.2f} {verdict(m, h):>13}':>30}"
                         f"{f'{mp:+6.2f} ± {hp:4.2f} {verdict(mp, hp):>13}':>30}")
    for reference in ("Proto-MAML init", "nearest class mean"):
        lines += ["", f"final accuracy minus {reference}'s with the same information (points), over streams and seeds:"]
        for name, v in learners.items():
            ref = reference + (" + names" if v["names"] else "")
            if name != ref and v["trainer"]:
                m, h = _over(v["final"], learners[ref]["final"])
                lines.append(f"{name:>{w}}{f'{m:+6.2f} ± {h:4.2f} {verdict(m, h):>13}':>30}")
    if all("final_twin_free" in v for v in learners.values()):     # the same learners on twin-free streams
        lines += ["", f"on twin-free streams (the same seeds; {cfg['twins_removed']} test rows with a twin in meta-train or "
                  f"meta-val and {cfg['repeats_removed']} repeats within an intent left out), over streams and seeds:"]
        for a_, b_ in [(TRAINERS[0], TRAINERS[1]), (TRAINERS[0], TRAINERS[2]), (TRAINERS[1], TRAINERS[2])] + \
                [(n, "nearest class mean" + (" + names" if v["names"] else "")) for n, v in learners.items() if v["trainer"]]:
            m, h = _over(learners[a_]["final_twin_free"], learners[b_]["final_twin_free"])
            lines.append(f"{a_ + ' - ' + b_:>{w}}{f'{m:+6.2f} ± {h:4.2f} {verdict(m, h):>13}':>30}")
    a, b = (torch.as_tensor(training[t]["losses"], dtype=torch.float64) for t in (TRAINERS[0], TRAINERS[2]))
    lines += ["", f"{TRAINERS[0]} against the {TRAINERS[2]}, on the same episodes at every step: their meta-training losses "
              f"differ by at most {(a - b).abs().max():.1e} nats ({(a - b).abs().div(b.abs()).max() * 100:.2f}% of the loss) "
              f"over the {a.numel()} steps of the {len(cfg['seeds'])} seeds; {TRAINERS[0]}'s step size at the kept step: "
              + ", ".join(f"{float(x):.5f}" for x in training[TRAINERS[0]]["step_size"])]
    return "\n".join(lines)
