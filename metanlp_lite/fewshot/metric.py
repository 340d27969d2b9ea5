"""Metric-based few-shot methods: class prototypes, nearest class mean, Prototypical Networks.

- the building blocks :func:`prototypes` (the class means of a support set), :func:`ncm_logits`
  (cosine similarity to each prototype) and :func:`ncm_predict`, taught in notebook 00,
  section 4 ("The nearest-class-mean baseline");
- ``ncm`` (:class:`NCM`): nearest class mean by cosine on the raw features (no training at all);
- ``protonet`` (:class:`ProtoNet`): Prototypical Networks (Snell et al., 2017) with a learned
  projection, cosine similarity and a learned temperature.

Both are methods of notebook 04, section 3 ("The methods"); :mod:`~metanlp_lite.fewshot.maml_family`'s
Proto-MAML starts its head from :func:`prototypes`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..episodes import TaskBatch
from .base import BLOCK_HYPERPARAMS, BuildSpec, Method, register
from .bodies import make_body

__all__ = ["prototypes", "ncm_logits", "ncm_predict", "NCM", "ProtoNet"]


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


@register("ncm", column=0, hyperparams={"minilm": {}, "bow": {}, "minilm-block": {}})
class NCM(Method):
    """Nearest class mean by cosine on the raw features; nothing to learn.

    body: an untrained network that makes the features first (for ``minilm-block``, the
    encoder's last layer, so that token states become the encoder's embeddings); None: none.
    """

    name = "ncm"
    needs_training = False
    adapts_body = False

    def __init__(self, body: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body

    @classmethod
    def build(cls, spec: BuildSpec) -> NCM:
        """No body on embeddings; on ``minilm-block`` the encoder's own last layer, untrained and uncentred."""
        return cls(make_body(spec.encoder, spec.in_dim)) if spec.encoder == "minilm-block" else cls()

    def logits(self, batch: TaskBatch) -> Tensor:
        sx, qx = (batch.support_x, batch.query_x) if self.body is None else (self.body(batch.support_x), self.body(batch.query_x))
        return ncm_logits(qx, prototypes(sx, batch.support_y, self.n_way_of(batch)))


@register("protonet", column=2, hyperparams={"minilm": {}, "bow": {"lr": 3e-3}, "minilm-block": {**BLOCK_HYPERPARAMS}})
class ProtoNet(Method):
    """Prototypical Networks: ``logits = tau * cos(f(x), c_j)`` (or ``-|f(x) - c_j|^2``).

    body: the learned projection f; tau = exp(log_tau) is learned (it changes the loss, not
    the argmax). ``metric="euclidean"`` is Snell et al.'s (2017) squared Euclidean distance;
    on normalised features the two rank classes alike.
    """

    name = "protonet"
    adapts_body = False

    def __init__(self, body: nn.Module, tau: float = 10.0, metric: str = "cosine") -> None:
        super().__init__()
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
        self.body, self.metric = body, metric
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))

    @classmethod
    def build(cls, spec: BuildSpec) -> ProtoNet:
        return cls(spec.body())

    def logits(self, batch: TaskBatch) -> Tensor:
        z_s, z_q = self.body(batch.support_x), self.body(batch.query_x)
        c = prototypes(z_s, batch.support_y, self.n_way_of(batch))
        if self.metric == "euclidean":
            return -torch.cdist(z_q, c) ** 2
        return self.log_tau.exp() * ncm_logits(z_q, c)

    def loss(self, batch: TaskBatch) -> Tensor:
        return F.cross_entropy(self.logits(batch).flatten(0, 1), batch.query_y.flatten())
