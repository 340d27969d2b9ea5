"""The networks that methods meta-learn ("bodies"): features in, comparable vectors out.

- :class:`ResidualMLP`, for frozen MiniLM embeddings: a *residual adapter* that starts as the
  identity (``z = normalize(x + W2 relu(W1 x))`` with ``W2 = 0``), so every method starts
  from the training-free baseline, weight decay pulls it back towards the identity, and model
  selection on meta-val episodes (step 0 included) keeps the identity if training does not help.
- :class:`BowMLP`, for hashed n-grams: the from-scratch encoder, an MLP.
- :class:`TransformerBody`, for the ``minilm-block`` encoder: the last Transformer layer of
  all-MiniLM-L6-v2 itself (with its mean pooling and normalisation), on the frozen bottom's
  token states; optionally with low-rank fast weights.
- :func:`make_body`: the body of an encoder by name, as :func:`~metanlp_lite.fewshot.methods.build_method`
  uses it; a new encoder adds its branch here.

Taught in notebook 04, sections 3 ("The methods": the adapter's formula) and 4 ("A pitfall:
a learned projection that makes a good encoder worse": why it starts as the identity).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import transformer as tr
from ..reproducible import init_linear_, normal, uniform
from .features import BLOCK_LAYERS, ENCODERS

__all__ = ["ResidualMLP", "BowMLP", "TransformerBody", "make_body", "length_chunks", "BODY_HIDDEN", "BOW_DIM",
           "N_BUCKETS"]


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


class TransformerBody(nn.Module):
    """The top of all-MiniLM-L6-v2 as a body: token states in, sentence vectors out.

    Holds a copy of the encoder's last ``n_layers`` layers (``layers.0.attention.self.query.weight``
    (384, 384), ..., 16 tensors and 1.8 M numbers a layer), run by
    :func:`metanlp_lite.transformer.bert_layer`, then mean pooling and L2 normalisation as the
    encoder does, then ``z = scale * normalize(e - centre)`` (``centre``: the mean meta-train
    embedding, the "CL2N" start of the MiniLM adapter; None: zero). At initialisation ``e`` is the
    encoder's own embedding, so every method starts from the training-free baseline.

    x: (..., L, 385) packed token states (:func:`metanlp_lite.transformer.pack`, as
    :class:`~metanlp_lite.transformer.TokenStates` returns them) -> z: (..., 384), |z| = scale.
    ``lora``: optional low-rank factors (:func:`~metanlp_lite.transformer.lora_params`, keys
    ``layer.<i>.<weight>.lora_A/B`` with the encoder's layer numbers) added to the layers' weights.
    """

    def __init__(self, encoder: Any, n_layers: int = BLOCK_LAYERS, scale: float = 1.0,
                 centre: Tensor | None = None) -> None:
        super().__init__()
        bert = tr.bert_of(encoder)
        total = bert.config.num_hidden_layers
        self.first = total - tr.check_n_layers(n_layers, bert)
        self.layers = nn.ModuleList(copy.deepcopy(bert.encoder.layer[i]) for i in range(self.first, total))
        self.n_heads, self.eps = bert.config.num_attention_heads, bert.config.layer_norm_eps
        self._names = [n for n, _ in self.layers[0].named_parameters()]
        self.register_buffer("centre", torch.zeros(bert.config.hidden_size) if centre is None else centre.clone().float())
        self.scale = scale
        self.chunk, self.chunk_tokens = 32, 1024    # at most 32 texts and 1024 token slots a chunk (see forward)

    def layer_params(self, j: int) -> dict[str, Tensor]:
        """Layer j's parameters by name, read by attribute (so ``functional_call`` can swap them)."""
        out = {}
        for name in self._names:
            obj = self.layers[j]
            for part in name.split("."):
                obj = getattr(obj, part)
            out[name] = obj
        return out

    def forward(self, x: Tensor, lora: dict[str, Tensor] | None = None) -> Tensor:
        hidden, mask = tr.unpack(x)
        lead, (T, D) = hidden.shape[:-2], hidden.shape[-2:]
        h, m = hidden.reshape(-1, T, D), mask.reshape(-1, T)
        if not torch._C._functorch.is_batchedtensor(x) and h.shape[0] * T > self.chunk_tokens:
            # run the texts sorted by length, each chunk cut to its longest text (an episode batch
            # is padded to its longest text, ~6x the real tokens on BANKING77) and holding at most
            # chunk_tokens token slots (fewer long texts a chunk: attention's memory grows as L^2);
            # not under vmap, where every task must have the same shape
            lengths = m.sum(-1).long().clamp(min=1)
            out = h.new_empty(h.shape[0], D)
            for rows in length_chunks(lengths, self.chunk, self.chunk_tokens):
                L = int(lengths[rows[-1]])
                out[rows] = self._pooled(h[rows, :L], m[rows, :L], lora)
        else:
            out = self._pooled(h, m, lora)
        return self.scale * F.normalize(out - self.centre.to(out.dtype), dim=-1).reshape(*lead, D)

    def _pooled(self, h: Tensor, m: Tensor, lora: dict[str, Tensor] | None) -> Tensor:
        """The layers, mean pooling and normalisation: (n, L, D), (n, L) -> the encoder's embeddings (n, D)."""
        for j in range(len(self.layers)):
            p = self.layer_params(j)
            if lora:
                prefix = f"layer.{self.first + j}."
                p = tr.with_lora(p, {k[len(prefix):]: v for k, v in lora.items() if k.startswith(prefix)})
            h = tr.bert_layer(p, h, m, n_heads=self.n_heads, eps=self.eps)
        return F.normalize(tr.mean_pool(h, m), dim=-1)


def length_chunks(lengths: Tensor, max_texts: int, max_tokens: int) -> list[Tensor]:
    """Texts in chunks, shortest first, to be run padded to each chunk's longest text.

    lengths: (n,) tokens per text. Returns index tensors (into ``lengths``), in ascending order of
    length, each with at most ``max_texts`` texts and at most ``max_tokens`` token slots (texts
    times the chunk's longest; a text longer than that goes alone). Padding to a chunk's longest
    text rather than the batch's, with fewer long texts a chunk, bounds the memory one chunk
    needs (attention's grows as length squared)."""
    order = torch.argsort(lengths, stable=True)
    sorted_lengths = lengths[order].tolist()
    chunks, s = [], 0
    while s < len(order):
        e = s + 1
        while e < len(order) and e - s < max_texts and (e + 1 - s) * sorted_lengths[e] <= max_tokens:
            e += 1
        chunks.append(order[s:e])
        s = e
    return chunks


BODY_HIDDEN = 64      # hidden units of both networks
BOW_DIM = 64          # the bow network's output width
N_BUCKETS = 2048      # hashed n-gram buckets (4096 or 16384 gain < 1 point of NCM accuracy)


def make_body(encoder: str, in_dim: int, scale: float = 1.0, centre: Tensor | None = None,
              seed: int = 0) -> nn.Module:
    """The meta-learned network for an encoder: :class:`ResidualMLP` (minilm, starting at
    ``x - centre`` if given), :class:`BowMLP` (bow), initialised from ``seed``, or
    :class:`TransformerBody` (minilm-block, the encoder's last layer; loads the encoder)."""
    if encoder == "minilm-block":
        from ..text import load_encoder

        return TransformerBody(load_encoder(), BLOCK_LAYERS, scale, centre)
    if encoder == "minilm":
        return ResidualMLP(in_dim, BODY_HIDDEN, scale, centre, seed=seed)
    if encoder == "bow":
        return BowMLP(in_dim, BODY_HIDDEN, BOW_DIM, scale, seed=seed)
    raise ValueError(f"unknown encoder {encoder!r}; choose one of {ENCODERS}")
