"""A new language from a few examples: few-shot intents across xSID's languages (notebook 06).

xSID (:mod:`metanlp_lite.xsid`) has the same utterances in 19 languages and dialects, so every
language can be tested on the *same* sentences, and a sentence can be kept out of training in
every language at once. Here:

- :func:`load_corpus`, :func:`position_split`, :func:`part_labels` (from
  :mod:`metanlp_lite.multilingual`, re-exported here): the languages in one table, and the split
  that keeps every meta-test sentence, and every near-duplicate of one, out of training in every
  language;
- :class:`LanguageEpisodes`: N-way K-shot episodes drawn within one language at a time;
- :class:`LanguageBody`: what is meta-learned across languages: an adapter of the MiniLM
  embedding, a character n-gram encoder from scratch, or both together;
  :func:`meta_train` trains it as a Prototypical Network on the training languages' episodes,
  keeping the step best on meta-val;
- :func:`evaluate_language`: per-episode accuracies on a held-out language's meta-test sentences,
  with the support set in that language or, for the same episodes, in English (zero-shot);
  :func:`episode_rows`: those episodes' rows, so that the stored runs can be rescored without some
  of them (:func:`twin_sentences`: the meta-test sentences with a template twin below the split's cut);
- :func:`with_dialects` (from :mod:`metanlp_lite.multilingual`): xSID's Norwegian dialect test
  sentences, each speaker a language of its own, for a check of models held out on Norwegian on new texts with the same content (not blind to content);
- :func:`tokenizer_stats` and :func:`char_overlap`: why the English encoder fails where it fails,
  and how close a language is to the training languages.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .episodes import EpisodeSampler, TaskBatch
from .fewshot.features import ANY_WORD
from .fewshot.metric import ncm_logits, prototypes
from .reproducible import check_eval_every, init_linear_, normal, train_keeping_best
from .stats import accuracy
from .xsid import XSID_INTENTS

__all__ = ["LANGUAGES", "CHAR_BUCKETS", "Corpus", "load_corpus", "position_split", "part_labels", "LanguageEpisodes",
           "WithFrozen", "meta_val_episodes", "VARIANTS", "OBJECTIVES",
           "LanguageBody", "encode", "reembed", "MetaTrainLog", "meta_train", "leave_one_out", "evaluate_language",
           "episode_rows", "twin_sentences", "word_twins",
           "RESULTS", "load_language_results", "tokenizer_stats",
           "char_grams", "char_overlap", "corpus_from_file", "with_dialects", "dialect_rows", "DIALECT_FILE"]

from .leakage import twin_rows
from .multilingual import (CHAR_BUCKETS, LANGUAGES, Corpus, corpus_from_file, load_corpus, part_labels,
                           position_split, reembed, with_dialects, dialect_rows, word_twins, DIALECT_FILE)


def _sampler(labels: Tensor, language: Sequence[str], code: str, n_way: int, k_shot: int, n_query: int,
             seed: int) -> EpisodeSampler:
    """Episodes of one language's labelled rows, from its intents with at least K + Q of them."""
    mine = torch.where(torch.tensor([lang == code for lang in language]), labels, torch.full_like(labels, -1))
    counts = Counter(mine.tolist())
    classes = sorted(c for c, n in counts.items() if c >= 0 and n >= k_shot + n_query)
    if len(classes) < n_way:
        raise ValueError(f"{code}: only {len(classes)} intents have {k_shot} + {n_query} labelled sentences; "
                         f"{n_way}-way episodes need {n_way}. Lower k_shot or n_query.")
    return EpisodeSampler(mine, n_way, k_shot, n_query, classes=classes, seed=seed, class_names=list(XSID_INTENTS))


