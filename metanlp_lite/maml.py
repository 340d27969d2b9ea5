"""MAML, first-order MAML and Reptile, batched over tasks with ``torch.func``.

The whole idea fits in two lines. For each task, adapt the shared initialisation
:math:`\\theta` with a few gradient steps on the task's support set,

.. math:: \\phi = \\theta - \\alpha \\nabla_\\theta \\mathcal{L}_{\\text{support}}(\\theta),

then score the adapted :math:`\\phi` on the task's query set and move :math:`\\theta` so that
this *post-adaptation* loss goes down (Finn et al., 2017):

.. math:: \\nabla_\\theta \\mathcal{L}_{\\text{query}}(\\phi)
          = \\bigl(I - \\alpha \\nabla^2_\\theta \\mathcal{L}_{\\text{support}}(\\theta)\\bigr)
            \\nabla_\\phi \\mathcal{L}_{\\text{query}}(\\phi).

*First-order* MAML drops the Hessian term (the inner gradient is treated as a constant);
*Reptile* (Nichol et al., 2018) moves :math:`\\theta` towards the adapted weights, along
:math:`\\theta - \\bar\\phi` averaged over tasks.

What is here
------------
- :func:`inner_loop`: the per-task inner loop, written with ``torch.autograd.grad`` (the
  teaching path: one task at a time, every line visible).
- :class:`MAML`: ``.adapt``, ``.meta_loss`` (batched over tasks with ``torch.func.vmap``),
  ``.meta_loss_loop`` (the same numbers, one task at a time), ``.predict``.
- The batched engine, :meth:`_Learner._inner_batched`: every task gets its own copy of the
  parameters, stacked along a leading task dimension; the forward pass over the T tasks is one
  ``vmap``-ed ``functional_call``, and since task t's loss depends only on copy t, one ordinary
  ``torch.autograd.grad`` of the *summed* loss gives all T inner gradients at once.
- :class:`Reptile`: the same shape of interface; ``.meta_loss(batch).backward()`` writes the
  Reptile direction ``theta - mean(phi)`` into ``.grad`` so any torch optimizer can step, and
  ``.meta_step(batch, outer_lr)`` applies it directly.
- :func:`meta_train`: the outer loop shared by all three (and by joint pretraining, which is
  MAML with zero inner steps).
- :func:`adaptation_curve`: query loss after 0, 1, ..., s fine-tuning steps on many tasks.
- Sinusoid helpers: :func:`sinusoid_mlp` (1 -> 40 -> 40 -> 1) and :func:`train_sinusoid`, so
  later notebooks can retrain an initialisation in seconds.

Parameters travel as dicts ``{name: tensor}`` (those of ``model.named_parameters()`` that
require grad) and are applied with ``torch.func.functional_call``; the model's own
parameters are never changed except by an optimizer (or :meth:`Reptile.meta_step`).

Buffers: buffers that are only read (e.g. batch norm in ``eval()`` mode) work. Batch norm in
training mode with running statistics would write its running averages once per task and
inner step (and cannot under ``vmap``), so it is refused with a message; call
``torch.func.replace_all_batch_norm_modules_(model)`` to use per-task batch statistics (as
Finn et al. did), or switch the model to ``eval()``.

Why not ``vmap(grad(...))``, the textbook ``torch.func`` recipe (notebook 02 writes it)? It
gives the same numbers for most models, but (1) ``vmap`` computes wrong *second-order*
gradients through ``LayerNorm`` and training-mode batch norm (pytorch/functorch#534; the
stacked engine differentiates ordinary, unbatched autograd graphs and is exact there, which
the tests check against finite differences), and (2) the stacked engine runs fewer, larger
operations: 1.3x faster than ``vmap(grad(...))`` in both cases of ``benchmarks/maml_speed.py``.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .episodes import TaskBatch
from .progress import progress
from .reproducible import round_parameters

__all__ = [
    "Params",
    "inner_loop",
    "MAML",
    "Reptile",
    "meta_train",
    "adaptation_curve",
]

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]

# Losses that compare a prediction with a target of the same shape: a shape mismatch there
# silently broadcasts (e.g. (K, 1) against (K,) gives a (K, K) loss), so we refuse it.
_ELEMENTWISE_LOSSES = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss)
_ELEMENTWISE_MODULES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)


def _is_elementwise(loss_fn: Any) -> bool:
    return any(loss_fn is f for f in _ELEMENTWISE_LOSSES) or isinstance(loss_fn, _ELEMENTWISE_MODULES)


# ---------------------------------------------------------------------------------------
# The inner loop, one task at a time (the teaching path)
# ---------------------------------------------------------------------------------------
def inner_loop(model: nn.Module, params: Params, x: Tensor, y: Tensor, *, lr: float,
               steps: int, loss_fn: LossFn, first_order: bool = False) -> Params:
    """Adapt ``params`` to one task with ``steps`` plain gradient steps.

    model: any ``nn.Module``; ``params`` replace its parameters via ``functional_call``.
    x: (K, ...) support inputs of one task; y: (K, ...) its targets.
    Returns the adapted parameters ``phi`` (same names and shapes as ``params``).

    With ``first_order=False`` the graph of each inner gradient is kept
    (``create_graph=True``), so ``phi`` is a twice-differentiable function of ``params``:
    backpropagating a loss of ``phi`` gives the exact MAML meta-gradient. With
    ``first_order=True`` the inner gradients are constants and ``d phi / d params = I``.
    """
    with torch.enable_grad():
        # autograd.grad needs leaves that require grad; give detached inputs one.
        params = {n: p if p.requires_grad else p.detach().requires_grad_(True) for n, p in params.items()}
        for _ in range(steps):
            loss = loss_fn(functional_call(model, params, (x,)), y)
            grads = torch.autograd.grad(loss, tuple(params.values()), create_graph=not first_order,
                                        allow_unused=True, materialize_grads=True)
            params = {n: p - lr * g for (n, p), g in zip(params.items(), grads)}  # phi = theta - alpha * grad L
    return params


# ---------------------------------------------------------------------------------------
# Input checks (clear errors instead of broadcasting surprises)
# ---------------------------------------------------------------------------------------
def _check_task(x: Any, y: Any, what: str = "support") -> None:
    """One task: x (K, ...), y (K, ...) with K >= 1."""
    for name, t in ((f"{what}_x", x), (f"{what}_y", y)):
        if not isinstance(t, Tensor):
            raise ValueError(
                f"{name} must be a tensor, got {type(t).__name__}. Texts must be embedded first "
                f"(e.g. with metanlp_lite.text) so that {name} is a (K, D) tensor."
            )
        if t.ndim == 0:
            raise ValueError(f"{name} must have a leading example dimension (K, ...), got a scalar")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{what}_x and {what}_y disagree on the number of examples: {what}_x has shape "
            f"{tuple(x.shape)} ({x.shape[0]} examples), {what}_y has shape {tuple(y.shape)} "
            f"({y.shape[0]} examples). Pass one target per input."
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"the {what} set is empty ({what}_x has shape {tuple(x.shape)}): a task needs at least "
            f"one {what} example" + (" to adapt on." if what == "support" else " to be scored on.")
        )


def _check_batch(batch: Any) -> TaskBatch:
    """A TaskBatch of T >= 1 tasks: support (T, K, ...), query (T, Q, ...)."""
    if not isinstance(batch, tuple) or len(batch) != 4:
        raise ValueError(
            "expected a TaskBatch(support_x, support_y, query_x, query_y) with a leading task "
            f"dimension, got {type(batch).__name__}"
        )
    batch = TaskBatch(*batch)
    for name, t in zip(TaskBatch._fields, batch):
        if not isinstance(t, Tensor):
            raise ValueError(
                f"batch.{name} must be a tensor with a leading task dimension (T, ...), got "
                f"{type(t).__name__}. Texts must be embedded first (e.g. with metanlp_lite.text)."
            )
        if t.ndim < 2:
            raise ValueError(
                f"batch.{name} must have shape (T, K, ...) (tasks, examples, ...), got "
                f"{tuple(t.shape)}. For a single task, add a task dimension with .unsqueeze(0)."
            )
    sizes = {name: t.shape[0] for name, t in zip(TaskBatch._fields, batch)}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the four parts of the batch disagree on the number of tasks T: {sizes}")
    if batch.support_x.shape[0] == 0:
        raise ValueError("the batch holds no tasks (T = 0)")
    _check_task(batch.support_x[0], batch.support_y[0], "support")
    _check_task(batch.query_x[0], batch.query_y[0], "query")
    return batch


def _check_buffers(model: nn.Module) -> None:
    """Refuse batch norm that would write its running statistics during adaptation."""
    for name, module in model.named_modules():
        if (isinstance(module, nn.modules.batchnorm._NormBase) and module.training
                and module.track_running_stats and module.running_mean is not None):
            raise ValueError(
                f"module '{name or type(module).__name__}' ({type(module).__name__}) is in training "
                "mode with running statistics: every inner step would overwrite its running_mean and "
                "running_var (and torch.func.vmap cannot write them per task). Either call "
                "torch.func.replace_all_batch_norm_modules_(model) to normalise with each task's own "
                "batch statistics (as Finn et al. did), or call model.eval() to use fixed statistics."
            )


def _check_dtype(x: Tensor, params: Params) -> None:
    p = next(iter(params.values()), None)
    if p is not None and x.is_floating_point() and x.dtype != p.dtype:
        raise ValueError(
            f"inputs are {x.dtype} but the model's parameters are {p.dtype}; convert one of them "
            f"(e.g. model.to({x.dtype}) or x.to({p.dtype}))."
        )


def _per_task(params: Params, n_tasks: int) -> Params:
    """One copy of the parameters per task: ``{name: (n_tasks, *shape)}``.

    The copies are ``expand``-ed views of ``params`` (no memory is copied); differentiating
    through them sums the per-task gradients back onto ``params``.
    """
    return {n: p.unsqueeze(0).expand(n_tasks, *p.shape) for n, p in params.items()}


# ---------------------------------------------------------------------------------------
# The learners
# ---------------------------------------------------------------------------------------
class _Learner:
    """What MAML and Reptile share: the model, the inner loop, adapt and predict."""

    first_order: bool = False

    def __init__(self, model: nn.Module, inner_lr: float, inner_steps: int, loss_fn: LossFn) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps must be an integer >= 0, got {inner_steps!r}")
        if not inner_lr > 0:
            raise ValueError(f"inner_lr must be positive, got {inner_lr!r}")
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError("the model has no parameters that require grad: there is nothing to adapt")
        self.model = model
        self.inner_lr = float(inner_lr)
        self.inner_steps = inner_steps
        self.loss_fn = loss_fn

    # -- parameters --------------------------------------------------------------------
    def params(self) -> Params:
        """The model's trainable parameters as a dict (the tensors themselves, not copies)."""
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def predict(self, params: Params | None, x: Tensor) -> Tensor:
        """The model's output on x (N, ...) with ``params`` (None: the model's own)."""
        if params is None:
            return self.model(x)
        return functional_call(self.model, params, (x,))

    def predict_batch(self, params: Params, x: Tensor) -> Tensor:
        """Outputs for T tasks at once: params with a leading task dim (from
        :meth:`adapt_batch`), x (T, N, ...). Returns (T, N, ...)."""
        return vmap(lambda p, xi: functional_call(self.model, p, (xi,)), randomness="different")(params, x)

    # -- one task's loss, as seen by torch.func ------------------------------------------
    def _loss_of_output(self, out: Tensor, y: Tensor) -> Tensor:
        """``loss_fn(out, y)`` for one task, refusing shapes that would silently broadcast."""
        if _is_elementwise(self.loss_fn) and out.shape != y.shape:
            raise ValueError(
                f"the model's output for one task has shape {tuple(out.shape)} but the targets have "
                f"shape {tuple(y.shape)}; an elementwise loss would broadcast them. Give y the "
                f"shape of the output (e.g. (T, K, 1) for a 1-output regression)."
            )
        loss = self.loss_fn(out, y)
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            raise ValueError(
                f"loss_fn must return a scalar tensor (the mean over the task's examples), got "
                f"{tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__}; use reduction='mean'."
            )
        return loss

    def _loss(self, params: Params, x: Tensor, y: Tensor) -> Tensor:
        """One task's loss with ``params``: x (K, ...), y (K, ...) -> scalar."""
        return self._loss_of_output(functional_call(self.model, params, (x,)), y)

    def _task_losses(self, params: Params, x: Tensor, y: Tensor) -> Tensor:
        """The losses of T tasks at once: params ``{name: (T, *shape)}`` (one copy per task),
        x (T, K, ...), y (T, K, ...). Returns (T,)."""
        return vmap(self._loss, randomness="different")(params, x, y)

    def _inner_batched(self, phi: Params, x: Tensor, y: Tensor, steps: int, first_order: bool) -> Params:
        """The inner loops of T tasks at once: ``steps`` gradient steps for every task.

        phi: one copy of the parameters per task, ``{name: (T, *shape)}`` (see
        :func:`_per_task`); x (T, K, ...), y (T, K, ...). Returns the adapted
        ``{name: (T, *shape)}``.

        Task t's loss depends only on copy t, so the gradient of the *sum* of the T losses with
        respect to the stack is the stack of the T per-task gradients: one ordinary
        ``autograd.grad`` call does all tasks. With ``create_graph=True`` (second order) the
        result stays differentiable, exactly as in :func:`inner_loop`. The step
        ``phi - alpha * grad L`` is computed as ``phi + grad(-alpha * L)``: the scalar multiplies
        the loss instead of every gradient entry, which saves two passes over the (T, ...)
        weights per step, forward and backward.
        """
        with torch.enable_grad():
            for _ in range(steps):
                at = ({n: p.detach().requires_grad_(True) for n, p in phi.items()}
                      if first_order or not any(p.requires_grad for p in phi.values()) else phi)
                loss = -self.inner_lr * self._task_losses(at, x, y).sum()
                delta = torch.autograd.grad(loss, tuple(at.values()), create_graph=not first_order,
                                            allow_unused=True, materialize_grads=True)
                phi = {n: p + d for (n, p), d in zip(phi.items(), delta)}  # phi_t - alpha * grad L_t
        return phi

    # -- adaptation ----------------------------------------------------------------------
    def _steps(self, steps: int | None) -> int:
        if steps is None:
            return self.inner_steps
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0 (or None for inner_steps), got {steps!r}")
        return steps

    def _adaptation_start(self, support_x: Tensor, steps: int | None) -> tuple[int, Params, bool]:
        """What :meth:`adapt` and :meth:`adapt_batch` share: the checks, the number of steps,
        theta, and whether to keep the graph (no under ``torch.no_grad()`` or for Reptile; theta
        is then detached)."""
        _check_buffers(self.model)
        steps = self._steps(steps)
        params = self.params()
        _check_dtype(support_x, params)
        keep_graph = torch.is_grad_enabled() and not isinstance(self, Reptile)
        if not keep_graph:
            params = {n: p.detach() for n, p in params.items()}
        return steps, params, keep_graph

    def adapt(self, support_x: Tensor, support_y: Tensor, steps: int | None = None) -> Params:
        """Adapted parameters for one task, leaving the model's own parameters untouched.

        support_x: (K, ...) inputs; support_y: (K, ...) targets; steps: default ``inner_steps``.
        Returns ``{name: tensor}``. Under ``torch.no_grad()`` the result is detached (cheap
        evaluation); otherwise it stays differentiable with respect to the model's
        parameters (second order for MAML unless ``first_order=True``; Reptile always detaches).
        """
        _check_task(support_x, support_y, "support")
        steps, params, keep_graph = self._adaptation_start(support_x, steps)
        phi = inner_loop(self.model, params, support_x, support_y, lr=self.inner_lr, steps=steps,
                         loss_fn=self._loss_of_output, first_order=self.first_order or not keep_graph)
        return phi if keep_graph else {n: p.detach() for n, p in phi.items()}

    def adapt_batch(self, support_x: Tensor, support_y: Tensor, steps: int | None = None) -> Params:
        """:meth:`adapt` for T tasks at once (batched). support_x (T, K, ...), support_y
        (T, K, ...). Returns ``{name: (T, *param.shape)}``."""
        _check_batch(TaskBatch(support_x, support_y, support_x, support_y))
        steps, params, keep_graph = self._adaptation_start(support_x, steps)
        phi = self._inner_batched(_per_task(params, support_x.shape[0]), support_x, support_y, steps,
                                  first_order=self.first_order or not keep_graph)
        return phi if keep_graph else {n: p.detach() for n, p in phi.items()}


