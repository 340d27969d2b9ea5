"""Meta-learning inside MiniLM's last layer against the frozen encoder, on the field's protocol.

Notebook 05 reports these numbers (it reads ``metanlp_lite/results/block_results.json``, shipped
with the package; its default run re-measures one of them). For each setting, every method is scored on the same
seeded meta-test episodes as notebook 04 (5-way 1-shot, 15 queries a class, 600 episodes, seed 0),
so differences are paired; meta-training uses the quick budget (60 steps) unless ``--budget full``.

- BANKING77, splits 01-05 (the field's protocol): nearest class mean and notebook 04's ProtoNet
  and Proto-MAML on frozen embeddings (``minilm``), against ProtoNet and ANIL on the layer
  (``minilm-block``), with and without label names.
- CLINC150, its held-out domains: the same methods.
- BANKING77 split 01: the MAML family on the layer (MAML, first-order MAML, Proto-MAML, low-rank
  fast weights), without names, with 20 meta-training steps and the first 200 of the 600 episodes:
  each adapts the layer per task, so each episode runs its own copy of the layer (about 10x the
  cost of ProtoNet's).

Writes the JSON after every setting (each episode's number of correct queries, out of 75,
included), so an interrupted run
keeps what it measured; ``--only`` picks settings. About 25 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "block_results.json"   # package data
FROZEN = ["ncm", "protonet", "protomaml"]            # on minilm embeddings (notebook 04)
LAYER = ["protonet", "anil"]                         # on minilm-block
MAML_FAMILY = ["maml", "fomaml", "protomaml", "lora"]


def settings() -> list[tuple[str, str, str, list[tuple[str, str]], bool, int | None, int]]:
    """(name, data, split, [(encoder, method)], with names too, steps (None: the budget's), episodes)."""
    both = [("minilm", m) for m in FROZEN] + [("minilm-block", m) for m in LAYER]
    out = [(f"banking77-{s}", "banking77", s, both, True, None, 600) for s in ("01", "02", "03", "04", "05")]
    out.append(("clinc150-domains", "clinc150", "domains", both, True, None, 600))
    out.append(("banking77-01-maml-family", "banking77", "01",
                [("minilm", "ncm"), ("minilm", "protonet")] + [("minilm-block", m) for m in MAML_FAMILY],
                False, 20, 200))
    return out


def main() -> None:
    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools
    from metanlp_lite.fewshot.training import evaluate_method, train_for
    from metanlp_lite.stats import mean_ci95

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="setting names (default: all)")
    parser.add_argument("--budget", default="quick", choices=["quick", "full"])
    parser.add_argument("--episodes", type=int, default=600)
    args = parser.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name, data, split, methods, with_names, steps, episodes in settings():
        episodes = min(episodes, args.episodes)
        if args.only is not None and name not in args.only:
            continue
        start = time.perf_counter()
        ds = load_intents(data)
        pools = {enc: make_pools(ds, enc, split, show_progress=False) for enc in {e for e, _ in methods}}
        entry: dict = {"data": data, "split": split, "budget": args.budget, "steps": steps, "episodes": episodes,
                       "methods": {}}
        for enc, method in methods:
            t = time.perf_counter()
            model, log = train_for(method, enc, pools[enc], budget=args.budget, seed=0, show_progress=False,
                                   steps=steps if enc == "minilm-block" else None)
            train_s = time.perf_counter() - t
            row = {"best_step": log.best_step, "train_seconds": round(train_s, 1)}
            for names in ((False, True) if with_names else (False,)):
                acc = evaluate_method(model, pools[enc]["test"], episodes=episodes, label_names=names,
                                      seed=0, show_progress=False)
                mean, ci = mean_ci95(acc)
                row["names" if names else "no_names"] = {"mean": round(mean, 2), "ci95": round(ci, 2),
                                                         "correct": [round(a * 75 / 100) for a in acc.tolist()]}
            entry["methods"][f"{enc}/{method}"] = row
            print(f"{name} {enc}/{method}: " + ", ".join(f"{k} {row[k]['mean']:.2f} ± {row[k]['ci95']:.2f}"
                                                        for k in ("no_names", "names") if k in row)
                  + f" (trained {train_s:.0f} s, step {log.best_step})", flush=True)
        entry["seconds"] = round(time.perf_counter() - start, 1)
        results[name] = entry
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
