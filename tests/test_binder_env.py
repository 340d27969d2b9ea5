"""The Binder environment, built as mybinder.org builds it, and the stored notebook outputs
reproduced there on another CPU's kernels.

A fresh virtual environment from binder/requirements.txt, then binder/postBuild (which embeds
both datasets into an empty cache), then nbval over every notebook in that environment: the
outputs must equal the committed ones. All of it runs with ``ATEN_CPU_CAPABILITY=default``,
which makes PyTorch use its plain kernels instead of this CPU's AVX ones: the embeddings, the
training runs and the checks are recomputed as on a student's different CPU. One execution of
each notebook serves both questions (does Binder's environment run them; do they reproduce on
any CPU), which keeps CI short.

The one difference from mybinder.org: the CPU-only torch index (download.pytorch.org) is not
reachable from the test machines, so that line is left out; the pinned ``torch==2.13.0+cpu``
wheel is then found locally. The test tools (pytest, nbval) come from requirements-dev.txt.
Marked ``binder`` and ``anycpu``; it takes several minutes.
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


def test_binder_builds_and_reproduces_every_notebook_on_another_cpu(tmp_path):
    reqs = tmp_path / "requirements.txt"
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    reqs.write_text("\n".join(l for l in lines if "download.pytorch.org" not in l) + "\n")
    test_tools = [l.split("#")[0].strip() for l in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    test_tools = [t for t in test_tools if t and not t.startswith("-")]
    venv = tmp_path / "binder-env"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_ = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "METANLP_CACHE_DIR": str(tmp_path / "home-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
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
    cached = list((tmp_path / "home-cache" / "embeddings").rglob("*.npz"))
    assert cached, "postBuild should fill the embedding cache"
    # nbval with the project's settings (pyproject.toml: sanitiser, current environment's kernel)
    out = run([bin_ / "python", "-m", "pytest", "-q", "notebooks"], env=env, cwd=ROOT, timeout=3000)
    assert " passed" in out.stdout and "failed" not in out.stdout, out.stdout[-3000:]
