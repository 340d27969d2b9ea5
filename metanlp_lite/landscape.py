"""Loss landscapes around an initialisation: planes, batched grid losses, trajectories, curvature.

A loss surface of a network with P parameters is a function on R^P. To look at it we cut it
with a 2-D plane through the initialisation theta,

.. math:: f(\\xi_1, \\xi_2) = \\mathcal{L}(\\theta + \\xi_1 d_1 + \\xi_2 d_2),

and evaluate it on a grid of plane coordinates (xi1, xi2): how far to go along d_1 and along
d_2. (They are not called alpha and beta: alpha is the inner-loop step size everywhere in the
course.) Two choices of directions (d_1, d_2):

- :func:`random_plane`: random Gaussian directions, *filter-normalised* (Li, Xu, Taylor, Studer
  & Goldstein, 2018, "Visualizing the Loss Landscape of Neural Nets"): every filter (the
  weights of one output unit) of the direction is rescaled to the norm of the corresponding
  filter of theta, so a step of 1 along d changes every unit by about its own size, whatever
  the scale of its weights. Biases get a zero direction by default, as in the paper.
- :func:`pca_plane`: the two principal directions of the tasks' inner-loop displacements
  phi_j - theta (all tasks, all steps), so the plane contains as much of the adaptation
  trajectories as any plane can.

What is here (computing only; figures live in :mod:`metanlp_lite.plots`):

- planes: :func:`filter_normalize`, :func:`random_direction`, :func:`random_plane`,
  :func:`pca_plane`, :func:`plane_point`;
- losses: :func:`loss_of`, :func:`task_losses` (a model and data -> a function of parameters),
  :func:`grid_losses` (``torch.func.vmap`` over all grid points at once, no Python loop);
- trajectories: :func:`inner_trajectories` (every inner-loop iterate of every task, batched),
  :func:`project` (onto a plane), :func:`plane_fit` (how much of each trajectory a plane holds),
  :func:`path_losses` (the loss along theta -> phi_1 -> ... ->
  phi_k, finely sampled), :func:`fraction_below` (tasks solved after k steps) and
  :func:`wilson_interval` (its 95% interval);
- one inner step and curvature live in :mod:`metanlp_lite.curvature`: the second-order
  expansion of one step, the top Hessian eigenvalue, the step size at which gradient descent
  diverges, sharpness along a run.

Parameters are dicts ``{name: tensor}`` (:mod:`metanlp_lite.params`); a "batch" of
parameters has extra leading dimensions (e.g. (T, steps + 1, *shape) for trajectories).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from . import objective
from .params import Criterion, Loss, Params, check_params, detached, flatten, unflatten

__all__ = [
    "Plane",
    "Projection",
    "PlaneFit",
    "filter_normalize",
    "random_direction",
    "random_plane",
    "pca_plane",
    "plane_point",
    "grid_around",
    "loss_of",
    "task_losses",
    "per_task_losses",
    "grid_losses",
    "inner_trajectories",
    "project",
    "plane_fit",
    "path_losses",
    "fraction_below",
    "wilson_interval",
]



class Plane(NamedTuple):
    """The plane theta + xi1 d1 + xi2 d2: three dicts with the same names and shapes."""
    origin: Params
    d1: Params
    d2: Params


class Projection(NamedTuple):
    """Points written in a plane's coordinates: coords (..., 2) = (xi1, xi2) of the closest
    point of the plane, distance (...,) = how far the point is from the plane."""
    coords: Tensor
    distance: Tensor


class PlaneFit(NamedTuple):
    """How much of a set of trajectories a plane holds (from :func:`plane_fit`).

    For points (..., S + 1) (e.g. T tasks' iterates phi_0 = theta, ..., phi_S):
    ``explained`` (...): the fraction of sum_j ||phi_j - theta||^2 of each trajectory that lies
    in the plane; ``in_plane`` (..., S + 1): the length of each point's projection, ||xi1 d1 +
    xi2 d2|| (the distance from theta a plot of the plane shows); ``off_plane`` (..., S + 1):
    the distance of each point from the plane; ``length`` (..., S + 1): the true distance
    ||phi_j - theta||. For an orthogonal projection in_plane^2 + off_plane^2 = length^2.
    """
    explained: Tensor
    in_plane: Tensor
    off_plane: Tensor
    length: Tensor


# ---------------------------------------------------------------------------------------
# Small helpers on dicts of parameters
# ---------------------------------------------------------------------------------------
def _check(params: Params, name: str = "params") -> None:
    check_params(params, name)


def _check_like(a: Params, b: Params, name_a: str, name_b: str, batched: bool = False) -> None:
    """b has the names of a and the same shapes (batched: with any extra leading dimensions)."""
    if set(a) != set(b):
        raise ValueError(f"{name_a} and {name_b} have different parameter names: {sorted(a)} vs {sorted(b)}")
    for k in a:
        extra = b[k].ndim - a[k].ndim
        if extra < 0 or b[k].shape[extra:] != a[k].shape or (extra and not batched):
            want = ", ".join(map(str, a[k].shape))
            raise ValueError(f"{name_b}[{k!r}] has shape {tuple(b[k].shape)}, expected "
                             f"{'(..., ' + want if batched else '(' + want}) to match {name_a}[{k!r}]")


# ---------------------------------------------------------------------------------------
# Directions and planes
# ---------------------------------------------------------------------------------------
def filter_normalize(direction: Params, params: Params, bias: str = "zero") -> Params:
    """Rescale each *filter* of ``direction`` to the norm of the same filter of ``params``.

    A filter is one slice along the first dimension of a weight with 2 or more dimensions: the
    incoming weights of one output unit of a ``Linear`` (a row of its (out, in) matrix) or one
    output channel of a convolution. For each filter f: d_f <- d_f * ||theta_f|| / ||d_f||
    (Li et al., 2018, section 4). One-dimensional tensors (biases, normalisation scales):
    ``bias="zero"`` gives them a zero direction (the paper's choice), ``bias="normalize"``
    rescales each as one filter. Returns a new dict with the shapes of ``params``.
    """
    _check(params)
    _check(direction, "direction")
    _check_like(params, direction, "params", "direction")
    if bias not in ("zero", "normalize"):
        raise ValueError(f"bias must be 'zero' or 'normalize', got {bias!r}")
    out = {}
    for k, theta in params.items():
        d = direction[k]
        if theta.ndim <= 1:
            if bias == "zero":
                out[k] = torch.zeros_like(d)
                continue
            d_f, t_f = d.reshape(1, -1), theta.reshape(1, -1)
        else:
            d_f, t_f = d.reshape(d.shape[0], -1), theta.reshape(theta.shape[0], -1)
        d_norm = d_f.norm(dim=1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny)   # a zero filter stays zero
        out[k] = (d_f / d_norm * t_f.norm(dim=1, keepdim=True)).reshape(d.shape)
    return out


def random_direction(params: Params, generator: torch.Generator | None = None, *, normalize: bool = True,
                     bias: str = "zero") -> Params:
    """A Gaussian random direction with the names and shapes of ``params``, filter-normalised
    (:func:`filter_normalize`) unless ``normalize=False``."""
    _check(params)
    d = {k: torch.randn(v.shape, generator=generator, dtype=v.dtype, device=v.device) for k, v in params.items()}
    return filter_normalize(d, detached(params), bias=bias) if normalize else d


def random_plane(params: Params, generator: torch.Generator | None = None, *, bias: str = "zero") -> Plane:
    """The plane through ``params`` spanned by two filter-normalised random directions.

    As in Li et al. the two directions are not orthogonalised: in high dimension two random
    vectors are nearly orthogonal already (cosine ~ 1/sqrt(P)).
    """
    theta = detached(params)
    return Plane(theta, random_direction(theta, generator, bias=bias), random_direction(theta, generator, bias=bias))


def pca_plane(trajectories: Params, origin: Params, generator: torch.Generator | None = None) -> tuple[Plane, Tensor]:
    """The plane through ``origin`` spanned by the top two principal directions of displacements.

    trajectories: {name: (..., *shape)}, e.g. (T, steps + 1, *shape) from
    :func:`inner_trajectories`; every point phi gives a displacement phi - origin. The
    directions are the top two right singular vectors of the (N, P) matrix of displacements
    (uncentred PCA: the plane through ``origin`` that is closest, in least squares, to all
    points), unit norm and orthogonal. Signs are fixed so that the mean displacement has a
    positive coordinate along each (results do not depend on the SVD's arbitrary signs).
    Returns (plane, explained) with explained (2,) the fraction of sum ||phi - origin||^2
    that each direction captures. When the displacements span fewer than two directions
    (e.g. one task, one step), the missing one is a random direction orthogonal to the first.
    """
    _check(origin, "origin")
    _check(trajectories, "trajectories")
    _check_like(origin, trajectories, "origin", "trajectories", batched=True)
    theta = detached(origin)
    D = flatten({k: v.detach() for k, v in trajectories.items()}, theta) - flatten(theta, theta)
    D = D.reshape(-1, D.shape[-1])                       # (N, P)
    total = (D ** 2).sum()
    if not total > 0:
        raise ValueError("all displacements are zero (did the inner loop take any steps?): a PCA plane "
                         "needs points that differ from the origin; use random_plane instead")
    _, S, Vh = torch.linalg.svd(D, full_matrices=False)
    dirs = [Vh[0]]
    if S.shape[0] > 1 and S[1] > S[0] * 1e-6:
        dirs.append(Vh[1])
    else:  # rank one: complete with a random direction orthogonal to the first
        r = torch.randn(D.shape[1], generator=generator, dtype=D.dtype)
        r = r - (r @ Vh[0]) * Vh[0]
        dirs.append(r / r.norm())
    mean = D.mean(0)
    for i, v in enumerate(dirs):
        sign = torch.sign(mean @ v)
        if sign == 0:
            sign = torch.sign(v[v.abs().argmax()])
        dirs[i] = v * sign
    explained = torch.stack([((D @ v) ** 2).sum() / total for v in dirs])
    return Plane(theta, unflatten(dirs[0], theta), unflatten(dirs[1], theta)), explained


def plane_point(plane: Plane, xi1: float | Tensor, xi2: float | Tensor) -> Params:
    """The parameters theta + xi1 d1 + xi2 d2 at plane coordinates (xi1, xi2)."""
    return {k: o + xi1 * plane.d1[k] + xi2 * plane.d2[k] for k, o in plane.origin.items()}


def grid_around(coords: Tensor, n: int = 41, margin: float = 0.3) -> tuple[Tensor, Tensor]:
    """A square grid (xi1 (n,), xi2 (n,)) that holds the origin and all ``coords`` (..., 2).

    The two axes get the same length (so the plane is not stretched when drawn with equal
    aspect), centred on the points' bounding box and widened by ``margin`` of its size.
    """
    c = coords.detach().reshape(-1, 2)
    c = torch.cat([c, torch.zeros(1, 2, dtype=c.dtype)])
    lo, hi = c.min(0).values, c.max(0).values
    half = (hi - lo).max() / 2 * (1 + 2 * margin)
    if not half > 0:
        raise ValueError("all points are at the origin: give the grid's extent explicitly")
    mid = (lo + hi) / 2
    return torch.linspace(float(mid[0] - half), float(mid[0] + half), n, dtype=c.dtype), \
        torch.linspace(float(mid[1] - half), float(mid[1] + half), n, dtype=c.dtype)


# ---------------------------------------------------------------------------------------
# Losses as functions of the parameters
# ---------------------------------------------------------------------------------------
def loss_of(model: nn.Module, x: Tensor, y: Tensor, loss_fn: Criterion) -> Loss:
    """params -> loss_fn(model(x; params), y) for one task: x (K, ...), y (K, ...) -> scalar."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples (shape {tuple(x.shape)}) but y has {y.shape[0]} "
                         f"(shape {tuple(y.shape)}); pass one target per input")

    def loss(params: Params) -> Tensor:
        return loss_fn(functional_call(model, params, (x,)), y)

    return loss


def task_losses(model: nn.Module, x: Tensor, y: Tensor, loss_fn: Criterion) -> Loss:
    """params -> the loss of each of T tasks, (T,): x (T, K, ...), y (T, K, ...), vmapped over tasks.

    The same parameters are used for every task (e.g. one grid point of a landscape).
    """
    if x.ndim < 2 or x.shape[:2] != y.shape[:2]:
        raise ValueError(f"x and y must be (T, K, ...) with the same T and K, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}; for a single task use loss_of, or add a task dimension")

    def losses(params: Params) -> Tensor:
        return vmap(lambda xi, yi: loss_fn(functional_call(model, params, (xi,)), yi))(x, y)

    return losses


def per_task_losses(model: nn.Module, params: Params, x: Tensor, y: Tensor,
                    loss_fn: Criterion) -> Tensor:
    """The loss of each task with its *own* parameters (e.g. adapted ones), (T,).

    params: {name: (T, *shape)} (e.g. ``{k: v[:, -1] for k, v in trajectories.items()}``, the
    last iterate of :func:`inner_trajectories`); x (T, M, ...), y (T, M, ...). No gradient.
    """
    _check(params)
    if x.ndim < 2 or x.shape[:2] != y.shape[:2]:
        raise ValueError(f"x and y must be (T, M, ...) with the same T and M, got {tuple(x.shape)} and {tuple(y.shape)}")
    bad = {k: tuple(v.shape) for k, v in params.items() if v.ndim == 0 or v.shape[0] != x.shape[0]}
    if bad:
        raise ValueError(f"params must have a leading task dimension T = {x.shape[0]} (the tasks of x), got {bad}")
    with torch.no_grad():
        return vmap(lambda p, xi, yi: loss_fn(functional_call(model, p, (xi,)), yi))(detached(params), x, y)


def grid_losses(loss_fn: Loss, plane: Plane, xi1: Tensor, xi2: Tensor,
                chunk_size: int | None = None) -> Tensor:
    """The loss at every point theta + xi1[j] d1 + xi2[i] d2 of a grid, all at once.

    loss_fn: params -> a tensor of any shape S (a scalar, or (T,) from :func:`task_losses`).
    xi1 (A,), xi2 (B,). One call of ``loss_fn`` vmapped over the A * B points (no Python
    loop); ``chunk_size`` bounds how many points are evaluated together (memory).
    Returns (*S, B, A): row i is xi2[i], column j is xi1[j], ready for
    ``plt.contour(xi1, xi2, Z)``. No gradient is recorded.
    """
    _check(plane.origin, "plane.origin")
    for name, d in (("plane.d1", plane.d1), ("plane.d2", plane.d2)):
        _check_like(plane.origin, d, "plane.origin", name)
    xi1, xi2 = torch.as_tensor(xi1), torch.as_tensor(xi2)
    if xi1.ndim != 1 or xi2.ndim != 1:
        raise ValueError(f"xi1 and xi2 must be 1-D grids, got shapes {tuple(xi1.shape)} and {tuple(xi2.shape)}")
    dtype = next(iter(plane.origin.values())).dtype
    B, A = torch.meshgrid(xi2.to(dtype), xi1.to(dtype), indexing="ij")       # (nb, na) each
    origin, d1, d2 = detached(plane.origin), detached(plane.d1), detached(plane.d2)

    def at(a: Tensor, b: Tensor) -> Tensor:
        return loss_fn({k: o + a * d1[k] + b * d2[k] for k, o in origin.items()})

    with torch.no_grad():
        out = vmap(at, chunk_size=chunk_size)(A.reshape(-1), B.reshape(-1))      # (nb * na, *S)
    out = out.reshape(len(xi2), len(xi1), *out.shape[1:])
    return out.movedim((0, 1), (-2, -1))


# ---------------------------------------------------------------------------------------
# Inner-loop trajectories and paths
# ---------------------------------------------------------------------------------------
def inner_trajectories(model: nn.Module, params: Params, support_x: Tensor, support_y: Tensor, *,
                       lr: float, steps: int, loss_fn: Criterion) -> Params:
    """Every iterate phi_0 = theta, phi_1, ..., phi_k of the inner loop, for T tasks at once.

    support_x (T, K, ...), support_y (T, K, ...); plain gradient descent with step ``lr``
    (:func:`metanlp_lite.objective.inner_trajectory`, vmapped over tasks).
    Returns {name: (T, steps + 1, *shape)}, detached.
    """
    _check(params)
    if support_x.ndim < 2 or support_x.shape[:2] != support_y.shape[:2]:
        raise ValueError(f"support_x and support_y must be (T, K, ...) with the same T and K, got "
                         f"{tuple(support_x.shape)} and {tuple(support_y.shape)}")
    theta = detached(params)

    def one_task(x: Tensor, y: Tensor) -> Params:
        path = objective.inner_trajectory(theta, loss_of(model, x, y, loss_fn), lr, steps)
        return {k: torch.stack([p[k] for p in path]) for k in theta}

    with torch.enable_grad():
        traj = vmap(one_task)(support_x, support_y)
    return detached(traj)


def project(points: Params, plane: Plane) -> Projection:
    """Coordinates (xi1, xi2) of points in a plane, by least squares.

    points: {name: (..., *shape)} (e.g. trajectories (T, steps + 1, *shape)).
    Solves G c = [<p - theta, d1>, <p - theta, d2>] with the Gram matrix G of (d1, d2), so it
    is right for non-orthogonal directions too (random planes). Returns Projection(coords
    (..., 2), distance (...,)) where distance is ||p - (theta + c1 d1 + c2 d2)||.
    """
    origin = detached(plane.origin)
    _check_like(origin, points, "plane.origin", "points", batched=True)
    o = flatten(origin, origin)
    P = flatten({k: v.detach() for k, v in points.items()}, origin) - o       # (..., P)
    D = torch.stack([flatten(detached(plane.d1), origin), flatten(detached(plane.d2), origin)])  # (2, P)
    G = D @ D.T
    if torch.linalg.matrix_rank(G) < 2:
        raise ValueError("the plane's directions d1 and d2 are parallel (or zero): they do not span a plane")
    coords = torch.linalg.solve(G, (P @ D.T).unsqueeze(-1)).squeeze(-1)         # (..., 2)
    distance = (P - coords @ D).norm(dim=-1)
    return Projection(coords, distance)


def plane_fit(trajectories: Params, plane: Plane) -> PlaneFit:
    """How much of each trajectory lies in ``plane``: the caveat every projected picture needs.

    trajectories: {name: (..., S + 1, *shape)}, e.g. (T, steps + 1, *shape) from
    :func:`inner_trajectories`, whose last batch dimension runs along a trajectory.
    A plot of the plane shows each point at its projection, so lengths read off it are
    ``in_plane`` lengths; ``off_plane`` is what it cannot show. Returns a :class:`PlaneFit`.
    """
    origin = detached(plane.origin)
    _check_like(origin, trajectories, "plane.origin", "trajectories", batched=True)
    if any(trajectories[k].ndim < origin[k].ndim + 1 for k in origin):
        raise ValueError("trajectories need a dimension along each trajectory: {name: (..., S + 1, *shape)}")
    proj = project(trajectories, plane)
    D = torch.stack([flatten(detached(plane.d1), origin), flatten(detached(plane.d2), origin)])  # (2, P)
    in_plane = (proj.coords @ D).norm(dim=-1)
    length = (flatten({k: v.detach() for k, v in trajectories.items()}, origin) - flatten(origin, origin)).norm(dim=-1)
    total = (length ** 2).sum(-1)
    if not bool((total > 0).all()):
        raise ValueError("a trajectory never leaves the plane's origin: the fraction it explains is undefined")
    return PlaneFit((in_plane ** 2).sum(-1) / total, in_plane, proj.distance, length)


def path_losses(loss_fn: Loss, trajectory: Params, points_per_step: int = 10) -> tuple[Tensor, Tensor]:
    """The loss along the polygonal path phi_0 -> phi_1 -> ... -> phi_k of one task.

    trajectory: {name: (steps + 1, *shape)} (one task of :func:`inner_trajectories`).
    Each segment phi_j -> phi_{j+1} is sampled at ``points_per_step`` evenly spaced points
    (vmapped). Returns (s, losses), both (steps * points_per_step + 1,): s is the position
    in inner steps (s = j is exactly phi_j), losses the loss there.
    """
    _check(trajectory, "trajectory")
    n = {v.shape[0] for v in trajectory.values()}
    if len(n) != 1 or min(n) < 2:
        raise ValueError(f"trajectory must hold steps + 1 >= 2 iterates along its first dimension, got {sorted(n)}")
    if points_per_step < 1:
        raise ValueError(f"points_per_step must be >= 1, got {points_per_step}")
    steps = n.pop() - 1
    dtype = next(iter(trajectory.values())).dtype
    s = torch.linspace(0, steps, steps * points_per_step + 1, dtype=dtype)
    j = s.floor().long().clamp(max=steps - 1)
    t = s - j
    traj = detached(trajectory)

    def at(ji: Tensor, ti: Tensor) -> Tensor:
        return loss_fn({k: v[ji] + ti * (v[ji + 1] - v[ji]) for k, v in traj.items()})

    with torch.no_grad():
        losses = vmap(at)(j, t)
    return s, losses


def fraction_below(losses: Tensor, threshold: float) -> Tensor:
    """Fraction of tasks whose loss is below ``threshold`` after each number of steps.

    losses: (steps + 1, T), e.g. from :func:`metanlp_lite.maml.adaptation_curve`.
    Returns (steps + 1,) with values in [0, 1].
    """
    if losses.ndim != 2:
        raise ValueError(f"losses must be (steps + 1, T), got shape {tuple(losses.shape)}")
    return (losses < threshold).to(torch.get_default_dtype()).mean(1)


def wilson_interval(fraction: Tensor | float, n: int, z: float = 1.96) -> Tensor:
    """The Wilson score interval of a fraction of successes among ``n`` trials (95% for z = 1.96).

    fraction: any shape (e.g. (steps + 1,) from :func:`fraction_below`). Returns (2, *shape):
    lower and upper bounds, inside [0, 1] even at a fraction of 0 or 1 (where the normal
    interval p +- z sqrt(p (1 - p) / n) collapses to a point).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of trials, got {n!r}")
    p = torch.as_tensor(fraction, dtype=torch.get_default_dtype() if not isinstance(fraction, Tensor)
                        or not fraction.is_floating_point() else fraction.dtype)
    if bool(((p < 0) | (p > 1)).any()):
        raise ValueError(f"a fraction must lie in [0, 1], got {p}")
    centre = (p + z ** 2 / (2 * n)) / (1 + z ** 2 / n)
    half = z * torch.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / (1 + z ** 2 / n)
    return torch.stack([centre - half, centre + half]).clamp(0, 1)      # clamp: rounding at p = 0 or 1
