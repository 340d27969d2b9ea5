"""Figures shared by the notebooks (matplotlib). Plotting only: the numbers come from elsewhere.

Every function draws on a given ``ax`` (or makes a figure) and returns what it drew, so a
notebook can add to it. Titles, axis labels and legends are set, as the conventions ask.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

__all__ = [
    "TASK_COLORS",
    "INIT_STYLES",
    "landscape_levels",
    "plot_landscape",
    "plot_task_regions",
    "plot_path_losses",
    "plot_fraction_below",
    "plot_stability",
]

# one colour per task (tab10 without grey), reused across figures so task i is always the same colour
TASK_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
               "tab:olive", "tab:cyan")

# one style per initialisation (notebook 03): colours outside the first five task colours, and a
# marker and line style each, so a figure of initialisations is never read as a figure of tasks
INIT_STYLES = {
    "random": {"color": "0.55", "marker": "x", "linestyle": ":"},
    "joint": {"color": "black", "marker": "s", "linestyle": "--"},
    "maml": {"color": "tab:brown", "marker": "o", "linestyle": "-"},
    "fomaml": {"color": "tab:pink", "marker": "^", "linestyle": "-."},
    "reptile": {"color": "tab:cyan", "marker": "D", "linestyle": "-"},
}


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def landscape_levels(Z, n: int = 15, log: bool = True, vmin: float | None = None,
                     vmax: float | None = None) -> np.ndarray:
    """Contour levels for loss values Z: ``n`` levels, geometric (log=True) or linear, between
    vmin and vmax (default: the finite range of Z; geometric levels need vmin > 0)."""
    z = _np(Z)
    z = z[np.isfinite(z)]
    lo = float(z.min()) if vmin is None else vmin
    hi = float(z.max()) if vmax is None else vmax
    if log:
        lo = max(lo, hi * 1e-6, 1e-12)
        return np.geomspace(lo, hi, n) if hi > lo else np.array([lo, lo * 1.001])
    return np.linspace(lo, hi, n) if hi > lo else np.array([lo, lo + 1e-12])



def _colorbar(ax: Axes, cs, levels, label: str, log: bool) -> None:
    """A colour bar for contour set ``cs``; on a log scale, five plain tick labels."""
    cb = ax.figure.colorbar(cs, ax=ax, fraction=0.046, pad=0.03)
    cb.set_label(label)
    if log:
        cb.ax.minorticks_off()
        ticks = levels[:: max(1, len(levels) // 5)]
        cb.set_ticks(ticks)
        cb.set_ticklabels([f"{t:.2g}" for t in ticks])

def _frame(ax: Axes, a: np.ndarray, b: np.ndarray, xlabel: str, ylabel: str, title: str | None) -> None:
    """Limits to the grid (a along x, b along y), axis labels and title of a plane plot."""
    ax.set_xlim(a[0], a[-1])
    ax.set_ylim(b[0], b[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def plot_landscape(ax: Axes, xi1, xi2, Z, *, trajectories=None, levels=None, log: bool = True,
                   cmap: str = "viridis", title: str | None = None, xlabel: str = r"$\xi_1$ (along $d_1$)",
                   ylabel: str = r"$\xi_2$ (along $d_2$)", colorbar: bool = True, label: str = "loss",
                   traj_labels: Sequence[str] | None = None, colors: Sequence[str] | None = None):
    """Filled contours of a loss surface on a plane, with trajectories drawn on top.

    xi1 (A,), xi2 (B,): the plane coordinates of the grid; Z (B, A) (from
    :func:`metanlp_lite.landscape.grid_losses`).
    trajectories: (T, S + 1, 2) plane coordinates (from :func:`metanlp_lite.landscape.project`),
    each drawn as a line with a dot per inner step, a star at its end and the start marked by
    a black cross; ``colors`` gives their colours (default: :data:`TASK_COLORS` in order).
    Values above the top level are drawn in the top colour (diverged regions).
    Returns the contour set.
    """
    a, b, z = _np(xi1), _np(xi2), _np(Z)
    if z.shape != (len(b), len(a)):
        raise ValueError(f"Z must have shape (len(xi2), len(xi1)) = ({len(b)}, {len(a)}), got {z.shape}")
    if levels is None:
        levels = landscape_levels(z, log=log)
    z = np.where(np.isfinite(z), z, levels[-1])
    z = np.clip(z, levels[0], levels[-1])
    norm = LogNorm(levels[0], levels[-1]) if log else None
    cs = ax.contourf(a, b, z, levels=levels, cmap=cmap, norm=norm)
    ax.contour(a, b, z, levels=levels, colors="k", linewidths=0.3, alpha=0.4, norm=norm)
    if colorbar:
        _colorbar(ax, cs, levels, label, log)
    if trajectories is not None:
        tr = _np(trajectories)
        for i, path in enumerate(tr):
            color = colors[i] if colors is not None else TASK_COLORS[i % len(TASK_COLORS)]
            ax.plot(path[:, 0], path[:, 1], "-o", color="white", ms=4.5, lw=2.6, zorder=3)
            ax.plot(path[:, 0], path[:, 1], "-o", color=color, ms=3, lw=1.4, zorder=4,
                    label=traj_labels[i] if traj_labels is not None else None)
            ax.plot(path[-1, 0], path[-1, 1], "*", color=color, mec="white", ms=11, zorder=5)
        ax.plot(0, 0, "X", color="black", mec="white", ms=9, zorder=6, label=r"$\theta$")
    _frame(ax, a, b, xlabel, ylabel, title)
    return cs


def plot_task_regions(ax: Axes, xi1, xi2, Z_tasks, thresholds, trajectories, *, background=None,
                      title: str | None = None, xlabel: str = r"$\xi_1$", ylabel: str = r"$\xi_2$",
                      task_labels: Sequence[str] | None = None, cmap: str = "Greys", log: bool = True,
                      levels=None, colorbar: bool = False, label: str = "mean loss", solved=None):
    """Where each task's loss is low, and where its inner loop goes, on one plane.

    xi1 (A,), xi2 (B,): the grid's plane coordinates.
    Z_tasks (T, B, A): each task's loss on the grid; thresholds: a number or (T,): the
    region Z_t < threshold_t is shaded in the task's colour and outlined; trajectories
    (T, S + 1, 2): each task's inner-loop path in plane coordinates. background (B, A):
    e.g. the mean loss over tasks, drawn in grey filled contours (with a colour bar named
    ``label`` if ``colorbar``). An initialisation from
    which a few steps reach every task's region has every path end inside its own colour.
    solved: optional (T,) booleans, whether each task is really solved at the end of its path
    (in all P dimensions, not where its projection lands): its end star is drawn filled if so
    and hollow if not. Without it every star is filled.
    Returns the background's contour set (None without a background), e.g. for a shared colour bar.
    """
    a, b, zt, tr = _np(xi1), _np(xi2), _np(Z_tasks), _np(trajectories)
    done = np.ones(len(tr), bool) if solved is None else np.broadcast_to(_np(solved).astype(bool), (len(tr),))
    cs = None
    th = np.broadcast_to(np.asarray(thresholds, dtype=float), (len(zt),))
    if background is not None:
        bg = _np(background)
        lv = landscape_levels(bg, 10, log=log) if levels is None else levels
        bg = np.clip(np.where(np.isfinite(bg), bg, lv[-1]), lv[0], lv[-1])
        cs = ax.contourf(a, b, bg, levels=lv, cmap=cmap, norm=LogNorm(lv[0], lv[-1]) if log else None, alpha=0.6)
        if colorbar:
            _colorbar(ax, cs, lv, label, log)
    for i, (z, path) in enumerate(zip(zt, tr)):
        color = TASK_COLORS[i % len(TASK_COLORS)]
        z = np.where(np.isfinite(z), z, np.inf)
        if (z < th[i]).any():
            ax.contourf(a, b, z, levels=[-np.inf, th[i]], colors=[color], alpha=0.25)
            ax.contour(a, b, z, levels=[th[i]], colors=[color], linewidths=1.2)
        ax.plot(path[:, 0], path[:, 1], "-", color="white", lw=2.4, zorder=3)
        ax.plot(path[:, 0], path[:, 1], "-o", color=color, ms=2.5, lw=1.3, zorder=4,
                label=task_labels[i] if task_labels is not None else None)
        filled = dict(mfc=color, mec="black", mew=0.8) if done[i] else dict(mfc="white", mec=color, mew=2.0)
        ax.plot(path[-1, 0], path[-1, 1], "*", ms=13, zorder=5, **filled)
    ax.plot(0, 0, "X", color="black", mec="white", ms=8, zorder=6)
    _frame(ax, a, b, xlabel, ylabel, title)
    return cs


def plot_path_losses(ax: Axes, s, losses, *, labels: Sequence[str] | None = None, title: str | None = None,
                     ylabel: str = "support loss (MSE)", log: bool = True):
    """Loss along inner-loop paths: s (M,) positions in inner steps, losses (T, M), one line per
    task; the iterates phi_j (integer s) are marked with dots."""
    s, ls = _np(s), _np(losses)
    at_steps = np.isclose(s, np.round(s))
    for i, l in enumerate(ls):
        color = TASK_COLORS[i % len(TASK_COLORS)]
        ax.plot(s, l, "-", color=color, lw=1.3, label=labels[i] if labels is not None else None)
        ax.plot(s[at_steps], l[at_steps], "o", color=color, ms=3.5)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(r"inner step $j$ (between dots: on the segment $\phi_j \to \phi_{j+1}$)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend(fontsize="small")


def plot_fraction_below(ax: Axes, fractions: Mapping[str, object], threshold: float, *,
                        intervals: Mapping[str, object] | None = None, title: str | None = None,
                        ylabel: str | None = None, styles: Mapping[str, Mapping] | None = None):
    """Fraction of tasks below a loss threshold after k inner steps, one line per initialisation.

    fractions: {name: (S + 1,)}; intervals: optional {name: (2, S + 1)} lower and upper bounds
    (e.g. a 95% interval), drawn as a band; styles: optional {name: matplotlib line keywords}
    (e.g. from :data:`INIT_STYLES`).
    """
    for i, (name, f) in enumerate(fractions.items()):
        f = _np(f)
        k = np.arange(len(f))
        style = {"marker": "o", **(styles or {}).get(name, {})}
        line, = ax.plot(k, f, ms=4, label=name, **style)
        if intervals is not None and name in intervals:
            lo, hi = _np(intervals[name])
            ax.fill_between(k, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("inner steps $k$")
    ax.set_ylabel(ylabel or f"fraction of tasks with query loss < {threshold:g}")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)


def plot_stability(ax: Axes, bounds: Mapping[str, object], diverge: Mapping[str, object], *,
                   title: str | None = None, sweep: tuple[float, float] | None = None,
                   styles: Mapping[str, Mapping] | None = None):
    """The stability bound 2 / lambda_max against the measured divergence learning rate.

    bounds, diverge: {initialisation: (T,)} per task; one marker per initialisation (styles:
    optional {name: {"color": ..., "marker": ...}}, e.g. from :data:`INIT_STYLES`).
    Points on the diagonal: divergence starts exactly at the bound (a quadratic would);
    above it: the network tolerates larger steps than its curvature at theta predicts.
    ``sweep`` (lo, hi): the range of step sizes tried; runs that never diverged are drawn at hi.
    """
    allv = []
    for name in bounds:
        b, d = _np(bounds[name]), _np(diverge[name])
        if sweep is not None:
            d = np.where(np.isfinite(d), d, sweep[1])
        style = (styles or {}).get(name, {})
        ax.scatter(b, d, s=24, label=name, alpha=0.85, color=style.get("color"), marker=style.get("marker", "o"))
        allv += [b, d]
    v = np.concatenate(allv)
    lo, hi = v[v > 0].min() / 1.5, v.max() * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label=r"$\alpha_{\mathrm{div}} = 2/\lambda_{\max}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(r"stability bound $2/\lambda_{\max}$ at $\theta$")
    ax.set_ylabel(r"measured divergence step size $\alpha_{\mathrm{div}}$")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
