"""Few-shot methods: from an episode's support set to scores for its queries.

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
``lora``      MAML whose inner loop adapts only low-rank fast weights (Hu et al., 2022's LoRA
              factors) and the head, while the outer loop meta-learns the whole body
              (``minilm-block`` only: the factors sit on the Transformer layer's weights)
============  ================================================================================

Also here: the building blocks :func:`prototypes`, :func:`ncm_logits`, :func:`ncm_predict`
(taught in notebook 00, section 4, "The nearest-class-mean baseline") and the linear head
fitted per task in closed form, :func:`linear_head_step` and :func:`fit_linear_head`; the
registry: :data:`METHODS`, :data:`HYPERPARAMS`, :func:`hyperparams` and :func:`build_method`
(a fresh, seeded method by name, its network from :func:`~metanlp_lite.fewshot.bodies.make_body`).
A new method adds its class, its name to :data:`METHODS`, its entries to :data:`HYPERPARAMS`
and a branch of :func:`build_method`.

Taught in notebook 04, section 3 ("The methods"), whose cells check the linear head, ANIL and
Proto-MAML against hand-made versions.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from ..episodes import TaskBatch
from ..maml import MAML, Reptile
from ..reproducible import normal
from .bodies import BOW_DIM, make_body
from .features import ENCODERS

__all__ = [
    "METHODS", "LAYER_METHODS", "HYPERPARAMS", "prototypes", "ncm_logits", "ncm_predict", "linear_head_step",
    "fit_linear_head", "Method", "NCM", "Finetune", "ProtoNet", "MAMLFamily", "ANIL", "ProtoMAML", "LoRAMAML", "hyperparams",
    "build_method",
]

METHODS = ("ncm", "finetune", "protonet", "maml", "fomaml", "reptile", "anil", "protomaml")   # notebook 04's eight
LAYER_METHODS = ("lora",)   # methods that need a Transformer layer (encoder "minilm-block"; notebook 05)

# ---------------------------------------------------------------------------------------
# Prototypes and nearest class mean
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


class NCM(Method):
    """Nearest class mean by cosine on the raw features; nothing to learn.

    body: an untrained network that makes the features first (for ``minilm-block``, the
    encoder's last layer, so that token states become the encoder's embeddings); None: none.
    """

    name = "ncm"
    needs_training = False

    def __init__(self, body: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body

    def logits(self, batch: TaskBatch) -> Tensor:
        sx, qx = (batch.support_x, batch.query_x) if self.body is None else (self.body(batch.support_x), self.body(batch.query_x))
        return ncm_logits(qx, prototypes(sx, batch.support_y, self.n_way_of(batch)))


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
    zero at first, takes ``head_steps`` gradient steps on the support set. ``seed``: of the
    pretraining classifier's N(0, 0.01^2) weights (the same on every CPU).
    """

    name = "finetune"
    episodic = False

    def __init__(self, body: nn.Module, n_classes: int, dim: int, head_lr: float = 1.0,
                 head_steps: int = 50, tau: float = 10.0, seed: int = 0) -> None:
        super().__init__()
        self.body = body
        self.classifier = nn.Parameter(normal((n_classes, dim), 0.01, torch.Generator().manual_seed(seed)))
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


