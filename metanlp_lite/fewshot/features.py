"""Features of utterances, and the pools of utterances that episodes are drawn from.

Every few-shot method works on *features*, one row per utterance of a dataset. An *encoder*
names how texts become features (:data:`ENCODERS`):

- ``"minilm"``: frozen all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised, cached on
  disk by :mod:`metanlp_lite.text`);
- ``"bow"``: hashed word and character n-gram counts (:func:`ngrams`, :class:`HashedNgrams`),
  from which a network learns everything;
- ``"minilm-block"``: the token states of all-MiniLM-L6-v2's first five layers
  (:class:`~metanlp_lite.transformer.TokenStates`, cached on disk), on which the sixth layer
  itself is meta-learned (:class:`~metanlp_lite.fewshot.bodies.TransformerBody`, notebook 05).

:func:`featurize` turns texts into either. :func:`make_pools` gives a dataset's meta-train,
meta-val and meta-test :class:`Pool` s: one feature table, the disjoint class ids of each
meta-split (:func:`split_class_ids`). :func:`sample_batch` turns an episode of indices into a
:class:`~metanlp_lite.episodes.TaskBatch` of features.

Label names (``book_flight`` -> "book flight") are extra evidence: with ``label_names=True``
each class's name, featurised like an utterance, is appended to the support set as one more
example of its class (:func:`add_label_names`). Names are used at meta-test (and meta-val)
time only, never in meta-training, so one trained model serves both settings.

Taught in notebook 04, sections 1 ("Data, class splits, features") and 7 ("Label names as a
baseline of their own").

A new encoder (e.g. a Transformer learner) needs its name in :data:`ENCODERS`, a branch of
:func:`featurize` returning a (P, ...) table that indexes like a tensor, a branch of
:func:`~metanlp_lite.fewshot.bodies.make_body`, its hyper-parameters in each method's
``@register(...)`` (:func:`~metanlp_lite.fewshot.base.register`), and its body's output width in
:attr:`~metanlp_lite.fewshot.base.BuildSpec.dim`.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..episodes import EpisodeSampler, TaskBatch

__all__ = ["ENCODERS", "BLOCK_LAYERS", "ANY_WORD", "ngrams", "HashedNgrams", "featurize", "Pool", "make_pools", "split_class_ids",
           "add_label_names", "sample_batch", "LazyBatch", "is_lazy"]

ENCODERS = ("minilm", "bow", "minilm-block")
BLOCK_LAYERS = 1   # minilm-block: the encoder's last layer is trainable, the five below it frozen

# ---------------------------------------------------------------------------------------
# Hashed word and character n-grams (the from-scratch encoder's input)
# ---------------------------------------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Any script: a run of letters, digits and combining marks (Arabic's vowel signs, Devanagari's
# vowels; \w alone would end a word at each mark), as in Kazakh, Arabic, Chinese ...
_MARKS = "".join(chr(c) for c in range(0x300, 0x10000) if unicodedata.category(chr(c)).startswith("M"))
ANY_WORD = re.compile(f"[\\w{re.escape(_MARKS)}]+")


def ngrams(text: str, word_ngrams: tuple[int, ...] = (1, 2), char_ngrams: tuple[int, ...] = (3, 4),
           any_script: bool = False) -> list[str]:
    """The word n-grams and the within-word character n-grams of ``text`` (lower-cased).

    ``ngrams("Book a flight", (1,), (3,))`` -> ``['w:book', 'w:a', 'w:flight', 'c:<bo', 'c:boo', ...]``;
    words are padded as ``<word>`` so that prefixes and suffixes have their own n-grams. Words are
    ASCII letters and digits (notebook 04's English), or with ``any_script`` any run of Unicode
    letters, digits and combining marks (:data:`ANY_WORD`: ``"Weck mi um 7"``, ``"كَتَبَ"``,
    ``"將鬧鐘設定"``: a text without spaces is one word).
    """
    words = (ANY_WORD if any_script else _WORD).findall(text.lower())
    out = [f"w:{' '.join(words[i:i + n])}" for n in word_ngrams for i in range(len(words) - n + 1)]
    for w in words:
        padded = f"<{w}>"
        out += [f"c:{padded[i:i + n]}" for n in char_ngrams for i in range(len(padded) - n + 1)]
    return out


class HashedNgrams:
    """Hashed n-gram count vectors of texts, stored sparsely and made dense on demand.

    Each text becomes a vector of ``n_buckets`` numbers: every n-gram (see :func:`ngrams`) is
    hashed (crc32, stable across runs) into a bucket, counts are damped with ``log(1 + c)``,
    and the vector is L2-normalised. Bucket 0 is padding and stays 0.

    Indexing like a (P, n_buckets) tensor returns dense rows: ``feats[idx]`` with ``idx``
    a long tensor of any shape gives ``(*idx.shape, n_buckets)`` float32, so a
    :class:`TaskBatch` of indices becomes a TaskBatch of features exactly as with embeddings.
    Stored: ``ids`` (P, L) int32 and ``weights`` (P, L) float32, L the most buckets of a text.
    ``dtype``: the arithmetic of the weights; float64, rounded to float32 at the end, gives the same
    weights on every CPU (float32's log and norm differ in the last bit between vector kernels).
    """

    def __init__(self, texts: Sequence[str], n_buckets: int = 2048,
                 word_ngrams: tuple[int, ...] = (1, 2), char_ngrams: tuple[int, ...] = (3, 4),
                 any_script: bool = False, dtype: torch.dtype = torch.float32) -> None:
        if isinstance(texts, str):
            raise TypeError("HashedNgrams takes a list of texts, not a single string")
        if n_buckets < 2:
            raise ValueError(f"n_buckets must be at least 2, got {n_buckets}")
        self.n_buckets = n_buckets
        self.word_ngrams, self.char_ngrams = tuple(word_ngrams), tuple(char_ngrams)
        rows = []
        for t in texts:
            counts = Counter(zlib.crc32(g.encode("utf-8")) % (n_buckets - 1) + 1
                             for g in ngrams(t, self.word_ngrams, self.char_ngrams, any_script))
            rows.append(counts)
        width = max([len(r) for r in rows] + [1])
        self.ids = torch.zeros(len(rows), width, dtype=torch.int32)
        self.weights = torch.zeros(len(rows), width, dtype=dtype)
        for i, r in enumerate(rows):
            if r:
                self.ids[i, :len(r)] = torch.tensor(list(r.keys()), dtype=torch.int32)
                self.weights[i, :len(r)] = torch.log1p(torch.tensor(list(r.values()), dtype=dtype))
        self.weights = F.normalize(self.weights, dim=1).float()

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(P, n_buckets), as if the features were a dense tensor."""
        return (len(self), self.n_buckets)

    def __getitem__(self, idx: Tensor | int | slice | Sequence[int]) -> Tensor:
        ids, w = self.ids[idx], self.weights[idx]
        out = torch.zeros(*ids.shape[:-1], self.n_buckets)
        return out.scatter_add_(-1, ids.long(), w)


def featurize(texts: Sequence[str], encoder: str, *, show_progress: bool = True) -> Any:
    """Features of ``texts`` for ``encoder``: (P, 384) MiniLM embeddings, (P, 2048) hashed n-grams
    or the :class:`~metanlp_lite.transformer.TokenStates` of the frozen bottom (indexed: (..., L, 385))."""
    if encoder == "minilm-block":
        from ..text import load_encoder
        from ..transformer import token_states

        return token_states(list(texts), load_encoder(), BLOCK_LAYERS, show_progress=show_progress)
    if encoder == "minilm":
        from ..text import embed

        return embed(list(texts), show_progress=show_progress)
    if encoder == "bow":
        return HashedNgrams(list(texts))
    raise ValueError(f"unknown encoder {encoder!r}; choose one of {ENCODERS}")


# ---------------------------------------------------------------------------------------
# Pools, class splits, and episodes of features
# ---------------------------------------------------------------------------------------
class Pool(NamedTuple):
    """The utterances episodes are drawn from, and the classes they may use.

    features: (P, D) one row per utterance of the whole dataset (shared by the three pools).
    labels: (P,) class id of each utterance. classes: the class ids of this meta-split.
    names: (C, D) features of every class's name (row c for class id c), or None.
    class_names: the intent names, indexed by class id. texts: the P utterances.
    """

    features: Any
    labels: Tensor
    classes: list[int]
    names: Any | None
    class_names: list[str]
    texts: list[str]

    def sampler(self, n_way: int, k_shot: int, n_query: int = 15, seed: int = 0) -> EpisodeSampler:
        """An :class:`EpisodeSampler` over this pool's classes."""
        return EpisodeSampler(self.labels, n_way, k_shot, n_query, classes=self.classes, seed=seed,
                              class_names=self.class_names)


def make_pools(dataset: Any, encoder: str, split: str | None = None, *, seed: int = 0,
               show_progress: bool = True) -> dict[str, Pool]:
    """Meta-train, meta-val and meta-test pools of a dataset from :func:`~metanlp_lite.data.load_intents`.

    split: as in :func:`~metanlp_lite.data.class_splits` (default: CLINC150's domains,
    BANKING77's published split 01, a seeded random split of a user's file). The three pools
    share one feature table; their classes are disjoint. Label-name features are included.
    """
    from ..data import pretty_label

    ids = split_class_ids(dataset, split, seed=seed)
    class_names = list(dataset.features["label"].names)
    texts = list(dataset["text"])
    name_texts = [pretty_label(n) for n in class_names]
    if encoder == "minilm":   # one call, so that an empty cache loads the sentence encoder once
        both = featurize(texts + name_texts, encoder, show_progress=show_progress)
        feats, names = both[:len(texts)], both[len(texts):]
    else:
        feats, names = featurize(texts, encoder, show_progress=show_progress), featurize(name_texts, encoder, show_progress=False)
    labels = torch.as_tensor(dataset["label"], dtype=torch.long)
    return {part: Pool(feats, labels, ids[part], names, class_names, texts) for part in ("train", "val", "test")}


def split_class_ids(dataset: Any, split: str | None = None, *, seed: int = 0) -> dict[str, list[int]]:
    """The class ids of the meta-train, meta-val and meta-test classes (disjoint, checked)."""
    from ..data import class_splits, label_ids

    parts = class_splits(dataset, split, seed=seed)
    ids = {part: sorted(label_ids(dataset, getattr(parts, part))) for part in ("train", "val", "test")}
    shared = (set(ids["train"]) | set(ids["val"])) & set(ids["test"]) | set(ids["train"]) & set(ids["val"])
    if shared:
        raise ValueError(f"the class split is not disjoint: classes {sorted(shared)[:5]} are in two meta-splits")
    return ids


def add_label_names(batch: TaskBatch, classes: Tensor, names: Any) -> TaskBatch:
    """Append each class's name to the support set as one more example of that class.

    batch: support_x (T, N*K, D); classes: (T, N) class ids behind labels 0..N-1;
    names: (C, D) label-name features indexed by class id. Returns support (T, N*K + N, D).
    """
    if classes.ndim != 2 or classes.shape[0] != batch.support_y.shape[0]:
        raise ValueError(f"classes must be (T, N) with T = {batch.support_y.shape[0]}, got {tuple(classes.shape)}")
    name_x = names[classes].to(batch.support_x.dtype)                  # (T, N, D)
    name_y = torch.arange(classes.shape[1]).expand(classes.shape[0], -1)
    support_x = batch.support_x
    if support_x.ndim == 4:   # token states (T, N*K, L, 385): pad both to the longer L (mask 0)
        L = max(support_x.shape[2], name_x.shape[2])
        support_x, name_x = (F.pad(t, (0, 0, 0, L - t.shape[2])) for t in (support_x, name_x))
    return TaskBatch(torch.cat([support_x, name_x], 1),
                     torch.cat([batch.support_y, name_y], 1), batch.query_x, batch.query_y)


def _gather(features: Any, idx: TaskBatch, classes: Tensor, names: Any | None) -> TaskBatch:
    batch = TaskBatch(features[idx.support_x], idx.support_y, features[idx.query_x], idx.query_y)
    return batch if names is None else add_label_names(batch, classes, names)


class LazyBatch(NamedTuple):
    """Episodes kept as indices and turned into features a few tasks at a time.

    For token states: 100 BANKING77 episodes of 80 utterances, padded to their longest, take
    about 1 GB as features, but a few kB as indices. idx: a TaskBatch of indices into
    ``features`` (support_x (T, N*K), query_x (T, N*Q)); classes: (T, N); names: as in
    :func:`sample_batch`. ``query_y`` is the episodes' query labels (T, N*Q).
    """

    features: Any
    idx: TaskBatch
    classes: Tensor
    names: Any | None

    @property
    def query_y(self) -> Tensor:
        return self.idx.query_y

    def chunks(self, size: int) -> Iterator[TaskBatch]:
        """The episodes as TaskBatches of features, ``size`` tasks each."""
        for i in range(0, self.classes.shape[0], size):
            sub = TaskBatch(*(t[i:i + size] for t in self.idx))
            yield _gather(self.features, sub, self.classes[i:i + size], self.names)


def is_lazy(features: Any) -> bool:
    """Whether episodes of ``features`` are kept as :class:`LazyBatch` es (token states are)."""
    from ..transformer import TokenStates

    return isinstance(features, TokenStates)


def sample_batch(features: Any, sampler: EpisodeSampler, n_tasks: int,
                 names: Any | None = None, lazy: bool = False) -> tuple[Any, Tensor]:
    """``n_tasks`` episodes of features, and their classes (T, N); names appended if given.

    lazy: return a :class:`LazyBatch` (indices, made into features on demand) instead of a TaskBatch.
    """
    idx, classes = sampler.sample_indices(n_tasks)
    if lazy:
        return LazyBatch(features, idx, classes, names), classes
    return _gather(features, idx, classes, names), classes
