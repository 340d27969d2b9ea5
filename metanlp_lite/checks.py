"""Automatic, friendly checks for the exercises in the notebooks.

Each ``check_*`` takes the student's function, runs it against the package's reference on
random inputs (float64 where gradients are involved) and returns quietly when it agrees.
When it does not, it raises ``AssertionError`` saying which input failed, what was expected
against what came back (with shapes), and a hint at the usual mistake. A function that still
raises ``NotImplementedError`` gets a reminder instead of a traceback.

Usage in a notebook, right after the exercise::

    checks.check_inner_step(inner_step)
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial, reduce
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from . import objective as obj
from .episodes import sample_task_indices
from .feedback import ROUNDING, Feedback as _Feedback, show as _show, show_close
from .language_checks import check_near_duplicates, check_pieces_per_word   # exercises 12a and 12b (notebook 06)
from .params import Loss, gradient_step
from .stream_checks import check_backward_transfer, check_forgetting           # exercise 14 (notebook 07)

__all__ = ["show_close", "check_inner_step", "check_hvp", "check_one_step_meta_gradient", "check_first_order_gradient",
           "check_reptile_update", "check_k_step_meta_gradient", "check_adapt", "check_sample_episode",
           "check_filter_normalize", "check_prototypical_loss", "check_lora_step", "check_masked_mean_pool",
           "check_leave_one_out_labels", "check_online_step", "check_near_duplicates", "check_pieces_per_word",
           "check_forgetting", "check_backward_transfer"]

DOUBLE = torch.float64


def _smooth_task_losses(g: torch.Generator, d: int) -> tuple[Loss, Loss]:
    """Support and query losses that are not quadratic (their Hessian changes with theta)."""
    A = torch.randn(d, d, generator=g, dtype=DOUBLE)
    A = A @ A.T / d + 0.5 * torch.eye(d, dtype=DOUBLE)
    b, c = torch.randn(2, d, generator=g, dtype=DOUBLE)

    def support(theta: Tensor) -> Tensor:
        r = theta - b
        return 0.5 * r @ A @ r + 0.25 * (r ** 4).sum()

    def query(theta: Tensor) -> Tensor:
        return torch.log(torch.cosh(theta - c)).sum() + 0.1 * (theta ** 2).sum()

    return support, query


def check_inner_step(inner_step: Callable[[Tensor, Loss, float], Tensor], seed: int = 0) -> None:
    """``inner_step(theta, support_loss, alpha)`` must return phi = theta - alpha * grad L_s(theta),
    differentiable with respect to theta (so that MAML can backpropagate through it)."""
    fb = _Feedback("check_inner_step")
    g = torch.Generator().manual_seed(seed)
    for trial in range(3):
        d = 3 + trial
        support, query = _smooth_task_losses(g, d)
        theta = torch.randn(d, generator=g, dtype=DOUBLE).requires_grad_(True)
        alpha = [0.1, 0.05, 0.2][trial]
        inputs = f"theta of shape ({d},), alpha = {alpha}, a non-quadratic support loss"
        phi = fb.call(inner_step, theta, support, alpha)
        expected = obj.inner_update(theta.detach(), support, alpha)
        fb.tensor(phi, expected, inputs, "phi = theta - alpha * grad: check the sign, and that you use the "
                  "gradient at theta (not the loss value)")
        if not phi.requires_grad:
            fb.fail("phi does not depend on theta (it carries no gradient)", inputs, "phi.requires_grad == True",
                    False, "compute the gradient with torch.autograd.grad(loss, theta, create_graph=True)")
        meta = torch.autograd.grad(query(phi), theta)[0]
        exact = obj.meta_gradient(theta.detach(), support, query, alpha)
        if not torch.allclose(meta, exact, rtol=1e-6, atol=1e-9):
            first = obj.first_order_meta_gradient(theta.detach(), support, query, alpha)
            hint = ("the meta-gradient through your phi is the first-order one: pass create_graph=True to "
                    "torch.autograd.grad so the inner gradient stays differentiable"
                    if torch.allclose(meta, first, rtol=1e-6, atol=1e-9)
                    else "backpropagating through phi gives the wrong meta-gradient: do not detach anything")
            fb.fail("the gradient of L_q(phi) with respect to theta is wrong", inputs, exact, meta, hint)
    fb.passed("phi = theta - alpha * grad L_s(theta), and MAML can differentiate through it.")


def check_hvp(hvp: Callable[[Loss, Tensor, Tensor], Tensor], seed: int = 0) -> None:
    """``hvp(loss, theta, v)`` must return the Hessian of ``loss`` at theta times v, shape (d,)."""
    fb = _Feedback("check_hvp")
    g = torch.Generator().manual_seed(seed)
    for trial in range(3):
        d = 2 + 2 * trial
        support, _ = _smooth_task_losses(g, d)
        theta = torch.randn(d, generator=g, dtype=DOUBLE)
        v = torch.randn(d, generator=g, dtype=DOUBLE)
        inputs = f"theta and v of shape ({d},), a non-quadratic loss"
        got = fb.call(hvp, support, theta.clone(), v.clone())
        expected = torch.autograd.functional.hessian(support, theta) @ v
        if isinstance(got, Tensor) and got.shape == expected.shape:
            grad = obj.grad(support, theta)
            if torch.allclose(got.detach(), grad):
                fb.fail("you returned the gradient, not H v", inputs, expected, got,
                        "differentiate the scalar <grad L(theta), v> once more with respect to theta")
        fb.tensor(got, expected, inputs, "H v = grad_theta <grad_theta L(theta), v>: the first gradient needs "
                  "create_graph=True, and v must be a constant in the second")
    fb.passed("Your Hessian-vector product matches the full Hessian times v.")


def check_one_step_meta_gradient(meta_gradient: Callable[[Tensor, Loss, Loss, float], Tensor],
                                 seed: int = 0) -> None:
    """``meta_gradient(theta, support_loss, query_loss, alpha)`` must return
    (I - alpha H_s(theta)) grad L_q(phi) with phi = theta - alpha grad L_s(theta)."""
    fb = _Feedback("check_one_step_meta_gradient")
    g = torch.Generator().manual_seed(seed)
    for trial in range(3):
        d = 3 + trial
        support, query = _smooth_task_losses(g, d)
        theta = torch.randn(d, generator=g, dtype=DOUBLE)
        alpha = [0.1, 0.2, 0.05][trial]
        inputs = f"theta of shape ({d},), alpha = {alpha}, non-quadratic support and query losses"
        got = fb.call(meta_gradient, theta.clone(), support, query, alpha)
        expected = obj.meta_gradient(theta, support, query, alpha)
        if isinstance(got, Tensor) and got.shape == expected.shape and not torch.allclose(got.detach(), expected):
            phi = obj.inner_update(theta, support, alpha)
            gq = obj.grad(query, phi)
            if torch.allclose(got.detach(), gq):
                fb.fail("this is the first-order gradient", inputs, expected, got,
                        "you dropped the Hessian term: multiply grad L_q(phi) by (I - alpha H_s(theta))")
            if torch.allclose(got.detach(), gq + alpha * obj.hvp(support, theta, gq)):
                fb.fail("the Hessian term has the wrong sign", inputs, expected, got,
                        "d phi / d theta = I - alpha H, so the factor is (I - alpha H), not (I + alpha H)")
            if torch.allclose(got.detach(), gq - alpha * obj.hvp(support, phi, gq)):
                fb.fail("the Hessian is taken at the wrong point", inputs, expected, got,
                        "the Hessian of the support loss belongs at theta (where the inner step starts), not at phi")
            if torch.allclose(got.detach(), obj.grad(query, theta) - alpha * obj.hvp(support, theta, obj.grad(query, theta))):
                fb.fail("grad L_q is taken at the wrong point", inputs, expected, got,
                        "the query gradient belongs at the adapted parameters phi, not at theta")
        fb.tensor(got, expected, inputs, "compare with the chain rule: (I - alpha H_s(theta)) grad L_q(phi)",
                  rtol=1e-6)
    fb.passed("(I - alpha H_s(theta)) grad L_q(phi): the exact one-step meta-gradient.")


def check_first_order_gradient(first_order: Callable[[Tensor, Loss, Loss, float], Tensor],
                               seed: int = 0) -> None:
    """``first_order(theta, support_loss, query_loss, alpha)`` must return grad L_q at phi."""
    fb = _Feedback("check_first_order_gradient")
    g = torch.Generator().manual_seed(seed)
    for trial in range(3):
        d = 3 + trial
        support, query = _smooth_task_losses(g, d)
        theta = torch.randn(d, generator=g, dtype=DOUBLE)
        alpha = 0.1
        inputs = f"theta of shape ({d},), alpha = {alpha}"
        got = fb.call(first_order, theta.clone(), support, query, alpha)
        expected = obj.first_order_meta_gradient(theta, support, query, alpha)
        hint = "first-order MAML evaluates the QUERY gradient at the ADAPTED parameters phi"
        if isinstance(got, Tensor) and got.shape == expected.shape:
            if torch.allclose(got.detach(), obj.grad(query, theta)):
                hint = "you took the query gradient at theta; first adapt: phi = theta - alpha grad L_s(theta)"
            elif torch.allclose(got.detach(), obj.grad(support, obj.inner_update(theta, support, alpha))):
                hint = "you used the support loss at phi; the meta-gradient uses the query loss"
        fb.tensor(got, expected, inputs, hint)
    fb.passed("grad L_q(phi): the first-order MAML gradient.")


def check_reptile_update(reptile_update: Callable[[Tensor, Tensor, float], Tensor], seed: int = 0) -> None:
    """``reptile_update(theta, phis, beta)`` with theta (P,) and the adapted phis (n, P) of n tasks must
    return theta + beta * (mean_T phi_T - theta)."""
    fb = _Feedback("check_reptile_update")
    g = torch.Generator().manual_seed(seed)
    for n, P, beta in ((1, 3, 0.1), (5, 4, 0.5), (8, 2, 1.0)):
        theta = torch.randn(P, generator=g, dtype=DOUBLE)
        phis = theta + torch.randn(n, P, generator=g, dtype=DOUBLE)
        inputs = f"theta of shape ({P},), phis of shape ({n}, {P}), beta = {beta}"
        got = fb.call(reptile_update, theta.clone(), phis.clone(), beta)
        expected = theta + beta * (phis.mean(0) - theta)
        hint = "Reptile moves theta TOWARD the average adapted weights: theta + beta * (mean phi - theta)"
        if isinstance(got, Tensor) and got.shape == expected.shape:
            if torch.allclose(got, theta - beta * (phis.mean(0) - theta)):
                hint = "wrong sign: you moved theta away from the adapted weights"
            elif n > 1 and torch.allclose(got, theta + beta * (phis - theta).sum(0)):
                hint = "you summed over tasks; average them, so the step does not grow with the number of tasks"
        fb.tensor(got, expected, inputs, hint)
    fb.passed("theta + beta * (mean phi - theta): the Reptile update.")


def check_k_step_meta_gradient(meta_gradient: Callable[[Tensor, Loss, Loss, float, int], Tensor], seed: int = 0) -> None:
    """``meta_gradient(theta, support_loss, query_loss, alpha, steps)`` must return the exact gradient of
    L_q(phi_k(theta)), (I - alpha H_0) ... (I - alpha H_{k-1}) grad L_q(phi_k), H_j = hess L_s(phi_j): (d,)."""
    fb, g = _Feedback("check_k_step_meta_gradient"), torch.Generator().manual_seed(seed)
    for d, alpha, k in ((3, 0.1, 2), (4, 0.05, 3), (5, 0.1, 1)):
        (support, query), theta = _smooth_task_losses(g, d), torch.randn(d, generator=g, dtype=DOUBLE)
        inputs = f"theta of shape ({d},), alpha = {alpha}, steps = {k}, non-quadratic support and query losses"
        got, exact = fb.call(meta_gradient, theta.clone(), support, query, alpha, k), partial(obj.meta_gradient, theta, support, query, alpha)
        gq = obj.first_order_meta_gradient(theta, support, query, alpha, k)          # grad L_q(phi_k)
        wrong = [(gq, "you dropped the Hessian terms (first-order MAML): multiply by (I - alpha H_j) for every step j"),
                 (exact(k + 1), "one step too many: phi_k is after k steps, and the product has k factors")]
        wrong += [(exact(k - 1), "you forgot a step: the inner loop runs k steps, and the product has k factors"),
                  (gq - alpha * obj.hvp(support, theta, gq), "you applied only one factor (I - alpha H): one per step"),
                  (reduce(lambda v, _: v - alpha * obj.hvp(support, theta, v), range(k), gq),
                   "every Hessian is taken at theta; H_j belongs at phi_j, where step j started")] if k > 1 else []
        hint = next((h for w, h in wrong if isinstance(got, Tensor) and got.shape == (d,) and torch.allclose(
            got.detach().to(DOUBLE), w)), "start from g = grad L_q(phi_k), then g <- g - alpha H_s(phi_j) g for j = k-1, ..., 0")
        fb.tensor(got, exact(k), inputs, hint, rtol=1e-6)
    fb.passed("(I - alpha H_0) ... (I - alpha H_{k-1}) grad L_q(phi_k): the exact k-step meta-gradient.")

def check_adapt(adapt: Callable[..., dict[str, Tensor]], seed: int = 0) -> None:
    """``adapt(model, params, x, y, lr, steps)`` must return the parameters after ``steps`` steps of
    phi <- phi - lr grad MSE, as a new dict (the model untouched), differentiable w.r.t. params."""
    import torch.nn as nn
    from .maml import inner_loop

    fb = _Feedback("check_adapt")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    for steps, lr in ((1, 0.1), (3, 0.05)):
        params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
        x = torch.randn(10, 1, generator=g, dtype=DOUBLE)
        y = torch.sin(x)
        inputs = f"a 1-8-1 MLP, x and y of shape (10, 1), lr = {lr}, steps = {steps}"
        got = fb.call(adapt, model, params, x, y, lr, steps)
        if not isinstance(got, dict) or set(got) != set(params):
            fb.fail("return a dict with the same names as params", inputs, sorted(params),
                    sorted(got) if isinstance(got, dict) else got, "build a new dict {name: tensor}")
        expected = inner_loop(model, params, x, y, lr=lr, steps=steps, loss_fn=F.mse_loss)
        for k in params:
            fb.tensor(got[k], expected[k].detach(), f"{inputs}; parameter {k!r}",
                      "each step: loss = F.mse_loss(functional_call(model, phi, (x,)), y); "
                      "phi = {k: p - lr * g}; repeat `steps` times, starting from params", rtol=1e-6)
        for k, v in model.named_parameters():
            if not torch.equal(v.detach(), before[k]):
                fb.fail(f"the model's own parameter {k!r} changed", inputs, "the model untouched", "modified",
                        "never write into model parameters (no .data, no in-place -=); return new tensors")
        meta = torch.autograd.grad(sum(v.sum() for v in got.values()), list(params.values()), allow_unused=True)
        ref = torch.autograd.grad(sum(v.sum() for v in expected.values()), list(params.values()))
        if any(m is None for m in meta) or not all(torch.allclose(a, b, rtol=1e-6) for a, b in zip(meta, ref)):
            fb.fail("the adapted parameters are not differentiable with respect to params the way MAML needs",
                    inputs, "second-order gradients", "first-order or none",
                    "use torch.autograd.grad(loss, list(phi.values()), create_graph=True)")
    fb.passed("Your inner loop matches the package's, leaves the model alone and keeps second-order gradients.")


def check_sample_episode(sample_episode: Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]], seed: int = 0) -> None:
    """``sample_episode(labels, n_way, k_shot, n_query, generator)`` must return (support_idx (N*K,),
    support_y (N*K,), query_idx (N*Q,), query_y (N*Q,)): N distinct classes relabelled 0..N-1,
    K support and Q query examples of each, support and query never sharing an example."""
    fb = _Feedback("check_sample_episode")
    labels = torch.arange(10).repeat_interleave(6)
    for trial, (n, k, q) in enumerate(((5, 1, 2), (3, 2, 4), (10, 1, 5))):
        g = torch.Generator().manual_seed(seed + trial)
        inputs = f"a pool of 10 classes x 6 examples, N = {n}, K = {k}, Q = {q}"
        for _ in range(20):
            out = fb.call(sample_episode, labels, n, k, q, g)
            if not (isinstance(out, tuple) and len(out) == 4):
                fb.fail("return four tensors", inputs, "(support_idx, support_y, query_idx, query_y)", out,
                        "return a tuple of four tensors")
            s, sy, qi, qy = (torch.as_tensor(t) for t in out)
            if s.shape != (n * k,) or qi.shape != (n * q,) or sy.shape != s.shape or qy.shape != qi.shape:
                fb.fail("wrong shapes", inputs, f"({n * k},) and ({n * q},)",
                        f"{tuple(s.shape)}, {tuple(sy.shape)}, {tuple(qi.shape)}, {tuple(qy.shape)}",
                        "K examples of each of the N classes in the support set, Q in the query set")
            if set(sy.tolist()) != set(range(n)) or set(qy.tolist()) != set(range(n)):
                fb.fail("labels must be 0..N-1 within the episode", inputs, list(range(n)),
                        sorted(set(sy.tolist())), "relabel the chosen classes 0..N-1 (not their original ids)")
            if set(s.tolist()) & set(qi.tolist()) or len(set(s.tolist())) < len(s) or len(set(qi.tolist())) < len(qi):
                fb.fail("an example appears twice (in support and query, or twice in one set)", inputs,
                        "disjoint sets", sorted(set(s.tolist()) & set(qi.tolist())) or "a repeat",
                        "draw the K+Q examples of a class together, without replacement (torch.randperm)")
            for j in range(n):
                orig = set(labels[s[sy == j]].tolist()) | set(labels[qi[qy == j]].tolist())
                if len(orig) != 1:
                    fb.fail(f"label {j} stands for several original classes {sorted(orig)}", inputs,
                            "one class per label", sorted(orig), "use the same class for label j in support and query")
            if len(set(labels[s].tolist())) != n:
                fb.fail("the same class was drawn twice", inputs, f"{n} distinct classes",
                        sorted(labels[s].tolist()), "choose the N classes without replacement")
    fb.passed("Distinct classes, labels 0..N-1, support and query disjoint, on 60 episodes.")


def reference_sample_episode(labels: Tensor, n_way: int, k_shot: int, n_query: int,
                             generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The package's answer to :func:`check_sample_episode`'s exercise (used by the tests)."""
    by_class = [torch.nonzero(labels == c).flatten() for c in sorted(set(labels.tolist()))]
    s, sy, q, qy, _ = sample_task_indices(by_class, n_way, k_shot, n_query, generator)
    return s, sy, q, qy


