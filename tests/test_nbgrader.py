"""The solved notebooks are nbgrader's source versions, for real.

In a temporary course folder, the real nbgrader runs the commands of INSTRUCTORS.md on every
notebook with exercises: ``generate_assignment``, then ``autograde`` of two submissions, the
solved notebook and the student version from labs/. The solved notebook is graded from its
committed outputs (``--no-execute``): nbval, in the same ``pytest`` run, re-executes every
notebook and fails unless those outputs come out again, so running it a further time here
would test nothing new and cost minutes of CI. Then:

- labs/ is, cell by cell, what nbgrader releases (same sources, solutions removed, the same
  grading metadata and locks), so the student version stands for the release and is
  autograded once for both;
- the solved notebook gets full marks, with no error anywhere;
- the student version gets zero on every check, and exactly the check cells fail, each
  saying "not implemented yet".

This executes the student versions only (their one run in the test suite). Marked ``nbgrader``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from metanlp_lite.launch import badges

pytestmark = pytest.mark.nbgrader

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
# The commands of INSTRUCTORS.md ("Grading"), run in the course folder.
GENERATE = ["generate_assignment", "lab*"]
AUTOGRADE = ["autograde", "lab*", "--Execute.timeout=600"]
# The solved submission: graded as committed, since nbval checks those outputs in the same run.
GRADE_STORED = ["autograde", "lab*", "--student", "solved", "--no-execute"]
BOOKKEEPING = {"checksum", "cell_type"}   # nbgrader's own; autograde sets them from its database


def assignment(path: Path) -> str:
    return f"lab{int(path.name[:2])}"      # 01_meta_objective.ipynb -> lab1


def nbgrader(*args: str, cwd: Path) -> None:
    # nbgrader runs the `alembic` command by name (nbgrader.api.get_alembic_version) whenever it
    # opens its gradebook: put this interpreter's scripts first on PATH, so that it is found
    # (and is this environment's) also when the environment was not activated.
    scripts = sysconfig.get_path("scripts")
    env = {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", os.defpath)])}
    # The timeout covers running every lab twice, on a slow or busy machine.
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=3600, env=env)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for lab in LABS:
        for folder, version in (("source", ROOT / "notebooks" / lab.name),
                                ("submitted/solved", ROOT / "notebooks" / lab.name),
                                ("submitted/student", lab)):
            (root / folder / assignment(lab)).mkdir(parents=True)
            shutil.copy(version, root / folder / assignment(lab))
    nbgrader(*GENERATE, cwd=root)
    nbgrader(*AUTOGRADE, "--student", "student", cwd=root)
    nbgrader(*GRADE_STORED, cwd=root)
    return root


def grades(course: Path, lab: Path, student: str) -> dict[str, tuple[float, float]]:
    """grade cell id -> (score, max score) that autograde gave ``student``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(lab.stem, assignment(lab), student)
        return {g.name: (g.score, g.max_score) for g in nb.grades}


def errors(course: Path, lab: Path, student: str) -> dict[int, list]:
    """cell index -> the errors it raised, in the notebook autograde ran."""
    nb = nbformat.read(course / "autograded" / student / assignment(lab) / lab.name, as_version=4)
    found = {i: [o for o in c.get("outputs", []) if o.output_type == "error"] for i, c in enumerate(nb.cells)}
    return {i: errs for i, errs in found.items() if errs}


def grading(cell) -> dict:
    return {"nbgrader": {k: v for k, v in cell.metadata.get("nbgrader", {}).items() if k not in BOOKKEEPING},
            "editable": cell.metadata.get("editable"), "deletable": cell.metadata.get("deletable")}


@pytest.mark.parametrize("lab", LABS, ids=[p.name for p in LABS])
def test_labs_are_what_nbgrader_releases(course, lab):
    released = nbformat.read(course / "release" / assignment(lab) / lab.name, as_version=4)
    student = nbformat.read(lab, as_version=4)
    assert len(student.cells) == len(released.cells)
    for i, (ours, theirs) in enumerate(zip(student.cells, released.cells)):
        where = f"labs/{lab.name} cell {i}"
        # the one difference on purpose: a lab's badges open the lab, not the solved notebook
        expected = theirs.source.replace(badges(f"notebooks/{lab.name}"), badges(f"labs/{lab.name}"))
        assert (ours.cell_type, ours.get("id"), ours.source) == (theirs.cell_type, theirs.get("id"), expected), where
        assert grading(ours) == grading(theirs), where
        if ours.cell_type == "code":
            assert ours.outputs == theirs.outputs == [] and ours.execution_count is None, where


@pytest.mark.parametrize("lab", LABS, ids=[p.name for p in LABS])
def test_the_solved_notebook_gets_full_marks(course, lab):
    # graded without re-running: every code cell must have been run when it was committed
    solved = nbformat.read(ROOT / "notebooks" / lab.name, as_version=4)
    unrun = [i for i, c in enumerate(solved.cells) if c.cell_type == "code" and c.execution_count is None]
    assert unrun == [], f"notebooks/{lab.name}: cells {unrun} were committed without being run"
    marks = grades(course, lab, "solved")
    assert marks and all(score == most > 0 for score, most in marks.values()), marks
    assert errors(course, lab, "solved") == {}


@pytest.mark.parametrize("lab", LABS, ids=[p.name for p in LABS])
def test_the_student_version_gets_zero_and_exactly_its_checks_fail(course, lab):
    marks = grades(course, lab, "student")
    assert marks and all(score == 0 for score, _ in marks.values()), marks
    nb = nbformat.read(lab, as_version=4)
    checks = {i for i, c in enumerate(nb.cells)
              if c.metadata.get("nbgrader", {}).get("grade") and "checks.check_" in c.source}
    assert len(checks) == len(marks)
    failed = errors(course, lab, "student")
    assert set(failed) == checks, f"cells that failed: {sorted(failed)}; check cells: {sorted(checks)}"
    for i in checks:
        err = failed[i][0]
        assert err.ename == "AssertionError" and "not implemented yet" in err.evalue, err.evalue
