"""Few-shot text classification: methods, meta-training with model selection, and evaluation.

Everything here works on *features* of utterances, one row per utterance of a dataset:

- ``"minilm"``: frozen all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised, cached on
  disk by :mod:`metanlp_lite.text`);
- ``"bow"``: hashed word and character n-gram counts (:class:`HashedNgrams`), learned from
  scratch by an MLP.

A *method* maps a :class:`~metanlp_lite.episodes.TaskBatch` of features to query scores. All
methods share three calls: ``loss(batch)`` (what meta-training minimises), ``logits(batch)``
(T, N*Q, N) after adapting to each task's support set, and ``predict(batch)`` (their argmax):

============  ================================================================================
``ncm``       nearest class mean by cosine on the raw features (no training at all)
``finetune``  the transfer baseline: pretrain a network on all meta-train classes as one
              ordinary classification problem, then fit a fresh linear head per task
``protonet``  Prototypical Networks (Snell et al., 2017) with a learned projection, cosine
              similarity and a learned temperature
``maml``      MAML (Finn et al., 2017) on projection + linear head, second order
``fomaml``    first-order MAML
``reptile``   Reptile (Nichol et al., 2018)
``anil``      ANIL (Raghu et al., 2020): only the last layer is adapted per task; it is MAML
              applied to the head, whose inputs are the meta-learned network's features
``protomaml`` Proto-MAML (Triantafillou et al., 2020): MAML whose last layer starts from the
              prototypes, W_k = 2 c_k, b_k = -|c_k|^2
============  ================================================================================

On frozen MiniLM the learned network is a *residual* projection that starts as the identity
(``z = normalize(x + W2 relu(W1 x))`` with ``W2 = 0``), so every method starts from the
training-free baseline, weight decay pulls it back towards the identity, and model selection
on meta-val episodes (step 0 included) keeps the identity if training does not help.

:func:`meta_train` runs the outer loop with a progress bar and keeps the parameters that do
best on fixed meta-val episodes; :func:`evaluate` scores a method on seeded meta-test episodes
(the same episodes for every method, so differences are paired); :func:`run` does both from a
dataset name, and is what ``python -m metanlp_lite.fewshot`` calls.

Label names (``book_flight`` -> "book flight") are extra evidence: with ``label_names=True``
each class's name, featurised like an utterance, is appended to the support set as one more
example of its class (:func:`add_label_names`). Names are used at meta-test (and meta-val)
time only, never in meta-training, so one trained model serves both settings.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .episodes import EpisodeSampler, TaskBatch
from .maml import MAML, Reptile
from .progress import progress
from .stats import accuracy, confusion_matrix, mean_ci95

__all__ = [
    "METHODS", "ENCODERS", "HYPERPARAMS",
    "prototypes", "ncm_logits", "ncm_predict", "accuracy", "mean_ci95", "confusion_matrix",
    "evaluate", "HashedNgrams", "ngrams", "featurize", "Pool", "make_pools", "split_class_ids", "add_label_names",
    "sample_batch", "ResidualMLP", "BowMLP", "make_body", "linear_head_step", "fit_linear_head",
    "Method", "NCM", "Finetune", "ProtoNet", "MAMLFamily", "ANIL", "ProtoMAML", "build_method",
    "TrainLog", "meta_train", "evaluate_method", "train_for", "train_mean", "run", "command", "main",
]

METHODS = ("ncm", "finetune", "protonet", "maml", "fomaml", "reptile", "anil", "protomaml")
ENCODERS = ("minilm", "bow")

# ---------------------------------------------------------------------------------------
# Evaluation basics: prototypes, nearest class mean (accuracy and intervals: metanlp_lite.stats)
# ---------------------------------------------------------------------------------------


def prototypes(support_x: Tensor, support_y: Tensor, n_way: int) -> Tensor:
    """Class means of the support set.

    support_x: (T, N*K, D); support_y: (T, N*K) labels in 0..n_way-1. Returns (T, N, D).
    """
    if support_x.ndim != 3 or support_y.shape != support_x.shape[:2]:
        raise ValueError(f"expected support_x (T, N*K, D) and support_y (T, N*K), got "
                         f"{tuple(support_x.shape)} and {tuple(support_y.shape)}")
    onehot = F.one_hot(support_y, n_way).to(support_x.dtype)          # (T, N*K, N)
    counts = onehot.sum(1)                                             # (T, N)
    if (counts == 0).any():
        raise ValueError("every class needs at least one support example")
    return onehot.transpose(1, 2) @ support_x / counts[..., None]      # (T, N, D)


def ncm_logits(query_x: Tensor, protos: Tensor) -> Tensor:
    """Cosine similarity of each query to each prototype: (T, M, D), (T, N, D) -> (T, M, N)."""
    return F.normalize(query_x, dim=-1) @ F.normalize(protos, dim=-1).transpose(1, 2)


def ncm_predict(batch: TaskBatch, n_way: int | None = None) -> Tensor:
    """Nearest class mean by cosine on frozen embeddings; no training. Returns (T, N*Q) labels."""
    n_way = n_way or int(batch.support_y.max()) + 1
    return ncm_logits(batch.query_x, prototypes(batch.support_x, batch.support_y, n_way)).argmax(-1)


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
    while done < n_episodes:
        n = min(tasks_per_batch, n_episodes - done)
        batch, _ = sample_batch(features, sampler, n, names)
        accs.append(accuracy(predict(batch), batch.query_y))
        done += n
        bar.update(n)
    bar.close()
    return torch.cat(accs)


# ---------------------------------------------------------------------------------------
# Features: hashed word and character n-grams (the from-scratch encoder's input)
# ---------------------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def ngrams(text: str, word_ngrams: tuple[int, ...] = (1, 2), char_ngrams: tuple[int, ...] = (3, 4)) -> list[str]:
    """The word n-grams and the within-word character n-grams of ``text`` (lower-cased).

    ``ngrams("Book a flight", (1,), (3,))`` -> ``['w:book', 'w:a', 'w:flight', 'c:<bo', 'c:boo', ...]``;
    words are padded as ``<word>`` so that prefixes and suffixes have their own n-grams.
    """
    words = _WORD.findall(text.lower())
    out = [f"w:{' '.join(words[i:i + n])}" for n in word_ngrams for i in range(len(words) - n + 1)]
    for w in words:
        padded = f"<{w}>"
        out += [f"c:{padded[i:i + n]}" for n in char_ngrams for i in range(len(padded) - n + 1)]
    return out


class HashedNgrams:
    """Hashed n-gram count vectors of texts, stored sparsely and made dense on demand.

    Each text becomes a vector of ``n_buckets`` numbers: every n-gram (see :func:`ngrams`) is
    hashed (crc32, stable across runs) into a bucket, counts are damped with ``log(1 + c)``,
    and the vector is L2-normalised. Bucket 0 is padding and stays 0.

    Indexing like a (P, n_buckets) tensor returns dense rows: ``feats[idx]`` with ``idx``
    a long tensor of any shape gives ``(*idx.shape, n_buckets)`` float32, so a
    :class:`TaskBatch` of indices becomes a TaskBatch of features exactly as with embeddings.
    Stored: ``ids`` (P, L) int32 and ``weights`` (P, L) float32, L the most buckets of a text.
    """

    def __init__(self, texts: Sequence[str], n_buckets: int = 2048,
                 word_ngrams: tuple[int, ...] = (1, 2), char_ngrams: tuple[int, ...] = (3, 4)) -> None:
        if isinstance(texts, str):
            raise TypeError("HashedNgrams takes a list of texts, not a single string")
        if n_buckets < 2:
            raise ValueError(f"n_buckets must be at least 2, got {n_buckets}")
        self.n_buckets = n_buckets
        self.word_ngrams, self.char_ngrams = tuple(word_ngrams), tuple(char_ngrams)
        rows = []
        for t in texts:
            counts = Counter(zlib.crc32(g.encode("utf-8")) % (n_buckets - 1) + 1
                             for g in ngrams(t, self.word_ngrams, self.char_ngrams))
            rows.append(counts)
        width = max([len(r) for r in rows] + [1])
        self.ids = torch.zeros(len(rows), width, dtype=torch.int32)
        self.weights = torch.zeros(len(rows), width)
        for i, r in enumerate(rows):
            if r:
                self.ids[i, :len(r)] = torch.tensor(list(r.keys()), dtype=torch.int32)
                self.weights[i, :len(r)] = torch.log1p(torch.tensor(list(r.values()), dtype=torch.float32))
        self.weights = F.normalize(self.weights, dim=1)

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(P, n_buckets), as if the features were a dense tensor."""
        return (len(self), self.n_buckets)

    def __getitem__(self, idx: Tensor | int | slice | Sequence[int]) -> Tensor:
        ids, w = self.ids[idx], self.weights[idx]
        out = torch.zeros(*ids.shape[:-1], self.n_buckets)
        return out.scatter_add_(-1, ids.long(), w)


