"""OML and its two controls over 3 training seeds and a longer budget (notebook 07, section 6's limits).

    python benchmarks/continual_oml_seeds.py [--seeds 0 1 2] [--steps 600] [--eval-every 25] [--streams 20] [--out PATH]

Notebook 07 trains OML (:func:`metanlp_lite.oml.meta_train_oml`) and its control without episodes
(:func:`~metanlp_lite.oml.train_adapter_supervised`) once each, 150 steps, and OML's meta-val was
still rising at the end. Here, on the notebook's data (CLINC150, its seed-0 split of the intents:
75 meta-train, 25 meta-val, 50 test), for each training seed s, three trainers of the same adapter
``RepresentationNet(lr=0.003, seed=s)`` (the step size section 4 chose for Proto-MAML init), each
``--steps`` steps with the same budget per step (960 meta-train utterances), meta-val every
``--eval-every`` steps, the best step kept:

- "OML": :func:`~metanlp_lite.oml.meta_train_oml`;
- "supervised adapter": :func:`~metanlp_lite.oml.train_adapter_supervised` (no episodes);
- "ProtoNet adapter": :func:`~metanlp_lite.oml.train_adapter_protonet` (OML's episodes, the same ones
  for the same seed, as a ProtoNet: no online step).

There is no early stop: "trained until meta-val stops rising" is read off the stored meta-val curves
(the best step before the end of the budget). Each adapter is then run on notebook 07's 20 test
streams (``make_stream(..., k_shot=1, n_query=20, seed=i)``, i = 0..19): as ``OML(body, steps=1)``
without names, and as nearest class mean on its representation
(:class:`~metanlp_lite.oml.PrototypesOn`) without and with the intents' names; the references,
nothing trained, run once: nearest class mean and Proto-MAML init (``OnlineHead(init="prototype",
...)``, its step size and steps chosen from ``continual.GRID`` on 3 meta-val streams, as notebook 07
does: without names 0.003 and 1 step, with names 0.001 and 5 steps), without and with names.

Stores each learner's final accuracy (all test intents, at the end) and retention (first 10
intents) per seed and stream, the meta-val curves, best steps, losses, the configuration, the CPU
and the wall time in ``metanlp_lite/results/continual_oml_seeds.pt`` (tens of KB), and prints
:func:`metanlp_lite.oml.oml_seeds_table`. Cost (2026-12-08, 2 shared cores, one thread): printed at
the end and stored under ``"wall_s"``.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
import platform
import sys
import time
from pathlib import Path

import torch

from metanlp_lite import continual as cl
from metanlp_lite.leakage import twin_free_labels
from metanlp_lite.oml import (OML, OML_SEEDS_RESULTS, TRAINERS, PrototypesOn, RepresentationNet, load_oml_seeds,
                              meta_train_oml, oml_seeds_table, train_adapter_protonet, train_adapter_supervised)

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / OML_SEEDS_RESULTS
FIT = dict(zip(TRAINERS, (meta_train_oml, train_adapter_supervised, train_adapter_protonet)))
LR, FIRST, N_QUERY = 0.003, 10, 20


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def scores(make, data: cl.StreamData, streams: list[cl.Stream], use_names: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(final accuracy over all intents at the end, retention of the first FIRST intents): (streams,) each."""
    acc = torch.stack([r.acc for r in cl.run_streams(make, data, streams, use_names=use_names)])
    return cl.average_accuracy(acc)[:, -1], cl.retention(acc, FIRST)


def setup(description: str, out: Path) -> tuple[argparse.Namespace, cl.StreamData, list[cl.Stream], Callable[[str], None]]:
    """The seeds benchmarks' command line (--seeds, --steps, --eval-every, --streams, --out), one thread,
    notebook 07's CLINC150 data and its test streams, and a timestamped logger to stderr
    (benchmarks/continual_oml_paper.py uses it too)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {text}", file=sys.stderr, flush=True)

    data = cl.load_stream_data("clinc150", seed=0, show_progress=False)
    streams = [cl.make_stream(data.labels, data.classes["test"], k_shot=1, n_query=N_QUERY, seed=i)
               for i in range(args.streams)]
    return args, data, streams, say


def save_and_print(stored: dict, out: Path, table: Callable[[Path], str], cpu: str) -> None:
    """Store the runs in ``out``, then print ``table(out)`` (read back from the file) and the wall time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(stored, out)
    print(table(out))
    print(f"\nwall time {stored['wall_s']:.0f} s on {cpu} (one thread); {out} ({out.stat().st_size / 1024:.0f} KiB)")


