"""What a few-shot method is, and how one joins the registry.

A *method* maps a :class:`~metanlp_lite.episodes.TaskBatch` of features to query scores. All
methods share three calls, defined by :class:`Method`: ``loss(batch)`` (what meta-training
minimises), ``logits(batch)`` (T, N*Q, N) after adapting to each task's support set, and
``predict(batch)`` (their argmax).

A method joins the registry with one :func:`register` next to its class: its name, its
hyper-parameters per encoder and its column in notebook 04's tables (none for a method that
needs a Transformer layer, notebook 05). The class builds itself from a :class:`BuildSpec`
(``Method.build``). :mod:`metanlp_lite.fewshot.methods` reads the registry: :data:`METHODS`,
:data:`HYPERPARAMS`, :func:`~metanlp_lite.fewshot.methods.build_method`.

The methods themselves, one family per module: :mod:`~metanlp_lite.fewshot.metric` (nearest
class mean, Prototypical Networks), :mod:`~metanlp_lite.fewshot.finetune` (the transfer
baseline), :mod:`~metanlp_lite.fewshot.maml_family` (MAML and its relatives). Taught in
notebook 04, section 3 ("The methods").
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor, nn

from ..episodes import TaskBatch
from .bodies import BOW_DIM, make_body
from .features import ENCODERS

__all__ = ["Method", "BuildSpec", "Registration", "REGISTRY", "register", "BLOCK_HYPERPARAMS"]

# minilm-block: the pretrained layer is fine-tuned gently (small lr, no weight decay towards 0),
# on small meta-batches with 5 queries a class (a Transformer layer costs ~100x an adapter);
# checkpoints are chosen on meta-val episodes of the meta-test's shape, 1-shot (on mixed 1- and
# 5-shot ones meta-val sits near 95% and barely tells checkpoints apart).
# Every method's "minilm-block" hyper-parameters end with these.
BLOCK_HYPERPARAMS: dict[str, Any] = {"lr": 3e-5, "weight_decay": 0.0, "meta_batch": 4, "n_query": 5,
                                     "val_shots": (1,)}


class BuildSpec(NamedTuple):
    """What :func:`~metanlp_lite.fewshot.methods.build_method` knows when a class builds a method.

    in_dim: the feature width (384 or n_buckets); hp: the method's hyper-parameters on
    ``encoder`` (overrides included); n_classes: the meta-train classes; centre: (in_dim,) the
    mean meta-train embedding, where the MiniLM adapter starts (None: the raw embeddings).
    """

    method: str
    encoder: str
    in_dim: int
    hp: dict[str, Any]
    n_way: int
    n_classes: int
    seed: int
    centre: Tensor | None

    def body(self) -> nn.Module:
        """A fresh body for the encoder (:func:`~metanlp_lite.fewshot.bodies.make_body`), scaled by ``hp["scale"]``."""
        return make_body(self.encoder, self.in_dim, self.hp.get("scale", 1.0), self.centre, seed=self.seed)

    @property
    def dim(self) -> int:
        """The width of the body's output: what a head on top of it takes."""
        return {"bow": BOW_DIM, "minilm-block": 384}.get(self.encoder, self.in_dim)


