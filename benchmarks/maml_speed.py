"""How fast is a second-order MAML meta-step? Batched engine vs vmap(grad) vs per-task loop vs `higher`.

Times one meta-step (zero_grad, meta-loss, backward) of ``metanlp_lite.maml.MAML`` four ways
on the same model and the same tasks, checks that the four meta-gradients agree, and prints
the ratios:

- batched: ``MAML.meta_loss`` (one copy of the parameters per task, the tasks' forward passes
           ``vmap``-ed, one ``torch.autograd.grad`` call for all inner gradients);
- vmap-grad: the textbook ``torch.func`` recipe, ``grad`` inside ``vmap`` over tasks (notebook 02,
           step 3), which the package's engine replaced;
- loop:    ``MAML.meta_loss_loop`` (one task at a time, ``torch.autograd.grad(create_graph=True)``);
- higher:  the ``higher`` library's canonical MAML loop (``innerloop_ctx`` + differentiable SGD),
           if it is installed and imports (``pip install higher``); otherwise said so and skipped.

Two cases:
1. the sinusoid MLP 1 -> 40 -> 40 -> 1, 25 tasks of K = 10 support and 10 query points,
   5 inner steps, MSE;
2. a 384 -> 128 -> 5 head (sentence embeddings -> 5 classes), 16 tasks of 5-way 5-shot with
   15 queries per class, 5 inner steps, cross-entropy.

What to expect on 2 CPU cores: batched at least 10x faster than higher on case 1 and 3x on case 2.

    python benchmarks/maml_speed.py [--threads 2] [--repeats 30] [--device cuda]

``--device cuda`` runs the same comparison on a GPU (optional; the goals are for the CPU).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from metanlp_lite.data import sample_sinusoid_tasks
from metanlp_lite.episodes import TaskBatch
from metanlp_lite.maml import MAML
from metanlp_lite.sinusoid import sinusoid_mlp

try:  # optional dependency
    import higher
    HIGHER_ERROR = None
except Exception as exc:  # ImportError, or an incompatibility with this torch
    higher = None
    HIGHER_ERROR = f"{type(exc).__name__}: {exc}"

INNER_LR = 0.01
INNER_STEPS = 5
DEVICE = torch.device("cpu")  # set by --device


def _on_device(model: nn.Module, batch: TaskBatch) -> tuple[nn.Module, TaskBatch]:
    return model.to(DEVICE), TaskBatch(*(t.to(DEVICE) for t in batch))


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def sinusoid_case(dtype: torch.dtype) -> tuple[nn.Module, TaskBatch, Callable]:
    model = sinusoid_mlp(40, dtype=dtype, seed=0)
    batch, _, _ = sample_sinusoid_tasks(25, 10, 10, torch.Generator().manual_seed(0), dtype=dtype)
    return *_on_device(model, batch), F.mse_loss


def head_case(dtype: torch.dtype) -> tuple[nn.Module, TaskBatch, Callable]:
    """5-way 5-shot, 15 queries per class, on 384-d inputs with class-dependent means."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(384, 128), nn.ReLU(), nn.Linear(128, 5)).to(dtype)
    g = torch.Generator().manual_seed(0)
    T, N, K, Q, D = 16, 5, 5, 15, 384
    means = torch.randn(T, N, 1, D, generator=g, dtype=dtype)

    def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = means + 0.8 * torch.randn(T, N, per_class, D, generator=g, dtype=dtype)
        y = torch.arange(N).repeat_interleave(per_class).expand(T, -1).contiguous()
        return x.reshape(T, N * per_class, D), y

    sx, sy = draw(K)
    qx, qy = draw(Q)
    return *_on_device(model, TaskBatch(sx, sy, qx, qy)), F.cross_entropy


def step_batched(model: nn.Module, batch: TaskBatch, loss_fn: Callable) -> None:
    model.zero_grad(set_to_none=True)
    MAML(model, INNER_LR, INNER_STEPS, loss_fn=loss_fn).meta_loss(batch).backward()


def step_vmap_grad(model: nn.Module, batch: TaskBatch, loss_fn: Callable) -> None:
    """grad inside vmap: each task's inner loop differentiated by torch.func.grad."""
    model.zero_grad(set_to_none=True)
    params = dict(model.named_parameters())

    def task_loss(p: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, p, (x,)), y)

    def one_task(sx, sy, qx, qy):
        phi = params
        for _ in range(INNER_STEPS):
            g = grad(task_loss)(phi, sx, sy)
            phi = {n: phi[n] - INNER_LR * g[n] for n in phi}
        return task_loss(phi, qx, qy)

    vmap(one_task)(*batch).mean().backward()


