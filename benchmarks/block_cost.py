"""The cost of meta-learning through a Transformer layer: one meta-step against the inner steps.

For second-order MAML, first-order MAML, ANIL and MAML with low-rank fast weights (``lora``), all
on MiniLM's last layer (encoder ``minilm-block``), on the same batch of BANKING77 meta-train
episodes, this measures one meta-step (the meta-loss and its backward pass) for 1, 2, 3 ... inner
steps, side by side in one run:

- time: the median of ``--repeats`` runs, in seconds, and its ratio to first-order MAML's;
- memory: the bytes the autograd graph holds for the backward pass when the meta-loss is
  computed (the tensors saved for backward that are still alive, each storage counted once),
  which is what grows with the inner steps: a second-order inner loop keeps every step's
  activations and the graph of its gradient, a first-order one lets them go. The count is the
  same on any machine; the process's peak memory adds the model and the data to it.

Run ``python benchmarks/block_cost.py`` (about a minute on 2 cores after the set-up's prefetch).
"""
from __future__ import annotations

import argparse
import statistics
import time
import weakref

import torch


def saved_bytes(fn) -> tuple[float, int]:
    """Run ``fn()`` (returning a scalar loss), then backward; return (seconds, bytes of the graph).

    The graph's bytes: the tensors saved for backward that are still alive when ``fn`` returns
    (an inner step's graph that ``autograd.grad`` has already freed, as in first-order MAML, does
    not count), each storage once.
    """
    saved: list[weakref.ref] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(weakref.ref(t))
        return t

    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    alive: dict[int, int] = {}
    for ref in saved:
        t = ref()
        if t is not None:
            s = t.untyped_storage()
            alive[s.data_ptr()] = max(alive.get(s.data_ptr(), 0), s.nbytes())
    del saved
    loss.backward()
    return time.perf_counter() - start, sum(alive.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--tasks", type=int, default=4, help="episodes in the meta-batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools, sample_batch
    from metanlp_lite.fewshot.methods import build_method

    torch.set_num_threads(torch.get_num_threads())
    pools = make_pools(load_intents("banking77"), "minilm-block", "01", show_progress=False)
    sampler = pools["train"].sampler(5, 1, 5, seed=0)
    batch = sample_batch(pools["train"].features, sampler, args.tasks)[0]
    print(f"one meta-step on {args.tasks} BANKING77 episodes (5-way 1-shot, 5 queries a class), "
          f"token states {tuple(batch.query_x.shape)}")
    rows = []
    for method in ("fomaml", "maml", "anil", "lora"):
        for steps in args.steps:
            m = build_method(method, "minilm-block", 384, n_way=5, seed=0, inner_steps=steps)
            runs = []
            for _ in range(args.repeats):
                m.zero_grad(set_to_none=True)
                runs.append(saved_bytes(lambda: m.loss(batch)))
            rows.append((method, steps, statistics.median(r[0] for r in runs), runs[0][1]))
    base = {s: (t, b) for meth, s, t, b in rows if meth == "fomaml"}
    print(f"{'method':8s} {'inner steps':>11s} {'time (s)':>9s} {'x fomaml':>9s} {'graph (MB)':>11s} {'x fomaml':>9s}")
    for method, steps, t, b in rows:
        print(f"{method:8s} {steps:11d} {t:9.2f} {t / base[steps][0]:9.2f} {b / 2**20:11.1f} {b / base[steps][1]:9.2f}")


if __name__ == "__main__":
    main()
