"""Command line: ``python -m metanlp_lite prefetch``.

Downloads (or finds offline) every registered dataset (``metanlp_lite.data.DATASETS``; xSID's
languages only when named: ``--datasets xsid:de xsid:en``), their published class splits and the sentence encoder, and fills the embedding cache (and the token
states of notebook 05), so that every notebook afterwards runs without network and without
encoding. Binder's ``postBuild`` runs it; so can an instructor before a lab.
The embeddings are saved as they are computed, so an interrupted prefetch (Ctrl-C, a memory
limit) resumes where it stopped when run again, with the same vectors to the last bit.
"""
from __future__ import annotations

import argparse
import sys


def prefetch(datasets: list[str], embeddings: bool, states: bool = True) -> None:
    """Fetch ``datasets`` and their class splits; with ``embeddings``, fill the embedding cache, and
    with ``states`` too the token-state cache of notebook 05 (the encoder's first five layers)."""
    from .data import DATASETS, PUBLISHED_SPLITS, class_splits, load_intents, pretty_label
    from .fewshot.features import BLOCK_LAYERS
    from .text import embed, load_encoder
    from .transformer import token_states

    encoder = load_encoder() if embeddings else None
    for name in datasets:
        ds = load_intents(name)
        print(f"{name}: {len(ds)} utterances, {ds.features['label'].num_classes} intents", file=sys.stderr)
        if DATASETS[ds.info.dataset_name].split_folder is not None:  # it has published class splits
            for split in PUBLISHED_SPLITS:
                class_splits(ds, split)
        if embeddings:
            embed(list(ds["text"]), encoder)
            # the label names too ("book flight"), on their own as make_pools embeds them: otherwise
            # the first notebook that uses names loads the encoder (about 0.3 GB more memory)
            embed([pretty_label(n) for n in ds.features["label"].names], encoder, show_progress=False)
        if embeddings and states:
            # notebook 05's token states: the first five layers' output, on which the last is trained
            token_states(list(ds["text"]), encoder, BLOCK_LAYERS, show_progress=True)
            token_states([pretty_label(n) for n in ds.features["label"].names], encoder, BLOCK_LAYERS)


def main(argv: list[str] | None = None) -> int:
    from .data import DATASETS

    parser = argparse.ArgumentParser(prog="python -m metanlp_lite", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prefetch", help="fetch the data and the encoder, and fill the embedding cache")
    # by default the datasets of notebooks 00-05, not xSID's 19 languages ("xsid:de"; name them to fetch them)
    p.add_argument("--datasets", nargs="+", default=[n for n in DATASETS if ":" not in n], choices=list(DATASETS))
    p.add_argument("--no-embeddings", action="store_true", help="skip encoding the datasets")
    p.add_argument("--no-token-states", action="store_true", help="skip notebook 05's token states")
    args = parser.parse_args(argv)
    if args.command == "prefetch":
        prefetch(args.datasets, not args.no_embeddings, not args.no_token_states)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
