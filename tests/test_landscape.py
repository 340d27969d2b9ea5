"""Tests for metanlp_lite.landscape: planes, batched grid losses, trajectories, curvature (float64)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from metanlp_lite import curvature, landscape as ls
from metanlp_lite import objective
from metanlp_lite.data import sample_sinusoid_tasks
from metanlp_lite.sinusoid import sinusoid_mlp

DTYPE = torch.float64


@pytest.fixture(scope="module")
def setup():
    """The sinusoid MLP (1 -> 16 -> 16 -> 1) in float64 and 3 tasks of 10 support / 10 query points."""
    model = sinusoid_mlp(16, dtype=DTYPE, seed=0)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    batch, _, _ = sample_sinusoid_tasks(3, 10, 10, torch.Generator().manual_seed(1), dtype=DTYPE)
    return model, theta, batch


def direct_loss(model, params, x, y):
    return F.mse_loss(functional_call(model, params, (x,)), y)


# ---------------------------------------------------------------------------------------------
# Directions and planes
# ---------------------------------------------------------------------------------------------
def test_filter_normalize_gives_each_filter_the_norm_of_the_parameter_filter(setup):
    _, theta, _ = setup
    raw = ls.random_direction(theta, torch.Generator().manual_seed(0), normalize=False)
    d = ls.filter_normalize(raw, theta)
    for k, t in theta.items():
        if t.ndim == 1:
            assert torch.equal(d[k], torch.zeros_like(t)), f"{k}: biases get a zero direction by default"
            continue
        torch.testing.assert_close(d[k].reshape(len(t), -1).norm(dim=1), t.reshape(len(t), -1).norm(dim=1))
        # each filter keeps its direction: d_f is a positive multiple of raw_f
        cos = F.cosine_similarity(d[k].reshape(len(t), -1), raw[k].reshape(len(t), -1), dim=1)
        torch.testing.assert_close(cos, torch.ones_like(cos))
    # a 4-D (conv) weight: filters are output channels
    w = torch.randn(3, 2, 5, 5, dtype=DTYPE)
    dw = ls.filter_normalize({"w": torch.randn(3, 2, 5, 5, dtype=DTYPE)}, {"w": w})["w"]
    torch.testing.assert_close(dw.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))


def test_filter_normalize_bias_option_and_errors(setup):
    _, theta, _ = setup
    raw = ls.random_direction(theta, torch.Generator().manual_seed(0), normalize=False)
    d = ls.filter_normalize(raw, theta, bias="normalize")
    torch.testing.assert_close(d["0.bias"].norm(), theta["0.bias"].norm())
    with pytest.raises(ValueError, match="bias must be"):
        ls.filter_normalize(raw, theta, bias="keep")
    with pytest.raises(ValueError, match="shape"):
        ls.filter_normalize({**raw, "0.weight": raw["0.weight"].T}, theta)
    with pytest.raises(ValueError, match="names"):
        ls.filter_normalize({"x": raw["0.weight"]}, theta)


def test_pca_plane_is_orthonormal_and_contains_a_one_dimensional_path(setup):
    model, theta, batch = setup
    traj = ls.inner_trajectories(model, theta, batch.support_x, batch.support_y, lr=0.02, steps=4, loss_fn=F.mse_loss)
    plane, explained = ls.pca_plane(traj, theta)
    d1, d2 = plane.d1, plane.d2
    dot = lambda a, b: sum(float((a[k] * b[k]).sum()) for k in a)  # noqa: E731
    assert dot(d1, d1) == pytest.approx(1) and dot(d2, d2) == pytest.approx(1) and abs(dot(d1, d2)) < 1e-12
    assert 0 < float(explained.sum()) <= 1 + 1e-12 and explained[0] >= explained[1]
    # points on a line through theta: the first direction holds them all, nothing is off the plane
    line = {k: torch.stack([theta[k] + s * d1[k] for s in (0.0, 0.5, 1.0)]) for k in theta}
    plane_line, explained_line = ls.pca_plane(line, theta, generator=torch.Generator().manual_seed(0))
    assert float(explained_line[0]) == pytest.approx(1)
    proj = ls.project(line, plane_line)
    torch.testing.assert_close(proj.coords[:, 0], torch.tensor([0.0, 0.5, 1.0], dtype=DTYPE))
    assert float(proj.distance.max()) < 1e-12
    with pytest.raises(ValueError, match="displacements are zero"):
        ls.pca_plane({k: v[None] for k, v in theta.items()}, theta)


# ---------------------------------------------------------------------------------------------
# Grid losses
# ---------------------------------------------------------------------------------------------
def test_grid_loss_at_the_origin_is_the_loss_at_theta(setup):
    model, theta, batch = setup
    plane = ls.random_plane(theta, torch.Generator().manual_seed(0))
    grid = torch.linspace(-1, 1, 5, dtype=DTYPE)                   # grid[2] == 0
    Z = ls.grid_losses(ls.loss_of(model, batch.support_x[0], batch.support_y[0], F.mse_loss), plane, grid, grid)
    assert Z.shape == (5, 5)
    torch.testing.assert_close(Z[2, 2], direct_loss(model, theta, batch.support_x[0], batch.support_y[0]))


def test_a_grid_point_is_the_loss_of_the_perturbed_parameters(setup):
    model, theta, batch = setup
    plane = ls.random_plane(theta, torch.Generator().manual_seed(1))
    xi1 = torch.tensor([-0.7, -0.1, 0.3, 0.9], dtype=DTYPE)
    xi2 = torch.tensor([-0.5, 0.2, 0.8], dtype=DTYPE)
    Z = ls.grid_losses(ls.task_losses(model, batch.query_x, batch.query_y, F.mse_loss), plane, xi1, xi2)
    assert Z.shape == (3, 3, 4)                                    # (tasks, xi2, xi1)
    for t in range(3):
        for i, b in enumerate(xi2.tolist()):
            for j, a in enumerate(xi1.tolist()):
                moved = {k: theta[k] + a * plane.d1[k] + b * plane.d2[k] for k in theta}
                torch.testing.assert_close(Z[t, i, j], direct_loss(model, moved, batch.query_x[t], batch.query_y[t]))
    # chunked evaluation gives the same numbers
    Zc = ls.grid_losses(ls.task_losses(model, batch.query_x, batch.query_y, F.mse_loss), plane, xi1, xi2,
                        chunk_size=5)
    torch.testing.assert_close(Zc, Z)


def test_grid_losses_rejects_bad_grids(setup):
    model, theta, batch = setup
    plane = ls.random_plane(theta)
    f = ls.loss_of(model, batch.support_x[0], batch.support_y[0], F.mse_loss)
    with pytest.raises(ValueError, match="1-D"):
        ls.grid_losses(f, plane, torch.zeros(2, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        ls.grid_losses(f, plane._replace(d1={**plane.d1, "0.bias": torch.zeros(3, dtype=DTYPE)}),
                       torch.zeros(3), torch.zeros(3))


# ---------------------------------------------------------------------------------------------
# Trajectories and paths
# ---------------------------------------------------------------------------------------------
def test_inner_trajectories_match_the_per_task_inner_loop(setup):
    model, theta, batch = setup
    traj = ls.inner_trajectories(model, theta, batch.support_x, batch.support_y, lr=0.03, steps=3, loss_fn=F.mse_loss)
    assert traj["2.weight"].shape == (3, 4, 16, 16)
    for t in range(3):
        path = objective.inner_trajectory(
            theta, lambda p: direct_loss(model, p, batch.support_x[t], batch.support_y[t]), 0.03, 3)
        for j, phi in enumerate(path):
            for k in theta:
                torch.testing.assert_close(traj[k][t, j], phi[k])


@pytest.mark.parametrize("kind", ["random", "pca"])
def test_projected_trajectories_start_at_the_origin(setup, kind):
    model, theta, batch = setup
    traj = ls.inner_trajectories(model, theta, batch.support_x, batch.support_y, lr=0.02, steps=5, loss_fn=F.mse_loss)
    plane = ls.random_plane(theta, torch.Generator().manual_seed(0)) if kind == "random" else ls.pca_plane(traj, theta)[0]
    proj = ls.project(traj, plane)
    assert proj.coords.shape == (3, 6, 2) and proj.distance.shape == (3, 6)
    assert float(proj.coords[:, 0].abs().max()) < 1e-12 and float(proj.distance[:, 0].max()) < 1e-12
    assert float(proj.coords[:, -1].abs().max()) > 0                 # and then they move


def test_project_recovers_coordinates_of_points_on_a_non_orthogonal_plane(setup):
    _, theta, _ = setup
    plane = ls.random_plane(theta, torch.Generator().manual_seed(3))   # not orthogonalised
    coords = torch.tensor([[0.3, -0.2], [-1.0, 0.5]], dtype=DTYPE)
    points = {k: torch.stack([theta[k] + a * plane.d1[k] + b * plane.d2[k] for a, b in coords.tolist()]) for k in theta}
    proj = ls.project(points, plane)
    torch.testing.assert_close(proj.coords, coords)
    assert float(proj.distance.max()) < 1e-10


def test_path_losses_hit_the_iterates(setup):
    model, theta, batch = setup
    traj = ls.inner_trajectories(model, theta, batch.support_x[:1], batch.support_y[:1], lr=0.02, steps=3,
                                 loss_fn=F.mse_loss)
    one = {k: v[0] for k, v in traj.items()}
    f = ls.loss_of(model, batch.support_x[0], batch.support_y[0], F.mse_loss)
    s, losses = ls.path_losses(f, one, points_per_step=4)
    assert s.shape == losses.shape == (13,)
    for j in range(4):
        torch.testing.assert_close(losses[4 * j], f({k: v[j] for k, v in one.items()}))
    mid = {k: (v[0] + v[1]) / 2 for k, v in one.items()}
    torch.testing.assert_close(losses[2], f(mid))


def test_plane_fit_splits_each_displacement_into_in_plane_and_off_plane_parts(setup):
    model, theta, batch = setup
    traj = ls.inner_trajectories(model, theta, batch.support_x, batch.support_y, lr=0.02, steps=4, loss_fn=F.mse_loss)
    plane, explained = ls.pca_plane(traj, theta)
    fit = ls.plane_fit(traj, plane)
    assert fit.explained.shape == (3,) and fit.in_plane.shape == fit.off_plane.shape == fit.length.shape == (3, 5)
    torch.testing.assert_close(fit.in_plane ** 2 + fit.off_plane ** 2, fit.length ** 2)
    # over all tasks together, the plane holds the fraction pca_plane reports
    total = (fit.in_plane ** 2).sum() / (fit.length ** 2).sum()
    torch.testing.assert_close(total, explained.sum())
    assert bool((fit.explained > 0).all()) and bool((fit.explained <= 1 + 1e-12).all())
    # the true distance is the norm of phi - theta, and a random plane holds almost none of it
    phi = {k: v[1, 3] for k, v in traj.items()}
    assert float(fit.length[1, 3]) == pytest.approx(math.sqrt(sum(float(((phi[k] - theta[k]) ** 2).sum()) for k in theta)))
    far = ls.plane_fit(traj, ls.random_plane(theta, torch.Generator().manual_seed(0)))
    assert float(far.explained.max()) < 0.1
    # a trajectory inside the plane is explained entirely
    line = {k: torch.stack([theta[k] + s * plane.d1[k] + s * s * plane.d2[k] for s in (0.0, 0.5, 1.0)])[None]
            for k in theta}
    inside = ls.plane_fit(line, plane)
    torch.testing.assert_close(inside.explained, torch.ones(1, dtype=DTYPE))
    assert float(inside.off_plane.max()) < 1e-12
    with pytest.raises(ValueError, match="never leaves"):
        ls.plane_fit({k: v[:, :1] for k, v in traj.items()}, plane)


def test_fraction_below():
    losses = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.1, 2.0, 0.2, 4.0]])
    torch.testing.assert_close(ls.fraction_below(losses, 1.5), torch.tensor([0.25, 0.5]))
    with pytest.raises(ValueError, match="steps"):
        ls.fraction_below(torch.zeros(3), 1.0)


def test_wilson_interval():
    lo, hi = ls.wilson_interval(torch.tensor([0.0, 0.5, 1.0], dtype=DTYPE), 200)
    assert float(lo[0]) == 0 and float(hi[2]) == pytest.approx(1) and bool((hi[:2] > 0).all()) and float(lo[2]) < 1
    # the textbook value for 100 successes out of 200: 0.5 +- 0.0683 (symmetric at p = 1/2)
    assert float(lo[1]) == pytest.approx(0.4313, abs=1e-4) and float(hi[1]) == pytest.approx(0.5687, abs=1e-4)
    with pytest.raises(ValueError, match="fraction"):
        ls.wilson_interval(1.5, 10)
    with pytest.raises(ValueError, match="trials"):
        ls.wilson_interval(0.5, 0)


def test_per_task_losses_use_each_tasks_parameters(setup):
    model, theta, batch = setup
    traj = ls.inner_trajectories(model, theta, batch.support_x, batch.support_y, lr=0.02, steps=2, loss_fn=F.mse_loss)
    phi = {k: v[:, -1] for k, v in traj.items()}
    out = ls.per_task_losses(model, phi, batch.query_x, batch.query_y, F.mse_loss)
    for t in range(3):
        torch.testing.assert_close(out[t], direct_loss(model, {k: v[t] for k, v in phi.items()},
                                                       batch.query_x[t], batch.query_y[t]))
    with pytest.raises(ValueError, match="leading task dimension"):
        ls.per_task_losses(model, theta, batch.query_x, batch.query_y, F.mse_loss)


# ---------------------------------------------------------------------------------------------
# One inner step, to second order
# ---------------------------------------------------------------------------------------------
def test_one_step_expansion_is_exact_for_a_linear_model_and_third_order_for_a_network(setup):
    # a linear model with MSE: the losses are quadratic in the parameters, so the expansion is exact
    torch.manual_seed(0)
    linear = nn.Linear(1, 1).to(DTYPE)
    params = {k: v.detach() for k, v in linear.named_parameters()}
    _, _, batch = setup
    e = curvature.one_step_expansion(linear, params, batch, lr=0.3, loss_fn=F.mse_loss)
    torch.testing.assert_close(e.after, e.before - e.first_order + e.second_order)
    # each term, recomputed by hand for task 1
    support = ls.loss_of(linear, batch.support_x[1], batch.support_y[1], F.mse_loss)
    query = ls.loss_of(linear, batch.query_x[1], batch.query_y[1], F.mse_loss)
    g_s, g_q = objective.grad(support, params), objective.grad(query, params)
    dot = sum(float((g_s[k] * g_q[k]).sum()) for k in params)
    norm = lambda g: math.sqrt(sum(float((v ** 2).sum()) for v in g.values()))  # noqa: E731
    assert float(e.first_order[1]) == pytest.approx(0.3 * dot)
    assert float(e.cosine[1]) == pytest.approx(dot / (norm(g_s) * norm(g_q)))
    assert float(e.support_grad_norm[1]) == pytest.approx(norm(g_s))
    # a network: the remainder shrinks like lr^3 (a factor 8 when lr halves), for steps small
    # enough that no ReLU changes sign along them (larger ones cross a kink: no smooth expansion)
    model, theta, batch = setup
    rest = []
    for lr in (0.002, 0.001):
        e = curvature.one_step_expansion(model, theta, batch, lr=lr, loss_fn=F.mse_loss)
        rest.append((e.after - (e.before - e.first_order + e.second_order)).abs())
        assert bool((e.cosine.abs() <= 1 + 1e-12).all())
    ratio = rest[0] / rest[1]
    assert bool(((ratio > 6) & (ratio < 10)).all()), ratio


# ---------------------------------------------------------------------------------------------
# Curvature
# ---------------------------------------------------------------------------------------------
def tiny():
    """A tiny tanh network (1 -> 4 -> 1, 13 parameters) on one sinusoid task, float64."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1)).to(DTYPE)
    batch, _, _ = sample_sinusoid_tasks(1, 8, 8, torch.Generator().manual_seed(2), dtype=DTYPE)
    theta = {k: v.detach() for k, v in net.named_parameters()}
    return net, theta, ls.loss_of(net, batch.support_x[0], batch.support_y[0], F.mse_loss)


