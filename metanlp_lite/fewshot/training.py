"""Meta-training with model selection on meta-val, and evaluation on meta-test episodes.

- :func:`train_method` runs the outer loop with a progress bar: each step draws a batch of
  episodes (or, for the transfer baseline, labelled utterances) and takes one AdamW step; it
  keeps the parameters that do best on fixed meta-val episodes (step 0 included) and returns
  a :class:`TrainLog`.
- :func:`train_for` builds a method by name and meta-trains it with a *budget*'s number of
  steps (:data:`STEPS`, :data:`EVAL_EVERY`, :data:`VAL_EPISODES`; the ``early`` budget stops
  when meta-val stops improving, :data:`PATIENCE`; :func:`budget_schedule`); the MiniLM adapter starts
  from the embeddings centred on the meta-train mean (:func:`train_mean`, :data:`CENTRE`).
- :func:`evaluate` scores any ``predict`` function on seeded episodes; :func:`evaluate_method`
  does it for a method on a pool; :func:`episode_batches` builds those episodes once and
  :func:`evaluate_batches` scores a method on them (notebook 04 scores eight methods so). The same seed gives the same episodes for every method, so
  differences between methods are paired (see :mod:`metanlp_lite.stats`).

Taught in notebook 04, sections 4 and 5 (meta-training, checkpoints chosen on meta-val) and 6
(results on the same episodes); notebook 00, section 5, evaluates nearest class mean over 600
episodes with :func:`evaluate`.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..cost import release_memory
from ..episodes import EpisodeSampler, TaskBatch
from ..progress import progress
from ..reproducible import check_eval_every, round_parameters, threads
from ..stats import accuracy
from .base import Method
from .bodies import TransformerBody, length_chunks
from .features import LazyBatch, Pool, featurize, is_lazy, sample_batch
from .methods import TRAINING_HYPERPARAMS, build_method, hyperparams

__all__ = ["STEPS", "VAL_EPISODES", "EVAL_EVERY", "PATIENCE", "CENTRE", "evaluate", "TrainLog", "train_method",
           "evaluate_method", "episode_batches", "evaluate_batches", "predict_all", "frozen_batches", "embed_rows", "train_mean", "train_for",
           "budget_schedule"]

# A budget: "quick" (the notebooks' default runs), "full", or "early": train until meta-val has not
# improved for PATIENCE checks in a row (early stopping), at most STEPS["early"] steps.
STEPS = {"quick": 60, "full": 600, "early": 200}   # meta-training steps of a budget (at most, for "early")
VAL_EPISODES = {"quick": 100, "full": 300, "early": 100}   # the meta-val episodes that choose the checkpoint
EVAL_EVERY = {"quick": 20, "full": 50, "early": 20}        # steps between two meta-val checks
PATIENCE = {"quick": None, "full": None, "early": 3}      # checks without a better meta-val before stopping
CENTRE = True   # the MiniLM adapter starts from the embeddings centred on the meta-train mean

# ---------------------------------------------------------------------------------------
# Evaluation: per-episode accuracies on seeded episodes
# ---------------------------------------------------------------------------------------


def evaluate(
    predict: Callable[[TaskBatch], Tensor],
    sampler: EpisodeSampler,
    features: Any,
    n_episodes: int = 600,
    tasks_per_batch: int = 100,
    desc: str = "evaluating",
    show_progress: bool = True,
    names: Any | None = None,
) -> Tensor:
    """Per-episode query accuracies (percent) of ``predict`` on ``n_episodes`` seeded episodes.

    predict: maps a TaskBatch of features to (T, N*Q) predicted labels.
    features: (P, D) features of the sampler's pool (a tensor, or :class:`HashedNgrams`).
    names: optional (C, D) label-name features, row c for class id c; when given, each
    class's name is appended to the support set (:func:`add_label_names`).
    Returns (n_episodes,). The same sampler seed gives the same episodes for every method.
    """
    accs = []
    bar = progress(total=n_episodes, desc=desc, disable=not show_progress)
    done = 0
    if is_lazy(features):       # token states: a few episodes at a time (memory)
        tasks_per_batch = min(tasks_per_batch, 10)
    while done < n_episodes:
        n = min(tasks_per_batch, n_episodes - done)
        batch, _ = sample_batch(features, sampler, n, names)
        accs.append(accuracy(predict(batch), batch.query_y))
        done += n
        bar.update(n)
    bar.close()
    return torch.cat(accs)


# ---------------------------------------------------------------------------------------
# Meta-training with model selection on meta-val
# ---------------------------------------------------------------------------------------
class TrainLog(NamedTuple):
    """What :func:`train_method` did: val accuracy (percent) at each checked step (0 included),
    the training loss of every step, the step kept and its val accuracy, the seconds taken, and
    the accuracy on the ``monitor`` pool at each checked step (empty without one)."""

    steps: list[int]
    val_acc: list[float]
    losses: list[float]
    best_step: int
    best_val: float
    seconds: float
    monitor_acc: list[float]


def _val_batches(val: Pool, n_way: int, shots: Sequence[int], n_episodes: int, seed: int,
                 n_query: int = 15) -> list[TaskBatch]:
    """Fixed meta-val episodes, split evenly between the ``shots`` (at most 100 tasks a batch)."""
    batches = []
    for j, k in enumerate(shots):
        sampler = val.sampler(n_way, k, n_query, seed=seed + k)
        n = n_episodes // len(shots) + (j < n_episodes % len(shots))
        batches += [sample_batch(val.features, sampler, min(100, n - i), lazy=is_lazy(val.features))[0]
                    for i in range(0, n, 100)]
    return batches


def _shots_text(shots: Sequence[int]) -> str:
    """(1, 5) -> "1- and 5"; (1,) -> "1" (as in "1- and 5-shot episodes")."""
    ks = sorted(set(shots))
    return str(ks[0]) if len(ks) == 1 else ", ".join(f"{k}-" for k in ks[:-1]) + f" and {ks[-1]}"


def _episode_problem(pool: Pool, where: str, n_way: int, shots: Sequence[int], n_query: int, *,
                     k_shot_sets_shots: bool) -> str | None:
    """Why ``n_way``-way episodes of ``shots`` shots and ``n_query`` queries per class cannot be
    drawn from ``pool`` (one line: the pool, its smallest class, what K+Q needs, and only the
    remedies that work), or None if they can. The same conditions as
    :class:`~metanlp_lite.episodes.EpisodeSampler`'s, checked first so the message can say more.

    where: "meta-train", "meta-val" or "meta-test". k_shot_sets_shots: whether ``k_shot`` (run's
    and the command line's) sets these shots (meta-test) or not (meta-training and meta-val draw
    the method's own shots). Options are named as :func:`~metanlp_lite.fewshot.cli.run`'s
    keywords (n_query, k_shot, n_way); the command line names them as its flags.
    """
    n_classes = len(pool.classes)
    if n_way > n_classes:
        fix = f"lower n_way to {n_classes} or use" if n_classes >= 2 else "use"
        return (f"{where}: cannot sample {n_way}-way tasks: only {n_classes} classes are available; "
                f"{fix} a split with more classes")
    sizes = [(int((pool.labels == c).sum()), c) for c in pool.classes]
    k = max(shots)
    need = k + n_query
    smallest, c = min(sizes)
    if smallest >= need:
        return None
    why = f"{sum(n < need for n, _ in sizes)} of its {n_classes} classes are too small"
    if not k_shot_sets_shots:
        why += f"; {where} episodes are {_shots_text(shots)}-shot whatever k_shot"
    head = (f"{where}: its smallest class, '{pool.class_names[c]}' (id {c}), has only {smallest} examples, "
            f"but {k}-shot episodes with {n_query} queries per class need K+Q = {need} ({why})")
    fixes = []
    if smallest - k >= 1:                                 # fewer queries, the same shots
        fixes.append(f"n_query to {smallest - k}")
    if k_shot_sets_shots and smallest - n_query >= 1:    # fewer shots, the same queries
        fixes.append(f"k_shot to {smallest - n_query}")
    if fixes:
        return f"{head}: lower {' or '.join(fixes)}"
    if k_shot_sets_shots and smallest >= 2:               # both must come down
        k_fit = min(k, smallest - 1)
        return (f"{head}: lower k_shot and n_query to at most {smallest} together "
                f"(e.g. k_shot {k_fit}, n_query {smallest - k_fit})")
    if k_shot_sets_shots:                                 # one example: no episode at all
        return (f"{head}: no k_shot and n_query fit, as an episode needs at least 2 examples per class "
                f"(1 shot, 1 query); leave classes with 1 example out of the data")
    low = k + 1
    return (f"{head}: no n_query fits, as {k}-shot episodes need at least {low} examples per class; "
            f"leave classes with fewer than {low} examples out of the data")


def _check_episodes(pool: Pool, where: str, n_way: int, shots: Sequence[int], n_query: int, *,
                    k_shot_sets_shots: bool) -> None:
    """Raise ValueError with :func:`_episode_problem`'s message if these episodes cannot be drawn."""
    problem = _episode_problem(pool, where, n_way, shots, n_query, k_shot_sets_shots=k_shot_sets_shots)
    if problem is not None:
        raise ValueError(problem)


def _fixed_body(method: Method) -> nn.Module | None:
    """The body of a method that applies it alike to every task at test time (``adapts_body``
    False: NCM, ProtoNet, ANIL, fine-tuning), if it is a Transformer layer; else None."""
    body = getattr(method, "body", None)
    return body if not method.adapts_body and isinstance(body, TransformerBody) else None


@torch.no_grad()
def embed_rows(body: nn.Module, features: Any, rows: Tensor, chunk: int = 128, chunk_tokens: int = 4096) -> Tensor:
    """``body`` applied to the given rows of a feature table: (len(rows), D). Token states run
    shortest texts first, at most ``chunk`` texts and ``chunk_tokens`` token slots at a time."""
    if hasattr(features, "lengths"):
        chunks = length_chunks(features.lengths[rows], chunk, chunk_tokens)
    else:
        chunks = list(torch.arange(len(rows)).split(chunk))
    out = None
    for part in chunks:
        z = body(features[rows[part]])
        out = z.new_empty(len(rows), z.shape[-1]) if out is None else out
        out[part] = z
        release_memory()      # each chunk's activations have a new shape: given back, not left to fragment
    return out


def frozen_batches(method: Method, batches: Sequence[Any]) -> tuple[Method, list[Any]]:
    """For a method whose Transformer body is the same for every task at test time: the body
    run once over each utterance the episodes use, and the method with an identity body.

    batches: :class:`LazyBatch` es of token states. Returns (a view of ``method`` whose body is
    ``nn.Identity()``, the batches over the body's (P, D) outputs). The scores are those of
    ``method`` on ``batches`` (up to float rounding: texts are padded differently), at a fraction
    of the cost: an utterance appears in many episodes, but runs through the layer once.
    Any other method or batches come back unchanged.
    """
    body = _fixed_body(method)
    batches = list(batches)
    if body is None or not batches or not all(isinstance(b, LazyBatch) for b in batches):
        return method, batches
    features = batches[0].features
    rows = torch.unique(torch.cat([torch.cat([b.idx.support_x.flatten(), b.idx.query_x.flatten()]) for b in batches]))
    was = body.training
    body.eval()
    try:
        used = embed_rows(body, features, rows).to(method.dtype)          # (len(rows), D)
        z = used.new_zeros(len(features), used.shape[1])
        z[rows] = used
        names = batches[0].names
        zn = None if names is None else embed_rows(body, names, torch.arange(len(names))).to(method.dtype)
    finally:
        body.train(was)
    view = copy.copy(method)
    view._modules = {**method._modules, "body": nn.Identity()}
    view.eval_tasks = 100
    return view, [b._replace(features=z, names=zn if b.names is not None else None) for b in batches]


def predict_all(method: Method, batch: Any) -> Tensor:
    """``method.predict`` of a TaskBatch, or of a :class:`LazyBatch` chunk by chunk: (T, N*Q) labels."""
    if isinstance(batch, LazyBatch):
        return torch.cat([method.predict(b) for b in batch.chunks(method.eval_tasks)])
    return method.predict(batch)


def _supervised_batch(train: Pool, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random labelled utterances of the meta-train classes, labels renumbered 0..C-1."""
    keep = torch.isin(train.labels, torch.as_tensor(train.classes))
    rows = torch.nonzero(keep).flatten()
    remap = torch.full((int(train.labels.max()) + 1,), -1, dtype=torch.long)
    remap[torch.as_tensor(train.classes)] = torch.arange(len(train.classes))
    pick = rows[torch.randint(len(rows), (size,), generator=generator)]
    return train.features[pick], remap[train.labels[pick]]


def train_method(method: Method, train: Pool, val: Pool, *, n_way: int = 5, train_shots: Sequence[int] = (1, 5),
                 n_query: int = 15, steps: int = 100, meta_batch: int = 16, lr: float = 1e-3,
                 weight_decay: float = 0.0, eval_every: int = 25, val_episodes: int = 100, seed: int = 0,
                 show_progress: bool = True, desc: str | None = None, monitor: Pool | None = None,
                 val_shots: Sequence[int] | None = None, val_n_query: int = 15,
                 patience: int | None = None, snapshots: dict[int, dict[str, Tensor]] | None = None) -> TrainLog:
    """Meta-train ``method`` on ``train``'s classes; keep the parameters best on ``val``'s.

    Each step draws ``meta_batch`` episodes of ``n_way`` classes (cycling through
    ``train_shots`` shots, ``n_query`` queries per class), or for the transfer baseline ``meta_batch``
    labelled utterances, and takes one AdamW step (weight decay on matrices only, so a
    residual projection is pulled towards the identity). Every ``eval_every`` steps, and at
    step 0, the method is scored on the same ``val_episodes`` meta-val episodes (split
    evenly between the ``train_shots``, ``val_n_query`` queries per class);
    the best checkpoint (the earliest among ties) is loaded at the end. ``val_shots``: the
    meta-val episodes' shots (default ``train_shots``; ``(1,)`` scores checkpoints on the
    meta-test's 1-shot shape). ``patience``: stop early once that many checks in a row
    have not beaten the best (None: run all ``steps``). Methods without
    parameters are returned as they are. ``monitor``: a pool (e.g. meta-test) whose accuracy
    on 100 1-shot episodes (``val_n_query`` queries per class) is recorded at every check, for
    plots only: it never chooses anything. Episodes that cannot be drawn (a class with fewer
    than K+Q utterances) raise ValueError before any step, naming the pool and what would fit.
    ``snapshots``: a dict that, if given, receives a copy of the state dict at every check
    (step 0 included), keyed by step: for analysis only (notebook 04 scores the first and last
    ones on meta-test), it never chooses anything.
    """
    check_eval_every(eval_every)
    # Small models train on one thread (reproducible.threads: fastest, and it degrades in proportion
    # beside another job). A Transformer layer on token states multiplies matrices of ~100
    # utterances x their tokens, which gain from every core: notebook 05's 60 steps take 20 s on
    # two threads, 33 s on one (AMD EPYC, 2 cores), with the same meta-val accuracies and losses.
    with threads(torch.get_num_threads() if is_lazy(train.features) else 1):
        start = time.perf_counter()
        if not method.needs_training or steps == 0:
            return TrainLog([0], [], [], 0, float("nan"), time.perf_counter() - start, [])
        val_shots = tuple(train_shots if val_shots is None else val_shots)
        if method.episodic:
            _check_episodes(train, "meta-train", n_way, train_shots, n_query, k_shot_sets_shots=False)
        _check_episodes(val, "meta-val", n_way, val_shots, val_n_query, k_shot_sets_shots=False)
        if monitor is not None:
            _check_episodes(monitor, "meta-test (monitor)", n_way, (1,), val_n_query, k_shot_sets_shots=False)
        val_set = _val_batches(val, n_way, val_shots, val_episodes, seed + 1, val_n_query)

        mon_set = _val_batches(monitor, n_way, (1,), 100, seed + 2, val_n_query) if monitor is not None else []

        def val_acc(batches: list[TaskBatch] = val_set) -> float:
            return evaluate_batches(method, batches).mean().item()

        # the transfer baseline draws labelled utterances, not episodes: no sampler (none draws at construction)
        samplers = [train.sampler(n_way, k, n_query, seed=seed + 100 + k) for k in train_shots] if method.episodic else []
        gen = torch.Generator().manual_seed(seed + 7)
        opt = torch.optim.AdamW(method.optimizer_groups(lr, weight_decay), lr=lr)
        checked, accs, losses = [0], [val_acc()], []
        monitored = [val_acc(mon_set)] if mon_set else []
        best_state, best_acc, best_step = copy.deepcopy(method.state_dict()), accs[0], 0
        if snapshots is not None:
            snapshots[0] = copy.deepcopy(method.state_dict())
        bar = progress(range(1, steps + 1), desc=desc or f"meta-training {method.name}", disable=not show_progress)
        # Freed memory goes back to the system (cost.release_memory) at each check, and after every
        # step when a Transformer layer trains on token states: its activations (~150 MB a step, shaped
        # by each batch's longest text) fragment the heap, by ~90 MB between checks in notebook 05,
        # enough to take it past 1.2 GiB. A small model's step allocates little, and trimming after
        # each one only made the process fault its pages back in (9.9 M page faults against 2.0 M).
        layer_states = is_lazy(train.features)
        method.train()
        for step in bar:
            if method.episodic:
                batch, _ = sample_batch(train.features, samplers[step % len(samplers)], meta_batch)
            else:
                batch = _supervised_batch(train, meta_batch, gen)
            opt.zero_grad(set_to_none=True)
            loss = method.loss(method.cast(batch))
            loss.backward()
            opt.step()
            if method.dtype == torch.float64:      # the same run on any CPU: see metanlp_lite.reproducible
                round_parameters(method)
            losses.append(loss.item())
            del batch, loss
            if layer_states or step % eval_every == 0 or step == steps:
                release_memory()
            if step % eval_every == 0 or step == steps:
                checked.append(step)
                accs.append(val_acc())
                if mon_set:
                    monitored.append(val_acc(mon_set))
                if snapshots is not None:
                    snapshots[step] = copy.deepcopy(method.state_dict())
                if accs[-1] > best_acc:
                    best_state, best_acc, best_step = copy.deepcopy(method.state_dict()), accs[-1], step
                elif patience is not None and len(checked) - 1 - checked.index(best_step) >= patience:
                    break                                               # meta-val stopped improving
        bar.close()
        method.load_state_dict(best_state)
        release_memory()
        return TrainLog(checked, accs, losses, best_step, best_acc, time.perf_counter() - start, monitored)


def episode_batches(pool: Pool, *, n_way: int = 5, k_shot: int = 1, n_query: int = 15, episodes: int = 600,
                    label_names: bool = False, seed: int = 0, tasks_per_batch: int = 100) -> list[TaskBatch]:
    """The seeded meta-test episodes of :func:`evaluate_method`, built once to score many methods.

    Returns TaskBatches of at most ``tasks_per_batch`` episodes each (``episodes`` in all):
    support (T, N*K [+ N with label names], D), query (T, N*Q, D). Scoring every method on the
    same list with :func:`evaluate_batches` gives the numbers of :func:`evaluate_method`,
    without drawing the episodes again for each method. ``episodes=0`` only checks that such
    episodes can be drawn (ValueError otherwise, naming what would fit).
    """
    _check_episodes(pool, "meta-test", n_way, (k_shot,), n_query, k_shot_sets_shots=True)
    sampler = pool.sampler(n_way, k_shot, n_query, seed=seed)
    names = pool.names if label_names else None
    return [sample_batch(pool.features, sampler, min(tasks_per_batch, episodes - done), names,
                         lazy=is_lazy(pool.features))[0]
            for done in range(0, episodes, tasks_per_batch)]


def evaluate_batches(method: Method, batches: Sequence[Any]) -> Tensor:
    """Per-episode accuracies (percent) of ``method`` on ``batches`` (TaskBatches or
    :class:`~metanlp_lite.fewshot.features.LazyBatch` es): (total episodes,). A Transformer body
    that is the same for every task runs once per utterance (:func:`frozen_batches`)."""
    method, batches = frozen_batches(method, batches)
    return torch.cat([accuracy(predict_all(method, b), b.query_y) for b in batches])


def evaluate_method(method: Method, pool: Pool, *, n_way: int = 5, k_shot: int = 1, n_query: int = 15,
                    episodes: int = 600, label_names: bool = False, seed: int = 0,
                    show_progress: bool = True, desc: str | None = None) -> Tensor:
    """Per-episode accuracies (percent) of ``method`` on ``episodes`` seeded episodes of ``pool``.

    The episodes depend only on the pool, N, K, Q and the seed: every method sees the same ones.
    Episodes that cannot be drawn raise ValueError, naming what would fit.
    """
    if is_lazy(pool.features):    # token states: episodes as indices, the layer run once per utterance if it can
        batches = episode_batches(pool, n_way=n_way, k_shot=k_shot, n_query=n_query, episodes=episodes,
                                  label_names=label_names, seed=seed)
        return evaluate_batches(method, batches)
    _check_episodes(pool, "meta-test", n_way, (k_shot,), n_query, k_shot_sets_shots=True)
    sampler = pool.sampler(n_way, k_shot, n_query, seed=seed)
    return evaluate(method.predict, sampler, pool.features, episodes,
                    tasks_per_batch=100, desc=desc or f"{method.name} {n_way}-way {k_shot}-shot",
                    show_progress=show_progress, names=pool.names if label_names else None)


# ---------------------------------------------------------------------------------------
# A method by name, meta-trained with a budget
# ---------------------------------------------------------------------------------------
def train_mean(pool: Pool) -> Tensor:
    """The mean feature vector of the pool's classes' utterances: (D,)."""
    rows = torch.nonzero(torch.isin(pool.labels, torch.as_tensor(pool.classes))).flatten()
    return pool.features[rows].mean(0)


def train_for(method: str, encoder: str, pools: dict[str, Pool], *, n_way: int = 5, n_query: int | None = None,
              train_queries: int | None = None, budget: str = "full", seed: int = 0, steps: int | None = None,
              show_progress: bool = True, monitor: Pool | None = None,
              snapshots: dict[int, dict[str, Tensor]] | None = None, **overrides: Any) -> tuple[Method, TrainLog]:
    """Build ``method`` for ``encoder`` and meta-train it on ``pools["train"]``, selecting on
    ``pools["val"]``, with the ``budget``'s number of steps (or ``steps``).

    Episodes are ``n_way``-way, of the method's shots (``train_shots``, 1 and 5 unless
    overridden; ``val_shots`` on meta-val), whatever the meta-test's K. ``snapshots``: as
    :func:`train_method`'s (the state dict at every check). n_query: the queries per
    class of the meta-training *and* meta-val episodes; None (the default): the method's own on
    meta-training (15, or 5 on ``minilm-block``) and 15 on meta-val, as in notebook 04.
    train_queries: the queries per class of the meta-training episodes only (meta-val keeps its
    own), e.g. 5 to train frozen ProtoNet on the layer's episodes.

    The method comes back in float32: if trained in float64 (``dtype=torch.float64``), its
    parameters were rounded to float32 after every step (see
    :func:`~metanlp_lite.fewshot.methods.build_method`), so it loses nothing by the cast, and
    evaluating in float32 is twice as fast."""
    if budget not in STEPS:
        raise ValueError(f"budget must be one of {sorted(STEPS)}, got {budget!r}")
    train = pools["train"]
    in_dim = train.features.shape[1] if encoder != "minilm-block" else 384
    centre = None
    if encoder == "minilm" and CENTRE:
        centre = train_mean(train)
    elif encoder == "minilm-block" and CENTRE:   # the same centre: of the encoder's own embeddings
        centre = train_mean(train._replace(features=featurize(train.texts, "minilm", show_progress=False)))
    m = build_method(method, encoder, in_dim, n_way=n_way, n_classes=len(train.classes), seed=seed,
                     centre=centre, **overrides)
    hp = hyperparams(method, encoder, **overrides)
    training = {k: hp[k] for k in TRAINING_HYPERPARAMS if k in hp}    # the others built the method
    if n_query is not None:              # the user's queries, on meta-training and meta-val alike
        training.update(n_query=n_query, val_n_query=n_query)
    if train_queries is not None:        # on meta-training only
        training["n_query"] = train_queries
    log = train_method(m, train, pools["val"], n_way=n_way, steps=STEPS[budget] if steps is None else steps,
                       eval_every=EVAL_EVERY[budget], val_episodes=VAL_EPISODES[budget], patience=PATIENCE[budget],
                       seed=seed,
                       show_progress=show_progress, desc=f"meta-training {method} ({encoder})", monitor=monitor,
                       snapshots=snapshots, **training)
    return m.float(), log


def budget_schedule(budget: str) -> dict[str, Any]:
    """What a ``budget`` means to :func:`train_for`: its steps, checks, meta-val episodes, patience
    and whether the MiniLM adapter starts centred. A stored run is valid only under the same."""
    if budget not in STEPS:
        raise ValueError(f"budget must be one of {sorted(STEPS)}, got {budget!r}")
    return {"steps": STEPS[budget], "eval_every": EVAL_EVERY[budget], "val_episodes": VAL_EPISODES[budget],
            "patience": PATIENCE[budget], "centre": CENTRE}