def step_loop(model: nn.Module, batch: TaskBatch, loss_fn: Callable) -> None:
    model.zero_grad(set_to_none=True)
    MAML(model, INNER_LR, INNER_STEPS, loss_fn=loss_fn).meta_loss_loop(batch).backward()


def step_higher(model: nn.Module, batch: TaskBatch, loss_fn: Callable) -> None:
    """The canonical `higher` MAML step: one differentiable inner loop per task."""
    model.zero_grad(set_to_none=True)
    inner_opt = torch.optim.SGD(model.parameters(), lr=INNER_LR)
    n_tasks = batch.support_x.shape[0]
    for sx, sy, qx, qy in zip(*batch):
        with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
            for _ in range(INNER_STEPS):
                diffopt.step(loss_fn(fmodel(sx), sy))
            (loss_fn(fmodel(qx), qy) / n_tasks).backward()


def grads_of(step: Callable, model: nn.Module, batch: TaskBatch, loss_fn: Callable) -> list[torch.Tensor]:
    step(model, batch, loss_fn)
    return [p.grad.detach().clone() for p in model.parameters()]


def time_step(step: Callable, model: nn.Module, batch: TaskBatch, loss_fn: Callable, repeats: int) -> float:
    for _ in range(3):  # warm-up (first vmap call is slow)
        step(model, batch, loss_fn)
    times = []
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        step(model, batch, loss_fn)
        _sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_case(name: str, make: Callable, repeats: int, goal: float) -> None:
    print(f"\n== {name} ==")
    methods = {"batched": step_batched, "vmap-grad": step_vmap_grad, "loop": step_loop}
    if higher is not None:
        methods["higher"] = step_higher
    # agreement of the meta-gradients, in float64 (and float32, the precision that is timed)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        model, batch, loss_fn = make(dtype)
        ref = grads_of(step_batched, model, batch, loss_fn)
        scale = max(g.abs().max().item() for g in ref)
        for m, step in methods.items():
            if m == "batched":
                continue
            diff = max((a - b).abs().max().item() for a, b in zip(ref, grads_of(step, model, batch, loss_fn)))
            status = "ok" if diff <= tol * max(1.0, scale) else "MISMATCH"
            print(f"  meta-gradient {m:>9} vs batched ({str(dtype).replace('torch.', '')}): "
                  f"max abs diff {diff:.2e} (largest entry {scale:.2e}) {status}")
    model, batch, loss_fn = make(torch.float32)
    times = {m: time_step(step, model, batch, loss_fn, repeats) for m, step in methods.items()}
    for m, t in times.items():
        print(f"  {m:>9}: {1e3 * t:8.2f} ms per second-order meta-step (median of {repeats})")
    print(f"  vmap-grad / batched = {times['vmap-grad'] / times['batched']:6.1f}x")
    print(f"  loop / batched      = {times['loop'] / times['batched']:6.1f}x")
    if "higher" in times:
        ratio = times["higher"] / times["batched"]
        verdict = "met" if ratio >= goal else "NOT met"
        goal_note = f"   (goal on the CPU: at least {goal:g}x, {verdict})" if DEVICE.type == "cpu" else ""
        print(f"  higher / batched    = {ratio:6.1f}x{goal_note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--repeats", type=int, default=30, help="timed meta-steps per method")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = torch.device(args.device)
    where = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else f"{torch.get_num_threads()} CPU thread(s)"
    print(f"torch {torch.__version__}, {where}, "
          f"{INNER_STEPS} inner steps, second order")
    if higher is None:
        print(f"`higher` is not available ({HIGHER_ERROR}); comparing batched vs loop only. "
              "Install it with `pip install higher` to compare against it.")
    run_case("sinusoid MLP 1-40-40-1, 25 tasks, K=10, 10 queries", sinusoid_case, args.repeats, goal=10)
    run_case("384-128-5 head, 16 tasks, 5-way 5-shot, 15 queries/class", head_case, args.repeats, goal=3)


if __name__ == "__main__":
    main()