def full_hessian_eigenvalues(loss, theta):
    names, shapes = list(theta), [v.shape for v in theta.values()]
    sizes = [v.numel() for v in theta.values()]
    flat = torch.cat([v.reshape(-1) for v in theta.values()])
    unflat = lambda v: {k: p.reshape(s) for k, p, s in zip(names, torch.split(v, sizes), shapes)}  # noqa: E731
    H = torch.func.hessian(lambda v: loss(unflat(v)))(flat)
    return torch.linalg.eigvalsh((H + H.T) / 2)


def test_power_iteration_matches_eigvalsh_of_the_full_hessian():
    _, theta, loss = tiny()
    eigs = full_hessian_eigenvalues(loss, theta)
    top = curvature.top_hessian_eigenvalue(loss, theta, iters=2000, tol=1e-13, generator=torch.Generator().manual_seed(0))
    assert top.value == pytest.approx(float(eigs[-1]), rel=1e-7)
    assert top.residual < 1e-4


def test_power_iteration_finds_the_top_when_the_largest_magnitude_is_negative():
    # L(x) = 1/2 x^T A x with eigenvalues -5, 1, 2: power iteration alone would return -5
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=DTYPE))
    A = Q @ torch.diag(torch.tensor([-5.0, 1.0, 2.0], dtype=DTYPE)) @ Q.T
    loss = lambda p: 0.5 * p["x"] @ A @ p["x"]  # noqa: E731
    top = curvature.top_hessian_eigenvalue(loss, {"x": torch.ones(3, dtype=DTYPE)}, iters=3000, tol=1e-14,
                                    generator=torch.Generator().manual_seed(1))
    assert top.value == pytest.approx(2.0, rel=1e-6)


