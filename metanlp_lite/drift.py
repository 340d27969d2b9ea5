"""A drifting user: the same intents arrive again, in another language (notebook 07).

A *drift stream* over C of xSID's intents has two phases. Phase 1: every intent arrives once, in
English, with one example (a seeded random order). Phase 2: the user drifts to language L, and the
same C intents arrive again, one example each, in L (another random order): a known label with a new
example, which every learner of :mod:`metanlp_lite.continual` accepts. After every arrival a learner
is scored on held-out English queries and on held-out queries in L: the *same* sentences in both
languages (translations), so the two accuracies differ by language, not by content. L = "en" is the
control: phase 2 brings a second English example, and the user does not drift.

**The leak guard.** Every row carries a parallel id (:func:`parallel_ids`): the group of its English
original, where English sentences with the same words up to case and punctuation, or a MiniLM cosine
of at least 0.95, share a group. A stream draws its support sentences (English and L) and its
queries from distinct ids, so no query is a support sentence, its translation, or a near-duplicate
of either's English original, in any language; :func:`leaked_queries` checks it.

:func:`load_drift_data`, :func:`make_drift_stream`, :func:`run_drift` (the matrix ``acc[q, t, j]``), :func:`run_experiment`;
:func:`show_drift` prints notebook 07's tables from ``results/continual_drift.pt`` (``benchmarks/continual_drift.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .continual import JointHead, Learner, OnlineHead, RunningPrototypes
from .leakage import normalised
from .xsid import XSID_INTENTS, XSID_LANGUAGES

__all__ = ["LANGUAGES", "N_QUERY", "STREAMS", "SETTINGS", "LEARNERS", "RESULTS", "DriftData", "parallel_ids",
           "load_drift_data", "drift_data", "drift_classes", "DriftStream", "make_drift_stream", "leaked_queries",
           "run_drift", "make_learner", "run_experiment", "ends", "drift_table", "drift_cost_table",
           "load_drift_results", "show_drift"]

# German (standard, the closest to English of the three), South Tyrolean (a German dialect without a
# standard spelling), Indonesian (Latin script, unrelated to English): all 16 intents (Japanese: 10)
LANGUAGES: tuple[str, ...] = ("de", "de-st", "id")
N_QUERY = 10       # queries per intent and language: intents with 2 + 10 parallel ids are kept (11 of 16)
STREAMS = 20
# notebook 07's choices (cell 15's stored outputs: step size, steps per example), made on CLINC150's meta-val
# streams; not re-chosen: xSID's 11 usable intents leave none for a meta-val split of intents
SETTINGS: dict[str, dict[str, Any]] = {
    "fine-tuning, no bias": {"bias": False, "lr": 0.001, "steps": 1}, "Proto-MAML init": {"init": "prototype", "lr": 0.003},
    "fine-tuning + replay": {"replay": -1, "lr": 1.0, "steps": 5}, "fine-tuning + replay + names": {"replay": -1, "lr": 0.3},
    "fine-tuning, no bias + names": {"bias": False, "lr": 0.001, "steps": 1},
    "Proto-MAML init + names": {"init": "prototype", "lr": 0.001, "steps": 5},   # steps: 1 where not given
    "joint bound (offline)": {"l2": 1e-4}, "joint bound (offline) + names": {"l2": 0.1}}   # mu: notebook 07's meta-val
LEARNERS: tuple[str, ...] = tuple(name + names for names in ("", " + names") for name in   # the names are English
                                  ("nearest class mean", "fine-tuning, no bias", "fine-tuning + replay", "Proto-MAML init",
                                   "joint bound (offline)"))
RESULTS = "continual_drift.pt"     # benchmarks/continual_drift.py's runs, shipped in metanlp_lite/results/


class DriftData(NamedTuple):
    """xSID's rows of several languages. features: (P, D) MiniLM embeddings; labels: (P,) intent ids; language:
    P codes; key: (P,) parallel id (:func:`parallel_ids`); names: (n_classes, D) embeddings of each intent's label
    as words; languages: the codes, English first; table: (n_languages, G) the row of each id in each language
    (-1: none); key_label: (G,) the intent of each id, -1 where it is missing somewhere or its labels disagree."""

    features: Tensor
    labels: Tensor
    language: list[str]
    key: Tensor
    names: Tensor
    class_names: list[str]
    texts: list[str]
    languages: list[str]
    table: Tensor
    key_label: Tensor


def parallel_ids(originals: Sequence[str], vectors: Tensor, cut: float = 0.95) -> list[int]:
    """A group id for each English sentence of ``originals`` (E texts; vectors: (E, D) embeddings):
    sentences with the same :func:`~metanlp_lite.leakage.normalised` words or a cosine >= ``cut``
    are in one group (transitively). Ids are 0 .. G - 1, in order of first appearance."""
    parent = list(range(len(originals)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    first: dict[str, int] = {}
    pairs = [(first.setdefault(normalised(t), i), i) for i, t in enumerate(originals)]
    unit = F.normalize(vectors.double(), dim=-1)
    pairs += torch.nonzero(torch.triu(unit @ unit.T >= cut, diagonal=1)).tolist()
    for a, b in pairs:
        parent[root(a)] = root(b)
    ids: dict[int, int] = {}
    return [ids.setdefault(root(i), len(ids)) for i in range(len(originals))]


def load_drift_data(languages: Sequence[str] = LANGUAGES, *, show_progress: bool = False) -> DriftData:
    """English and ``languages`` from xSID (valid and test files together: nothing is trained on
    them; Norwegian: Bokmål), with cached MiniLM embeddings (:func:`~metanlp_lite.text.embed`)."""
    from .data import load_intents
    from .text import embed

    codes = ["en"] + [c for c in dict.fromkeys(languages) if c != "en"]
    if unknown := [c for c in codes if c not in XSID_LANGUAGES]:
        raise ValueError(f"unknown xSID language(s) {unknown}: use codes of {', '.join(XSID_LANGUAGES)}")
    texts, labels, language, text_en = [], [], [], []
    for code in codes:
        ds = load_intents(f"xsid:{code}")[:]
        for i, (t, y, e) in enumerate(zip(ds["text"], ds["label"], ds["text_en"])):
            if code != "no" or ds["dialect"][i] == "B":
                texts.append(t), labels.append(y), language.append(code), text_en.append(e)
    words = [" ".join("".join(" " + c.lower() if c.isupper() else c for c in n.replace("/", " ").replace("_", " ")).split())
             for n in XSID_INTENTS]      # "AddToPlaylist" -> "add to playlist", "alarm/set_alarm" -> "alarm set alarm"
    both = embed(texts + words, show_progress=show_progress)
    return drift_data(texts, labels, language, text_en, both[:len(texts)], both[len(texts):], list(XSID_INTENTS))


def drift_data(texts: Sequence[str], labels: Sequence[int], language: Sequence[str], text_en: Sequence[str],
               features: Tensor, names: Tensor, class_names: Sequence[str]) -> DriftData:
    """A :class:`DriftData` from P rows (texts, labels, language codes, and text_en: the English sentence
    each translates, itself for English), features: (P, D) and names: (n_classes, D); every row's English
    original must be among the English rows."""
    codes = ["en"] + [c for c in dict.fromkeys(language) if c != "en"]
    originals = list(dict.fromkeys(text_en))
    english_row = {t: i for i, (t, lang) in enumerate(zip(texts, language)) if lang == "en"}
    group = dict(zip(originals, parallel_ids(originals, features[[english_row[e] for e in originals]])))
    key = torch.tensor([group[e] for e in text_en])
    table = torch.full((len(codes), int(key.max()) + 1), -1, dtype=torch.long)
    labels_of: list[set[int]] = [set() for _ in range(table.shape[1])]
    for r in range(len(texts) - 1, -1, -1):        # backwards: the first row of an id in a language wins
        table[codes.index(language[r]), key[r]] = r
        labels_of[key[r]].add(int(labels[r]))
    key_label = torch.tensor([next(iter(s)) if len(s) == 1 else -1 for s in labels_of])
    key_label[(table < 0).any(0)] = -1               # an id must be in every language
    return DriftData(features, torch.as_tensor(labels), list(language), key, names, list(class_names), list(texts),
                     codes, table, key_label)


def drift_classes(data: DriftData, n_query: int = N_QUERY) -> list[int]:
    """The intents with at least 2 + ``n_query`` usable parallel ids (two supports, the queries)."""
    counts = torch.bincount(data.key_label[data.key_label >= 0], minlength=len(data.class_names))
    return [c for c in range(len(data.class_names)) if counts[c] >= 2 + n_query]


class DriftStream(NamedTuple):
    """classes: (C,) intent ids in phase 1's order (column j of every learner is classes[j]);
    support: (2, C) rows, [0] the English example of classes[j], [1] its example in ``language``;
    revisit: (C,) phase 2's order, indices j into classes; queries: (2, C, Q) rows, [0] English,
    [1] the same sentences in ``language``."""

    language: str
    classes: Tensor
    support: Tensor
    revisit: Tensor
    queries: Tensor

    def events(self) -> list[tuple[int, int]]:
        """The 2C arrivals in order: (row, intent id), phase 1 then phase 2."""
        first = [(int(r), int(c)) for r, c in zip(self.support[0], self.classes)]
        return first + [(int(self.support[1, j]), int(self.classes[j])) for j in self.revisit]


def make_drift_stream(data: DriftData, language: str, classes: Sequence[int] | None = None, *,
                      n_query: int = N_QUERY, seed: int = 0) -> DriftStream:
    """A seeded drift stream: for each intent, 2 + ``n_query`` distinct parallel ids drawn at random,
    the first English support, the second the support in ``language``, the rest the queries in
    both languages. The draws do not depend on ``language``: with one seed, phase 1 is the same
    stream for every language of ``data``."""
    if not (classes := drift_classes(data, n_query) if classes is None else [int(c) for c in classes]):
        raise ValueError(f"no intent has the {2 + n_query} usable sentences that n_query={n_query} needs")
    gen = torch.Generator().manual_seed(seed)
    order = torch.tensor(classes)[torch.randperm(len(classes), generator=gen)]
    keys = []
    for c in order.tolist():
        pool = torch.nonzero(data.key_label == c).flatten()
        if len(pool) < 2 + n_query:
            raise ValueError(f"intent {data.class_names[c]} has {len(pool)} usable sentences; "
                             f"n_query={n_query} needs {2 + n_query}")
        keys.append(pool[torch.randperm(len(pool), generator=gen)[:2 + n_query]])
    keys_, revisit = torch.stack(keys), torch.randperm(len(classes), generator=gen)      # (C, 2 + Q), (C,)
    en, other = data.table[0], data.table[data.languages.index(language)]
    return DriftStream(language, order, torch.stack([en[keys_[:, 0]], other[keys_[:, 1]]]), revisit,
                       torch.stack([en[keys_[:, 2:]], other[keys_[:, 2:]]]))


def leaked_queries(stream: DriftStream, key: Tensor) -> Tensor:
    """The query rows (flattened) whose parallel id is that of a support row, in any language: (n,);
    empty for a clean stream. key: (P,) :attr:`DriftData.key`."""
    rows = stream.queries.flatten()
    return rows[torch.isin(key[rows], key[stream.support.flatten()])]


@torch.no_grad()
def run_drift(learner: Learner, features: Tensor, stream: DriftStream, names: Tensor | None = None) -> Tensor:
    """Feed ``stream`` to ``learner`` one example at a time, scoring after every arrival: acc, (2, 2C, C), the
    accuracy (percent) of intent j's queries in English (acc[0]) and in the stream's language (acc[1]) after
    arrival t (phase 1: t < C; NaN: an intent not yet arrived). features: (P, D); names: (n_classes, D): if
    given, each intent's name is learned just before its first (English) example."""
    _, C, Q = stream.queries.shape
    acc = torch.full((2, 2 * C, C), float("nan"))
    queries = learner.represent(features[stream.queries.flatten()]).reshape(2, C, Q, -1)
    for t, (row, label) in enumerate(stream.events()):
        if names is not None and t < C:
            learner.learn(names[label], label)
        learner.learn(features[row], label)
        seen = min(t + 1, C)
        pred = learner.classify(queries[:, :seen].flatten(0, 2)).argmax(-1).reshape(2, seen, Q)
        acc[:, t, :seen] = (pred == torch.arange(seen).unsqueeze(-1)).float().mean(-1) * 100
    return acc