def featurize(texts: Sequence[str], encoder: str, *, show_progress: bool = True) -> Tensor | HashedNgrams:
    """Features of ``texts`` for ``encoder``: (P, 384) MiniLM embeddings or (P, 2048) hashed n-grams."""
    if encoder == "minilm":
        from .text import embed

        return embed(list(texts), show_progress=show_progress)
    if encoder == "bow":
        return HashedNgrams(list(texts))
    raise ValueError(f"unknown encoder {encoder!r}; choose one of {ENCODERS}")


class Pool(NamedTuple):
    """The utterances episodes are drawn from, and the classes they may use.

    features: (P, D) one row per utterance of the whole dataset (shared by the three pools).
    labels: (P,) class id of each utterance. classes: the class ids of this meta-split.
    names: (C, D) features of every class's name (row c for class id c), or None.
    class_names: the intent names, indexed by class id. texts: the P utterances.
    """

    features: Any
    labels: Tensor
    classes: list[int]
    names: Any | None
    class_names: list[str]
    texts: list[str]

    def sampler(self, n_way: int, k_shot: int, n_query: int = 15, seed: int = 0) -> EpisodeSampler:
        """An :class:`EpisodeSampler` over this pool's classes."""
        return EpisodeSampler(self.labels, n_way, k_shot, n_query, classes=self.classes, seed=seed,
                              class_names=self.class_names)


def make_pools(dataset: Any, encoder: str, split: str | None = None, *, seed: int = 0,
               show_progress: bool = True) -> dict[str, Pool]:
    """Meta-train, meta-val and meta-test pools of a dataset from :func:`~metanlp_lite.data.load_intents`.

    split: as in :func:`~metanlp_lite.data.class_splits` (default: CLINC150's domains,
    BANKING77's published split 01, a seeded random split of a user's file). The three pools
    share one feature table; their classes are disjoint. Label-name features are included.
    """
    from .data import pretty_label

    ids = split_class_ids(dataset, split, seed=seed)
    class_names = list(dataset.features["label"].names)
    texts = list(dataset["text"])
    name_texts = [pretty_label(n) for n in class_names]
    if encoder == "minilm":   # one call, so that an empty cache loads the sentence encoder once
        both = featurize(texts + name_texts, encoder, show_progress=show_progress)
        feats, names = both[:len(texts)], both[len(texts):]
    else:
        feats, names = featurize(texts, encoder), featurize(name_texts, encoder)
    labels = torch.as_tensor(dataset["label"], dtype=torch.long)
    return {part: Pool(feats, labels, ids[part], names, class_names, texts) for part in ("train", "val", "test")}


