"""Tests for metanlp_lite.objective: the meta-objective, its gradients and the quadratic case (float64)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from metanlp_lite import objective
from metanlp_lite.data import sample_sinusoid_tasks

DTYPE = torch.float64
TOL = 1e-6


# ---------------------------------------------------------------------------------------------
# Fixtures: a quadratic task (flat parameters) and a small tanh network on a sinusoid task (dict)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quad():
    g = torch.Generator().manual_seed(0)
    A, c = objective.random_quadratic_tasks(3, 4, g, curvature=(0.5, 4.0))
    theta = torch.randn(4, generator=g, dtype=DTYPE)
    return A, c, theta


@pytest.fixture(scope="module")
def net_task():
    """A non-quadratic task: tanh network, support and query MSE on one sinusoid task."""
    g = torch.Generator().manual_seed(1)
    tasks, _, _ = sample_sinusoid_tasks(1, k_support=5, k_query=10, generator=g, dtype=DTYPE)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 6), nn.Tanh(), nn.Linear(6, 1)).to(DTYPE)
    theta = {k: v.detach() for k, v in net.named_parameters()}

    def mse(p, x, y):
        return ((functional_call(net, p, (x,)) - y) ** 2).mean()

    support = lambda p: mse(p, tasks.support_x[0], tasks.support_y[0])  # noqa: E731
    query = lambda p: mse(p, tasks.query_x[0], tasks.query_y[0])  # noqa: E731
    return theta, support, query


def autograd_meta_gradient(theta, support, query, alpha, steps):
    """Second-order meta-gradient with plain torch.autograd through a hand-written inner loop."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()} if isinstance(theta, dict) \
        else theta.clone().requires_grad_(True)
    names = list(leaves) if isinstance(leaves, dict) else None
    phi = leaves
    for _ in range(steps):
        if names is None:
            (g,) = torch.autograd.grad(support(phi), phi, create_graph=True)
            phi = phi - alpha * g
        else:
            gs = torch.autograd.grad(support(phi), [phi[n] for n in names], create_graph=True)
            phi = {n: phi[n] - alpha * g for n, g in zip(names, gs)}
    if names is None:
        return torch.autograd.grad(query(phi), leaves)[0]
    return dict(zip(names, torch.autograd.grad(query(phi), [leaves[n] for n in names])))


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def test_grad_and_hvp_on_a_quadratic(quad):
    A, c, theta = quad
    L = objective.quadratic_loss(A[0], c[0])
    v = torch.arange(4, dtype=DTYPE) - 1.5
    torch.testing.assert_close(objective.grad(L, theta), A[0] @ (theta - c[0]))
    torch.testing.assert_close(objective.hvp(L, theta, v), A[0] @ v)


def test_hvp_matches_the_full_hessian_on_a_network(net_task):
    theta, support, _ = net_task
    flat = torch.cat([p.reshape(-1) for p in theta.values()])
    shapes = {k: p.shape for k, p in theta.items()}

    def unflatten(x):
        out, i = {}, 0
        for k, s in shapes.items():
            n = s.numel()
            out[k] = x[i:i + n].reshape(s)
            i += n
        return out

    H = torch.func.jacrev(torch.func.jacrev(lambda x: support(unflatten(x))))(flat)  # reverse-over-reverse
    v = torch.linspace(-1, 1, flat.numel(), dtype=DTYPE)
    hv = objective.hvp(support, theta, unflatten(v))
    torch.testing.assert_close(torch.cat([hv[k].reshape(-1) for k in shapes]), H @ v)


def test_inner_update_is_k_gradient_steps(quad):
    A, c, theta = quad
    L = objective.quadratic_loss(A[0], c[0])
    alpha = 0.1
    phi = theta
    for _ in range(3):
        phi = phi - alpha * A[0] @ (phi - c[0])
    torch.testing.assert_close(objective.inner_update(theta, L, alpha, steps=3), phi)
    path = objective.inner_trajectory(theta, L, alpha, steps=3)
    assert len(path) == 4
    torch.testing.assert_close(path[0], theta)
    torch.testing.assert_close(objective.inner_update(theta, L, alpha, steps=0), theta)


