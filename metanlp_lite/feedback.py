"""How the exercise checks talk: numerical checks printed the same on any CPU (:func:`show_close`),
and the failure messages of :mod:`metanlp_lite.checks` (:class:`Feedback`): what was wrong, on which
input, what was expected against what came back, and a hint."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["ROUNDING", "show_close", "Feedback", "show"]

ROUNDING = 1e-12   # float64 rounding errors of the notebooks' checks are 1e-17 to 1e-14


def show_close(label: str, diff: float | Tensor, tol: float) -> None:
    """Assert that a numerical check passed, and print it in words that are the same on any CPU.

    diff: the largest difference (absolute or relative) between two computations of the same
    quantity; tol: the most it may be. The raw value is never printed: a rounding error is
    1.1e-16 on one CPU and 5.6e-17 on another (other vector kernels sum in another order), and
    a stored notebook output must not depend on that. A difference below ``ROUNDING`` is shown
    as "< 1e-12 (rounding error)", any other passing one as "< tol". Raises AssertionError,
    with the value, when ``diff`` is not below ``tol`` (or is NaN).
    """
    diff = float(diff.detach()) if isinstance(diff, Tensor) else float(diff)
    if not diff < tol:
        raise AssertionError(f"{label}: the difference {diff:.3e} is not below the tolerance {tol:.0e}")
    shown = f"< {ROUNDING:.0e} (rounding error)" if diff < ROUNDING < tol else f"< {tol:.0e}"
    print(f"{label}: max |difference| {shown}, tolerance {tol:.0e}: ok")


class Feedback:
    """Builds the failure message of one check."""

    def __init__(self, name: str) -> None:
        self.name = name

    def passed(self, what: str) -> None:
        print(f"{self.name}: passed. {what}")

    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise AssertionError(
                f"{self.name}: not implemented yet. Replace `raise NotImplementedError()` with your "
                "code between the markers, run that cell, then run this check again."
            ) from None
        except AssertionError:
            raise
        except Exception as err:
            raise AssertionError(f"{self.name}: calling your function raised {type(err).__name__}: {err}") from err

    def fail(self, what: str, inputs: str, expected: Any, got: Any, hint: str) -> None:
        raise AssertionError(
            f"{self.name}: {what}\n"
            f"  input:    {inputs}\n"
            f"  expected: {show(expected)}\n"
            f"  got:      {show(got)}\n"
            f"  hint:     {hint}"
        )

    def tensor(self, got: Any, expected: Tensor, inputs: str, hint: str, what: str = "wrong value",
               rtol: float = 1e-7, atol: float = 1e-9) -> None:
        if not isinstance(got, Tensor):
            self.fail("your function should return a tensor", inputs, expected, got,
                      f"return a torch.Tensor of shape {tuple(expected.shape)}")
        if got.shape != expected.shape:
            self.fail(f"wrong shape {tuple(got.shape)}, expected {tuple(expected.shape)}", inputs, expected, got,
                      "check which dimension you reduce over, and that you do not add or drop one")
        if not torch.allclose(got.detach().to(expected.dtype), expected, rtol=rtol, atol=atol):
            self.fail(what, inputs, expected, got, hint)


def show(v: Any) -> str:
    """A value in a failure message: a tensor as its shape and first six numbers."""
    if isinstance(v, Tensor):
        flat = v.detach().flatten()
        vals = ", ".join(f"{x:.5g}" for x in flat[:6].tolist()) + (", ..." if flat.numel() > 6 else "")
        return f"tensor of shape {tuple(v.shape)}: [{vals}]"
    return repr(v)
