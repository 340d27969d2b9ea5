"""Reproducible on any CPU: random initialisations and training runs that do not depend on
which vector kernels the processor has.

Two things make the "same seed" give different numbers on different CPUs, both met in the
notebooks (02 and 04) and both fixed here:

1. PyTorch's random *transforms* are vectorised. ``torch.manual_seed(0)`` then
   ``nn.Linear(40, 40)`` gives weights that differ in the last bit between a CPU with AVX-512
   and one without (seen: 1.5e-8 apart), and ``torch.randn`` differs by up to 1e-6. Raw
   uniform draws, ``torch.rand(..., dtype=torch.float64)``, are the same everywhere, and so is
   ordinary arithmetic on them: :func:`uniform`, :func:`normal` and :func:`init_linear_` build
   on those.
2. Sums are computed in another order by other vector widths, so a float32 result differs in
   its last bit, and thousands of training steps amplify that into a visibly different network
   (a sinusoid test error of 4.45 became 4.89). Computing in float64 makes the difference about
   1e-16; :func:`round_parameters` then rounds the parameters to float32 after each step, which
   erases it (it is a billion times smaller than float32's spacing), so every step starts from
   bit-identical parameters.

Check: ``ATEN_CPU_CAPABILITY=default`` makes PyTorch use another CPU's kernels on any machine;
the test suite re-runs every notebook that way (``pytest -m anycpu``).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["uniform", "normal", "init_linear_", "round_parameters", "threads", "check_eval_every", "train_keeping_best"]


def uniform(shape: tuple[int, ...] | torch.Size, bound: float, generator: torch.Generator,
            dtype: torch.dtype = torch.float32) -> Tensor:
    """U(-bound, bound) numbers of ``shape``, bit-identical on every CPU (float32-exact values)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return (bound * (2 * u - 1)).to(torch.float32).to(dtype)


def normal(shape: tuple[int, ...] | torch.Size, std: float, generator: torch.Generator,
           dtype: torch.dtype = torch.float32) -> Tensor:
    """N(0, std^2) numbers of ``shape`` by Box-Muller in float64, rounded to float32.

    log and cos may differ in the last float64 bit between CPUs; rounding to float32 hides that
    (except with a probability of about 1e-8 per number).
    """
    n = math.prod(shape)
    u = torch.rand(2, (n + 1) // 2, generator=generator, dtype=torch.float64)
    r = torch.sqrt(-2 * torch.log1p(-u[0]))           # 1 - u in (0, 1]: log is finite
    z = torch.cat([r * torch.cos(2 * math.pi * u[1]), r * torch.sin(2 * math.pi * u[1])])[:n]
    return (std * z).reshape(shape).to(torch.float32).to(dtype)


@torch.no_grad()
def init_linear_(model: nn.Module, seed: int) -> nn.Module:
    """PyTorch's default initialisation of every ``nn.Linear`` in ``model``,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, drawn with :func:`uniform`
    from one generator seeded with ``seed`` (in the order of ``model.modules()``)."""
    gen = torch.Generator().manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                if p is not None:
                    p.copy_(uniform(p.shape, bound, gen, p.dtype))
    return model


@torch.no_grad()
def round_parameters(model: nn.Module, dtype: torch.dtype = torch.float32) -> None:
    """Round every parameter of a float64 ``model`` to the nearest ``dtype`` number, in place.

    Call it after each optimiser step of a float64 training run: the arithmetic stays float64,
    the parameters stay float32-exact, and a run gives the same network on any CPU.
    """
    for p in model.parameters():
        p.copy_(p.to(dtype))


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block (or, as a decorator, the function) with ``n`` PyTorch threads
    (``torch.set_num_threads``), then restore the count.

    The course's small models (a few hundred units, batches of a few hundred rows) train fastest on
    one thread, and one thread degrades in proportion when another job shares the cores, where two
    threads spin-wait for a core they cannot get (measured on 2 cores beside a busy job: 100 steps
    of notebook 06's body took 6.6 s on one thread, 65.7 s on two).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_eval_every(eval_every: int) -> None:
    """A ValueError, saying what to change, unless ``eval_every`` (how often a trainer scores on meta-val) is positive."""
    if not eval_every > 0:
        raise ValueError(f"eval_every must be a positive number of steps (meta-val is scored every eval_every steps), "
                         f"got {eval_every!r}: set it to 1 or more (e.g. 25)")


@threads(1)
def train_keeping_best(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable[[], Tensor],
                       score: Callable[[], float], *, steps: int, eval_every: int, desc: str = "training",
                       show_progress: bool = True) -> tuple[list[int], list[float], list[float], int]:
    """``steps`` optimiser steps on ``loss_fn()`` (a fresh batch each call), the parameters rounded
    to float32 after each (:func:`round_parameters`), scoring ``score()`` (higher is better, e.g.
    meta-val accuracy) at step 0, every ``eval_every`` steps and at the end; ``model`` is left at
    the best-scoring step. Returns (the steps scored, their scores, every step's loss, the best step).
    It runs on one thread (:func:`threads`); the rounding makes the result the same on any count.
    """
    from .progress import progress

    check_eval_every(eval_every)
    checked, scores, losses = [0], [score()], []
    best_state, best_step = copy.deepcopy(model.state_dict()), 0
    for step in progress(range(1, steps + 1), desc=desc, disable=not show_progress):
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        round_parameters(model)
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            checked.append(step)
            scores.append(score())
            if scores[-1] > max(scores[:-1]):
                best_state, best_step = copy.deepcopy(model.state_dict()), step
    model.load_state_dict(best_state)
    return checked, scores, losses, best_step
