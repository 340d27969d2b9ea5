"""An assistant that keeps learning: intents arriving over time (notebook 07).

A *stream* (class-incremental): intents arrive one after another, each with a few examples; after
each arrival the learner must classify the test utterances of every intent seen so far, with one
classifier over all of them. Everything runs on frozen sentence embeddings (D = 384 for MiniLM).

- :class:`Stream` and :func:`make_stream`: the arrival order of the intents, the examples each one arrives with,
  and each one's test utterances (seeded; the same stream for every learner, so learners are compared on *paired* streams);
- the learners, all with the methods of :class:`Learner`: ``learn(z, label)`` (absorb one
  example), ``scores(z)`` (one column per intent seen, in order of arrival; ``represent`` then
  ``classify``, so that a stream represents its test utterances once) and ``state_bytes()``:

  * :class:`RunningPrototypes`: nearest class mean with running means (nothing is trained);
  * :class:`OnlineHead`: a linear softmax head that grows a row per new intent and takes SGD steps
    on each new example, with or without *replay* of stored examples, its new rows starting at
    zero or at the intent's prototype (Proto-MAML's initialisation, Triantafillou et al., 2020);
  * :class:`~metanlp_lite.oml.OML` (in :mod:`metanlp_lite.oml`): an online head on a
    representation meta-learned for continual learning (Javed & White, 2019);

- :class:`JointHead`: the same softmax head trained offline, to convergence, on every example
  seen at once: the joint bound of a stream (what learning one intent at a time costs the head);
- :func:`run_stream`: the accuracy matrix ``acc[t, j]`` (intent j's test accuracy after arrival
  t), the update latencies and which intents the predictions go to; :mod:`metanlp_lite.stream_metrics`
  summarises it (:func:`average_accuracy`, :func:`retention`, :func:`backward_transfer`, :func:`forgetting`,
  :func:`recency_share`, :func:`summarize`, :func:`metrics_table`; re-exported here);
- :class:`Assistant`: running prototypes on text, taught intents by name and a few sentences, with its predictions'
  confidence and nearest intents (the notebook's "teach it" widget, :func:`~metanlp_lite.widgets.teach_intent`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .episodes import check_class_sizes, check_shots
from .params import gradient_step
from .reproducible import threads
from .stream_metrics import (accuracy_at_arrival, average_accuracy, backward_transfer, forgetting, metrics_table,
                             recency_share, retention, summarize)


__all__ = ["Stream", "make_stream", "Learner", "RunningPrototypes", "OnlineHead", "head_step", "StreamRun", "run_stream",
           "average_accuracy", "accuracy_at_arrival", "forgetting", "backward_transfer", "recency_share", "retention", "JointHead",
           "tensor_bytes", "StreamData", "load_stream_data", "GRID", "HEADS", "run_streams", "choose_on_val", "summarize",
           "metrics_table", "Prediction", "Assistant"]


# ---------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------
class Stream(NamedTuple):
    """Intents in order of arrival. classes: (C,) class ids; support: (C, K) rows each intent
    arrives with (in that order); queries: (C, Q) rows of its test utterances (disjoint from support)."""

    classes: Tensor
    support: Tensor
    queries: Tensor

    def events(self) -> list[tuple[int, int]]:
        """The arriving examples in order: (row, class id), K per intent, intent after intent."""
        return [(int(r), int(c)) for c, rows in zip(self.classes, self.support) for r in rows]


def make_stream(labels: Tensor, classes: Sequence[int], *, k_shot: int = 1, n_query: int = 20,
                seed: int = 0) -> Stream:
    """A seeded stream of ``classes`` (all of them, in a random order), each arriving with
    ``k_shot`` random examples and tested on ``n_query`` other random utterances of its own.

    labels: (P,) class id of every row of the feature table."""
    labels = torch.as_tensor(labels)
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"a stream needs distinct classes, got {len(classes)} with {len(set(classes))} distinct")
    check_shots(k_shot, n_query)
    check_class_sizes(labels, classes, k_shot, n_query)
    gen = torch.Generator().manual_seed(seed)
    order = torch.tensor(classes)[torch.randperm(len(classes), generator=gen)]
    support, queries = [], []
    for c in order.tolist():
        rows = torch.nonzero(labels == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        support.append(rows[:k_shot])
        queries.append(rows[k_shot:k_shot + n_query])
    return Stream(order, torch.stack(support), torch.stack(queries))


# ---------------------------------------------------------------------------------------
# The learners
# ---------------------------------------------------------------------------------------
class Learner(Protocol):
    """What :func:`run_stream` needs of a learner."""

    def learn(self, z: Tensor, label: int) -> None: ...   # absorb one example z: (D,) of class `label`

    def represent(self, z: Tensor) -> Tensor: ...   # (M, D) -> (M, D'): the fixed representation it classifies

    def classify(self, h: Tensor) -> Tensor: ...   # (M, D') -> (M, C_seen) scores, columns in order of arrival

    def scores(self, z: Tensor) -> Tensor: ...   # classify(represent(z))

    def state_bytes(self) -> int: ...   # the memory the learner keeps


class _Columns:
    """What the learners share: the intents seen so far, in order of arrival (class id -> column), and ``scores``."""

    def __init__(self) -> None:
        self.column: dict[int, int] = {}

    def of(self, label: int) -> tuple[int, bool]:
        """The column of ``label`` and whether it is new."""
        if label in self.column:
            return self.column[label], False
        self.column[label] = len(self.column)
        return self.column[label], True

    def scores(self, z: Tensor) -> Tensor:
        """(M, D) -> (M, C_seen): ``classify(represent(z))``, as the learner defines them."""
        return self.classify(self.represent(z))


class RunningPrototypes(_Columns):
    """Nearest class mean with running means: a new example adds itself to its intent's sum.

    scores(z): cosine similarity of z to each intent's mean. Nothing is trained, nothing
    already learned changes when a new intent arrives: what it forgets comes only from the new
    intents it can now confuse the old ones with.
    """

    def __init__(self, dim: int = 384, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.sums = torch.zeros(0, dim, dtype=dtype)     # (C, D)
        self.counts = torch.zeros(0, dtype=dtype)        # (C,)

    def learn(self, z: Tensor, label: int) -> None:
        col, new = self.of(label)
        if new:
            self.sums = torch.cat([self.sums, self.sums.new_zeros(1, self.sums.shape[1])])
            self.counts = torch.cat([self.counts, self.counts.new_zeros(1)])
        self.sums[col] += z.to(self.sums.dtype)
        self.counts[col] += 1

    def represent(self, z: Tensor) -> Tensor:
        return F.normalize(z.to(self.sums.dtype), dim=-1)

    def classify(self, h: Tensor) -> Tensor:
        return h @ F.normalize(self.sums, dim=-1).T

    def state_bytes(self) -> int:
        return tensor_bytes(self.sums, self.counts)


def head_step(z: Tensor, y: Tensor, W: Tensor, b: Tensor, lr: Tensor | float, scale: float) -> tuple[Tensor, Tensor]:
    """One SGD step of a softmax head ``logits = scale * (z @ W.T + b)`` on cross-entropy, in closed form.

    z: (..., M, D) examples, y: (..., M) their columns, W: (..., C, D), b: (..., C). The gradient
    of the mean cross-entropy is ``scale * (softmax - onehot)`` times ``[z, 1]`` (checked against
    autograd in the tests), so this step is differentiable with respect to z, W, b and lr
    (:func:`~metanlp_lite.oml.meta_train_oml` backpropagates through a whole stream of them). Returns (W, b).
    """
    logits = scale * (z @ W.transpose(-1, -2) + b.unsqueeze(-2))
    err = scale * (logits.softmax(-1) - F.one_hot(y, W.shape[-2]).to(z.dtype)) / z.shape[-2]   # (..., M, C)
    return gradient_step(W, err.transpose(-1, -2) @ z, lr), gradient_step(b, err.sum(-2), lr)


class OnlineHead(_Columns):
    """A linear softmax head trained online: each new example, ``steps`` SGD steps.

    A new intent adds a row, starting at zero (``init="zero"``) or at its first example's normalised embedding
    (``init="prototype"``, Proto-MAML's initialisation: the head then starts as nearest class mean by cosine).
    ``replay``: how many stored examples are replayed beside the new one at each step (0: none, the plain online
    fine-tuning that forgets; -1: all of them). ``body``: a fixed function of the embeddings (default: normalisation
    only). The head computes in ``dtype`` (float64: the same predictions on any CPU's kernels).

    Three switches isolate *how* it forgets (notebook 07, section 4); the SGD step on ``W`` is the
    same for all of them, they change the bias and how the rows are read when scoring:

    * ``bias=False``: no bias at all (``b`` stays 0, in training and in scoring);
    * ``cosine=True``: a cosine head: scores are the cosines between the representation and each
      row (rows normalised when scoring, a row still at zero scores 0), with no bias;
    * ``align=True``: weight aligning (WA, Zhao et al., 2020), a correction at scoring time: the
      newest intent's row is rescaled to the mean norm of the older rows, and the bias is left
      out (the rows alone are compared);
    * ``score_bias=False``: the bias is trained as usual but left out when scoring (WA without
      its rescaling: it separates what the bias does *during training* from its recency at scoring);
    * ``freeze_rows=True``: each step moves only the row of the example's own intent (the rows of
      the other intents stay where they are: no interference between rows).

    ``step``: the SGD step, ``step(z, y, W, b, lr, scale) -> (W, b)``, :func:`head_step` by default
    (exercise 13 of notebook 07 runs the head with the student's own).
    """

    def __init__(self, dim: int = 384, *, lr: float = 1.0, steps: int = 1, replay: int = 0, init: str = "zero",
                 scale: float = 10.0, body: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
                 dtype: torch.dtype = torch.float64, bias: bool = True, cosine: bool = False,
                 align: bool = False, score_bias: bool = True, freeze_rows: bool = False,
                 step: Callable[..., tuple[Tensor, Tensor]] | None = None) -> None:
        super().__init__()
        if init not in ("zero", "prototype"):
            raise ValueError(f"init must be 'zero' or 'prototype', got {init!r}")
        if cosine and align:
            raise ValueError("cosine=True already gives every row the same norm: align=True has nothing to do; "
                             "choose one of them")
        self.lr, self.steps, self.replay, self.init, self.scale = lr, steps, replay, init, scale
        self.bias, self.cosine, self.align = bias and not cosine, cosine, align
        self.score_bias, self.freeze_rows, self.step = score_bias, freeze_rows, step or head_step
        self.body = body or (lambda z: F.normalize(z, dim=-1))
        self.W, self.b = torch.zeros(0, dim, dtype=dtype), torch.zeros(0, dtype=dtype)
        self.memory_z, self.memory_y = torch.zeros(0, dim, dtype=dtype), torch.zeros(0, dtype=torch.long)
        self.gen = torch.Generator().manual_seed(seed)

    def learn(self, z: Tensor, label: int) -> None:
        h = self.body(z.unsqueeze(0)).to(self.W.dtype)     # (1, D')
        col, new = self.of(label)
        if new:
            row = F.normalize(h, dim=-1) if self.init == "prototype" else torch.zeros_like(h)
            self.W, self.b = torch.cat([self.W, row]), torch.cat([self.b, h.new_zeros(1)])
        y = torch.tensor([col])
        for _ in range(self.steps):
            hz, hy = h, y
            if self.replay and len(self.memory_y):
                pick = (torch.arange(len(self.memory_y)) if self.replay < 0 or self.replay >= len(self.memory_y)
                        else torch.randperm(len(self.memory_y), generator=self.gen)[:self.replay])
                hz, hy = torch.cat([h, self.memory_z[pick]]), torch.cat([y, self.memory_y[pick]])
            W, b = self.step(hz, hy, self.W, self.b, self.lr, self.scale)
            if self.freeze_rows:     # only the example's own row moves
                W = torch.cat([self.W[:col], W[col:col + 1], self.W[col + 1:]])
            self.W, self.b = W, (b if self.bias else self.b)
        if self.replay:
            self.memory_z = torch.cat([self.memory_z, h])
            self.memory_y = torch.cat([self.memory_y, y])

    def represent(self, z: Tensor) -> Tensor:
        return self.body(z).to(self.W.dtype)

    def classify(self, h: Tensor) -> Tensor:
        if self.cosine:
            return h @ F.normalize(self.W, dim=-1).T
        if self.align:
            return h @ self.aligned_rows().T
        return h @ self.W.T + (self.b if self.bias and self.score_bias else 0)

    def aligned_rows(self) -> Tensor:
        """(C, D): the rows with the newest one rescaled to the mean norm of the others (WA)."""
        norms = self.W.norm(dim=-1)
        if len(norms) < 2 or norms[-1] == 0:
            return self.W
        return torch.cat([self.W[:-1], self.W[-1:] * (norms[:-1].mean() / norms[-1])])

    def state_bytes(self) -> int:
        return tensor_bytes(self.W, self.b, self.memory_z, self.memory_y)


class JointHead(_Columns):
    """The joint (offline) bound: :class:`OnlineHead`'s softmax head ``scale * (z @ W.T + b)``, trained not online but
    on every example seen so far *at once*, to convergence (L-BFGS on the mean cross-entropy plus ``l2 / 2 * |W|^2``,
    convex, so the result does not depend on the order of arrival). ``learn`` only stores the example; ``classify``
    refits when something new was stored. Not a learner for an assistant (each refit costs far more than an online
    step): it bounds what the head reaches from the same examples.
    """

    def __init__(self, dim: int = 384, *, l2: float = 1e-3, scale: float = 10.0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if l2 <= 0:
            raise ValueError(f"l2 must be positive (without it the optimum is at infinity), got {l2}")
        self.l2, self.scale = l2, scale
        self.memory_z, self.memory_y = torch.zeros(0, dim, dtype=dtype), torch.zeros(0, dtype=torch.long)
        self.W, self.b = torch.zeros(0, dim, dtype=dtype), torch.zeros(0, dtype=dtype)
        self.fitted_on = 0      # how many stored examples the head was last fitted on

    def learn(self, z: Tensor, label: int) -> None:
        col, _ = self.of(label)
        self.memory_z = torch.cat([self.memory_z, F.normalize(z.to(self.memory_z.dtype), dim=-1).unsqueeze(0)])
        self.memory_y = torch.cat([self.memory_y, torch.tensor([col])])

    def represent(self, z: Tensor) -> Tensor:
        return F.normalize(z.to(self.memory_z.dtype), dim=-1)

    def loss(self, W: Tensor, b: Tensor) -> Tensor:
        """The objective it minimises, on the stored examples."""
        logits = self.scale * (self.memory_z @ W.T + b)
        return F.cross_entropy(logits, self.memory_y) + self.l2 / 2 * W.pow(2).sum()

    def fit(self) -> None:
        """Minimise :meth:`loss` over (W, b), from the last fit (new rows at zero)."""
        C = len(self.column)
        W = torch.cat([self.W, self.W.new_zeros(C - len(self.W), self.W.shape[1])]).requires_grad_()
        b = torch.cat([self.b, self.b.new_zeros(C - len(self.b))]).requires_grad_()
        opt = torch.optim.LBFGS([W, b], lr=1, max_iter=200, tolerance_grad=1e-9, tolerance_change=1e-12,
                                line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            value = self.loss(W, b)
            value.backward()
            return value

        with torch.enable_grad():
            opt.step(closure)
        self.W, self.b = W.detach(), b.detach()

    def classify(self, h: Tensor) -> Tensor:
        if self.fitted_on != len(self.memory_y):
            self.fit()
            self.fitted_on = len(self.memory_y)
        return h @ self.W.T + self.b

    def state_bytes(self) -> int:
        return tensor_bytes(self.W, self.b, self.memory_z, self.memory_y)


def tensor_bytes(*tensors: Tensor) -> int:
    """The bytes the ``tensors`` hold."""
    return sum(t.numel() * t.element_size() for t in tensors)


# ---------------------------------------------------------------------------------------
# Running a stream
# ---------------------------------------------------------------------------------------
class StreamRun(NamedTuple):
    """acc: (C, C) accuracy in percent of intent j's test utterances after arrival t (NaN for j > t), classified among
    all intents seen by then; update_ms: (E,) the milliseconds each ``learn`` took; state_bytes: the learner's memory
    at the end; predicted_age: (C, C) the share (percent) of all the seen intents' test utterances predicted, after
    arrival t, as the intent that arrived a arrivals before the newest (a = 0: the newest; NaN for a > t), see
    :func:`recency_share`."""

    acc: Tensor
    update_ms: Tensor
    state_bytes: int
    predicted_age: Tensor | None = None


@torch.no_grad()
@threads(1)   # thousands of tiny operations: a second thread costs more than it saves (README, Speed)
def run_stream(learner: Learner, features: Tensor, stream: Stream, names: Tensor | None = None,
               score_at: Sequence[int] | None = None) -> StreamRun:
    """Feed ``stream`` to ``learner`` example by example; after each intent has arrived, score
    every seen intent's test utterances. features: (P, D) the embedding of every row.

    names: (n_classes, D) the embedding of every intent's name, by class id: if given, each intent
    arrives with its name, learned as one more example just before its first one (timed with it).
    score_at: the arrivals t (1 to C) after which to score (default: all); the other rows of
    ``acc`` stay NaN (scoring changes no learner, so the scored rows do not depend on it).
    """
    C, Q = stream.queries.shape
    acc = torch.full((C, C), float("nan"))
    age = torch.full((C, C), float("nan"))
    times = []
    k = stream.support.shape[1]
    # the learners' representations do not change during a stream: represent the queries once
    queries = learner.represent(features[stream.queries.flatten()]).reshape(C, Q, -1)
    for t, (row, label) in enumerate(stream.events()):
        start = time.perf_counter()
        if names is not None and t % k == 0:
            learner.learn(names[label], label)
        learner.learn(features[row], label)
        times.append((time.perf_counter() - start) * 1000)
        if (t + 1) % k == 0 and (score_at is None or (t + 1) // k in score_at):
            seen = (t + 1) // k
            pred = learner.classify(queries[:seen].flatten(0, 1)).argmax(-1).reshape(seen, Q)
            acc[seen - 1, :seen] = (pred == torch.arange(seen).unsqueeze(1)).float().mean(1) * 100
            age[seen - 1, :seen] = torch.bincount(seen - 1 - pred.flatten(), minlength=seen).double() / pred.numel() * 100
    return StreamRun(acc, torch.tensor(times), learner.state_bytes(), age)


# ---------------------------------------------------------------------------------------
# The experiment: data, learners, choices on meta-val
# ---------------------------------------------------------------------------------------
class StreamData(NamedTuple):
    """A dataset ready for streams. features: (P, D) embeddings; labels: (P,) class ids; names:
    (n_classes, D) the embedding of every intent's name; class_names, texts: the intents and
    utterances; classes: {"train", "val", "test"} -> class ids, disjoint (meta-train, meta-val,
    and the intents of the test streams)."""

    features: Tensor
    labels: Tensor
    names: Tensor
    class_names: list[str]
    texts: list[str]
    classes: dict[str, list[int]]


def load_stream_data(dataset: str = "clinc150", *, seed: int = 0, fractions: tuple[float, float, float] = (0.5, 1 / 6, 1 / 3),
                     split: str = "random", show_progress: bool = True) -> StreamData:
    """A dataset of :func:`~metanlp_lite.data.load_intents` (a name or a file), its MiniLM embeddings
    and a split of its intents: by default seeded and random by ``fractions`` (CLINC150: 75 meta-train,
    25 meta-val and 50 intents for the test streams), or ``split`` of :func:`~metanlp_lite.data.class_splits`."""
    from .data import class_splits, label_ids, load_intents, pretty_label
    from .text import embed

    ds = load_intents(dataset)
    class_names, texts = list(ds.features["label"].names), list(ds["text"])
    both = embed(texts + [pretty_label(n) for n in class_names], show_progress=show_progress)
    parts = class_splits(ds, split, seed=seed, fractions=fractions)
    classes = {part: sorted(label_ids(ds, getattr(parts, part))) for part in ("train", "val", "test")}
    return StreamData(both[:len(texts)], torch.as_tensor(ds["label"]), both[len(texts):], class_names, texts, classes)


# notebook 07's online heads, name -> OnlineHead's switches, and the grid each one's step size and steps
# per example are chosen from on meta-val streams (choose_on_val); the command line's stream reads them too
GRID: dict[str, tuple[float, ...]] = {"lr": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), "steps": (1, 5)}
HEADS: dict[str, dict[str, object]] = {
    "fine-tuning": {}, "fine-tuning, no bias": {"bias": False}, "fine-tuning, cosine head": {"cosine": True},
    "fine-tuning, WA": {"align": True}, "fine-tuning + replay": {"replay": -1}, "Proto-MAML init": {"init": "prototype"}}


def run_streams(make: Callable[[], Learner], data: StreamData, streams: Sequence[Stream],
                use_names: bool = False, score_at: Sequence[int] | None = None) -> list[StreamRun]:
    """A fresh learner ``make()`` on each of ``streams`` (with the intents' names, if ``use_names``;
    scored after the arrivals ``score_at``, default all: see :func:`run_stream`)."""
    if not len(streams):
        raise ValueError("run_streams got no streams: pass at least one, e.g. [make_stream(data.labels, data.classes['test'])]")
    return [run_stream(make(), data.features, s, data.names if use_names else None, score_at) for s in streams]


def choose_on_val(make: Callable[..., Learner], data: StreamData, grid: dict[str, Sequence[float]], *,
                  n_streams: int = 3, k_shot: int = 1, n_query: int = 20, seed: int = 1000,
                  use_names: bool = False) -> tuple[dict[str, float], dict[tuple, float]]:
    """The hyperparameters (one value from each of ``grid``'s lists, ``make(**them)``) with the best
    mean final accuracy (over all intents, at the end) on ``n_streams`` seeded streams of every
    meta-val intent (``k_shot`` examples each, ``n_query`` test utterances; with the intents'
    names if ``use_names``, as the learner will have them on the test streams); returns
    (best, {values: accuracy}). Ties go to the first combination in the grid's order."""
    if n_streams < 1:
        raise ValueError(f"n_streams must be at least 1 (the meta-val streams to score on), got {n_streams}: set it to 1 or more")
    if empty := [key for key, values in grid.items() if not len(values)]:
        raise ValueError(f"grid[{empty[0]!r}] is empty: give at least one value to try, or leave {empty[0]!r} out of the grid")
    streams = [make_stream(data.labels, data.classes["val"], k_shot=k_shot, n_query=n_query, seed=seed + i)
               for i in range(n_streams)]
    keys, scores = list(grid), {}
    combos: list[tuple] = [()]
    for key in keys:
        combos = [c + (v,) for c in combos for v in grid[key]]
    for values in combos:
        runs = run_streams(lambda: make(**dict(zip(keys, values))), data, streams, use_names, score_at=[len(streams[0].classes)])
        scores[values] = torch.stack([average_accuracy(r.acc)[-1] for r in runs]).mean().item()
    best = max(scores, key=scores.get)
    return dict(zip(keys, best)), scores


# ---------------------------------------------------------------------------------------
# An assistant on text
# ---------------------------------------------------------------------------------------
class Prediction(NamedTuple):
    """What the assistant thinks of one utterance: its intent, the confidence in it (percent:
    softmax of ``scale`` times the cosine to every intent's prototype) and the ``k`` nearest
    intents with their cosine similarity."""

    intent: str
    confidence: float
    nearest: list[tuple[str, float]]


class Assistant:
    """An intent classifier that keeps learning: :class:`RunningPrototypes` on sentence embeddings.

    ``teach(intent, examples)`` adds an intent (or more examples of a known one): its name is
    embedded as one more example (``use_names``), then each example. ``predict(texts)`` gives a
    :class:`Prediction` per text. embed: texts -> (M, D) embeddings (e.g. :func:`~metanlp_lite.text.embed`).
    """

    def __init__(self, embed: Callable[[list[str]], Tensor], *, scale: float = 20.0, use_names: bool = True,
                 dim: int = 384) -> None:
        self.embed, self.scale, self.use_names = embed, scale, use_names
        self.learner = RunningPrototypes(dim)
        self.intents: list[str] = []

    def teach(self, intent: str, examples: Sequence[str]) -> None:
        """Learn ``examples`` (sentences) of ``intent`` (a name such as "book a table")."""
        intent = intent.strip()
        if not intent:
            raise ValueError("an intent needs a name, e.g. 'book a table'")
        if isinstance(examples, str):
            raise TypeError("teach() takes a list of example sentences, not one string: teach(name, [sentence])")
        examples = [e.strip() for e in examples if e.strip()]
        new = intent not in self.intents
        if not examples and not (new and self.use_names):
            raise ValueError(f"give at least one example sentence of {intent!r}")
        texts = ([intent] if new and self.use_names else []) + examples
        label = self.intents.index(intent) if not new else len(self.intents)
        if new:
            self.intents.append(intent)
        for z in self.embed(texts):
            self.learner.learn(z, label)

    def predict(self, texts: Sequence[str], k: int = 3) -> list[Prediction]:
        """The intent of each text, with its confidence and the ``k`` nearest intents."""
        if not self.intents:
            raise ValueError("the assistant knows no intent yet: teach() it one first")
        cos = self.learner.scores(self.embed(list(texts)))            # (M, C)
        probs = (self.scale * cos).softmax(-1) * 100
        top = cos.topk(min(k, len(self.intents)), dim=-1)
        return [Prediction(self.intents[int(i[0])], float(p[i[0]]),
                           [(self.intents[int(j)], float(c)) for c, j in zip(v, i)])
                for p, v, i in zip(probs, top.values, top.indices)]
