"""Tests of metanlp_lite.maml: MAML (second and first order), Reptile, inner_loop, the checks."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metanlp_lite.data import sample_sinusoid_tasks
from metanlp_lite.episodes import TaskBatch
from metanlp_lite.maml import MAML, Reptile, adaptation_curve, inner_loop
from metanlp_lite.sinusoid import sinusoid_mlp, train_sinusoid

DT = torch.float64


def tanh_mlp(seed: int = 0, hidden: int = 8) -> nn.Module:
    """A smooth (tanh) MLP, so that finite differences are accurate everywhere."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, 1)).to(DT)


def sin_batch(n_tasks: int = 3, k: int = 5, q: int = 6, seed: int = 1, dtype: torch.dtype = DT) -> TaskBatch:
    return sample_sinusoid_tasks(n_tasks, k, q, torch.Generator().manual_seed(seed), dtype=dtype)[0]


def class_batch(n_tasks: int = 3, n_way: int = 3, k: int = 2, q: int = 4, dim: int = 6, seed: int = 2) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    sx = torch.randn(n_tasks, n_way * k, dim, generator=g, dtype=DT)
    qx = torch.randn(n_tasks, n_way * q, dim, generator=g, dtype=DT)
    sy = torch.arange(n_way).repeat_interleave(k).expand(n_tasks, -1).contiguous()
    qy = torch.arange(n_way).repeat_interleave(q).expand(n_tasks, -1).contiguous()
    return TaskBatch(sx, sy, qx, qy)


def grads(loss: torch.Tensor, model: nn.Module) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(model.parameters())))


def flat(ts: list[torch.Tensor] | dict) -> torch.Tensor:
    ts = list(ts.values()) if isinstance(ts, dict) else ts
    return torch.cat([t.reshape(-1) for t in ts])


# ---------------------------------------------------------------------------------------
# Second-order meta-gradient against central finite differences
# ---------------------------------------------------------------------------------------
def meta_loss_at(model: nn.Module, theta: torch.Tensor, batch: TaskBatch, inner_lr: float, steps: int) -> float:
    """The MAML objective evaluated from scratch at a flat parameter vector (no autograd tricks)."""
    m = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(theta, m.parameters())
    return MAML(m, inner_lr, steps, loss_fn=F.mse_loss).meta_loss_loop(batch).item()


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_meta_gradient_matches_finite_differences(steps):
    model, batch = tanh_mlp(), sin_batch()
    maml = MAML(model, inner_lr=0.05, inner_steps=steps, loss_fn=F.mse_loss)
    g = flat(grads(maml.meta_loss(batch), model))
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    gen = torch.Generator().manual_seed(0)
    eps = 1e-5
    for _ in range(4):  # directional derivatives along random directions
        v = torch.randn(theta.shape, generator=gen, dtype=DT)
        fd = (meta_loss_at(model, theta + eps * v, batch, 0.05, steps)
              - meta_loss_at(model, theta - eps * v, batch, 0.05, steps)) / (2 * eps)
        assert abs(fd - g @ v) < 1e-7 * max(1.0, abs(fd)), (fd, (g @ v).item())
    # a few single coordinates too (first-layer weight, a hidden bias, the output bias)
    for i in (0, 12, theta.numel() - 1):
        e = torch.zeros_like(theta)
        e[i] = 1.0
        fd = (meta_loss_at(model, theta + eps * e, batch, 0.05, steps)
              - meta_loss_at(model, theta - eps * e, batch, 0.05, steps)) / (2 * eps)
        assert abs(fd - g[i]) < 1e-7 * max(1.0, abs(fd))


def test_first_order_fails_the_finite_difference_check():
    """The FD check above is sensitive: first-order MAML's gradient does not pass it."""
    model, batch = tanh_mlp(), sin_batch()
    g = flat(grads(MAML(model, 0.05, 1, first_order=True, loss_fn=F.mse_loss).meta_loss(batch), model))
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0), dtype=DT)
    eps = 1e-5
    fd = (meta_loss_at(model, theta + eps * v, batch, 0.05, 1) - meta_loss_at(model, theta - eps * v, batch, 0.05, 1)) / (2 * eps)
    assert abs(fd - g @ v) > 1e-4


