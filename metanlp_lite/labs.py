"""Student versions of the notebooks: ``python -m metanlp_lite.labs build --out labs``.

Each solution sits between nbgrader's markers in a code cell::

    def reptile_update(theta, phi, beta):
        ### BEGIN SOLUTION
        return theta + beta * (phi - theta)
        ### END SOLUTION

The student version keeps the cell, replaces what lies between the markers by a stub at
the same indentation (``# YOUR CODE HERE`` / ``raise NotImplementedError()``), locks the
cells as nbgrader does (exercise cells cannot be deleted; check cells can be neither deleted
nor edited), clears every output, so the student starts from a clean notebook, and points
its Binder and Colab badges at itself. The build is deterministic: the committed ``labs/``
must equal a fresh build, and cell by cell what ``nbgrader generate_assignment`` releases
(tests/test_labs.py and tests/test_nbgrader.py check both).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from .launch import badges

__all__ = ["strip_solutions", "student_notebook", "build", "execute"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


def strip_solutions(source: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by a stub.

    Raises ValueError on unbalanced markers (a BEGIN without an END, or the reverse).
    """
    out, inside, indent = [], False, ""
    for n, line in enumerate(source.split("\n"), 1):    # split, not splitlines: keeps a final newline
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"line {n}: {BEGIN} inside another solution")
            inside, indent = True, re.match(r"\s*", line).group(0)
            out += [indent + s for s in STUB]
        elif stripped == END:
            if not inside:
                raise ValueError(f"line {n}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return any(line.strip() == BEGIN for line in source.splitlines())


def lock(cell: nbformat.NotebookNode) -> None:
    """Lock ``cell`` as nbgrader's release does (its LockCells, with the default settings)."""
    grading = cell.metadata.get("nbgrader", {})
    if grading.get("solution"):
        cell.metadata["deletable"] = False
    elif grading.get("grade") or grading.get("locked"):
        cell.metadata["deletable"] = cell.metadata["editable"] = False


def student_notebook(nb: nbformat.NotebookNode, name: str | None = None) -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions stubbed, cells locked and all outputs cleared.

    name: the notebook's file name; given, the badges that open ``notebooks/<name>`` open
    ``labs/<name>`` instead.
    """
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        lock(cell)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.source = strip_solutions(cell.source)
        elif name is not None:
            cell.source = cell.source.replace(badges(f"notebooks/{name}"), badges(f"labs/{name}"))
    nb.metadata.pop("widgets", None)       # saved widget state belongs to the executed copy
    return nb


def build(src: Path, out: Path) -> list[Path]:
    """Write the student version of every ``src/*.ipynb`` that has exercises into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if not any(c.cell_type == "code" and has_solution(c.source) for c in nb.cells):
            continue
        target = out / path.name
        nbformat.write(student_notebook(nb, path.name), target)
        written.append(target)
    return written


def execute(path: Path, timeout: int = 900) -> None:
    """Run a notebook top to bottom in a fresh kernel and store its outputs in place, as
    JupyterLab shows them: consecutive stream outputs merged and progress-bar updates (text
    before a carriage return) dropped, so a committed notebook holds each bar's final line only.
    This is how the committed notebooks are made: ``python -m metanlp_lite.labs execute notebooks/*.ipynb``.
    """
    from nbclient import NotebookClient
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(path).resolve().parent)}}).execute()
    nb, _ = CoalesceStreamsPreprocessor(enabled=True).preprocess(nb, {})
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metanlp_lite.labs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student notebooks")
    b.add_argument("--src", type=Path, default=Path("notebooks"), help="the solved notebooks (default: notebooks)")
    b.add_argument("--out", type=Path, default=Path("labs"), help="where to write them (default: labs)")
    e = sub.add_parser("execute", help="re-run notebooks in place, storing clean outputs (maintainers)")
    e.add_argument("paths", type=Path, nargs="+", help="the notebooks to run")
    args = parser.parse_args(argv)
    if args.command == "execute":
        for path in args.paths:
            execute(path)
            print(f"executed {path}", file=sys.stderr)
        return 0
    if not args.src.is_dir():
        parser.error(f"{args.src} is not a folder of notebooks; run from the project root or pass --src")
    for path in build(args.src, args.out):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
