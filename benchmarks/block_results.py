"""Meta-learning inside MiniLM's last layer against the frozen encoder, on the field's protocol.

    python benchmarks/block_results.py [--only SETTING ...] [--seeds 0 1 2] [--episodes 600]

Notebook 05 reports these numbers: it reads ``metanlp_lite/results/block_results.json``, shipped
with the package, and its default run re-measures one of them. Every method is scored on the
same seeded meta-test episodes as notebook 04 (5-way 1-shot, 15 queries a class, 600 episodes,
episode seed 0), so differences are paired; every trained method is trained with three seeds
(0, 1, 2), so intervals can include the variation between training runs.

Training: the ``early`` budget (:data:`~metanlp_lite.fewshot.training.STEPS` and
``PATIENCE``): meta-val is checked every 20 steps and training stops once 3 checks in a row
have not beaten the best (at most 200 steps); the best checkpoint is kept. One selection rule for
every side: meta-val episodes have the meta-test's shape, 5-way 1-shot, for the frozen encoder's
ProtoNet (``val_shots=(1,)``) as for the Transformer layer (``minilm-block``).

- ``banking77-01`` ... ``banking77-05`` (BANKING77's five published class splits) and
  ``clinc150-domains`` (CLINC150's held-out domains): nearest class mean and notebook 04's
  ProtoNet on frozen embeddings (``minilm``), against ProtoNet with the layer trained
  (``minilm-block``), without and with label names; centred nearest class mean (``minilm/centred``:
  the embeddings minus the split's mean meta-train embedding, no training); and the control without episodes,
  fine-tuning the layer (``minilm-block/finetune``): ordinary cross-entropy over all meta-train
  intents, 160 utterances a step (ProtoNet's average), then a fresh head per task. Frozen ProtoNet
  also on the layer's episodes (``minilm/protonet/b4q5``: 4 a step, 5 queries a class, instead of
  notebook 04's 16 of 15; ``train_for(train_queries=5)``), so that the two differ only in what is
  trained (``--methods minilm/protonet/b4q5``: about a minute).
- ``banking77-01-long`` ... ``banking77-05-long`` and ``clinc150-domains-long``: ProtoNet on the
  layer and the layer fine-tuned without episodes, 3 seeds, at most 600 steps (``/cap600``) with the
  same patience: do the runs that the 200-step cap stopped go on improving, and does either verdict
  move? (About 50 minutes for the six on 2 CPU cores, as two processes.)
- ``banking77-01-lr``: ProtoNet on the layer with an outer learning rate of 1e-4 instead of
  3e-5 (seed 0, split 01), to see on meta-val whether a faster rate converges within the cap.
- ``banking77-01-order``: Proto-MAML whose inner loop adapts the layer (separate, meta-learned
  step sizes for head and layer), first and second order, BANKING77 split 01, without names,
  the first 200 of the 600 episodes, at most 100 steps; the references (nearest class mean,
  frozen ProtoNet, ProtoNet with the layer trained, trained as above) on the same 200 episodes,
  and ProtoNet with the layer trained for at most 100 steps too (``minilm-block/protonet/cap100``:
  matched steps); MAML and first-order MAML through the layer (a zero head, two inner steps
  on head and layer), at most 100 steps too (``--only banking77-01-order --methods
  minilm-block/fomaml minilm-block/maml``: about 45 minutes, one process a method on 2 cores); and
  the control without episodes at the same cap (``minilm-block/finetune/cap100``: about 5 minutes). Each Proto-MAML run also stores the scores of its checkpoints at steps 20 and
  80 (``at_step``: first and second order compared at the same steps, not only at their kept
  ones), its meta-learned step sizes (``step_sizes``), and its scores with the layer's step
  size set to 0 at test time (``no_names_layer_step_0``: the same model and episodes, the head
  alone adapted): what the layer's inner step changes, paired.
  Proto-MAML adapts the layer per task, so each episode runs its own copy of the layer (about
  10x the cost of ProtoNet's); its five splits are left to the command line.

Writes the JSON after every method (each episode's number of correct queries, out of 75, per
seed), so an interrupted run keeps what it measured. About three hours on 2 CPU cores for every
setting, run as two processes (``--only``; they share the cores well): the five splits and CLINC150
about 50 minutes, their ``-long`` settings about 50, ``banking77-01-order`` about 75.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "block_results.json"   # package data
# (encoder, method, overrides, at most this many steps: None for the early budget's)
# One selection rule on every side: each checkpoint is chosen on 1-shot meta-val episodes (the
# meta-test's shape), with the same patience and cap; frozen ProtoNet's own default would mix 1 and 5 shots.
CONTROL = {"meta_batch": 160, "classifier_lr": 1e-3}    # the layer fine-tuned without episodes (see MAIN)
MAIN = [("minilm", "ncm", {}, None), ("minilm", "centred", {}, None),   # centred: nothing to train, see CENTRED
        ("minilm", "protonet", {"val_shots": (1,)}, None),
        # frozen ProtoNet on the layer's episodes too: 4 a step, 5 queries a class (its own: 16 of 15)
        ("minilm", "protonet", {"val_shots": (1,), "meta_batch": 4, "train_queries": 5}, None),
        ("minilm-block", "protonet", {}, None),
        # The control without episodes: the same layer trained by ordinary cross-entropy over all
        # meta-train intents, as many utterances a step as ProtoNet's (4 tasks of 30 or 50: 160 on
        # average), the same steps, rate and selection; its new classifier learns at 1e-3 (not tuned).
        ("minilm-block", "finetune", CONTROL, None)]
ORDER = MAIN + [("minilm-block", "protonet", {}, 100),       # the layer's ProtoNet at Proto-MAML's cap: matched steps
                ("minilm-block", "protomaml", {"first_order": True}, 100),
                ("minilm-block", "protomaml", {"first_order": False}, 100),
                ("minilm-block", "fomaml", {}, 100), ("minilm-block", "maml", {}, 100),   # MAML through the layer
                ("minilm-block", "finetune", CONTROL, 100)]   # the control without episodes at the same cap
# Longer training on every split and CLINC150: the layer's ProtoNet and its control without episodes, the same
# seeds, at most 600 steps instead of 200, the same patience: the runs that the 200-step cap stopped go on
LONG = [("minilm-block", "protonet", {}, 600),
        ("minilm-block", "finetune", CONTROL, 600)]
# A higher outer learning rate for the layer (3e-5 registered), one seed, split 01: chosen or not on meta-val
LR_PROBE = [("minilm-block", "protonet", {"lr": 1e-4}, None)]


# "centred": nearest class mean on embeddings minus the split's mean meta-train embedding (notebook 04's
# training-free bar, and where the layer's ProtoNet starts): no training, one run, scored like nearest class mean.
CENTRED = "centred"

MATCHED = (20, 80)   # Proto-MAML's checkpoints also scored here: first and second order at the same steps


def key(encoder: str, method: str, extra: dict, steps: int | None = None) -> str:
    """The stored name of a run: ``encoder/method``, ``/2nd`` for second-order Proto-MAML,
    ``/cap100`` for a ProtoNet (or fine-tuning) capped at another number of steps than the budget's."""
    return (f"{encoder}/{method}" + ("/2nd" if extra.get("first_order") is False else "")
            + (f"/cap{steps}" if steps is not None and method in ("protonet", "finetune") else "")
            + (f"/lr{extra['lr']:g}" if "lr" in extra else "")
            + (f"/b{extra['meta_batch']}q{extra['train_queries']}" if "train_queries" in extra else ""))


