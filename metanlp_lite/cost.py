"""What one meta-step costs: its time and the memory its autograd graph holds.

A second-order inner loop keeps every inner step's activations, and the graph of its gradient,
until the outer backward pass; a first-order one lets them go. :func:`graph_bytes` measures
exactly that: the tensors saved for backward that are still alive when the meta-loss has been
computed, each storage counted once. The count depends only on shapes, so it is the same on any
machine; the process's peak memory adds the model and the data to it. :func:`graph_split`
separates the per-task copies of the weights from the activations. :func:`release_memory` hands
memory that PyTorch has freed back to the system, which keeps a notebook within Binder's 1.5 GB.

Notebook 05 (section 4, "The cost of second order through attention") plots both against the
number of inner steps; ``benchmarks/block_cost.py`` prints them side by side.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
import weakref
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["graph_bytes", "graph_split", "meta_step_cost", "release_memory"]


def release_memory() -> None:
    """Give memory that tensors have freed back to the operating system (Linux with glibc; elsewhere a no-op).

    PyTorch's CPU tensors come from ``malloc``. glibc keeps what is freed for later requests,
    and tensors of ever-changing shapes (texts of different lengths, episode after episode)
    fragment it: a process's resident memory then grows by a few hundred MB that nothing uses,
    which counts against Binder's limit of 1.5 GB as if it were used. ``malloc_trim(0)`` returns
    the free pages, in about 10 ms. Called after each phase that allocates a lot and frees it
    all (training, scoring a layer over many texts, measuring a graph). No ``gc.collect()``: tensors
    are freed when their last reference goes, and a collection costs ~0.5 s in a notebook's process.
    """
    if _libc is not None:
        _libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_libc = _glibc()


def _saved_storages(loss_fn: Callable[[], Tensor]) -> tuple[Tensor, dict[int, int]]:
    """Run ``loss_fn()``; return the loss and ``{storage address: bytes}`` of every storage a
    tensor saved for backward still lives in (each storage once, however many views saved it)."""
    saved: list[weakref.ref] = []

    def pack(t: Tensor) -> Tensor:
        saved.append(weakref.ref(t))
        return t

    # No cyclic garbage collection meanwhile: a saved output and the node that made it form a
    # cycle (see graph_bytes), and a collection that happened to run in the middle could drop a
    # tensor's Python object (and its weak reference) while the graph still holds its storage,
    # so that the count would depend on when the collector ran.
    enabled = gc.isenabled()
    gc.disable()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = loss_fn()
        alive: dict[int, int] = {}
        for ref in saved:
            t = ref()
            if t is not None:
                s = t.untyped_storage()
                alive[s.data_ptr()] = max(alive.get(s.data_ptr(), 0), s.nbytes())
    finally:
        if enabled:
            gc.enable()
    return loss, alive


def graph_bytes(loss_fn: Callable[[], Tensor]) -> tuple[Tensor, int]:
    """Run ``loss_fn()`` and return (the loss, the bytes its graph holds for the backward pass).

    Call ``loss.backward()`` afterwards: the hook that watches the saved tensors hands each one
    back to the graph as it is, and an output saved by the node that made it then forms a
    reference cycle that only a backward pass releases (dropping the loss frees nothing)."""
    loss, alive = _saved_storages(loss_fn)
    return loss, sum(alive.values())


def graph_split(loss_fn: Callable[[], Tensor], weight_sizes: Iterable[int]) -> tuple[Tensor, dict[str, int]]:
    """The graph's bytes (:func:`graph_bytes`) split in two: ``"weights"``, the storages whose size
    in bytes is one of ``weight_sizes`` (e.g. ``T * p.numel() * 4`` for each parameter p: the
    per-task copies an inner step makes), and ``"activations"``, everything else.

    Runs the backward pass too (gradients accumulate in the parameters' ``.grad``), which frees
    the graph; returns the loss detached."""
    sizes = set(weight_sizes)
    loss, alive = _saved_storages(loss_fn)
    loss.backward()
    weights = sum(b for b in alive.values() if b in sizes)
    split = {"weights": weights, "activations": sum(alive.values()) - weights}
    release_memory()
    return loss.detach(), split


def meta_step_cost(loss_fn: Callable[[], Tensor], repeats: int = 1) -> tuple[float, int]:
    """One meta-step, ``loss_fn()`` and its backward pass: (median seconds over ``repeats``, graph bytes).

    loss_fn: computes the meta-loss, e.g. ``lambda: method.loss(batch)``; gradients accumulate in
    the parameters' ``.grad`` (zero them between calls if they matter).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times, size = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        loss, size = graph_bytes(loss_fn)
        loss.backward()
        times.append(time.perf_counter() - start)
        del loss
        release_memory()     # outside the timed part: the graph just freed, given back
    return sorted(times)[len(times) // 2], size
