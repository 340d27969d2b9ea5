"""Notebook 04's runs, made once and shipped with the package: :func:`load_fewshot_runs` and
:func:`load_fewshot_splits`.

``benchmarks/fewshot_models.py`` meta-trains every model of notebook 04's section 5 with
:func:`~metanlp_lite.fewshot.training.train_for` (budget "quick", seed 0), scores them on section
6's episodes with :func:`~metanlp_lite.fewshot.training.evaluate_batches`, and stores the logs,
the scores and the state dicts the notebook needs later in ``metanlp_lite/results``
(:data:`FEWSHOT_RUNS_FILE`). :func:`load_fewshot_runs` reads them back as :class:`StoredRuns`,
refusing a file made with other settings than this package's. The notebook meta-trains one of
the models live and checks it against the stored one (the "store what is long to train, train
live what teaches" of notebook 02's ``sinusoid_3k.pt``).

``benchmarks/fewshot_splits.py`` runs the same call on each of BANKING77's five published class
splits with three training seeds, and stores each run's kept step, its meta-val accuracy and its
per-episode meta-test scores, 5-way 1-shot, in ``metanlp_lite/results`` (:data:`FEWSHOT_SPLITS_FILE`);
:func:`load_fewshot_splits` reads them back as :class:`SplitRuns`.

Taught in notebook 04, sections 5 and 6.
"""
from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

import json

import torch
from torch import Tensor

from .base import Method
from .methods import build_method, hyperparams
from .training import TrainLog, budget_schedule

__all__ = ["FEWSHOT_RUNS_FILE", "FEWSHOT_SPLITS_FILE", "SplitRuns", "StoredRuns", "load_fewshot_runs",
           "load_fewshot_splits"]

FEWSHOT_RUNS_FILE = "fewshot_quick.pt"   # notebook 04's quick-budget models, logs and scores, seed 0
FEWSHOT_SPLITS_FILE = "fewshot_splits.json"   # BANKING77's five class splits x three seeds, quick budget
_REMAKE_SPLITS = "remake it with `python benchmarks/fewshot_splits.py` (about 5 minutes on 2 cores)"
_REMAKE = ("remake it with `python benchmarks/fewshot_models.py` (about a minute on 2 cores), or meta-train "
           "the models here with train_for (notebook 04: FULL_RUN = True)")


class StoredRuns(NamedTuple):
    """Notebook 04's runs, as :func:`load_fewshot_runs` returns them.

    models: {(dataset, encoder, method): float32 Method}, as
    :func:`~metanlp_lite.fewshot.training.train_for` returned it, for the models whose state dicts
    were kept (BANKING77's MiniLM ones, and those without parameters); logs: {(dataset, encoder,
    method): :class:`~metanlp_lite.fewshot.training.TrainLog`} of every model; runs: the meta-test runs scored,
    ``((setting, meta-train data, meta-test data, K, label names, episodes), encoder, episodes)``;
    results: {(setting, encoder, method): (episodes,) per-episode accuracies, percent};
    made: the budget, seed, pools and schedule they were made with, the machine, the seconds.
    """

    models: dict[tuple[str, str, str], Method]
    logs: dict[tuple[str, str, str], TrainLog]
    runs: list[tuple[Any, ...]]
    results: dict[tuple[str, str, str], Tensor]
    made: dict[str, Any]

    def scores(self, runs: Sequence[tuple[Any, ...]]) -> dict[tuple[str, str, str], Tensor]:
        """The stored accuracies of every method on ``runs`` (entries shaped as :attr:`runs`'):
        {(setting, encoder, method): (episodes,)}. A run not stored raises ValueError."""
        for run in runs:
            if tuple(run) not in self.runs:
                raise ValueError(f"no stored scores for the meta-test run {run}: the file holds "
                                 f"{[r[0][0] + ' (' + r[1] + ')' for r in self.runs]}; {_REMAKE}")
        wanted = {(run[0][0], run[1]) for run in runs}
        return {key: acc for key, acc in self.results.items() if key[:2] in wanted}


