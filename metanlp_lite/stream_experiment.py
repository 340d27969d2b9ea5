"""Notebook 07's experiment on any intent data: every learner, with and without the intents' names.

Intents arrive one at a time (:mod:`metanlp_lite.continual`); each learner is run on the same
seeded test streams, once as it is and once with each intent's name arriving as one more example
(``use_names``), its settings chosen on meta-val streams with the same information, as in
notebook 07's section 7:

- nearest class mean (nothing to choose);
- each online head of :data:`~metanlp_lite.continual.HEADS` (step size and steps per example chosen
  from :data:`~metanlp_lite.continual.GRID`);
- OML (:func:`~metanlp_lite.oml.meta_train_oml`) and its control without episodes, the supervised
  adapter (:func:`~metanlp_lite.oml.train_adapter_supervised`), both meta-trained on the meta-train
  intents; without names the meta-learned step size, with names one chosen from ``GRID``;
- optionally the joint bound (:class:`~metanlp_lite.continual.JointHead`, its weight decay chosen
  from :data:`L2_GRID`).

:func:`run_experiment` runs it (``python -m metanlp_lite stream`` prints :func:`report`);
:func:`load_experiment_data` reads ``"clinc150"``, ``"banking77"``, ``"clinc150-domains"`` or the
user's own CSV/TSV/JSONL file; :func:`check_stream_data` says, in one line, what data cannot give
the streams. ``benchmarks/continual_datasets.py`` stores runs on BANKING77 and CLINC150 split by
domains as package data (:func:`to_record`); :func:`load_dataset_results` reads them back and
:func:`results_table` tabulates them.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import continual as cl
from .continual import GRID, HEADS, StreamData, StreamRun
from .episodes import check_shots
from .leakage import twin_free_labels
from .oml import OML, OMLLog, RepresentationNet, meta_train_oml, train_adapter_supervised
from .stats import mean_ci95_t

__all__ = ["STREAM_DATASETS", "L2_GRID", "NAMES", "StreamExperiment", "load_experiment_data", "check_stream_data",
           "check_settings", "run_experiment", "learner_names", "report", "update_latency", "RESULTS", "to_record",
           "load_dataset_results", "results_table", "twin_free_table"]

# --data's names -> (the registered dataset, its class split); any other value is the path to a file
STREAM_DATASETS: dict[str, tuple[str, str]] = {"clinc150": ("clinc150", "random"), "banking77": ("banking77", "random"),
                                               "clinc150-domains": ("clinc150", "domains")}
L2_GRID: dict[str, tuple[float, ...]] = {"l2": (1e-4, 1e-3, 1e-2, 1e-1)}   # the joint bound's weight decay (cell 29)
NAMES = " + names"     # the suffix of a learner that has the intents' names
PARTS = {"train": "meta-train", "val": "meta-val", "test": "test-stream"}


class StreamExperiment(NamedTuple):
    """What :func:`run_experiment` measured. runs: {learner: [StreamRun per test stream]}, the
    learners without names first, then the same with names (suffix :data:`NAMES`); chosen:
    {learner: its settings chosen on meta-val}; val_scores: {learner: {settings' values: meta-val
    accuracy %}}; logs: {"OML", "supervised adapter": their training's :class:`~metanlp_lite.oml.OMLLog`};
    classes: {"train", "val", "test"}: class ids; first: the intents whose retention is measured;
    clean_runs, twins: see :func:`run_experiment`'s ``twin_free``."""

    runs: dict[str, list[StreamRun]]
    chosen: dict[str, dict[str, float]]
    val_scores: dict[str, dict[tuple, float]]
    logs: dict[str, OMLLog]
    classes: dict[str, list[int]]
    first: int
    clean_runs: dict[str, list[StreamRun]] | None = None   # with twin_free: the learners on twin-free test streams
    twins: tuple[int, int] = (0, 0)               # ... and the rows those streams leave out: twins, repeats


def load_experiment_data(data: str, *, seed: int = 0, show_progress: bool = True) -> StreamData:
    """:func:`~metanlp_lite.continual.load_stream_data` of ``data``: ``"clinc150"`` and ``"banking77"``
    (a seeded random split of the intents, half to meta-train, a sixth to meta-val, a third to the
    test streams: notebook 07's), ``"clinc150-domains"`` (CLINC150 split by its domains: meta-train
    on 6 domains, meta-val on work and meta, test streams of travel and utility, 30 intents), or the
    path to one's own .csv, .tsv or .jsonl file with a text and a label column (split at random, as
    ``"clinc150"``)."""
    if data in STREAM_DATASETS:
        name, split = STREAM_DATASETS[data]
        return cl.load_stream_data(name, seed=seed, split=split, show_progress=show_progress)
    path = Path(data).expanduser()
    if path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".json") and not path.exists():
        raise ValueError(f"unknown data {data!r}: use {', '.join(STREAM_DATASETS)}, or the path to your own "
                         ".csv, .tsv or .jsonl file with a text and a label column")
    return cl.load_stream_data(str(path), seed=seed, show_progress=show_progress)


