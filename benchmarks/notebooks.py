"""The runtime budget: run every notebook fresh, in order, as a new user does.

    python benchmarks/notebooks.py [--cold | --warm [--cache DIR]] [--busy] [NOTEBOOK ...]

By default it starts from an empty embedding cache and first runs ``python -m metanlp_lite
prefetch``, as the README's set-up command and Binder's ``postBuild`` do (its time and peak memory
are printed on a line of their own), then runs each notebook in a fresh kernel and prints its wall
time and the kernel's peak resident memory against the course's budgets for every notebook: 60 s
and 1.2 GiB (1229 MiB) after the set-up, on 2 CPU cores as on mybinder.org.

``--cold`` skips the prefetch, to measure what a user who skipped it meets: the first notebook
that needs an embedding then encodes it itself. The memory budget is then 1.5 GiB (1536 MiB);
the time budget stays 60 s.

``--warm`` skips the prefetch and runs against an already-filled cache: $METANLP_CACHE_DIR, or
DIR with ``--cache DIR`` (which implies ``--warm``). The notebooks may add to that cache (a
warning says so when it lacks the folder of embeddings this version of the package reads).
Budgets as after the set-up.

``--busy`` runs a second, CPU-bound job beside each notebook, as on a shared Binder or JupyterHub
node: a separate process multiplying 1024 x 1024 float32 matrices in a loop with
``torch.set_num_threads(<cores>)``, started (and its first product done) before the notebook's
kernel starts and stopped after the notebook ends. Its rate (products a second) is printed at the
end of the notebook's row. The prefetch, if any, runs alone.

The first line names the CPU (/proc/cpuinfo's "model name"), the cores this process may use, and
PyTorch's kernel capability (``torch.backends.cpu.get_cpu_capability()``). Memory is printed in
MiB (1 GiB = 1024 MiB, as in the README's table) and is the peak resident set of the notebook's
kernel alone (the busy job is not counted). The notebooks' committed files are not touched
(outputs stay in memory). Set METANLP_DATA_DIR (and HF_HUB_OFFLINE=1) to run offline.
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
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 60.0
BUDGET_MIB = 1.2 * 1024        # after the set-up's prefetch (or against a filled cache): 1229 MiB
BUDGET_COLD_MIB = 1.5 * 1024   # without the prefetch: 1536 MiB

# The busy job: CPU-bound float32 matmuls on every core until SIGTERM, then its rate on stdout.
BUSY_JOB = r"""
import signal, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
c = a @ b
stop = False
def _stop(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, _stop)
print("ready", flush=True)
n, start = 0, time.perf_counter()
while not stop:
    torch.mm(a, b, out=c)
    n += 1
print(f"{n / (time.perf_counter() - start):.1f}", flush=True)
"""


def machine() -> str:
    """CPU model, usable cores and PyTorch's CPU kernel capability, for the table's first line."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return f"{model}, {cores()} CPU cores; torch {torch.__version__} kernels: {torch.backends.cpu.get_cpu_capability()}"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextmanager
def busy_job(enabled: bool):
    """Run the busy job for the duration of the block; yields a dict that gets its 'rate'."""
    result: dict = {}
    if not enabled:
        yield result
        return
    proc = subprocess.Popen([sys.executable, "-c", BUSY_JOB, str(cores())],
                            stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the busy job failed to start")
        yield result
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
            result["rate"] = float(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            proc.kill()
            proc.wait()


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
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    return {"notebook": path.name, "seconds": round(wall, 1), "peak_mib": round(peak_mib)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb in order")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cold", action="store_true",
                      help="empty cache and no prefetch (the set-up step skipped); memory budget 1.5 GiB")
    mode.add_argument("--warm", action="store_true",
                      help="no prefetch: use the already-filled cache $METANLP_CACHE_DIR (or --cache DIR)")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="the filled cache to use (implies --warm)")
    parser.add_argument("--busy", action="store_true",
                        help="run a CPU-bound matmul job on every core beside each notebook")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    if args.cache is not None:
        if args.cold:
            parser.error("--cache DIR is a filled cache: it cannot be combined with --cold")
        args.warm = True
    warm_dir = None
    if args.warm:
        warm_dir = args.cache or (Path(os.environ["METANLP_CACHE_DIR"]) if os.environ.get("METANLP_CACHE_DIR") else None)
        if warm_dir is None:
            parser.error("--warm needs $METANLP_CACHE_DIR or --cache DIR")
        if not warm_dir.is_dir():
            parser.error(f"no cache at {warm_dir}")
        from metanlp_lite import text
        tag = getattr(text, "EMBEDDING_TAG", None)   # the folder this code's embed() reads
        if tag and not (warm_dir / "embeddings" / tag).is_dir():
            print(f"warning: {warm_dir} has no embeddings/{tag} (filled by another version?): "
                  "the notebooks will encode, and add to it", file=sys.stderr)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    budget_mib = BUDGET_COLD_MIB if args.cold else BUDGET_MIB

    with tempfile.TemporaryDirectory() as tmp:
        cache = str(warm_dir.resolve()) if warm_dir else tmp   # shared in order, like a student's
        # the environments of the README's set-up command: the prefetch runs with this process's, the notebooks
        # as JupyterLab starts them, with OMP_WAIT_POLICY=PASSIVE (threads waiting for a core sleep); the busy
        # job inherits this process's, as an ordinary neighbour would
        env = {**os.environ, "METANLP_CACHE_DIR": cache}
        kernel_env = {**env, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        if args.cold:
            setting = "empty embedding cache and no prefetch"
        elif args.warm:
            setting = f"filled embedding cache {cache}, no prefetch"
        else:
            setting = "empty embedding cache, then the prefetch"
        print(machine())
        print(f"{setting}; {'BUSY: a matmul job on every core beside each notebook' if args.busy else 'no other job'}; "
              f"budgets {BUDGET_S:.0f} s and {budget_mib:.0f} MiB ({budget_mib / 1024:.1f} GiB) per notebook")
        print(f"{'notebook':40s} {'wall (s)':>9s} {'x budget':>9s} {'peak (MiB)':>10s} {'x budget':>9s}"
              + (f" {'busy job (matmuls/s)':>21s}" if args.busy else ""))
        if not (args.cold or args.warm):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "metanlp_lite", "prefetch"], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"prefetch failed:\n{out.stderr[-2000:]}")
            peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{'(set-up) python -m metanlp_lite prefetch':40s} {time.perf_counter() - start:9.1f} "
                  f"{'':>9s} {peak_mib:10.0f}", flush=True)
        for path in paths:
            with busy_job(args.busy) as busy:
                out = subprocess.run([sys.executable, __file__, "--one", str(path.resolve())], env=kernel_env,
                                     capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{path.name:40s} FAILED\n{out.stderr[-2000:]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rate = f" {busy.get('rate', float('nan')):21.1f}" if args.busy else ""
            print(f"{r['notebook']:40s} {r['seconds']:9.1f} {r['seconds'] / BUDGET_S:9.2f} "
                  f"{r['peak_mib']:10d} {r['peak_mib'] / budget_mib:9.2f}{rate}", flush=True)


if __name__ == "__main__":
    main()