def load_fewshot_runs(path: str | Path | None = None, *, budget: str = "quick", seed: int = 0,
                      pools_of: Sequence[tuple[str, str]] | None = None) -> StoredRuns:
    """Notebook 04's models, logs and meta-test scores, as ``benchmarks/fewshot_models.py`` stored them.

    ``path``: default the file :data:`FEWSHOT_RUNS_FILE` shipped in ``metanlp_lite/results``.
    Each model is rebuilt by :func:`~metanlp_lite.fewshot.methods.build_method` and given its stored
    state dict (float32), so it is the model :func:`~metanlp_lite.fewshot.training.train_for`
    returned; each log is a :class:`~metanlp_lite.fewshot.training.TrainLog`. Raises
    FileNotFoundError if the file is missing, and ValueError if it was made with another
    ``budget``, ``seed``, list of (dataset, encoder) pools (``pools_of``, when given), schedule
    (:func:`~metanlp_lite.fewshot.training.budget_schedule`) or method hyper-parameters than this
    package's; each says how to remake it.
    """
    path = Path(str(files("metanlp_lite") / "results" / FEWSHOT_RUNS_FILE)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: {_REMAKE}; or reinstall metanlp-lite")
    stored = torch.load(path, weights_only=True)
    made = stored["made"]
    wanted = {"budget": budget, "seed": seed, "schedule": budget_schedule(budget)}
    if pools_of is not None:
        wanted["pools"] = [tuple(p) for p in pools_of]
    wanted["hyperparams"] = {key: hyperparams(key[2], key[1]) for key in made["hyperparams"]}
    for what, here in wanted.items():
        there = made[what]
        if what == "hyperparams":           # name the first model whose hyper-parameters changed
            key = next((key for key in here if here[key] != there[key]), None)
            what, there, here = f"hyperparams of {key}", there.get(key), here.get(key)
        if there != here:
            raise ValueError(f"{path} was made with {what} {there!r}, but it is {here!r} here: {_REMAKE}")
    models = {}
    for (data, encoder, method), kept in stored["models"].items():
        m = build_method(method, encoder, kept["in_dim"], n_way=kept["n_way"], n_classes=kept["n_classes"],
                         seed=seed).float()
        m.load_state_dict(kept["state"])       # every parameter, the adapter's centre included
        models[data, encoder, method] = m
    logs = {key: TrainLog(**log) for key, log in stored["logs"].items()}
    return StoredRuns(models, logs, list(stored["runs"]), stored["results"], made)


class SplitRuns(NamedTuple):
    """BANKING77's five class splits, as :func:`load_fewshot_splits` returns them.

    acc: {(split, method, label names): (seeds, episodes) float64 per-episode accuracies, percent},
    one row per training seed in the order of ``seeds`` (nearest class mean, with nothing to train:
    one row), every row on the split's same seeded meta-test episodes, 5-way 1-shot;
    best_step: {(split, method): [the step meta-val kept, per seed]} (0 for nearest class mean);
    best_val: {(split, method): [its meta-val accuracy, per seed]} (nearest class mean: none);
    splits, methods, seeds: as stored; made: the budget, schedule, episodes and machine they were
    made with.
    """

    acc: dict[tuple[str, str, bool], Tensor]
    best_step: dict[tuple[str, str], list[int]]
    best_val: dict[tuple[str, str], list[float]]
    splits: list[str]
    methods: list[str]
    seeds: list[int]
    made: dict[str, Any]


def load_fewshot_splits(path: str | Path | None = None, *, budget: str = "quick") -> SplitRuns:
    """BANKING77's five class splits x three seeds, as ``benchmarks/fewshot_splits.py`` stored them.

    ``path``: default the file :data:`FEWSHOT_SPLITS_FILE` shipped in ``metanlp_lite/results``. The
    stored counts of correct queries per episode (out of 5 x ``n_query``) come back as accuracies in
    percent, :attr:`SplitRuns.acc`. Raises FileNotFoundError if the file is missing, and ValueError
    if it was made with another ``budget`` or schedule
    (:func:`~metanlp_lite.fewshot.training.budget_schedule`) than this package's, or if a run lacks
    a seed, an episode or a setting; each says how to remake it.
    """
    path = Path(str(files("metanlp_lite") / "results" / FEWSHOT_SPLITS_FILE)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: {_REMAKE_SPLITS}; or reinstall metanlp-lite")
    stored = json.loads(path.read_text())
    made = stored["made"]
    for what, here in (("budget", budget), ("schedule", budget_schedule(budget))):
        if made[what] != here:
            raise ValueError(f"{path} was made with {what} {made[what]!r}, but it is {here!r} here: {_REMAKE_SPLITS}")
    splits, methods, seeds = sorted(stored["splits"]), list(made["methods"]), [int(s) for s in made["seeds"]]
    per_episode = 5 * made["n_query"]
    acc, best_step, best_val = {}, {}, {}
    for split in splits:
        for method in methods:
            want = [str(s) for s in (seeds[:1] if method == "ncm" else seeds)]
            runs = stored["splits"][split].get(method, {})
            if sorted(runs) != sorted(want):
                raise ValueError(f"{path}: split {split}, {method} has the seeds {sorted(runs)}, expected {want}: "
                                 f"{_REMAKE_SPLITS}")
            for names, key in ((False, "no_names"), (True, "names")):
                correct = torch.tensor([runs[s][key] for s in want], dtype=torch.float64)
                if correct.shape != (len(want), made["episodes"]) or not (0 <= correct).all() \
                        or not (correct <= per_episode).all():
                    raise ValueError(f"{path}: split {split}, {method}, {key}: expected {made['episodes']} counts "
                                     f"of 0 to {per_episode} per seed, got shape {tuple(correct.shape)}: {_REMAKE_SPLITS}")
                acc[split, method, names] = correct * 100 / per_episode
            best_step[split, method] = [runs[s]["best_step"] for s in want]
            best_val[split, method] = [] if method == "ncm" else [runs[s]["best_val"] for s in want]
    return SplitRuns(acc, best_step, best_val, splits, methods, seeds, made)