def check_settings(n_streams: int, oml_steps: int, n_query: int) -> None:
    """A ValueError that says what to change when a setting of :func:`run_experiment` cannot work."""
    if n_streams < 2:
        raise ValueError(f"n_streams is {n_streams}, but the 95% intervals are over the stream orders and need at "
                         "least 2 of them: set n_streams to 2 or more (notebook 07 runs 20)")
    if oml_steps < 0:
        raise ValueError(f"oml_steps is {oml_steps}, a number of meta-training steps: set oml_steps to 0 (OML's "
                         "adapter left at the identity) or more (notebook 07 runs 150)")
    check_shots(1, n_query)     # every intent needs at least 1 test utterance


def check_stream_data(data: StreamData, n_query: int = 20, source: str = "the data") -> None:
    """A ValueError that says what to change when ``data`` cannot give the experiment: fewer than 2
    intents in meta-train, meta-val or the test streams, or an intent with too few examples (a
    meta-val or test stream gives each intent 1 example and ``n_query`` test utterances; OML's
    meta-training draws 1 + min(5, n_query) from each meta-train intent)."""
    sizes = {part: len(ids) for part, ids in data.classes.items()}
    if min(sizes.values()) < 2:
        counts = ", ".join(f"{sizes[p]} {PARTS[p]}" for p in PARTS)
        raise ValueError(f"{source}: {counts} intents; the experiment needs at least 2 in each (OML trains on "
                         "meta-train, meta-val chooses every learner's settings, the test streams measure): add "
                         "intents (a file's are split at random, half, a sixth and a third: at least 9 intents)")
    counts = torch.bincount(data.labels, minlength=len(data.class_names))
    need = {"train": 1 + min(5, n_query), "val": 1 + n_query, "test": 1 + n_query}
    short = [(int(counts[c]), part, c) for part, ids in data.classes.items() for c in ids if counts[c] < need[part]]
    if short:
        have, part, c = min(short)
        limits = [int(counts[k]) - 1 for p, ids in data.classes.items() for k in ids if p != "train" or counts[k] < 6]
        fix = f"lower n_query to at most {min(limits)}, or add" if min(limits) >= 1 else "add"
        raise ValueError(f"{source}: {len(short)} intent(s) have too few examples, the fewest {data.class_names[c]!r} "
                         f"({PARTS[part]}) with {have}; a stream gives each intent 1 example and n_query = {n_query} "
                         f"test utterances (OML's meta-training 1 + {min(5, n_query)}), so it needs {need[part]}: "
                         f"{fix} examples of those intents")


def learner_names(joint: bool = False) -> list[str]:
    """The learners of :func:`run_experiment`, in order: without names, then with names."""
    base = ["nearest class mean", *HEADS, "OML", "supervised adapter"] + ["joint bound (offline)"] * joint
    return base + [name + NAMES for name in base]