class MAML(_Learner):
    """Model-Agnostic Meta-Learning (Finn et al., 2017), second or first order.

    Args:
        model: any ``nn.Module`` mapping a task's inputs (K, ...) to outputs; its trainable
            parameters are the initialisation theta being meta-learned.
        inner_lr: alpha, the step size of the inner (adaptation) gradient steps.
        inner_steps: number of inner steps during meta-training (0 = no adaptation: the
            meta-loss is then the plain loss at theta, i.e. joint pretraining).
        first_order: drop the second-order term (first-order MAML, "FOMAML").
        loss_fn: ``loss_fn(output, target) -> scalar``, e.g. ``F.cross_entropy`` (default)
            or ``F.mse_loss`` for regression.

    Usage::

        maml = MAML(model, inner_lr=0.01, inner_steps=1, loss_fn=F.mse_loss)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        opt.zero_grad(); maml.meta_loss(batch).backward(); opt.step()
    """

    def __init__(self, model: nn.Module, inner_lr: float, inner_steps: int, first_order: bool = False,
                 loss_fn: LossFn = F.cross_entropy) -> None:
        super().__init__(model, inner_lr, inner_steps, loss_fn)
        self.first_order = bool(first_order)

    def meta_loss(self, batch: TaskBatch) -> Tensor:
        """Mean query loss after adaptation over the T tasks of ``batch``, batched with vmap.

        batch: TaskBatch with support_x (T, K, ...), support_y (T, K, ...), query_x
        (T, Q, ...), query_y (T, Q, ...). Returns a scalar; its ``.backward()`` adds the
        MAML meta-gradient (first-order if ``first_order``) to ``model.parameters()``' grads.
        """
        batch = _check_batch(batch)
        _check_buffers(self.model)
        params = self.params()
        _check_dtype(batch.support_x, params)
        phi = self._inner_batched(_per_task(params, batch.support_x.shape[0]), batch.support_x,
                                  batch.support_y, self.inner_steps, self.first_order)
        return self._task_losses(phi, batch.query_x, batch.query_y).mean()

    def meta_loss_loop(self, batch: TaskBatch) -> Tensor:
        """:meth:`meta_loss` one task at a time with :func:`inner_loop` (same numbers, slower)."""
        batch = _check_batch(batch)
        _check_buffers(self.model)
        params = self.params()
        _check_dtype(batch.support_x, params)
        losses = []
        for sx, sy, qx, qy in zip(*batch):
            phi = inner_loop(self.model, params, sx, sy, lr=self.inner_lr, steps=self.inner_steps,
                             loss_fn=self._loss_of_output, first_order=self.first_order)
            losses.append(self._loss(phi, qx, qy))
        return torch.stack(losses).mean()


