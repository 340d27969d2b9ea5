"""The transfer baseline: pretrain a network, then fit a fresh linear head per task.

- :func:`linear_head_step` and :func:`fit_linear_head`: a linear head fitted by gradient
  descent on each task's support set, batched over tasks, with the gradient in closed form;
- ``finetune`` (:class:`Finetune`, Chen et al., 2019): pretrain a network on all meta-train
  classes as one ordinary classification problem, then fit a fresh linear head per task.

Taught in notebook 04, section 3 ("The methods"), whose cells check the linear head against a
hand-made version.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..episodes import TaskBatch
from ..reproducible import normal
from ..params import gradient_step
from .base import BLOCK_HYPERPARAMS, BuildSpec, Method, register

__all__ = ["linear_head_step", "fit_linear_head", "Finetune"]


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
    head = gradient_step({"W": W, "b": b}, {"W": dW, "b": db}, lr)
    return head["W"], head["b"]


def fit_linear_head(z: Tensor, y: Tensor, W: Tensor, b: Tensor, lr: float, steps: int,
                    first_order: bool = False) -> tuple[Tensor, Tensor]:
    """``steps`` calls of :func:`linear_head_step` from (W, b): (T, M, d), (T, M) -> (T, N, d), (T, N)."""
    for _ in range(steps):
        W, b = linear_head_step(z, y, W, b, lr, first_order)
    return W, b


_HEAD = {"head_lr": 10.0, "head_steps": 30}


@register("finetune", column=1, options=("classifier_lr",), hyperparams={
    "minilm": {"meta_batch": 128, **_HEAD},
    "bow": {"meta_batch": 128, **_HEAD, "lr": 3e-3},
    "minilm-block": {**_HEAD, **BLOCK_HYPERPARAMS},
})
class Finetune(Method):
    """The transfer baseline (Chen et al., 2019): pretrain, then fit a fresh head per task.

    Pretraining: ordinary cross-entropy over all ``n_classes`` meta-train classes with a
    cosine classifier on ``body``'s features. Test: the body is frozen and a new linear head,
    zero at first, takes ``head_steps`` gradient steps on the support set. ``seed``: of the
    pretraining classifier's N(0, 0.01^2) weights (the same on every CPU). ``classifier_lr``:
    the outer rate of the pretraining classifier and its temperature, new parameters that may
    need a faster one than a pretrained body (None: the body's; notebook 05's control on the
    Transformer layer gives them 1e-3 against the layer's 3e-5).
    """

    name = "finetune"
    episodic = False
    adapts_body = False

    def __init__(self, body: nn.Module, n_classes: int, dim: int, head_lr: float = 1.0,
                 head_steps: int = 50, tau: float = 10.0, seed: int = 0,
                 classifier_lr: float | None = None) -> None:
        super().__init__()
        self.body = body
        self.classifier = nn.Parameter(normal((n_classes, dim), 0.01, torch.Generator().manual_seed(seed)))
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))
        self.head_lr, self.head_steps = head_lr, head_steps
        self.classifier_lr = classifier_lr

    @classmethod
    def build(cls, spec: BuildSpec) -> Finetune:
        if spec.n_classes < 2:
            raise ValueError(f"finetune pretrains a classifier over the meta-train classes: n_classes must be >= 2, "
                             f"got {spec.n_classes}")
        return cls(spec.body(), spec.n_classes, spec.dim, spec.hp["head_lr"], spec.hp["head_steps"], seed=spec.seed + 1,
                   classifier_lr=spec.hp.get("classifier_lr"))

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """The body's groups at ``lr``; the classifier and its temperature at ``classifier_lr``
        (no weight decay) when one is set."""
        if self.classifier_lr is None:
            return super().optimizer_groups(lr, weight_decay)
        new = (self.classifier, self.log_tau)
        groups = super().optimizer_groups(lr, weight_decay)
        for g in groups:
            g["params"] = [p for p in g["params"] if all(p is not q for q in new)]
        return [g for g in groups if g["params"]] + [{"params": list(new), "weight_decay": 0.0, "lr": self.classifier_lr}]

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