def test_inner_update_keeps_dict_structure(net_task):
    theta, support, _ = net_task
    phi = objective.inner_update(theta, support, 0.1, steps=2)
    assert set(phi) == set(theta)
    assert all(phi[k].shape == theta[k].shape for k in theta)
    assert any(not torch.equal(phi[k], theta[k]) for k in theta)


def test_meta_loss_of_a_quadratic_matches_the_closed_form(quad):
    A, c, theta = quad
    for steps in (1, 3):
        generic = torch.stack([objective.meta_loss(theta, L, L, 0.2, steps)
                               for L in (objective.quadratic_loss(A[t], c[t]) for t in range(3))]).mean()
        closed = objective.maml_loss_quadratic(theta, A, c, 0.2, steps)
        assert abs((generic - closed) / closed).item() < 1e-12


# ---------------------------------------------------------------------------------------------
# The exact meta-gradient: chain rule with HVPs vs autograd vs finite differences
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_meta_gradient_on_a_quadratic(quad, steps):
    A, c, theta = quad
    L = objective.quadratic_loss(A[1], c[1])
    alpha = 0.2
    exact = objective.meta_gradient(theta, L, L, alpha, steps)
    closed = objective.maml_matrices(A[1:2], alpha, steps)[0] @ (theta - c[1])
    closed_value = lambda p: objective.maml_loss_quadratic(p, A[1:2], c[1:2], alpha, steps)  # noqa: E731
    assert objective.relative_error(exact, closed) < 1e-12
    assert objective.relative_error(exact, autograd_meta_gradient(theta, L, L, alpha, steps)) < TOL
    assert objective.relative_error(exact, objective.meta_gradient_autograd(theta, L, L, alpha, steps)) < TOL
    assert objective.relative_error(exact, objective.finite_difference_grad(closed_value, theta)) < TOL


@pytest.mark.parametrize("steps", [1, 3])
def test_meta_gradient_on_a_network(net_task, steps):
    theta, support, query = net_task
    alpha = 0.3
    exact = objective.meta_gradient(theta, support, query, alpha, steps)
    auto = autograd_meta_gradient(theta, support, query, alpha, steps)

    def meta_loss_by_hand(p):  # independent of objective.inner_update
        for _ in range(steps):
            g = torch.func.grad(support)(p)
            p = {k: p[k] - alpha * g[k] for k in p}
        return query(p)

    fd = objective.finite_difference_grad(meta_loss_by_hand, theta)
    assert objective.relative_error(exact, auto) < TOL
    assert objective.relative_error(exact, fd) < TOL
    assert objective.relative_error(exact, objective.meta_gradient_autograd(theta, support, query, alpha, steps)) < TOL


