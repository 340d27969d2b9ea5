"""The cost of meta-learning through a Transformer layer: one meta-step against the inner steps.

For second-order MAML, first-order MAML, ANIL and MAML with low-rank fast weights (``lora``), all
on MiniLM's last layer (encoder ``minilm-block``), on the same batch of BANKING77 meta-train
episodes, this measures one meta-step (the meta-loss and its backward pass) for 1, 2, 3 ... inner
steps, side by side in one run:

- time: the median of ``--repeats`` runs, in seconds, and its ratio to first-order MAML's;
- memory: the bytes the autograd graph holds for the backward pass
  (:func:`metanlp_lite.cost.graph_bytes`), which is what grows with the inner steps.

Run ``python benchmarks/block_cost.py`` (about a minute on 2 cores after the set-up's prefetch).
"""
from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--tasks", type=int, default=4, help="episodes in the meta-batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from metanlp_lite.cost import meta_step_cost
    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools, sample_batch
    from metanlp_lite.fewshot.methods import build_method

    pools = make_pools(load_intents("banking77"), "minilm-block", "01", show_progress=False)
    sampler = pools["train"].sampler(5, 1, 5, seed=0)
    batch = sample_batch(pools["train"].features, sampler, args.tasks)[0]
    print(f"one meta-step on {args.tasks} BANKING77 episodes (5-way 1-shot, 5 queries a class), "
          f"token states {tuple(batch.query_x.shape)}")
    rows = []
    for method in ("fomaml", "maml", "anil", "lora"):
        for steps in args.steps:
            m = build_method(method, "minilm-block", 384, n_way=5, seed=0, inner_steps=steps)
            seconds, size = meta_step_cost(lambda: m.loss(batch), repeats=args.repeats)
            rows.append((method, steps, seconds, size))
    base = {s: (t, b) for meth, s, t, b in rows if meth == "fomaml"}
    print(f"{'method':8s} {'inner steps':>11s} {'time (s)':>9s} {'x fomaml':>9s} {'graph (MB)':>11s} {'x fomaml':>9s}")
    for method, steps, t, b in rows:
        print(f"{method:8s} {steps:11d} {t:9.2f} {t / base[steps][0]:9.2f} {b / 2**20:11.1f} {b / base[steps][1]:9.2f}")


if __name__ == "__main__":
    main()
