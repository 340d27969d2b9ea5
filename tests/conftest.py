"""Shared fixtures. The data come from $METANLP_DATA_DIR when set (CI sets it to ../shared/data),
otherwise from the Hugging Face hub."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def clinc150():
    from metanlp_lite.data import load_intents

    return load_intents("clinc150")


@pytest.fixture(scope="session")
def banking77():
    from metanlp_lite.data import load_intents

    return load_intents("banking77")


@pytest.fixture(scope="session")
def encoder():
    from metanlp_lite.text import load_encoder

    return load_encoder()


@pytest.fixture
def fake_encoder(tmp_path, monkeypatch):
    """An empty embedding cache in tmp_path and, instead of the sentence encoder, one that returns
    seeded random unit vectors (fast): for tests of what is cached, not of what is embedded.
    Returns the ``metanlp_lite.text`` module, patched."""
    import numpy as np

    import metanlp_lite.text as text

    class FakeEncoder:
        def encode(self, batch, **_):
            v = np.random.default_rng(len(batch)).normal(size=(len(batch), text.EMBEDDING_DIM)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    monkeypatch.setenv("METANLP_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(text, "load_encoder", lambda *a, **k: FakeEncoder())
    return text
