"""Statistics of few-shot results: accuracy, means with 95% intervals, confusion matrices.

Nothing here knows about text or meta-learning: these functions take tensors of predictions,
labels or per-episode numbers, so the sinusoid notebooks use them as well as the text ones.

- :func:`accuracy`: per-task accuracy in percent of predicted against true labels.
- :func:`mean_ci95`: the mean and the half-width of its 95% confidence interval, as
  few-shot papers report them over ~600 episodes. Taught in notebook 00 (section 5, "Over 600
  episodes, with a confidence interval"); notebooks 01 and 02 put intervals on losses with
  it, notebook 04 on every accuracy.
- A *paired difference*: when two methods are scored on the same seeded episodes (as
  :func:`~metanlp_lite.fewshot.training.evaluate_method` does), ``mean_ci95(acc_a - acc_b)``
  is the interval of their difference, much narrower than the two intervals side by side
  (notebook 04, section 6).
- :func:`paired_over_seeds`: a paired difference when each method was also trained with several
  seeds (notebook 05): the interval adds the seeds' variation to the episodes'.
- :func:`paired_over_seeds_t`: the same, with Student's t for the episodes' part too, for a
  difference over a few episodes (a subset of them: tens, not hundreds).
- :func:`t_quantile`: Student's t quantile for any degrees of freedom. A handful of numbers
  (3 training seeds, 5 class splits) get Student's t, not 1.96: with 3 seeds t is 4.30.
- :func:`verdict`: "ahead", "behind" or "not separated", read off a paired interval: the
  words a notebook uses when it ranks two methods.
- :func:`confusion_matrix`: which true class is taken for which (notebook 04, section 9).

What an interval covers: :func:`mean_ci95` the variation over the values given (e.g. episodes,
for one trained model and one class split); :func:`mean_ci95_t` the same, for a few values
(seeds, or splits); :func:`mean_ci95_over_seeds` and :func:`paired_over_seeds` the episodes'
and the training seeds' variation together, for one class split. None of them covers what was
held fixed (another class split, another dataset, other hyper-parameters).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["accuracy", "mean_ci95", "mean_ci95_t", "mean_ci95_over_seeds", "paired_over_seeds", "paired_over_seeds_t",
           "t_quantile", "verdict", "confusion_matrix"]


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (Lentz's
    method, as in Numerical Recipes' ``betacf``), to about 1e-15."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):            # the fraction converges fast below this point
        return 1.0 - _betainc(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return front * h


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` > 0 degrees of freedom (any real df).

    The exact value, not a table: ``t_quantile(0.975, 2)`` = 4.3027, ``(0.975, 4)`` = 2.7764,
    ``(0.975, 20)`` = 2.0860, ``(0.975, 100)`` = 1.9840, and 1.95996 as df grows. Found by
    bisection on the distribution function (Student's t's CDF through the incomplete beta
    function), to 1e-12; df = 1 and 2 have closed forms.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1, got {p}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}: with n values there are n - 1")
    if p == 0.5:
        return 0.0
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    while hi - lo > 1e-12 * max(1.0, hi):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def verdict(diff: float, half_width: float, *, lower_is_better: bool = False) -> str:
    """How a paired 95% interval ``diff ± half_width`` of a - b ranks a against b: ``"ahead"``
    (the whole interval above 0), ``"behind"`` (below 0) or ``"not separated"`` (it holds 0).
    ``lower_is_better``: for errors and losses, where a is ahead when a - b is below 0.

    Rank two methods this way, never by their point estimates: a difference inside its interval
    is noise of the episodes (and seeds) drawn."""
    if half_width < 0 or math.isnan(half_width):
        raise ValueError(f"half_width must be a non-negative number, got {half_width}")
    if lower_is_better:
        diff = -diff
    if diff - half_width > 0:
        return "ahead"
    if diff + half_width < 0:
        return "behind"
    return "not separated"


def accuracy(pred: Tensor, target: Tensor) -> Tensor:
    """Per-task accuracy in percent: (T, M), (T, M) -> (T,)."""
    return (pred == target).float().mean(-1) * 100


def mean_ci95(values: Sequence[float] | Tensor) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval, 1.96 * s / sqrt(n).

    The normal approximation is what few-shot papers report over ~600 episodes.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() < 2:
        raise ValueError(f"need at least 2 values for an interval, got {v.numel()}")
    return v.mean().item(), 1.96 * v.std(unbiased=True).item() / math.sqrt(v.numel())


def mean_ci95_t(values: Sequence[float] | Tensor) -> tuple[float, float]:
    """Mean and the half-width of its 95% interval from Student's t, for a few numbers.

    ``t_quantile(0.975, n - 1) * s / sqrt(n)``: for the five class splits of BANKING77 (n = 5),
    t = 2.776, where the normal approximation's 1.96 would be 30% too narrow. The interval covers
    the variation between the n values given (seeds, splits), assumed roughly normal.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() < 2:
        raise ValueError(f"need at least 2 values for an interval, got {v.numel()}")
    t = t_quantile(0.975, v.numel() - 1)
    return v.mean().item(), t * v.std(unbiased=True).item() / math.sqrt(v.numel())