class Method(nn.Module):
    """What every few-shot method offers. Subclasses set ``name``, implement ``logits`` and ``build``.

    ``loss(batch)`` is the meta-training loss; ``episodic`` says whether training batches are
    episodes (True) or plain labelled examples (False, the transfer baseline).
    ``eval_tasks`` caps the tasks adapted at once at test time (memory). ``adapts_body``: whether
    a task changes what the body computes at test time (False: the same body for every task, so
    :func:`~metanlp_lite.fewshot.training.frozen_batches` may run it once per utterance).
    """

    name = "method"
    needs_training = True
    episodic = True
    adapts_body = True
    eval_tasks = 100

    @classmethod
    def build(cls, spec: BuildSpec) -> Method:
        """A fresh method from its registered hyper-parameters (float32, before build_method's cast)."""
        raise NotImplementedError(f"{cls.__name__} needs a classmethod build(spec) to be registered")

    def loss(self, batch: Any) -> Tensor:
        raise NotImplementedError

    def meta_parameters(self) -> list[nn.Parameter]:
        """The parameters the outer loop updates (default: all that require grad)."""
        return [p for p in self.parameters() if p.requires_grad]

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """The outer optimizer's parameter groups: weight decay on matrices only (so a residual
        projection is pulled towards the identity), none on vectors and scalars."""
        params = self.meta_parameters()
        return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay, "lr": lr},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": lr}]

    def logits(self, batch: TaskBatch) -> Tensor:
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters (float64 as built by :func:`build_method`; float32 without any)."""
        return next((p.dtype for p in self.parameters()), torch.float32)

    def cast(self, batch: Any) -> Any:
        """The batch (a TaskBatch, or (x, y) for the transfer baseline) with features in :attr:`dtype`."""
        if isinstance(batch, TaskBatch):
            return TaskBatch(batch.support_x.to(self.dtype), batch.support_y, batch.query_x.to(self.dtype), batch.query_y)
        x, y = batch
        return x.to(self.dtype), y

    @torch.no_grad()
    def predict(self, batch: TaskBatch) -> Tensor:
        """(T, N*Q) predicted labels, adapting ``eval_tasks`` tasks at a time."""
        batch = self.cast(batch)
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


@dataclass(frozen=True)
class Registration:
    """One method of the registry: its name, its class, its hyper-parameters per encoder
    (``hyperparams[encoder]``, on top of the common ones) and its column in notebook 04's
    tables (None: not in notebook 04; it needs a Transformer layer, encoder ``minilm-block``);
    options: the hyper-parameters its ``build`` also reads when given (defaults in the class)."""

    name: str
    cls: type[Method]
    hyperparams: dict[str, dict[str, Any]]
    column: int | None
    options: tuple[str, ...] = ()


REGISTRY: dict[str, Registration] = {}   # name -> Registration, filled by @register

_M = TypeVar("_M", bound=type[Method])


def register(name: str, *, hyperparams: dict[str, dict[str, Any]], column: int | None = None,
             options: tuple[str, ...] = ()) -> Callable[[_M], _M]:
    """Class decorator: register a :class:`Method` subclass under ``name``.

    hyperparams: per encoder, the hyper-parameters that differ from the common ones (an encoder
    left out cannot be used with this method); column: its place among notebook 04's methods
    (:data:`~metanlp_lite.fewshot.methods.METHODS`), or None for a method that needs a
    Transformer layer (:data:`~metanlp_lite.fewshot.methods.LAYER_METHODS`); options: the
    hyper-parameters ``build`` reads with a default when not given (e.g. ``learn_head_init``).
    A class may carry several registrations (one per name it builds, e.g. ``maml``, ``fomaml``,
    ``reptile``).
    """
    unknown = [e for e in hyperparams if e not in ENCODERS]
    if unknown:
        raise ValueError(f"{name}: unknown encoder(s) {unknown} in hyperparams; the encoders are {', '.join(ENCODERS)}")
    if column is None and set(hyperparams) != {"minilm-block"}:
        raise ValueError(f"{name}: a method without a column of notebook 04 is a Transformer-layer method: "
                         f"give it hyper-parameters for 'minilm-block' only, or a column")
    taken = {r.column: r.name for r in REGISTRY.values() if r.column is not None and r.name != name}
    if column is not None and column in taken:
        raise ValueError(f"{name}: column {column} is {taken[column]!r}'s; free columns start at {max(taken) + 1}")

    def decorate(cls: _M) -> _M:
        if name in REGISTRY and REGISTRY[name].cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"method {name!r} is already registered by {REGISTRY[name].cls.__name__}: "
                             "choose another name")
        REGISTRY[name] = Registration(name, cls, hyperparams, column, tuple(options))
        return cls

    return decorate