def split_class_ids(dataset: Any, split: str | None = None, *, seed: int = 0) -> dict[str, list[int]]:
    """The class ids of the meta-train, meta-val and meta-test classes (disjoint, checked)."""
    from .data import class_splits, label_ids

    parts = class_splits(dataset, split, seed=seed)
    ids = {part: sorted(label_ids(dataset, getattr(parts, part))) for part in ("train", "val", "test")}
    shared = (set(ids["train"]) | set(ids["val"])) & set(ids["test"]) | set(ids["train"]) & set(ids["val"])
    if shared:
        raise ValueError(f"the class split is not disjoint: classes {sorted(shared)[:5]} are in two meta-splits")
    return ids


def add_label_names(batch: TaskBatch, classes: Tensor, names: Any) -> TaskBatch:
    """Append each class's name to the support set as one more example of that class.

    batch: support_x (T, N*K, D); classes: (T, N) class ids behind labels 0..N-1;
    names: (C, D) label-name features indexed by class id. Returns support (T, N*K + N, D).
    """
    if classes.ndim != 2 or classes.shape[0] != batch.support_y.shape[0]:
        raise ValueError(f"classes must be (T, N) with T = {batch.support_y.shape[0]}, got {tuple(classes.shape)}")
    name_x = names[classes]                                             # (T, N, D)
    name_y = torch.arange(classes.shape[1]).expand(classes.shape[0], -1)
    return TaskBatch(torch.cat([batch.support_x, name_x.to(batch.support_x.dtype)], 1),
                     torch.cat([batch.support_y, name_y], 1), batch.query_x, batch.query_y)


def sample_batch(features: Any, sampler: EpisodeSampler, n_tasks: int,
                 names: Any | None = None) -> tuple[TaskBatch, Tensor]:
    """``n_tasks`` episodes of features, and their classes (T, N); names appended if given."""
    idx, classes = sampler.sample_indices(n_tasks)
    batch = TaskBatch(features[idx.support_x], idx.support_y, features[idx.query_x], idx.query_y)
    if names is not None:
        batch = add_label_names(batch, classes, names)
    return batch, classes


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------
class ResidualMLP(nn.Module):
    """A projection of frozen embeddings that starts as the identity.

    ``z = scale * normalize(x + W2 relu(W1 x + b1) + b2)`` with ``W2 = 0, b2 = 0`` at
    initialisation, so cosine scores at step 0 are those of the raw embeddings (or, with
    ``centre`` = the mean meta-train embedding, ``b2 = -centre``: of the centred ones, the
    training-free "CL2N" of SimpleShot, Wang et al., 2019). Weight decay
    on ``W2`` pulls it back towards the identity. The residual branch is a bottleneck of
    ``hidden`` units (an *adapter*, as in Houlsby et al., 2019): few parameters to adapt per
    task. x: (..., D) -> z: (..., D), |z| = scale.
    """

    def __init__(self, dim: int = 384, hidden: int = 64, scale: float = 1.0, centre: Tensor | None = None) -> None:
        super().__init__()
        self.inner = nn.Linear(dim, hidden)
        self.outer = nn.Linear(hidden, dim)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)
        if centre is not None:             # start from the centred embeddings x - mean
            with torch.no_grad():
                self.outer.bias.copy_(-centre)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * F.normalize(x + self.outer(F.relu(self.inner(x))), dim=-1)


class BowMLP(nn.Module):
    """The from-scratch encoder: hashed n-gram vector -> ReLU MLP -> normalised features.

    x: (..., n_buckets) -> z: (..., out_dim) with |z| = scale.
    """

    def __init__(self, n_buckets: int = 2048, hidden: int = 64, out_dim: int = 64, scale: float = 1.0) -> None:
        super().__init__()
        self.inner = nn.Linear(n_buckets, hidden)
        self.outer = nn.Linear(hidden, out_dim)
        # One N(0, 1) vector per bucket (as word embeddings are initialised) and no bias: a
        # unit-norm input then gives O(1) pre-activations. PyTorch's default 1/sqrt(n_buckets)
        # scale would leave them far below the bias, and every text would look the same.
        nn.init.normal_(self.inner.weight)
        nn.init.zeros_(self.inner.bias)
        nn.init.zeros_(self.outer.bias)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * F.normalize(self.outer(F.relu(self.inner(x))), dim=-1)


BODY_HIDDEN = 64      # hidden units of both networks
BOW_DIM = 64          # the bow network's output width
N_BUCKETS = 2048      # hashed n-gram buckets (4096 or 16384 gain < 1 point of NCM accuracy)


def make_body(encoder: str, in_dim: int, scale: float = 1.0, centre: Tensor | None = None) -> nn.Module:
    """The meta-learned network for an encoder: :class:`ResidualMLP` (minilm, starting at
    ``x - centre`` if given) or :class:`BowMLP` (bow)."""
    if encoder == "minilm":
        return ResidualMLP(in_dim, BODY_HIDDEN, scale, centre)
    if encoder == "bow":
        return BowMLP(in_dim, BODY_HIDDEN, BOW_DIM, scale)
    raise ValueError(f"unknown encoder {encoder!r}; choose one of {ENCODERS}")


# ---------------------------------------------------------------------------------------
# A linear head fitted by gradient descent, batched over tasks, in closed form
# ---------------------------------------------------------------------------------------
def linear_head_step(z: Tensor, y: Tensor, W: Tensor, b: Tensor, lr: float,
                     first_order: bool = False) -> tuple[Tensor, Tensor]:
    """One gradient step of the mean cross-entropy of a linear head, for T tasks at once.

    z: (T, M, d) features; y: (T, M) labels; W: (T, N, d); b: (T, N). For logits
    ``z W^T + b`` the gradient is ``dW = (softmax - onehot)^T z / M``, ``db = mean(softmax - onehot)``.
    Returns the new (W, b). Differentiable (second order) unless ``first_order``.
    """
    p = torch.softmax(z @ W.transpose(1, 2) + b[:, None, :], dim=-1)   # (T, M, N)
    err = (p - F.one_hot(y, W.shape[1]).to(p.dtype)) / z.shape[1]      # (T, M, N)
    dW, db = err.transpose(1, 2) @ z, err.sum(1)
    if first_order:
        dW, db = dW.detach(), db.detach()
    return W - lr * dW, b - lr * db


