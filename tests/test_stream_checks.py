"""Exercise 14's checks (notebook 07): ``checks.check_forgetting`` and ``checks.check_backward_transfer``
pass the right answers and name each usual mistake."""
from __future__ import annotations

import pytest
import torch

from metanlp_lite import checks
from metanlp_lite.stream_checks import HAND_MADE, _bwt_mistakes, _forgetting_mistakes
from metanlp_lite.stream_metrics import backward_transfer, forgetting
from test_checks import fails   # the helper every exercise's check tests use

INF = float("inf")


# --- the student's answer, and the mistakes -------------------------------------------------
def right(acc):
    best = acc[..., :-1, :-1].nan_to_num(-INF).amax(-2)          # (..., C - 1): max over t < C
    return (best - acc[..., -1, :-1]).mean(-1)


def right_with_zeros(acc):                # NaN -> 0 is fine before a max: accuracies are >= 0
    return (acc[..., :-1, :-1].nan_to_num(0.0).amax(-2) - acc[..., -1, :-1]).mean(-1)


def first_not_max(acc):
    return (acc.diagonal(dim1=-2, dim2=-1)[..., :-1] - acc[..., -1, :-1]).mean(-1)


def previous_row(acc):
    return (acc[..., -2, :-1] - acc[..., -1, :-1]).mean(-1)


def final_row_in_max(acc):
    return (acc[..., :, :-1].nan_to_num(-INF).amax(-2) - acc[..., -1, :-1]).mean(-1)


def last_intent_as_zero(acc):           # the last intent counted, with forgetting 0
    f = acc[..., :-1, :-1].nan_to_num(-INF).amax(-2) - acc[..., -1, :-1]
    return torch.cat([f, f.new_zeros(*f.shape[:-1], 1)], -1).mean(-1)


def last_intent_from_zeros(acc):          # all columns, NaN -> 0: the last intent's max is 0
    return (acc[..., :-1, :].nan_to_num(0.0).amax(-2) - acc[..., -1, :]).mean(-1)


def nan_passed_on(acc):                   # max over NaN entries
    return (acc[..., :-1, :-1].amax(-2) - acc[..., -1, :-1]).mean(-1)


def nan_skipped(acc):                     # the NaN columns dropped by nanmean
    return (acc[..., :-1, :-1].amax(-2) - acc[..., -1, :-1]).nanmean(-1)


def sign(acc):
    return -right(acc)


def fraction(acc):
    return right(acc) / 100


def no_batch_rows(acc):                   # dim 0 and acc[-1]: right on one matrix only
    return (acc[:-1, :-1].nan_to_num(-INF).amax(0) - acc[-1, :-1]).mean(-1)


def no_batch_mean(acc):
    return right(acc).mean()


def python_loops(acc):
    C = acc.shape[0]
    return torch.stack([acc[j:C - 1, j].max() - acc[C - 1, j] for j in range(C - 1)]).mean()


def item(acc):
    return right(acc).mean().item()


def in_place(acc):
    acc.nan_to_num_(-INF)
    return (acc[..., :-1, :-1].amax(-2) - acc[..., -1, :-1]).mean(-1)


def not_implemented(acc):
    raise NotImplementedError()


def test_the_reference_is_the_formula():
    """f = mean over j < C of max_{t < C} a_{t,j} - a_{C,j}, on the hand-made 4 x 4 matrix by hand."""
    assert forgetting(HAND_MADE[0]).item() == pytest.approx(((90 - 60) + (75 - 85) + (95 - 50)) / 3)
    assert backward_transfer(HAND_MADE[0]).item() == pytest.approx(((60 - 80) + (85 - 70) + (50 - 95)) / 3)


@pytest.mark.parametrize("mistakes, reference", [(_forgetting_mistakes, forgetting), (_bwt_mistakes, backward_transfer)])
def test_every_mistake_gives_its_own_number_on_the_hand_made_matrix(mistakes, reference):
    values = [reference(HAND_MADE[0].double()).item()] + [wrong.item() for wrong, _ in mistakes(HAND_MADE[0].double())]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 0.1, values


def test_check_forgetting_passes_the_right_answers(capsys):
    checks.check_forgetting(right)
    checks.check_forgetting(right_with_zeros)
    checks.check_forgetting(forgetting)
    checks.check_forgetting(lambda acc: right(acc.double()))          # float64 answers pass too
    assert "check_forgetting: passed." in capsys.readouterr().out


def test_check_forgetting_names_each_mistake():
    fails(checks.check_forgetting, first_not_max, "FIRST accuracy", "MAX")
    fails(checks.check_forgetting, previous_row, "row before the last")
    fails(checks.check_forgetting, final_row_in_max, "final row is in your max", "NEGATIVE")
    fails(checks.check_forgetting, last_intent_as_zero, "included the last intent")
    fails(checks.check_forgetting, last_intent_from_zeros, "included the last intent")
    fails(checks.check_forgetting, nan_passed_on, "NaN", "above the diagonal")
    fails(checks.check_forgetting, nan_skipped, "nanmean skipped the NaN columns")
    fails(checks.check_forgetting, sign, "sign error")
    fails(checks.check_forgetting, fraction, "units")
    fails(checks.check_forgetting, in_place, "changed acc in place")
    fails(checks.check_forgetting, not_implemented, "not implemented yet")
    fails(checks.check_forgetting, item, "0-dim tensor", "no .item()")
    fails(checks.check_forgetting, lambda acc: right(acc) + 1, "wrong value", "max over t < C")


def test_check_forgetting_names_the_batch_dimension():
    for wrong in (no_batch_rows, no_batch_mean, python_loops):
        wrong(HAND_MADE[0])                                 # right on one matrix ...
        assert torch.allclose(wrong(HAND_MADE[0]), forgetting(HAND_MADE[0]))
        message = fails(checks.check_forgetting, wrong, "batch dimension")   # ... not on a stack
        assert "(4, 7, 7)" in message


def test_check_backward_transfer():
    checks.check_backward_transfer(backward_transfer)
    checks.check_backward_transfer(lambda acc: (acc[..., -1, :-1] - acc.diagonal(dim1=-2, dim2=-1)[..., :-1]).mean(-1))
    fails(checks.check_backward_transfer, lambda acc: -backward_transfer(acc), "sign error")
    fails(checks.check_backward_transfer, lambda acc: -forgetting(acc), "MAX")
    fails(checks.check_backward_transfer, lambda acc: (acc[..., -1, :] - acc[..., -2, :])[..., :-1].mean(-1),
          "row before the last")
    fails(checks.check_backward_transfer, lambda acc: backward_transfer(acc) * (acc.shape[-1] - 1) / acc.shape[-1],
          "included the last intent")
    fails(checks.check_backward_transfer, lambda acc: backward_transfer(acc)[..., None].mean(), "batch dimension")
    fails(checks.check_backward_transfer, lambda acc: (acc[..., -1, :] - acc[..., -2, :]).mean(-1), "NaN")


def test_the_checks_are_reexported():
    from metanlp_lite.stream_checks import check_backward_transfer, check_forgetting

    assert checks.check_forgetting is check_forgetting
    assert checks.check_backward_transfer is check_backward_transfer
