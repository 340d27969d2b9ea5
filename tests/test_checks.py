"""Every exercise check passes the reference solution and fails plausible wrong ones, with a useful hint."""
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metanlp_lite import checks
from metanlp_lite import objective as obj


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def fails(check, fn, *fragments):
    with pytest.raises(AssertionError) as err:
        check(fn)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    return str(err.value)


# --- inner step ------------------------------------------------------------------------
def inner_step(theta, loss, alpha):
    return theta - alpha * torch.autograd.grad(loss(theta), theta, create_graph=True)[0]


def test_inner_step():
    checks.check_inner_step(inner_step)
    fails(checks.check_inner_step, lambda t, L, a: t - a * torch.autograd.grad(L(t), t)[0], "create_graph=True")
    fails(checks.check_inner_step, lambda t, L, a: t + a * torch.autograd.grad(L(t), t, create_graph=True)[0],
          "check the sign", "expected:", "got:")
    fails(checks.check_inner_step, not_implemented, "not implemented yet")


# --- Hessian-vector product ------------------------------------------------------------
def hvp(loss, theta, v):
    theta = theta.requires_grad_(True)
    g = torch.autograd.grad(loss(theta), theta, create_graph=True)[0]
    return torch.autograd.grad(g @ v, theta)[0]


def test_hvp():
    checks.check_hvp(hvp)
    fails(checks.check_hvp, lambda L, t, v: torch.func.grad(L)(t), "you returned the gradient")
    fails(checks.check_hvp, lambda L, t, v: v * torch.func.grad(L)(t), "H v = grad_theta")


# --- one-step meta-gradient ------------------------------------------------------------
def test_one_step_meta_gradient():
    checks.check_one_step_meta_gradient(lambda t, s, q, a: obj.meta_gradient(t, s, q, a))

    def plus(t, s, q, a):
        gq = obj.grad(q, obj.inner_update(t, s, a))
        return gq + a * obj.hvp(s, t, gq)

    def at_phi(t, s, q, a):
        phi = obj.inner_update(t, s, a)
        gq = obj.grad(q, phi)
        return gq - a * obj.hvp(s, phi, gq)

    fails(checks.check_one_step_meta_gradient, lambda t, s, q, a: obj.first_order_meta_gradient(t, s, q, a),
          "first-order", "dropped the Hessian term")
    fails(checks.check_one_step_meta_gradient, plus, "wrong sign")
    fails(checks.check_one_step_meta_gradient, at_phi, "wrong point", "not at phi")


# --- first-order gradient --------------------------------------------------------------
def test_first_order_gradient():
    checks.check_first_order_gradient(obj.first_order_meta_gradient)
    fails(checks.check_first_order_gradient, lambda t, s, q, a: obj.grad(q, t), "at theta")
    fails(checks.check_first_order_gradient, lambda t, s, q, a: obj.grad(s, obj.inner_update(t, s, a)),
          "support loss")


# --- Reptile ---------------------------------------------------------------------------
def test_reptile_update():
    checks.check_reptile_update(lambda t, phis, e: t + e * (phis.mean(0) - t))
    fails(checks.check_reptile_update, lambda t, phis, e: t - e * (phis.mean(0) - t), "wrong sign")
    fails(checks.check_reptile_update, lambda t, phis, e: t + e * (phis - t).sum(0), "summed over tasks")
    fails(checks.check_reptile_update, lambda t, phis, e: t + e * (phis - t), "wrong shape")  # no mean over tasks



# --- k-step meta-gradient (exercise 6) -------------------------------------------------
def k_step_by_autograd(theta, support, query, alpha, steps):
    theta = theta.detach().requires_grad_(True)
    phi = theta
    for _ in range(steps):
        phi = phi - alpha * torch.autograd.grad(support(phi), phi, create_graph=True)[0]
    return torch.autograd.grad(query(phi), theta)[0]


def k_step_hessians_at_theta(theta, support, query, alpha, steps):
    g = obj.first_order_meta_gradient(theta, support, query, alpha, steps)
    for _ in range(steps):
        g = g - alpha * obj.hvp(support, theta, g)
    return g


def k_step_one_factor(theta, support, query, alpha, steps):
    g = obj.first_order_meta_gradient(theta, support, query, alpha, steps)
    return g - alpha * obj.hvp(support, theta, g)


def test_k_step_meta_gradient():
    checks.check_k_step_meta_gradient(obj.meta_gradient)
    checks.check_k_step_meta_gradient(k_step_by_autograd)
    fails(checks.check_k_step_meta_gradient, obj.first_order_meta_gradient, "dropped the Hessian terms",
          "expected:", "got:")
    fails(checks.check_k_step_meta_gradient, lambda t, s, q, a, k: obj.meta_gradient(t, s, q, a, k - 1),
          "forgot a step")
    fails(checks.check_k_step_meta_gradient, lambda t, s, q, a, k: obj.meta_gradient(t, s, q, a, k + 1),
          "one step too many")
    fails(checks.check_k_step_meta_gradient, k_step_one_factor, "only one factor")
    fails(checks.check_k_step_meta_gradient, k_step_hessians_at_theta, "taken at theta")
    fails(checks.check_k_step_meta_gradient, lambda t, s, q, a, k: obj.meta_gradient(t, s, q, a, k)[:-1],
          "wrong shape")
    fails(checks.check_k_step_meta_gradient, lambda t, s, q, a, k: 2 * obj.meta_gradient(t, s, q, a, k),
          "g <- g - alpha H_s(phi_j) g")
    fails(checks.check_k_step_meta_gradient, not_implemented, "not implemented yet")

