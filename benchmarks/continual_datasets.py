"""Notebook 07's experiment on two other intent sets: BANKING77 and CLINC150 split by its domains.

    python benchmarks/continual_datasets.py [--datasets banking77 clinc150-domains] [--streams 20] [--oml-steps 150] [--seed 0]

For each dataset, exactly ``python -m metanlp_lite stream --data DATASET --joint``
(:func:`metanlp_lite.stream_experiment.run_experiment`, notebook 07's defaults: 20 test streams,
150 meta-training steps of OML and of the supervised adapter, seed 0): every learner without and
with the intents' names, each chosen on meta-val streams, then all on the same test streams.

- banking77: its 77 intents split at random as notebook 07 splits CLINC150's 150 (seed 0: 38
  meta-train, 13 meta-val, 26 in the test streams);
- clinc150-domains: CLINC150 split by its domains (meta-train on 6 domains, 90 intents; meta-val
  on work and meta, 30; test streams of travel and utility, 30): the test intents share no domain
  with the meta-training ones, which notebook 07's random split does not promise.

Prints each dataset's tables (:func:`~metanlp_lite.stream_experiment.report`) and stores, per
dataset, the settings, the split's sizes and the CPU model, every learner's (streams, C, C)
accuracy matrices (float16: percentages of 20 test utterances, exact), its chosen settings,
meta-val scores and update latency, and the meta-val curves of OML's and the adapter's training,
in ``metanlp_lite/results/continual_datasets.pt`` (package data);
:func:`~metanlp_lite.stream_experiment.load_dataset_results` reads it back and
:func:`~metanlp_lite.stream_experiment.results_table` prints a dataset's table (printed at the end).
A dataset is rerun only when named; the others stored are kept.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from metanlp_lite.stream_experiment import (RESULTS, load_dataset_results, report, results_table, run_experiment,
                                            to_record, twin_free_table)

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / RESULTS   # package data


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what the platform module knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "clinc150-domains"],
                        choices=["banking77", "clinc150-domains", "clinc150"])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--oml-steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    stored = load_dataset_results(args.out) if args.out.exists() else {}
    for name in args.datasets:
        start = time.perf_counter()
        exp = run_experiment(name, n_streams=args.streams, oml_steps=args.oml_steps, seed=args.seed, joint=True,
                             twin_free=True)
        seconds = time.perf_counter() - start
        print(report(exp, name), flush=True)
        print(f"{name}: {seconds:.0f} s on {torch.get_num_threads()} threads\n", flush=True)
        config = {"data": name, "streams": args.streams, "oml_steps": args.oml_steps, "seed": args.seed, "n_query": 20,
                  "k_shot": 1, "cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)),
                  "threads": torch.get_num_threads(), "torch": str(torch.__version__),
                  "seconds": round(seconds, 1), "command": f"python -m metanlp_lite stream --data {name} --streams "
                  f"{args.streams} --oml-steps {args.oml_steps} --seed {args.seed} --joint"}
        stored[name] = to_record(exp, config)
        for record in stored.values():     # the loader gives float32; the file keeps float16
            for learner in record["learners"].values():
                learner["acc"] = learner["acc"].half()
                if "acc_twin_free" in learner:
                    learner["acc_twin_free"] = learner["acc_twin_free"].half()
        torch.save(stored, args.out)
    print(f"stored in {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    for name, record in load_dataset_results(args.out).items():
        c = record["config"]
        print(f"\n{name}: {c['streams']} streams, {c['sizes']['test']} test intents ({c['sizes']['train']} meta-train, "
              f"{c['sizes']['val']} meta-val), OML {c['oml_steps']} steps, seed {c['seed']}; 95% intervals over the streams")
        print(results_table(record))
        print(twin_free_table(record))


if __name__ == "__main__":
    main()