def fit_linear_head(z: Tensor, y: Tensor, W: Tensor, b: Tensor, lr: float, steps: int,
                    first_order: bool = False) -> tuple[Tensor, Tensor]:
    """``steps`` calls of :func:`linear_head_step` from (W, b): (T, M, d), (T, M) -> (T, N, d), (T, N)."""
    for _ in range(steps):
        W, b = linear_head_step(z, y, W, b, lr, first_order)
    return W, b


# ---------------------------------------------------------------------------------------
# The methods
# ---------------------------------------------------------------------------------------
class Method(nn.Module):
    """What every few-shot method offers. Subclasses set ``name`` and implement ``logits``.

    ``loss(batch)`` is the meta-training loss; ``episodic`` says whether training batches are
    episodes (True) or plain labelled examples (False, the transfer baseline).
    ``eval_tasks`` caps the tasks adapted at once at test time (memory).
    """

    name = "method"
    needs_training = True
    episodic = True
    eval_tasks = 100

    def loss(self, batch: Any) -> Tensor:
        raise NotImplementedError

    def meta_parameters(self) -> list[nn.Parameter]:
        """The parameters the outer loop updates (default: all that require grad)."""
        return [p for p in self.parameters() if p.requires_grad]

    def logits(self, batch: TaskBatch) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, batch: TaskBatch) -> Tensor:
        """(T, N*Q) predicted labels, adapting ``eval_tasks`` tasks at a time."""
        was = self.training
        self.eval()
        try:
            T = batch.support_y.shape[0]
            return torch.cat([self.logits(TaskBatch(*(t[i:i + self.eval_tasks] for t in batch))).argmax(-1)
                              for i in range(0, T, self.eval_tasks)])
        finally:
            self.train(was)

    @staticmethod
    def n_way_of(batch: TaskBatch) -> int:
        return int(batch.support_y.max()) + 1


class NCM(Method):
    """Nearest class mean by cosine on the raw features; nothing to learn."""

    name = "ncm"
    needs_training = False

    def logits(self, batch: TaskBatch) -> Tensor:
        return ncm_logits(batch.query_x, prototypes(batch.support_x, batch.support_y, self.n_way_of(batch)))


class ProtoNet(Method):
    """Prototypical Networks: ``logits = tau * cos(f(x), c_k)`` (or ``-|f(x) - c_k|^2``).

    body: the learned projection f; tau = exp(log_tau) is learned (it changes the loss, not
    the argmax). ``metric="euclidean"`` is Snell et al.'s (2017) squared Euclidean distance;
    on normalised features the two rank classes alike.
    """

    name = "protonet"

    def __init__(self, body: nn.Module, tau: float = 10.0, metric: str = "cosine") -> None:
        super().__init__()
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
        self.body, self.metric = body, metric
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))

    def logits(self, batch: TaskBatch) -> Tensor:
        z_s, z_q = self.body(batch.support_x), self.body(batch.query_x)
        c = prototypes(z_s, batch.support_y, self.n_way_of(batch))
        if self.metric == "euclidean":
            return -torch.cdist(z_q, c) ** 2
        return self.log_tau.exp() * ncm_logits(z_q, c)

    def loss(self, batch: TaskBatch) -> Tensor:
        return F.cross_entropy(self.logits(batch).flatten(0, 1), batch.query_y.flatten())


class Finetune(Method):
    """The transfer baseline (Chen et al., 2019): pretrain, then fit a fresh head per task.

    Pretraining: ordinary cross-entropy over all ``n_classes`` meta-train classes with a
    cosine classifier on ``body``'s features. Test: the body is frozen and a new linear head,
    zero at first, takes ``head_steps`` gradient steps on the support set.
    """

    name = "finetune"
    episodic = False

    def __init__(self, body: nn.Module, n_classes: int, dim: int, head_lr: float = 1.0,
                 head_steps: int = 50, tau: float = 10.0) -> None:
        super().__init__()
        self.body = body
        self.classifier = nn.Parameter(torch.randn(n_classes, dim) * 0.01)
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))
        self.head_lr, self.head_steps = head_lr, head_steps

    def loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        logits = self.log_tau.exp() * F.normalize(self.body(x), dim=-1) @ F.normalize(self.classifier, dim=-1).T
        return F.cross_entropy(logits, y)

    def logits(self, batch: TaskBatch) -> Tensor:
        n_way = self.n_way_of(batch)
        z_s, z_q = self.body(batch.support_x), self.body(batch.query_x)
        T, _, d = z_s.shape
        W, b = fit_linear_head(z_s, batch.support_y, z_s.new_zeros(T, n_way, d), z_s.new_zeros(T, n_way),
                               self.head_lr, self.head_steps, first_order=True)
        return z_q @ W.transpose(1, 2) + b[:, None, :]


