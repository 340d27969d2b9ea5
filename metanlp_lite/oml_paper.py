"""OML as in the paper (Javed & White, 2019), class-incremental, adapted to intents: notebook 07's variant.

:mod:`metanlp_lite.oml`'s OML starts each new intent's row at its first example and has no
remember set, so its meta-loss is close to a prototypical loss. This variant follows the paper:

- a prediction head over ALL meta-train intents, ``W0`` (n_train, D) and ``b0`` (n_train,), whose
  initial weights are meta-parameters (:class:`PaperHead`, starting at the normalised class means
  of the frozen embeddings, or at zero);
- each trajectory: C meta-train intents whose rows (and biases) are RESET to zero
  (:func:`reset_rows`), their examples arriving in order, each taking ``inner_steps`` SGD steps
  (:func:`~metanlp_lite.continual.head_step`, softmax over the trajectory intents seen so far, as
  the online learner at test: the other rows are W0's, untouched by the trajectory);
- the meta-loss: cross-entropy under the final head, over all n_train columns, of the trajectory
  intents' queries PLUS a "remember" batch of as many utterances drawn at random from the other
  meta-train intents (:func:`oml_meta_loss_paper`);
- the representation, W0/b0 and the inner step size are meta-learned (:func:`meta_train_oml_paper`;
  ``log_lr`` with its own, larger AdamW learning rate and no weight decay);
- at meta-test: ``OML(rln, init="zero", steps=inner_steps)`` with the meta-learned step size.

:func:`load_oml_paper` and :func:`oml_paper_table`: ``benchmarks/continual_oml_paper.py``'s runs.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .continual import average_accuracy, head_step, make_stream, run_stream
from .episodes import check_class_sizes, check_shots
from .oml import OML, OMLLog, RepresentationNet
from .reproducible import check_eval_every, train_keeping_best
from .stats import mean_ci95_t, paired_over_seeds_t, verdict

__all__ = ["PaperHead", "reset_rows", "oml_meta_loss_paper", "paper_batch", "paper_val_score", "meta_train_oml_paper",
           "OML_PAPER_RESULTS", "load_oml_paper", "oml_paper_table"]


class PaperHead(nn.Module):
    """The representation and the meta-learned initial head over all n_train meta-train intents,
    in one module (so that a checkpoint keeps them together): ``rln``, ``W0`` (n_train, D), ``b0`` (n_train,)."""

    def __init__(self, rln: RepresentationNet, W0: Tensor, b0: Tensor | None = None) -> None:
        super().__init__()
        self.rln = rln
        self.W0 = nn.Parameter(W0.clone())
        self.b0 = nn.Parameter(torch.zeros(W0.shape[0], dtype=W0.dtype) if b0 is None else b0.clone())


def reset_rows(W0: Tensor, b0: Tensor, columns: Tensor) -> tuple[Tensor, Tensor]:
    """The head a trajectory starts from: W0 (n, D), b0 (n,) for each of B trajectories, with the rows
    and biases of its intents (columns: (B, C) indices into the n) reset to zero. Returns (B, n, D), (B, n)."""
    keep = torch.ones(columns.shape[0], W0.shape[0], dtype=W0.dtype).scatter(1, columns, 0.0)
    return W0 * keep.unsqueeze(-1), b0 * keep


def oml_meta_loss_paper(model: PaperHead, support: Tensor, queries: Tensor, columns: Tensor, remember: Tensor,
                        remember_columns: Tensor, *, inner_steps: int = 1, scale: float = 10.0) -> Tensor:
    """The paper's OML meta-loss for B trajectories (differentiable in the representation, W0, b0 and the step size).

    support: (B, C, K, D) the examples of C meta-train intents arriving in order, K each; queries: (B, C, Q, D);
    columns: (B, C) their columns among the n_train; remember: (B, R, D) utterances of other meta-train
    intents, remember_columns: (B, R) their columns (none of the trajectory's). The trajectory's rows start
    at zero (:func:`reset_rows`); each example takes ``inner_steps`` SGD steps (:func:`head_step`) on the
    rows of the trajectory intents seen so far (softmax over them). The loss: mean cross-entropy, over
    all n_train columns of the final head, of the queries and the remember batch together.
    """
    if inner_steps < 1:
        raise ValueError(f"inner_steps must be at least 1, got {inner_steps}")
    if (remember_columns.unsqueeze(-1) == columns.unsqueeze(1)).any():
        raise ValueError("the remember batch must hold only intents outside the trajectory")
    rln = model.rln
    B, C, K, D = support.shape
    hs, hq, hr = rln(support), rln(queries), rln(remember)
    lr = rln.log_lr.exp()
    W, b = hs.new_zeros(B, C, hs.shape[-1]), hs.new_zeros(B, C)       # the trajectory's rows, reset
    y = torch.zeros(B, 1, dtype=torch.long)
    for c in range(C):
        for k in range(K):
            for _ in range(inner_steps):
                W_c, b_c = head_step(hs[:, c, k:k + 1], y + c, W[:, :c + 1], b[:, :c + 1], lr, scale)
                W, b = torch.cat([W_c, W[:, c + 1:]], dim=1), torch.cat([b_c, b[:, c + 1:]], dim=1)
    W_full, b_full = reset_rows(model.W0, model.b0, columns)
    W_full = W_full + torch.zeros_like(W_full).scatter(1, columns.unsqueeze(-1).expand(-1, -1, W.shape[-1]), W)
    b_full = b_full + torch.zeros_like(b_full).scatter(1, columns, b)
    h = torch.cat([hq.flatten(1, 2), hr], dim=1)                                      # (B, C*Q + R, D)
    target = torch.cat([columns.repeat_interleave(queries.shape[2], dim=1), remember_columns], dim=1)
    logits = scale * (h @ W_full.transpose(1, 2) + b_full.unsqueeze(1))
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def paper_batch(labels: Tensor, train_classes: Tensor, n_classes: int, k_shot: int, n_query: int,
                gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One trajectory's rows: (support (C, K), queries (C, Q), columns (C,), remember (C*Q,), remember_columns
    (C*Q,)): C random meta-train intents, K + Q random rows each, and C*Q random rows of the other meta-train
    intents (uniform over their rows). Columns: positions in ``train_classes``."""
    columns = torch.randperm(len(train_classes), generator=gen)[:n_classes]
    rows = []
    for c in train_classes[columns].tolist():
        pool = torch.nonzero(labels == c).flatten()
        rows.append(pool[torch.randperm(len(pool), generator=gen)[:k_shot + n_query]])
    rows = torch.stack(rows)
    others = train_classes[~torch.isin(train_classes, train_classes[columns])]
    pool = torch.nonzero(torch.isin(labels, others)).flatten()
    remember = pool[torch.randperm(len(pool), generator=gen)[:n_classes * n_query]]
    col_of = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
    col_of[train_classes] = torch.arange(len(train_classes))
    return rows[:, :k_shot], rows[:, k_shot:], columns, remember, col_of[labels[remember]]


def paper_val_score(rln: RepresentationNet, features: Tensor, labels: Tensor, val_classes: Sequence[int], *,
                    inner_steps: int = 1, k_shot: int = 1, n_query: int = 5, val_streams: int = 5, seed: int = 0,
                    scale: float = 10.0) -> Callable[[], float]:
    """The meta-val rule of :mod:`metanlp_lite.oml` (streams seeded ``seed + 1000 + i``), for the paper's
    learner: mean final accuracy (percent) of ``OML(rln, init="zero", steps=inner_steps)`` as ``rln`` is when called."""
    streams = [make_stream(labels, list(val_classes), k_shot=k_shot, n_query=n_query, seed=seed + 1000 + i)
               for i in range(val_streams)]

    def score() -> float:
        return sum(average_accuracy(run_stream(OML(rln, scale=scale, init="zero", steps=inner_steps), features, s).acc)[-1]
                   .item() for s in streams) / len(streams)
    return score


def meta_train_oml_paper(rln: RepresentationNet, features: Tensor, labels: Tensor, train_classes: Sequence[int],
                         val_classes: Sequence[int], *, steps: int = 150, meta_batch: int = 8, n_classes: int = 20,
                         k_shot: int = 1, n_query: int = 5, inner_steps: int = 1, head_init: str = "means",
                         lr: float = 1e-4, step_size_lr: float = 1e-2, weight_decay: float = 1e-2, scale: float = 10.0,
                         eval_every: int = 25, val_streams: int = 5, seed: int = 0,
                         show_progress: bool = True) -> tuple[OMLLog, PaperHead, list[float]]:
    """Meta-train the paper's OML: the representation, the head's initial weights W0/b0 (starting at the
    normalised mean embedding of each meta-train intent, ``head_init="means"``, or at zero) and the step size.

    Each step: ``meta_batch`` trajectories (:func:`paper_batch`), :func:`oml_meta_loss_paper`, one AdamW step
    (the adapter, W0 and b0 at ``lr`` with ``weight_decay``; ``log_lr`` at ``step_size_lr``, no weight decay);
    float64, parameters rounded to float32 after each step. Checkpoint: :func:`paper_val_score` every
    ``eval_every`` steps, the best kept (``rln`` is left there). Returns (the log, the :class:`PaperHead`, the
    step size at each checked step)."""
    if head_init not in ("means", "zero"):
        raise ValueError(f"head_init must be 'means' or 'zero', got {head_init!r}")
    check_eval_every(eval_every)
    check_shots(k_shot, n_query)
    check_class_sizes(labels, list(train_classes), k_shot, n_query, what="meta-train intent")
    check_class_sizes(labels, list(val_classes), k_shot, n_query, what="meta-val intent")
    if len(train_classes) < 2 * n_classes:
        raise ValueError(f"a trajectory of {n_classes} intents and a remember batch of others need at least "
                         f"{2 * n_classes} meta-train intents, got {len(train_classes)}: lower n_classes")
    start = time.perf_counter()
    features, labels = features.double(), torch.as_tensor(labels)
    train = torch.tensor(list(train_classes))
    W0 = torch.stack([F.normalize(features[labels == c].mean(0), dim=-1) for c in train.tolist()])
    model = PaperHead(rln.double(), W0 if head_init == "means" else torch.zeros_like(W0)).double()
    gen = torch.Generator().manual_seed(seed)
    val_score = paper_val_score(rln, features, labels, val_classes, inner_steps=inner_steps, k_shot=k_shot,
                                n_query=n_query, val_streams=val_streams, seed=seed, scale=scale)
    step_sizes: list[float] = []

    def score() -> float:
        step_sizes.append(rln.log_lr.exp().item())
        return val_score()
    rest = [p for n, p in model.named_parameters() if n != "rln.log_lr"]
    opt = torch.optim.AdamW([{"params": rest}, {"params": [rln.log_lr], "lr": step_size_lr, "weight_decay": 0.0}],
                            lr=lr, weight_decay=weight_decay)

    def loss_fn() -> Tensor:
        parts = [paper_batch(labels, train, n_classes, k_shot, n_query, gen) for _ in range(meta_batch)]
        s, q, cols, r, rcols = (torch.stack(p) for p in zip(*parts))
        return oml_meta_loss_paper(model, features[s], features[q], cols, features[r], rcols,
                                   inner_steps=inner_steps, scale=scale)

    checked, val, losses, best_step = train_keeping_best(model, opt, loss_fn, score, steps=steps, eval_every=eval_every,
                                                         desc="meta-training OML (paper)", show_progress=show_progress)
    return OMLLog(checked, val, losses, best_step, time.perf_counter() - start), model, step_sizes


OML_PAPER_RESULTS = "continual_oml_paper.pt"   # benchmarks/continual_oml_paper.py's runs, in metanlp_lite/results/


def load_oml_paper(path: str | Path | None = None) -> dict[str, Any]:
    """The stored runs of ``benchmarks/continual_oml_paper.py``: ``{"config", "configs": {name: {"settings",
    "checked", "val", "best_step", "seconds", "step_size", "step_sizes"}} (meta-val of each configuration tried, seed 0),
    "training": {"val": (seeds, checks), "checked", "best_step", "seconds", "step_size", "losses": (seeds, steps)},
    "learners": {name: {"final", "retention": (rows, streams) float32 percent, "seeds": int}}, "wall_s"}``."""
    from importlib.resources import files

    path = Path(str(files("metanlp_lite") / "results" / OML_PAPER_RESULTS)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/continual_oml_paper.py`")
    stored = torch.load(path, weights_only=True)
    for learner in stored["learners"].values():
        learner["final"], learner["retention"] = learner["final"].float(), learner["retention"].float()
    return stored


def oml_paper_table(stored: dict[str, Any]) -> str:
    """The stored runs' table: each configuration's meta-val (seed 0), the chosen one's meta-val per seed,
    final accuracy (all test intents) and retention (first intents) per learner (mean ± 95% interval over
    streams and seeds, :func:`~metanlp_lite.stats.paired_over_seeds_t`), and paired differences of final accuracy."""
    cfg, learners, tr = stored["config"], stored["learners"], stored["training"]
    lines = [f"{cfg['n_streams']} test streams of {cfg['n_test_intents']} intents (1 example, {cfg['n_query']} test "
             f"utterances each); paper OML: {cfg['chosen']} ({cfg['steps']} steps, meta-val every {cfg['eval_every']}), "
             f"seeds {cfg['seeds']}", "", "configurations tried (seed 0), meta-val: step 0 -> best (step) -> last; step size kept"]
    for name, c in stored["configs"].items():
        v = c["val"]
        lines.append(f"  {name:>44}: {v[0]:5.2f} -> {max(v):5.2f} (step {c['best_step']:4d}) -> {v[-1]:5.2f}; step "
                     f"size kept {c['step_size']:.4f}, at the end {c['step_sizes'][-1]:.4f}; {c['seconds']:5.1f} s")
    lines += ["", "the chosen configuration, per seed:"]
    for s, seed in enumerate(cfg["seeds"]):
        v = tr["val"][s]
        end = "before the end" if tr["best_step"][s] < cfg["steps"] else "AT THE END"
        lines.append(f"  seed {seed}: {v[0]:5.2f} -> {float(v.max()):5.2f} (step {tr['best_step'][s]:4d}, {end}) -> "
                     f"{v[-1]:5.2f}; step size {tr['step_size'][s]:.4f}; {tr['seconds'][s]:5.1f} s")
    w = max(len(n) for n in learners)
    if "name_steps" in cfg:
        lines.append(f"  with names, the online steps chosen on meta-val with names from {cfg.get('name_steps_grid')}, "
                     f"per seed: {cfg['name_steps']}")
    lines += ["", f"{'final accuracy, all intents %':>{w}}{'per seed':>30}{'all':>16}{'retention, first ' + str(cfg['first']) + ' %':>24}"]
    zero = lambda x: torch.zeros(1, x.shape[1])  # noqa: E731
    for name, v in learners.items():
        per = " ".join(f"{mean_ci95_t(row)[0]:5.1f}" for row in v["final"]) if v["final"].shape[0] > 1 else "(one row)"
        lines.append(f"{name:>{w}}{per:>30}{'%5.2f ± %4.2f' % paired_over_seeds_t(v['final'], zero(v['final'])):>16}"
                     f"{'%5.1f ± %3.1f' % paired_over_seeds_t(v['retention'], zero(v['retention'])):>24}")
    lines += ["", "paired differences (points) over streams and seeds (seeds unpaired; 'seeds paired': seed s of both)"]
    for a, b in cfg["comparisons"]:
        fa, fb = learners[a]["final"], learners[b]["final"]
        m, h = paired_over_seeds_t(fa, fb)
        text = f"{a} - {b}"
        row = f"{text:>{2 * w}}{f'{m:+6.2f} ± {h:4.2f} {verdict(m, h):>13}':>30}"
        if fa.shape[0] == fb.shape[0] > 1:
            mp, hp = paired_over_seeds_t(fa, fb, seeds_paired=True)
            row += f"{f'{mp:+6.2f} ± {hp:4.2f} {verdict(mp, hp):>13}':>30}"
        lines.append(row)
    return "\n".join(lines)