def check_filter_normalize(filter_normalize: Callable[[dict[str, Tensor], dict[str, Tensor]], dict[str, Tensor]],
                           seed: int = 0) -> None:
    """``filter_normalize(direction, params)`` (dicts of tensors) must rescale every filter (row of a
    weight matrix) of ``direction`` to the norm of the same filter of ``params``, and give 1-D
    tensors (biases) a zero direction (Li et al., 2018)."""
    from .landscape import filter_normalize as reference

    fb = _Feedback("check_filter_normalize")
    g = torch.Generator().manual_seed(seed)
    shapes = {"0.weight": (6, 1), "0.bias": (6,), "2.weight": (4, 6), "2.bias": (4,)}
    for trial in range(3):
        params = {k: torch.randn(s, generator=g, dtype=DOUBLE) * (1 + trial) for k, s in shapes.items()}
        direction = {k: torch.randn(s, generator=g, dtype=DOUBLE) for k, s in shapes.items()}
        inputs = "an MLP's params {0.weight (6, 1), 0.bias (6,), 2.weight (4, 6), 2.bias (4,)} and a random direction"
        got = fb.call(filter_normalize, {k: v.clone() for k, v in direction.items()},
                      {k: v.clone() for k, v in params.items()})
        expected = reference(direction, params)
        if not isinstance(got, dict) or set(got) != set(params):
            fb.fail("return a dict with the same names as params", inputs, sorted(params),
                    sorted(got) if isinstance(got, dict) else got, "build {name: tensor} for every parameter")
        for k in shapes:
            hint = "each ROW d_f of a weight becomes d_f / ||d_f|| * ||theta_f|| (a norm per row, dim=1)"
            got_k = got[k]
            if isinstance(got_k, Tensor) and got_k.shape == expected[k].shape and params[k].ndim > 1:
                whole = direction[k] / direction[k].norm() * params[k].norm()
                if torch.allclose(got_k, whole):
                    hint = "you normalised the whole matrix at once; normalise each filter (row) separately"
                elif torch.allclose(got_k, direction[k] / direction[k].norm(dim=1, keepdim=True)):
                    hint = "each filter has norm 1: scale it by the norm of the same filter of theta"
            if params[k].ndim == 1:
                hint = "biases (1-D tensors) get a zero direction: torch.zeros_like(d)"
            fb.tensor(got_k, expected[k], f"{inputs}; parameter {k!r}", hint)
    fb.passed("Every filter of the direction has the norm of the same filter of theta; biases are zero.")