# ---------------------------------------------------------------------------------------
# Batched (vmap) equals the per-task loop
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("case", ["sinusoid", "classification"])
def test_batched_equals_loop(first_order, case):
    if case == "sinusoid":
        model, batch, loss_fn = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch(), F.mse_loss
    else:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3)).to(DT)
        batch, loss_fn = class_batch(), F.cross_entropy
    maml = MAML(model, 0.1, 2, first_order=first_order, loss_fn=loss_fn)
    lb, ll = maml.meta_loss(batch), maml.meta_loss_loop(batch)
    torch.testing.assert_close(lb, ll, rtol=0, atol=1e-12)
    for a, b in zip(grads(lb, model), grads(ll, model)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_meta_loss_backward_fills_parameter_grads():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    maml = MAML(model, 0.1, 2, loss_fn=F.mse_loss)
    expected = grads(maml.meta_loss_loop(batch), model)
    maml.meta_loss(batch).backward()
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, e, rtol=0, atol=1e-12)


def test_meta_loss_is_mean_query_loss_after_adaptation():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    maml = MAML(model, 0.1, 2, loss_fn=F.mse_loss)
    by_hand = torch.stack([F.mse_loss(maml.predict(maml.adapt(sx, sy), qx), qy) for sx, sy, qx, qy in zip(*batch)])
    torch.testing.assert_close(maml.meta_loss(batch), by_hand.mean(), rtol=0, atol=1e-12)