class _FastWeights(nn.Module):
    """What :class:`LoRAMAML`'s inner loop adapts: low-rank factors and a zero head.

    ``body`` is read, not registered: its parameters are not this module's, so the MAML engine
    (which adapts every parameter of its model) leaves them alone, while gradients still reach
    them through the forward pass. x: (..., T, 385) -> logits (..., n_way).
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

    def meta_parameters(self) -> list[nn.Parameter]:
        head = {id(p) for p in self.model.head.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in head]


# Hyper-parameters per method and encoder, chosen by hand on meta-val accuracy (BANKING77
# split 01 and CLINC150's domains, 5-way 1- and 5-shot, quick budget) among a few values of
# the learning rates and the feature scale. The number of meta-training steps is set by the
# budget: STEPS["quick"] (the notebook's default run) or STEPS["full"] of
# metanlp_lite.fewshot.training.
# dtype: of the parameters (see build_method).
_COMMON = {"lr": 1e-3, "weight_decay": 1e-2, "meta_batch": 16, "dtype": torch.float32}
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
# minilm-block: the pretrained layer is fine-tuned gently (small lr, no weight decay towards 0),
# on small meta-batches with 5 queries a class (a Transformer layer costs ~100x an adapter).
_BLOCK = {"lr": 3e-5, "weight_decay": 0.0, "meta_batch": 4, "n_query": 5}
for _m, _hp in {"ncm": {}, "finetune": {"meta_batch": 32, "head_lr": 10.0, "head_steps": 30},
                "protonet": {}, "maml": _MAML, "fomaml": _MAML, "reptile": {**_MAML, "inner_steps": 3},
                "anil": HYPERPARAMS["anil"]["minilm"], "protomaml": HYPERPARAMS["protomaml"]["minilm"],
                # lora: the head starts at zero, so a first inner step moves only the head (the
                # gradient reaching the factors is W_head^T (p - y) = 0): two steps at least
                "lora": {**_MAML, "inner_steps": 2, "rank": 4}}.items():
    HYPERPARAMS.setdefault(_m, {})["minilm-block"] = {**_hp, **_BLOCK} if _m != "ncm" else {}


def hyperparams(method: str, encoder: str, **overrides: Any) -> dict[str, Any]:
    """The hyper-parameters of ``method`` on ``encoder`` (see HYPERPARAMS), with ``overrides``."""
    if method not in METHODS + LAYER_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS + LAYER_METHODS)}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if encoder not in HYPERPARAMS[method]:
        raise ValueError(f"method {method!r} needs a Transformer layer to put its fast weights on: "
                         f"use --encoder minilm-block (got {encoder!r})")
    return {**_COMMON, **HYPERPARAMS[method][encoder], **overrides}


def build_method(method: str, encoder: str, in_dim: int, *, n_way: int = 5, n_classes: int = 0,
                 seed: int = 0, centre: Tensor | None = None, **overrides: Any) -> Method:
    """A fresh, seeded :class:`Method` by name. in_dim: the feature width (384 or n_buckets);
    n_classes: the meta-train classes (for ``finetune``'s pretraining classifier); centre:
    the mean meta-train embedding, where the MiniLM adapter starts (None: the raw embeddings).

    The random initialisation is the same on every CPU (:mod:`metanlp_lite.reproducible`).
    The parameters are float32 (``dtype=torch.float32``, the default): over the few dozen steps
    of the notebook's runs, other CPUs' rounding does not change the printed accuracies (checked
    under ``ATEN_CPU_CAPABILITY=default``). ``dtype=torch.float64`` makes long runs reproducible
    too, at about twice the cost: :func:`~metanlp_lite.fewshot.training.meta_train` then rounds
    the parameters to float32 after every step."""
    hp = hyperparams(method, encoder, **overrides)
    torch.manual_seed(seed)
    if method == "ncm" and encoder != "minilm-block":
        return NCM()
    if method == "ncm":   # the encoder's own embeddings: its last layer, untrained and uncentred
        m = NCM(make_body(encoder, in_dim))
        m.eval_tasks = 10
        return m
    body = make_body(encoder, in_dim, hp.get("scale", 1.0), centre, seed=seed)
    dim = {"bow": BOW_DIM, "minilm-block": 384}.get(encoder, in_dim)
    m = _build(method, hp, body, dim, n_way, n_classes, seed, encoder)
    if encoder == "minilm-block":
        m.eval_tasks = 10    # a task's utterances run through the Transformer layer (and its own copy of it)
    return m.to(hp["dtype"])


def _build(method: str, hp: dict[str, Any], body: nn.Module, dim: int, n_way: int,
           n_classes: int, seed: int, encoder: str) -> Method:
    """The :class:`Method` of :func:`build_method` around ``body`` (float32, before the cast)."""
    if method == "protonet":
        return ProtoNet(body)
    if method == "finetune":
        if n_classes < 2:
            raise ValueError(f"finetune pretrains a classifier over the meta-train classes: n_classes must be >= 2, got {n_classes}")
        return Finetune(body, n_classes, dim, hp["head_lr"], hp["head_steps"], seed=seed + 1)
    if method in ("maml", "fomaml", "reptile"):
        m = MAMLFamily(method, body, dim, n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                       learn_head_init=hp.get("learn_head_init", False))
    elif method == "anil":
        m = ANIL(body, dim, n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                 learn_head_init=hp.get("learn_head_init", False))
    elif method == "lora":
        from ..text import load_encoder
        from ..transformer import lora_params

        if encoder != "minilm-block":
            raise ValueError("lora puts low-rank fast weights on a Transformer layer: use encoder 'minilm-block'")
        lora = lora_params(load_encoder(), len(body.layers), hp["rank"], seed=seed + 3,
                           **({"targets": hp["targets"]} if "targets" in hp else {}))
        m = LoRAMAML(body, lora, dim, n_way, hp["inner_lr"], hp["inner_steps"], hp["test_steps"],
                     first_order=hp.get("first_order", False))
    else:
        m = ProtoMAML(body, hp["inner_lr"], hp["inner_steps"], hp["test_steps"])
    if encoder == "bow" and method in ("maml", "fomaml", "reptile", "protomaml"):
        m.eval_tasks = 50    # every task holds its own copy of the 2048 x 64 first layer
    return m