def run_experiment(data: str | StreamData = "clinc150", *, n_streams: int = 20, oml_steps: int = 150, seed: int = 0,
                   first: int = 10, n_query: int = 20, joint: bool = False, show_progress: bool = True,
                   source: str | None = None, twin_free: bool = False) -> StreamExperiment:
    """Notebook 07's experiment on ``data`` (a name or file of :func:`load_experiment_data`, or
    :class:`~metanlp_lite.continual.StreamData`): every learner of :func:`learner_names`, each
    chosen on 3 meta-val streams (seed + 1000 on) with the information it will have, then run on
    ``n_streams`` test streams (seeds seed, seed + 1, ...) of all the test intents, 1 example each
    and ``n_query`` test utterances. OML and the supervised adapter: ``oml_steps`` steps from
    Proto-MAML init's chosen step size (notebook 07's settings otherwise). first: the retention's
    intents (at most all test intents but one). joint: also the joint bound (scored at ``first`` and
    at the end only). twin_free: also every learner on streams with the same seeds drawn without the
    test rows that have a twin in meta-train or meta-val, or repeat an earlier row of their intent
    (:func:`~metanlp_lite.leakage.twin_free_labels`). Raises ValueError, saying what to change (:func:`check_settings`,
    :func:`check_stream_data`). Progress and the choices go to stderr with ``show_progress``."""
    check_settings(n_streams, oml_steps, n_query)
    d = data if isinstance(data, StreamData) else load_experiment_data(data, seed=seed, show_progress=show_progress)
    source = source or (str(data) if isinstance(data, str) else "the data")
    check_stream_data(d, n_query, source)
    say: Callable[[str], Any] = (lambda text: print(text, file=sys.stderr)) if show_progress else (lambda text: None)
    say(f"{source}: " + ", ".join(f"{len(d.classes[p])} {PARTS[p]}" for p in PARTS) + " intents")
    first = min(first, len(d.classes["test"]) - 1)
    chosen: dict[str, dict[str, float]] = {}
    val_scores: dict[str, dict[tuple, float]] = {}

    def choose(key: str, make: Callable[..., cl.Learner], grid: dict[str, tuple[float, ...]]) -> None:
        chosen[key], val_scores[key] = cl.choose_on_val(make, d, grid, seed=seed + 1000, n_query=n_query,
                                                        use_names=key.endswith(NAMES))
        best = val_scores[key][tuple(chosen[key].values())]
        say(f"{key}: chosen on meta-val {chosen[key] or '(nothing to choose)'}, {best:.1f} %")

    for suffix in ("", NAMES):
        choose("nearest class mean" + suffix, lambda **h: cl.RunningPrototypes(), {})
        for head, kw in HEADS.items():
            choose(head + suffix, lambda kw=kw, **h: cl.OnlineHead(**kw, **h), GRID)
    bodies = {"OML": RepresentationNet(lr=chosen["Proto-MAML init"]["lr"], seed=seed),
              "supervised adapter": RepresentationNet(lr=chosen["Proto-MAML init"]["lr"], seed=seed)}
    train = meta_train_oml, train_adapter_supervised
    logs = {key: fit(body, d.features, d.labels, d.classes["train"], d.classes["val"], steps=oml_steps, seed=seed,
                     n_query=min(5, n_query), show_progress=show_progress)
            for (key, body), fit in zip(bodies.items(), train)}
    for key, body in bodies.items():
        say(f"{key}: meta-val {logs[key].val[0]:.1f} % at step 0, best {max(logs[key].val):.1f} % at step "
            f"{logs[key].best_step} (kept); step size {body.log_lr.exp().item():.4f}")
        choose(key, lambda body=body, **h: OML(body, **h), {"steps": (1,)})   # the meta-learned step size
        choose(key + NAMES, lambda body=body, **h: OML(body, **h), GRID)
    if joint:
        for suffix in ("", NAMES):
            choose("joint bound (offline)" + suffix, lambda **h: cl.JointHead(**h), L2_GRID)

    def maker(name: str) -> Callable[[], cl.Learner]:
        base, h = name.removesuffix(NAMES), chosen[name]
        if base == "nearest class mean":
            return cl.RunningPrototypes
        if base in HEADS:
            return lambda: cl.OnlineHead(**HEADS[base], **h)
        if base in bodies:
            return lambda: OML(bodies[base], **h)
        return lambda: cl.JointHead(**h)

    streams = [cl.make_stream(d.labels, d.classes["test"], n_query=n_query, seed=seed + i) for i in range(n_streams)]
    C = len(d.classes["test"])
    runs = {name: cl.run_streams(maker(name), d, streams, use_names=name.endswith(NAMES),
                                 score_at=(first, C) if name.startswith("joint") else None)
            for name in learner_names(joint)}
    clean_runs, twins = None, (0, 0)
    if twin_free:
        labels, *twins = twin_free_labels(d.features, d.texts, d.labels, d.classes["test"],
                                          d.classes["train"] + d.classes["val"])
        clean = [cl.make_stream(labels, d.classes["test"], n_query=n_query, seed=seed + i) for i in range(n_streams)]
        clean_runs = {name: cl.run_streams(maker(name), d, clean, use_names=name.endswith(NAMES),
                                           score_at=(first, C) if name.startswith("joint") else None)
                      for name in learner_names(joint)}
    return StreamExperiment(runs, chosen, val_scores, logs, d.classes, first, clean_runs, tuple(twins))


