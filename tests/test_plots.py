"""Tests for metanlp_lite.plots: the styles and markers figures rely on to be read correctly."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from metanlp_lite import plots  # noqa: E402


def test_initialisations_never_take_the_colour_of_one_of_the_first_five_tasks():
    task_colours = {to_rgba(c) for c in plots.TASK_COLORS[:5]}
    styles = list(plots.INIT_STYLES.values())
    assert not {to_rgba(s["color"]) for s in styles} & task_colours
    assert len({s["marker"] for s in styles}) == len(styles), "each initialisation needs its own marker"


def test_task_regions_draw_solved_ends_filled_and_unsolved_ends_hollow():
    fig, ax = plt.subplots()
    xi = torch.linspace(-1, 1, 5)
    paths = torch.tensor([[[0.0, 0.0], [0.5, 0.5]], [[0.0, 0.0], [-0.5, 0.5]]])
    plots.plot_task_regions(ax, xi, xi, torch.ones(2, 5, 5), 0.5, paths, solved=torch.tensor([True, False]))
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 2
    assert to_rgba(stars[0].get_markerfacecolor()) == to_rgba(plots.TASK_COLORS[0])
    assert to_rgba(stars[1].get_markerfacecolor()) == to_rgba("white")
    assert to_rgba(stars[1].get_markeredgecolor()) == to_rgba(plots.TASK_COLORS[1])
    plt.close(fig)
