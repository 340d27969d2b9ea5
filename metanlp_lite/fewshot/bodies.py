"""The networks that methods meta-learn ("bodies"): features in, comparable vectors out.

- :class:`ResidualMLP`, for frozen MiniLM embeddings: a *residual adapter* that starts as the
  identity (``z = normalize(x + W2 relu(W1 x))`` with ``W2 = 0``), so every method starts
  from the training-free baseline, weight decay pulls it back towards the identity, and model
  selection on meta-val episodes (step 0 included) keeps the identity if training does not help.
- :class:`BowMLP`, for hashed n-grams: the from-scratch encoder, an MLP.
- :func:`make_body`: the body of an encoder by name, as :func:`~metanlp_lite.fewshot.methods.build_method`
  uses it; a new encoder adds its branch here.

Taught in notebook 04, sections 3 ("The methods": the adapter's formula) and 4 ("A pitfall:
a learned projection that makes a good encoder worse": why it starts as the identity).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..reproducible import init_linear_, normal, uniform
from .features import ENCODERS

__all__ = ["ResidualMLP", "BowMLP", "make_body", "BODY_HIDDEN", "BOW_DIM", "N_BUCKETS"]


class ResidualMLP(nn.Module):
    """A projection of frozen embeddings that starts as the identity.

    ``z = scale * normalize(x + W2 relu(W1 x + b1) + b2)`` with ``W2 = 0, b2 = 0`` at
    initialisation, so cosine scores at step 0 are those of the raw embeddings (or, with
    ``centre`` = the mean meta-train embedding, ``b2 = -centre``: of the centred ones, the
    training-free "CL2N" of SimpleShot, Wang et al., 2019). Weight decay
    on ``W2`` pulls it back towards the identity. The residual branch is a bottleneck of
    ``hidden`` units (an *adapter*, as in Houlsby et al., 2019): few parameters to adapt per
    task. x: (..., D) -> z: (..., D), |z| = scale. ``seed``: of W1, b1 (PyTorch's default
    range, drawn the same on every CPU by :func:`~metanlp_lite.reproducible.init_linear_`).
    """

    def __init__(self, dim: int = 384, hidden: int = 64, scale: float = 1.0, centre: Tensor | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        self.inner = init_linear_(nn.Linear(dim, hidden), seed)
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

    x: (..., n_buckets) -> z: (..., out_dim) with |z| = scale. ``seed``: of the random weights,
    drawn the same on every CPU (:mod:`metanlp_lite.reproducible`).
    """

    def __init__(self, n_buckets: int = 2048, hidden: int = 64, out_dim: int = 64, scale: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__()
        self.inner = nn.Linear(n_buckets, hidden)
        self.outer = nn.Linear(hidden, out_dim)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            # One N(0, 1) vector per bucket (as word embeddings are initialised) and no bias: a
            # unit-norm input then gives O(1) pre-activations. PyTorch's default 1/sqrt(n_buckets)
            # scale would leave them far below the bias, and every text would look the same.
            self.inner.weight.copy_(normal(self.inner.weight.shape, 1.0, gen))
            self.outer.weight.copy_(uniform(self.outer.weight.shape, 1 / math.sqrt(hidden), gen))
        nn.init.zeros_(self.inner.bias)
        nn.init.zeros_(self.outer.bias)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * F.normalize(self.outer(F.relu(self.inner(x))), dim=-1)


BODY_HIDDEN = 64      # hidden units of both networks
BOW_DIM = 64          # the bow network's output width
N_BUCKETS = 2048      # hashed n-gram buckets (4096 or 16384 gain < 1 point of NCM accuracy)


def make_body(encoder: str, in_dim: int, scale: float = 1.0, centre: Tensor | None = None,
              seed: int = 0) -> nn.Module:
    """The meta-learned network for an encoder: :class:`ResidualMLP` (minilm, starting at
    ``x - centre`` if given) or :class:`BowMLP` (bow), initialised from ``seed``."""
    if encoder == "minilm":
        return ResidualMLP(in_dim, BODY_HIDDEN, scale, centre, seed=seed)
    if encoder == "bow":
        return BowMLP(in_dim, BODY_HIDDEN, BOW_DIM, scale, seed=seed)
    raise ValueError(f"unknown encoder {encoder!r}; choose one of {ENCODERS}")