class LanguageEpisodes:
    """N-way K-shot episodes, each drawn within one language (support and queries alike).

    labels: (P,) with -1 for rows not to draw (:func:`part_labels`); language: (P,) codes.
    Each task's language is drawn uniformly from ``languages`` (default: every language with
    ``n_way`` intents of K + Q labelled rows; named languages that have fewer are an error). ``sample_indices(T)`` gives a TaskBatch of row indices (support (T, N*K),
    query (T, N*Q)) and the tasks' classes (T, N), like :class:`EpisodeSampler`.
    """

    def __init__(self, labels: Tensor, language: Sequence[str], n_way: int, k_shot: int, n_query: int = 5,
                 languages: Sequence[str] | None = None, seed: int = 0) -> None:
        named = languages is not None
        if languages is None:
            languages = sorted({lang for lang, y in zip(language, labels.tolist()) if y >= 0})
        self.languages, self.samplers = [], []
        for i, code in enumerate(languages):
            try:
                self.samplers.append(_sampler(labels, language, code, n_way, k_shot, n_query, seed + 1000 * i))
                self.languages.append(code)
            except ValueError:
                if named:
                    raise
        if not self.samplers:
            raise ValueError(f"no language has {n_way} intents with {k_shot} + {n_query} labelled rows")
        self.generator = torch.Generator().manual_seed(seed)

    def sample_indices(self, n_tasks: int = 1) -> tuple[TaskBatch, Tensor]:
        picks = torch.randint(len(self.samplers), (n_tasks,), generator=self.generator).tolist()
        tasks = [self.samplers[i].sample_indices(1) for i in picks]
        batch = TaskBatch(*(torch.cat([t[0][j] for t in tasks]) for j in range(4)))
        return batch, torch.cat([t[1] for t in tasks])


class LanguageBody(nn.Module):
    """The representation meta-learned across languages: rows -> unit vectors z (..., 384).

    ``inputs="minilm"``: an adapter of the frozen embedding x, ``z = norm(x + W2 relu(W1 x))``;
    ``"chars"``: a character n-gram encoder from scratch, ``z = norm(W2 relu(E h))``, with h the
    hashed n-gram vector (an EmbeddingBag E, any script); ``"both"``: ``z = norm(x + W2 relu(E h +
    W1 x))``. With MiniLM, W2 starts at zero: at step 0 the body *is* the frozen encoder, and
    nearest class mean on it is the baseline. ``hidden``: the width of relu's layer.
    """

    def __init__(self, inputs: str = "both", hidden: int = 256, n_buckets: int = CHAR_BUCKETS, dim: int = 384,
                 seed: int = 0) -> None:
        super().__init__()
        if inputs not in ("minilm", "chars", "both"):
            raise ValueError(f"inputs must be 'minilm', 'chars' or 'both', got {inputs!r}")
        self.inputs = inputs
        gen = torch.Generator().manual_seed(seed + 2)
        self.W1 = init_linear_(nn.Linear(dim, hidden), seed) if inputs != "chars" else None
        self.E = None
        if inputs != "minilm":   # one N(0, 1/16) vector per bucket; bucket 0 is padding
            self.E = nn.EmbeddingBag(n_buckets, hidden, mode="sum", padding_idx=0)
            with torch.no_grad():
                self.E.weight.copy_(normal((n_buckets, hidden), 0.25, gen))   # gen: seed + 2, W1's is seed
                self.E.weight[0] = 0
        self.W2 = init_linear_(nn.Linear(hidden, dim), seed + 1)
        if inputs != "chars":
            nn.init.zeros_(self.W2.weight)
            nn.init.zeros_(self.W2.bias)
        self.log_tau = nn.Parameter(torch.tensor(math.log(10.0)))   # the ProtoNet's temperature

    def forward(self, x: Tensor, ids: Tensor, weights: Tensor) -> Tensor:
        """x: (..., 384) MiniLM embeddings; ids, weights: (..., W) hashed n-grams -> z (..., 384)."""
        shape = x.shape[:-1]
        h = 0
        if self.E is not None:   # one bag per text, of its n-grams only (the padding, bucket 0, skipped)
            ids, weights = ids.reshape(-1, ids.shape[-1]), weights.reshape(-1, ids.shape[-1])
            real = ids > 0
            offsets = torch.cat([real.new_zeros(1, dtype=torch.long), real.sum(1).cumsum(0)[:-1]])
            h = self.E(ids[real].long(), offsets, per_sample_weights=weights[real]).reshape(*shape, -1)
        if self.W1 is not None:
            h = h + self.W1(x)
        out = self.W2(F.relu(h))
        return F.normalize(out if self.inputs == "chars" else x + out, dim=-1)


