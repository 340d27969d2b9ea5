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
- :func:`confusion_matrix`: which true class is taken for which (notebook 04, section 9).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["accuracy", "mean_ci95", "mean_ci95_t", "mean_ci95_over_seeds", "paired_over_seeds", "confusion_matrix"]

# Student's t quantile t_{0.975, df} for df = 1..10 (beyond, 1.96 is within 12%)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


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

    For the five class splits of BANKING77 (n = 5): ``t_{0.975, 4} * s / sqrt(5)`` with
    t = 2.776, where the normal approximation's 1.96 would be 30% too narrow.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() < 2:
        raise ValueError(f"need at least 2 values for an interval, got {v.numel()}")
    t = _T975.get(v.numel() - 1, 1.96 if v.numel() > 60 else 2.0 + 2.5 / (v.numel() - 1))
    return v.mean().item(), t * v.std(unbiased=True).item() / math.sqrt(v.numel())


def paired_over_seeds(a: Tensor, b: Tensor, t_seeds: float = 1.96) -> tuple[float, float]:
    """Mean difference a - b and the half-width of its 95% interval, on the same episodes, for
    methods trained with several seeds.

    a: (S_a, E), b: (S_b, E): per-episode accuracies, one row per training seed (S = 1 for a
    method with nothing to train), the same E episodes in every row. The difference is that of
    the seed-averaged accuracies. Its variance has two parts, added: the episodes' (the paired
    variance over episodes of the seed-averaged difference, / E) and the seeds' (each method's
    variance between its per-seed means, / S). Half-width: 1.96 times the square root (a normal
    approximation: with three seeds the seeds' part is itself uncertain; ``t_seeds``, e.g. Student's
    4.30 for 2 degrees of freedom, widens the seeds' part alone).
    """
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected (seeds, episodes) tensors over the same episodes, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    return _over_seeds(a.mean(0) - b.mean(0), a, b, t_seeds=t_seeds)


def mean_ci95_over_seeds(x: Tensor, t_seeds: float = 1.96) -> tuple[float, float]:
    """Mean of the seed-averaged values and the half-width of its 95% interval: x (S, E), one
    row per training seed, the same E episodes (or tasks) in every row. The variance adds the
    episodes' and the seeds' parts, as in :func:`paired_over_seeds` (with one seed: :func:`mean_ci95`)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (seeds, episodes) tensor, got shape {tuple(x.shape)}")
    return _over_seeds(x.mean(0), x, t_seeds=t_seeds)


def _over_seeds(d: Tensor, *runs: Tensor, t_seeds: float = 1.96) -> tuple[float, float]:
    """Mean of d (E,) and the square root of 1.96² times d's variance over episodes / E plus
    ``t_seeds``² times each run's (S, E) variance between its per-seed means / S."""
    var = 1.96 ** 2 * d.var(unbiased=True) / d.numel()
    for x in runs:
        if x.shape[0] > 1:
            var = var + t_seeds ** 2 * x.mean(1).var(unbiased=True) / x.shape[0]
    return d.mean().item(), math.sqrt(var.item())


def confusion_matrix(pred: Tensor, target: Tensor, n_way: int) -> Tensor:
    """Counts ``C[i, j]`` of queries of true class i predicted as j: (M,), (M,) -> (N, N) long."""
    if pred.shape != target.shape or pred.ndim != 1:
        raise ValueError(f"expected two (M,) label tensors, got {tuple(pred.shape)} and {tuple(target.shape)}")
    return torch.bincount(target * n_way + pred, minlength=n_way * n_way).reshape(n_way, n_way)

