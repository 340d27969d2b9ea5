"""The checks of notebook 07's exercise 14: the forgetting measure (and the backward transfer) of
a stream's accuracy matrix.

Like those of :mod:`metanlp_lite.checks`, which re-exports them (a notebook calls
``checks.check_forgetting``): each takes the student's function, runs it on accuracy matrices built
to catch the usual mistakes, and says which one it met (:class:`~metanlp_lite.feedback.Feedback`).
An accuracy matrix ``acc`` is (..., C, C), in percent: ``acc[t, j]`` is intent j's accuracy after
arrival t, NaN above the diagonal (:mod:`metanlp_lite.stream_metrics`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .feedback import Feedback as _Feedback
from .stream_metrics import backward_transfer, forgetting

__all__ = ["check_forgetting", "check_backward_transfer"]

NAN = float("nan")
# Hand-made matrices (C = 4 and C = 2) on which every mistake named below gives its own wrong number:
# intent 1 peaks after its arrival, then drops twice (first != max != the row before the last);
# intent 2 is recognised better at the end than ever before (negative forgetting); intent 3 loses most.
HAND_MADE: tuple[Tensor, ...] = (
    torch.tensor([[80.0, NAN, NAN, NAN],
                  [90.0, 70.0, NAN, NAN],
                  [70.0, 75.0, 95.0, NAN],
                  [60.0, 85.0, 50.0, 65.0]]),
    torch.tensor([[90.0, NAN],
                  [55.0, 40.0]]),
)
_TOL = 1e-3     # points: float32 sums in another order differ by about 1e-5; every mistake by far more


def _matrix(acc: Tensor) -> str:
    """A small (C, C) matrix in one line: [[80, nan], [90, 70]]."""
    return "[" + ", ".join("[" + ", ".join(f"{x:g}" for x in row) + "]" for row in acc.tolist()) + "]"


def _max_before_end(acc: Tensor, with_nan: bool = False) -> Tensor:
    """(..., C, C) -> (..., C - 1): each old intent's best accuracy before the end (NaN kept: ``with_nan``)."""
    rows = acc[..., :-1, :-1]
    return rows.amax(-2) if with_nan else rows.nan_to_num(float("-inf")).amax(-2)


def _forgetting_mistakes(acc: Tensor) -> list[tuple[Tensor, str]]:
    """The usual wrong forgettings of ``acc`` (..., C, C), each with what it did wrong."""
    C, last = acc.shape[-1], acc[..., -1, :]
    diag = acc.diagonal(dim1=-2, dim2=-1)
    per_intent = _max_before_end(acc) - last[..., :-1]                  # (..., C - 1): the right f_j
    return [
        (-forgetting(acc), "sign error: forgetting is the best accuracy BEFORE the end minus the accuracy at the end "
                           "(positive when the learner lost something)"),
        ((diag - last)[..., :-1].mean(-1), "you used the FIRST accuracy, right after arrival (acc[j, j]), not the MAX "
                                           "over all the earlier steps t < C: that is minus the backward transfer"),
        ((acc[..., -2, :] - last)[..., :-1].mean(-1), "you compared with the row before the last (acc[C-2, j]), not the "
                                                      "MAX over all the earlier steps t < C"),
        (per_intent.clamp(min=0).mean(-1), "the final row is in your max: take the max over the earlier steps t < C only "
                                           "(acc[..., :-1, :]); an intent recognised better at the end than ever "
                                           "before has NEGATIVE forgetting, not 0"),
        (per_intent.sum(-1) / C, "you included the last intent (forgetting 0, or divided by C): it has just arrived, "
                                 "nothing of it can be forgotten; average over the C - 1 intents j < C only"),
        ((per_intent.sum(-1) - diag[..., -1]) / C, "you included the last intent (its column is all NaN before the "
                                                   "end, so its max became 0): average over the intents j < C only, "
                                                   "acc[..., :-1] columns"),
        ((_max_before_end(acc, True) - last[..., :-1]).nanmean(-1), "nanmean skipped the NaN columns: the max of a column "
                                                                   "with NaN above the diagonal is NaN, so only intent 1 "
                                                                   "was averaged; replace the NaNs first, "
                                                                   "acc.nan_to_num(float('-inf')), then take the max"),
        (forgetting(acc) / 100, "units: forgetting is in points of percent, like acc (30.0, not 0.3)"),
    ]


