"""Notebook 04's meta-trained models and meta-test scores (sections 5 and 6), made once and shipped
with the package.

    python benchmarks/fewshot_models.py [--out FILE]

Builds notebook 04's pools (section 1: CLINC150 by domain and BANKING77's class split 01 on
MiniLM embeddings, CLINC150 on hashed n-grams, seed 0), meta-trains every method of ``METHODS`` on
each with the notebook's very call, ``train_for(method, encoder, pools, budget="quick", seed=0)``
(CLINC150's MiniLM Prototypical Network as section 4 trains it, watching the meta-test pool), and
scores every model on section 6's seeded meta-test episodes (``episode_batches``,
``evaluate_batches``). Stores in ``metanlp_lite/results/fewshot_quick.pt`` every model's TrainLog,
every per-episode accuracy, and the float32 state dicts of the models that later sections use
(BANKING77's MiniLM ones, sections 8 and 9) and of those without parameters; the others' state
dicts would add about 3 MB that nothing reads. Read with
:func:`metanlp_lite.fewshot.stored.load_fewshot_runs`.

Notebook 04 then meta-trains one model live, Reptile on BANKING77 (float64 arithmetic, parameters
rounded to float32 after every step: the same network on any CPU), and checks it against the
stored one; it scores nearest class mean on every setting and that model on its own, and checks
them against the stored scores. The other models train in float32, whose last bits depend on the
CPU's kernels (meta-val picks the same steps and the printed numbers are the same); the stored ones
are this machine's. About a minute on 2 cores (here: the models 38 s, the scores 16 s); the
notebook's part takes about 5 s.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "fewshot_quick.pt"   # package data
BUDGET, SEED = "quick", 0
# notebook 04, sections 1 and 6: its pools, and the meta-test runs of its default run
POOLS_OF = [("clinc150", "minilm"), ("banking77", "minilm"), ("clinc150", "bow")]
SPLITS = {"clinc150": None, "banking77": "01"}
EPISODES, SIDE_EPISODES = 600, 200
SETTINGS = [  # name, meta-training data, meta-test data, K, label names, episodes
    ("CLINC150 1-shot", "clinc150", "clinc150", 1, False, EPISODES),
    ("CLINC150 1-shot +names", "clinc150", "clinc150", 1, True, EPISODES),
    ("CLINC150 5-shot", "clinc150", "clinc150", 5, False, EPISODES),
    ("BANKING77 1-shot", "banking77", "banking77", 1, False, EPISODES),
    ("BANKING77 1-shot +names", "banking77", "banking77", 1, True, EPISODES),
    ("BANKING77 5-shot", "banking77", "banking77", 5, False, EPISODES),
    ("CLINC150→BANKING77 1-shot", "clinc150", "banking77", 1, False, SIDE_EPISODES),
    ("CLINC150→BANKING77 +names", "clinc150", "banking77", 1, True, SIDE_EPISODES),
]
RUNS = [(s, "minilm", s[5]) for s in SETTINGS] + [(SETTINGS[0], "bow", SIDE_EPISODES)]
KEEP = [("banking77", "minilm")]    # the pools whose models the notebook uses after section 6


def main() -> None:
    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools
    from metanlp_lite.fewshot.methods import METHODS, hyperparams
    from metanlp_lite.fewshot.training import budget_schedule, episode_batches, evaluate_batches, train_for

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to store them (default: the package's file)")
    out = parser.parse_args().out
    start = time.perf_counter()
    data = {d: load_intents(d) for d in SPLITS}
    pools = {(d, enc): make_pools(data[d], enc, SPLITS[d], seed=SEED, show_progress=False) for d, enc in POOLS_OF}
    torch.set_num_threads(1)   # as notebook 04: small tensors
    models, logs = {}, {}
    for d, enc in POOLS_OF:
        for method in METHODS:
            # section 4 trains this one, watching meta-test (for its plot only: it chooses nothing)
            monitor = pools[d, enc]["test"] if (d, enc, method) == ("clinc150", "minilm", "protonet") else None
            models[d, enc, method], logs[d, enc, method] = train_for(method, enc, pools[d, enc], budget=BUDGET,
                                                                     seed=SEED, show_progress=False, monitor=monitor)
            print(f"{d} {enc} {method}: step {logs[d, enc, method].best_step} kept, "
                  f"{logs[d, enc, method].seconds:.1f} s")
    trained = time.perf_counter() - start
    results = {}
    for (name, train_d, test_d, k, names, _), enc, n in RUNS:
        batches = episode_batches(pools[test_d, enc]["test"], k_shot=k, label_names=names, episodes=n, seed=SEED)
        for method in METHODS:
            results[name, enc, method] = evaluate_batches(models[train_d, enc, method], batches)
    kept = {key: {"state": {k: v.detach().clone() for k, v in m.state_dict().items()},   # float32 (train_for's)
                  "in_dim": pools[key[:2]]["train"].features.shape[1], "n_way": 5,
                  "n_classes": len(pools[key[:2]]["train"].classes)}
            for key, m in models.items() if key[:2] in KEEP or not m.needs_training}
    assert all(v.dtype == torch.float32 for m in kept.values() for v in m["state"].values())
    made = {"budget": BUDGET, "seed": SEED, "pools": POOLS_OF, "schedule": budget_schedule(BUDGET),
            "hyperparams": {key: hyperparams(key[2], key[1]) for key in models},
            "torch": str(torch.__version__), "cpu": torch.backends.cpu.get_cpu_capability(),
            "seconds": {"training": trained, "scoring": time.perf_counter() - start - trained}}
    torch.save({"made": made, "models": kept, "logs": {key: log._asdict() for key, log in logs.items()},
                "runs": RUNS, "results": results}, out)
    print(f"stored {out} ({out.stat().st_size / 1024:.0f} KiB): {len(kept)} state dicts, {len(logs)} logs, "
          f"{len(results)} scores; {trained:.0f} s training, {made['seconds']['scoring']:.0f} s scoring")

if __name__ == "__main__":
    main()
