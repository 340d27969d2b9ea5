"""The sinusoid experiment of Finn et al. (2017, section 5.1) at the paper's scale.

    python benchmarks/sinusoid_reproduction.py [--steps 70000] [--seeds 0 1 2] [--jobs 2]
    python benchmarks/sinusoid_reproduction.py --show      # the stored results, evaluated

Meta-trains the sinusoid MLP (1 -> 40 -> 40 -> 1) with MAML, first-order MAML, Reptile and
joint pretraining for 70,000 meta-steps of 25 tasks each (the paper's number), with three
training seeds, using exactly notebook 02's call (:func:`metanlp_lite.sinusoid.train_sinusoid`,
float64 rounded to float32 after each step, so a rerun gives the same networks on any CPU).
Seed s gives every method the same initial network and the same training tasks.

Stores the 12 trained networks (float32 state dicts), each run's meta-loss averaged over every
1,000 meta-steps and its training time in ``metanlp_lite/results/sinusoid_70k.pt``, shipped with
the package: notebook 02 (section 8c) loads them and tests them on its 500 test tasks, beside
its own short run. The file is written after every run, so an interrupted run keeps what it
trained. Each run uses one thread; ``--jobs`` runs that many at once (one per core). About
an hour on 2 CPU cores for all 12 runs (59 minutes on 2026-12-01).

``--show`` prints, for the stored networks, the query MSE on notebook 02's 500 test tasks
(K = 10) after k = 0, 1 and 10 steps at alpha = 0.01 and after each method's own inner loop, per
seed and averaged over seeds.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "sinusoid_70k.pt"   # package data
METHODS = ("reptile", "maml", "fomaml", "joint")   # longest first, so that the jobs end together


def train_one(job: tuple[str, int, int]) -> tuple[str, int, dict, list[float], float]:
    """Train one (method, seed) for ``steps`` meta-steps in a worker with one thread."""
    method, seed, steps = job
    torch.set_num_threads(1)
    from metanlp_lite.sinusoid import train_sinusoid
    start = time.perf_counter()
    model, losses = train_sinusoid(method, steps, seed=seed, dtype=torch.float64, show_progress=False)
    seconds = time.perf_counter() - start
    per_1000 = torch.tensor(losses).view(-1, 1000).mean(1).tolist()      # steps is a multiple of 1,000
    state = {name: p.detach().float().clone() for name, p in model.state_dict().items()}
    return method, seed, state, per_1000, seconds


def show(stored: dict) -> None:
    """Print the stored networks' query MSE on notebook 02's 500 test tasks."""
    from metanlp_lite.sinusoid import evaluate_sinusoid, load_sinusoid_runs
    from metanlp_lite.stats import mean_ci95
    models = load_sinusoid_runs(stored)
    for (method, seed), model in sorted(models.items()):
        res = evaluate_sinusoid(model, method)
        cells = "  ".join(f"k={k}: %.3f ± %.3f" % mean_ci95(res["common"][k]) for k in (0, 1, 10))
        print(f"{method:>8} seed {seed}  {cells}  own: %.3f ± %.3f" % mean_ci95(res["own"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=70_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--show", action="store_true", help="evaluate the stored networks and stop")
    args = parser.parse_args()
    from metanlp_lite.sinusoid import load_sinusoid_results
    if args.show:
        show(load_sinusoid_results(args.out))
        return
    if args.steps < 1000 or args.steps % 1000:
        parser.error(f"--steps must be a multiple of 1000 (the stored curve averages every 1,000 steps), got {args.steps}")
    stored = {"steps": args.steps, "meta_batch": 25, "k": 10, "runs": {}}
    if args.out.exists():
        old = load_sinusoid_results(args.out)
        if old.get("steps") == args.steps:
            stored = old          # keep the runs already trained at this length
    jobs = [(m, s, args.steps) for m in args.methods for s in args.seeds if f"{m}/{s}" not in stored["runs"]]
    print(f"{len(jobs)} runs of {args.steps} meta-steps, {args.jobs} at a time -> {args.out}", flush=True)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for method, seed, state, per_1000, seconds in pool.imap_unordered(train_one, jobs):
            stored["runs"][f"{method}/{seed}"] = {"state": state, "loss_per_1000": per_1000, "seconds": seconds}
            torch.save(stored, args.out)
            print(f"{method:>8} seed {seed}: {seconds / 60:5.1f} min, meta-loss over the last 1,000 steps "
                  f"{per_1000[-1]:.3f}  ({(time.perf_counter() - start) / 60:.1f} min so far)", flush=True)
    show(stored)


if __name__ == "__main__":
    main()