# --- adapt with functional_call --------------------------------------------------------
def adapt(model, params, x, y, lr, steps, create_graph=True):
    for _ in range(steps):
        loss = F.mse_loss(functional_call(model, params, (x,)), y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
        params = {k: p - lr * g for (k, p), g in zip(params.items(), grads)}
    return params


def test_adapt():
    checks.check_adapt(adapt)
    fails(checks.check_adapt, lambda m, p, x, y, lr, steps: adapt(m, p, x, y, lr, 1), "parameter")
    fails(checks.check_adapt, lambda m, p, x, y, lr, steps: adapt(m, p, x, y, lr, steps, create_graph=False),
          "create_graph=True")

    def in_place(model, params, x, y, lr, steps):
        out = adapt(model, params, x, y, lr, steps)
        with torch.no_grad():
            for k, v in model.named_parameters():
                v.copy_(out[k])
        return out

    fails(checks.check_adapt, in_place, "changed", "never write into model parameters")


# --- episode sampler -------------------------------------------------------------------
def test_sample_episode():
    checks.check_sample_episode(checks.reference_sample_episode)

    def with_replacement(labels, n, k, q, g):
        classes = torch.randperm(int(labels.max()) + 1, generator=g)[:n]
        s, q_ = [], []
        for c in classes:
            pool = torch.nonzero(labels == c).flatten()
            s.append(pool[torch.randint(len(pool), (k,), generator=g)])
            q_.append(pool[torch.randint(len(pool), (q,), generator=g)])
        ar = torch.arange(n)
        return torch.cat(s), ar.repeat_interleave(k), torch.cat(q_), ar.repeat_interleave(q)

    def original_labels(labels, n, k, q, g):
        s, sy, qi, qy = checks.reference_sample_episode(labels, n, k, q, g)
        return s, labels[s], qi, labels[qi]

    fails(checks.check_sample_episode, with_replacement, "appears twice", "without replacement")
    fails(checks.check_sample_episode, original_labels, "labels must be 0..N-1")


# --- filter normalisation (notebook 03) ------------------------------------------------
def test_filter_normalize():
    from metanlp_lite.landscape import filter_normalize

    checks.check_filter_normalize(filter_normalize)

    def whole(direction, params):
        return {k: (d / d.norm() * params[k].norm()) if d.ndim > 1 else torch.zeros_like(d)
                for k, d in direction.items()}

    def unit_rows(direction, params):
        return {k: (d / d.norm(dim=1, keepdim=True)) if d.ndim > 1 else torch.zeros_like(d)
                for k, d in direction.items()}

    def keeps_bias(direction, params):
        out = filter_normalize(direction, params)
        return {k: (v if direction[k].ndim > 1 else direction[k]) for k, v in out.items()}

    fails(checks.check_filter_normalize, whole, "whole matrix at once")
    fails(checks.check_filter_normalize, unit_rows, "scale it by the norm of the same filter")
    fails(checks.check_filter_normalize, keeps_bias, "biases")


# --- prototypical loss (notebook 04) ---------------------------------------------------
def test_prototypical_loss():
    checks.check_prototypical_loss(checks.reference_prototypical_loss)

    def protos(sz, sy, n, reduce=torch.mean):
        return torch.stack([reduce(sz[sy == j], 0) for j in range(n)])

    fails(checks.check_prototypical_loss,
          lambda sz, sy, qz, qy, n: F.cross_entropy(torch.cdist(qz, protos(sz, sy, n)) ** 2, qy), "wrong sign")
    fails(checks.check_prototypical_loss,
          lambda sz, sy, qz, qy, n: F.cross_entropy(-torch.cdist(qz, protos(sz, sy, n)), qy), "SQUARED")
    fails(checks.check_prototypical_loss,
          lambda sz, sy, qz, qy, n: F.cross_entropy(-torch.cdist(qz, protos(sz, sy, n)) ** 2, qy, reduction="sum"),
          "average the loss")
    fails(checks.check_prototypical_loss,
          lambda sz, sy, qz, qy, n: F.cross_entropy(-torch.cdist(qz, protos(sz, sy, n, torch.sum)) ** 2, qy),
          "MEAN")

    # A class's examples found by position (a reshape), which holds only when they come sorted by class.
    def by_position(sz, sy, qz, qy, n):
        c = sz.reshape(n, -1, sz.shape[-1]).mean(1)
        return F.cross_entropy(-torch.cdist(qz, c) ** 2, qy)

    def sorted_queries(sz, sy, qz, qy, n):
        logits = -torch.cdist(qz, protos(sz, sy, n)) ** 2
        return F.cross_entropy(logits, torch.arange(n).repeat_interleave(len(qy) // n))

    for wrong in (by_position, sorted_queries):
        fails(checks.check_prototypical_loss, wrong, "in random order", "sorted by class, wrong when they are shuffled")


# --- leave-one-language-out labels (notebook 06) ---------------------------------------
def test_leave_one_out_labels():
    def right(labels, language, text_en, target, test):
        held = torch.tensor([lang == target or e in test for lang, e in zip(language, text_en)])
        return torch.where(held, torch.full_like(labels, -1), labels)

    def target_only(labels, language, text_en, target, test):          # forgets the translations
        return torch.where(torch.tensor([lang == target for lang in language]), torch.full_like(labels, -1), labels)

    def test_only(labels, language, text_en, target, test):            # forgets the language
        return torch.where(torch.tensor([e in test for e in text_en]), torch.full_like(labels, -1), labels)

    def too_much(labels, language, text_en, target, test):
        return torch.full_like(labels, -1)

    checks.check_leave_one_out_labels(right)
    fails(checks.check_leave_one_out_labels, target_only, "meta-test sentence is still labelled in another language")
    fails(checks.check_leave_one_out_labels, test_only, "rows of the target language are still labelled")
    fails(checks.check_leave_one_out_labels, too_much, "should keep their label")
    fails(checks.check_leave_one_out_labels, lambda *a: right(*a).tolist(), "should return a tensor")
    fails(checks.check_leave_one_out_labels, not_implemented, "not implemented yet")


def test_show_close_prints_no_rounding_digits(capsys):
    """Two CPUs with different rounding errors print the same line; a failure says the value."""
    from metanlp_lite.checks import show_close

    show_close("a", 1.1e-16, 1e-6)
    first = capsys.readouterr().out
    show_close("a", 5.6e-17, 1e-6)
    assert capsys.readouterr().out == first == "a: max |difference| < 1e-12 (rounding error), tolerance 1e-06: ok\n"
    show_close("fd", 3.2e-9, 1e-6)
    assert capsys.readouterr().out == "fd: max |difference| < 1e-06, tolerance 1e-06: ok\n"
    show_close("exact", 0.0, 1e-12)
    assert "< 1e-12, tolerance 1e-12" in capsys.readouterr().out
    for bad in (2e-6, float("nan")):
        with pytest.raises(AssertionError, match="not below the tolerance"):
            show_close("b", bad, 1e-6)


# --- the online step of a softmax head (notebook 07) -----------------------------------
def test_online_step():
    from metanlp_lite.continual import head_step

    checks.check_online_step(head_step)
    fails(checks.check_online_step, lambda z, y, W, b, lr, s: head_step(z, y, W, b, -lr, s), "up the gradient")
    fails(checks.check_online_step, lambda z, y, W, b, lr, s: head_step(z, y, W, b, lr * z.shape[-2], s), "mean")
    fails(checks.check_online_step, lambda z, y, W, b, lr, s: head_step(z, y, W, b, lr / s, s), "factor scale")
    fails(checks.check_online_step, lambda z, y, W, b, lr, s: head_step(z, y, W, b, lr * s, s), "not twice")
    fails(checks.check_online_step, lambda z, y, W, b, lr, s: (head_step(z, y, W, b, lr, s)[0], b), "wrong b")
    fails(checks.check_online_step, lambda *a: head_step(*a)[0], "a pair")
    fails(checks.check_online_step, not_implemented, "not implemented yet")


# --- pooling and low-rank fast weights (notebook 05) -----------------------------------
def test_masked_mean_pool():
    from metanlp_lite.transformer import mean_pool

    checks.check_masked_mean_pool(mean_pool)

    def summed(hidden, mask):
        return (hidden * mask[..., None]).sum(1)

    def padded_length(hidden, mask):
        return (hidden * mask[..., None]).sum(1) / hidden.shape[1]

    def with_padding(hidden, mask):
        return hidden.mean(1)

    def normalised_already(hidden, mask):
        return F.normalize(mean_pool(hidden, mask), dim=-1)

    fails(checks.check_masked_mean_pool, summed, "that is the sum")
    fails(checks.check_masked_mean_pool, padded_length, "padded length L")
    fails(checks.check_masked_mean_pool, with_padding, "padding tokens")
    fails(checks.check_masked_mean_pool, normalised_already, "normalisation")


def test_lora_step():
    def right(A, B, grad_W, lr):
        return A - lr * B.T @ grad_W, B - lr * grad_W @ A.T

    def uphill(A, B, grad_W, lr):
        return A + lr * B.T @ grad_W, B + lr * grad_W @ A.T

    def new_b_first(A, B, grad_W, lr):
        B = B - lr * grad_W @ A.T
        return A - lr * B.T @ grad_W, B

    checks.check_lora_step(right)
    fails(checks.check_lora_step, uphill, "DOWNHILL")
    fails(checks.check_lora_step, new_b_first, "OLD B")