def _bwt_mistakes(acc: Tensor) -> list[tuple[Tensor, str]]:
    """The usual wrong backward transfers of ``acc`` (..., C, C), each with what it did wrong."""
    C, last = acc.shape[-1], acc[..., -1, :]
    diag = acc.diagonal(dim1=-2, dim2=-1)
    return [
        (-backward_transfer(acc), "sign error: backward transfer is the accuracy at the END minus that right after "
                                  "arrival (negative when the learner forgot)"),
        (-forgetting(acc), "you used the MAX over the earlier steps (that is minus the forgetting): backward transfer "
                           "compares with the accuracy right after arrival, acc[j, j]"),
        ((last - acc[..., -2, :])[..., :-1].mean(-1), "you compared with the row before the last (acc[C-2, j]), not "
                                                      "with the accuracy right after each intent arrived, acc[j, j]"),
        ((last - diag)[..., :-1].sum(-1) / C, "you included the last intent (or divided by C): its arrival is the end, "
                                              "so it has no change yet; average over the C - 1 intents j < C only"),
        (backward_transfer(acc) / 100, "units: backward transfer is in points of percent, like acc (-30.0, not -0.3)"),
    ]


def _random_acc(g: torch.Generator, *batch: int, C: int) -> Tensor:
    """(*batch, C, C) accuracy matrices as ``run_stream`` makes them (20 test utterances: multiples
    of 5 percent, float32, NaN above the diagonal)."""
    acc = torch.randint(0, 21, (*batch, C, C), generator=g).float() * 5
    return acc.masked_fill(torch.ones(C, C, dtype=torch.bool).triu(1), NAN)


def _check_metric(fb: _Feedback, student: Callable[[Tensor], Any], reference: Callable[[Tensor], Tensor],
                  mistakes: Callable[[Tensor], list[tuple[Tensor, str]]], formula: str, seed: int) -> None:
    """Run ``student`` on the hand-made matrices, on seeded random ones (C = 2 to 8) one at a time,
    then on a stack of streams (S, C, C), comparing each answer with ``reference``."""
    g = torch.Generator().manual_seed(seed)
    singles = [*HAND_MADE, *(_random_acc(g, C=C) for C in (3, 5, 8, 2, 6))]
    stacked = _random_acc(g, 4, C=7)
    for acc in [*singles, stacked]:
        batched = acc.dim() == 3
        inputs = (f"a stack of {acc.shape[0]} random accuracy matrices, acc of shape {tuple(acc.shape)}" if batched
                  else f"acc = {_matrix(acc)} (C = {acc.shape[-1]})")
        expected = reference(acc).double()
        given = acc.clone()
        try:
            got = student(given)
        except NotImplementedError:
            fb.call(student, acc.clone())                         # raises "not implemented yet"
            raise
        except AssertionError:
            raise
        except Exception as err:
            fix = ("it works on one matrix (C, C) but not on a stack (S, C, C): you forgot the batch dimension; "
                   "index from the end, acc[..., -1, :-1], and reduce over dim=-1 and dim=-2 (never dim=0 or 1)"
                   if batched else f"compute {formula}")
            fb.fail(f"calling your function raised {type(err).__name__}: {err}", inputs, expected, "an exception", fix)
        if not torch.equal(given.nan_to_num(-1.0), acc.nan_to_num(-1.0)):
            fb.fail("your function changed acc in place: the notebook's runs would be changed with it", inputs,
                    "acc unchanged", "acc changed", "use out-of-place operations (nan_to_num, not nan_to_num_; no "
                    "acc[...] = ...), or work on acc.clone()")
        if not isinstance(got, Tensor):
            fb.fail("your function should return a tensor", inputs, expected, got, "return a tensor of shape "
                    "acc.shape[:-2] (for one (C, C) matrix: a 0-dim tensor; no .item() or float())")
        if got.shape == expected.shape and torch.isnan(got).any():
            fb.fail("your answer is NaN", inputs, expected, got,
                    "acc is NaN above the diagonal (intents not yet arrived), and max, sum and mean pass NaN on: "
                    "leave those entries out (e.g. acc.nan_to_num(float('-inf')) before a max, or only the entries "
                    "acc[t, j] with t >= j)")
        if batched and got.shape != expected.shape:
            fb.fail(f"wrong shape on a stack of streams: expected one number per stream, shape {tuple(expected.shape)}",
                    inputs, expected, got, "you forgot the batch dimension: index from the end, acc[..., -1, :-1], and "
                    "reduce over dim=-1 and dim=-2 (never dim=0 or 1); return a tensor of shape acc.shape[:-2]")
        if batched and not torch.allclose(got.detach().double(), expected, rtol=0, atol=_TOL):
            fb.fail("right on every single matrix, wrong on a stack of streams", inputs, expected, got,
                    "you forgot the batch dimension: index from the end, acc[..., -1, :-1], and reduce over dim=-1 "
                    "and dim=-2 (never dim=0 or 1)")
        hint = f"compute {formula}"
        if got.shape == expected.shape:
            d = got.detach().double()
            hint = next((h for wrong, h in mistakes(acc.double()) if torch.allclose(d, wrong, rtol=0, atol=_TOL)), hint)
        fb.tensor(got, expected, inputs, hint, rtol=0, atol=_TOL)


