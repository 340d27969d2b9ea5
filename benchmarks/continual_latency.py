"""How long notebook 07's learners take to absorb one new example, side by side in one run.

For each learner (nearest class mean, each online head of ``metanlp_lite.continual.HEADS`` at one
step per example, replay also at the most steps of ``continual.GRID``, and OML): the median time
of its ``learn`` call over every example of a few streams of CLINC150's 50 test intents (the
sentence's embedding given), then with the median time to embed
one sentence with MiniLM added (what a user waits for), and the ratio to nearest class mean.
OML's cost does not depend on its training, so its adapter is used untrained here.

    python benchmarks/continual_latency.py [--streams 5] [--threads 2]

Accuracy is notebook 07's business (and ``python -m metanlp_lite stream``); this is only time.
"""
from __future__ import annotations

import argparse
import time

import torch

from metanlp_lite import continual as cl
from metanlp_lite.oml import OML, RepresentationNet
from metanlp_lite.text import load_encoder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = cl.load_stream_data("clinc150", show_progress=False)
    streams = [cl.make_stream(data.labels, data.classes["test"], seed=i) for i in range(args.streams)]
    rln = RepresentationNet(lr=0.01)
    learners = {"nearest class mean": cl.RunningPrototypes}
    most = max(cl.GRID["steps"])
    for name, kw in cl.HEADS.items():   # notebook 07's online heads, one step per example (replay: the grid's most too)
        learners[name] = lambda kw=kw: cl.OnlineHead(**kw, lr=0.01)
        if kw.get("replay"):
            learners[f"{name} ({most} steps)"] = lambda kw=kw: cl.OnlineHead(**kw, lr=1.0, steps=most)
    learners["OML"] = lambda: OML(rln)
    update = {name: torch.cat([r.update_ms for r in cl.run_streams(make, data, streams)]).median().item()
              for name, make in learners.items()}
    encoder = load_encoder()
    sentences = [data.texts[r] for r in streams[0].support[:, 0].tolist()]
    encoder.encode(sentences[:1])
    times = []
    for s in sentences[1:]:
        start = time.perf_counter()
        encoder.encode([s], normalize_embeddings=True)
        times.append((time.perf_counter() - start) * 1000)
    emb = torch.tensor(times).median().item()
    print(f"{torch.get_num_threads()} threads; {args.streams} streams of 50 intents; embedding one sentence: median {emb:.1f} ms")
    print(f"{'learner':>31} {'update ms':>10} {'x ncm':>7} {'with embedding':>15} {'x ncm':>7}")
    base = update["nearest class mean"]
    for name, ms in update.items():
        print(f"{name:>31} {ms:10.3f} {ms / base:7.1f} {emb + ms:13.1f} ms {(emb + ms) / (emb + base):7.2f}")


if __name__ == "__main__":
    main()
