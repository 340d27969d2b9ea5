"""The package's shape: modules stacked in layers, each idea in one place.

- no import circle: every module of ``metanlp_lite`` imports only modules below it (imports
  inside functions count too: a lazy import that dodges a circle is still a circle);
- no module reaches into another's private names, and none re-exports names through a
  module-level ``__getattr__``;
- the inner loop's update phi = theta - alpha * grad L is written once, in ``params.py``.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "metanlp_lite"
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import of a package module in ``path``, relative ones resolved."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "metanlp_lite":
                names = [a.name for a in node.names]
                # `from . import x` / `from .fewshot import cli`: x may itself be a module
                submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in NAMES]
                found.append((target, [n for n in names if f"{target}.{n}" not in NAMES]))
                found += [(m, []) for m in submodules]
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "metanlp_lite"]
    return found


NAMES = {module_name(p) for p in MODULES}


def graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (a parent package counts: importing
    metanlp_lite.fewshot.methods runs metanlp_lite/fewshot/__init__.py first)."""
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        here = module_name(path)
        deps = set()
        for target, _ in imports(path):
            parts = target.split(".")
            deps |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)} & NAMES
        edges[here] = deps - {here} - {here.rsplit(".", 1)[0]}   # a module may use its own package
    return edges


def test_the_import_graph_sees_the_package():
    edges = graph()
    assert {"metanlp_lite.params", "metanlp_lite.maml", "metanlp_lite.fewshot.training"} <= set(edges)
    assert "metanlp_lite.params" in edges["metanlp_lite.maml"]
    assert "metanlp_lite.maml" in edges["metanlp_lite.sinusoid"]


def test_no_import_circle():
    try:
        order = list(TopologicalSorter(graph()).static_order())
    except CycleError as err:
        pytest.fail(f"an import circle: {' -> '.join(err.args[1])}; move the shared code down a layer")
    assert len(order) == len(NAMES)


def test_params_is_the_bottom_layer():
    assert graph()["metanlp_lite.params"] == set()


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_private_names_cross_modules_and_no_getattr_shims(path):
    for target, names in imports(path):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module_name(path)} imports private {private} from {target}: make them public or keep them home"
    tree = ast.parse(path.read_text())
    shims = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    assert not shims, f"{module_name(path)} re-exports names through a module-level __getattr__"


STEP = re.compile(r"params\[k\] - |p - lr \* g|- lr \*")   # a grep for phi = theta - alpha * g


def code_lines(path: Path) -> dict[int, str]:
    """line number -> the line as written, with its comments and strings (docstrings, hints) blanked."""
    lines = path.read_text().splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                a, b = (c0 if r == r0 else 0), (c1 if r == r1 else len(lines[r - 1]))
                lines[r - 1] = lines[r - 1][:a] + " " * (b - a) + lines[r - 1][b:]
    return dict(enumerate(lines, 1))


def test_the_gradient_step_is_written_once():
    where = [f"{p.relative_to(ROOT)}:{i}" for p in MODULES for i, line in code_lines(p).items()
             if STEP.search(line)]
    assert where and all(w.startswith("metanlp_lite/params.py:") for w in where), where
    assert len(where) == 1, where
