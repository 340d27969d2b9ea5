"""Notebook 02's short runs (section 7), trained once and shipped with the package.

    python benchmarks/sinusoid_short.py [--steps 3000] [--check 1000]

Meta-trains the sinusoid MLP with MAML, first-order MAML, Reptile and joint pretraining for
3,000 meta-steps each, seed 0, with exactly notebook 02's call
(:func:`metanlp_lite.sinusoid.train_sinusoid`, float64 rounded to float32 after each step, so a
rerun gives the same networks on any CPU), and stores each network (float32 state dict) and its
meta-loss at every step in ``metanlp_lite/results/sinusoid_3k.pt``. Also stores each method's network
after its first ``--check`` meta-steps: notebook 02 trains MAML's live, checks that it gets that
very network, and then reads the rest (the four runs take about 90 s on 2 cores, the live part
about 9 s); notebook 03 trains MAML's 1,000 steps live too and reads the other three methods'
(their first 1,000 losses are the stored runs' first 1,000). Written in one go; about 2 minutes.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "sinusoid_3k.pt"   # package data
METHODS = ("maml", "fomaml", "reptile", "joint")


def main() -> None:
    from metanlp_lite.sinusoid import train_sinusoid

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--check", type=int, default=1000, help="MAML's meta-steps that notebook 02 trains live")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0 < args.check <= args.steps:
        raise SystemExit(f"--check must be between 1 and --steps ({args.steps}), got {args.check}")
    torch.set_num_threads(1)   # as notebook 02: tiny matrices
    stored = {"steps": args.steps, "meta_batch": 25, "k": 10, "runs": {}, "checkpoints": {}}
    for method in METHODS:
        start = time.perf_counter()
        model, losses = train_sinusoid(method, args.steps, seed=args.seed, dtype=torch.float64, show_progress=False)
        stored["runs"][f"{method}/{args.seed}"] = {"state": {k: v.float() for k, v in model.state_dict().items()},
                                                  "losses": losses, "seconds": time.perf_counter() - start}
        print(f"{method}: {args.steps} meta-steps in {time.perf_counter() - start:.0f} s, last loss {losses[-1]:.3f}")
    for method in METHODS:
        model, losses = train_sinusoid(method, args.check, seed=args.seed, dtype=torch.float64, show_progress=False)
        if losses != stored["runs"][f"{method}/{args.seed}"]["losses"][:args.check]:
            raise SystemExit(f"the short {method} run does not repeat the long one's first steps")
        stored["checkpoints"][f"{method}/{args.seed}/{args.check}"] = {k: v.float() for k, v in model.state_dict().items()}
    torch.save(stored, OUT)
    print(f"stored {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
