"""Episodes: N-way K-shot tasks sampled from a labelled pool.

A *task* (or episode) picks ``n_way`` classes, relabels them ``0 .. n_way-1`` and splits
``k_shot + n_query`` examples of each class into a support set (to adapt on) and a query
set (to be scored on). A :class:`TaskBatch` stacks several tasks along a leading task
dimension; every later part of the package speaks in ``TaskBatch``es.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["TaskBatch", "check_task", "check_batch", "check_shots", "check_class_sizes", "EpisodeSampler",
           "sample_task_indices"]


class TaskBatch(NamedTuple):
    """A batch of ``T`` tasks.

    support_x: (T, N*K, ...) inputs, or a list of T lists of N*K texts.
    support_y: (T, N*K) long labels in 0..N-1 (class-major: K of class 0, then class 1, ...).
    query_x:   (T, N*Q, ...) inputs, or a list of T lists of N*Q texts.
    query_y:   (T, N*Q) long labels in 0..N-1.

    For regression tasks (e.g. sinusoids) the ``y`` are float targets of shape (T, K, 1).
    """

    support_x: Any
    support_y: Tensor
    query_x: Any
    query_y: Tensor


def check_task(x: Any, y: Any, what: str = "support") -> None:
    """One task: x (K, ...), y (K, ...) with K >= 1."""
    for name, t in ((f"{what}_x", x), (f"{what}_y", y)):
        if not isinstance(t, Tensor):
            raise ValueError(
                f"{name} must be a tensor, got {type(t).__name__}. Texts must be embedded first "
                f"(e.g. with metanlp_lite.text) so that {name} is a (K, D) tensor."
            )
        if t.ndim == 0:
            raise ValueError(f"{name} must have a leading example dimension (K, ...), got a scalar")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{what}_x and {what}_y disagree on the number of examples: {what}_x has shape "
            f"{tuple(x.shape)} ({x.shape[0]} examples), {what}_y has shape {tuple(y.shape)} "
            f"({y.shape[0]} examples). Pass one target per input."
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"the {what} set is empty ({what}_x has shape {tuple(x.shape)}): a task needs at least "
            f"one {what} example" + (" to adapt on." if what == "support" else " to be scored on.")
        )


def check_batch(batch: Any) -> TaskBatch:
    """A TaskBatch of T >= 1 tasks: support (T, K, ...), query (T, Q, ...)."""
    if not isinstance(batch, tuple) or len(batch) != 4:
        raise ValueError(
            "expected a TaskBatch(support_x, support_y, query_x, query_y) with a leading task "
            f"dimension, got {type(batch).__name__}"
        )
    batch = TaskBatch(*batch)
    for name, t in zip(TaskBatch._fields, batch):
        if not isinstance(t, Tensor):
            raise ValueError(
                f"batch.{name} must be a tensor with a leading task dimension (T, ...), got "
                f"{type(t).__name__}. Texts must be embedded first (e.g. with metanlp_lite.text)."
            )
        if t.ndim < 2:
            raise ValueError(
                f"batch.{name} must have shape (T, K, ...) (tasks, examples, ...), got "
                f"{tuple(t.shape)}. For a single task, add a task dimension with .unsqueeze(0)."
            )
    sizes = {name: t.shape[0] for name, t in zip(TaskBatch._fields, batch)}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the four parts of the batch disagree on the number of tasks T: {sizes}")
    if batch.support_x.shape[0] == 0:
        raise ValueError("the batch holds no tasks (T = 0)")
    check_task(batch.support_x[0], batch.support_y[0], "support")
    check_task(batch.query_x[0], batch.query_y[0], "query")
    return batch


def check_shots(k_shot: int, n_query: int, what: str = "intent") -> None:
    """A ValueError, saying what to change, unless every ``what`` gets ``k_shot`` >= 1 examples to
    learn from and ``n_query`` >= 1 queries to be scored on."""
    if k_shot < 1:
        raise ValueError(f"k_shot must be at least 1 (each {what} needs an example to learn from), got {k_shot!r}: "
                         "set k_shot to 1 or more")
    if n_query < 1:
        raise ValueError(f"n_query must be at least 1 (each {what} needs a query to be scored on), got {n_query!r}: "
                         "set n_query to 1 or more")


def check_class_sizes(labels: Sequence[int] | Tensor, classes: Sequence[int] | Tensor, k_shot: int, n_query: int,
                      what: str = "intent") -> None:
    """A ValueError naming the smallest of ``classes`` (with its count and the fix) when some have fewer
    than ``k_shot + n_query`` examples in ``labels`` (P,): draws of K + Q distinct examples need them."""
    labels, need = torch.as_tensor(labels), k_shot + n_query
    short = [(n, c) for c in torch.as_tensor(classes).tolist() if (n := int((labels == c).sum())) < need]
    if short:
        n, c = min(short)
        fix = f"lower k_shot or n_query (to at most {n} together), or leave" if n >= 2 else "leave"
        raise ValueError(f"{what} {c} has only {n} examples, but k_shot + n_query = {k_shot} + {n_query} = {need} "
                         f"are needed ({len(short)} {what}(s) too small): {fix} such {what}s out")


def sample_task_indices(
    by_class: Sequence[Tensor],
    n_way: int,
    k_shot: int,
    n_query: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Draw one N-way K-shot task from ``by_class`` (one index tensor per class).

    Returns ``(support_idx, support_y, query_idx, query_y, classes)``: support_idx (N*K,),
    query_idx (N*Q,) index the pool; labels are 0..N-1 in the order the classes were
    drawn; ``classes`` (N,) are the positions in ``by_class`` that were chosen.
    Within a class the K+Q examples are drawn without replacement, so support and query
    never share an example, and the N classes are distinct.
    """
    chosen = torch.randperm(len(by_class), generator=generator)[:n_way]
    s_idx, q_idx = [], []
    for c in chosen.tolist():
        pool = by_class[c]
        pick = pool[torch.randperm(len(pool), generator=generator)[: k_shot + n_query]]
        s_idx.append(pick[:k_shot])
        q_idx.append(pick[k_shot:])
    labels = torch.arange(n_way)
    return (
        torch.cat(s_idx),
        labels.repeat_interleave(k_shot),
        torch.cat(q_idx),
        labels.repeat_interleave(n_query),
        chosen,
    )