def paired_over_seeds(a: Tensor, b: Tensor, t_seeds: float | None = None, *,
                      seeds_paired: bool = False, z_episodes: float = 1.96) -> tuple[float, float]:
    """Mean difference a - b and the half-width of its 95% interval, on the same episodes, for
    methods trained with several seeds.

    a: (S_a, E), b: (S_b, E): per-episode accuracies, one row per training seed (S = 1 for a
    method with nothing to train), the same E episodes in every row. The difference is that of
    the seed-averaged accuracies. Its variance has two parts, added: the episodes' (the paired
    variance over episodes of the seed-averaged difference, / E) and the seeds' (each method's
    variance between its per-seed means, / S). Half-width: the square root of 1.96² times the
    episodes' part plus t² times each seeds' part, t = Student's ``t_quantile(0.975, S - 1)``
    (4.30 for 3 seeds: three seeds say little about the seeds' spread), or ``t_seeds`` if given.
    The interval covers the episodes and the training seeds, for this one class split.

    ``seeds_paired=True``, when seed i of a and seed i of b were trained from the same start on
    the same training tasks (S_a = S_b = S): the seeds' part is then the variance of the per-seed
    differences of means, a_i - b_i, / S, instead of the two methods' variances added. It is
    narrower when the two methods' seeds move together, wider when they move apart; both are
    95% intervals, and a notebook that reports one can show the other beside it.
    """
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected (seeds, episodes) tensors over the same episodes, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if seeds_paired:
        if a.shape[0] != b.shape[0] or a.shape[0] < 2:
            raise ValueError(f"seeds_paired needs the same seeds, at least 2, in a and b: got {a.shape[0]} and "
                             f"{b.shape[0]}; pass seeds_paired=False for methods trained with different seeds")
        return _over_seeds(a.mean(0) - b.mean(0), a - b, t_seeds=t_seeds, z_episodes=z_episodes)
    return _over_seeds(a.mean(0) - b.mean(0), a, b, t_seeds=t_seeds, z_episodes=z_episodes)


def paired_over_seeds_t(a: Tensor, b: Tensor, t_seeds: float | None = None, *,
                        seeds_paired: bool = False) -> tuple[float, float]:
    """:func:`paired_over_seeds` with Student's t for E - 1 degrees of freedom on the episodes' part
    (E: the episodes, the columns of a and b) instead of the normal 1.96, for a difference over a few
    episodes: a subset of them, tens rather than hundreds (over 9 episodes t is 2.31, over 26 it is
    2.06, over 600 it is 1.964). The seeds' part is as in :func:`paired_over_seeds`."""
    a = torch.as_tensor(a, dtype=torch.float64)
    if a.ndim == 2 and a.shape[1] < 2:
        raise ValueError(f"need at least 2 episodes for an interval, got {a.shape[1]}")
    z = t_quantile(0.975, a.shape[1] - 1) if a.ndim == 2 else 1.96    # a wrong shape: paired_over_seeds says so
    return paired_over_seeds(a, b, t_seeds, seeds_paired=seeds_paired, z_episodes=z)


def mean_ci95_over_seeds(x: Tensor, t_seeds: float | None = None) -> tuple[float, float]:
    """Mean of the seed-averaged values and the half-width of its 95% interval: x (S, E), one
    row per training seed, the same E episodes (or tasks) in every row. The variance adds the
    episodes' and the seeds' parts, as in :func:`paired_over_seeds`, the seeds' with Student's t
    for S - 1 degrees of freedom (with one seed: :func:`mean_ci95`)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (seeds, episodes) tensor, got shape {tuple(x.shape)}")
    return _over_seeds(x.mean(0), x, t_seeds=t_seeds)


def _over_seeds(d: Tensor, *runs: Tensor, t_seeds: float | None = None, z_episodes: float = 1.96) -> tuple[float, float]:
    """Mean of d (E,) and the square root of ``z_episodes``² (1.96²) times d's variance over episodes / E
    plus t² times each run's (S, E) variance between its per-seed means / S, with t = ``t_seeds`` or
    Student's t_{0.975, S - 1}."""
    var = z_episodes ** 2 * d.var(unbiased=True) / d.numel()
    for x in runs:
        if x.shape[0] > 1:
            t = t_quantile(0.975, x.shape[0] - 1) if t_seeds is None else t_seeds
            var = var + t ** 2 * x.mean(1).var(unbiased=True) / x.shape[0]
    return d.mean().item(), math.sqrt(var.item())


def confusion_matrix(pred: Tensor, target: Tensor, n_way: int) -> Tensor:
    """Counts ``C[i, j]`` of queries of true class i predicted as j: (M,), (M,) -> (N, N) long."""
    if pred.shape != target.shape or pred.ndim != 1:
        raise ValueError(f"expected two (M,) label tensors, got {tuple(pred.shape)} and {tuple(target.shape)}")
    return torch.bincount(target * n_way + pred, minlength=n_way * n_way).reshape(n_way, n_way)