def test_divergence_lr_is_two_over_lambda_on_a_quadratic():
    # gradient descent on 1/2 x^T A x diverges exactly for alpha > 2 / lambda_max = 0.5
    A = torch.diag(torch.tensor([4.0, 1.0, 0.5], dtype=DTYPE))
    loss = lambda p: 0.5 * p["x"] @ A @ p["x"]  # noqa: E731
    theta = {"x": torch.ones(3, dtype=DTYPE)}
    alphas = torch.linspace(0.05, 1.0, 96, dtype=DTYPE)             # steps of 0.01
    sweep = curvature.divergence_lr(loss, theta, alphas, steps=200)
    assert sweep.alpha_div == pytest.approx(0.51, abs=1e-9)
    assert not bool(sweep.diverged[alphas <= 0.5].any()) and bool(sweep.diverged[alphas > 0.5].all())
    assert sweep.start == pytest.approx(0.5 * (4 + 1 + 0.5))
    assert math.isinf(curvature.divergence_lr(loss, theta, alphas[:10], steps=50).alpha_div)
    with pytest.raises(ValueError, match="increasing"):
        curvature.divergence_lr(loss, theta, alphas.flip(0))


def test_descent_sharpness_on_a_quadratic():
    # on 1/2 x^T A x the sharpness is lambda_max everywhere and the loss follows (1 - alpha lambda_i)^(2j)
    A = torch.diag(torch.tensor([4.0, 1.0, 0.5], dtype=DTYPE))
    loss = lambda p: 0.5 * p["x"] @ A @ p["x"]  # noqa: E731
    run = curvature.descent_sharpness(loss, {"x": torch.ones(3, dtype=DTYPE)}, lr=0.1, steps=7, every=3, tol=1e-12,
                               generator=torch.Generator().manual_seed(0))
    assert run.at.tolist() == [0, 3, 6, 7]
    torch.testing.assert_close(run.sharpness, torch.full((4,), 4.0, dtype=DTYPE), rtol=1e-6, atol=0)
    lam = torch.diag(A)
    expected = torch.stack([0.5 * (lam * (1 - 0.1 * lam) ** (2 * j)).sum() for j in range(8)])
    torch.testing.assert_close(run.losses, expected)
    # above 2 / lambda_max it blows up; once the loss is not finite the run stops
    blown = curvature.descent_sharpness(loss, {"x": torch.ones(3, dtype=DTYPE)}, lr=1e3, steps=400, every=100)
    assert math.isinf(float(blown.losses[-1])) and len(blown.losses) == 401 and blown.at[-1] < 400
    with pytest.raises(ValueError, match="every"):
        curvature.descent_sharpness(loss, {"x": torch.ones(3, dtype=DTYPE)}, lr=0.1, steps=3, every=0)
