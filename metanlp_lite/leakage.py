"""Near-duplicates across a class split: meta-test utterances with a twin in meta-train or meta-val.

Two utterances are twins when they have the same words up to case and punctuation
(:func:`normalised`) or when their sentence embeddings have a cosine of at least ``cut``
(0.95 by default, notebook 04's test). A twin of another intent is no leak of a class, but a
learner that trained on it has seen that very sentence; the course rechecks its verdicts
without the episodes that hold one (notebooks 04, 05 and 06). :func:`repeated_queries` finds the
near-duplicates within one episode: a query with the words of a support sentence.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["normalised", "twin_rows", "episodes_without", "twin_free_episodes", "repeated_queries", "twin_free_labels"]


def normalised(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces: "Has my top-up gone through?" -> "has my top up gone through"."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def twin_rows(features: Tensor, texts: Sequence[str], test_rows: Tensor, seen_rows: Tensor,
              cut: float = 0.95, chunk: int = 1024) -> Tensor:
    """The rows of ``test_rows`` that have a twin among ``seen_rows``: (number of twins,) row indices.

    features: (P, D) embeddings of the whole table; texts: its P utterances; test_rows, seen_rows:
    1-D row indices into it (meta-test, and meta-train plus meta-val). A twin: the same
    :func:`normalised` words, or a cosine of at least ``cut``.
    """
    if features.dim() != 2 or len(texts) != features.shape[0]:
        raise ValueError(f"features must be (P, D) with one text a row: got {tuple(features.shape)} and "
                         f"{len(texts)} texts")
    if not 0 < cut <= 1:
        raise ValueError(f"cut is a cosine in (0, 1], got {cut}")
    test_rows, seen_rows = torch.as_tensor(test_rows).flatten(), torch.as_tensor(seen_rows).flatten()
    if len(seen_rows) == 0:
        return test_rows[:0]
    seen_words = {normalised(texts[r]) for r in seen_rows.tolist()}
    same_words = torch.tensor([normalised(texts[r]) in seen_words for r in test_rows.tolist()], dtype=torch.bool)
    seen = F.normalize(features[seen_rows].float(), dim=1)       # unit rows, only those compared (memory)
    best = torch.cat([(F.normalize(features[part].float(), dim=1) @ seen.T).max(1).values
                      for part in test_rows.split(chunk)]) if len(test_rows) else torch.zeros(0)
    return test_rows[same_words | (best >= cut)]


def episodes_without(support_rows: Tensor, query_rows: Tensor, rows: Tensor) -> Tensor:
    """Which episodes hold none of ``rows``: (T,) bool. support_rows: (T, N*K), query_rows: (T, N*Q) row indices."""
    rows = torch.as_tensor(rows)
    return ~(torch.isin(support_rows, rows).flatten(1).any(1) | torch.isin(query_rows, rows).flatten(1).any(1))


def twin_free_episodes(features: Tensor, texts: Sequence[str], test_rows: Tensor, seen_rows: Tensor,
                       support_rows: Tensor, query_rows: Tensor,
                       cuts: Sequence[float] = (0.95,)) -> dict[float, tuple[int, Tensor]]:
    """The twin check at several cuts: cut -> (how many of ``test_rows`` have a twin, (T,) bool of the
    episodes that hold none).

    features, texts, test_rows, seen_rows: as for :func:`twin_rows`; support_rows (T, N*K) and
    query_rows (T, N*Q): the episodes' row indices into the same table. A lower cut finds more
    twins (template twins, "transfer 20 dollars" beside "transfer 50 dollars"), so it keeps at most
    the episodes a higher one keeps.
    """
    if len(cuts) == 0:
        raise ValueError("cuts is empty: give at least one cosine, e.g. cuts=(0.95,)")
    out = {}
    for cut in cuts:
        twins = twin_rows(features, texts, test_rows, seen_rows, cut=cut)
        out[cut] = (len(twins), episodes_without(support_rows, query_rows, twins))
    return out


def repeated_queries(texts: Sequence[str], support_rows: Tensor, query_rows: Tensor) -> Tensor:
    """Which queries meet their own words in their episode's support set: (T, N*Q) bool.

    texts: the table's utterances; support_rows (T, N*K), query_rows (T, N*Q): the episodes' row
    indices into it. A query is a repeat when a support sentence of the same episode has the same
    :func:`normalised` words: a test set that holds a sentence twice (xSID's test files hold some
    English sentences two to six times) can put it on both sides of one episode.
    """
    support_rows, query_rows = torch.as_tensor(support_rows), torch.as_tensor(query_rows)
    if support_rows.dim() != 2 or query_rows.dim() != 2 or len(support_rows) != len(query_rows):
        raise ValueError(f"support_rows and query_rows must be (T, N*K) and (T, N*Q) for the same T episodes: got "
                         f"{tuple(support_rows.shape)} and {tuple(query_rows.shape)}")
    ids: dict[str, int] = {}
    rows = torch.cat([support_rows.flatten(), query_rows.flatten()]).unique()
    if len(rows) and (rows.min() < 0 or rows.max() >= len(texts)):
        raise ValueError(f"row indices must be in [0, {len(texts)}): got {rows.min().item()} to {rows.max().item()}")
    words = torch.full((len(texts),), -1, dtype=torch.long)
    for r in rows.tolist():
        words[r] = ids.setdefault(normalised(texts[r]), len(ids))
    return (words[query_rows][:, :, None] == words[support_rows][:, None, :]).any(-1)


def twin_free_labels(features: Tensor, texts: Sequence[str], labels: Tensor, test_classes: Sequence[int],
                     seen_classes: Sequence[int], cut: float = 0.95) -> tuple[Tensor, int, int]:
    """Labels for twin-free test streams: (P,) a copy of ``labels`` with -1 (drawn by no stream) on
    every row of ``test_classes`` that has a twin among the rows of ``seen_classes`` (meta-train and
    meta-val: :func:`twin_rows`, the same words or a cosine of at least ``cut``), and on every row
    of a test intent with the same :func:`normalised` words as an earlier row of that intent (so that
    no query repeats its intent's support sentence). Returns (labels, twins removed, repeats removed).
    """
    labels = torch.as_tensor(labels).clone()
    test = torch.nonzero(torch.isin(labels, torch.as_tensor(list(test_classes)))).flatten()
    seen = torch.nonzero(torch.isin(labels, torch.as_tensor(list(seen_classes)))).flatten()
    twins = twin_rows(features, texts, test, seen, cut)
    labels[twins] = -1
    first: set[tuple[int, str]] = set()
    repeats = []
    for r in test.tolist():
        if labels[r] < 0:
            continue
        key = (int(labels[r]), normalised(texts[r]))
        if key in first:
            repeats.append(r)
        first.add(key)
    labels[torch.tensor(repeats, dtype=torch.long)] = -1
    return labels, len(twins), len(repeats)

