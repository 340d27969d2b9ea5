"""What a stream's accuracy matrix says (notebook 07): the numbers of continual learning.

``acc`` is a stream's accuracy matrix, (..., C, C): ``acc[t, j]`` is intent j's test accuracy
(percent) after arrival t, NaN above the diagonal (an intent not yet arrived), as
:func:`metanlp_lite.continual.run_stream` makes it; a leading dimension stacks streams.

- :func:`average_accuracy` (over the intents seen, after each arrival), :func:`retention` (of the
  first intents' accuracy), :func:`accuracy_at_arrival` (how well a new intent is taken in at once);
- :func:`backward_transfer` (Lopez-Paz & Ranzato, 2017) and :func:`forgetting` (Chaudhry et al.,
  2018), in points; :func:`recency_share`, how often the newest intents are predicted;
- :func:`summarize` and :func:`metrics_table`: learners run on the same streams side by side, with
  95% intervals over the streams (Student's t). Their ``runs`` map a learner's name to its list of
  :class:`~metanlp_lite.continual.StreamRun` (anything with ``acc``, ``state_bytes`` and
  ``predicted_age``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["average_accuracy", "retention", "accuracy_at_arrival", "backward_transfer", "forgetting",
           "recency_share", "summarize", "metrics_table"]


def average_accuracy(acc: Tensor) -> Tensor:
    """(C, C) -> (C,): after each arrival t, the mean accuracy over the t + 1 intents seen."""
    return torch.nanmean(acc, dim=-1)


def retention(acc: Tensor, first: int = 10, at: int | None = None) -> Tensor:
    """How much of its accuracy on the first ``first`` intents a learner keeps: their mean
    accuracy after arrival ``at`` (default: the last) over that right after they all arrived
    (arrival ``first``), in percent. acc: (..., C, C)."""
    at = acc.shape[-1] if at is None else at
    return acc[..., at - 1, :first].mean(-1) / acc[..., first - 1, :first].mean(-1) * 100


def accuracy_at_arrival(acc: Tensor) -> Tensor:
    """The mean accuracy of each intent right after it arrived, ``acc[j, j]``, over all intents, in
    percent: how well a learner takes in a new intent at once (low: *intransigence*, Chaudhry et
    al., 2018, who measure it against a joint model). acc: (..., T, T) -> (...)."""
    return acc.diagonal(dim1=-2, dim2=-1).mean(-1)


def backward_transfer(acc: Tensor) -> Tensor:
    """Backward transfer (Lopez-Paz & Ranzato, 2017), in points: the mean over the intents j < T
    (all but the last) of ``acc[T, j] - acc[j, j]``, the accuracy at the end minus that right after
    the intent arrived (negative: forgetting). acc: (..., T, T) -> (...)."""
    T = acc.shape[-1]
    if T < 2:
        raise ValueError(f"backward transfer needs at least 2 arrivals, got an accuracy matrix of {T}")
    j = torch.arange(T - 1)
    return (acc[..., -1, :-1] - acc[..., j, j]).mean(-1)


def forgetting(acc: Tensor) -> Tensor:
    """The forgetting measure of Chaudhry et al. (2018), in points: the mean over the intents
    j < T (all but the last) of ``max_{j <= t < T} acc[t, j] - acc[T, j]``, the most a learner ever
    knew of intent j before the end minus what it knows at the end (0: nothing lost).
    acc: (..., T, T) -> (...), NaN above the diagonal."""
    T = acc.shape[-1]
    if T < 2:
        raise ValueError(f"forgetting needs at least 2 arrivals, got an accuracy matrix of {T}")
    best = acc[..., :-1, :-1].nan_to_num(float("-inf")).amax(-2)     # (..., T - 1): max over t < T
    return (best - acc[..., -1, :-1]).mean(-1)


def recency_share(predicted_age: Tensor, newest: int = 1) -> Tensor:
    """The share (percent) of all seen intents' test utterances predicted as one of the ``newest``
    intents to arrive, after each arrival. predicted_age: (..., C, C) (:class:`StreamRun`'s) -> (..., C).
    A learner with no preference for recent intents predicts the newest one for about 1/t of them."""
    return predicted_age[..., :newest].nansum(-1)


def summarize(runs: dict[str, list[Any]], baseline: str, first: int = 10) -> str:
    """A table of learners run on the same streams: the final accuracy over all intents, the
    accuracy on the first ``first`` intents right after they arrived and at the end, the retention
    (the mean over streams of each stream's ratio), the paired differences from ``baseline`` in
    final accuracy and in retention, and the memory kept at the end (KiB). Intervals: 95%, over the
    streams, with Student's t (:func:`~metanlp_lite.stats.mean_ci95_t`). No timings: they vary
    from run to run (see ``StreamRun.update_ms``)."""
    from .stats import mean_ci95_t

    def table(rs: list[Any]) -> tuple[Tensor, Tensor, Tensor]:
        acc = torch.stack([r.acc for r in rs])
        return acc, average_accuracy(acc)[:, -1], retention(acc, first)

    _, base_final, base_keep = table(runs[baseline])
    w = max(26, *(len(name) for name in runs))
    lines = [f"{'learner':>{w}} {'final, all':>12} {f'first {first}: at {first}':>16} {'at the end':>12} "
             f"{'retention %':>13}   {'minus ' + baseline + ': final, retention':>34} {'memory':>9}"]
    for name, rs in runs.items():
        acc, final, keep = table(rs)
        cells = [mean_ci95_t(final), mean_ci95_t(acc[:, first - 1, :first].mean(-1)),
                 mean_ci95_t(acc[:, -1, :first].mean(-1)), mean_ci95_t(keep)]
        (d, hd), (dk, hk) = mean_ci95_t(final - base_final), mean_ci95_t(keep - base_keep)
        # round first: a difference of -0.04 prints as +0.0, never as "-0.0" (whose sign varies by CPU)
        diff = "" if name == baseline else (f"{round(d, 1) + 0.0:+6.1f} ± {hd:3.1f}, "
                                              f"{round(dk, 1) + 0.0:+6.1f} ± {hk:3.1f}")
        lines.append(f"{name:>{w}} " + " ".join(f"{m + 0.0:6.1f} ± {h:4.1f}".rjust(w) for (m, h), w in zip(cells, (12, 16, 12, 13)))
                     + f"   {diff:>34} {rs[-1].state_bytes / 1024:5.0f} KiB")
    return "\n".join(lines)


def metrics_table(runs: dict[str, list[Any]], newest: int = 5) -> str:
    """The standard continual-learning numbers of learners run on the same streams, each the mean
    over the streams with a 95% interval (Student's t): the average accuracy at the end (over all
    intents), the mean accuracy of each intent right after it arrived (:func:`accuracy_at_arrival`),
    the backward transfer (:func:`backward_transfer`) and the forgetting
    (:func:`forgetting`) in points, and the share of all test utterances predicted, at the end,
    as the newest intent and as one of the ``newest`` newest (:func:`recency_share`; without a
    preference for recent intents: 100/C and 100 * newest/C percent). "-" where a learner's
    matrix lacks the rows a number needs (a learner scored only at some arrivals)."""
    from .stats import mean_ci95_t

    w = max(26, *(len(name) for name in runs))
    C = runs[next(iter(runs))][0].acc.shape[-1]
    head = (f"{'learner':>{w}} {'average acc. %':>14} {'at arrival %':>13} {'BWT, points':>13} {'forgetting F':>13} "
            f"{'newest at end %':>16} {f'{newest} newest %':>13}")
    lines = [head, f"{'(no recency preference)':>{w}} {'':>14} {'':>13} {'':>13} {'':>13} {100 / C:16.1f} {100 * newest / C:13.1f}"]
    for name, rs in runs.items():
        acc = torch.stack([r.acc for r in rs])
        full = not torch.isnan(acc.diagonal(dim1=-2, dim2=-1)).any()
        cells = [mean_ci95_t(average_accuracy(acc)[:, -1])]
        if full:
            cells += [mean_ci95_t(accuracy_at_arrival(acc)), mean_ci95_t(backward_transfer(acc)), mean_ci95_t(forgetting(acc))]
            age = torch.stack([r.predicted_age for r in rs])[:, -1]
            cells += [mean_ci95_t(recency_share(age, 1)), mean_ci95_t(recency_share(age, newest))]
        text = [f"{m + 0.0:5.1f} ± {h:4.1f}" for m, h in cells] + ["-"] * (6 - len(cells))
        lines.append(f"{name:>{w}} " + " ".join(c.rjust(n) for c, n in zip(text, (14, 13, 13, 13, 16, 13))))
    return "\n".join(lines)
