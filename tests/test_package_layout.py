"""The package's layout keeps its promises: every name a notebook imports exists, ``fewshot``
exports only its own public names, and every module is small and says what it holds."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def notebook_imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` of every ``from metanlp_lite... import name`` in the notebook's code cells
    (``import metanlp_lite.x`` gives ``("metanlp_lite", "x")``). Magics are turned into Python first."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(TransformerManager().transform_cell(cell.source))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "metanlp_lite":
                found += [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [tuple(alias.name.rsplit(".", 1)) for alias in node.names
                          if alias.name.startswith("metanlp_lite.")]
    return found


NOTEBOOK_IMPORTS = [(path.name, module, name) for path in NOTEBOOKS for module, name in notebook_imports(path)]


def test_the_notebooks_import_from_the_package():
    """Guards the parametrized test below against finding nothing (a parser that sees no imports)."""
    assert len(NOTEBOOKS) >= 5
    assert {nb for nb, _, _ in NOTEBOOK_IMPORTS} == {path.name for path in NOTEBOOKS}
    assert ("01_meta_objective.ipynb", "metanlp_lite.stats", "mean_ci95") in NOTEBOOK_IMPORTS


@pytest.mark.parametrize("notebook, module, name", NOTEBOOK_IMPORTS)
def test_every_name_a_notebook_imports_exists(notebook, module, name):
    mod = importlib.import_module(module)
    if not hasattr(mod, name):                         # `from metanlp_lite import checks`: a submodule
        importlib.import_module(f"{module}.{name}")


def test_the_sinusoid_notebooks_do_not_import_text_classification():
    for path in NOTEBOOKS:
        if path.name.startswith(("01_", "02_")):
            modules = {module for module, _ in notebook_imports(path)}
            assert not {m for m in modules if m.startswith("metanlp_lite.fewshot")}, path.name


FEWSHOT_MODULES = sorted(p.stem for p in (ROOT / "metanlp_lite" / "fewshot").glob("*.py")
                         if p.stem not in ("__init__", "__main__"))


def test_fewshot_exports_the_public_names_of_its_own_modules():
    """``metanlp_lite.fewshot.__all__`` is its modules' ``__all__``s: public names defined in the
    subpackage, nothing private, nothing from elsewhere in the package, each resolving to its home."""
    fewshot = importlib.import_module("metanlp_lite.fewshot")
    homes = {}
    for stem in FEWSHOT_MODULES:
        module = importlib.import_module(f"metanlp_lite.fewshot.{stem}")
        for name in module.__all__:
            assert not name.startswith("_"), f"fewshot.{stem}.__all__ lists the private name {name}"
            obj = getattr(module, name)
            defined_in = getattr(obj, "__module__", module.__name__)
            assert defined_in == module.__name__ or not callable(obj), \
                f"fewshot.{stem}.__all__ lists {name}, which is {defined_in}'s"
            assert name not in homes, f"{name} is in both fewshot.{homes.get(name)} and fewshot.{stem}"
            homes[name] = stem
    assert sorted(fewshot.__all__) == sorted(homes)
    assert len(fewshot.__all__) == len(set(fewshot.__all__))
    for name in fewshot.__all__:
        assert getattr(fewshot, name) is getattr(importlib.import_module(f"metanlp_lite.fewshot.{homes[name]}"), name)
    namespace: dict = {}
    exec("from metanlp_lite.fewshot import *", namespace)
    assert set(fewshot.__all__) <= set(namespace)


def test_fewshot_has_no_names_beyond_its_own():
    fewshot = importlib.import_module("metanlp_lite.fewshot")
    extra = ({n for n in vars(fewshot) if not n.startswith("__")} - set(fewshot.__all__) - set(FEWSHOT_MODULES)
             - {"annotations"})                         # from __future__ import annotations
    assert not extra, f"metanlp_lite.fewshot also holds {sorted(extra)}"


def test_every_module_says_what_it_holds_and_stays_small():
    """One idea per module, read in one sitting: 500 lines at most."""
    for path in sorted((ROOT / "metanlp_lite").rglob("*.py")):
        text = path.read_text()
        assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(ROOT)} has no docstring"
        assert len(text.splitlines()) <= 500, f"{path.relative_to(ROOT)} is over 500 lines: split it by idea"
