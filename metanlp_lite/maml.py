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
- :func:`inner_loop_batched`: the engine. Every task gets its own copy of the parameters,
  stacked along a leading task dimension; the forward pass over the T tasks is one
  ``vmap``-ed ``functional_call``, and since task t's loss depends only on copy t, one ordinary
  ``torch.autograd.grad`` of the *summed* loss gives all T inner gradients at once.
  Both loops step with :func:`metanlp_lite.params.gradient_step`, phi = theta - alpha * g.
- :class:`MAML`: ``.meta_loss`` (batched), ``.meta_loss_loop`` (the same numbers, one task at
  a time), ``.adapt``, ``.adapt_batch``, ``.predict``, ``.predict_batch``.
- :class:`Reptile`: the same shape of interface; ``.meta_loss(batch).backward()`` writes the
  Reptile direction ``theta - mean(phi)`` into ``.grad`` so any torch optimizer can step, and
  ``.meta_step(batch, outer_lr)`` applies it directly.
- :func:`meta_train`: the outer loop shared by all three (and by joint pretraining, which is
  MAML with zero inner steps).
- :func:`adaptation_curve`: query loss after 0, 1, ..., k fine-tuning steps on many tasks.

The sinusoid benchmark that trains these learners is :mod:`metanlp_lite.sinusoid`.
Parameters travel as dicts ``{name: tensor}`` (:mod:`metanlp_lite.params`: those of
``model.named_parameters()`` that require grad) and are applied with
``torch.func.functional_call``; the model's own parameters are never changed except by an
optimizer (or :meth:`Reptile.meta_step`).

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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .episodes import TaskBatch, check_batch, check_task
from .params import Criterion, Params, StepSize, detached, gradient_step, per_task
from .progress import progress
from .reproducible import round_parameters

__all__ = ["inner_loop", "inner_loop_batched", "task_losses", "MAML", "Reptile", "meta_train", "adaptation_curve"]

# Losses that compare a prediction with a target of the same shape: a shape mismatch there
# silently broadcasts (e.g. (K, 1) against (K,) gives a (K, K) loss), so we refuse it.
_ELEMENTWISE = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss)
_ELEMENTWISE_MODULES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)


def checked(loss_fn: Criterion) -> Criterion:
    """``loss_fn``, refusing an output and target that an elementwise loss would broadcast, and a
    loss that is not a scalar (the mean over the task's examples)."""
    elementwise = any(loss_fn is f for f in _ELEMENTWISE) or isinstance(loss_fn, _ELEMENTWISE_MODULES)

    def loss(out: Tensor, y: Tensor) -> Tensor:
        if elementwise and out.shape != y.shape:
            raise ValueError(
                f"the model's output for one task has shape {tuple(out.shape)} but the targets have "
                f"shape {tuple(y.shape)}; an elementwise loss would broadcast them. Give y the "
                f"shape of the output (e.g. (T, K, 1) for a 1-output regression).")
        value = loss_fn(out, y)
        if not isinstance(value, Tensor) or value.ndim != 0:
            raise ValueError(
                f"loss_fn must return a scalar tensor (the mean over the task's examples), got "
                f"{tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__}; use reduction='mean'.")
        return value

    return loss


# ---------------------------------------------------------------------------------------
# The inner loop: one task at a time (the teaching path), and T tasks at once (the engine)
# ---------------------------------------------------------------------------------------
def inner_loop(model: nn.Module, params: Params, x: Tensor, y: Tensor, *, lr: float,
               steps: int, loss_fn: Criterion, first_order: bool = False) -> Params:
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
            params = gradient_step(params, dict(zip(params, grads)), lr)
    return params


def task_losses(model: nn.Module, params: Params, x: Tensor, y: Tensor, loss_fn: Criterion) -> Tensor:
    """The losses of T tasks, each with its own parameters: params ``{name: (T, *shape)}``,
    x (T, K, ...), y (T, K, ...). Returns (T,), vmapped over tasks."""
    def one(p: Params, xi: Tensor, yi: Tensor) -> Tensor:
        return loss_fn(functional_call(model, p, (xi,)), yi)

    return vmap(one, randomness="different")(params, x, y)