class MAMLFamily(Method):
    """MAML, first-order MAML or Reptile on ``body`` followed by a linear N-way head.

    The model is ``nn.Sequential(body, Linear(d, n_way))`` with the head zero at first (so a
    first inner step turns it into a prototype-like classifier); :class:`~metanlp_lite.maml.MAML`
    or :class:`~metanlp_lite.maml.Reptile` adapts *all* its parameters per task, batched over
    tasks.

    The head's *initialisation* stays zero (``learn_head_init=False``): labels are a random
    permutation in every episode, so a learned initial head can only add a bias towards some
    label numbers, and in our runs it made meta-val accuracy fall within a few dozen steps
    (Ye & Chao, 2022, make the same point). The outer loop meta-learns the body.
    """

    def __init__(self, kind: str, body: nn.Module, dim: int, n_way: int, inner_lr: float,
                 inner_steps: int, test_steps: int | None = None, learn_head_init: bool = False) -> None:
        super().__init__()
        if kind not in ("maml", "fomaml", "reptile"):
            raise ValueError(f"kind must be 'maml', 'fomaml' or 'reptile', got {kind!r}")
        self.name, self.n_way = kind, n_way
        head = nn.Linear(dim, n_way)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.model = nn.Sequential(body, head)
        if kind == "reptile":
            self.learner: MAML | Reptile = Reptile(self.model, inner_lr, inner_steps)
        else:
            self.learner = MAML(self.model, inner_lr, inner_steps, first_order=kind == "fomaml")
        self.test_steps = inner_steps if test_steps is None else test_steps
        self.learn_head_init = learn_head_init

    def meta_parameters(self) -> list[nn.Parameter]:
        head = set() if self.learn_head_init else {id(p) for p in self.model[1].parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in head]

    def _check_n_way(self, batch: TaskBatch) -> None:
        if self.n_way_of(batch) != self.n_way:
            raise ValueError(f"{self.name} was built for {self.n_way}-way tasks (its head has {self.n_way} "
                             f"outputs), got a {self.n_way_of(batch)}-way batch")

    def loss(self, batch: TaskBatch) -> Tensor:
        self._check_n_way(batch)
        return self.learner.meta_loss(batch)

    def logits(self, batch: TaskBatch) -> Tensor:
        self._check_n_way(batch)
        with torch.no_grad():
            phi = self.learner.adapt_batch(batch.support_x, batch.support_y, self.test_steps)
            return self.learner.predict_batch(phi, batch.query_x)


class ANIL(Method):
    """ANIL (Raghu et al., 2020): adapt only the last layer; meta-learn everything.

    It is MAML applied to the head alone, whose inputs are ``body``'s features of the task:
    ``MAML(head).meta_loss(TaskBatch(body(sx), sy, body(qx), qy))``. The meta-gradient
    reaches the body through those inputs (second order through the head's inner steps).
    """

    name = "anil"

    def __init__(self, body: nn.Module, dim: int, n_way: int, inner_lr: float, inner_steps: int,
                 test_steps: int | None = None, first_order: bool = False, learn_head_init: bool = False) -> None:
        super().__init__()
        self.body, self.n_way = body, n_way
        self.head = nn.Linear(dim, n_way)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.learner = MAML(self.head, inner_lr, inner_steps, first_order=first_order)
        self.test_steps = inner_steps if test_steps is None else test_steps
        self.learn_head_init = learn_head_init

    def meta_parameters(self) -> list[nn.Parameter]:
        """The body (and the head's initialisation only if ``learn_head_init``; see MAMLFamily)."""
        head = set() if self.learn_head_init else {id(p) for p in self.head.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in head]

    def _features(self, batch: TaskBatch) -> TaskBatch:
        if self.n_way_of(batch) != self.n_way:
            raise ValueError(f"anil was built for {self.n_way}-way tasks, got a {self.n_way_of(batch)}-way batch")
        return TaskBatch(self.body(batch.support_x), batch.support_y, self.body(batch.query_x), batch.query_y)

    def loss(self, batch: TaskBatch) -> Tensor:
        return self.learner.meta_loss(self._features(batch))

    def logits(self, batch: TaskBatch) -> Tensor:
        with torch.no_grad():
            b = self._features(batch)
            phi = self.learner.adapt_batch(b.support_x, b.support_y, self.test_steps)
            return self.learner.predict_batch(phi, b.query_x)


class ProtoMAML(Method):
    """Proto-MAML (Triantafillou et al., 2020): MAML whose head starts from the prototypes.

    For each task the head is set to ``W_k = 2 c_k, b_k = -|c_k|^2`` (c_k the class means of
    the support features under the current body), which makes its logits
    ``-|z - c_k|^2 + |z|^2``: a Prototypical Network. Then body and head take ``inner_steps``
    gradient steps on the support set (vmapped over tasks). The meta-gradient reaches the
    body through the prototypes too; ``first_order=True`` (the default, "fo-Proto-MAML")
    drops only the second-order terms of the inner steps.
    """

    name = "protomaml"

    def __init__(self, body: nn.Module, inner_lr: float, inner_steps: int, test_steps: int | None = None,
                 first_order: bool = True) -> None:
        super().__init__()
        self.body = body
        self.inner_lr, self.inner_steps, self.first_order = inner_lr, inner_steps, first_order
        self.test_steps = inner_steps if test_steps is None else test_steps

    def _task_logits(self, params: dict[str, Tensor], W: Tensor, b: Tensor, x: Tensor) -> Tensor:
        return functional_call(self.body, params, (x,)) @ W.T + b

    def _adapted_logits(self, batch: TaskBatch, steps: int, first_order: bool) -> Tensor:
        n_way = self.n_way_of(batch)
        theta = dict(self.body.named_parameters())

        protos = prototypes(self.body(batch.support_x), batch.support_y, n_way)           # (T, N, d)

        def one_task(sx: Tensor, sy: Tensor, qx: Tensor, c: Tensor) -> Tensor:
            params = {"body": theta, "W": 2 * c, "b": -(c * c).sum(-1)}

            def support_loss(p: dict[str, Any]) -> Tensor:
                return F.cross_entropy(self._task_logits(p["body"], p["W"], p["b"], sx), sy)

            for _ in range(steps):
                at = {"body": {n: t.detach() for n, t in params["body"].items()},
                      "W": params["W"].detach(), "b": params["b"].detach()} if first_order else params
                g = grad(support_loss)(at)
                params = {"body": {n: t - self.inner_lr * g["body"][n] for n, t in params["body"].items()},
                          "W": params["W"] - self.inner_lr * g["W"], "b": params["b"] - self.inner_lr * g["b"]}
            return self._task_logits(params["body"], params["W"], params["b"], qx)

        return vmap(one_task, randomness="different")(batch.support_x, batch.support_y, batch.query_x, protos)

    def loss(self, batch: TaskBatch) -> Tensor:
        logits = self._adapted_logits(batch, self.inner_steps, self.first_order)
        return F.cross_entropy(logits.flatten(0, 1), batch.query_y.flatten())

    def logits(self, batch: TaskBatch) -> Tensor:
        with torch.no_grad():
            return self._adapted_logits(batch, self.test_steps, True)


