"""Few-shot text classification: methods on sentence embeddings, and their evaluation.

Every method maps a :class:`~metanlp_lite.episodes.TaskBatch` of embeddings to query
predictions; :func:`evaluate` runs one over many seeded episodes and reports the mean
accuracy with a 95% confidence interval.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .episodes import EpisodeSampler, TaskBatch
from .progress import progress

__all__ = ["prototypes", "ncm_logits", "ncm_predict", "accuracy", "mean_ci95", "evaluate"]


def prototypes(support_x: Tensor, support_y: Tensor, n_way: int) -> Tensor:
    """Class means of the support set.

    support_x: (T, N*K, D); support_y: (T, N*K) labels in 0..n_way-1. Returns (T, N, D).
    """
    if support_x.ndim != 3 or support_y.shape != support_x.shape[:2]:
        raise ValueError(f"expected support_x (T, N*K, D) and support_y (T, N*K), got "
                         f"{tuple(support_x.shape)} and {tuple(support_y.shape)}")
    onehot = F.one_hot(support_y, n_way).to(support_x.dtype)          # (T, N*K, N)
    counts = onehot.sum(1)                                             # (T, N)
    if (counts == 0).any():
        raise ValueError("every class needs at least one support example")
    return onehot.transpose(1, 2) @ support_x / counts[..., None]      # (T, N, D)


def ncm_logits(query_x: Tensor, protos: Tensor) -> Tensor:
    """Cosine similarity of each query to each prototype: (T, M, D), (T, N, D) -> (T, M, N)."""
    return F.normalize(query_x, dim=-1) @ F.normalize(protos, dim=-1).transpose(1, 2)


def ncm_predict(batch: TaskBatch, n_way: int | None = None) -> Tensor:
    """Nearest class mean by cosine on frozen embeddings; no training. Returns (T, N*Q) labels."""
    n_way = n_way or int(batch.support_y.max()) + 1
    return ncm_logits(batch.query_x, prototypes(batch.support_x, batch.support_y, n_way)).argmax(-1)


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


def evaluate(
    predict: Callable[[TaskBatch], Tensor],
    sampler: EpisodeSampler,
    features: Tensor,
    n_episodes: int = 600,
    tasks_per_batch: int = 100,
    desc: str = "evaluating",
    show_progress: bool = True,
) -> Tensor:
    """Per-episode query accuracies (percent) of ``predict`` on ``n_episodes`` seeded episodes.

    predict: maps a TaskBatch of embeddings to (T, N*Q) predicted labels.
    features: (P, D) embeddings of the sampler's pool. Returns (n_episodes,).
    """
    accs = []
    bar = progress(total=n_episodes, desc=desc, disable=not show_progress)
    done = 0
    while done < n_episodes:
        n = min(tasks_per_batch, n_episodes - done)
        batch = sampler.sample(features, n)
        accs.append(accuracy(predict(batch), batch.query_y))
        done += n
        bar.update(n)
    bar.close()
    return torch.cat(accs)