class Reptile(_Learner):
    """Reptile (Nichol, Achiam & Schulman, 2018): move theta towards the adapted weights.

    For each task, ``inner_steps`` plain SGD steps (step ``inner_lr``) on the support set
    give phi_i; the meta-update direction is ``theta - mean_i(phi_i)``, used like a gradient:
    ``theta <- theta - outer_lr * (theta - mean(phi))``.

    ``.meta_loss(batch)`` returns the mean query loss after adaptation (a number to
    monitor), built so that its ``.backward()`` adds ``theta - mean(phi)`` to the
    parameters' ``.grad``: the training loop is then the same as MAML's, with any torch
    optimizer. ``.meta_step(batch, outer_lr)`` applies the plain Reptile update directly.
    """

    first_order = True

    def __init__(self, model: nn.Module, inner_lr: float, inner_steps: int,
                 loss_fn: LossFn = F.cross_entropy) -> None:
        super().__init__(model, inner_lr, inner_steps, loss_fn)

    def _adapted(self, batch: TaskBatch) -> tuple[Params, Tensor]:
        """Adapted params per task {name: (T, ...)} and query losses (T,), batched, no graph."""
        batch = _check_batch(batch)
        _check_buffers(self.model)
        params = {n: p.detach() for n, p in self.params().items()}
        _check_dtype(batch.support_x, params)
        phi = self._inner_batched(_per_task(params, batch.support_x.shape[0]), batch.support_x,
                                  batch.support_y, self.inner_steps, first_order=True)
        phi = {n: p.detach() for n, p in phi.items()}
        with torch.no_grad():
            losses = self._task_losses(phi, batch.query_x, batch.query_y)
        return phi, losses

    def meta_direction(self, batch: TaskBatch) -> Params:
        """The Reptile pseudo-gradient ``theta - mean_i(phi_i)`` as a dict of tensors."""
        phi, _ = self._adapted(batch)
        return {n: p.detach() - phi[n].mean(0) for n, p in self.params().items()}

    def meta_direction_loop(self, batch: TaskBatch) -> Params:
        """:meth:`meta_direction` one task at a time with :func:`inner_loop`."""
        batch = _check_batch(batch)
        _check_buffers(self.model)
        theta = {n: p.detach() for n, p in self.params().items()}
        phis = [inner_loop(self.model, theta, sx, sy, lr=self.inner_lr, steps=self.inner_steps,
                           loss_fn=self._loss_of_output, first_order=True) for sx, sy in zip(batch.support_x, batch.support_y)]
        return {n: theta[n] - torch.stack([phi[n].detach() for phi in phis]).mean(0) for n in theta}

    def _surrogate(self, value: Tensor, direction: Params) -> Tensor:
        """A scalar equal to ``value`` whose gradient with respect to theta is ``direction``."""
        params = self.params()
        linear = sum((params[n] * d).sum() for n, d in direction.items())
        constant = sum((params[n].detach() * d).sum() for n, d in direction.items())
        return value.detach() + (linear - constant)  # linear - constant == 0 exactly

    def meta_loss(self, batch: TaskBatch) -> Tensor:
        """Mean query loss after adaptation; ``.backward()`` adds ``theta - mean(phi)`` to ``.grad``."""
        phi, losses = self._adapted(batch)
        direction = {n: p.detach() - phi[n].mean(0) for n, p in self.params().items()}
        return self._surrogate(losses.mean(), direction)

    def meta_loss_loop(self, batch: TaskBatch) -> Tensor:
        """:meth:`meta_loss` one task at a time (same numbers)."""
        batch = _check_batch(batch)
        _check_buffers(self.model)
        theta = {n: p.detach() for n, p in self.params().items()}
        phis, losses = [], []
        for sx, sy, qx, qy in zip(*batch):
            phi = inner_loop(self.model, theta, sx, sy, lr=self.inner_lr, steps=self.inner_steps,
                             loss_fn=self._loss_of_output, first_order=True)
            phi = {n: p.detach() for n, p in phi.items()}
            phis.append(phi)
            with torch.no_grad():
                losses.append(self._loss(phi, qx, qy))
        direction = {n: theta[n] - torch.stack([phi[n] for phi in phis]).mean(0) for n in theta}
        return self._surrogate(torch.stack(losses).mean(), direction)

    @torch.no_grad()
    def meta_step(self, batch: TaskBatch, outer_lr: float) -> float:
        """One plain Reptile update in place: ``theta <- theta + outer_lr * (mean(phi) - theta)``.

        Returns the mean query loss after adaptation (before the update), as a float.
        """
        phi, losses = self._adapted(batch)
        for n, p in self.params().items():
            p.add_(phi[n].mean(0) - p, alpha=outer_lr)
        return losses.mean().item()