def reference_prototypical_loss(support_z: Tensor, support_y: Tensor, query_z: Tensor, query_y: Tensor,
                                n_way: int) -> Tensor:
    """Snell et al. (2017): cross-entropy of logits -||f(x) - c_j||^2, prototypes c_j the class means."""
    from .fewshot.metric import prototypes

    c = prototypes(support_z[None], support_y[None], n_way)[0]
    return F.cross_entropy(-torch.cdist(query_z, c) ** 2, query_y)


def check_prototypical_loss(prototypical_loss: Callable[..., Tensor], seed: int = 0) -> None:
    """``prototypical_loss(support_z, support_y, query_z, query_y, n_way)`` for one episode
    (support_z (N*K, D), query_z (N*Q, D)) must return the mean cross-entropy of the logits
    -||z_q - c_j||^2, with c_j the mean support embedding of class j. Episodes come sorted by class,
    then shuffled: a function that finds a class's examples by position (a reshape) fails the latter."""
    fb = _Feedback("check_prototypical_loss")
    g = torch.Generator().manual_seed(seed)
    cases = ((3, 1, 2, 4, False), (5, 3, 4, 8, False), (2, 5, 3, 3, False), (5, 3, 4, 8, True), (3, 2, 3, 4, True))
    for n, k, q, d, shuffled in cases:
        sz = torch.randn(n * k, d, generator=g, dtype=DOUBLE)
        qz = torch.randn(n * q, d, generator=g, dtype=DOUBLE)
        sy, qy = torch.arange(n).repeat_interleave(k), torch.arange(n).repeat_interleave(q)
        if shuffled:
            ps, pq = torch.randperm(n * k, generator=g), torch.randperm(n * q, generator=g)
            sz, sy, qz, qy = sz[ps], sy[ps], qz[pq], qy[pq]
        inputs = (f"{n}-way {k}-shot, {q} queries per class, embeddings of dimension {d}, examples "
                  f"{'in random order' if shuffled else 'sorted by class'}")
        got = fb.call(prototypical_loss, sz.clone(), sy.clone(), qz.clone(), qy.clone(), n)
        expected = reference_prototypical_loss(sz, sy, qz, qy, n)
        hint = ("right when the examples come sorted by class, wrong when they are shuffled: find class j's support "
                "embeddings by their label, support_z[support_y == j], not by position (no reshape to (N, K, D))" if shuffled
                else "logits = -(squared Euclidean distance to each prototype); loss = F.cross_entropy(logits, query_y)")
        if isinstance(got, Tensor) and got.shape == expected.shape:
            dist2 = torch.cdist(qz, torch.stack([sz[sy == j].mean(0) for j in range(n)])) ** 2
            if torch.allclose(got, F.cross_entropy(dist2, qy)):
                hint = "wrong sign: a CLOSER prototype must get a LARGER logit, so use minus the distance"
            elif torch.allclose(got, F.cross_entropy(-dist2.sqrt(), qy)):
                hint = "Snell et al. use the SQUARED Euclidean distance"
            elif torch.allclose(got, F.cross_entropy(-dist2, qy, reduction="sum")):
                hint = "average the loss over the queries (reduction='mean'), do not sum it"
            elif k > 1 and torch.allclose(got, F.cross_entropy(
                    -torch.cdist(qz, torch.stack([sz[sy == j].sum(0) for j in range(n)])) ** 2, qy)):
                hint = "a prototype is the MEAN of its class's support embeddings, not the sum"
        fb.tensor(got, expected, inputs, hint)
    fb.passed("Cross-entropy over minus squared distances to the class means, averaged over queries, "
              "with the examples sorted by class or not.")