def encode(body: LanguageBody | None, corpus: Corpus, rows: Tensor) -> Tensor:
    """The features of ``rows`` (any shape of row indices) -> (*rows.shape, 384), float64: the
    body's output, or the frozen MiniLM embeddings when ``body`` is None. In float64 (the body too:
    :func:`meta_train` leaves it so, its parameters float32 numbers), so that which prototype is
    nearest does not depend on the CPU's float32 kernels."""
    x = corpus.minilm[rows].double()
    if body is None:
        return x
    return body.double()(x, corpus.chars.ids[rows], corpus.chars.weights[rows].double())


def _episode_accuracy(body: LanguageBody | None, corpus: Corpus, idx: TaskBatch, support_rows: Tensor | None = None) -> Tensor:
    """Per-episode accuracies (percent) of nearest class mean on the body's features: (T,)."""
    n_way = int(idx.support_y.max()) + 1
    with torch.no_grad():
        zs = encode(body, corpus, idx.support_x if support_rows is None else support_rows)
        zq = encode(body, corpus, idx.query_x)
        pred = ncm_logits(zq, prototypes(zs, idx.support_y, n_way)).argmax(-1)
    return accuracy(pred, idx.query_y)


class MetaTrainLog(NamedTuple):
    """checked: the steps at which meta-val was scored; val: its accuracy there (percent); losses:
    one per step; best_step: the step kept; seconds: the wall time of training; val_kept: the
    meta-val accuracy of the model :func:`leave_one_out` returns (None from :func:`meta_train`)."""

    checked: list[int]
    val: list[float]
    losses: list[float]
    best_step: int
    seconds: float
    val_kept: float | None = None


OBJECTIVES = ("protonet", "supervised")


def meta_val_episodes(corpus: Corpus, val: Tensor, *, n_way: int = 5, k_shot: int = 1, val_query: int = 2,
                      episodes: int = 200, seed: int = 0) -> TaskBatch:
    """The meta-val episodes :func:`meta_train` scores (row indices: support (T, N*K), query (T, N*Q)),
    drawn within the training languages from ``val`` (:func:`part_labels`) with seed + 1."""
    return LanguageEpisodes(val, corpus.language, n_way, k_shot, val_query, seed=seed + 1).sample_indices(episodes)[0]


class WithFrozen(nn.Module):
    """A meta-trained body beside the frozen encoder it started from: z = [e, f(x)] / sqrt(2) (..., 768).

    Nearest class mean by cosine on z adds the frozen encoder's similarity to the body's, so the
    frozen prototypes keep half the vote: a fallback the body can only add to. x, ids, weights:
    as :meth:`LanguageBody.forward`; no parameters of its own."""

    def __init__(self, body: LanguageBody) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor, ids: Tensor, weights: Tensor) -> Tensor:
        return torch.cat([F.normalize(x, dim=-1), self.body(x, ids, weights)], -1) / math.sqrt(2)