def inner_loop_batched(model: nn.Module, phi: Params, x: Tensor, y: Tensor, *, lr: StepSize, steps: int,
                       loss_fn: Criterion, first_order: bool = False) -> Params:
    """The inner loops of T tasks at once: ``steps`` gradient steps for every task.

    phi: one copy of the parameters per task, ``{name: (T, *shape)}``
    (:func:`~metanlp_lite.params.per_task`, or per-task starting points such as Proto-MAML's
    heads); x (T, K, ...), y (T, K, ...). Returns the adapted ``{name: (T, *shape)}``.
    lr: one step size, or ``{name: step size}`` (one per parameter, e.g. a head's and a
    Transformer layer's; tensors that require grad are meta-learned, as in Meta-SGD).

    Task t's loss depends only on copy t, so the gradient of the *sum* of the T losses with
    respect to the stack is the stack of the T per-task gradients: one ordinary
    ``autograd.grad`` call does all tasks. With ``first_order=False`` the result stays
    differentiable (second order), exactly as in :func:`inner_loop`. With one step size, the
    gradient is taken of ``-lr * loss``, which is the step itself: the step size multiplies one
    scalar instead of every weight (two passes over the (T, ...) weights fewer per step,
    forward and backward).
    """
    per_leaf = isinstance(lr, Mapping)
    with torch.enable_grad():
        for _ in range(steps):
            at = ({n: p.detach().requires_grad_(True) for n, p in phi.items()}
                  if first_order or not any(p.requires_grad for p in phi.values()) else phi)
            loss = task_losses(model, at, x, y, loss_fn).sum()
            grads = torch.autograd.grad(loss if per_leaf else -lr * loss, tuple(at.values()),
                                        create_graph=not first_order, allow_unused=True, materialize_grads=True)
            # phi_t - alpha * grad L_t(phi_t); with one step size the gradients already are the step
            phi = gradient_step(phi, dict(zip(phi, grads)), lr if per_leaf else None)
    return phi