def check_lora_step(lora_step: Callable[..., tuple[Tensor, Tensor]], seed: int = 0) -> None:
    """``lora_step(A, B, grad_W, lr)``: one inner gradient step on low-rank fast weights.

    The layer uses ``W + B A`` (B (out, r), A (r, in)); grad_W (out, in) is the loss's gradient
    with respect to that effective weight. By the chain rule ``dL/dB = grad_W A^T`` and
    ``dL/dA = B^T grad_W``, both taken at the *old* A and B; returns the new (A, B).
    Checked against autograd in float64."""
    fb = _Feedback("check_lora_step")
    g = torch.Generator().manual_seed(seed)
    for d_out, d_in, r, zero_b in ((4, 3, 2, False), (6, 5, 1, False), (5, 7, 3, True)):
        A = torch.randn(r, d_in, generator=g, dtype=DOUBLE)
        B = torch.zeros(d_out, r, dtype=DOUBLE) if zero_b else torch.randn(d_out, r, generator=g, dtype=DOUBLE)
        W, target = torch.randn(d_out, d_in, generator=g, dtype=DOUBLE), torch.randn(d_out, d_in, generator=g, dtype=DOUBLE)
        lr = 0.1
        a, b = A.clone().requires_grad_(), B.clone().requires_grad_()
        loss = ((W + b @ a - target) ** 2).sum() / 2                     # a loss of the effective weight
        gA, gB = torch.autograd.grad(loss, (a, b))
        grad_W = (W + B @ A - target)                                    # its gradient w.r.t. W + B A
        inputs = f"A {tuple(A.shape)}, B {tuple(B.shape)}{' (zero)' if zero_b else ''}, grad_W {tuple(grad_W.shape)}, lr {lr}"
        got = fb.call(lora_step, A.clone(), B.clone(), grad_W.clone(), lr)
        if not (isinstance(got, tuple) and len(got) == 2):
            fb.fail("your function should return the pair (new A, new B)", inputs, "(A, B)", got, "return A_new, B_new")
        expected_A, expected_B = gradient_step(A, gA, lr), gradient_step(B, gB, lr)
        hint = "dL/dB = grad_W @ A.T and dL/dA = B.T @ grad_W, both at the old A and B"
        if isinstance(got[0], Tensor) and got[0].shape == expected_A.shape and isinstance(got[1], Tensor):
            late = gradient_step(A, expected_B.T @ grad_W, lr)
            if not zero_b and torch.allclose(got[0].to(DOUBLE), late) and torch.allclose(got[1].to(DOUBLE), expected_B):
                hint = "A's step must use the OLD B (compute both gradients before you update either)"
            elif torch.allclose(got[0].to(DOUBLE), A + lr * gA):
                hint = "a gradient step goes DOWNHILL: subtract lr times the gradient"
        fb.tensor(got[0], expected_A, inputs, hint, "wrong new A")
        fb.tensor(got[1], expected_B, inputs, hint, "wrong new B")
    fb.passed("The chain rule through W + B A; note that with B = 0 the first step leaves A where it was.")


