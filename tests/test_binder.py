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
