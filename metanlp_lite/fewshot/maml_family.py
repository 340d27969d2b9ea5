"""MAML and its relatives: methods that adapt by gradient steps on each task's support set.

============  ================================================================================
``maml``      MAML (Finn et al., 2017) on projection + linear head, second order
``fomaml``    first-order MAML
``reptile``   Reptile (Nichol et al., 2018)
``anil``      ANIL (Raghu et al., 2020): only the last layer is adapted per task; it is MAML
              applied to the head, whose inputs are the meta-learned network's features
``protomaml`` Proto-MAML (Triantafillou et al., 2020): MAML whose last layer starts from the
              prototypes, W_j = 2 c_j, b_j = -|c_j|^2; on ``minilm-block`` the head and the
              Transformer layer take separate inner step sizes, both meta-learned
``lora``      MAML whose inner loop adapts only low-rank fast weights (Hu et al., 2022's LoRA
              factors) and the head, while the outer loop meta-learns the whole body
              (``minilm-block`` only: the factors sit on the Transformer layer's weights)
============  ================================================================================

:class:`MAMLFamily` is the first three, on the MAML engine of :mod:`metanlp_lite.maml`.
Taught in notebook 04, section 3 ("The methods"), whose cells check ANIL and Proto-MAML
against hand-made versions; ``lora`` in notebook 05.

Hyper-parameters chosen by hand on meta-val accuracy (BANKING77 split 01 and CLINC150's
domains, 5-way 1- and 5-shot, quick budget) among a few values of the learning rates and the
feature scale.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..episodes import TaskBatch
from ..maml import MAML, Reptile, inner_loop_batched
from ..params import Params, per_task
from ..text import load_encoder
from ..transformer import lora_params
from .base import BLOCK_HYPERPARAMS, BuildSpec, Method, register
from .metric import prototypes

__all__ = ["MAMLFamily", "ANIL", "ProtoMAML", "LoRAMAML"]

_MAML = {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 1, "test_steps": 3, "lr": 3e-4}
_ANIL = {"scale": 5.0, "inner_lr": 1.0, "inner_steps": 3, "test_steps": 5}
_PROTOMAML = {"scale": 3.0, "inner_lr": 0.1, "inner_steps": 1, "test_steps": 1}
LOG_LR_LR = 1e-2       # the outer step on Proto-MAML's log inner step sizes (a rate moves ~1% a step)
_BOW_EVAL_TASKS = 50   # on bow, every task holds its own copy of the 2048 x 64 first layer


@register("maml", column=3, options=("learn_head_init",), hyperparams={
    "minilm": {**_MAML}, "bow": {**_MAML, "lr": 1e-3}, "minilm-block": {**_MAML, "inner_steps": 2, **BLOCK_HYPERPARAMS}})
@register("fomaml", column=4, options=("learn_head_init",), hyperparams={
    "minilm": {**_MAML}, "bow": {**_MAML, "lr": 1e-3}, "minilm-block": {**_MAML, "inner_steps": 2, **BLOCK_HYPERPARAMS}})
# Reptile on MiniLM trains in float64, rounded to float32 after every step: in float32 its 60 steps
# turn the last-bit differences of another CPU's kernels (AVX2 against AVX-512 or the default ones)
# into a different model (measured: 92.20 against 92.21 on BANKING77 1-shot with names).
@register("reptile", column=5, options=("learn_head_init",), hyperparams={
    "minilm": {**_MAML, "inner_steps": 3, "lr": 1e-3, "dtype": torch.float64},
    "bow": {**_MAML, "inner_steps": 3, "lr": 3e-3},
    "minilm-block": {**_MAML, "inner_steps": 3, **BLOCK_HYPERPARAMS}})
class MAMLFamily(Method):
    """MAML, first-order MAML or Reptile on ``body`` followed by a linear N-way head.

    The model is ``nn.Sequential(body, Linear(d, n_way))`` with the head zero at first (so a
    first inner step turns it into a prototype-like classifier); :class:`~metanlp_lite.maml.MAML`
    or :class:`~metanlp_lite.maml.Reptile` adapts *all* its parameters per task, batched over
    tasks.

    A zero head passes no gradient to the body at the first inner step (it is W_head^T (p - y)
    = 0), so one inner step adapts only the head: on ``minilm-block``, ``maml`` and ``fomaml``
    train with two, so that the Transformer layer is adapted in the inner loop too.

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

    @classmethod
    def build(cls, spec: BuildSpec) -> MAMLFamily:
        hp = spec.hp
        m = cls(spec.method, spec.body(), spec.dim, spec.n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                learn_head_init=hp.get("learn_head_init", False))
        if spec.encoder == "bow":
            m.eval_tasks = _BOW_EVAL_TASKS
        return m

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


@register("anil", column=6, options=("learn_head_init",), hyperparams={
    "minilm": {**_ANIL}, "bow": {**_ANIL, "lr": 3e-3}, "minilm-block": {**_ANIL, **BLOCK_HYPERPARAMS}})
