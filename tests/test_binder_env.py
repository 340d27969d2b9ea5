"""The Binder environment, built as mybinder.org builds it, runs the notebooks.

A fresh virtual environment from binder/requirements.txt, then binder/postBuild, then nbval on
notebook 00 in that environment, with ``ATEN_CPU_CAPABILITY=default`` (PyTorch's plain kernels
instead of this CPU's AVX ones). postBuild's prefetch finds the embedding cache that the set-up
command (or conftest.py) has already filled: the embeddings are computed in float64 and rounded,
so they are the same bits on any CPU and there is nothing to recompute (a test in test_text.py
shows that across kernels). Whether every notebook reproduces on another CPU's kernels is the main
nbval run's question: conftest.py starts every notebook kernel with ``ATEN_CPU_CAPABILITY=default``.
One execution of each notebook serves both, which keeps CI short.

The one difference from mybinder.org: the CPU-only torch index (download.pytorch.org) is not
reachable from the test machines, so that line is left out; the pinned ``torch==2.13.0+cpu``
wheel is then found locally. The test tools (pytest, nbval) come from requirements-dev.txt.
Marked ``binder`` and ``anycpu``; it takes a minute or two.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.binder, pytest.mark.anycpu]


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-6000:]}\n{out.stderr[-3000:]}"
    return out


def test_binder_builds_and_runs_a_notebook_on_another_cpu(tmp_path):
    from metanlp_lite.text import cache_dir

    reqs = tmp_path / "requirements.txt"
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    reqs.write_text("\n".join(l for l in lines if "download.pytorch.org" not in l) + "\n")
    test_tools = [l.split("#")[0].strip() for l in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    test_tools = [t for t in test_tools if t and not t.startswith("-")]
    venv = tmp_path / "binder-env"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_ = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "METANLP_CACHE_DIR": str(cache_dir()), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "ATEN_CPU_CAPABILITY": "default",
           # its own matplotlib font cache, as a fresh Binder image has: a shared one, built by another
           # environment since deleted, lists no fonts of matplotlib's own and every figure warns on stderr
           "MPLCONFIGDIR": str(tmp_path / "mplconfig")}
    env.pop("PYTHONPATH", None)
    run([bin_ / "pip", "install", "-q", "-r", str(reqs), *test_tools], env=env, timeout=1800)
    run(["bash", str(ROOT / "binder" / "postBuild")], env=env, cwd=ROOT, timeout=1800)
    # the package now comes from the Binder environment, not from the test runner's
    where = run([bin_ / "python", "-c", "import metanlp_lite, torch; "
                 "print(metanlp_lite.__file__, torch.__version__, torch.backends.cpu.get_cpu_capability())"],
                env=env, cwd=tmp_path).stdout
    assert str(ROOT) in where and "+cpu" in where and where.split()[-1] == "DEFAULT", where
    cached = list((cache_dir() / "embeddings").rglob("*.npz"))
    assert cached, "the set-up's prefetch (or postBuild's) should have filled the embedding cache"
    # nbval with the project's settings (pyproject.toml: sanitiser, current environment's kernel)
    out = run([bin_ / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "notebooks/00_few_shot_episodes.ipynb"], env=env, cwd=ROOT, timeout=900)
    assert " passed" in out.stdout and "failed" not in out.stdout, out.stdout[-3000:]
