"""The course-lab kit: solutions between nbgrader markers, student versions in labs/, and
student notebooks in which exactly the exercise checks fail."""
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


@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_in_a_student_notebook_exactly_the_checks_fail(path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    failed = {i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.outputs)}
    checks = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "checks.check_" in c.source}
    assert failed == checks, f"cells that failed: {sorted(failed)}; check cells: {sorted(checks)}"
    for i in checks:
        err = next(o for o in nb.cells[i].outputs if o.output_type == "error")
        assert err.ename == "AssertionError" and "not implemented yet" in err.evalue, err.evalue