class EpisodeSampler:
    """Seeded N-way K-shot sampler over a pool of labelled examples.

    Args:
        labels: (P,) integer class of each example of the pool.
        n_way, k_shot, n_query: the task shape (N, K and Q queries per class).
        classes: the classes tasks may use (default: every class present in ``labels``).
            Pass the meta-train, meta-val or meta-test classes to keep splits disjoint.
        seed: the same seed gives the same episodes.
        class_names: optional names, indexed by class id, used in error messages.

    Raises:
        ValueError: at construction, if the request is impossible (N larger than the
            classes available, or K+Q larger than the examples of some class).
    """

    def __init__(
        self,
        labels: Sequence[int] | Tensor,
        n_way: int,
        k_shot: int,
        n_query: int = 15,
        classes: Sequence[int] | None = None,
        seed: int = 0,
        class_names: Sequence[str] | None = None,
    ) -> None:
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.ndim != 1:
            raise ValueError(f"labels must be 1-D (one class id per example), got shape {tuple(labels.shape)}")
        for name, v, low in (("n_way", n_way, 1), ("k_shot", k_shot, 1), ("n_query", n_query, 0)):
            if not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        present = sorted(set(labels.tolist()))
        classes = present if classes is None else sorted(set(int(c) for c in classes))
        missing = [c for c in classes if c not in set(present)]
        if missing:
            raise ValueError(f"classes {missing[:5]} have no examples in labels")

        def name(c: int) -> str:
            return f"'{class_names[c]}' (id {c})" if class_names is not None else f"class {c}"

        if n_way > len(classes):
            raise ValueError(
                f"cannot sample {n_way}-way tasks: only {len(classes)} classes are available. "
                f"Use n_way <= {len(classes)} or a split with more classes."
            )
        self.classes = classes
        self.by_class = [torch.nonzero(labels == c).flatten() for c in classes]
        need = k_shot + n_query
        short = [(c, len(ix)) for c, ix in zip(classes, self.by_class) if len(ix) < need]
        if short:
            c, n = min(short, key=lambda t: t[1])
            raise ValueError(
                f"cannot sample {k_shot}-shot tasks with {n_query} queries per class: {name(c)} has "
                f"only {n} examples but K+Q = {need} are needed ({len(short)} class(es) too small). "
                f"Lower k_shot or n_query (at most {n} together), or leave such classes out."
            )
        self.n_way, self.k_shot, self.n_query, self.seed = n_way, k_shot, n_query, seed
        self.generator = torch.Generator().manual_seed(seed)

    def sample_indices(self, n_tasks: int = 1) -> tuple[TaskBatch, Tensor]:
        """A batch of tasks as pool indices, and the classes used.

        Returns ``(TaskBatch of index tensors, classes (T, N))``: ``support_x`` (T, N*K) and
        ``query_x`` (T, N*Q) hold indices into the pool; ``classes[t, j]`` is the class id
        that task t calls label j.
        """
        tasks = [
            sample_task_indices(self.by_class, self.n_way, self.k_shot, self.n_query, self.generator)
            for _ in range(n_tasks)
        ]
        s, sy, q, qy, ch = (torch.stack(parts) for parts in zip(*tasks))
        classes = torch.as_tensor(self.classes)[ch]
        return TaskBatch(s, sy, q, qy), classes

    def sample(self, inputs: Tensor | Sequence[str], n_tasks: int = 1) -> TaskBatch:
        """A batch of ``n_tasks`` tasks whose x are taken from ``inputs``.

        inputs: (P, ...) tensor (e.g. embeddings, P = pool size) or a sequence of P texts.
        Returns a TaskBatch with support_x (T, N*K, ...) and query_x (T, N*Q, ...), or
        lists of texts when ``inputs`` are texts.
        """
        idx, _ = self.sample_indices(n_tasks)
        return TaskBatch(take(inputs, idx.support_x), idx.support_y, take(inputs, idx.query_x), idx.query_y)

    def batches(self, inputs: Tensor | Sequence[str], n_batches: int, n_tasks: int = 1) -> Iterator[TaskBatch]:
        """Yield ``n_batches`` TaskBatches of ``n_tasks`` tasks each."""
        for _ in range(n_batches):
            yield self.sample(inputs, n_tasks)


def take(inputs: Tensor | Sequence[str], idx: Tensor) -> Any:
    """``inputs[idx]`` for a tensor, or nested lists of texts for a sequence of strings."""
    if isinstance(inputs, Tensor):
        return inputs[idx]
    return [[inputs[i] for i in row] for row in idx.tolist()]
