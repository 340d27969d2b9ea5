"""Interactive controls (ipywidgets) for the notebooks.

Each function builds and returns a widget; nothing is displayed at import time. The
computing they call lives elsewhere in the package; here is only the wiring.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

from .data import pretty_label
from .episodes import EpisodeSampler

__all__ = ["format_episode", "episode_explorer", "figure_png", "live_figure"]


def format_episode(support: Sequence[str], support_y: Sequence[int], query: Sequence[str],
                   query_y: Sequence[int], class_names: Sequence[str], max_query: int = 2) -> str:
    """An episode as an HTML table: one row per class with its support texts and a few queries.

    support, query: the texts of one task; support_y, query_y: their labels 0..N-1;
    class_names[j]: the intent behind label j.
    """
    rows = []
    for j, name in enumerate(class_names):
        s = [html.escape(t) for t, y in zip(support, support_y) if y == j]
        q = [html.escape(t) for t, y in zip(query, query_y) if y == j][:max_query]
        rows.append(f"<tr><td><b>{j}</b></td><td><code>{html.escape(name)}</code></td>"
                    f"<td>{'<br>'.join(s)}</td><td><i>{'<br>'.join(q)}</i></td></tr>")
    head = ("<tr><th>label</th><th>intent (hidden from the learner)</th><th>support (labelled)</th>"
            "<th>query (to classify)</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def episode_explorer(texts: Sequence[str], labels: Sequence[int], class_names: Sequence[str],
                     classes: Sequence[int] | None = None, n_way: int = 5, k_shot: int = 1,
                     n_query: int = 2, seed: int = 0):
    """Sliders for N and K and a "resample" button over a pool of labelled texts.

    texts, labels: the pool (P,); class_names: indexed by label id; classes: the label ids
    episodes may use (e.g. the meta-test classes). Impossible settings show the sampler's
    error message instead of an episode.
    """
    import ipywidgets as w

    n_max = len(classes) if classes is not None else len(set(labels))
    n = w.IntSlider(value=n_way, min=2, max=min(10, n_max), description="N-way")
    k = w.IntSlider(value=k_shot, min=1, max=10, description="K-shot")
    button = w.Button(description="resample", icon="refresh")
    out = w.HTML()
    state = {"seed": seed}

    def draw(*_):
        try:
            sampler = EpisodeSampler(labels, n.value, k.value, n_query, classes=classes,
                                     seed=state["seed"], class_names=class_names)
        except ValueError as err:
            out.value = f"<pre>{html.escape(str(err))}</pre>"
            return
        idx, cls = sampler.sample_indices(1)
        names = [pretty_label(class_names[c]) for c in cls[0].tolist()]
        out.value = format_episode([texts[i] for i in idx.support_x[0].tolist()], idx.support_y[0].tolist(),
                                   [texts[i] for i in idx.query_x[0].tolist()], idx.query_y[0].tolist(), names)

    def resample(_):
        state["seed"] += 1
        draw()

    n.observe(draw, "value")
    k.observe(draw, "value")
    button.on_click(resample)
    draw()
    return w.VBox([w.HBox([n, k, button]), out])


# ---------------------------------------------------------------------------------------
# A figure redrawn by controls (notebook 03): PNG bytes in an Image widget
# ---------------------------------------------------------------------------------------
def figure_png(fig, dpi: int | None = None) -> bytes:
    """The PNG bytes of a matplotlib figure, which is then closed (so it is not shown twice)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def live_figure(draw, controls: dict, columns: int = 3, dpi: int | None = None):
    """A figure that is redrawn whenever one of ``controls`` changes.

    draw: a function called as ``draw(**{name: control.value})`` that returns a matplotlib
    figure; controls: {keyword: widget} (sliders, dropdowns, ...), laid out ``columns`` per row
    in the given order, above the figure. The figure is an ``ipywidgets.Image`` holding PNG
    bytes (matplotlib's inline output inside ``interactive`` does not survive nbval or a
    reload). If ``draw`` raises ValueError, its message is shown instead of the figure.

    Returns a ``VBox`` whose image is still empty: display the box, then call its
    ``redraw()`` (the box's text form, compared by nbval, then does not hold image bytes).
    """
    import ipywidgets as w

    if not controls:
        raise ValueError("live_figure needs at least one control, e.g. {'lr': FloatSlider(...)}")
    image = w.Image(format="png")
    message = w.HTML()
    items = list(controls.values())
    rows = [w.HBox(items[i:i + columns]) for i in range(0, len(items), columns)]
    box = w.VBox([*rows, message, image])

    def redraw(*_):
        try:
            fig = draw(**{name: c.value for name, c in controls.items()})
        except ValueError as err:
            message.value = f"<pre>{html.escape(str(err))}</pre>"
            return
        message.value = ""
        image.value = figure_png(fig, dpi)

    for c in items:
        c.observe(redraw, names="value")
    box.redraw = redraw
    return box
