"""The package's layout keeps its promises: every name a notebook imports exists, and the names
of the former single module ``metanlp_lite/fewshot.py`` still resolve, to the same objects."""
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


# Every module-level name of metanlp_lite/fewshot.py before it became a subpackage, by its new home.
FORMER_FEWSHOT_NAMES = {
    "metanlp_lite.stats": ["accuracy", "mean_ci95", "confusion_matrix"],
    "metanlp_lite.fewshot.features": [
        "ENCODERS", "_WORD", "ngrams", "HashedNgrams", "featurize", "Pool", "make_pools", "split_class_ids",
        "add_label_names", "sample_batch"],
    "metanlp_lite.fewshot.bodies": ["ResidualMLP", "BowMLP", "BODY_HIDDEN", "BOW_DIM", "N_BUCKETS", "make_body"],
    "metanlp_lite.fewshot.methods": [
        "METHODS", "prototypes", "ncm_logits", "ncm_predict", "linear_head_step", "fit_linear_head", "Method",
        "NCM", "ProtoNet", "Finetune", "MAMLFamily", "ANIL", "ProtoMAML", "_COMMON", "_MAML", "HYPERPARAMS",
        "hyperparams", "build_method"],
    "metanlp_lite.fewshot.training": [
        "STEPS", "VAL_EPISODES", "EVAL_EVERY", "CENTRE", "evaluate", "TrainLog", "_val_batches",
        "_supervised_batch", "meta_train", "evaluate_method", "train_mean", "train_for"],
    "metanlp_lite.fewshot.cli": ["run", "command", "_int_at_least", "_positive_int", "_nonnegative_int", "main"],
    # what the former module imported from the rest of the package, importable from it all the same
    "metanlp_lite.episodes": ["EpisodeSampler", "TaskBatch"],
    "metanlp_lite.maml": ["MAML", "Reptile"],
    "metanlp_lite.progress": ["progress"],
}
FORMER_ALL = [
    "METHODS", "ENCODERS", "HYPERPARAMS",
    "prototypes", "ncm_logits", "ncm_predict", "accuracy", "mean_ci95", "confusion_matrix",
    "evaluate", "HashedNgrams", "ngrams", "featurize", "Pool", "make_pools", "split_class_ids", "add_label_names",
    "sample_batch", "ResidualMLP", "BowMLP", "make_body", "linear_head_step", "fit_linear_head",
    "Method", "NCM", "Finetune", "ProtoNet", "MAMLFamily", "ANIL", "ProtoMAML", "build_method",
    "TrainLog", "meta_train", "evaluate_method", "train_for", "train_mean", "run", "command", "main",
]


@pytest.mark.parametrize("home, name", [(home, name) for home, names in FORMER_FEWSHOT_NAMES.items()
                                        for name in names])
def test_former_fewshot_names_resolve_to_the_same_objects(home, name):
    fewshot = importlib.import_module("metanlp_lite.fewshot")
    assert getattr(fewshot, name) is getattr(importlib.import_module(home), name)


def test_fewshot_star_import_is_unchanged():
    fewshot = importlib.import_module("metanlp_lite.fewshot")
    assert fewshot.__all__ == FORMER_ALL
    namespace: dict = {}
    exec("from metanlp_lite.fewshot import *", namespace)
    assert set(FORMER_ALL) <= set(namespace)


def test_every_module_says_what_it_holds_and_stays_small():
    """One idea per module, read in one sitting: about 500 lines at most (the MAML engine, with its
    long docstring, is the largest)."""
    for path in sorted((ROOT / "metanlp_lite").rglob("*.py")):
        text = path.read_text()
        assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(ROOT)} has no docstring"
        assert len(text.splitlines()) <= 560, f"{path.relative_to(ROOT)} is over about 500 lines: split it by idea"
