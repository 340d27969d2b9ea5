"""The Binder environment, built as mybinder.org builds it: a fresh virtual environment from
binder/requirements.txt, then binder/postBuild, then every notebook executed in it.

The one difference: the CPU-only torch index (download.pytorch.org) is not reachable from the
test machines, so that line is left out; the pinned ``torch==2.13.0+cpu`` wheel is then found
locally. Marked ``binder``; it takes several minutes.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.binder


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_binder_builds_and_runs_every_notebook(tmp_path):
    reqs = tmp_path / "requirements.txt"
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    reqs.write_text("\n".join(l for l in lines if "download.pytorch.org" not in l) + "\n")
    venv = tmp_path / "binder-env"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_ = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "METANLP_CACHE_DIR": str(tmp_path / "home-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    run([bin_ / "pip", "install", "-q", "-r", str(reqs)], env=env, timeout=1800)
    run(["bash", str(ROOT / "binder" / "postBuild")], env=env, cwd=ROOT, timeout=1800)
    # the package now comes from the Binder environment, not from the test runner's
    where = run([bin_ / "python", "-c", "import metanlp_lite, torch; print(metanlp_lite.__file__, torch.__version__)"],
                env=env, cwd=tmp_path).stdout
    assert str(ROOT) in where and "+cpu" in where
    cached = list((tmp_path / "home-cache" / "embeddings").rglob("*.npz"))
    assert cached, "postBuild should fill the embedding cache"
    out_dir = tmp_path / "executed"
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        run([bin_ / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(out_dir),
             "--ExecutePreprocessor.timeout=900", str(nb)], env=env, cwd=ROOT / "notebooks", timeout=1800)
        executed = nbformat.read(out_dir / nb.name, as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{nb.name}: {errors[0].ename}: {errors[0].evalue}"
