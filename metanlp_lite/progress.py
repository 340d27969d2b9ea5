"""Progress bars that look the same in a terminal, in JupyterLab and in a validated notebook.

A plain-text tqdm bar on stderr (not the notebook widget): it updates in place in JupyterLab,
and its final line is deterministic apart from the elapsed time and rate in brackets, which
``tests/nbval_sanitize.cfg`` masks because timings differ from machine to machine.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.std import tqdm

__all__ = ["progress"]


class _Bar(tqdm):
    """tqdm that flushes stderr when it closes: in a notebook the bar's final newline then
    arrives before what the cell prints next, instead of as a stray blank line after it."""

    def close(self) -> None:
        super().close()
        sys.stderr.flush()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             disable: bool = False, **kwargs: Any) -> tqdm:
    """A text progress bar: ``for x in progress(xs, desc="meta-training"): ...``."""
    # A fixed-width bar: otherwise its width follows the length of the rate, which varies.
    kwargs.setdefault("bar_format", "{l_bar}{bar:24}{r_bar}")
    kwargs.setdefault("mininterval", 0.5)
    return _Bar(iterable, total=total, desc=desc, file=sys.stderr, disable=disable,
                dynamic_ncols=False, ascii=False, **kwargs)