# ---------------------------------------------------------------------------------------
# The outer loop and evaluation
# ---------------------------------------------------------------------------------------



def meta_train(learner: _Learner, batches: Iterable[TaskBatch] | Callable[[], TaskBatch], n_iters: int,
               optimizer: torch.optim.Optimizer | None = None, *, outer_lr: float = 1e-3,
               desc: str = "meta-training", show_progress: bool = True,
               round_to: torch.dtype | None = None) -> list[float]:
    """Meta-train ``learner.model`` for ``n_iters`` meta-steps; returns the meta-loss of each step.

    batches: an iterable of TaskBatches, or a function returning a fresh TaskBatch.
    optimizer: default Adam(lr=outer_lr) over the model's trainable parameters.
    Each step: ``zero_grad``, ``learner.meta_loss(batch).backward()``, ``optimizer.step()``
    (the same loop for MAML, first-order MAML, Reptile and joint pretraining).
    round_to: e.g. ``torch.float32`` for a float64 model: after each step the parameters are
    rounded to that precision (:func:`~metanlp_lite.reproducible.round_parameters`), so that
    a run is the same on any CPU.
    """
    if optimizer is None:
        optimizer = torch.optim.Adam([p for p in learner.model.parameters() if p.requires_grad], lr=outer_lr)
    source: Iterator[TaskBatch] = (
        (batches() for _ in itertools.count()) if callable(batches) else iter(batches)
    )
    losses: list[float] = []
    bar = progress(range(n_iters), desc=desc, disable=not show_progress)
    for step in bar:
        batch = next(source)
        optimizer.zero_grad(set_to_none=True)
        loss = learner.meta_loss(batch)
        loss.backward()
        optimizer.step()
        if round_to is not None:
            round_parameters(learner.model, round_to)
        losses.append(loss.item())
        if show_progress and (step + 1) % 100 == 0:
            bar.set_postfix_str(f"loss {sum(losses[-100:]) / 100:.3f}", refresh=False)
    bar.close()
    return losses