def reference_masked_mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The real tokens' mean, as :func:`metanlp_lite.transformer.mean_pool`: (B, L, D), (B, L) -> (B, D)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def check_masked_mean_pool(masked_mean_pool: Callable[[Tensor, Tensor], Tensor], seed: int = 0) -> None:
    """Exercise 11 (notebook 05): ``masked_mean_pool(hidden, mask)``, the mean of the real tokens'
    states (mask 1), not normalised: (B, L, D), (B, L) -> (B, D)."""
    fb = _Feedback("check_masked_mean_pool")
    g = torch.Generator().manual_seed(seed)
    for b, t, d in ((2, 5, 4), (3, 7, 6), (1, 3, 2)):
        hidden = torch.randn(b, t, d, generator=g, dtype=DOUBLE)
        lengths = torch.randint(1, t + 1, (b,), generator=g)
        lengths[0] = max(1, t - 2)                                       # at least one text has padding
        mask = (torch.arange(t)[None, :] < lengths[:, None]).long()
        inputs = f"hidden {tuple(hidden.shape)}, mask {tuple(mask.shape)} with lengths {lengths.tolist()}"
        got, expected = fb.call(masked_mean_pool, hidden.clone(), mask.clone()), reference_masked_mean_pool(hidden, mask)
        summed, hint = (hidden * mask[..., None]).sum(1), "sum hidden * mask over the tokens, divide by mask.sum(1)"
        if isinstance(got, Tensor) and got.shape == expected.shape:
            g64 = got.detach().to(DOUBLE)
            if torch.allclose(g64, hidden.mean(1)):
                hint = "padding tokens are in your mean: multiply by the mask before summing over the tokens"
            elif torch.allclose(g64, summed / t):
                hint = "you divided by the padded length L: divide by each text's number of real tokens, mask.sum(1)"
            elif torch.allclose(g64, summed):
                hint = "that is the sum: divide it by each text's number of real tokens, mask.sum(1)"
            elif torch.allclose(g64, F.normalize(expected, dim=-1)):
                hint = "return the mean itself: the normalisation to unit length comes after, in the next cell"
        fb.tensor(got, expected, inputs, hint)
    fb.passed("The mean over the real tokens: the encoder's pooling, before it normalises to unit length.")