def test_adapt_batch_equals_adapt():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    maml = MAML(model, 0.1, 3, loss_fn=F.mse_loss)
    with torch.no_grad():
        many = maml.adapt_batch(batch.support_x, batch.support_y)
        out = maml.predict_batch(many, batch.query_x)
    for t in range(batch.support_x.shape[0]):
        one = maml.adapt(batch.support_x[t], batch.support_y[t])
        for n in one:
            torch.testing.assert_close(many[n][t], one[n].detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(out[t], maml.predict(one, batch.query_x[t]).detach(), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# First order = second order without the Hessian term (a linear model, by hand)
# ---------------------------------------------------------------------------------------
def test_first_and_second_order_against_hand_formula_on_a_linear_model():
    """y = w x + b, MSE, one inner step. With X = [x, 1] (K, 2) and theta = (w, b):
    grad L_s = (2/K) X^T (X theta - y), Hessian H_s = (2/K) X^T X, phi = theta - a grad L_s;
    first order: grad L_q(phi); second order: (I - a H_s) grad L_q(phi)."""
    torch.manual_seed(0)
    model = nn.Linear(1, 1).to(DT)
    batch = sin_batch(n_tasks=4, k=5, q=7)
    a = 0.1
    theta = torch.cat([model.weight.detach().reshape(1), model.bias.detach()])  # (w, b)
    fo_expected, so_expected = torch.zeros(2, dtype=DT), torch.zeros(2, dtype=DT)
    for sx, sy, qx, qy in zip(*batch):
        Xs, Xq = torch.cat([sx, torch.ones_like(sx)], 1), torch.cat([qx, torch.ones_like(qx)], 1)
        g_s = 2 / len(sx) * Xs.T @ (Xs @ theta - sy[:, 0])
        H_s = 2 / len(sx) * Xs.T @ Xs
        phi = theta - a * g_s
        g_q = 2 / len(qx) * Xq.T @ (Xq @ phi - qy[:, 0])
        fo_expected += g_q / 4
        so_expected += (torch.eye(2, dtype=DT) - a * H_s) @ g_q / 4
    fo = flat(grads(MAML(model, a, 1, first_order=True, loss_fn=F.mse_loss).meta_loss(batch), model))
    so = flat(grads(MAML(model, a, 1, first_order=False, loss_fn=F.mse_loss).meta_loss(batch), model))
    torch.testing.assert_close(fo, fo_expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(so, so_expected, rtol=0, atol=1e-12)
    assert (fo - so).abs().max() > 1e-3  # the Hessian term matters here


def test_first_order_equals_query_gradient_at_adapted_params():
    """FOMAML's meta-gradient is grad_phi L_query(phi), for a nonlinear model and 2 steps."""
    model, batch = tanh_mlp(), sin_batch()
    maml = MAML(model, 0.05, 2, first_order=True, loss_fn=F.mse_loss)
    expected = torch.zeros_like(flat(list(model.parameters())))
    for sx, sy, qx, qy in zip(*batch):
        with torch.no_grad():
            phi = maml.adapt(sx, sy)
        phi = {n: p.clone().requires_grad_(True) for n, p in phi.items()}
        expected += flat(torch.autograd.grad(F.mse_loss(maml.predict(phi, qx), qy), list(phi.values()))) / 3
    torch.testing.assert_close(flat(grads(maml.meta_loss(batch), model)), expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Reptile against its definition (torch.optim.SGD on copies of the model)
# ---------------------------------------------------------------------------------------
def reptile_by_definition(model: nn.Module, batch: TaskBatch, lr: float, steps: int) -> list[torch.Tensor]:
    """theta - mean_i(phi_i), phi_i = `steps` SGD steps of a copy of the model on task i's support set."""
    adapted = []
    for sx, sy in zip(batch.support_x, batch.support_y):
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(m(sx), sy).backward()
            opt.step()
        adapted.append([p.detach().clone() for p in m.parameters()])
    return [p.detach() - torch.stack(ps).mean(0) for p, ps in zip(model.parameters(), zip(*adapted))]


def test_reptile_matches_its_definition():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch(n_tasks=4)
    reptile = Reptile(model, inner_lr=0.05, inner_steps=3, loss_fn=F.mse_loss)
    expected = reptile_by_definition(model, batch, 0.05, 3)
    assert flat(expected).abs().max() > 1e-3
    for name, got in (("batched", reptile.meta_direction(batch)), ("loop", reptile.meta_direction_loop(batch))):
        torch.testing.assert_close(flat(got), flat(expected), rtol=0, atol=1e-12, msg=name)
    # .meta_loss(...).backward() writes the same direction into .grad; its value is the query loss
    loss = reptile.meta_loss(batch)
    loss.backward()
    torch.testing.assert_close(flat([p.grad for p in model.parameters()]), flat(expected), rtol=0, atol=1e-12)
    torch.testing.assert_close(loss, reptile.meta_loss_loop(batch), rtol=0, atol=1e-12)
    with torch.no_grad():
        phis = reptile.adapt_batch(batch.support_x, batch.support_y)
        q = F.mse_loss(reptile.predict_batch(phis, batch.query_x), batch.query_y)
    torch.testing.assert_close(loss.detach(), q, rtol=0, atol=1e-12)
    # meta_step: theta <- theta - outer_lr * (theta - mean phi)
    before = [p.detach().clone() for p in model.parameters()]
    reptile.meta_step(batch, outer_lr=0.5)
    for p, b, d in zip(model.parameters(), before, expected):
        torch.testing.assert_close(p.detach(), b - 0.5 * d, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------
# inner_loop, adapt and the model's own parameters
# ---------------------------------------------------------------------------------------
def test_adapt_does_not_mutate_the_model():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for learner in (MAML(model, 0.1, 3, loss_fn=F.mse_loss), MAML(model, 0.1, 3, True, F.mse_loss),
                    Reptile(model, 0.1, 3, loss_fn=F.mse_loss)):
        phi = learner.adapt(batch.support_x[0], batch.support_y[0])
        learner.adapt_batch(batch.support_x, batch.support_y)
        assert any((phi[n] - p).abs().max() > 1e-6 for n, p in model.named_parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_adapt_keeps_graph_unless_no_grad():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    maml = MAML(model, 0.1, 1, loss_fn=F.mse_loss)
    assert all(p.requires_grad for p in maml.adapt(batch.support_x[0], batch.support_y[0]).values())
    with torch.no_grad():
        assert not any(p.requires_grad for p in maml.adapt(batch.support_x[0], batch.support_y[0]).values())


def test_inner_loop_is_plain_gradient_descent():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    sx, sy = batch.support_x[0], batch.support_y[0]
    params = {n: p.detach() for n, p in model.named_parameters()}
    phi = inner_loop(model, params, sx, sy, lr=0.1, steps=2, loss_fn=F.mse_loss)
    m = copy.deepcopy(model)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        F.mse_loss(m(sx), sy).backward()
        opt.step()
    for n, p in m.named_parameters():
        torch.testing.assert_close(phi[n].detach(), p.detach(), rtol=0, atol=1e-12)
    # zero steps return theta itself
    assert all(torch.equal(a, params[n]) for n, a in inner_loop(model, params, sx, sy, lr=0.1, steps=0,
                                                               loss_fn=F.mse_loss).items())


def test_adaptation_curve_matches_adapt():
    model, batch = sinusoid_mlp(16, dtype=DT, seed=0), sin_batch()
    maml = MAML(model, 0.05, 1, loss_fn=F.mse_loss)
    curve = adaptation_curve(model, batch, inner_lr=0.05, steps=3, loss_fn=F.mse_loss)
    assert curve.shape == (4, 3)
    with torch.no_grad():
        for s in (0, 3):
            for t in range(3):
                phi = maml.adapt(batch.support_x[t], batch.support_y[t], steps=s)
                torch.testing.assert_close(curve[s, t], F.mse_loss(maml.predict(phi, batch.query_x[t]), batch.query_y[t]),
                                           rtol=0, atol=1e-12)


def test_meta_train_reduces_the_meta_loss():
    test = sample_sinusoid_tasks(50, 10, 10, torch.Generator().manual_seed(5))[0]
    before = MAML(sinusoid_mlp(20, seed=0), 0.01, 1, loss_fn=F.mse_loss).meta_loss(test).item()
    model, losses = train_sinusoid("maml", n_iters=300, seed=0, meta_batch=10, hidden=20, show_progress=False)
    after = MAML(model, 0.01, 1, loss_fn=F.mse_loss).meta_loss(test).item()
    assert len(losses) == 300
    assert after < 0.85 * before, (before, after)
    # the same seed gives the same run
    _, again = train_sinusoid("maml", n_iters=5, seed=0, meta_batch=10, hidden=20, show_progress=False)
    assert again == losses[:5]


def test_float64_training_starts_from_the_float32_weights_and_keeps_them_float32_exact():
    """sinusoid_mlp(seed) draws the same float32-exact weights whatever the dtype (the same on every
    CPU: metanlp_lite.reproducible), and train_sinusoid(dtype=float64) rounds them to float32 after
    every step, so its network is float64 with float32-exact values."""
    same = sinusoid_mlp(16, dtype=torch.float64, seed=0)
    for p32, p64 in zip(sinusoid_mlp(16, seed=0).parameters(), same.parameters()):
        assert p64.dtype == torch.float64 and torch.equal(p32.double(), p64)
    assert not torch.equal(sinusoid_mlp(16, seed=1)[0].weight, sinusoid_mlp(16, seed=0)[0].weight)
    model, losses = train_sinusoid("maml", n_iters=3, seed=0, meta_batch=4, hidden=16, show_progress=False,
                                   dtype=torch.float64)
    assert all(p.dtype == torch.float64 and torch.equal(p, p.float().double()) for p in model.parameters())
    assert len(losses) == 3
    start, _ = train_sinusoid("maml", n_iters=0, seed=0, meta_batch=4, hidden=16, show_progress=False,
                              dtype=torch.float64)
    for a, b in zip(start.parameters(), same.parameters()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------
def test_empty_support_set_is_a_clear_error():
    model = sinusoid_mlp(16, dtype=DT, seed=0)
    maml = MAML(model, 0.1, 1, loss_fn=F.mse_loss)
    b = sin_batch()
    empty = TaskBatch(b.support_x[:, :0], b.support_y[:, :0], b.query_x, b.query_y)
    with pytest.raises(ValueError, match="support set is empty"):
        maml.meta_loss(empty)
    with pytest.raises(ValueError, match="support set is empty"):
        maml.meta_loss_loop(empty)
    with pytest.raises(ValueError, match="support set is empty"):
        maml.adapt(b.support_x[0, :0], b.support_y[0, :0])
    with pytest.raises(ValueError, match="support set is empty"):
        Reptile(model, 0.1, 1, loss_fn=F.mse_loss).meta_loss(empty)


def test_bad_shapes_are_clear_errors():
    model = sinusoid_mlp(16, dtype=DT, seed=0)
    maml = MAML(model, 0.1, 1, loss_fn=F.mse_loss)
    b = sin_batch(n_tasks=3, k=5)
    with pytest.raises(ValueError, match="disagree on the number of examples"):
        maml.adapt(b.support_x[0], b.support_y[0, :4])
    with pytest.raises(ValueError, match="disagree on the number of tasks"):
        maml.meta_loss(TaskBatch(b.support_x, b.support_y[:2], b.query_x, b.query_y))
    with pytest.raises(ValueError, match=r"shape \(T, K, \.\.\.\)"):
        maml.meta_loss(TaskBatch(b.support_x[0, :, 0], b.support_y[0, :, 0], b.query_x, b.query_y))
    with pytest.raises(ValueError, match="would broadcast"):  # (T, K) targets for (K, 1) outputs
        maml.meta_loss(TaskBatch(b.support_x, b.support_y[..., 0], b.query_x, b.query_y))
    with pytest.raises(ValueError, match="would broadcast"):
        maml.meta_loss_loop(TaskBatch(b.support_x, b.support_y[..., 0], b.query_x, b.query_y))
    with pytest.raises(ValueError, match="float32 but the model's parameters are torch.float64"):
        maml.meta_loss(sin_batch(dtype=torch.float32))
    with pytest.raises(ValueError, match="embedded first"):
        maml.meta_loss(TaskBatch([["a text"]], b.support_y, b.query_x, b.query_y))
    with pytest.raises(ValueError, match="inner_steps"):
        MAML(model, 0.1, -1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        maml.adapt(b.support_x[0], b.support_y[0], steps=-1)


# ---------------------------------------------------------------------------------------
# Models with buffers (batch norm)
# ---------------------------------------------------------------------------------------
def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1)).to(DT)


def test_batch_norm_with_running_stats_in_training_mode_is_refused():
    model, b = bn_model(), sin_batch()
    maml = MAML(model, 0.1, 1, loss_fn=F.mse_loss)
    for call in (lambda: maml.meta_loss(b), lambda: maml.meta_loss_loop(b),
                 lambda: maml.adapt(b.support_x[0], b.support_y[0])):
        with pytest.raises(ValueError, match="replace_all_batch_norm_modules_"):
            call()


def test_batch_norm_in_eval_mode_stays_batched():
    model, b = bn_model(), sin_batch()
    with torch.no_grad():  # non-trivial running statistics
        model[1].running_mean.fill_(0.3)
        model[1].running_var.fill_(2.0)
    model.eval()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    maml = MAML(model, 0.1, 2, loss_fn=F.mse_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the batched path is used
        lb = maml.meta_loss(b)
    ll = maml.meta_loss_loop(b)
    torch.testing.assert_close(lb, ll, rtol=0, atol=1e-12)
    for x, y in zip(grads(lb, model), grads(ll, model)):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-12)
    for k, v in model.named_buffers():  # buffers are read, never written
        assert torch.equal(v, buffers[k]), k


@pytest.mark.parametrize("norm", ["batch statistics", "layer norm"])
def test_norm_layers_get_exact_second_order_gradients_batched(norm):
    """vmap(grad(...)) gets the second-order gradient through these layers wrong
    (pytorch/functorch#534; shown below); the package's batched engine (per-task parameter
    copies + ordinary autograd) must be exact: equal to the loop and to finite differences."""
    torch.manual_seed(0)
    layer = nn.BatchNorm1d(8, track_running_stats=False) if norm == "batch statistics" else nn.LayerNorm(8)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 8), layer, nn.Tanh(), nn.Linear(8, 1)).to(DT)
    b = sin_batch()
    maml = MAML(model, 0.1, 2, loss_fn=F.mse_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning, no fallback
        g = flat(grads(maml.meta_loss(b), model))
    torch.testing.assert_close(g, flat(grads(maml.meta_loss_loop(b), model)), rtol=0, atol=1e-12)

    # the pitfall this engine avoids: the textbook vmap(grad) recipe is off here
    from torch.func import functional_call, grad, vmap
    params = dict(model.named_parameters())

    def support_loss(p, x, y):
        return F.mse_loss(functional_call(model, p, (x,)), y)

    def one_task(sx, sy, qx, qy):
        phi = params
        for _ in range(2):
            gr = grad(support_loss)(phi, sx, sy)
            phi = {n: phi[n] - 0.1 * gr[n] for n in phi}
        return support_loss(phi, qx, qy)

    g_vmap = flat(grads(vmap(one_task)(*b).mean(), model))
    assert (g_vmap - g).abs().max() > 1e-6, "vmap(grad) became exact here: the docstring's warning can go"

    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0), dtype=DT)

    def f(t: torch.Tensor) -> float:
        m = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(t, m.parameters())
        return MAML(m, 0.1, 2, loss_fn=F.mse_loss).meta_loss_loop(b).item()

    fd = (f(theta + 1e-6 * v) - f(theta - 1e-6 * v)) / 2e-6
    assert abs(fd - g @ v) < 1e-7 * max(1.0, abs(fd))
    # first order equals its loop too
    fo = MAML(model, 0.1, 2, first_order=True, loss_fn=F.mse_loss)
    torch.testing.assert_close(flat(grads(fo.meta_loss(b), model)), flat(grads(fo.meta_loss_loop(b), model)),
                               rtol=0, atol=1e-12)


def test_average_sinusoid_task_is_a_cosine() -> None:
    """Notebook 02, section 1: with phase psi ~ U[0, pi] the mean of a sin(x - psi) over tasks is
    -(2 / pi) E[a] cos x, about -1.62 cos x for a ~ U[0.1, 5] (not flat)."""
    _, amp, phase = sample_sinusoid_tasks(50_000, 1, 0, torch.Generator().manual_seed(0), dtype=DT)
    x = torch.linspace(-5, 5, 11, dtype=DT)
    mean = (amp * torch.sin(x[:, None] - phase)).mean(1)
    closed = -(2 / torch.pi) * 2.55 * torch.cos(x)
    assert (mean - closed).abs().max() < 0.06
    assert (mean - closed).abs().max() < 0.1 * closed.abs().max()
