"""One reproducible number of notebook 04, and the command line that prints it.

- :func:`run`: from a dataset name (or a CSV/JSONL file) to a result: load the data, build
  the pools, meta-train the method if it needs it, evaluate it on seeded meta-test episodes;
  returns mean, ci95 (percent), the settings, the step chosen, the seconds taken.
- :func:`command`: the shell command that reproduces one number of :func:`run`, as notebook 04
  (section 6) prints under its tables.
- :func:`main`: ``python -m metanlp_lite.fewshot --data ... --method ...``, which prints
  :func:`run`'s result as one JSON line on stdout (progress bars on stderr).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

from ..stats import mean_ci95, mean_ci95_t
from .features import ENCODERS, make_pools
from .methods import LAYER_METHODS, METHODS
from .training import STEPS, evaluate_method, train_for

__all__ = ["SPLITS", "run", "command", "main"]


def run(data: str, method: str, encoder: str = "minilm", *, split: str | None = None,
        test_data: str | None = None, test_split: str | None = None, n_way: int = 5, k_shot: int = 1,
        n_query: int | None = None, episodes: int = 600, label_names: bool = False, seed: int = 0,
        budget: str = "full", steps: int | None = None, show_progress: bool = True,
        **overrides: Any) -> dict[str, Any]:
    """Meta-train (if the method needs it) and evaluate; returns the result as a dict.

    data: "clinc150", "banking77" or a CSV/JSONL path; split: its class split (see
    :func:`~metanlp_lite.data.class_splits`). test_data: meta-test on another dataset's test
    classes (e.g. meta-train on CLINC150, meta-test on BANKING77). Keys of the result: mean,
    ci95 (percent), episodes, settings, best_step, val_acc, seconds. ``split="all"``: the field's
    protocol, each of the five published class splits 01-05 in turn; the result's mean and ci95
    are then over the five splits' means (Student's t, 4 degrees of freedom), and ``per_split``
    holds each split's result. overrides: hyper-parameters (e.g. ``rank=8`` for ``lora``).

    Episodes: every one is ``n_way``-way, on meta-training and meta-val as on meta-test.
    n_query: the queries per class of every episode, meta-training's and meta-val's too; None
    (the default): 15 on meta-test and meta-val and the method's own on meta-training (15, or 5
    on ``minilm-block``), notebook 04's settings. k_shot: the meta-test's shots; meta-training
    and meta-val draw the method's own (1- and 5-shot episodes unless ``train_shots``/``val_shots``
    are overridden), so that one model serves every K, as in notebook 04. Episodes that a pool's
    smallest class cannot fill (K+Q utterances) raise ValueError naming the pool and what fits.
    """
    from ..data import load_intents

    if split == "all":
        return _run_all_splits(data, method, encoder, test_data=test_data, test_split=test_split, n_way=n_way,
                               k_shot=k_shot, n_query=n_query, episodes=episodes, label_names=label_names,
                               seed=seed, budget=budget, steps=steps, show_progress=show_progress, **overrides)
    start = time.perf_counter()
    if method not in METHODS + LAYER_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS + LAYER_METHODS)}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    pools = make_pools(load_intents(data), encoder, split, seed=seed, show_progress=show_progress)
    n_val = len(pools["val"].classes)
    if n_val < n_way and method != "ncm":
        fix = f"lower n_way to {n_val} or use" if n_val >= 2 else "use"
        raise ValueError(f"meta-val has {n_val} classes, fewer than n_way={n_way}: {fix} a split with more classes")
    model, log = train_for(method, encoder, pools, n_way=n_way, n_query=n_query, budget=budget, seed=seed,
                           steps=steps, show_progress=show_progress, **overrides)
    test = pools["test"] if test_data is None else make_pools(
        load_intents(test_data), encoder, test_split, seed=seed, show_progress=show_progress)["test"]
    test_query = 15 if n_query is None else n_query
    accs = evaluate_method(model, test, n_way=n_way, k_shot=k_shot, n_query=test_query, episodes=episodes,
                           label_names=label_names, seed=seed, show_progress=show_progress)
    mean, ci = mean_ci95(accs)
    settings = {"data": str(data), "split": split, "test_data": test_data, "test_split": test_split,
                "method": method, "encoder": encoder, "label_names": label_names, "n_way": n_way,
                "k_shot": k_shot, "n_query": test_query, "episodes": episodes, "seed": seed, "budget": budget,
                "train_steps": (log.steps[-1] if log.steps else 0) if model.needs_training else 0,
                **{k: (list(v) if isinstance(v, tuple) else v) for k, v in overrides.items()}}
    return {"mean": round(mean, 2), "ci95": round(ci, 2), "settings": settings,
            "best_step": log.best_step, "val_acc": None if math.isnan(log.best_val) else round(log.best_val, 2),
            "n_classes": {p: len(pools[p].classes) for p in ("train", "val")} | {"test": len(test.classes)},
            "seconds": round(time.perf_counter() - start, 1)}


SPLITS = ("01", "02", "03", "04", "05")   # the published class splits (ProtAugment's, Dopierre et al., 2021)


def _run_all_splits(data: str, method: str, encoder: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`run` on each split of :data:`SPLITS`; mean and t-interval over the splits' means."""
    start = time.perf_counter()
    per_split = {s: run(data, method, encoder, split=s, **kwargs) for s in SPLITS}
    mean, ci = mean_ci95_t([r["mean"] for r in per_split.values()])
    settings = {**per_split[SPLITS[0]]["settings"], "split": "all"}
    return {"mean": round(mean, 2), "ci95": round(ci, 2), "settings": settings,
            "per_split": {s: {k: r[k] for k in ("mean", "ci95", "best_step", "val_acc", "n_classes", "seconds")}
                          for s, r in per_split.items()},
            "seconds": round(time.perf_counter() - start, 1)}