def check_leave_one_out_labels(leave_one_out_labels: Callable[..., Tensor], seed: int = 0) -> None:
    """Exercise 12 (notebook 06): the labels of meta-training when ``target`` is held out.

    ``leave_one_out_labels(labels, language, text_en, target, test_sentences)``: labels (P,),
    language and text_en (P values each) -> (P,) labels, -1 for every row of ``target`` and every
    row, in any language, whose English text is a meta-test sentence; the others unchanged.
    """
    fb = _Feedback("check_leave_one_out_labels")
    g = torch.Generator().manual_seed(seed)
    codes, sentences = ["en", "de", "gsw", "zh"], [f"sentence {i}" for i in range(12)]
    for trial in range(4):
        P = 40
        labels = torch.randint(0, 5, (P,), generator=g)
        language = [codes[i] for i in torch.randint(0, 4, (P,), generator=g).tolist()]
        text_en = [sentences[i] for i in torch.randint(0, 12, (P,), generator=g).tolist()]
        target = codes[1 + trial % 3]
        test = set(sentences[:4 + trial])
        expected = labels.clone()
        expected[torch.tensor([lang == target or e in test for lang, e in zip(language, text_en)])] = -1
        got = fb.call(leave_one_out_labels, labels.clone(), list(language), list(text_en), target, set(test))
        inputs = f"{P} rows, target {target!r}, {len(test)} meta-test sentences (trial {trial})"
        if isinstance(got, Tensor) and got.shape == expected.shape and not torch.equal(got, expected):
            kept_target = any(lang == target and y >= 0 for lang, y in zip(language, got.tolist()))
            leaked = any(e in test and lang != target and y >= 0 for lang, e, y in zip(language, text_en, got.tolist()))
            if kept_target:
                hint = "rows of the target language are still labelled: the held-out language must not be trained on"
            elif leaked:
                hint = ("a meta-test sentence is still labelled in another language: its translation would teach "
                        "the model the test sentence (compare the row's English text, not its language)")
            else:
                hint = "rows that should keep their label were changed: only target rows and meta-test sentences get -1"
            fb.fail("wrong labels", inputs, expected, got, hint)
        fb.tensor(got, expected, inputs, "return a (P,) tensor of labels, -1 where a row is held out")
    fb.passed("No row of the held-out language and no translation of a meta-test sentence is left to train on.")


