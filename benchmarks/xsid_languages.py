"""Leave one language out, for every xSID language: notebook 06's tables.

    python benchmarks/xsid_languages.py [--seeds 0 1 2] [--inputs both chars minilm both-mix both-sup] [--jobs 2] [--dialects]

For each of the 19 languages as the held-out target, and each body (``both``: MiniLM with
character n-grams, ``chars``: character n-grams from scratch, ``minilm``: an adapter of the
frozen embedding) or variant (``both-mix``: ``both`` trained on 1- and 5-shot episodes in turn;
``both-sup``: ``both`` trained without episodes, by cross-entropy over the 16 intents, the
control; ``both+frozen``, ``both-sup+frozen``: those scored beside the frozen encoder), meta-trains on the other 18 languages with exactly notebook 06's call
(:func:`metanlp_lite.crosslingual.leave_one_out`: 300 steps, float64 rounded to float32 after
each step, so a rerun gives the same numbers on any CPU; the step kept on meta-val), and scores
it on the target's meta-test sentences, 600 episodes of 5-way K-shot for K = 1, 2, 5 and 10 with 5
queries per class (:func:`~metanlp_lite.crosslingual.evaluate_language`, seed 0: the same episodes
for every body). Nearest class mean on the frozen encoder is scored on the same episodes, with
target and with English support. Meta-train and meta-val hold no near-duplicate of a meta-test
sentence in any language (:func:`~metanlp_lite.crosslingual.position_split`).

Stores every run's per-episode accuracies (uint8 percent), its meta-val curve and the kept model's
meta-val accuracy, its chosen step
and its time in ``metanlp_lite/results/xsid_languages.pt``, shipped with the package; notebook 06
reads it (:func:`~metanlp_lite.crosslingual.load_language_results`) and retrains one run itself,
which must give the same accuracies. Written after every run; a rerun keeps what is stored.
Each run uses one thread; ``--jobs`` runs that many at once. The stored runs (2026-12-07, seeds
0, 1 and 2 of every body and variant, 399 runs and nearest class mean) took about an hour on 2 cores (the CPU model was not recorded; two
runs at a time, one thread each).

    python benchmarks/xsid_languages.py --dialects

The check on a new language variety (new texts with the same content: not blind to content): the Norwegian-held-out ``both`` and ``both-sup`` (seeds 0,
1, 2, as stored) are trained again, and they and those beside the frozen encoder (``both+frozen``,
``both-sup+frozen``), and nearest class mean, are scored on xSID's Norwegian dialect test sentences
(:func:`~metanlp_lite.crosslingual.with_dialects`: 10 speakers, each their own 600 episodes per K, seed
0, as for any language). Stored under the top-level key ``"dialects"`` (``"runs"`` is not touched):
``{"both/0": {"k1": (10, 600) uint8 (speaker 1 .. 10), ..., "no_same": True (the retrained model gives
the stored Bokmål accuracies), "seconds": ...}, ..., "ncm": {...}}``. Resumable: what is stored is kept.
The first run embeds the 5,000 dialect sentences (about a minute on 2 cores, then cached); the 7 jobs
took about 5 minutes on 2 cores (2026-12-07).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "results" / "xsid_languages.pt"   # package data
SHOTS = (1, 2, 5, 10)
_CORPUS = None


def _corpus():
    global _CORPUS
    if _CORPUS is None:
        from metanlp_lite.crosslingual import load_corpus
        _CORPUS = load_corpus(show_progress=False)
    return _CORPUS


def _accuracies(body, corpus, target: str, supports=("target",)) -> dict[str, torch.Tensor]:
    """uint8 per-episode accuracies for each shot (None where the language has too few sentences)."""
    from metanlp_lite.crosslingual import evaluate_language
    out = {}
    for support in supports:
        for k in SHOTS if support == "target" else (1,):
            key = f"k{k}" if support == "target" else f"en{k}"
            try:
                out[key] = evaluate_language(body, corpus, target, k_shot=k, support=support).round().to(torch.uint8)
            except ValueError as err:   # a language with too few sentences per intent for K-shot episodes
                if "intents have" not in str(err):
                    raise
    return out


def run_one(job: tuple[str, str, int]) -> tuple[str, dict]:
    inputs, target, seed = job
    torch.set_num_threads(1)
    from metanlp_lite.crosslingual import leave_one_out
    corpus = _corpus()
    if inputs == "ncm":
        return f"ncm/{target}", _accuracies(None, corpus, target, ("target", "en"))
    body, log = leave_one_out(corpus, target, inputs, seed=seed, show_progress=False)
    return f"{inputs}/{target}/{seed}", {**_accuracies(body, corpus, target), "best_step": log.best_step,
                                         "seconds": log.seconds, "val": log.val, "val_kept": log.val_kept}


DIALECT_MODELS = {"both": ("both", "both+frozen"), "both-sup": ("both-sup", "both-sup+frozen")}   # trained -> scored


def _speaker_accuracies(model, corpus) -> dict[str, torch.Tensor]:
    from metanlp_lite.crosslingual import evaluate_language
    speakers = sorted({c for c in corpus.language if c.startswith("no-")}, key=lambda c: int(c[3:]))
    return {f"k{k}": torch.stack([evaluate_language(model, corpus, c, k_shot=k).round().to(torch.uint8)
                                  for c in speakers]) for k in SHOTS}


def run_dialects(job: tuple[str, int]) -> dict[str, dict]:
    """One Norwegian-held-out training, scored alone and beside the frozen encoder on the dialects."""
    inputs, seed = job
    torch.set_num_threads(1)
    from metanlp_lite.crosslingual import WithFrozen, leave_one_out, load_language_results, with_dialects
    corpus = _corpus()
    dialects = with_dialects(corpus, show_progress=False)
    if inputs == "ncm":
        return {"ncm": _speaker_accuracies(None, dialects)}
    body, log = leave_one_out(corpus, "no", inputs, seed=seed, show_progress=False)
    stored = load_language_results()["runs"]
    out = {}
    for name, model in zip(DIALECT_MODELS[inputs], (body, WithFrozen(body))):
        same = all(torch.equal(v, stored[f"{name}/no/{seed}"][k]) for k, v in _accuracies(model, dialects, "no").items())
        out[f"{name}/{seed}"] = {**_speaker_accuracies(model, dialects), "no_same": same, "best_step": log.best_step,
                                 "seconds": log.seconds}
    return out


def main_dialects(args) -> None:
    stored = torch.load(args.out, weights_only=True)
    have = stored.setdefault("dialects", {})
    jobs = ([("ncm", 0)] if "ncm" not in have else [])
    jobs += [(i, s) for s in args.seeds for i in DIALECT_MODELS if f"{i}/{s}" not in have]
    print(f"{len(jobs)} dialect jobs, {args.jobs} at a time -> {args.out}", flush=True)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(run_dialects, jobs):
            have.update(result)
            torch.save(stored, args.out)
            for key, r in result.items():
                print(f"{key:>20}: k1 {r['k1'].float().mean():.1f}  k5 {r['k5'].float().mean():.1f}  "
                      f"same Bokmål scores as stored: {r.get('no_same', '-')}  "
                      f"({(time.perf_counter() - start) / 60:.1f} min so far)", flush=True)


def main() -> None:
    from metanlp_lite.crosslingual import LANGUAGES, VARIANTS, load_language_results
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    bodies = ["both", "chars", "minilm", *VARIANTS]
    parser.add_argument("--inputs", nargs="+", default=bodies, choices=bodies)
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=list(LANGUAGES))
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--redo-ncm", action="store_true",
                        help="score nearest class mean again even where it is stored (after the embeddings changed)")
    parser.add_argument("--dialects", action="store_true",
                        help="only the check on the Norwegian dialect test sentences (stored under 'dialects')")
    args = parser.parse_args()
    if args.dialects:
        return main_dialects(args)
    stored = load_language_results(args.out) if args.out.exists() else {"runs": {}}
    stored["config"] = {**stored.get("config", {}), "steps": 300, "n_way": 5, "n_query": 5, "episodes": 600, "shots": SHOTS}
    if args.redo_ncm:
        stored["runs"] = {k: v for k, v in stored["runs"].items() if not k.startswith("ncm/")}
        stored["config"]["ncm_embeddings"] = "computed in float64, rounded to float32 (the same on any CPU)"
    jobs = [("ncm", t, 0) for t in args.languages if f"ncm/{t}" not in stored["runs"]]
    jobs += [(i, t, s) for s in args.seeds for i in args.inputs for t in args.languages
             if f"{i}/{t}/{s}" not in stored["runs"]]
    print(f"{len(jobs)} runs, {args.jobs} at a time -> {args.out}", flush=True)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for key, result in pool.imap_unordered(run_one, jobs):
            stored["runs"][key] = result
            torch.save(stored, args.out)
            cells = "  ".join(f"{k} {v.float().mean():.1f}" for k, v in result.items() if isinstance(v, torch.Tensor))
            print(f"{key:>16}: {cells}  ({(time.perf_counter() - start) / 60:.1f} min so far)", flush=True)


if __name__ == "__main__":
    main()
