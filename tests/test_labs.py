"""The course-lab kit: solutions between nbgrader markers, and student versions in labs/.
That exactly the checks fail in a student version, nbgrader's autograde shows
(tests/test_nbgrader.py)."""
from __future__ import annotations

import filecmp
from pathlib import Path

import nbformat
import pytest

from metanlp_lite.labs import build, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
SOLVED = sorted((ROOT / "notebooks").glob("*.ipynb"))
LABS = sorted((ROOT / "labs").glob("*.ipynb"))


def test_strip_solutions_keeps_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(1)"
    assert strip_solutions(src) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(1)"
    assert strip_solutions("x = 1\n") == "x = 1\n"                  # as nbgrader: a final newline stays
    with pytest.raises(ValueError, match="without"):
        strip_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="without"):
        strip_solutions("x = 1\n### END SOLUTION")


def exercises(nb):
    return [c for c in nb.cells if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source]


def test_at_least_eight_exercises_each_followed_by_a_check():
    total = 0
    for path in SOLVED:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
                total += cell.source.count("### BEGIN SOLUTION")
                assert cell.metadata.get("nbgrader", {}).get("solution") is True, f"{path.name} cell {i}"
                nxt = nb.cells[i + 1]
                assert "checks.check_" in nxt.source, f"{path.name} cell {i + 1} should check the exercise"
                assert nxt.metadata.get("nbgrader", {}).get("grade") is True
    assert total >= 8, f"only {total} exercises"


def test_labs_are_a_fresh_build(tmp_path):
    """labs/ is committed; it must equal what `python -m metanlp_lite.labs build` writes now."""
    fresh = build(ROOT / "notebooks", tmp_path)
    assert [p.name for p in fresh] == [p.name for p in LABS], "run: python -m metanlp_lite.labs build --out labs"
    for p in fresh:
        assert filecmp.cmp(p, ROOT / "labs" / p.name, shallow=False), \
            f"labs/{p.name} is stale: run python -m metanlp_lite.labs build --out labs"


def test_student_versions_hide_solutions_and_outputs():
    for path in LABS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert "### BEGIN SOLUTION" not in cell.source
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
        assert any("raise NotImplementedError()" in c.source for c in nb.cells)