def update_latency(runs: list[StreamRun]) -> tuple[float, float]:
    """The median and the 95th percentile (ms) of a learner's update times, every example of every
    stream together (``StreamRun.update_ms``: (E,) each)."""
    ms = torch.cat([r.update_ms for r in runs]).double()
    return ms.median().item(), torch.quantile(ms, 0.95).item()


def _final(runs: list[StreamRun]) -> Tensor:
    """(S,): each stream's accuracy over all intents at the end."""
    return cl.average_accuracy(torch.stack([r.acc for r in runs]))[:, -1]


def report(exp: StreamExperiment, source: str = "") -> str:
    """The experiment's tables: :func:`~metanlp_lite.continual.summarize` without names (against
    nearest class mean) and with names (against nearest class mean + names); the paired difference
    of each learner's final accuracy from nearest class mean with the same information (95%
    interval over the streams, Student's t); the update latency (median and 95th percentile)."""
    runs, first = exp.runs, exp.first
    S, C = len(next(iter(runs.values()))), len(exp.classes["test"])
    lines = [f"{source + ': ' if source else ''}{S} test streams of {C} intents, 1 example each; 95% intervals over the "
             "streams (Student's t)", ""]
    for suffix in ("", NAMES):
        lines += [cl.summarize({n: r for n, r in runs.items() if n.endswith(NAMES) == bool(suffix)},
                               "nearest class mean" + suffix, first), ""]
    lines.append("final accuracy minus nearest class mean's with the same information (paired over the streams):")
    for name, rs in runs.items():
        base = "nearest class mean" + (NAMES if name.endswith(NAMES) else "")
        if name != base:
            m, h = mean_ci95_t(_final(rs) - _final(runs[base]))
            lines.append(f"  {name:>36}: {round(m, 2) + 0.0:+6.2f} ± {h:.2f} points")
    lines += ["", "time to absorb one example (its embedding given; with names, an intent's first example and its name "
                  "together), all examples of all streams:"]
    for name, rs in runs.items():
        if not name.startswith("joint"):   # the joint bound refits when scored, not when it learns
            med, p95 = update_latency(rs)
            lines.append(f"  {name:>36}: median {med:6.3f} ms, 95th percentile {p95:6.3f} ms")
    return "\n".join(lines)


RESULTS = "continual_datasets.pt"   # benchmarks/continual_datasets.py's runs, shipped in metanlp_lite/results/


def to_record(exp: StreamExperiment, config: dict[str, Any]) -> dict[str, Any]:
    """A compact record of ``exp`` for the results file: ``{"config": config + split sizes and first,
    "classes": {...}, "learners": {name: {"acc": (S, C, C) float16 (accuracies in percent: with 20
    test utterances multiples of 5, exact), "chosen": {...}, "val_scores": [[*values, accuracy %], ...],
    "update_ms": (median, 95th percentile), "state_bytes": int}}, "training": {"OML", "supervised
    adapter": {"checked": [...], "val": [...], "best_step": int, "seconds": float}}}``."""
    learners = {name: {"acc": torch.stack([r.acc for r in rs]).half(), "chosen": dict(exp.chosen[name]),
                       "val_scores": [[*values, score] for values, score in exp.val_scores[name].items()],
                       "update_ms": update_latency(rs), "state_bytes": rs[-1].state_bytes}
                for name, rs in exp.runs.items()}
    training = {key: {"checked": log.checked, "val": log.val, "best_step": log.best_step, "seconds": log.seconds}
                for key, log in exp.logs.items()}
    for name, rs in (exp.clean_runs or {}).items():
        learners[name]["acc_twin_free"] = torch.stack([r.acc for r in rs]).half()
    sizes = {part: len(ids) for part, ids in exp.classes.items()}
    return {"config": {**config, "sizes": sizes, "first": exp.first, "twins_removed": exp.twins[0],
                       "repeats_removed": exp.twins[1]}, "classes": exp.classes, "learners": learners, "training": training}


