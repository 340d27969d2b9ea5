"""The paper's OML (Javed & White, 2019) as a variant, over 3 training seeds (notebook 07).

    python benchmarks/continual_oml_paper.py [--seeds 0 1 2] [--steps 600] [--eval-every 25] [--streams 20] [--out PATH]

:func:`metanlp_lite.oml_paper.meta_train_oml_paper`: a head over all 75 meta-train intents whose
initial weights W0/b0 are meta-learned, each trajectory's 20 intents reset to zero, ``inner_steps``
SGD steps per example, the meta-loss on the trajectory's queries plus a remember batch of the other
meta-train intents; the adapter ``RepresentationNet(lr=0.003, seed=s)`` (as
``benchmarks/continual_oml_seeds.py``; for a zero-initialised online head 0.003 is also better on
meta-val than 0.01 and above), W0/b0 at AdamW 1e-4, log_lr at 1e-2 or 1e-3 (no weight decay).

1. Configurations (inner_steps 1 or 3, W0 at the class means or at zero, log_lr's AdamW learning rate
   1e-2, or 1e-3 with inner_steps 1) trained with seed 0 and
   compared on META-VAL only (the best meta-val of each, :func:`~metanlp_lite.oml_paper.paper_val_score`).
2. The best one trained with every seed (seed 0's run is reused), then run on notebook 07's 20 test
   streams (``make_stream(..., k_shot=1, n_query=20, seed=i)``) as ``OML(rln, init="zero",
   steps=inner_steps)`` with the meta-learned step size; with names, the number of steps (1, 3, 5)
   chosen on 3 meta-val streams with names (``continual.choose_on_val``), per seed.
3. Compared, over the same streams, with the stored runs of ``benchmarks/continual_oml_seeds.py``:
   OML (rows at the prototype, no remember set), nearest class mean, Proto-MAML init (and + names).

Stores ``metanlp_lite/results/continual_oml_paper.pt`` and prints :func:`metanlp_lite.oml_paper.oml_paper_table`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from metanlp_lite import continual as cl
from metanlp_lite.oml import OML, RepresentationNet, load_oml_seeds
from metanlp_lite.oml_paper import OML_PAPER_RESULTS, load_oml_paper, meta_train_oml_paper, oml_paper_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from continual_oml_seeds import cpu_model, save_and_print, scores, setup  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / OML_PAPER_RESULTS
LR, FIRST, N_QUERY = 0.003, 10, 20
CONFIGS = {f"inner_steps={s}, W0 at {init}, log_lr AdamW {slr:g}": {"inner_steps": s, "head_init": init, "step_size_lr": slr}
           for slr in (1e-2, 1e-3) for init in ("means", "zero") for s in (1, 3) if slr == 1e-2 or s == 1}
NAME_STEPS = (1, 3, 5)


def main() -> None:
    start = time.perf_counter()
    args, data, streams, say = setup(__doc__.splitlines()[0], OUT)    # the seeds benchmark's command line and data

    def fit(seed: int, settings: dict) -> tuple:
        body = RepresentationNet(lr=LR, seed=seed)
        log, _, sizes = meta_train_oml_paper(body, data.features, data.labels, data.classes["train"], data.classes["val"],
                                      steps=args.steps, eval_every=args.eval_every, seed=seed, show_progress=False,
                                      **settings)
        say(f"seed {seed}, {settings}: meta-val {log.val[0]:.2f} -> best {max(log.val):.2f} at step {log.best_step}, "
            f"last {log.val[-1]:.2f}, step size kept {body.log_lr.exp().item():.4f}, at the checks "
            f"{[round(x, 4) for x in sizes[::4]]} ({log.seconds:.0f} s)")
        return body, log, sizes

    configs, runs = {}, {}
    for name, settings in CONFIGS.items():          # chosen on meta-val only, seed 0
        body, log, sizes = fit(args.seeds[0], settings)
        runs[name] = (body, log)
        configs[name] = {"settings": settings, "checked": log.checked, "val": log.val, "best_step": log.best_step,
                         "seconds": log.seconds, "step_size": body.log_lr.exp().item(), "step_sizes": sizes}
    chosen = max(configs, key=lambda n: max(configs[n]["val"]))     # ties: the first in CONFIGS' order
    settings = CONFIGS[chosen]
    say(f"chosen on meta-val: {chosen}")
    trained = [runs[chosen]] + [fit(seed, settings)[:2] for seed in args.seeds[1:]]
    rows: dict[str, list] = {"paper OML": [], "paper OML + names": []}
    name_steps = []
    for body, _ in trained:
        rows["paper OML"].append(scores(lambda: OML(body, init="zero", steps=settings["inner_steps"]), data, streams, False))
        best, _ = cl.choose_on_val(lambda steps: OML(body, init="zero", steps=int(steps)), data, {"steps": NAME_STEPS},
                                   seed=1000, use_names=True)
        name_steps.append(int(best["steps"]))
        rows["paper OML + names"].append(scores(lambda: OML(body, init="zero", steps=name_steps[-1]), data, streams, True))
    say(f"test streams done; steps with names chosen on meta-val: {name_steps}")
    learners = {name: {"final": torch.stack([f for f, _ in r]), "retention": torch.stack([k for _, k in r]),
                       "seeds": len(r)} for name, r in rows.items()}
    old = load_oml_seeds()
    assert old["config"]["n_streams"] == args.streams and old["config"]["n_query"] == N_QUERY
    for name in ("OML", "nearest class mean", "Proto-MAML init", "nearest class mean + names", "Proto-MAML init + names"):
        v = old["learners"][name]
        learners[name + (" (continual_oml_seeds)" if name == "OML" else "")] = {
            "final": v["final"], "retention": v["retention"], "seeds": v["final"].shape[0]}
    comparisons = [("paper OML", "OML (continual_oml_seeds)"), ("paper OML", "nearest class mean"),
                   ("paper OML", "Proto-MAML init"), ("OML (continual_oml_seeds)", "Proto-MAML init"),
                   ("paper OML + names", "nearest class mean + names"), ("paper OML + names", "Proto-MAML init + names"),
                   ("paper OML + names", "paper OML")]
    training = {"checked": trained[0][1].checked, "val": torch.tensor([log.val for _, log in trained]),
                "best_step": [log.best_step for _, log in trained], "seconds": [log.seconds for _, log in trained],
                "step_size": [body.log_lr.exp().item() for body, _ in trained],
                "losses": torch.tensor([log.losses for _, log in trained], dtype=torch.float32)}
    config = {"dataset": "clinc150", "split_seed": 0, "seeds": args.seeds, "steps": args.steps,
              "eval_every": args.eval_every, "n_streams": args.streams, "n_query": N_QUERY, "k_shot": 1, "first": FIRST,
              "n_test_intents": len(data.classes["test"]), "step_size_init": LR, "chosen": chosen, "settings": settings,
              "trainer_settings": {"meta_batch": 8, "n_classes": 20, "k_shot": 1, "n_query": 5, "remember": 100,
                                   "lr": 1e-4, "weight_decay": 1e-2, "scale": 10.0,
                                   "val_streams": 5, "test_init": "zero"},
              "name_steps": name_steps, "name_steps_grid": list(NAME_STEPS), "comparisons": comparisons,
              "cpu": cpu_model(), "torch": str(torch.__version__), "threads": 1}
    stored = {"config": config, "configs": configs, "training": training, "learners": learners,
              "wall_s": time.perf_counter() - start}
    save_and_print(stored, args.out, lambda path: oml_paper_table(load_oml_paper(path)), config["cpu"])


if __name__ == "__main__":
    main()
