"""Notebook 04 on the field's protocol: BANKING77's five published class splits, three seeds.

    python benchmarks/fewshot_splits.py [--seeds 0 1 2] [--episodes 600] [--out FILE]

Notebook 04 meta-trains on BANKING77's split 01 with one seed. The field reports the mean over the
five class splits of Dopierre et al. (2021), 01 to 05, whose meta-test classes differ. This script
runs notebook 04's very call, ``train_for(method, "minilm", pools, budget="quick", seed=seed)``,
for every method of :data:`~metanlp_lite.fewshot.methods.METHODS` on each split's pools (class
split ``s``, pool seed 0) and each training seed, and scores every model on the split's seeded
meta-test episodes (``episode_batches(..., seed=0)``: the same episodes for every method and
seed of a split, so differences are paired), 5-way 1-shot, 15 queries a class, without and with
label names. The meta-val accuracy at the kept step is stored too, so that "the best" is chosen on
meta-val. Nearest class mean has nothing to train: one run a split.

Stores ``metanlp_lite/results/fewshot_splits.json``: for each split, method and seed, the kept
step, its meta-val accuracy and each episode's number of correct queries (out of 75). Notebook 04
reads it with :func:`metanlp_lite.stats.paired_over_seeds` (splits as the units). About 6 minutes
on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "fewshot_splits.json"   # package data
SPLITS = ("01", "02", "03", "04", "05")
BUDGET, K_SHOT, N_QUERY = "quick", 1, 15


def main() -> None:
    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools
    from metanlp_lite.fewshot.methods import METHODS
    from metanlp_lite.fewshot.training import budget_schedule, episode_batches, evaluate_batches, train_for

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)   # as notebook 04: small tensors
    start = time.perf_counter()
    ds = load_intents("banking77")
    out = {"made": {"budget": BUDGET, "schedule": budget_schedule(BUDGET), "k_shot": K_SHOT, "n_query": N_QUERY,
                    "episodes": args.episodes, "episode_seed": 0, "seeds": args.seeds, "methods": list(METHODS),
                    "torch": str(torch.__version__), "cpu": torch.backends.cpu.get_cpu_capability()},
           "splits": {}}
    for split in SPLITS:
        pools = make_pools(ds, "minilm", split, seed=0, show_progress=False)
        test = {names: episode_batches(pools["test"], k_shot=K_SHOT, n_query=N_QUERY, label_names=names,
                                       episodes=args.episodes, seed=0) for names in (False, True)}
        entry = out["splits"][split] = {}
        for method in METHODS:
            runs = entry[method] = {}
            for seed in (args.seeds if method != "ncm" else args.seeds[:1]):
                model, log = train_for(method, "minilm", pools, budget=BUDGET, seed=seed, show_progress=False)
                run = {"best_step": log.best_step,      # meta-val: none for nearest class mean (nothing to choose)
                       "best_val": None if method == "ncm" else round(log.best_val, 3)}
                for names, batches in test.items():
                    acc = evaluate_batches(model, batches)
                    run["names" if names else "no_names"] = [round(a * 5 * N_QUERY / 100) for a in acc.tolist()]
                runs[str(seed)] = run
                print(f"split {split} {method:9s} seed {seed}: step {log.best_step:3d}, meta-val {log.best_val:.2f}, "
                      + ", ".join(f"{k} {sum(run[k]) / len(run[k]) * 100 / (5 * N_QUERY):.2f}"
                                  for k in ("no_names", "names")), flush=True)
    out["made"]["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"stored {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {out['made']['seconds']:.0f} s")


if __name__ == "__main__":
    main()
