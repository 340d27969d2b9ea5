"""Project-wide pytest hooks.

Before running notebooks (or tests that run them) we fill the embedding cache as the README's
set-up command does (``python -m metanlp_lite prefetch``); with a warm cache this takes a second
or two. The embeddings are computed in float64 and rounded to float32, so they are the same bits
on every CPU (:func:`metanlp_lite.text.in_float64`).

Then every notebook kernel that the tests start (nbval, nbgrader, the browser tests) runs on
PyTorch's plain kernels, ``ATEN_CPU_CAPABILITY=default``, instead of this CPU's AVX2 or AVX-512
ones: the committed outputs were made with AVX-512, so one execution of each notebook checks both
that it reproduces its outputs and that it does so on another CPU's kernels. This process's own
torch, imported by then, keeps its kernels (the unit tests run at full speed). The kernels also
get ``OMP_WAIT_POLICY=PASSIVE``, as JupyterLab does from the README's set-up command and Binder
from ``binder/start``: threads that wait for a core sleep instead of spinning.
"""
from __future__ import annotations

import os
import time

_START = time.monotonic()


def pytest_collection_finish(session) -> None:
    needs = [item for item in session.items
             if item.nodeid.startswith(("notebooks/", "tests/test_nbgrader.py", "tests/test_browser.py"))]
    if needs and not session.config.option.collectonly:
        import matplotlib.font_manager  # noqa: F401  builds matplotlib's font cache now, if missing, so
        # that no notebook's first figure prints "Matplotlib is building the font cache" on stderr
        from metanlp_lite.__main__ import prefetch

        prefetch(["clinc150", "banking77"], embeddings=True)
        os.environ.setdefault("ATEN_CPU_CAPABILITY", "default")   # inherited by every kernel started from now on
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")      # as the README's set-up command starts JupyterLab


def pytest_terminal_summary(terminalreporter) -> None:
    """CI's phases (``.ci/run`` exports the set-up command's time), above pytest's closing line."""
    setup = os.environ.get("CI_SETUP_SECONDS")
    if setup is not None:
        tests = time.monotonic() - _START
        terminalreporter.write_line(f"CI phases: set-up command {int(setup)} s (install, prefetch), "
                                    f"test command {tests:.0f} s, both {int(setup) + tests:.0f} s")