# Hyper-parameters per method and encoder, chosen by hand on meta-val accuracy (BANKING77
# split 01 and CLINC150's domains, 5-way 1- and 5-shot, quick budget) among a few values of
# the learning rates and the feature scale. The number of meta-training steps is set by the
# budget: STEPS["quick"] (the notebook's default run) or STEPS["full"].
_COMMON = {"lr": 1e-3, "weight_decay": 1e-2, "meta_batch": 16}
_MAML = {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 1, "test_steps": 3, "lr": 3e-4}
HYPERPARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "ncm": {"minilm": {}, "bow": {}},
    "finetune": {"minilm": {"meta_batch": 128, "head_lr": 10.0, "head_steps": 30},
                 "bow": {"meta_batch": 128, "head_lr": 10.0, "head_steps": 30, "lr": 3e-3}},
    "protonet": {"minilm": {}, "bow": {"lr": 3e-3}},
    "maml": {"minilm": dict(_MAML), "bow": {**_MAML, "lr": 1e-3}},
    "fomaml": {"minilm": dict(_MAML), "bow": {**_MAML, "lr": 1e-3}},
    "reptile": {"minilm": {**_MAML, "inner_steps": 3, "lr": 1e-3}, "bow": {**_MAML, "inner_steps": 3, "lr": 3e-3}},
    "anil": {"minilm": {"scale": 5.0, "inner_lr": 1.0, "inner_steps": 3, "test_steps": 5},
             "bow": {"scale": 5.0, "inner_lr": 1.0, "inner_steps": 3, "test_steps": 5, "lr": 3e-3}},
    "protomaml": {"minilm": {"scale": 3.0, "inner_lr": 0.1, "inner_steps": 1, "test_steps": 1},
                  "bow": {"scale": 3.0, "inner_lr": 0.1, "inner_steps": 1, "test_steps": 1, "lr": 3e-3}},
}
STEPS = {"quick": 60, "full": 600}
VAL_EPISODES = {"quick": 100, "full": 300}
EVAL_EVERY = {"quick": 20, "full": 50}