# ---------------------------------------------------------------------------------------
# The learners
# ---------------------------------------------------------------------------------------
class _Learner:
    """What MAML and Reptile share: the model, its checks, adapt and predict."""

    first_order: bool = False

    def __init__(self, model: nn.Module, inner_lr: float, inner_steps: int, loss_fn: Criterion) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps must be an integer >= 0, got {inner_steps!r}")
        if not inner_lr > 0:
            raise ValueError(f"inner_lr must be positive, got {inner_lr!r}")
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError("the model has no parameters that require grad: there is nothing to adapt")
        self.model, self.inner_lr, self.inner_steps = model, float(inner_lr), inner_steps
        self.loss_fn = checked(loss_fn)

    def params(self) -> Params:
        """The model's trainable parameters as a dict (the tensors themselves, not copies)."""
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def _theta(self, x: Tensor, keep_graph: bool) -> Params:
        """theta, after the checks every entry point makes once: the model's batch norm and
        the dtype of the inputs ``x``. Detached unless ``keep_graph``."""
        for name, module in self.model.named_modules():
            if (isinstance(module, nn.modules.batchnorm._NormBase) and module.training
                    and module.track_running_stats and module.running_mean is not None):
                raise ValueError(
                    f"module '{name or type(module).__name__}' ({type(module).__name__}) is in training "
                    "mode with running statistics: every inner step would overwrite its running_mean and "
                    "running_var (and torch.func.vmap cannot write them per task). Either call "
                    "torch.func.replace_all_batch_norm_modules_(model) to normalise with each task's own "
                    "batch statistics (as Finn et al. did), or call model.eval() to use fixed statistics.")
        params = self.params()
        p = next(iter(params.values()))
        if x.is_floating_point() and x.dtype != p.dtype:
            raise ValueError(f"inputs are {x.dtype} but the model's parameters are {p.dtype}; convert one "
                             f"of them (e.g. model.to({x.dtype}) or x.to({p.dtype})).")
        return params if keep_graph else detached(params)

    def _steps(self, steps: int | None) -> int:
        if steps is None:
            return self.inner_steps
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0 (or None for inner_steps), got {steps!r}")
        return steps

    def _inner(self, phi: Params, x: Tensor, y: Tensor, steps: int, first_order: bool) -> Params:
        return inner_loop_batched(self.model, phi, x, y, lr=self.inner_lr, steps=steps, loss_fn=self.loss_fn,
                                  first_order=first_order)

    def _keep_graph(self) -> bool:
        """Adapted parameters stay differentiable (MAML, with grad enabled) or not (Reptile, no_grad)."""
        return torch.is_grad_enabled() and not isinstance(self, Reptile)

    def adapt(self, support_x: Tensor, support_y: Tensor, steps: int | None = None) -> Params:
        """Adapted parameters for one task, leaving the model's own parameters untouched.

        support_x: (K, ...) inputs; support_y: (K, ...) targets; steps: default ``inner_steps``.
        Returns ``{name: tensor}``. Under ``torch.no_grad()`` the result is detached (cheap
        evaluation); otherwise it stays differentiable with respect to the model's
        parameters (second order for MAML unless ``first_order=True``; Reptile always detaches).
        """
        check_task(support_x, support_y, "support")
        steps, keep = self._steps(steps), self._keep_graph()
        phi = inner_loop(self.model, self._theta(support_x, keep), support_x, support_y, lr=self.inner_lr,
                         steps=steps, loss_fn=self.loss_fn, first_order=self.first_order or not keep)
        return phi if keep else detached(phi)

    def adapt_batch(self, support_x: Tensor, support_y: Tensor, steps: int | None = None) -> Params:
        """:meth:`adapt` for T tasks at once (batched). support_x (T, K, ...), support_y
        (T, K, ...). Returns ``{name: (T, *param.shape)}``."""
        check_batch(TaskBatch(support_x, support_y, support_x, support_y))
        steps, keep = self._steps(steps), self._keep_graph()
        theta = self._theta(support_x, keep)
        phi = self._inner(per_task(theta, support_x.shape[0]), support_x, support_y, steps,
                          first_order=self.first_order or not keep)
        return phi if keep else detached(phi)

    def predict(self, params: Params | None, x: Tensor) -> Tensor:
        """The model's output on x (N, ...) with ``params`` (None: the model's own)."""
        return self.model(x) if params is None else functional_call(self.model, params, (x,))

    def predict_batch(self, params: Params, x: Tensor) -> Tensor:
        """Outputs for T tasks at once: params with a leading task dim (from
        :meth:`adapt_batch`), x (T, N, ...). Returns (T, N, ...)."""
        return vmap(lambda p, xi: functional_call(self.model, p, (xi,)), randomness="different")(params, x)


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
                 loss_fn: Criterion = F.cross_entropy) -> None:
        super().__init__(model, inner_lr, inner_steps, loss_fn)
        self.first_order = bool(first_order)

    def meta_loss(self, batch: TaskBatch) -> Tensor:
        """Mean query loss after adaptation over the T tasks of ``batch``, batched with vmap.

        batch: TaskBatch with support_x (T, K, ...), support_y (T, K, ...), query_x
        (T, Q, ...), query_y (T, Q, ...). Returns a scalar; its ``.backward()`` adds the
        MAML meta-gradient (first-order if ``first_order``) to ``model.parameters()``' grads.
        """
        sx, sy, qx, qy = check_batch(batch)
        theta = self._theta(sx, keep_graph=True)
        phi = self._inner(per_task(theta, sx.shape[0]), sx, sy, self.inner_steps, self.first_order)
        return task_losses(self.model, phi, qx, qy, self.loss_fn).mean()

    def meta_loss_loop(self, batch: TaskBatch) -> Tensor:
        """:meth:`meta_loss` one task at a time with :func:`inner_loop` (same numbers, slower)."""
        batch = check_batch(batch)
        theta = self._theta(batch.support_x, keep_graph=True)
        losses = []
        for sx, sy, qx, qy in zip(*batch):
            phi = inner_loop(self.model, theta, sx, sy, lr=self.inner_lr, steps=self.inner_steps,
                             loss_fn=self.loss_fn, first_order=self.first_order)
            losses.append(self.loss_fn(functional_call(self.model, phi, (qx,)), qy))
        return torch.stack(losses).mean()


