"""Encoding CLINC150 with all-MiniLM-L6-v2: cold (empty cache) against warm (cache hit), in one run.

    python benchmarks/embedding_cache.py [--limit N]

Prints the seconds for each and their ratio. Uses a temporary cache folder, so the user's
cache is neither used nor touched.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from metanlp_lite.data import load_intents
from metanlp_lite.text import embed, load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="encode only the first N utterances")
    args = parser.parse_args()
    texts = list(load_intents("clinc150")["text"])[: args.limit]
    encoder = load_encoder()
    print(f"{len(texts)} CLINC150 utterances, {torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        cold = embed(texts, encoder, cache=cache, show_progress=False)
        t1 = time.perf_counter()
        warm = embed(texts, encoder, cache=cache, show_progress=False)
        t2 = time.perf_counter()
    assert torch.equal(cold, warm)
    print(f"cold (encode + write cache): {t1 - t0:8.2f} s  ({len(texts) / (t1 - t0):.0f} utterances/s)")
    print(f"warm (read cache):           {t2 - t1:8.2f} s")
    print(f"ratio cold / warm:           {(t1 - t0) / (t2 - t1):8.1f} x")


if __name__ == "__main__":
    main()