def load_dataset_results(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The stored runs of ``benchmarks/continual_datasets.py``: {dataset: :func:`to_record`'s record},
    for "banking77" and "clinc150-domains", each learner's ``acc`` as (S, C, C) float32."""
    from importlib.resources import files

    path = Path(str(files("metanlp_lite") / "results" / RESULTS)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/continual_datasets.py` to make the "
                                "runs (a few minutes on 2 cores), or reinstall metanlp-lite")
    stored = torch.load(path, weights_only=True)
    for record in stored.values():
        for learner in record["learners"].values():
            learner["acc"] = learner["acc"].float()
            if "acc_twin_free" in learner:
                learner["acc_twin_free"] = learner["acc_twin_free"].float()
    return stored


def results_table(record: dict[str, Any]) -> str:
    """One stored dataset's table: each learner's meta-val score (at its chosen settings), final
    accuracy over all test intents, the first intents' accuracy when the last of them has arrived
    and their retention at the end (the first ``record["config"]["first"]``),
    and the paired difference of its final accuracy from nearest class mean's *with the same
    information* (with names if it has them), each the mean over the streams with a 95% interval
    (Student's t); then the learner meta-val picks, with and without names."""
    first, learners = record["config"]["first"], record["learners"]
    finals = {name: cl.average_accuracy(v["acc"])[:, -1] for name, v in learners.items()}
    val = {name: max(row[-1] for row in v["val_scores"]) for name, v in learners.items() if v["val_scores"]}
    w = max(len(n) for n in learners)
    lines = [f"{'learner':>{w}} {'meta-val %':>10} {'final, all %':>14} {f'first {first}: at t = {first}':>20} "
             f"{'retention %':>13} {'minus nearest class mean, same information':>44}"]
    for name, v in learners.items():
        base = "nearest class mean" + (NAMES if name.endswith(NAMES) else "")
        (m, h), (mk, hk) = mean_ci95_t(finals[name]), mean_ci95_t(cl.retention(v["acc"], first))
        m10, h10 = mean_ci95_t(v["acc"][:, first - 1, :first].mean(-1))
        d, hd = mean_ci95_t(finals[name] - finals[base]) if name != base else (0.0, 0.0)
        diff = f"{round(d, 2) + 0.0:+6.2f} ± {hd:4.2f}" if name != base else ""
        score = f"{val[name]:5.1f}" if name in val else "–"
        lines.append(f"{name:>{w}} {score:>10} {f'{m:5.1f} ± {h:3.1f}':>14} {f'{m10:5.1f} ± {h10:3.1f}':>20} "
                     f"{f'{mk:5.1f} ± {hk:3.1f}':>13} {diff:>44}")
    for names in (False, True):    # the online learners: the joint bound is not one
        pool = [n for n in val if n.endswith(NAMES) == names and not n.startswith("joint bound")]
        best = max(pool, key=val.get)
        lines.append(f"meta-val picks, {'with' if names else 'without'} names: {best} ({val[best]:.1f} %)")
    return "\n".join(lines)


def twin_free_table(record: dict[str, Any]) -> str:
    """The stored runs on twin-free test streams (``acc_twin_free``: the same seeds, without the
    test rows that have a twin in meta-train or meta-val or repeat their intent's earlier rows): how
    many rows that leaves out, then each learner's final accuracy and its paired difference from
    nearest class mean's with the same information, on those streams and on the plain ones."""
    cfg, learners = record["config"], record["learners"]
    final = {key: {n: cl.average_accuracy(v[key])[:, -1] for n, v in learners.items()} for key in ("acc", "acc_twin_free")}
    w = max(len(n) for n in learners)
    lines = [f"twin-free test streams: {cfg['twins_removed']} test rows with a twin in meta-train or meta-val and "
             f"{cfg['repeats_removed']} repeats within an intent left out",
             f"{'learner':>{w}} {'final, twin-free %':>19} {'minus nearest class mean, same information':>44} {'(plain streams)':>18}"]
    for name in learners:
        base = "nearest class mean" + (NAMES if name.endswith(NAMES) else "")
        m, h = mean_ci95_t(final["acc_twin_free"][name])
        cells = [mean_ci95_t(final[k][name] - final[k][base]) if name != base else None for k in ("acc_twin_free", "acc")]
        diff, plain = (f"{round(c[0], 2) + 0.0:+6.2f} ± {c[1]:4.2f}" if c else "" for c in cells)
        lines.append(f"{name:>{w}} {f'{m:5.1f} ± {h:3.1f}':>19} {diff:>44} {plain:>18}")
    return "\n".join(lines)