def check_forgetting(forgetting_fn: Callable[[Tensor], Any], seed: int = 0) -> None:
    """Exercise 14 (notebook 07): the forgetting measure of Chaudhry et al. (2018), in points.

    ``forgetting_fn(acc)``: acc (..., C, C) in percent, NaN above the diagonal -> (...): the mean
    over the intents j < C (all but the last) of ``max_{t < C} acc[t, j] - acc[C, j]`` (1-based:
    the best accuracy before the end minus that at the end), as
    :func:`metanlp_lite.stream_metrics.forgetting`. Run on the hand-made matrices
    :data:`HAND_MADE`, on seeded random ones (C = 2 to 8), then on a stack of 4 streams; names
    the usual mistakes (the first accuracy or the row before the last instead of the max, the
    final row in the max, the last intent counted, NaN passed on or skipped by nanmean, the sign,
    the units, the batch dimension, acc changed in place).
    """
    fb = _Feedback("check_forgetting")
    _check_metric(fb, forgetting_fn, forgetting, _forgetting_mistakes,
                  "the mean over the intents j < C of (max over t < C of acc[t, j]) - acc[C, j]", seed)
    fb.passed("The best accuracy before the end minus that at the end, over all intents but the last, batched "
              "and not: Chaudhry et al.'s forgetting.")


def check_backward_transfer(backward_transfer_fn: Callable[[Tensor], Any], seed: int = 0) -> None:
    """The backward transfer of Lopez-Paz & Ranzato (2017), in points.

    ``backward_transfer_fn(acc)``: acc (..., C, C) in percent, NaN above the diagonal -> (...):
    the mean over the intents j < C (all but the last) of ``acc[C, j] - acc[j, j]``, as
    :func:`metanlp_lite.stream_metrics.backward_transfer`; on the same matrices as
    :func:`check_forgetting`, naming the sign, the max instead of the arrival's accuracy, the row
    before the last, the last intent counted, the units and the batch dimension.
    """
    fb = _Feedback("check_backward_transfer")
    _check_metric(fb, backward_transfer_fn, backward_transfer, _bwt_mistakes,
                  "the mean over the intents j < C of acc[C, j] - acc[j, j]", seed)
    fb.passed("The accuracy at the end minus that right after arrival, over all intents but the last, batched "
              "and not: Lopez-Paz & Ranzato's backward transfer.")