def test_finite_differences_of_a_known_function():
    x = torch.tensor([0.3, -1.2, 2.0], dtype=DTYPE)
    fd = objective.finite_difference_grad(lambda p: (p.sin() * p ** 2).sum(), x)
    torch.testing.assert_close(fd, x.cos() * x ** 2 + 2 * x * x.sin(), rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# First-order MAML and Reptile
# ---------------------------------------------------------------------------------------------
def test_first_order_is_the_formula_without_the_hessian_term(net_task):
    theta, support, query = net_task
    alpha = 0.3
    fo = objective.first_order_meta_gradient(theta, support, query, alpha)
    phi = {k: theta[k] - alpha * g for k, g in torch.func.grad(support)(theta).items()}
    torch.testing.assert_close(fo, torch.func.grad(query)(phi))
    # exact = fo - alpha H fo  (one step), so the difference is exactly the Hessian term
    exact = objective.meta_gradient(theta, support, query, alpha)
    hessian_term = {k: -alpha * h for k, h in objective.hvp(support, theta, fo).items()}
    assert objective.relative_error({k: exact[k] - fo[k] for k in theta}, hessian_term) < 1e-10


def test_first_order_error_grows_with_step_times_curvature(quad):
    A, c, theta = quad
    L = objective.quadratic_loss(A[0], c[0])
    lam = torch.linalg.eigvalsh(A[0]).max().item()
    errs = []
    for alpha_lam in (0.01, 0.8):
        alpha = alpha_lam / lam
        errs.append(objective.relative_error(objective.first_order_meta_gradient(theta, L, L, alpha),
                                             objective.meta_gradient(theta, L, L, alpha)))
    assert errs[0] < 0.02  # small alpha * curvature: good approximation
    assert errs[1] > 0.2   # large alpha * curvature: clearly different


def test_reptile_is_theta_minus_phi(quad, net_task):
    theta, support, _ = net_task
    for steps in (1, 3):
        phi = theta
        for _ in range(steps):
            g = torch.func.grad(support)(phi)
            phi = {k: phi[k] - 0.1 * g[k] for k in phi}
        torch.testing.assert_close(objective.reptile_gradient(theta, support, 0.1, steps),
                                   {k: theta[k] - phi[k] for k in theta})
    # one step: alpha * grad L_s(theta), and the closed form (I - (I - alpha A)^k)(theta - c) on a quadratic
    A, c, th = quad
    L = objective.quadratic_loss(A[0], c[0])
    torch.testing.assert_close(objective.reptile_gradient(th, L, 0.1, 1), 0.1 * A[0] @ (th - c[0]))
    B3 = torch.linalg.matrix_power(torch.eye(4, dtype=DTYPE) - 0.1 * A[0], 3)
    torch.testing.assert_close(objective.reptile_gradient(th, L, 0.1, 3), (torch.eye(4, dtype=DTYPE) - B3) @ (th - c[0]))


# ---------------------------------------------------------------------------------------------
# Quadratic tasks: closed-form optima
# ---------------------------------------------------------------------------------------------
def test_one_dimensional_optima_by_hand():
    a = torch.tensor([0.5, 1.0, 4.0], dtype=DTYPE)
    c = torch.tensor([-2.0, 0.5, 3.0], dtype=DTYPE)
    alpha = 0.2
    m = a * (1 - alpha * a) ** 2
    torch.testing.assert_close(objective.joint_optimum_quadratic(a[:, None, None], c[:, None]),
                               ((a * c).sum() / a.sum()).reshape(1))
    torch.testing.assert_close(objective.maml_optimum_quadratic(a[:, None, None], c[:, None], alpha),
                               ((m * c).sum() / m.sum()).reshape(1))


@pytest.mark.parametrize("steps,lr", [(1, 0.5), (3, 2.5)])
def test_gradient_descent_on_the_meta_objective_finds_the_closed_form_optimum(steps, lr):
    A, c = objective.random_quadratic_tasks(4, 2, torch.Generator().manual_seed(5), curvature=(0.5, 4.0))
    losses = [objective.quadratic_loss(A[t], c[t]) for t in range(4)]
    alpha = 0.2
    theta = torch.tensor([-5.0, 4.0], dtype=DTYPE)
    for _ in range(80):
        g = torch.stack([objective.meta_gradient(theta, L, L, alpha, steps) for L in losses]).mean(0)
        theta = theta - lr * g
    star = objective.maml_optimum_quadratic(A, c, alpha, steps)
    assert (theta - star).norm() < TOL
    # and the gradient of the closed-form objective vanishes there
    assert torch.func.grad(lambda p: objective.maml_loss_quadratic(p, A, c, alpha, steps))(star).norm() < 1e-10


def test_maml_optimum_differs_from_joint_and_tends_to_it_as_alpha_vanishes():
    A, c = objective.random_quadratic_tasks(4, 2, torch.Generator().manual_seed(5), curvature=(0.5, 4.0))
    joint = objective.joint_optimum_quadratic(A, c)
    maml = objective.maml_optimum_quadratic(A, c, 0.2)
    assert (maml - joint).norm() > 0.5
    # each optimum is better on its own objective
    assert objective.maml_loss_quadratic(maml, A, c, 0.2) < objective.maml_loss_quadratic(joint, A, c, 0.2)
    assert objective.joint_loss_quadratic(joint, A, c) < objective.joint_loss_quadratic(maml, A, c)
    torch.testing.assert_close(objective.maml_optimum_quadratic(A, c, 0.0), joint)
    assert (objective.maml_optimum_quadratic(A, c, 1e-4) - joint).norm() < 1e-2


def test_quadratic_objectives_are_batched_over_points():
    A, c = objective.random_quadratic_tasks(3, 2, torch.Generator().manual_seed(0))
    grid = torch.randn(5, 7, 2, dtype=DTYPE)
    values = objective.maml_loss_quadratic(grid, A, c, 0.1)
    assert values.shape == (5, 7)
    torch.testing.assert_close(values[2, 3], objective.maml_loss_quadratic(grid[2, 3], A, c, 0.1))



# ---------------------------------------------------------------------------------------------
# Where each method settles, and Reptile with one batch or several
# ---------------------------------------------------------------------------------------------
METHOD_DIRECTIONS = {
    "joint": lambda th, L, alpha, k: objective.grad(L, th),
    "reptile": lambda th, L, alpha, k: objective.reptile_gradient(th, L, alpha, k),
    "fomaml": lambda th, L, alpha, k: objective.first_order_meta_gradient(th, L, L, alpha, k),
    "maml": lambda th, L, alpha, k: objective.meta_gradient(th, L, L, alpha, k),
}


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("method", sorted(METHOD_DIRECTIONS))
def test_each_methods_updates_converge_to_its_closed_form_fixed_point(method, steps):
    A, c = objective.random_quadratic_tasks(4, 2, torch.Generator().manual_seed(5), curvature=(0.5, 4.0))
    losses = [objective.quadratic_loss(A[t], c[t]) for t in range(4)]
    alpha = 0.2
    beta = 1 / torch.linalg.eigvalsh(objective.update_matrices_quadratic(A, alpha, steps, method).mean(0)).max().item()
    theta = torch.tensor([-5.0, 4.0], dtype=DTYPE)
    for _ in range(60):
        theta = theta - beta * torch.stack([METHOD_DIRECTIONS[method](theta, L, alpha, steps) for L in losses]).mean(0)
    star = objective.fixed_point_quadratic(A, c, alpha, method, steps)
    assert (theta - star).norm() < 1e-10
    # the closed-form direction W_T (theta - c_T) is the method's own, at any theta
    th = torch.tensor([0.3, -1.2], dtype=DTYPE)
    W = objective.update_matrices_quadratic(A, alpha, steps, method)
    for t, L in enumerate(losses):
        torch.testing.assert_close(METHOD_DIRECTIONS[method](th, L, alpha, steps), W[t] @ (th - c[t]))


def test_fixed_points_extend_the_two_optima_and_differ_from_each_other():
    A, c = objective.random_quadratic_tasks(4, 2, torch.Generator().manual_seed(5), curvature=(0.5, 4.0))
    torch.testing.assert_close(objective.fixed_point_quadratic(A, c, 0.2, "joint"), objective.joint_optimum_quadratic(A, c))
    torch.testing.assert_close(objective.fixed_point_quadratic(A, c, 0.2, "maml", 3),
                               objective.maml_optimum_quadratic(A, c, 0.2, 3))
    torch.testing.assert_close(objective.fixed_point_quadratic(A, c, 0.2, "reptile", 1),
                               objective.joint_optimum_quadratic(A, c))       # one-step Reptile is joint training
    points = [objective.fixed_point_quadratic(A, c, 0.2, m, 3) for m in ("joint", "reptile", "fomaml", "maml")]
    assert all((p - q).norm() > 0.1 for i, p in enumerate(points) for q in points[i + 1:])
    # one dimension, to first order in alpha: weights a (1 - gamma alpha a), gamma = 0, (k-1)/2, k, 2k
    a = torch.tensor([0.5, 1.0, 4.0], dtype=DTYPE)
    for method, gamma in (("joint", 0), ("reptile", 1), ("fomaml", 3), ("maml", 6)):
        W = objective.update_matrices_quadratic(a[:, None, None], 1e-4, 3, method)[:, 0, 0]
        W = W / W[0] * a[0] * (1 - gamma * 1e-4 * a[0])
        torch.testing.assert_close(W, a * (1 - gamma * 1e-4 * a), rtol=1e-5, atol=0)   # gamma +- 1: 4e-4 off
    with pytest.raises(ValueError, match="method must be one of"):
        objective.update_matrices_quadratic(A, 0.2, 1, "sgd")


def test_reptile_two_steps_same_batch_and_different_minibatches():
    """theta - phi_2 = alpha (g_1 + g_2) - alpha^2 H_2 g_1, exactly on quadratics; with one batch reused
    the alpha^2 term is alpha^2 H g = (alpha^2 / 2) grad ||g||^2."""
    A, c = objective.random_quadratic_tasks(2, 3, torch.Generator().manual_seed(3))
    L1, L2 = (objective.quadratic_loss(A[b], c[b]) for b in range(2))
    theta, alpha = torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE), 0.1
    g1, g2 = A[0] @ (theta - c[0]), A[1] @ (theta - c[1])
    different = objective.reptile_gradient_batches(theta, [L1, L2], alpha)
    torch.testing.assert_close(different, alpha * (g1 + g2) - alpha ** 2 * A[1] @ g1, rtol=1e-12, atol=1e-14)
    both_orders = (different + objective.reptile_gradient_batches(theta, [L2, L1], alpha)) / 2
    agreement = torch.func.grad(lambda p: (A[0] @ (p - c[0])) @ (A[1] @ (p - c[1])))(theta)
    torch.testing.assert_close(both_orders, alpha * (g1 + g2) - alpha ** 2 / 2 * agreement, rtol=1e-12, atol=1e-14)
    same = objective.reptile_gradient(theta, L1, alpha, 2)
    torch.testing.assert_close(objective.reptile_gradient_batches(theta, [L1, L1], alpha), same)
    squared_norm = torch.func.grad(lambda p: (A[0] @ (p - c[0])).square().sum())(theta)
    torch.testing.assert_close(same, 2 * alpha * g1 - alpha ** 2 / 2 * squared_norm, rtol=1e-12, atol=1e-14)


