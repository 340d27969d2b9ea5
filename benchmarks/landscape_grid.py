"""How fast is a loss landscape? A 41 x 41 grid on the sinusoid MLP, batched (vmap) vs a Python loop.

Times ``metanlp_lite.landscape.grid_losses`` (the loss of one grid point, ``torch.func.vmap``-ed
over all 1681 points) against the plain loop (one ``functional_call`` per point) on the same
plane, checks that both give the same numbers, and prints the seconds and the ratio. Two cases:

1. one task's support loss (K = 10 points), the landscape of sections 2 and 13 of notebook 03;
2. five tasks at once (``task_losses``: a (5,) loss per grid point), as in sections 6 to 8.

The model is the sinusoid MLP 1 -> 40 -> 40 -> 1 of Finn et al. (1761 parameters), float32.
What to expect: the batched 41 x 41 grid in at most 2 s on 2 CPU cores.

    python benchmarks/landscape_grid.py [--threads 2] [--repeats 5] [--n 41]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from metanlp_lite import landscape as ls
from metanlp_lite.data import sample_sinusoid_tasks
from metanlp_lite.sinusoid import sinusoid_mlp

GOAL_S = 2.0


def grid_losses_loop(loss_fn: Callable, plane: ls.Plane, alphas: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """The reference: one loss evaluation per grid point, in a Python loop. Same layout as grid_losses."""
    rows = []
    with torch.no_grad():
        for b in betas:
            rows.append(torch.stack([loss_fn(ls.plane_point(plane, a, b)) for a in alphas], -1))
    return torch.stack(rows, -2)


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Median wall time (s) of ``repeats`` calls after one warm-up, and the last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions, median reported (default 5)")
    parser.add_argument("--n", type=int, default=41, help="grid points per axis (default 41)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = sinusoid_mlp(40, seed=0)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    batch, _, _ = sample_sinusoid_tasks(5, 10, 10, torch.Generator().manual_seed(0))
    plane = ls.random_plane(theta, torch.Generator().manual_seed(0))
    grid = torch.linspace(-1, 1, args.n)
    cases = {
        "1 task (support loss, K = 10)": ls.loss_of(model, batch.support_x[0], batch.support_y[0], F.mse_loss),
        "5 tasks at once (task_losses)": ls.task_losses(model, batch.support_x, batch.support_y, F.mse_loss),
    }
    print(f"{args.n} x {args.n} grid ({args.n ** 2} points) on the sinusoid MLP 1-40-40-1 "
          f"({sum(v.numel() for v in theta.values())} parameters), {args.threads} thread(s), "
          f"median of {args.repeats}")
    print(f"{'case':<32}{'vmap (s)':>10}{'loop (s)':>10}{'loop / vmap':>13}{'max |diff|':>12}")
    ok = True
    for name, loss_fn in cases.items():
        t_vmap, z_vmap = timed(lambda: ls.grid_losses(loss_fn, plane, grid, grid), args.repeats)
        t_loop, z_loop = timed(lambda: grid_losses_loop(loss_fn, plane, grid, grid), max(1, args.repeats // 2))
        diff = float((z_vmap - z_loop).abs().max() / z_loop.abs().max())
        print(f"{name:<32}{t_vmap:10.3f}{t_loop:10.3f}{t_loop / t_vmap:12.1f}x{diff:12.1e}")
        ok &= t_vmap <= GOAL_S and diff < 1e-5
    print(f"goal: vmap <= {GOAL_S:.0f} s per grid and the same numbers as the loop: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
