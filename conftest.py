"""Project-wide pytest hooks.

Sentence embeddings depend, in their last bits, on which texts were encoded together in a
batch (padding changes the shapes of the matrix products). The committed notebook outputs were
made after ``python -m metanlp_lite prefetch`` filled an empty cache, embedding each dataset
whole in a fixed order; so before running notebooks (or tests that run them) we do the same,
and nbval then compares like with like. With a warm cache this takes a second or two.
"""
from __future__ import annotations


def pytest_collection_finish(session) -> None:
    needs = [item for item in session.items
             if item.nodeid.startswith(("notebooks/", "tests/test_nbgrader.py", "tests/test_browser.py"))]
    if needs and not session.config.option.collectonly:
        import matplotlib.font_manager  # noqa: F401  builds matplotlib's font cache now, if missing, so
        # that no notebook's first figure prints "Matplotlib is building the font cache" on stderr
        from metanlp_lite.__main__ import prefetch

        prefetch(["clinc150", "banking77"], embeddings=True)