def settings() -> list[tuple[str, str, str, list, bool, int]]:
    """(name, data, split, [(encoder, method, overrides, max steps)], with names too, episodes)."""
    out = [(f"banking77-{s}", "banking77", s, MAIN, True, 600) for s in ("01", "02", "03", "04", "05")]
    out.append(("clinc150-domains", "clinc150", "domains", MAIN, True, 600))
    out.append(("banking77-01-order", "banking77", "01", ORDER, False, 200))
    out.append(("banking77-01-lr", "banking77", "01", LR_PROBE, False, 600))
    out += [(f"banking77-{s}-long", "banking77", s, LONG, True, 600) for s in ("01", "02", "03", "04", "05")]
    out.append(("clinc150-domains-long", "clinc150", "domains", LONG, True, 600))
    return out


def main() -> None:
    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools
    from metanlp_lite.fewshot.metric import NCM
    from metanlp_lite.fewshot.training import episode_batches, evaluate_batches, train_for, train_mean

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="setting names (default: all)")
    parser.add_argument("--methods", nargs="*", default=None, help="stored names, e.g. minilm-block/protonet")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON to write (and add to)")
    args = parser.parse_args()
    out = args.out
    results = json.loads(out.read_text()) if out.exists() else {}
    results = {k: v for k, v in results.items() if isinstance(v, dict) and "seeds" in v}   # this protocol's only
    from metanlp_lite.fewshot.training import STEPS

    for name, data, split, methods, with_names, episodes in settings():
        episodes = min(episodes, args.episodes)
        seeds = args.seeds[:1] if methods is LR_PROBE else args.seeds   # a probe: one seed
        if args.only is not None and name not in args.only:
            continue
        ds = load_intents(data)
        pools = {enc: make_pools(ds, enc, split, show_progress=False) for enc in {e for e, *_ in methods}}
        test = {(enc, names): episode_batches(pools[enc]["test"], episodes=episodes, label_names=names, seed=0)
                for enc in pools for names in ((False, True) if with_names else (False,))}
        entry = results.setdefault(name, {"data": data, "split": split, "budget": "early",
                                          "episodes": episodes, "seeds": seeds, "methods": {}})
        for enc, method, extra, steps in methods:
            name_m = key(enc, method, extra, steps)
            if args.methods is not None and name_m not in args.methods:
                continue
            runs = {}
            if method == CENTRED:     # no training: the episodes of the same seed, on centred embeddings
                t = time.perf_counter()
                mu = train_mean(pools[enc]["train"])
                test_c = pools[enc]["test"]._replace(features=pools[enc]["test"].features - mu,
                                                     names=pools[enc]["test"].names - mu)
                run = {}
                for names in ((False, True) if with_names else (False,)):
                    batches = episode_batches(test_c, episodes=episodes, label_names=names, seed=0)
                    run["names" if names else "no_names"] = [round(a * 75 / 100) for a in
                                                             evaluate_batches(NCM(), batches).tolist()]
                run["seconds"] = round(time.perf_counter() - t, 1)
                entry["methods"][name_m] = {"0": run}
                print(f"{name} {name_m}: " + ", ".join(f"{k} {sum(run[k]) / len(run[k]) * 100 / 75:.2f}"
                                                      for k in ("no_names", "names") if k in run), flush=True)
                out.write_text(json.dumps(results, separators=(",", ":")) + "\n")
                continue
            for seed in (seeds if method != "ncm" else [0]):       # nearest class mean has nothing to train
                t = time.perf_counter()
                snaps = {} if method == "protomaml" else None      # matched steps: Proto-MAML at MATCHED too
                model, log = train_for(method, enc, pools[enc], budget="early", seed=seed, show_progress=False,
                                       steps=steps, snapshots=snaps, **extra)
                run = {"max_steps": STEPS["early"] if steps is None else steps, "best_step": log.best_step,
                       "checked": log.steps, "val": [round(a, 2) for a in log.val_acc],
                       "train_seconds": round(time.perf_counter() - t, 1)}
                for (e, names), batches in test.items():
                    if e == enc:
                        acc = evaluate_batches(model, batches)
                        run["names" if names else "no_names"] = [round(a * 75 / 100) for a in acc.tolist()]
                if snaps is not None:     # the checkpoints at MATCHED steps, scored on the same episodes
                    kept = {k: v.clone() for k, v in model.state_dict().items()}
                    run["at_step"] = {}
                    for step in MATCHED:
                        if step in snaps:
                            model.load_state_dict(snaps[step])
                            model.float()
                            run["at_step"][str(step)] = [round(a * 75 / 100) for a in
                                                         evaluate_batches(model, test[enc, False]).tolist()]
                    model.load_state_dict(kept)
                if getattr(model, "log_lr", None) is not None:     # Proto-MAML's meta-learned step sizes
                    run["step_sizes"] = dict(zip(("head", "layer"), model.log_lr.exp().tolist()))
                    with torch.no_grad():                          # the same model, its layer not adapted at test time
                        model.log_lr[1] = -math.inf
                    for (e, names), batches in test.items():
                        if e == enc:
                            acc = evaluate_batches(model, batches)
                            run[("names" if names else "no_names") + "_layer_step_0"] = [
                                round(a * 75 / 100) for a in acc.tolist()]
                run["seconds"] = round(time.perf_counter() - t, 1)
                runs[str(seed)] = run
                print(f"{name} {name_m} seed {seed}: " + ", ".join(
                    f"{k} {sum(run[k]) / len(run[k]) * 100 / 75:.2f}" for k in ("no_names", "names") if k in run)
                    + f" (step {log.best_step} of {log.steps[-1]}, {run['seconds']:.0f} s)", flush=True)
            entry["methods"][name_m] = runs
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
