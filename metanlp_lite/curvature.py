"""Curvature and what one inner step gains: the second-order expansion of a step, the top
Hessian eigenvalue, and the step size at which gradient descent diverges.

- :func:`one_step_expansion`: the query loss after one inner step phi = theta - alpha g_s
  against its second-order expansion, L_q(phi) ~ L_q - alpha g_q . g_s + (alpha^2 / 2)
  g_s . H_q g_s: gradient norms, their alignment, and the curvature term, per task;
- :func:`top_hessian_eigenvalue`: lambda_max by power iteration on Hessian-vector products;
- :func:`divergence_lr`: the smallest inner learning rate at which gradient descent diverges,
  found by sweeping it, batched over the sweep; :func:`descent_sharpness`: lambda_max measured
  along a run of gradient descent (progressive sharpening, the edge of stability). For a
  quadratic with a positive-definite Hessian, gradient descent diverges exactly when
  alpha > 2 / lambda_max; along a direction of negative curvature it moves away from the
  saddle for every alpha > 0.

Taught in notebook 03 (sections on curvature, the stability bound and what one step gains);
the loss surfaces, planes and trajectories it draws are in :mod:`metanlp_lite.landscape`.
Parameters are dicts ``{name: tensor}``, as there.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import vmap

from . import objective
from .landscape import loss_of, random_direction
from .params import Criterion, Loss, Params, check_params, detached, dot, gradient_step, norm

__all__ = ["HessianEig", "DivergenceSweep", "StepExpansion", "DescentRun", "one_step_expansion", "top_hessian_eigenvalue", "divergence_lr", "descent_sharpness"]


class HessianEig(NamedTuple):
    """Top eigenpair of a Hessian found by power iteration. value: lambda_max; vector: unit
    eigenvector (dict like the parameters); iterations: HVPs used; residual: ||Hv - lambda v|| / |lambda|."""
    value: float
    vector: Params
    iterations: int
    residual: float


class DivergenceSweep(NamedTuple):
    """Gradient descent run with every step size in ``alphas`` (A,): ``final`` (A,) loss after
    the steps, ``start`` the loss before them, ``diverged`` (A,) bool (final > start, or not finite),
    ``alpha_div`` the smallest diverging step size (inf when none of the sweep diverged)."""
    alphas: Tensor
    final: Tensor
    start: float
    diverged: Tensor
    alpha_div: float


class StepExpansion(NamedTuple):
    """One inner step phi = theta - alpha g_s of each of T tasks, and its second-order expansion

        L_q(phi) ~ L_q(theta) - alpha g_q . g_s + (alpha^2 / 2) g_s . H_q g_s,

    with g_s = grad L_s(theta) (support), g_q = grad L_q(theta) and H_q the Hessian of the query
    loss at theta. All fields are (T,): ``support_grad_norm`` ||g_s||, ``query_grad_norm``
    ||g_q||, ``cosine`` cos(g_s, g_q), ``before`` L_q(theta), ``first_order`` alpha g_q . g_s
    (the decrease the linear term predicts), ``second_order`` (alpha^2 / 2) g_s . H_q g_s (what
    the curvature along the step adds back), ``after`` L_q(phi), measured.
    """
    support_grad_norm: Tensor
    query_grad_norm: Tensor
    cosine: Tensor
    before: Tensor
    first_order: Tensor
    second_order: Tensor
    after: Tensor


class DescentRun(NamedTuple):
    """A run of gradient descent with its sharpness (from :func:`descent_sharpness`).

    ``losses`` (steps + 1,): the loss at phi_0 = theta, ..., phi_steps (inf from the first
    step whose loss is not finite); ``at`` (M,): the steps at which the curvature was measured;
    ``sharpness`` (M,): lambda_max of the Hessian there.
    """
    losses: Tensor
    at: Tensor
    sharpness: Tensor


# ---------------------------------------------------------------------------------------
# One inner step, to second order
# ---------------------------------------------------------------------------------------
def one_step_expansion(model: nn.Module, params: Params, batch, *, lr: float,
                       loss_fn: Criterion) -> StepExpansion:
    """What one inner step of size ``lr`` does to each task's query loss, term by term.

    batch: a TaskBatch of T tasks (support_x (T, K, ...), ..., query_y (T, M, ...)). For each
    task: g_s = grad L_s(theta), g_q = grad L_q(theta), the curvature of the query loss along
    the step, g_s . H_q g_s (one Hessian-vector product, no Hessian), and the query loss
    before and after phi = theta - lr g_s; vmapped over tasks. Returns a :class:`StepExpansion`.
    The expansion is exact for a loss that is quadratic in the parameters; for a network its
    error shrinks like lr^3.
    """
    check_params(params)
    for a, b, what in ((batch.support_x, batch.support_y, "support"), (batch.query_x, batch.query_y, "query")):
        if a.ndim < 2 or a.shape[:2] != b.shape[:2] or a.shape[0] != batch.support_x.shape[0]:
            raise ValueError(f"{what}_x and {what}_y must be (T, K, ...) with the same T and K for every "
                             f"part of the batch, got {tuple(a.shape)} and {tuple(b.shape)}")
    theta = detached(params)

    def one(xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> tuple[Tensor, ...]:
        support, query = loss_of(model, xs, ys, loss_fn), loss_of(model, xq, yq, loss_fn)
        g_s, g_q = torch.func.grad(support)(theta), torch.func.grad(query)(theta)
        hq_gs = objective.hvp(query, theta, g_s)
        after = query(gradient_step(theta, g_s, lr))
        return norm(g_s), norm(g_q), dot(g_s, g_q), dot(g_s, hq_gs), query(theta), after

    with torch.enable_grad():
        ns, nq, sq, curv, before, after = (t.detach() for t in vmap(one)(batch.support_x, batch.support_y,
                                                                           batch.query_x, batch.query_y))
    return StepExpansion(ns, nq, sq / (ns * nq), before, lr * sq, lr ** 2 / 2 * curv, after)


# ---------------------------------------------------------------------------------------
# Curvature and stability of the inner loop
# ---------------------------------------------------------------------------------------
def _power_iteration(matvec: Callable[[Params], Params], v: Params, iters: int, tol: float) -> tuple[float, Params, int]:
    lam_prev, lam = math.inf, 0.0
    for i in range(1, iters + 1):
        w = matvec(v)
        lam = float(dot(v, w))                       # Rayleigh quotient v^T H v (|v| = 1)
        size = norm(w)
        if size == 0:
            return 0.0, v, i
        v = {k: t / size for k, t in w.items()}
        if abs(lam - lam_prev) <= tol * max(abs(lam), 1e-30):
            break
        lam_prev = lam
    return lam, v, i


def top_hessian_eigenvalue(loss_fn: Loss, params: Params, *, iters: int = 200, tol: float = 1e-6,
                           generator: torch.Generator | None = None) -> HessianEig:
    """The largest eigenvalue lambda_max of the Hessian of ``loss_fn`` at ``params``.

    Power iteration on Hessian-vector products (:func:`metanlp_lite.objective.hvp`, no Hessian
    is formed): v <- Hv / ||Hv||, lambda = v^T H v, until lambda changes by less than ``tol``
    (relative) or after ``iters`` products. Power iteration finds the eigenvalue of largest
    *magnitude*; if that one is negative, a second run on H - lambda I (whose eigenvalues are
    all >= 0) finds lambda_max. Use float64 for accurate values.
    """
    check_params(params)
    theta = detached(params)
    v = random_direction(theta, generator, normalize=False)
    size = norm(v)
    v = {k: t / size for k, t in v.items()}

    def H(u: Params) -> Params:
        return objective.hvp(loss_fn, theta, u)

    lam, v, used = _power_iteration(H, v, iters, tol)
    if lam < 0:   # the largest |eigenvalue| is negative: shift so the top of the spectrum dominates
        shift = lam
        mu, v, more = _power_iteration(lambda u: {k: h - shift * u[k] for k, h in H(u).items()}, v, iters, tol)
        lam, used = mu + shift, used + more
    Hv = H(v)
    residual = float(norm({k: Hv[k] - lam * v[k] for k in v})) / max(abs(lam), 1e-30)
    return HessianEig(lam, v, used, residual)


def divergence_lr(loss_fn: Loss, params: Params, alphas: Sequence[float] | Tensor, steps: int = 20) -> DivergenceSweep:
    """The smallest step size at which ``steps`` of gradient descent on ``loss_fn`` diverge.

    Runs gradient descent from ``params`` with every alpha of the sweep at once (vmapped over
    the sweep) and calls a run diverged when its final loss is above the starting loss (or not
    finite). For a quadratic with a positive-definite Hessian this happens exactly for
    alpha > 2 / lambda_max (given enough steps); for a network it is the measured counterpart
    of that bound.
    alphas: (A,) step sizes, sorted increasingly. Returns a :class:`DivergenceSweep`.
    """
    check_params(params)
    alphas = torch.as_tensor(alphas, dtype=next(iter(params.values())).dtype)
    if alphas.ndim != 1 or len(alphas) == 0 or not bool((alphas[1:] > alphas[:-1]).all()) or not bool((alphas > 0).all()):
        raise ValueError(f"alphas must be a non-empty 1-D sweep of positive, increasing step sizes, got {alphas}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    theta = detached(params)
    with torch.no_grad():
        start = float(loss_fn(theta))

    def run(alpha: Tensor) -> Tensor:
        p = theta
        for _ in range(steps):                        # phi <- phi - alpha grad L(phi)
            g = objective.grad(loss_fn, p)
            p = gradient_step(p, g, alpha)
        return loss_fn(p)

    with torch.enable_grad():
        final = vmap(run)(alphas).detach()
    diverged = ~(final <= start)                      # nan and inf count as diverged
    idx = torch.nonzero(diverged)
    alpha_div = float(alphas[idx[0, 0]]) if len(idx) else math.inf
    return DivergenceSweep(alphas, final, start, diverged, alpha_div)


def descent_sharpness(loss_fn: Loss, params: Params, *, lr: float, steps: int, every: int = 1,
                      tol: float = 1e-7, generator: torch.Generator | None = None) -> DescentRun:
    """Run ``steps`` of gradient descent phi <- phi - lr grad L(phi) and watch its curvature.

    Records the loss after every step and lambda_max (:func:`top_hessian_eigenvalue`, relative
    tolerance ``tol``) every ``every`` steps and at the last one. This is how progressive
    sharpening shows (lambda_max rising along the run, Cohen et al., 2021), and a catapult
    (the loss jumping up while lambda_max falls, Lewkowycz et al., 2020). If the loss stops
    being finite the run ends there: later losses are inf and no more curvature is measured.
    Returns a :class:`DescentRun`.
    """
    check_params(params)
    if not isinstance(steps, int) or steps < 1 or not isinstance(every, int) or every < 1:
        raise ValueError(f"steps and every must be integers >= 1, got steps={steps!r}, every={every!r}")
    phi = detached(params)
    losses, at, sharpness = [], [], []
    for j in range(steps + 1):
        with torch.no_grad():
            value = float(loss_fn(phi))
        if not math.isfinite(value):
            losses += [math.inf] * (steps + 1 - j)
            break
        losses.append(value)
        if j % every == 0 or j == steps:
            at.append(j)
            sharpness.append(top_hessian_eigenvalue(loss_fn, phi, tol=tol, generator=generator).value)
        if j < steps:
            g = objective.grad(loss_fn, phi)
            phi = gradient_step(phi, g, lr)
    dtype = next(iter(phi.values())).dtype
    return DescentRun(torch.tensor(losses, dtype=dtype), torch.tensor(at), torch.tensor(sharpness, dtype=dtype))