def main() -> None:
    start = time.perf_counter()
    args, data, streams, say = setup(__doc__.splitlines()[0], OUT)
    # the same stream seeds without the test rows that have a twin in meta-train or meta-val or repeat their intent's
    labels_tf, n_twins, n_repeats = twin_free_labels(data.features, data.texts, data.labels, data.classes["test"],
                                                     data.classes["train"] + data.classes["val"])
    streams_tf = [cl.make_stream(labels_tf, data.classes["test"], k_shot=1, n_query=N_QUERY, seed=i)
                  for i in range(args.streams)]
    names = [*TRAINERS] + [f"nearest class mean on h ({t})" for t in TRAINERS] + \
        [f"nearest class mean on h ({t}) + names" for t in TRAINERS]
    rows: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {n: [] for n in names}
    rows_tf: dict[str, list[torch.Tensor]] = {n: [] for n in names}     # final accuracy on the twin-free streams
    training = {t: {"checked": [], "val": [], "best_step": [], "seconds": [], "losses": [], "step_size": []} for t in TRAINERS}
    for seed in args.seeds:
        for trainer, fit in FIT.items():
            body = RepresentationNet(lr=LR, seed=seed)
            log = fit(body, data.features, data.labels, data.classes["train"], data.classes["val"], steps=args.steps,
                      eval_every=args.eval_every, seed=seed, show_progress=False)
            for key, value in (("checked", log.checked), ("val", log.val), ("best_step", log.best_step),
                               ("seconds", log.seconds), ("losses", log.losses), ("step_size", body.log_lr.exp().item())):
                training[trainer][key].append(value)
            say(f"seed {seed}, {trainer}: meta-val {log.val[0]:.2f} -> best {max(log.val):.2f} at step {log.best_step} "
                f"of {args.steps}, last {log.val[-1]:.2f} ({log.seconds:.0f} s)")
            rows[trainer].append(scores(lambda: OML(body, steps=1), data, streams, False))
            rows_tf[trainer].append(scores(lambda: OML(body, steps=1), data, streams_tf, False)[0])
            for suffix, use_names in (("", False), (" + names", True)):
                rows[f"nearest class mean on h ({trainer}){suffix}"].append(
                    scores(lambda: PrototypesOn(body), data, streams, use_names))
                rows_tf[f"nearest class mean on h ({trainer}){suffix}"].append(
                    scores(lambda: PrototypesOn(body), data, streams_tf, use_names)[0])
    learners = {name: {"final": torch.stack([f for f, _ in r]), "retention": torch.stack([k for _, k in r]),
                       "final_twin_free": torch.stack(rows_tf[name]),
                       "trainer": next(t for t in TRAINERS if t in name), "names": name.endswith(" + names")}
                for name, r in rows.items()}
    chosen = {}     # Proto-MAML init's step size and steps, chosen on meta-val as notebook 07 does (with names: with them)
    for suffix, use_names in (("", False), (" + names", True)):
        chosen["Proto-MAML init" + suffix], _ = cl.choose_on_val(lambda **h: cl.OnlineHead(init="prototype", **h), data,
                                                                  cl.GRID, seed=1000, use_names=use_names)
        references = {"nearest class mean": cl.RunningPrototypes,
                      "Proto-MAML init": lambda: cl.OnlineHead(init="prototype", **chosen["Proto-MAML init" + suffix])}
        for name, make in references.items():
            final, kept = scores(make, data, streams, use_names)
            learners[name + suffix] = {"final": final[None], "retention": kept[None], "trainer": None, "names": use_names,
                                       "final_twin_free": scores(make, data, streams_tf, use_names)[0][None]}
    say("test streams done")
    for log in training.values():
        log["checked"] = log["checked"][0]
        log["val"] = torch.tensor(log["val"], dtype=torch.float32)
        log["losses"] = torch.tensor(log["losses"], dtype=torch.float32)
    config = {"dataset": "clinc150", "split_seed": 0, "twins_removed": n_twins, "repeats_removed": n_repeats, "seeds": args.seeds, "steps": args.steps,
              "eval_every": args.eval_every, "n_streams": args.streams, "n_query": N_QUERY, "k_shot": 1, "first": FIRST,
              "n_test_intents": len(data.classes["test"]), "step_size_init": LR,
              "trainer_settings": {"meta_batch": 8, "n_classes": 20, "k_shot": 1, "n_query": 5, "batch": 960, "lr": 1e-4,
                                   "weight_decay": 1e-2, "scale": 10.0, "init": "prototype", "val_streams": 5},
              "test_learners": {"adapters": "OML(body, steps=1); PrototypesOn(body), without and with names",
                                "Proto-MAML init": "OnlineHead(init='prototype', lr, steps): lr and steps chosen on 3 "
                                                   "meta-val streams from continual.GRID, with names for + names"},
              "chosen": chosen,
              "cpu": cpu_model(), "torch": str(torch.__version__), "threads": 1}
    stored = {"config": config, "training": training, "learners": learners, "wall_s": time.perf_counter() - start}
    save_and_print(stored, args.out, lambda path: oml_seeds_table(load_oml_seeds(path)), config["cpu"])


if __name__ == "__main__":
    main()