def test_reptile_two_step_expansion_has_a_third_order_remainder(net_task):
    theta, support, _ = net_task
    rests = []
    for alpha in (0.02, 0.01):
        g = objective.grad(support, theta)
        hg = objective.hvp(support, theta, g)
        rep = objective.reptile_gradient(theta, support, alpha, 2)
        rests.append(objective.relative_error(rep, {k: 2 * alpha * g[k] - alpha ** 2 * hg[k] for k in theta}))
    assert 3.5 < rests[0] / rests[1] < 4.5   # remainder O(alpha^3) against O(alpha): halving alpha divides by 4

# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def test_bad_shapes_raise_value_error(quad):
    A, c, theta = quad
    L = objective.quadratic_loss(A[0], c[0])
    with pytest.raises(ValueError, match=r"shape \(P,\)"):
        objective.grad(L, theta[None])
    with pytest.raises(ValueError, match="must match"):
        objective.hvp(L, theta, theta[:3])
    with pytest.raises(ValueError, match="different keys"):
        objective.hvp(lambda p: (p["w"] ** 2).sum(), {"w": theta}, {"v": theta})
    with pytest.raises(ValueError, match=r"\(n, d, d\)"):
        objective.maml_optimum_quadratic(A[0], c[0], 0.1)
    with pytest.raises(ValueError, match=r"\(n, d, d\)"):
        objective.joint_loss_quadratic(theta, A, c[:, :3])
    with pytest.raises(ValueError, match=r"\(\.\.\., d\)"):
        objective.maml_loss_quadratic(theta[:3], A, c, 0.1)
    with pytest.raises(ValueError, match="symmetric"):
        objective.joint_optimum_quadratic(A + torch.triu(torch.ones(4, 4, dtype=DTYPE), 1), c)
    with pytest.raises(ValueError, match="scalar"):
        objective.grad(lambda p: p ** 2, theta)
    with pytest.raises(ValueError, match="steps"):
        objective.inner_update(theta, L, 0.1, steps=-1)
    with pytest.raises(ValueError, match="alpha"):
        objective.meta_gradient(theta, L, L, float("nan"))
    with pytest.raises(ValueError, match="floating-point"):
        objective.grad(L, torch.arange(4))
    with pytest.raises(ValueError, match="singular"):
        objective.joint_optimum_quadratic(torch.zeros(2, 3, 3, dtype=DTYPE), torch.zeros(2, 3, dtype=DTYPE))