def hyperparams(method: str, encoder: str, **overrides: Any) -> dict[str, Any]:
    """The hyper-parameters of ``method`` on ``encoder`` (see HYPERPARAMS), with ``overrides``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    return {**_COMMON, **HYPERPARAMS[method][encoder], **overrides}


def build_method(method: str, encoder: str, in_dim: int, *, n_way: int = 5, n_classes: int = 0,
                 seed: int = 0, centre: Tensor | None = None, **overrides: Any) -> Method:
    """A fresh, seeded :class:`Method` by name. in_dim: the feature width (384 or n_buckets);
    n_classes: the meta-train classes (for ``finetune``'s pretraining classifier); centre:
    the mean meta-train embedding, where the MiniLM adapter starts (None: the raw embeddings)."""
    hp = hyperparams(method, encoder, **overrides)
    torch.manual_seed(seed)
    if method == "ncm":
        return NCM()
    body = make_body(encoder, in_dim, hp.get("scale", 1.0), centre)
    dim = in_dim if encoder == "minilm" else BOW_DIM
    if method == "protonet":
        return ProtoNet(body)
    if method == "finetune":
        if n_classes < 2:
            raise ValueError(f"finetune pretrains a classifier over the meta-train classes: n_classes must be >= 2, got {n_classes}")
        return Finetune(body, n_classes, dim, hp["head_lr"], hp["head_steps"])
    if method in ("maml", "fomaml", "reptile"):
        m = MAMLFamily(method, body, dim, n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                       learn_head_init=hp.get("learn_head_init", False))
    elif method == "anil":
        m = ANIL(body, dim, n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                 learn_head_init=hp.get("learn_head_init", False))
    else:
        m = ProtoMAML(body, hp["inner_lr"], hp["inner_steps"], hp["test_steps"])
    if encoder == "bow" and method in ("maml", "fomaml", "reptile", "protomaml"):
        m.eval_tasks = 50    # every task holds its own copy of the 2048 x 64 first layer
    return m


# ---------------------------------------------------------------------------------------
# Meta-training with model selection on meta-val
# ---------------------------------------------------------------------------------------
class TrainLog(NamedTuple):
    """What :func:`meta_train` did: val accuracy (percent) at each checked step (0 included),
    the training loss of every step, the step kept and its val accuracy, the seconds taken, and
    the accuracy on the ``monitor`` pool at each checked step (empty without one)."""

    steps: list[int]
    val_acc: list[float]
    losses: list[float]
    best_step: int
    best_val: float
    seconds: float
    monitor_acc: list[float]


def _val_batches(val: Pool, n_way: int, shots: Sequence[int], n_episodes: int, seed: int) -> list[TaskBatch]:
    """Fixed meta-val episodes, split evenly between the ``shots`` (at most 100 tasks a batch)."""
    batches = []
    for j, k in enumerate(shots):
        sampler = val.sampler(n_way, k, 15, seed=seed + k)
        n = n_episodes // len(shots) + (j < n_episodes % len(shots))
        batches += [sample_batch(val.features, sampler, min(100, n - i))[0] for i in range(0, n, 100)]
    return batches


def _supervised_batch(train: Pool, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random labelled utterances of the meta-train classes, labels renumbered 0..C-1."""
    keep = torch.isin(train.labels, torch.as_tensor(train.classes))
    rows = torch.nonzero(keep).flatten()
    remap = torch.full((int(train.labels.max()) + 1,), -1, dtype=torch.long)
    remap[torch.as_tensor(train.classes)] = torch.arange(len(train.classes))
    pick = rows[torch.randint(len(rows), (size,), generator=generator)]
    return train.features[pick], remap[train.labels[pick]]


def meta_train(method: Method, train: Pool, val: Pool, *, n_way: int = 5, train_shots: Sequence[int] = (1, 5),
               n_query: int = 15, steps: int = 100, meta_batch: int = 16, lr: float = 1e-3,
               weight_decay: float = 0.0, eval_every: int = 25, val_episodes: int = 100, seed: int = 0,
               show_progress: bool = True, desc: str | None = None, monitor: Pool | None = None,
               **_: Any) -> TrainLog:
    """Meta-train ``method`` on ``train``'s classes; keep the parameters best on ``val``'s.

    Each step draws ``meta_batch`` episodes of ``n_way`` classes (cycling through
    ``train_shots`` shots, 15 queries per class), or for the transfer baseline ``meta_batch``
    labelled utterances, and takes one AdamW step (weight decay on matrices only, so a
    residual projection is pulled towards the identity). Every ``eval_every`` steps, and at
    step 0, the method is scored on the same ``val_episodes`` meta-val episodes (split
    evenly between the ``train_shots``, 15 queries per class);
    the best checkpoint (the earliest among ties) is loaded at the end. Methods without
    parameters are returned as they are. ``monitor``: a pool (e.g. meta-test) whose accuracy
    on 100 1-shot episodes is recorded at every check, for plots only: it never chooses anything.
    """
    start = time.perf_counter()
    if not method.needs_training or steps == 0:
        return TrainLog([0], [], [], 0, float("nan"), time.perf_counter() - start, [])
    val_set = _val_batches(val, n_way, train_shots, val_episodes, seed + 1)

    mon_set = _val_batches(monitor, n_way, (1,), 100, seed + 2) if monitor is not None else []

    def val_acc(batches: list[TaskBatch] = val_set) -> float:
        return torch.cat([accuracy(method.predict(b), b.query_y) for b in batches]).mean().item()

    samplers = [train.sampler(n_way, k, n_query, seed=seed + 100 + k) for k in train_shots]
    gen = torch.Generator().manual_seed(seed + 7)
    decay = [p for p in method.meta_parameters() if p.ndim >= 2]
    other = [p for p in method.meta_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": other, "weight_decay": 0.0}], lr=lr)
    checked, accs, losses = [0], [val_acc()], []
    monitored = [val_acc(mon_set)] if mon_set else []
    best_state, best_acc, best_step = copy.deepcopy(method.state_dict()), accs[0], 0
    bar = progress(range(1, steps + 1), desc=desc or f"meta-training {method.name}", disable=not show_progress)
    method.train()
    for step in bar:
        if method.episodic:
            batch, _ = sample_batch(train.features, samplers[step % len(samplers)], meta_batch)
        else:
            batch = _supervised_batch(train, meta_batch, gen)
        opt.zero_grad(set_to_none=True)
        loss = method.loss(batch)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            checked.append(step)
            accs.append(val_acc())
            if mon_set:
                monitored.append(val_acc(mon_set))
            if accs[-1] > best_acc:
                best_state, best_acc, best_step = copy.deepcopy(method.state_dict()), accs[-1], step
    bar.close()
    method.load_state_dict(best_state)
    return TrainLog(checked, accs, losses, best_step, best_acc, time.perf_counter() - start, monitored)


def evaluate_method(method: Method, pool: Pool, *, n_way: int = 5, k_shot: int = 1, n_query: int = 15,
                    episodes: int = 600, label_names: bool = False, seed: int = 0,
                    show_progress: bool = True, desc: str | None = None) -> Tensor:
    """Per-episode accuracies (percent) of ``method`` on ``episodes`` seeded episodes of ``pool``.

    The episodes depend only on the pool, N, K, Q and the seed: every method sees the same ones.
    """
    sampler = pool.sampler(n_way, k_shot, n_query, seed=seed)
    return evaluate(method.predict, sampler, pool.features, episodes,
                    tasks_per_batch=100, desc=desc or f"{method.name} {n_way}-way {k_shot}-shot",
                    show_progress=show_progress, names=pool.names if label_names else None)


# ---------------------------------------------------------------------------------------
# One reproducible run, and the command line
# ---------------------------------------------------------------------------------------
CENTRE = True   # the MiniLM adapter starts from the embeddings centred on the meta-train mean


def train_mean(pool: Pool) -> Tensor:
    """The mean feature vector of the pool's classes' utterances: (D,)."""
    rows = torch.nonzero(torch.isin(pool.labels, torch.as_tensor(pool.classes))).flatten()
    return pool.features[rows].mean(0)


def train_for(method: str, encoder: str, pools: dict[str, Pool], *, n_way: int = 5, budget: str = "full",
              seed: int = 0, steps: int | None = None, show_progress: bool = True, monitor: Pool | None = None,
              **overrides: Any) -> tuple[Method, TrainLog]:
    """Build ``method`` for ``encoder`` and meta-train it on ``pools["train"]``, selecting on
    ``pools["val"]``, with the ``budget``'s number of steps (or ``steps``)."""
    if budget not in STEPS:
        raise ValueError(f"budget must be one of {sorted(STEPS)}, got {budget!r}")
    train = pools["train"]
    in_dim = train.features.shape[1]
    centre = train_mean(train) if encoder == "minilm" and CENTRE else None
    m = build_method(method, encoder, in_dim, n_way=n_way, n_classes=len(train.classes), seed=seed,
                     centre=centre, **overrides)
    hp = hyperparams(method, encoder, **overrides)
    log = meta_train(m, train, pools["val"], n_way=n_way, steps=STEPS[budget] if steps is None else steps,
                     eval_every=EVAL_EVERY[budget], val_episodes=VAL_EPISODES[budget], seed=seed,
                     show_progress=show_progress, desc=f"meta-training {method} ({encoder})", monitor=monitor, **hp)
    return m, log


def run(data: str, method: str, encoder: str = "minilm", *, split: str | None = None,
        test_data: str | None = None, test_split: str | None = None, n_way: int = 5, k_shot: int = 1,
        n_query: int = 15, episodes: int = 600, label_names: bool = False, seed: int = 0,
        budget: str = "full", steps: int | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Meta-train (if the method needs it) and evaluate; returns the result as a dict.

    data: "clinc150", "banking77" or a CSV/JSONL path; split: its class split (see
    :func:`~metanlp_lite.data.class_splits`). test_data: meta-test on another dataset's test
    classes (e.g. meta-train on CLINC150, meta-test on BANKING77). Keys of the result: mean,
    ci95 (percent), episodes, settings, best_step, val_acc, seconds.
    """
    from .data import load_intents

    start = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    pools = make_pools(load_intents(data), encoder, split, seed=seed, show_progress=show_progress)
    if len(pools["val"].classes) < n_way and method != "ncm":
        raise ValueError(f"meta-val has {len(pools['val'].classes)} classes, fewer than n_way={n_way}: "
                         "lower --n-way or use a split with more classes")
    model, log = train_for(method, encoder, pools, n_way=n_way, budget=budget, seed=seed, steps=steps,
                           show_progress=show_progress)
    test = pools["test"] if test_data is None else make_pools(
        load_intents(test_data), encoder, test_split, seed=seed, show_progress=show_progress)["test"]
    accs = evaluate_method(model, test, n_way=n_way, k_shot=k_shot, n_query=n_query, episodes=episodes,
                           label_names=label_names, seed=seed, show_progress=show_progress)
    mean, ci = mean_ci95(accs)
    settings = {"data": str(data), "split": split, "test_data": test_data, "test_split": test_split,
                "method": method, "encoder": encoder, "label_names": label_names, "n_way": n_way,
                "k_shot": k_shot, "n_query": n_query, "episodes": episodes, "seed": seed, "budget": budget,
                "train_steps": (STEPS[budget] if steps is None else steps) if model.needs_training else 0}
    return {"mean": round(mean, 2), "ci95": round(ci, 2), "settings": settings,
            "best_step": log.best_step, "val_acc": None if math.isnan(log.best_val) else round(log.best_val, 2),
            "n_classes": {p: len(pools[p].classes) for p in ("train", "val")} | {"test": len(test.classes)},
            "seconds": round(time.perf_counter() - start, 1)}


def command(method: str, encoder: str, data: str, *, split: str | None = None, test_data: str | None = None,
            k_shot: int = 1, label_names: bool = False, episodes: int = 600, seed: int = 0,
            budget: str = "full", n_way: int = 5) -> str:
    """The shell command that reproduces one number of :func:`run`."""
    parts = ["python -m metanlp_lite.fewshot", f"--data {data}"]
    if split:
        parts.append(f"--split {split}")
    if test_data:
        parts.append(f"--test-data {test_data}")
    parts += [f"--method {method}", f"--encoder {encoder}"]
    if label_names:
        parts.append("--label-names")
    parts += [f"--n-way {n_way}", f"--k-shot {k_shot}", f"--episodes {episodes}", f"--seed {seed}"]
    if budget != "full":
        parts.append(f"--budget {budget}")
    return " ".join(parts)


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``, with a clear message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a number >= {low}, got {value}")
        return value

    return parse


_positive_int, _nonnegative_int = _int_at_least(1), _int_at_least(0)


def main(argv: list[str] | None = None) -> int:
    """``python -m metanlp_lite.fewshot ...``: one JSON line on stdout, progress on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m metanlp_lite.fewshot",
        description="Meta-train a few-shot text classifier (if the method needs it) and evaluate it on "
                    "meta-test episodes; prints one JSON line with mean and ci95 (percent).")
    parser.add_argument("--data", required=True, help="clinc150, banking77, or a .csv/.jsonl file of text and label")
    parser.add_argument("--split", default=None, help="class split: domains (CLINC150, its default), "
                        "01..05 (published splits; BANKING77's default is 01) or random (a file's default)")
    parser.add_argument("--test-data", default=None, help="meta-test on this dataset's test classes instead "
                        "(cross-domain, e.g. --data clinc150 --test-data banking77)")
    parser.add_argument("--test-split", default=None, help="the class split of --test-data")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--encoder", default="minilm", choices=ENCODERS)
    parser.add_argument("--label-names", action="store_true", help="add each class's name to its support set")
    parser.add_argument("--n-way", type=_positive_int, default=5)
    parser.add_argument("--k-shot", type=_positive_int, default=1)
    parser.add_argument("--n-query", type=_positive_int, default=15)
    parser.add_argument("--episodes", type=_positive_int, default=600, help="meta-test episodes (>= 2)")
    parser.add_argument("--seed", type=_nonnegative_int, default=0)
    parser.add_argument("--budget", choices=sorted(STEPS), default="full",
                        help=f"meta-training length: quick ({STEPS['quick']} steps, the notebook's default run) "
                             f"or full ({STEPS['full']} steps)")
    parser.add_argument("--steps", type=_nonnegative_int, default=None, help="meta-training steps (overrides --budget)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.n_way < 2:
        parser.error(f"argument --n-way: a task needs at least 2 classes, got {args.n_way}")
    if args.episodes < 2:
        parser.error(f"argument --episodes: an interval needs at least 2 episodes, got {args.episodes}")
    try:
        result = run(args.data, args.method, args.encoder, split=args.split, test_data=args.test_data,
                     test_split=args.test_split, n_way=args.n_way, k_shot=args.k_shot, n_query=args.n_query,
                     episodes=args.episodes, label_names=args.label_names, seed=args.seed, budget=args.budget,
                     steps=args.steps, show_progress=not args.quiet)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
