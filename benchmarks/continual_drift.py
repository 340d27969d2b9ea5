"""A drifting user (notebook 07): the runs behind :func:`metanlp_lite.drift.show_drift`.

    python benchmarks/continual_drift.py [--streams 20] [--out PATH]

Phase 1: 11 of xSID's intents (those with at least 12 distinct sentences, near-duplicates merged)
arrive in English, 1 example each; phase 2: the same intents again, 1 example each, in L = de
(German), de-st (South Tyrolean) or id (Indonesian), or in English (the control, no drift). Ten
learners (nearest class mean, fine-tuning without bias, fine-tuning + replay, Proto-MAML init, the joint bound, each
without and with the intents' names) with notebook 07's settings
(:data:`metanlp_lite.drift.SETTINGS`), on 20 seeded streams per language, scored after every arrival
on 10 held-out English queries per intent and on their translations in L
(:func:`metanlp_lite.drift.run_experiment`). Embeddings from the cache (``python -m metanlp_lite
prefetch``; the 16 intent names are embedded once if missing).

Stores every accuracy matrix, (S, 2, 2C, C) uint8 percent (255: not yet arrived; with 10 queries
every accuracy is a multiple of 10, so nothing is rounded), the configuration, the time and the
peak memory in ``metanlp_lite/results/continual_drift.pt`` (about 0.3 MB), and prints the tables.

Cost, from the embedding cache (2026-12-07, 2 shared cores, one thread; printed at the end and
stored under ``"cost"``): loading about 1 s, the 640 streams about 3.6 s, a peak of 143 MB above the process
after its imports; over notebook 07's budget for a live cell (4 s), hence the stored results
(:func:`metanlp_lite.drift.show_drift` prints them in about 0.1 s).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from metanlp_lite import drift

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / drift.RESULTS


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=drift.STREAMS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)     # as notebook 07: tiny operations, one thread is faster
    before = memory_mb("VmRSS")
    start = time.perf_counter()
    data = drift.load_drift_data()
    loaded = time.perf_counter()
    acc = drift.run_experiment(data, streams=args.streams)
    done = time.perf_counter()
    cost = {"load_s": loaded - start, "run_s": done - loaded, "extra_peak_mb": memory_mb("VmHWM") - before}
    classes = drift.drift_classes(data)
    # the leak guard, on every stream of the stored runs: queries sharing a parallel id with a support row
    leaks = sum(len(drift.leaked_queries(drift.make_drift_stream(data, lang, seed=i), data.key))
                for lang in acc for i in range(args.streams))
    stored = {"config": {"languages": list(acc), "learners": list(drift.LEARNERS), "streams": args.streams,
                         "n_query": drift.N_QUERY, "n_classes": len(classes),
                         "classes": [data.class_names[c] for c in classes], "settings": drift.SETTINGS, "seed": 0,
                         "leaked_queries": leaks},
              "acc": {lang: {name: a.nan_to_num(255).round().to(torch.uint8) for name, a in runs.items()}
                      for lang, runs in acc.items()},
              "cost": cost}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(stored, args.out)
    drift.show_drift(drift.load_drift_results(args.out))
    print(f"\ncost: loading {cost['load_s']:.1f} s, the streams {cost['run_s']:.1f} s, "
          f"{cost['extra_peak_mb']:.0f} MB above the process's memory after its imports; "
          f"{args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