def adaptation_curve(model: nn.Module, batch: TaskBatch, *, inner_lr: float, steps: int,
                     loss_fn: LossFn) -> Tensor:
    """Query loss of each task after 0, 1, ..., ``steps`` SGD steps on its support set.

    Starts every task from the model's current parameters (nothing is changed). batch:
    TaskBatch of T tasks. Returns a tensor (steps + 1, T), detached.
    """
    learner = _Learner(model, inner_lr, steps, loss_fn)
    batch = _check_batch(batch)
    _check_buffers(model)
    theta = {n: p.detach() for n, p in learner.params().items()}
    _check_dtype(batch.support_x, theta)
    phi = _per_task(theta, batch.support_x.shape[0])
    out = []
    for step in range(steps + 1):
        if step > 0:
            phi = {n: p.detach() for n, p in
                   learner._inner_batched(phi, batch.support_x, batch.support_y, 1, first_order=True).items()}
        with torch.no_grad():
            out.append(learner._task_losses(phi, batch.query_x, batch.query_y))
    return torch.stack(out)


# The sinusoid benchmark moved to metanlp_lite.sinusoid; its names stay importable from here.
_MOVED = frozenset({"sinusoid_mlp", "SINUSOID_METHODS", "train_sinusoid"})


def __getattr__(name: str):
    if name in _MOVED:
        from . import sinusoid

        return getattr(sinusoid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