def meta_train(body: LanguageBody, corpus: Corpus, train: Tensor, val: Tensor, *, steps: int = 300,
               meta_batch: int = 16, n_way: int = 5, k_shot: int = 1, n_query: int = 5,
               train_shots: Sequence[int] | None = None, objective: str = "protonet", lr: float = 1e-3,
               weight_decay: float = 1e-2, eval_every: int = 50, val_episodes: int = 200, val_query: int = 2,
               seed: int = 0, show_progress: bool = True, desc: str = "meta-training") -> MetaTrainLog:
    """Meta-train ``body`` as a Prototypical Network on episodes of the training languages.

    train, val: (P,) labels from :func:`part_labels` (the training languages' meta-train and
    meta-val sentences). Each step: ``meta_batch`` episodes, each within one language; the loss
    is cross-entropy of ``tau * cos(z_query, prototype)``; one AdamW step. ``train_shots``: the K
    of the training episodes, one value a step in turn (``(1, 5)``: 1-shot, then 5-shot, ...);
    default ``(k_shot,)``. The body trains in float64 with its parameters rounded to float32 after
    each step (the same network on any CPU: :mod:`metanlp_lite.reproducible`), and stays float64
    (holding float32 numbers). Every ``eval_every`` steps (and at step 0) nearest class mean on the
    body is scored on the same ``val_episodes`` meta-val episodes, N-way K-shot with ``val_query``
    queries per class (2: the meta-val sentences are few, 53 English sentences over 16 intents, and
    an intent enters an episode only with K + Q of them); the best step is kept.

    ``objective="supervised"``: the control without episodes. The same number of utterances a step
    (``meta_batch * n_way * (k_shot + n_query)``), drawn at random from every training row, and the
    cross-entropy of ``tau * cos(z, w_c)`` over all the intents, with one learned vector w_c per
    intent (dropped after training); the same selection on the same meta-val episodes.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    check_eval_every(eval_every)
    if val_episodes < 1:
        raise ValueError(f"val_episodes must be at least 1 (the meta-val episodes each check scores), got {val_episodes}: "
                         "set it to 1 or more (200 by default)")
    shots = tuple(train_shots) if train_shots is not None else (k_shot,)
    if not shots or min(shots) < 1:
        raise ValueError(f"train_shots must be positive numbers of examples per class, got {train_shots!r}")
    start = time.perf_counter()
    episodes = {k: LanguageEpisodes(train, corpus.language, n_way, k, n_query, seed=seed + 7 * i)
                for i, k in enumerate(dict.fromkeys(shots))}
    val_idx = meta_val_episodes(corpus, val, n_way=n_way, k_shot=k_shot, val_query=val_query, episodes=val_episodes,
                                seed=seed)
    body.double()
    model = nn.ModuleDict({"body": body})
    if objective == "supervised":
        model["head"] = nn.Linear(body.W2.out_features, len(corpus.class_names), bias=False).double()
        init_linear_(model["head"], seed + 5)
        rows = torch.nonzero(train >= 0).flatten()
        draws = torch.Generator().manual_seed(seed)
        per_step = meta_batch * n_way * (k_shot + n_query)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    step = [0]

    def score() -> float:
        return _episode_accuracy(body, corpus, val_idx).mean().item()

    def loss_fn() -> Tensor:
        k = shots[step[0] % len(shots)]
        step[0] += 1
        if objective == "supervised":
            batch = rows[torch.randint(len(rows), (per_step,), generator=draws)]
            z, w = encode(body, corpus, batch), F.normalize(model["head"].weight, dim=-1)
            return F.cross_entropy(body.log_tau.exp() * z @ w.T, train[batch])
        idx, _ = episodes[k].sample_indices(meta_batch)
        zs, zq = encode(body, corpus, idx.support_x), encode(body, corpus, idx.query_x)
        logits = body.log_tau.exp() * ncm_logits(zq, prototypes(zs, idx.support_y, n_way))
        return F.cross_entropy(logits.flatten(0, 1), idx.query_y.flatten())

    checked, accs, losses, best_step = train_keeping_best(model, opt, loss_fn, score, steps=steps, eval_every=eval_every,
                                                          desc=desc, show_progress=show_progress)
    return MetaTrainLog(checked, accs, losses, best_step, time.perf_counter() - start)


# The variants benchmarks/xsid_languages.py stores beside the three bodies: name -> (body, meta_train options)
# (a name ending in "+frozen": that model, trained as usual, then scored beside the frozen encoder, :class:`WithFrozen`)
VARIANTS = {"both-mix": ("both", {"train_shots": (1, 5)}), "both-sup": ("both", {"objective": "supervised"}),
            "both+frozen": ("both", {}), "both-sup+frozen": ("both", {"objective": "supervised"})}


def leave_one_out(corpus: Corpus, target: str, inputs: str = "both", *, seed: int = 0, steps: int = 300,
                  show_progress: bool = True, **options: Any) -> tuple[nn.Module, MetaTrainLog]:
    """Meta-train a :class:`LanguageBody` for held-out ``target``: on every other language's
    meta-train sentences, choosing the step on their meta-val sentences (:func:`position_split`,
    seed 0). ``target`` is never seen, nor is any meta-test sentence in any language.
    ``seed``: the body's initialisation and the episodes. ``inputs``: a body ("minilm", "chars",
    "both") or one of :data:`VARIANTS` ("both-mix": trained on 1- and 5-shot episodes in turn;
    "both-sup": the control without episodes; "both+frozen", "both-sup+frozen": those returned
    inside :class:`WithFrozen`); ``options`` go to :func:`meta_train`. The log's ``val_kept`` is the
    meta-val accuracy of the model returned. Notebook 06 and ``benchmarks/xsid_languages.py`` both
    call this."""
    name = inputs
    if inputs not in ("minilm", "chars", "both", *VARIANTS):
        raise ValueError(f"inputs must be a body ('minilm', 'chars', 'both') or a variant {tuple(VARIANTS)}, got {inputs!r}")
    if inputs in VARIANTS:
        inputs, variant = VARIANTS[inputs]
        options = {**variant, **options}
    others = [code for code in dict.fromkeys(corpus.language) if code != target]
    if len(others) == len(set(corpus.language)):
        raise ValueError(f"{target!r} is not in the corpus: load_corpus(languages) with it")
    parts = position_split(corpus)
    train, val = part_labels(corpus, others, parts["train"]), part_labels(corpus, others, parts["val"])
    body = LanguageBody(inputs, seed=seed)
    log = meta_train(body, corpus, train, val, steps=steps, seed=seed, show_progress=show_progress,
                     desc=f"meta-training ({inputs}) without {target}", **options)
    model: nn.Module = WithFrozen(body) if name.endswith("+frozen") else body
    val_kept = _episode_accuracy(model, corpus, meta_val_episodes(corpus, val, seed=seed)).mean().item()
    return model, log._replace(val_kept=val_kept)


def episode_rows(corpus: Corpus, language: str, *, k_shot: int = 1, n_query: int = 5, n_way: int = 5,
                 episodes: int = 600, seed: int = 0, sentences: set[str] | None = None) -> TaskBatch:
    """The episodes :func:`evaluate_language` scores, as row indices into ``corpus``: a TaskBatch with
    support_x (episodes, N*K) and query_x (episodes, N*Q) rows, support_y and query_y their labels 0..N-1.

    They depend on the language, N, K, Q, the seed and the sentences only, so the stored runs' episodes
    (:func:`load_language_results`, seed 0) can be drawn again, to see which sentences each one holds.
    sentences: the meta-test sentences (default: every sentence of xSID's test files, as
    :func:`position_split`'s ``"test"``).
    """
    if sentences is None:
        sentences = {e for e, s in zip(corpus.text_en, corpus.split) if s == "test"}
    if language not in set(corpus.language):
        raise ValueError(f"{language!r} is not in the corpus: load_corpus(languages) with it")
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1 (the episodes drawn and scored), got {episodes}: set episodes to 1 "
                         "or more (600 by default)")
    labels = part_labels(corpus, [language], sentences)
    idx, _ = _sampler(labels, corpus.language, language, n_way, k_shot, n_query, seed).sample_indices(episodes)
    return idx


def twin_sentences(corpus: Corpus, test: set[str], seen: set[str], cut: float = 0.95) -> set[str]:
    """The meta-test sentences (English texts, of ``test``) whose English original has a twin among
    those of ``seen`` (meta-train and meta-val): the same words up to case and punctuation, or a
    MiniLM cosine of at least ``cut`` (:func:`~metanlp_lite.leakage.twin_rows` on the English rows).

    On parallel data a twin in English is a twin in every language: its translations were trained
    on. :func:`position_split` drops every sentence of ``seen`` with a twin at 0.95; a lower cut finds
    template twins, the same request with another slot value ("rate the current novel zero out of
    6" beside "rate the current novel 0 of 6", 0.94), which the split keeps.
    """
    english_row = {e: int(r) for e, r in zip(corpus.text_en, corpus.english.tolist())}
    missing = sorted((test | seen) - set(english_row))
    if missing:
        raise ValueError(f"{len(missing)} sentences are not English texts of the corpus, e.g. {missing[0]!r}")
    rows = lambda keys: torch.tensor([english_row[e] for e in sorted(keys)], dtype=torch.long)
    return {corpus.text_en[r] for r in twin_rows(corpus.minilm, corpus.texts, rows(test), rows(seen), cut=cut).tolist()}


def evaluate_language(body: LanguageBody | None, corpus: Corpus, language: str, *, k_shot: int = 1,
                      n_query: int = 5, n_way: int = 5, episodes: int = 600, seed: int = 0,
                      support: str = "target", sentences: set[str] | None = None) -> Tensor:
    """Per-episode accuracies (percent) of nearest class mean on ``body`` (None: frozen MiniLM),
    on ``language``'s meta-test sentences: (episodes,).

    The episodes depend on the language, N, K, Q and the seed only, so every body is scored on
    the same ones (paired). ``support="en"``: the same episodes with each support sentence
    replaced by its English original (zero-shot transfer: English examples, target queries),
    labelled with the target's intent (the files disagree at a few positions: 26 Arabic and 2
    Norwegian test sentences).
    sentences: the meta-test sentences (default: :func:`position_split`'s ``"test"``).
    """
    if support not in ("target", "en"):
        raise ValueError(f"support must be 'target' or 'en', got {support!r}")
    idx = episode_rows(corpus, language, k_shot=k_shot, n_query=n_query, n_way=n_way, episodes=episodes, seed=seed,
                       sentences=sentences)
    support_rows = corpus.english[idx.support_x] if support == "en" else None
    return torch.cat([_episode_accuracy(body, corpus, TaskBatch(*(t[i:i + 100] for t in idx)),
                                        None if support_rows is None else support_rows[i:i + 100])
                      for i in range(0, episodes, 100)])


RESULTS = "xsid_languages.pt"   # benchmarks/xsid_languages.py's runs, shipped in metanlp_lite/results/


def load_language_results(path: Any = None) -> dict[str, Any]:
    """The stored leave-one-language-out runs of ``benchmarks/xsid_languages.py``.

    ``{"config": {...}, "runs": {"both/gsw/0": {"k1": (600,) uint8, "k2", "k5", "k10": ..., "best_step":
    int, "seconds": float, "val": [...]}, "ncm/gsw": {"k1": ..., "k10": ..., "en1": ...}, ...}}``:
    per-episode accuracies in percent on :func:`evaluate_language`'s episodes (seed 0, 5 queries per
    class), for the bodies "minilm", "chars", "both" and the :data:`VARIANTS`, seeds 0, 1 and 2.
    """
    from importlib.resources import files
    from pathlib import Path

    path = Path(str(files("metanlp_lite") / "results" / RESULTS)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/xsid_languages.py` to make "
                                "the runs (about 30 minutes on 2 cores), or reinstall metanlp-lite")
    return torch.load(path, weights_only=True)


def tokenizer_stats(texts: Sequence[str], tokenizer: Any) -> dict[str, float]:
    """How an English word-piece tokenizer cuts ``texts``: ``unk`` (percent of tokens that are
    [UNK]), ``unk_words`` (percent of words with an [UNK] in them: BERT's tokenizer turns a word
    it cannot spell from its pieces into one [UNK], so such a word is lost whole), ``pieces_per_word`` (tokens per whitespace-separated word: the tokenizer's *fertility*)
    and ``split_words`` (percent of words cut into two or more pieces, [UNK] counting as one piece).
    ``tokenizer``: a ``tokenizers.Tokenizer`` (:func:`~metanlp_lite.text.load_tokenizer`), given all
    the words at once."""
    words = [word for text in texts for word in text.split()]
    if not words:
        raise ValueError("tokenizer_stats needs at least one word")
    pieces = [e.ids for e in tokenizer.encode_batch(words, add_special_tokens=False)]
    unk_id = tokenizer.token_to_id("[UNK]")
    tokens = sum(len(p) for p in pieces)
    unk = sum(p.count(unk_id) for p in pieces)
    split = sum(len(p) > 1 for p in pieces)
    unk_words = sum(unk_id in p for p in pieces)
    return {"unk": 100 * unk / max(tokens, 1), "unk_words": 100 * unk_words / len(words),
            "pieces_per_word": tokens / len(words), "split_words": 100 * split / len(words)}


def char_grams(text: str, n: int = 3) -> list[str]:
    """The character n-grams of ``text`` within its words (lower-cased, each word padded as ``<word>``)."""
    return [w[i:i + n] for w in ANY_WORD.findall(text.lower()) for w in [f"<{w}>"] for i in range(len(w) - n + 1)]


def char_overlap(target: Sequence[str], others: Sequence[str] | set[str], n: int = 3) -> float:
    """Percent of the character n-grams in ``target`` texts (occurrences, :func:`char_grams`) that
    also occur somewhere in ``others`` (texts, or the set of their n-grams, collected once): how
    much of a language's spelling the training languages already show."""
    seen = others if isinstance(others, set) else {g for t in others for g in char_grams(t, n)}
    mine = [g for t in target for g in char_grams(t, n)]
    if not mine:
        raise ValueError("char_overlap: the target texts have no character n-grams")
    return 100 * sum(g in seen for g in mine) / len(mine)
