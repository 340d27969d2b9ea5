"""binder/ must install what requirements.txt installs (torch as the CPU wheel)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirements(path: Path) -> dict[str, str]:
    reqs = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):          # index options, -e ., -r
            continue
        name, spec = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", line).groups()
        reqs[name.lower()] = spec.replace("+cpu", "")
    return reqs


def test_binder_requirements_match():
    main, binder = requirements(ROOT / "requirements.txt"), requirements(ROOT / "binder" / "requirements.txt")
    assert main == binder
    assert main["torch"] == "==2.13.0"
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "torch==2.13.0+cpu" in text and "download.pytorch.org/whl/cpu" in text
    assert "-e ." in (ROOT / "requirements.txt").read_text()


def test_postbuild_installs_the_package_and_prefetches():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post and "python -m metanlp_lite prefetch" in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_readme_commands_exist_for_ci():
    readme = (ROOT / "README.md").read_text()
    assert "<!-- ci: setup command -->" in readme and "<!-- ci: test command -->" in readme
    assert "pip install -r requirements.txt" in readme and "python -m pytest" in readme


def test_threads_wait_passively_where_notebooks_run():
    """Binder's start script and the README's JupyterLab both set OMP_WAIT_POLICY=PASSIVE (threads
    waiting for a core sleep: beside a busy job notebook 05 took 74 s with it, 182 s without), and
    .ci/run still strips the JupyterLab launch from the set-up command it runs."""
    import subprocess

    start = ROOT / "binder" / "start"
    assert start.stat().st_mode & 0o111, "binder/start must be executable"
    text = start.read_text()
    assert "export OMP_WAIT_POLICY=PASSIVE" in text and text.rstrip().endswith('exec "$@"')
    readme = (ROOT / "README.md").read_text()
    line = next(l for l in readme.splitlines() if l.startswith("python3 -m venv .venv"))
    assert line.endswith("&& OMP_WAIT_POLICY=PASSIVE jupyter lab notebooks/")
    ci = (ROOT / ".ci" / "run").read_text()
    sed = next(l for l in ci.splitlines() if l.startswith("setup=")).split("sed -E ", 1)[1].rstrip(")")
    stripped = subprocess.run(["sed", "-E", sed.strip("'")], input=line, capture_output=True, text=True).stdout.strip()
    assert stripped.endswith("python -m metanlp_lite prefetch") and "jupyter" not in stripped