def make_learner(name: str) -> Learner:
    """A fresh learner of :data:`LEARNERS` by name (with "+ names": :func:`run_drift` feeds the names)."""
    if name.startswith("nearest class mean"):
        return RunningPrototypes()
    return JointHead(**SETTINGS[name]) if name.startswith("joint bound") else OnlineHead(**SETTINGS[name])


def run_experiment(data: DriftData, languages: Sequence[str] = ("en",) + LANGUAGES, learners: Sequence[str] = LEARNERS,
                   *, streams: int = STREAMS, n_query: int = N_QUERY, seed: int = 0) -> dict[str, dict[str, Tensor]]:
    """{language: {learner: (S, 2, 2C, C) accuracy matrices}} on ``streams`` drift streams (seeds
    seed .. seed + S - 1, the same for every learner and language: paired)."""
    out: dict[str, dict[str, Tensor]] = {}
    for lang in languages:
        ss = [make_drift_stream(data, lang, n_query=n_query, seed=seed + i) for i in range(streams)]
        out[lang] = {name: torch.stack([run_drift(make_learner(name), data.features, s,
                                                  data.names if name.endswith("+ names") else None) for s in ss])
                     for name in learners}
    return out


def ends(acc: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(S, 2, 2C, C) -> four (S,): mean accuracy over the C intents in English at the end of phase 1
    and of phase 2, and in the stream's language at the end of phase 1 (before it) and of phase 2."""
    C = acc.shape[-1]
    return acc[:, 0, C - 1].mean(-1), acc[:, 0, -1].mean(-1), acc[:, 1, C - 1].mean(-1), acc[:, 1, -1].mean(-1)


def drift_table(acc: dict[str, Tensor], language: str) -> str:
    """One language's table, per learner (acc: name -> (S, 2, 2C, C)), mean ± 95% interval over the streams
    (Student's t): English accuracy at the end of phase 1 and 2, the share kept (percent, per stream), accuracy
    in ``language`` before phase 2 (zero-shot) and after, and the paired differences from nearest class mean
    with the same information (names or none) at the end (for "en", the control, English only)."""
    from .stats import mean_ci95_t

    def cell(x: Tensor, signed: bool = False) -> str:     # signed: a difference, printed with its sign
        m, h = mean_ci95_t(x)
        return f"{round(m, 1) + 0.0:{'+' if signed else ''}5.1f} ± {h:4.1f}"

    L, en_only = language, language == "en"
    w = max(len(n) for n in acc) + 1
    heads = ["EN, end of 1", "EN, end of 2", "EN kept %"] + ([] if en_only else [L + " before 2", L + " after 2"])
    lines = [f"{'learner':>{w}} " + " ".join(f"{h:>13}" for h in heads)
             + f"   {'minus NCM: EN end' + ('' if en_only else ', ' + L + ' end'):>29}"]
    for name, a in acc.items():
        en1, en2, l1, l2 = ends(a)
        base = "nearest class mean" + " + names" * name.endswith("+ names")
        _, ben2, _, bl2 = ends(acc[base])
        diff = "" if name == base else cell(en2 - ben2, True) + ("" if en_only else f", {cell(l2 - bl2, True)}")
        cells = (en1, en2, en2 / en1 * 100) + (() if en_only else (l1, l2))
        lines.append(f"{name:>{w}} " + " ".join(cell(x).rjust(13) for x in cells) + f"   {diff:>29}")
    return "\n".join(lines)


def drift_cost_table(results: dict[str, dict[str, Tensor]]) -> str:
    """What the drift costs English: for each learner, its English accuracy at the end of phase 2
    when phase 2 was in L minus when it was in English (the control "en"), paired (the same phase 1
    and the same English queries), one column per language L; mean ± 95% interval, in points."""
    from .stats import mean_ci95_t

    langs = [lang for lang in results if lang != "en"]
    w = max(len(n) for n in results["en"]) + 1
    lines = [f"{'learner':>{w}} " + " ".join(f"{lang:>13}" for lang in langs)]
    for name, a in results["en"].items():
        cells = [mean_ci95_t(ends(results[lang][name])[1] - ends(a)[1]) for lang in langs]
        lines.append(f"{name:>{w}} " + " ".join(f"{round(m, 1) + 0.0:+5.1f} ± {h:4.1f}".rjust(13) for m, h in cells))
    return "\n".join(lines)


def load_drift_results(path: Any = None) -> dict[str, Any]:
    """The stored runs of ``benchmarks/continual_drift.py``: ``{"config": {...}, "acc": {language:
    {learner: (S, 2, 2C, C) uint8 percent, 255 for NaN}}}``, returned with float32 matrices (NaN)."""
    from importlib.resources import files
    from pathlib import Path

    path = Path(str(files("metanlp_lite") / "results" / RESULTS)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/continual_drift.py` to make it")
    stored = torch.load(path, weights_only=True)
    return {"config": stored["config"], "cost": stored.get("cost", {}), "acc": {lang: {n: torch.where(a == 255, float("nan"), a.float())
                                                       for n, a in runs.items()} for lang, runs in stored["acc"].items()}}


def show_drift(results: dict[str, Any] | None = None) -> None:
    """Print :func:`drift_table` per language, then :func:`drift_cost_table`, of ``results`` (default: stored)."""
    results = load_drift_results() if results is None else results
    print(f"{(cfg := results['config'])['n_classes']} xSID intents: 1 English example each (phase 1), 1 each in L (phase 2); "
          f"{cfg['streams']} streams, {cfg['n_query']} queries per intent and language; mean ± 95% interval "
          f"(Student's t); English-only MiniLM; queries sharing a parallel id with a support sentence in the "
          f"{len(results['acc']) * cfg['streams']} streams: {cfg.get('leaked_queries', 'not counted')}")
    for lang, acc in results["acc"].items():
        title = "control: phase 2 in English (no drift)" if lang == "en" else f"L = {lang} ({XSID_LANGUAGES[lang]})"
        print(f"\n{title}\n" + drift_table(acc, lang))
    if cost := results.get("cost"):
        print(f"(the benchmark's run: loading {cost['load_s']:.1f} s, the {len(results['acc']) * cfg['streams'] * len(cfg['learners'])} "
              f"runs {cost['run_s']:.1f} s, {cost['extra_peak_mb']:.0f} MB of memory above its imports)")
    if "en" in results["acc"] and len(results["acc"]) > 1:
        print("\nEnglish at the end of phase 2, phase 2 in L minus phase 2 in English (points, paired):\n"
              + drift_cost_table(results["acc"]))
