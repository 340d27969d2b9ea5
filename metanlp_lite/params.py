"""Parameters as dicts of tensors, and the one gradient step every inner loop takes.

Everywhere in the course a network's parameters travel as a dict ``{name: tensor}`` (those of
``model.named_parameters()``) and are applied with ``torch.func.functional_call``; the model's
own parameters are never written. This module is the bottom of the package: it imports nothing
from it, and everything that adapts parameters imports it.

- :data:`Params`: ``dict[str, Tensor]``. A *batch* of parameters has extra leading dimensions,
  e.g. ``{name: (T, *shape)}``, one copy per task (:func:`per_task`).
- :data:`Loss`: a loss as a function of the parameters, ``params -> scalar``;
  :data:`Criterion`: a loss of a prediction, ``(output, target) -> scalar`` (``F.mse_loss``,
  ``F.cross_entropy``).
- :func:`gradient_step`: **phi = theta - alpha * grad L(theta)**, the update of MAML's inner
  loop, of first-order MAML, of Reptile, of the loss-landscape trajectories and of the
  curvature sweeps. It is written here once.
- Helpers: :func:`check_params`, :func:`tree_map` (leaf by leaf, over a flat tensor or a dict),
  :func:`detached`, :func:`dot`, :func:`norm`, :func:`flatten`, :func:`unflatten`,
  :func:`per_task`.

:mod:`metanlp_lite.objective` also accepts a single flat tensor of shape (P,) wherever it takes
parameters (the two-parameter examples of notebook 01); :func:`tree_map` and
:func:`gradient_step` accept both.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

import torch
from torch import Tensor

__all__ = [
    "Params",
    "Loss",
    "Criterion",
    "StepSize",
    "gradient_step",
    "check_params",
    "tree_map",
    "detached",
    "dot",
    "norm",
    "flatten",
    "unflatten",
    "per_task",
]

Params = dict[str, Tensor]
Loss = Callable[[Union[Params, Tensor]], Tensor]          # params -> scalar loss
Criterion = Callable[[Tensor, Tensor], Tensor]             # (output, target) -> scalar loss


def tree_map(fn: Callable[..., Tensor], *trees: Params | Tensor) -> Params | Tensor:
    """``fn`` applied leaf by leaf to flat tensors, or to dicts with the same keys (in the first's order)."""
    if isinstance(trees[0], Tensor):
        return fn(*trees)
    return {k: fn(*(t[k] for t in trees)) for k in trees[0]}


StepSize = Union[float, Tensor, Mapping[str, Union[float, Tensor]], None]


def gradient_step(params: Params | Tensor, grads: Params | Tensor, lr: StepSize) -> Params | Tensor:
    """One step of gradient descent: phi = theta - lr * g, leaf by leaf, as new tensors.

    params, grads: the same names and shapes (any extra leading dimensions, e.g. one copy per
    task, broadcast alike); lr: the step size alpha (a number, or a tensor, e.g. one per
    point of a sweep under ``vmap``), or a dict ``{name: alpha_name}`` with one step size per
    leaf (Meta-SGD's and MAML++'s per-layer rates; a scalar tensor that requires grad is
    meta-learned through phi). ``lr=None`` means the gradients were taken of
    -alpha * L, so they already are the step: phi = theta + g. (The batched MAML engine does
    that: the step size then multiplies one scalar, the loss, rather than every weight.)
    Differentiable: keep the graph of ``grads`` (``create_graph=True``) and phi is a
    twice-differentiable function of theta, which is what second-order MAML differentiates.
    """
    if lr is None:
        return tree_map(torch.add, params, grads)
    if not isinstance(lr, Mapping):
        return tree_map(lambda p, g: _descend(p, g, lr), params, grads)
    if isinstance(params, Tensor) or set(lr) != set(params):
        have = "a flat tensor" if isinstance(params, Tensor) else f"names {sorted(params)}"
        raise ValueError(f"per-leaf step sizes need a dict of parameters with lr's names {sorted(lr)}, got {have}")
    return {k: _descend(p, grads[k], lr[k]) for k, p in params.items()}


def _descend(p: Tensor, g: Tensor, lr: float | Tensor) -> Tensor:
    return p - lr * g      # phi = theta - alpha * grad L(theta): the course's one gradient step


def check_params(params: Params | Tensor, name: str = "params", *, flat_ok: bool = False) -> None:
    """Refuse anything but a non-empty dict of floating-point tensors (or, with ``flat_ok``, a
    floating-point tensor of shape (P,)), with a message that says how to fix it."""
    if flat_ok and isinstance(params, Tensor):
        if not params.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {params.dtype}; use .double()")
        if params.ndim != 1:
            raise ValueError(f"a flat {name} tensor must have shape (P,), got {tuple(params.shape)}; "
                             f"flatten it (.reshape(-1)) or pass a dict of tensors")
        return
    if not isinstance(params, dict) or not params:
        what = "a flat tensor of shape (P,) or a non-empty dict of tensors" if flat_ok else \
            "a non-empty dict {name: tensor} (e.g. dict(model.named_parameters()))"
        raise ValueError(f"{name} must be {what}, got {type(params).__name__}")
    for key, t in params.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"{name}[{key!r}] must be a tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise ValueError(f"{name}[{key!r}] must be a floating-point tensor, got dtype {t.dtype}; use .double()")


def detached(params: Params) -> Params:
    """The same tensors, cut from the autograd graph."""
    return {k: v.detach() for k, v in params.items()}


def dot(a: Params, b: Params) -> Tensor:
    """The inner product sum_k <a_k, b_k> of two dicts of the same shapes: a scalar."""
    return sum((a[k] * b[k]).sum() for k in a)


def norm(a: Params) -> Tensor:
    """The Euclidean norm of all entries of a dict, as if flattened into one vector: a scalar."""
    return torch.sqrt(dot(a, a))


def flatten(params: Params, like: Params) -> Tensor:
    """{name: (..., *shape)} -> (..., P), the names in the order of ``like`` (whose shapes are unbatched)."""
    return torch.cat([params[k].reshape(*params[k].shape[:params[k].ndim - like[k].ndim], -1) for k in like], -1)


def unflatten(flat: Tensor, like: Params) -> Params:
    """(P,) -> {name: shape of like[name]}, the inverse of :func:`flatten` for one point."""
    out, i = {}, 0
    for k, v in like.items():
        out[k] = flat[i:i + v.numel()].reshape(v.shape)
        i += v.numel()
    return out


def per_task(params: Params, n_tasks: int) -> Params:
    """One copy of the parameters per task: ``{name: (n_tasks, *shape)}``.

    The copies are ``expand``-ed views of ``params`` (no memory is copied); differentiating
    through them sums the per-task gradients back onto ``params``.
    """
    return {n: p.unsqueeze(0).expand(n_tasks, *p.shape) for n, p in params.items()}