def _direction(theta: Params, phi: Params) -> Params:
    """Reptile's direction theta - mean_t(phi_t): theta {name: shape}, phi {name: (T, *shape)}."""
    return {n: theta[n] - phi[n].mean(0) for n in theta}


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
                 loss_fn: Criterion = F.cross_entropy) -> None:
        super().__init__(model, inner_lr, inner_steps, loss_fn)

    def _adapted(self, batch: TaskBatch, loop: bool = False) -> tuple[Params, Params, Tensor]:
        """theta, the adapted phi of every task ``{name: (T, *shape)}`` and the query losses (T,),
        all without graph; batched, or one task at a time with :func:`inner_loop` (``loop``)."""
        sx, sy, qx, qy = batch = check_batch(batch)
        theta = self._theta(sx, keep_graph=False)
        if loop:
            phis = [inner_loop(self.model, theta, *task, lr=self.inner_lr, steps=self.inner_steps,
                               loss_fn=self.loss_fn, first_order=True) for task in zip(sx, sy)]
            phi = {n: torch.stack([p[n].detach() for p in phis]) for n in theta}
        else:
            phi = detached(self._inner(per_task(theta, sx.shape[0]), sx, sy, self.inner_steps, first_order=True))
        with torch.no_grad():
            losses = task_losses(self.model, phi, qx, qy, self.loss_fn)
        return theta, phi, losses

    def meta_direction(self, batch: TaskBatch, loop: bool = False) -> Params:
        """The Reptile pseudo-gradient ``theta - mean_i(phi_i)`` as a dict of tensors."""
        theta, phi, _ = self._adapted(batch, loop)
        return _direction(theta, phi)

    def meta_direction_loop(self, batch: TaskBatch) -> Params:
        """:meth:`meta_direction` one task at a time with :func:`inner_loop`."""
        return self.meta_direction(batch, loop=True)

    def meta_loss(self, batch: TaskBatch, loop: bool = False) -> Tensor:
        """Mean query loss after adaptation; ``.backward()`` adds ``theta - mean(phi)`` to ``.grad``."""
        theta, phi, losses = self._adapted(batch, loop)
        params = self.params()                      # a scalar equal to the loss whose gradient is the direction:
        linear = sum((params[n] * d).sum() for n, d in _direction(theta, phi).items())
        return losses.mean() + (linear - linear.detach())

    def meta_loss_loop(self, batch: TaskBatch) -> Tensor:
        """:meth:`meta_loss` one task at a time (same numbers)."""
        return self.meta_loss(batch, loop=True)

    @torch.no_grad()
    def meta_step(self, batch: TaskBatch, outer_lr: float) -> float:
        """One plain Reptile update in place: ``theta <- theta + outer_lr * (mean(phi) - theta)``.

        Returns the mean query loss after adaptation (before the update), as a float.
        """
        theta, phi, losses = self._adapted(batch)
        direction = _direction(theta, phi)
        for n, p in self.params().items():
            p.sub_(direction[n], alpha=outer_lr)
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
    source: Iterator[TaskBatch] = (batches() for _ in itertools.count()) if callable(batches) else iter(batches)
    losses: list[float] = []
    bar = progress(range(n_iters), desc=desc, disable=not show_progress)
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        loss = learner.meta_loss(next(source))
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
                     loss_fn: Criterion) -> Tensor:
    """Query loss of each task after 0, 1, ..., ``steps`` SGD steps on its support set.

    Starts every task from the model's current parameters (nothing is changed). batch:
    TaskBatch of T tasks. Returns a tensor (steps + 1, T), detached.
    """
    learner = _Learner(model, inner_lr, steps, loss_fn)
    sx, sy, qx, qy = check_batch(batch)
    phi = per_task(learner._theta(sx, keep_graph=False), sx.shape[0])
    out = []
    for step in range(steps + 1):
        if step > 0:
            phi = detached(learner._inner(phi, sx, sy, 1, first_order=True))
        with torch.no_grad():
            out.append(task_losses(model, phi, qx, qy, learner.loss_fn))
    return torch.stack(out)
