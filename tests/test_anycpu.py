"""The embeddings, and so notebook 06's printed numbers, are the same under three CPUs' kernels.

In float32 the encoder's output depends on the kernels, in its last bits (up to 3e-7 measured):
PyTorch's own (``ATEN_CPU_CAPABILITY``: AVX-512, AVX2 or plain code), MKL's and oneDNN's
(``MKL_ENABLE_INSTRUCTIONS``, ``ONEDNN_MAX_CPU_ISA``) sum in different orders. On an Intel Xeon
that moved a Chinese query across a near tie in one episode in a hundred. ``metanlp_lite.text``
therefore runs the encoder in float64 and rounds to float32. Here xSID's Chinese and Dutch
utterances (the two languages whose nearest-class-mean runs moved) are embedded afresh in three
processes, each restricted to one instruction set, and must come out bit for bit the same as each
other and as the cache that notebook 06 reads; nearest class mean on them must then score exactly
what the stored runs that notebook 06 prints hold, episode by episode. Marked ``anycpu``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.anycpu

LANGUAGES = ("zh", "nl")
KERNELS = {   # name -> the environment that restricts PyTorch, MKL and oneDNN to that instruction set
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
EMBED = """
import json, sys, numpy as np, torch
from metanlp_lite.text import embed
texts = json.load(open(sys.argv[1]))
np.save(sys.argv[2], embed(texts, use_cache=False, show_progress=False).numpy())
print(torch.backends.cpu.get_cpu_capability())
"""


@pytest.fixture(scope="module")
def corpus():
    from metanlp_lite.crosslingual import load_corpus

    return load_corpus(show_progress=False)


def test_embeddings_and_notebook_06_numbers_are_the_same_under_three_kernels(corpus, tmp_path):
    from metanlp_lite.crosslingual import evaluate_language, load_language_results

    rows = torch.cat([corpus.rows(code) for code in LANGUAGES])
    texts = [corpus.texts[i] for i in rows.tolist()]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    vectors = {}
    for name, env in KERNELS.items():
        out = tmp_path / f"{name}.npy"
        done = subprocess.run([sys.executable, "-c", EMBED, str(tmp_path / "texts.json"), str(out)],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        vectors[name] = torch.from_numpy(np.load(out))
    cached = corpus.minilm[rows]
    for name, v in vectors.items():
        assert v.dtype == torch.float32 and v.shape == cached.shape
        differ = (v != cached).any(1).sum().item()
        assert differ == 0, f"{name}: {differ} of {len(texts)} embeddings differ from the cache's in some bit"
    # the numbers notebook 06 prints for these languages (it reads them from the stored runs)
    stored = load_language_results()["runs"]
    here = corpus._replace(minilm=corpus.minilm.index_put((rows,), vectors["default"]))
    for code in LANGUAGES:
        for k in (1, 5):
            acc = evaluate_language(None, here, code, k_shot=k, episodes=600, seed=0)
            assert torch.equal(acc.round().to(torch.uint8), stored[f"ncm/{code}"][f"k{k}"]), (code, k)
