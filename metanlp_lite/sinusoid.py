"""The sinusoid regression benchmark of Finn et al. (2017, section 5.1): the network and its
meta-training with MAML, first-order MAML, Reptile or joint pretraining.

- :func:`sinusoid_mlp`: the MLP 1 -> 40 -> 40 -> 1 of the paper, seeded the same on every CPU;
- :data:`SINUSOID_METHODS`: each method's learner, inner steps and inner step size;
- :func:`train_sinusoid`: one meta-training run (float64 runs are the same on any CPU).

The tasks themselves (y = A sin(x - phi)) come from :mod:`metanlp_lite.data`; the engine from
:mod:`metanlp_lite.maml`. Taught in notebook 02 (sections 7 and 8); notebook 03 retrains the
same networks to look at their loss landscapes.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import sample_sinusoid_tasks
from .maml import MAML, Reptile, meta_train
from .reproducible import init_linear_

__all__ = ["sinusoid_mlp", "SINUSOID_METHODS", "train_sinusoid"]


def sinusoid_mlp(hidden: int = 40, dtype: torch.dtype = torch.float32, seed: int | None = None) -> nn.Sequential:
    """The MLP of Finn et al.: 1 -> hidden -> hidden -> 1 with ReLU. Input (N, 1), output (N, 1)."""
    model = nn.Sequential(
        nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    ).to(dtype)
    if seed is not None:
        init_linear_(model, seed)
    return model


# method -> (learner kind, inner steps used in meta-training, inner_lr)
SINUSOID_METHODS: dict[str, dict[str, Any]] = {
    "maml": {"kind": "maml", "inner_steps": 1, "inner_lr": 0.01, "first_order": False},
    "fomaml": {"kind": "maml", "inner_steps": 1, "inner_lr": 0.01, "first_order": True},
    "reptile": {"kind": "reptile", "inner_steps": 5, "inner_lr": 0.02},
    "joint": {"kind": "maml", "inner_steps": 0, "inner_lr": 0.01, "first_order": False},
}


def train_sinusoid(method: str, n_iters: int = 2000, seed: int = 0, *, meta_batch: int = 25,
                   k_support: int = 10, k_query: int = 10, outer_lr: float = 1e-3, hidden: int = 40,
                   show_progress: bool = True, dtype: torch.dtype = torch.float32,
                   **overrides: Any) -> tuple[nn.Sequential, list[float]]:
    """Meta-train a sinusoid MLP with ``method`` in {"maml", "fomaml", "reptile", "joint"}.

    The same seed gives the same initial network and the same tasks for every method.
    ``dtype``: of the network and the tasks. In float64 the parameters are rounded to float32
    after each step, which makes the run the same on any CPU (see
    :mod:`metanlp_lite.reproducible`); in float32, another CPU's kernels change the result.
    ``overrides`` replace entries of ``SINUSOID_METHODS[method]`` (e.g. ``inner_steps=5``).
    Adam with ``outer_lr`` is the meta-optimizer (for Reptile it steps along theta - mean(phi)).
    Returns (model, meta-loss per step). "joint" is joint pretraining: MAML with zero inner
    steps, i.e. plain regression on all tasks' query points.
    """
    if method not in SINUSOID_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(SINUSOID_METHODS)}")
    cfg = {**SINUSOID_METHODS[method], **overrides}
    model = sinusoid_mlp(hidden, dtype, seed=seed)
    if cfg["kind"] == "reptile":
        learner: MAML | Reptile = Reptile(model, cfg["inner_lr"], cfg["inner_steps"], loss_fn=F.mse_loss)
    else:
        learner = MAML(model, cfg["inner_lr"], cfg["inner_steps"], first_order=cfg["first_order"],
                       loss_fn=F.mse_loss)
    gen = torch.Generator().manual_seed(seed)
    losses = meta_train(learner, lambda: sample_sinusoid_tasks(meta_batch, k_support, k_query, gen, dtype)[0],
                        n_iters, outer_lr=outer_lr, desc=method, show_progress=show_progress,
                        round_to=torch.float32 if dtype == torch.float64 else None)
    return model, losses