def command(method: str, encoder: str, data: str, *, split: str | None = None, test_data: str | None = None,
            k_shot: int = 1, label_names: bool = False, episodes: int = 600, seed: int = 0,
            budget: str = "full", n_way: int = 5) -> str:
    """The shell command that reproduces one number of :func:`run`."""
    parts = ["python -m metanlp_lite.fewshot", f"--data {data}"]
    if split:
        parts.append(f"--split {split}")
    if test_data:
        parts.append(f"--test-data {test_data}")
    parts += [f"--method {method}", f"--encoder {encoder}"]
    if label_names:
        parts.append("--label-names")
    parts += [f"--n-way {n_way}", f"--k-shot {k_shot}", f"--episodes {episodes}", f"--seed {seed}"]
    if budget != "full":
        parts.append(f"--budget {budget}")
    return " ".join(parts)


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``, with a clear message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a number >= {low}, got {value}")
        return value

    return parse


_positive_int, _nonnegative_int = _int_at_least(1), _int_at_least(0)


def main(argv: list[str] | None = None) -> int:
    """``python -m metanlp_lite.fewshot ...``: one JSON line on stdout, progress on stderr."""
    from ..data import DATASETS

    parser = argparse.ArgumentParser(
        prog="python -m metanlp_lite.fewshot",
        description="Meta-train a few-shot text classifier (if the method needs it) and evaluate it on "
                    "meta-test episodes; prints one JSON line with mean and ci95 (percent).")
    parser.add_argument("--data", required=True, help=f"{', '.join(DATASETS)}, or a .csv/.jsonl file of text and label")
    parser.add_argument("--split", default=None, help="class split: domains (CLINC150, its default), "
                        "01..05 (published splits; BANKING77's default is 01), all (each of 01..05, and the "
                        "mean over them: the field's protocol) or random (a file's default)")
    parser.add_argument("--test-data", default=None, help="meta-test on this dataset's test classes instead "
                        "(cross-domain, e.g. --data clinc150 --test-data banking77)")
    parser.add_argument("--test-split", default=None, help="the class split of --test-data")
    parser.add_argument("--method", required=True, choices=METHODS + LAYER_METHODS)
    parser.add_argument("--encoder", default="minilm", choices=ENCODERS)
    parser.add_argument("--label-names", action="store_true", help="add each class's name to its support set")
    parser.add_argument("--n-way", type=_positive_int, default=5)
    parser.add_argument("--k-shot", type=_positive_int, default=1)
    parser.add_argument("--n-query", type=_positive_int, default=None,
                        help="queries per class of every episode: meta-training's, meta-val's and meta-test's "
                             "(default: 15, but meta-training keeps the method's own: 5 with --encoder minilm-block)")
    parser.add_argument("--episodes", type=_positive_int, default=600, help="meta-test episodes (>= 2)")
    parser.add_argument("--seed", type=_nonnegative_int, default=0)
    parser.add_argument("--budget", choices=sorted(STEPS), default="full",
                        help=f"meta-training length: quick ({STEPS['quick']} steps, the notebook's default run), "
                             f"full ({STEPS['full']} steps) or early (until meta-val stops improving, "
                             f"at most {STEPS['early']} steps)")
    parser.add_argument("--steps", type=_nonnegative_int, default=None, help="meta-training steps (overrides --budget)")
    parser.add_argument("--lora-rank", type=_positive_int, default=None,
                        help="--method lora: the rank r of the low-rank fast weights (default 4)")
    parser.add_argument("--lora-targets", default=None,
                        help="--method lora: the layer's weights that get fast weights, comma-separated "
                             "(default attention.self.query,attention.self.value)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.lora_rank is not None or args.lora_targets is not None:
        if args.method != "lora":
            parser.error(f"--lora-rank and --lora-targets are for --method lora, not --method {args.method}")
        if args.lora_rank is not None:
            overrides["rank"] = args.lora_rank
        if args.lora_targets is not None:
            overrides["targets"] = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    if args.n_way < 2:
        parser.error(f"argument --n-way: a task needs at least 2 classes, got {args.n_way}")
    if args.episodes < 2:
        parser.error(f"argument --episodes: an interval needs at least 2 episodes, got {args.episodes}")
    try:
        result = run(args.data, args.method, args.encoder, split=args.split, test_data=args.test_data,
                     test_split=args.test_split, n_way=args.n_way, k_shot=args.k_shot, n_query=args.n_query,
                     episodes=args.episodes, label_names=args.label_names, seed=args.seed, budget=args.budget,
                     steps=args.steps, show_progress=not args.quiet, **overrides)
    except (ValueError, FileNotFoundError) as err:     # the data or the settings: one line, no usage, no traceback
        message = _as_flags(str(err)) if isinstance(err, ValueError) else str(err)
        parser.exit(2, f"{parser.prog}: error: {' '.join(message.splitlines())}\n")
    print(json.dumps(result), flush=True)
    return 0


_FLAGS = re.compile(r"\b(n_way|k_shot|n_query)\b")   # run's keywords that are flags of the command line


def _as_flags(message: str) -> str:
    """An error of :func:`run` as the command line says it: ``n_query`` becomes ``--n-query``
    (and ``k_shot``, ``n_way``): run's keywords are the command line's flags."""
    return _FLAGS.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)