def check_online_step(online_step: Callable[..., tuple[Tensor, Tensor]], seed: int = 0) -> None:
    """Exercise 13 (notebook 07): one SGD step of the head ``scale * (z W^T + b)`` on the mean
    cross-entropy, ``online_step(z, y, W, b, lr, scale) -> (W, b)``, against autograd in float64."""
    fb = _Feedback("check_online_step")
    g = torch.Generator().manual_seed(seed)
    for batch in ((), (3,)):
        M, C, D, lr, scale = 5, 4, 7, 0.3, 2.5
        z, W = torch.randn(*batch, M, D, generator=g, dtype=DOUBLE), torch.randn(*batch, C, D, generator=g, dtype=DOUBLE)
        b, y = torch.randn(*batch, C, generator=g, dtype=DOUBLE), torch.randint(0, C, (*batch, M), generator=g)
        Wr, br = W.clone().requires_grad_(), b.clone().requires_grad_()
        loss = torch.nn.functional.cross_entropy((scale * (z @ Wr.transpose(-1, -2) + br.unsqueeze(-2))).flatten(0, -2),
                                                 y.flatten(), reduction="sum") / M
        gW, gb = torch.autograd.grad(loss, (Wr, br))
        got = fb.call(online_step, z.clone(), y.clone(), W.clone(), b.clone(), lr, scale)
        inputs = f"z {tuple(z.shape)}, y {tuple(y.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)}, lr {lr}, scale {scale}"
        if not (isinstance(got, tuple) and len(got) == 2):
            fb.fail("return the new (W, b), a pair", inputs, "(W, b)", got, "return W_new, b_new")
        step = (W - got[0].detach()) if isinstance(got[0], Tensor) and got[0].shape == W.shape else None
        hints = [(-lr * gW, "your step goes up the gradient: subtract lr times the gradient"),
                 (lr * gW * M, "sum over the M examples gave M times the step: the loss is their mean"),
                 (lr * gW / scale, "the gradient has a factor scale (the logits are scale * (Wz + b))"),
                 (lr * gW * scale, "the factor scale appears once in the gradient, not twice")]
        hint = next((h for wrong, h in hints if step is not None and torch.allclose(step, wrong)),
                    "W moves by -lr * scale/M * sum_m (p_m - onehot(y_m)) z_m^T")
        fb.tensor(got[0], gradient_step(W, gW, lr), inputs, hint, "wrong W")
        fb.tensor(got[1], gradient_step(b, gb, lr), inputs, "b moves by -lr * scale/M * sum_m (p_m - onehot(y_m))", "wrong b")
    fb.passed("Your closed-form step equals autograd's SGD step, batched and not.")
