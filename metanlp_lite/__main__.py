"""Command line: ``python -m metanlp_lite prefetch``, ``languages`` and ``stream``.

Downloads (or finds offline) every registered dataset (``metanlp_lite.data.DATASETS``; xSID's
languages one by one only when named: ``--datasets xsid:de xsid:en``), their published class
splits and the sentence encoder, and fills the embedding cache (and the token states of notebook
05); then notebook 06's xSID corpus: 19 languages, 14,800 utterances (:func:`metanlp_lite.crosslingual.load_corpus`,
about 1.5 minutes of encoding on 2 cores; ``--no-xsid`` skips it). Every notebook afterwards
runs without network and without encoding. Binder's ``postBuild`` runs it; so can an instructor
before a lab. The embeddings are computed in float64 and rounded to float32, so they are the same
bits on every CPU; they are saved as they are computed, so an interrupted prefetch (Ctrl-C, a
memory limit) resumes where it stopped when run again. A second prefetch finds everything cached.

``python -m metanlp_lite languages --target gsw --inputs both`` runs notebook 06's experiment for
one held-out language: how the English tokenizer cuts it and how much of its spelling the other
languages share, nearest class mean with target-language and with English support, then a body
meta-trained on the other languages, on the same episodes (``--shots 1 2 3 5 10``: the K-curve;
``benchmarks/xsid_languages.py`` runs every language). With ``--data mine.csv --target sw`` it runs
on one's own multilingual intent data instead: a CSV, TSV or JSONL file with the columns ``text``,
``label`` and ``language``, and optionally ``parallel`` (an id shared by the translations of one
sentence, kept on one side of the split in every language) and ``split`` (``test`` marks the
meta-test rows; without it, 30% of the sentences at random); ``--steps`` sets the meta-training
steps (300). A file or target that cannot give the episodes is a one-line error (exit status 2).

``python -m metanlp_lite stream --data clinc150`` runs notebook 07's experiment: intents arriving
one at a time, every learner (nearest class mean, the online heads of ``continual.HEADS``, OML and
the supervised adapter) without and with the intents' names, each one's settings chosen on meta-val
streams with the same information, then all on the same test streams: the tables with intervals,
retention of the first intents and memory, the paired differences from nearest class mean, and the
median and 95th percentile of the time to absorb an example. ``--data`` also takes banking77,
clinc150-domains (CLINC150 split by its domains) or one's own CSV, TSV or JSONL file of text and
label; ``--streams``, ``--oml-steps``, ``--n-query`` and ``--seed`` set the run (notebook 07's:
20, 150, 20, 0). Data or settings that cannot give the streams are a one-line error (exit status 2).
``benchmarks/continual_datasets.py`` stores the runs on banking77 and clinc150-domains
(:func:`metanlp_lite.stream_experiment.load_dataset_results`), ``benchmarks/continual_latency.py``
times the learners' updates side by side.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .crosslingual import Corpus


def prefetch(datasets: list[str], embeddings: bool, states: bool = True, xsid: bool = True) -> None:
    """Fetch ``datasets`` and their class splits; with ``embeddings``, fill the embedding cache, and
    with ``states`` too the token-state cache of notebook 05 (the encoder's first five layers);
    with ``xsid``, notebook 06's corpus of xSID's 19 languages (embedded too, with ``embeddings``)."""
    from .cost import release_memory
    from .data import DATASETS, PUBLISHED_SPLITS, class_splits, load_intents, pretty_label
    from .fewshot.features import BLOCK_LAYERS
    from .text import embed, in_float64, load_encoder
    from .transformer import token_states

    encoder = load_encoder() if embeddings else None
    with in_float64(encoder):   # once for the whole prefetch: the weights are converted once, not per call
        for name in datasets:
            ds = load_intents(name)
            print(f"{name}: {len(ds)} utterances, {ds.features['label'].num_classes} intents", file=sys.stderr)
            if DATASETS[ds.info.dataset_name].split_folder is not None:  # it has published class splits
                for split in PUBLISHED_SPLITS:
                    class_splits(ds, split)
            names = [pretty_label(n) for n in ds.features["label"].names]
            if embeddings and states:
                # notebook 05's token states (the first five layers' output, on which the last is trained)
                # and, from the same pass through the encoder, the sentence embeddings
                token_states(list(ds["text"]), encoder, BLOCK_LAYERS, show_progress=True, embeddings=True)
                token_states(names, encoder, BLOCK_LAYERS, embeddings=True)
            if embeddings:   # whatever the pass above did not embed (all of it with --no-token-states)
                embed(list(ds["text"]), encoder)
                # the label names too ("book flight"), on their own as make_pools embeds them: otherwise
                # the first notebook that uses names loads the encoder (about 0.3 GB more memory)
                embed(names, encoder, show_progress=False)
            release_memory()
        if xsid:
            from .crosslingual import LANGUAGES, load_corpus

            print("xSID: 19 languages for notebook 06", file=sys.stderr)
            if embeddings:
                load_corpus()    # reads every language and embeds its 14,800 texts once
            else:
                for code in LANGUAGES:
                    load_intents(f"xsid:{code}")

def languages(target: str | None, inputs: list[str], seed: int = 0, shots: tuple[int, ...] = (1, 5),
              episodes: int = 600, data: str | None = None, steps: int = 300) -> dict[str, dict[int, float]]:
    """Notebook 06's leave-one-language-out run for ``target``; prints and returns mean accuracies
    {setting: {K: %}} (settings: "ncm", "ncm, English support", and each of ``inputs``).

    target: None is gsw (xSID's Swiss German). data: a CSV, TSV or JSONL file of one's own instead
    of xSID's 19 languages (:func:`~metanlp_lite.crosslingual.corpus_from_file`: columns text,
    label, language, and optionally parallel and split); ``target`` must then name one of its
    languages, and "ncm, English support" is run only when every meta-test sentence of ``target``
    has an English ("en") translation in the file. steps: meta-training steps of each body. Raises
    ValueError, saying what to change, when the file or ``target`` cannot give 5-way
    ``max(shots)``-shot episodes with 5 queries.
    """
    from . import crosslingual as cl
    from .stats import mean_ci95

    if data is None:
        corpus, target = cl.load_corpus(), target or "gsw"
    else:
        corpus = cl.corpus_from_file(data)
        _check_target(corpus, target, max(shots), data)
    rows = corpus.rows(target).tolist()
    test_rows = [i for i in rows if corpus.split[i] == "test"]
    english_support = data is None or all(corpus.language[e] == "en" for e in corpus.english[test_rows].tolist())
    acc = {"ncm": {k: cl.evaluate_language(None, corpus, target, k_shot=k, episodes=episodes) for k in shots}}
    if english_support:
        acc["ncm, English support"] = {k: cl.evaluate_language(None, corpus, target, k_shot=k, episodes=episodes,
                                                                support="en") for k in shots}
    for name in inputs:
        try:
            body, log = cl.leave_one_out(corpus, target, name, seed=seed, steps=steps)
        except ValueError as err:
            if data is None:
                raise
            raise ValueError(f"{data}: cannot meta-train without {target}: {str(err).rstrip('.')}. Meta-training "
                             "draws 5-way 1-shot episodes with 5 queries from the other languages' non-test "
                             "sentences (three quarters of them; meta-val, the other quarter, 1 + 2 a class): add "
                             "sentences in the other languages, or fewer of them in split test") from None
        acc[name] = {k: cl.evaluate_language(body, corpus, target, k_shot=k, episodes=episodes) for k in shots}
        print(f"{name}: meta-val {log.val[0]:.1f} -> {max(log.val):.1f} at step {log.best_step}", file=sys.stderr)
    from .text import load_tokenizer

    tok = cl.tokenizer_stats([corpus.texts[i] for i in rows], load_tokenizer())
    train = cl.position_split(corpus)["train"]
    overlap = cl.char_overlap([corpus.texts[i] for i in test_rows],
                              [t for t, lang, e in zip(corpus.texts, corpus.language, corpus.text_en)
                               if lang != target and e in train])
    print(f"{target}: MiniLM's tokenizer: {tok['unk']:.1f}% [UNK] tokens, {tok['unk_words']:.1f}% of words lost to [UNK], "
          f"{tok['pieces_per_word']:.2f} pieces a word; {overlap:.0f}% of its character trigrams occur in the other languages")
    print(f"held out: {target}, 5-way, {episodes} episodes, 5 queries per class (paired: minus nearest class mean)")
    for setting, by_k in acc.items():
        cells = []
        for k, a in by_k.items():
            (m, h), (d, hd) = mean_ci95(a), mean_ci95(a - acc["ncm"][k])
            cells.append(f"{k}-shot {m:5.1f} ± {h:.1f}" + (f" ({d:+.1f} ± {hd:.1f})" if setting != "ncm" else ""))
        print(f"  {setting:>22}: " + "   ".join(cells))
    return {setting: {k: a.mean().item() for k, a in by_k.items()} for setting, by_k in acc.items()}


def _check_target(corpus: Corpus, target: str | None, k_shot: int, data: str, n_way: int = 5,
                  n_query: int = 5) -> None:
    """A ValueError that says what to change when ``data``'s ``corpus`` has no language ``target`` (or
    it is None), or fewer than ``n_way`` classes with ``k_shot + n_query`` meta-test sentences in it."""
    from collections import Counter

    codes = sorted(set(corpus.language))
    if target is None:
        raise ValueError(f"{data}: name the held-out language with --target, one of the file's: {', '.join(codes)}")
    if target not in codes:
        raise ValueError(f"{data} has no language {target!r}; its languages are {', '.join(codes)}: "
                         "name one of them with --target")
    counts = Counter(int(corpus.labels[i]) for i in corpus.rows(target).tolist() if corpus.split[i] == "test")
    enough = sum(n >= k_shot + n_query for n in counts.values())
    if enough < n_way:
        most = sorted(counts.values(), reverse=True)[n_way - 1] - n_query if len(counts) >= n_way else 0
        fix = f"lower --shots to at most {most}, or add" if most >= 1 else "add"
        raise ValueError(f"{data}: {target} has {enough} of its {len(counts)} classes with {k_shot} + {n_query} "
                         f"labelled meta-test sentences (split test); {n_way}-way {k_shot}-shot episodes with "
                         f"{n_query} queries need {n_way}: {fix} meta-test sentences in {target}")


def stream(data: str = "clinc150", n_streams: int = 20, oml_steps: int = 150, seed: int = 0,
           first: int = 10, n_query: int = 20, joint: bool = False) -> dict[str, list]:
    """Notebook 07's experiment on ``data`` (clinc150, banking77, clinc150-domains or a CSV/TSV/JSONL
    file: :func:`~metanlp_lite.stream_experiment.load_experiment_data`), every learner without and
    with the intents' names (:func:`~metanlp_lite.stream_experiment.run_experiment`); prints the
    choices on meta-val (stderr) and the tables (:func:`~metanlp_lite.stream_experiment.report`), and
    returns {learner: [StreamRun per stream]}. Raises ValueError, saying what to change, when the
    data or the settings cannot give the streams."""
    from .stream_experiment import report, run_experiment

    exp = run_experiment(data, n_streams=n_streams, oml_steps=oml_steps, seed=seed, first=first, n_query=n_query,
                         joint=joint)
    print(report(exp, data))
    return exp.runs


_FLAGS = {"n_streams": "--streams", "oml_steps": "--oml-steps", "n_query": "--n-query"}   # run_experiment's keywords


def main(argv: list[str] | None = None) -> int:
    from .data import DATASETS

    parser = argparse.ArgumentParser(prog="python -m metanlp_lite", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prefetch", help="fetch the data and the encoder, and fill the embedding cache")
    # by default the datasets of notebooks 00-05, not xSID's 19 languages ("xsid:de"; name them to fetch them)
    p.add_argument("--datasets", nargs="+", default=[n for n in DATASETS if ":" not in n], choices=list(DATASETS))
    p.add_argument("--no-embeddings", action="store_true", help="skip encoding the datasets")
    p.add_argument("--no-token-states", action="store_true", help="skip notebook 05's token states")
    p.add_argument("--no-xsid", action="store_true", help="skip notebook 06's xSID corpus (19 languages)")
    from .xsid import XSID_LANGUAGES

    q = sub.add_parser("languages", help="notebook 06: meta-train on the other xSID languages (or your file's, "
                                         "--data), test on one")
    # not choices=: with --data, any language of the file (checked once it is read)
    q.add_argument("--target", default=None, metavar="LANGUAGE",
                   help=f"the held-out language: one of xSID's ({', '.join(XSID_LANGUAGES)}; default gsw), or "
                        "with --data one of the file's")
    q.add_argument("--data", default=None, metavar="FILE",
                   help="your own multilingual intent data instead of xSID: a .csv, .tsv or .jsonl file with the "
                        "columns text, label, language, and optionally parallel (an id shared by the translations "
                        "of one sentence) and split (test: meta-test; without it, 30%% of the sentences at random)")
    # the bodies and crosslingual.VARIANTS (a test checks they agree; not imported here, to keep the command fast)
    q.add_argument("--inputs", nargs="*", default=["both"],
                   choices=["minilm", "chars", "both", "both-mix", "both-sup", "both+frozen", "both-sup+frozen"],
                   help="the bodies to meta-train (none: the baselines only); both-mix: trained on 1- and 5-shot "
                        "episodes in turn; both-sup: the control without episodes; both+frozen, both-sup+frozen: "
                        "those, scored beside the frozen encoder")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    q.add_argument("--episodes", type=int, default=600)
    q.add_argument("--steps", type=int, default=300, help="meta-training steps of each body")
    r = sub.add_parser("stream", help="notebook 07: intents arriving one at a time; every learner, side by side")
    # not choices=: a file's path too (checked when it is read)
    r.add_argument("--data", default="clinc150", metavar="DATA",
                   help="clinc150 or banking77 (intents split at random: half meta-train, a sixth meta-val, a third "
                        "for the test streams), clinc150-domains (CLINC150 by its domains: test streams of travel "
                        "and utility), or your own .csv, .tsv or .jsonl file with a text and a label column (split "
                        "at random; at least 9 intents)")
    r.add_argument("--streams", type=int, default=20, help="stream orders (the intervals are over them; at least 2)")
    r.add_argument("--oml-steps", type=int, default=150, help="meta-training steps of OML and of the supervised adapter")
    r.add_argument("--n-query", type=int, default=20, help="test utterances per intent in each stream")
    r.add_argument("--joint", action="store_true", help="also the joint (offline) bound")
    r.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "prefetch":
        prefetch(args.datasets, not args.no_embeddings, not args.no_token_states, not args.no_xsid)
    elif args.command == "languages":
        if args.data is None and args.target is not None and args.target not in XSID_LANGUAGES:
            q.error(f"argument --target: invalid choice: {args.target!r} (choose from "
                    f"{', '.join(XSID_LANGUAGES)}, or give your own file with --data)")
        try:
            languages(args.target, args.inputs, args.seed, tuple(args.shots), args.episodes, args.data,
                      args.steps)
        except (ValueError, FileNotFoundError) as err:   # the data or the settings: one line, no traceback
            q.exit(2, f"{q.prog}: error: {' '.join(str(err).splitlines())}\n")
    elif args.command == "stream":
        try:
            stream(args.data, args.streams, args.oml_steps, args.seed, n_query=args.n_query, joint=args.joint)
        except (ValueError, FileNotFoundError) as err:   # the data or the settings: one line, no traceback
            message = str(err)
            for keyword, flag in _FLAGS.items():
                message = message.replace(keyword, flag)
            r.exit(2, f"{r.prog}: error: {' '.join(message.splitlines())}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