class ANIL(Method):
    """ANIL (Raghu et al., 2020): adapt only the last layer; meta-learn everything.

    It is MAML applied to the head alone, whose inputs are ``body``'s features of the task:
    ``MAML(head).meta_loss(TaskBatch(body(sx), sy, body(qx), qy))``. The meta-gradient
    reaches the body through those inputs (second order through the head's inner steps).
    """

    name = "anil"
    adapts_body = False

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

    @classmethod
    def build(cls, spec: BuildSpec) -> ANIL:
        hp = spec.hp
        return cls(spec.body(), spec.dim, spec.n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                   learn_head_init=hp.get("learn_head_init", False))

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


class _PrototypeHead(nn.Module):
    """What Proto-MAML's inner loop adapts: ``body`` and a linear head, x -> body(x) W^T + b.

    W (N, d) and b (N,) have no values of their own (empty buffers, never saved): each task's
    head, which starts from its prototypes, is passed in by ``functional_call`` with the body's
    parameters (``body.*``). x: (M, ...) -> logits (M, N).
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("W", torch.empty(0), persistent=False)
        self.register_buffer("b", torch.empty(0), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) @ self.W.T + self.b


# minilm-block: the head and the Transformer layer take separate inner step sizes, both
# meta-learned (Meta-SGD's idea, one rate per group as in MAML++): the layer's gradient is
# small (|g| ~ 3e-4), so its step starts at 1.0, where it moves the layer by ~1e-4 per step
@register("protomaml", column=7, options=("first_order", "body_lr", "learn_inner_lr"), hyperparams={
    "minilm": {**_PROTOMAML}, "bow": {**_PROTOMAML, "lr": 3e-3},
    "minilm-block": {**_PROTOMAML, "body_lr": 1.0, "learn_inner_lr": True, **BLOCK_HYPERPARAMS}})
class ProtoMAML(Method):
    """Proto-MAML (Triantafillou et al., 2020): MAML whose head starts from the prototypes.

    For each task the head is set to ``W_j = 2 c_j, b_j = -|c_j|^2`` (c_j the class means of
    the support features under the current body), which makes its logits
    ``-|z - c_j|^2 + |z|^2``: a Prototypical Network. Then body and head take ``inner_steps``
    gradient steps on the support set, all tasks at once on the MAML engine
    (:func:`~metanlp_lite.maml.inner_loop_batched`, exact at second order through LayerNorm
    too). The meta-gradient reaches the
    body through the prototypes too; ``first_order=True`` (the default, "fo-Proto-MAML")
    drops only the second-order terms of the inner steps.
    """

    name = "protomaml"

    def __init__(self, body: nn.Module, inner_lr: float, inner_steps: int, test_steps: int | None = None,
                 first_order: bool = True, body_lr: float | None = None, learn_inner_lr: bool = False) -> None:
        super().__init__()
        self.body = body
        self.inner_lr, self.inner_steps, self.first_order = inner_lr, inner_steps, first_order
        self.test_steps = inner_steps if test_steps is None else test_steps
        self.loop_queries = False    # query logits task by task (set for a Transformer body), else vmapped
        # One step size for the head, one for the body: log-rates, meta-learned if learn_inner_lr.
        # Without either option the head and body share inner_lr, a plain number.
        self.log_lr: nn.Parameter | None = None
        if body_lr is not None or learn_inner_lr:
            rates = torch.tensor([inner_lr, inner_lr if body_lr is None else body_lr]).log()
            self.log_lr = nn.Parameter(rates, requires_grad=learn_inner_lr)

    @classmethod
    def build(cls, spec: BuildSpec) -> ProtoMAML:
        hp = spec.hp
        m = cls(spec.body(), hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                first_order=hp.get("first_order", True), body_lr=hp.get("body_lr"),
                learn_inner_lr=hp.get("learn_inner_lr", False))
        if spec.encoder == "bow":
            m.eval_tasks = _BOW_EVAL_TASKS
        m.loop_queries = spec.encoder == "minilm-block"
        return m

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """The method's groups, and the inner step sizes' log-rates in their own, with an outer
        rate of ``LOG_LR_LR``: at the layer's 3e-5 they would not move in a run."""
        groups = super().optimizer_groups(lr, weight_decay)
        if self.log_lr is None or not self.log_lr.requires_grad:
            return groups
        for g in groups:
            g["params"] = [p for p in g["params"] if p is not self.log_lr]
        return groups + [{"params": [self.log_lr], "weight_decay": 0.0, "lr": LOG_LR_LR}]

    def step_sizes(self, names: list[str]) -> float | dict[str, Tensor]:
        """The inner step size: ``inner_lr``, or one per parameter name (the head's for ``W`` and
        ``b``, the body's for ``body.*``) when the two groups have their own."""
        if self.log_lr is None:
            return self.inner_lr
        head, body = self.log_lr.exp().unbind()
        return {n: body if n.startswith("body.") else head for n in names}

    def adapt(self, batch: TaskBatch, steps: int, first_order: bool) -> Params:
        """Each task's body and head after ``steps`` inner steps from its prototypes:
        ``{"body.<name>": (T, *shape), "W": (T, N, d), "b": (T, N)}``."""
        sx, sy = batch.support_x, batch.support_y
        c = prototypes(self.body(sx), sy, self.n_way_of(batch))                       # (T, N, d)
        theta = {f"body.{n}": p for n, p in self.body.named_parameters()}
        phi = {**per_task(theta, len(c)), "W": 2 * c, "b": -(c * c).sum(-1)}        # each task's head: its prototypes
        return inner_loop_batched(_PrototypeHead(self.body), phi, sx, sy, lr=self.step_sizes(list(phi)), steps=steps,
                                  loss_fn=F.cross_entropy, first_order=first_order)

    def _adapted_logits(self, batch: TaskBatch, steps: int, first_order: bool) -> Tensor:
        """Query logits (T, N*Q, N) after ``steps`` inner steps of body and head from each task's prototypes."""
        model, phi = _PrototypeHead(self.body), self.adapt(batch, steps, first_order)
        if self.loop_queries:      # a Transformer layer per task: a loop of plain matmuls, 5x faster than vmap's bmm
            return torch.stack([functional_call(model, {k: v[t] for k, v in phi.items()}, (x,))
                                for t, x in enumerate(batch.query_x)])
        return vmap(lambda p, x: functional_call(model, p, (x,)), randomness="different")(phi, batch.query_x)

    def loss(self, batch: TaskBatch) -> Tensor:
        logits = self._adapted_logits(batch, self.inner_steps, self.first_order)
        return F.cross_entropy(logits.flatten(0, 1), batch.query_y.flatten())

    def logits(self, batch: TaskBatch) -> Tensor:
        with torch.no_grad():
            return self._adapted_logits(batch, self.test_steps, True)


