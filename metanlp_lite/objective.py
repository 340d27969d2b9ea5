"""The meta-objective of MAML, its exact gradient, its approximations, and a case solved by hand.

For a task T with a support loss L_s and a query loss L_q (both functions of the parameters),
the inner update (k steps of gradient descent with step alpha) and the meta-loss are

    phi_0 = theta,   phi_{j+1} = phi_j - alpha * grad L_s(phi_j),   phi = phi_k
    meta-loss(theta) = L_q(phi(theta))

and the meta-objective is its average over tasks. By the chain rule its exact gradient is

    (I - alpha H_0)(I - alpha H_1) ... (I - alpha H_{k-1}) grad L_q(phi_k),   H_j = hess L_s(phi_j),

applied right to left with Hessian-vector products, so no Hessian is ever formed.
First-order MAML keeps only grad L_q(phi); Reptile moves theta toward phi.

Parameters are either one flat tensor of shape (P,) or a dict of tensors
(:data:`~metanlp_lite.params.Params`, e.g. ``dict(model.named_parameters())`` used with
``torch.func.functional_call``); every function returns the same structure it was given. A
loss (:data:`~metanlp_lite.params.Loss`) is any function of such parameters that returns a
scalar tensor of shape (). The inner step is :func:`metanlp_lite.params.gradient_step`.

The quadratic-task family L_T(theta) = 1/2 (theta - c_T)^T A_T (theta - c_T) has a closed-form
meta-objective and optimum (``maml_optimum_quadratic``), which differs from the optimum of
plain joint training (``joint_optimum_quadratic``).

References: Finn, Abbeel & Levine (2017), Model-Agnostic Meta-Learning; Nichol, Achiam &
Schulman (2018), On First-Order Meta-Learning Algorithms; Rajeswaran, Finn, Kakade & Levine
(2019), Meta-Learning with Implicit Gradients.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .params import Loss, Params, check_params, gradient_step, tree_map

__all__ = [
    "grad",
    "hvp",
    "inner_update",
    "inner_trajectory",
    "meta_loss",
    "meta_gradient",
    "meta_gradient_autograd",
    "first_order_meta_gradient",
    "reptile_gradient",
    "finite_difference_grad",
    "relative_error",
    "quadratic_loss",
    "random_quadratic_tasks",
    "joint_loss_quadratic",
    "maml_matrices",
    "maml_loss_quadratic",
    "joint_optimum_quadratic",
    "maml_optimum_quadratic",
    "reptile_gradient_batches",
    "update_matrices_quadratic",
    "fixed_point_quadratic",
]



# ---------------------------------------------------------------------------------------
# Small helpers on parameters (a tensor or a dict of tensors)
# ---------------------------------------------------------------------------------------
def _check_params(params: Params | Tensor, name: str = "params") -> None:
    check_params(params, name, flat_ok=True)


def _check_same_structure(a: Params | Tensor, b: Params | Tensor, name_a: str, name_b: str) -> None:
    if isinstance(a, Tensor) != isinstance(b, Tensor):
        raise ValueError(f"{name_a} and {name_b} must both be tensors or both be dicts")
    pairs = [("", a, b)] if isinstance(a, Tensor) else None
    if pairs is None:
        if set(a) != set(b):
            raise ValueError(f"{name_a} and {name_b} have different keys: {sorted(a)} vs {sorted(b)}")
        pairs = [(k, a[k], b[k]) for k in a]
    for key, x, y in pairs:
        if x.shape != y.shape:
            where = f"[{key!r}]" if key else ""
            raise ValueError(
                f"{name_a}{where} has shape {tuple(x.shape)} but {name_b}{where} has shape {tuple(y.shape)}; "
                f"they must match"
            )


def _leaves(params: Params | Tensor) -> list[Tensor]:
    return [params] if isinstance(params, Tensor) else [params[k] for k in params]


def _check_step(alpha: float, steps: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if not math.isfinite(float(alpha)) or float(alpha) < 0:
        raise ValueError(f"the inner step size alpha must be a finite number >= 0, got {alpha!r}")


def _scalar(loss_fn: Loss) -> Loss:
    """``loss_fn``, checked to return a scalar (the transforms below need one)."""

    def checked(params: Params | Tensor) -> Tensor:
        out = loss_fn(params)
        if not isinstance(out, Tensor) or out.ndim != 0:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"a loss function must return a scalar tensor of shape (), got {shape}; "
                f"reduce it with .mean() or .sum()"
            )
        return out

    return checked


# ---------------------------------------------------------------------------------------
# Gradients and Hessian-vector products
# ---------------------------------------------------------------------------------------
def grad(loss_fn: Loss, params: Params | Tensor) -> Params | Tensor:
    """The gradient of ``loss_fn`` at ``params``; same structure and shapes as ``params``.

    Uses ``torch.func.grad``, so it can itself be differentiated (that is how
    :func:`meta_gradient_autograd` differentiates through the inner loop).
    """
    _check_params(params)
    return torch.func.grad(_scalar(loss_fn))(params)


def hvp(loss_fn: Loss, params: Params | Tensor, v: Params | Tensor) -> Params | Tensor:
    """The Hessian-vector product (hess loss_fn)(params) @ v, without forming the Hessian.

    Pearlmutter's trick: H v = grad_theta < grad L(theta), v >, a second backward pass, so it
    costs about two gradients, whatever the number of parameters P. ``v`` must have the
    structure and shapes of ``params``; the result has them too.
    """
    _check_params(params)
    _check_params(v, "v")
    _check_same_structure(params, v, "params", "v")

    def directional_derivative(p: Params | Tensor) -> Tensor:
        g = torch.func.grad(_scalar(loss_fn))(p)
        return sum((gi * vi).sum() for gi, vi in zip(_leaves(g), _leaves(v)))

    return torch.func.grad(directional_derivative)(params)


# ---------------------------------------------------------------------------------------
# The inner update and the meta-loss
# ---------------------------------------------------------------------------------------
def inner_trajectory(params: Params | Tensor, support_loss: Loss, alpha: float, steps: int = 1) -> list[Params | Tensor]:
    """The inner-loop iterates [phi_0 = theta, phi_1, ..., phi_k] (k = ``steps``).

    phi_{j+1} = phi_j - alpha * grad support_loss(phi_j). Each entry has the structure of ``params``.
    """
    _check_params(params)
    _check_step(alpha, steps)
    path = [params]
    for _ in range(steps):
        g = grad(support_loss, path[-1])
        path.append(gradient_step(path[-1], g, alpha))
    return path


def inner_update(params: Params | Tensor, support_loss: Loss, alpha: float, steps: int = 1) -> Params | Tensor:
    """The adapted parameters phi_T(theta) after ``steps`` gradient steps of size ``alpha`` on the support loss.

    One step: phi = theta - alpha * grad L_s(theta). Same structure and shapes as ``params``.
    Differentiable with respect to ``params`` (by autograd or ``torch.func``).
    """
    return inner_trajectory(params, support_loss, alpha, steps)[-1]


def meta_loss(params: Params | Tensor, support_loss: Loss, query_loss: Loss, alpha: float, steps: int = 1) -> Tensor:
    """The meta-loss of one task, L_q(phi(theta)): scalar tensor of shape ().

    The meta-objective is the mean of this over tasks. Differentiable with respect to ``params``.
    """
    return _scalar(query_loss)(inner_update(params, support_loss, alpha, steps))


# ---------------------------------------------------------------------------------------
# Meta-gradients: exact (chain rule with HVPs), autograd, first-order, Reptile
# ---------------------------------------------------------------------------------------
def meta_gradient(params: Params | Tensor, support_loss: Loss, query_loss: Loss, alpha: float,
                  steps: int = 1) -> Params | Tensor:
    """The exact gradient of :func:`meta_loss` by the chain rule, with Hessian-vector products.

    One step:  (I - alpha H(theta)) grad L_q(phi),  H = hess L_s.
    k steps:   (I - alpha H(phi_0)) ... (I - alpha H(phi_{k-1})) grad L_q(phi_k), applied right to
    left: start from g = grad L_q(phi_k), then g <- g - alpha H(phi_j) g for j = k-1, ..., 0.
    Costs k gradients forward and k HVPs backward; memory does not grow with P^2.
    Returns the structure and shapes of ``params``.
    """
    path = inner_trajectory(params, support_loss, alpha, steps)
    g = grad(query_loss, path[-1])
    for phi_j in reversed(path[:-1]):
        hg = hvp(support_loss, phi_j, g)
        g = tree_map(lambda gi, hi: gi - alpha * hi, g, hg)
    return g


def meta_gradient_autograd(params: Params | Tensor, support_loss: Loss, query_loss: Loss, alpha: float,
                           steps: int = 1) -> Params | Tensor:
    """The gradient of :func:`meta_loss` by automatic differentiation through the unrolled inner loop.

    A second, independent route to the exact (second-order) meta-gradient; same structure as ``params``.
    """
    _check_params(params)
    return torch.func.grad(lambda p: meta_loss(p, support_loss, query_loss, alpha, steps))(params)


def first_order_meta_gradient(params: Params | Tensor, support_loss: Loss, query_loss: Loss, alpha: float,
                              steps: int = 1) -> Params | Tensor:
    """First-order MAML: grad L_q evaluated at phi, i.e. :func:`meta_gradient` with every H set to 0.

    Good when alpha * (curvature of L_s) is small, since then every factor (I - alpha H) is close to I.
    Same structure as ``params``.
    """
    phi = inner_update(params, support_loss, alpha, steps)
    return grad(query_loss, phi)


def reptile_gradient(params: Params | Tensor, support_loss: Loss, alpha: float, steps: int = 1) -> Params | Tensor:
    """Reptile's update direction theta - phi (Nichol et al., 2018), used like a gradient.

    The Reptile update theta <- theta - beta * (theta - phi) = theta + beta * (phi - theta), with beta
    the outer step size, moves theta toward the adapted weights. For k = 1 it is alpha * grad L_s(theta), the gradient of
    joint training; for k >= 2 it picks up terms that favour fast adaptation.
    Same structure as ``params``.
    """
    phi = inner_update(params, support_loss, alpha, steps)
    return tree_map(torch.sub, params, phi)


def reptile_gradient_batches(params: Params | Tensor, batch_losses: Sequence[Loss], alpha: float) -> Params | Tensor:
    """Reptile's direction theta - phi when inner step j uses its own minibatch loss ``batch_losses[j]``.

    k = len(batch_losses) steps of size alpha, one per minibatch of the same task (Nichol et al.,
    2018). For two steps, to second order in alpha (exactly, for quadratic losses):
    theta - phi = alpha (g_1 + g_2) - alpha^2 H_2 g_1, with g_j, H_j the gradient and Hessian of
    loss j at theta; averaged over both orders the alpha^2 term is -(alpha^2 / 2) grad (g_1 . g_2),
    the agreement of two minibatches that MAML's gradient also rewards. Reusing one batch,
    :func:`reptile_gradient` gives -(alpha^2 / 2) grad ||g_1||^2 instead. Same structure as ``params``.
    """
    _check_params(params)
    _check_step(alpha, len(batch_losses))
    phi = params
    for loss in batch_losses:
        phi = gradient_step(phi, grad(loss, phi), alpha)
    return tree_map(torch.sub, params, phi)


# ---------------------------------------------------------------------------------------
# Checking gradients
# ---------------------------------------------------------------------------------------
def finite_difference_grad(fn: Loss, params: Params | Tensor, eps: float = 1e-6) -> Params | Tensor:
    """Central finite differences (fn(theta + eps e_i) - fn(theta - eps e_i)) / (2 eps), for every i.

    Costs 2P evaluations of ``fn``; use float64 (truncation error O(eps^2), rounding O(1e-16 / eps)).
    Returns the structure and shapes of ``params``.
    """
    _check_params(params)
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")

    def leaf_grad(key: str | None) -> Tensor:
        base = params if key is None else params[key]
        out = torch.zeros_like(base)
        for i in range(base.numel()):
            step = torch.zeros_like(base).reshape(-1)
            step[i] = eps
            step = step.reshape(base.shape)

            def at(sign: float) -> Params | Tensor:
                moved = base + sign * step
                return moved if key is None else {**params, key: moved}

            out.reshape(-1)[i] = (fn(at(+1.0)) - fn(at(-1.0))) / (2 * eps)
        return out

    if isinstance(params, Tensor):
        return leaf_grad(None)
    return {k: leaf_grad(k) for k in params}


def relative_error(estimate: Params | Tensor, reference: Params | Tensor) -> float:
    """||estimate - reference|| / ||reference|| over all entries (the plain difference if reference is 0)."""
    _check_same_structure(estimate, reference, "estimate", "reference")
    diff = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(_leaves(estimate), _leaves(reference))))
    norm = math.sqrt(sum(float((b ** 2).sum()) for b in _leaves(reference)))
    return diff / norm if norm > 0 else diff


# ---------------------------------------------------------------------------------------
# Quadratic tasks: the meta-objective solved by hand
# ---------------------------------------------------------------------------------------
def _check_quadratic(A: Tensor, c: Tensor) -> None:
    if A.ndim != 3 or c.ndim != 2 or A.shape[1] != A.shape[2] or A.shape[:2] != c.shape:
        raise ValueError(
            f"quadratic tasks need A of shape (n, d, d) and c of shape (n, d), got A {tuple(A.shape)} and "
            f"c {tuple(c.shape)}; for a single task use A[None] and c[None]"
        )
    if not torch.allclose(A, A.mT, rtol=1e-10, atol=1e-12):
        raise ValueError("every A_T must be symmetric; symmetrise it with (A + A.mT) / 2")


def _check_theta(theta: Tensor, d: int) -> None:
    if theta.ndim < 1 or theta.shape[-1] != d:
        raise ValueError(f"theta must have shape (..., d) with d = {d}, got {tuple(theta.shape)}")


def quadratic_loss(A: Tensor, c: Tensor) -> Loss:
    """The loss of one quadratic task, theta -> 1/2 (theta - c)^T A (theta - c).

    A: (d, d) symmetric, c: (d,); the returned function maps theta (d,) to a scalar.
    Its gradient is A (theta - c) and its Hessian is A.
    """
    _check_quadratic(A[None], c[None])

    def loss(theta: Tensor) -> Tensor:
        _check_theta(theta, c.shape[0])
        r = theta - c
        return 0.5 * r @ (A @ r)

    return loss


def random_quadratic_tasks(n_tasks: int, dim: int, generator: torch.Generator | None = None,
                           curvature: tuple[float, float] = (0.5, 4.0), spread: float = 2.0,
                           dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """``n_tasks`` random quadratic tasks: A (n, d, d) symmetric positive definite, c (n, d).

    A_T = Q diag(lambda) Q^T with a random rotation Q and eigenvalues lambda ~ U[curvature];
    centres c_T ~ N(0, spread^2 I).
    """
    lo, hi = curvature
    if not 0 < lo <= hi:
        raise ValueError(f"curvature must be a range (lo, hi) with 0 < lo <= hi, got {curvature!r}")
    q, r = torch.linalg.qr(torch.randn(n_tasks, dim, dim, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    lam = lo + (hi - lo) * torch.rand(n_tasks, dim, generator=generator, dtype=dtype)
    A = q @ torch.diag_embed(lam) @ q.mT
    A = (A + A.mT) / 2
    c = spread * torch.randn(n_tasks, dim, generator=generator, dtype=dtype)
    return A, c


def joint_loss_quadratic(theta: Tensor, A: Tensor, c: Tensor) -> Tensor:
    """Joint training's objective, the mean over tasks of 1/2 (theta - c_T)^T A_T (theta - c_T).

    theta: (..., d) (e.g. a grid of points); A: (n, d, d); c: (n, d). Returns (...).
    """
    _check_quadratic(A, c)
    _check_theta(theta, c.shape[1])
    r = theta[..., None, :] - c  # (..., T, d)
    return 0.5 * torch.einsum("...ti,tij,...tj->...t", r, A, r).mean(-1)


def maml_matrices(A: Tensor, alpha: float, steps: int = 1) -> Tensor:
    """M_T = (I - alpha A_T)^k A_T (I - alpha A_T)^k for each task: (n, d, d).

    With phi - c = (I - alpha A)^k (theta - c), the meta-loss is L(phi) = 1/2 (theta - c)^T M (theta - c).
    MAML's row of :func:`update_matrices_quadratic`.
    """
    return update_matrices_quadratic(A, alpha, steps, "maml")


def maml_loss_quadratic(theta: Tensor, A: Tensor, c: Tensor, alpha: float, steps: int = 1) -> Tensor:
    """The closed-form meta-objective, mean over tasks of 1/2 (theta - c_T)^T M_T (theta - c_T).

    Support and query loss are both L_T; ``steps`` inner steps of size ``alpha``.
    theta: (..., d); A: (n, d, d); c: (n, d). Returns (...).
    """
    _check_quadratic(A, c)
    return joint_loss_quadratic(theta, maml_matrices(A, alpha, steps), c)


def _solve_weighted_mean(W: Tensor, c: Tensor, what: str) -> Tensor:
    """Solve sum_T W_T (theta - c_T) = 0 for theta: (d,)."""
    lhs = W.sum(0)
    if torch.linalg.matrix_rank(lhs) < lhs.shape[0]:
        raise ValueError(f"the {what} optimum is not unique: sum_T of the task matrices is singular")
    return torch.linalg.solve(lhs, (W @ c[..., None]).sum(0))[:, 0]


def joint_optimum_quadratic(A: Tensor, c: Tensor) -> Tensor:
    """argmin of the joint objective: theta* = (sum A_T)^-1 sum A_T c_T, shape (d,)."""
    _check_quadratic(A, c)
    return _solve_weighted_mean(A, c, "joint-training")


def maml_optimum_quadratic(A: Tensor, c: Tensor, alpha: float, steps: int = 1) -> Tensor:
    """argmin of the MAML meta-objective: theta* = (sum M_T)^-1 sum M_T c_T, shape (d,).

    M_T = (I - alpha A_T)^k A_T (I - alpha A_T)^k (:func:`maml_matrices`). As alpha -> 0 it tends to
    the joint optimum; a task that one step already solves (alpha A_T close to I) gets little weight.
    """
    _check_quadratic(A, c)
    return _solve_weighted_mean(maml_matrices(A, alpha, steps), c, "MAML")


# ---------------------------------------------------------------------------------------
# Quadratic tasks: where each method's updates settle
# ---------------------------------------------------------------------------------------
FIXED_POINT_METHODS = ("joint", "reptile", "fomaml", "maml")


def update_matrices_quadratic(A: Tensor, alpha: float, steps: int = 1, method: str = "maml") -> Tensor:
    """W_T such that each method's update direction on task T is W_T (theta - c_T): (n, d, d).

    Support = query loss L_T, ``steps`` = k inner steps of size alpha, B_T = I - alpha A_T
    (so phi_T - c_T = B_T^k (theta - c_T)). A: (n, d, d) symmetric.

    * ``"joint"``: grad L_T(theta) = A_T (theta - c_T), so W_T = A_T;
    * ``"reptile"``: theta - phi_T, so W_T = I - B_T^k (alpha A_T for k = 1: joint training, scaled);
    * ``"fomaml"``: grad L_T(phi_T), so W_T = A_T B_T^k;
    * ``"maml"``: the exact meta-gradient B_T^k A_T B_T^k (:func:`maml_matrices`).

    Every W_T is symmetric (A_T and B_T commute).
    """
    _check_step(alpha, steps)
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (n, d, d), got {tuple(A.shape)}")
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    Bk = torch.linalg.matrix_power(eye - alpha * A, steps)
    table = {"joint": lambda: A, "reptile": lambda: eye - Bk, "fomaml": lambda: A @ Bk, "maml": lambda: Bk @ A @ Bk}
    if method not in table:
        raise ValueError(f"method must be one of {FIXED_POINT_METHODS}, got {method!r}")
    return table[method]()


def fixed_point_quadratic(A: Tensor, c: Tensor, alpha: float, method: str, steps: int = 1) -> Tensor:
    """Where ``method``'s updates settle on quadratic tasks: the theta with sum_T W_T (theta - c_T) = 0.

    theta* = (sum_T W_T)^-1 sum_T W_T c_T, shape (d,), with W_T from :func:`update_matrices_quadratic`
    (A: (n, d, d), c: (n, d)). Gradient-style updates theta <- theta - beta * mean_T W_T (theta - c_T)
    converge to it when the outer step beta is small enough and mean_T W_T is positive definite.
    ``"joint"`` and ``"maml"`` give :func:`joint_optimum_quadratic` and :func:`maml_optimum_quadratic`;
    to first order in alpha, in one dimension (A_T a number lambda_T), the weights are
    lambda_T (1 - gamma alpha lambda_T) with gamma = 0 (joint), (k - 1) / 2 (Reptile), k (first-order
    MAML), 2k (MAML).
    """
    _check_quadratic(A, c)
    return _solve_weighted_mean(update_matrices_quadratic(A, alpha, steps, method), c, method)
