"""The runtime budget: run every notebook fresh, in order, as a new user does.

    python benchmarks/notebooks.py [--cold] [NOTEBOOK ...]

Starts from an empty embedding cache and first runs ``python -m metanlp_lite prefetch``, as the
README's set-up command and Binder's ``postBuild`` do (its time and peak memory are printed on a
line of their own), then runs each notebook in a fresh kernel and prints its wall time and the
kernel's peak resident memory against the budgets every notebook must meet on a student's
machine (mybinder.org's limits): 2 minutes on 2 CPU cores and 1.5 GB of memory.
``--cold`` skips the prefetch, to measure what a user who skipped it meets: the first notebook
that needs an embedding then encodes it itself.

The notebooks' committed files are not touched (outputs stay in memory). Set
METANLP_DATA_DIR (and HF_HUB_OFFLINE=1) to run offline.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, BUDGET_MB = 120.0, 1536.0


def run_one(path: Path) -> dict:
    """Execute one notebook in a fresh kernel; runs in its own process so that
    RUSAGE_CHILDREN measures this notebook's kernel alone."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    return {"notebook": path.name, "seconds": round(wall, 1), "peak_mb": round(peak_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb in order")
    parser.add_argument("--cold", action="store_true", help="skip the prefetch (the set-up step)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "METANLP_CACHE_DIR": cache}   # empty cache, shared in order like a student's
        print(f"{os.cpu_count()} CPU cores; empty embedding cache{' and no prefetch' if args.cold else ''}; "
              f"budgets {BUDGET_S:.0f} s and {BUDGET_MB:.0f} MB per notebook")
        print(f"{'notebook':40s} {'wall (s)':>9s} {'x budget':>9s} {'peak (MB)':>10s} {'x budget':>9s}")
        if not args.cold:
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "metanlp_lite", "prefetch"], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"prefetch failed:\n{out.stderr[-2000:]}")
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{'(set-up) python -m metanlp_lite prefetch':40s} {time.perf_counter() - start:9.1f} "
                  f"{'':>9s} {peak_mb:10.0f}")
        for path in paths:
            out = subprocess.run([sys.executable, __file__, "--one", str(path.resolve())], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{path.name:40s} FAILED\n{out.stderr[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['notebook']:40s} {r['seconds']:9.1f} {r['seconds'] / BUDGET_S:9.2f} "
                  f"{r['peak_mb']:10d} {r['peak_mb'] / BUDGET_MB:9.2f}")


if __name__ == "__main__":
    main()
