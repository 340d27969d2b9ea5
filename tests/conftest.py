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