class _FastWeights(nn.Module):
    """What :class:`LoRAMAML`'s inner loop adapts: low-rank factors and a zero head.

    ``body`` is read, not registered: its parameters are not this module's, so the MAML engine
    (which adapts every parameter of its model) leaves them alone, while gradients still reach
    them through the forward pass. x: (..., L, 385) -> logits (..., n_way).
    """

    def __init__(self, body: nn.Module, lora: dict[str, Tensor], dim: int, n_way: int) -> None:
        super().__init__()
        self.__dict__["body"] = body                     # not a submodule: slow weights
        self.keys = {k.replace(".", "/"): k for k in lora}
        self.factors = nn.ParameterDict({k.replace(".", "/"): nn.Parameter(v.clone()) for k, v in lora.items()})
        self.head = nn.Linear(dim, n_way)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        lora = {self.keys[k]: self.factors[k] for k in self.keys}
        return self.head(self.body(x, lora=lora))


# lora: the head starts at zero, so a first inner step moves only the head (the gradient reaching
# the factors is W_head^T (p - y) = 0): two steps at least
@register("lora", options=("targets", "first_order"),
          hyperparams={"minilm-block": {**_MAML, "inner_steps": 2, "rank": 4, **BLOCK_HYPERPARAMS}})
class LoRAMAML(MAMLFamily):
    """MAML with low-rank fast weights: the inner loop adapts only ``W + B A`` factors and the head.

    For each targeted weight W (out, in) of the Transformer layer, the task adapts B (out, r)
    and A (r, in), r small (:func:`~metanlp_lite.transformer.lora_params`; B starts at zero,
    so the task starts from the meta-learned block). The outer loop meta-learns the body (the
    block itself) and the factors' initialisation; the head starts at zero for every task, as
    in :class:`MAMLFamily`, so the first inner step moves only the head (the gradient that reaches
    the factors passes through the zero head) and the factors move from the second. With r = 4 on query and value, a task adapts 6,144 + 1,925 numbers
    instead of the layer's 1.8 M: the cheap way to adapt a large model per task.
    """

    def __init__(self, body: nn.Module, lora: dict[str, Tensor], dim: int, n_way: int, inner_lr: float,
                 inner_steps: int, test_steps: int | None = None, first_order: bool = False) -> None:
        Method.__init__(self)
        self.name, self.n_way, self.body = "lora", n_way, body
        self.model = _FastWeights(body, lora, dim, n_way)
        self.learner = MAML(self.model, inner_lr, inner_steps, first_order=first_order)
        self.test_steps = inner_steps if test_steps is None else test_steps
        self.learn_head_init = False

    @classmethod
    def build(cls, spec: BuildSpec) -> LoRAMAML:
        """The body first, then LoRA factors on its layer(s) (seed + 3), then the zero head."""
        hp, body = spec.hp, spec.body()
        lora = lora_params(load_encoder(), len(body.layers), hp["rank"], seed=spec.seed + 3,
                           **({"targets": hp["targets"]} if "targets" in hp else {}))
        return cls(body, lora, spec.dim, spec.n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                   first_order=hp.get("first_order", False))

    def meta_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.model.head.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in head]
