"""Few-shot text classification: methods, meta-training with model selection, and evaluation.

Notebook 04 teaches it; notebook 00 its nearest-class-mean baseline; notebook 05 its
Transformer-layer methods. One idea per module, each importing only those above it:

=================  ==================================================================================
``features``       encoders (frozen MiniLM embeddings, hashed n-grams, MiniLM's token states),
                   :func:`featurize`, the meta-train/val/test :class:`Pool` s of a dataset, label
                   names, episodes of features
``bodies``         the networks methods meta-learn: the residual adapter, the n-gram MLP, the
                   Transformer layer, :func:`make_body`
``base``           what a method is (:class:`Method`) and how it joins the registry (:func:`register`)
``metric``         prototypes and nearest class mean, ``ncm`` and ``protonet``
``finetune``       the linear head fitted per task, ``finetune`` (the transfer baseline)
``maml_family``    ``maml``, ``fomaml``, ``reptile``, ``anil``, ``protomaml``, ``lora``
``methods``        the registry read: :data:`METHODS`, :data:`LAYER_METHODS`, :data:`HYPERPARAMS`,
                   :func:`build_method`
``training``       :func:`train_method` with model selection on meta-val, :func:`train_for` with a
                   budget, :func:`evaluate` and :func:`evaluate_method` on seeded episodes
``stored``         :func:`load_fewshot_runs`: notebook 04's models, logs and scores, made once by
                   ``benchmarks/fewshot_models.py`` and shipped with the package;
                   :func:`load_fewshot_splits`: BANKING77's five class splits x three seeds
                   (``benchmarks/fewshot_splits.py``)
``cli``            :func:`run` (one reproducible number), :func:`command` and :func:`main`, the
                   command line ``python -m metanlp_lite.fewshot``
=================  ==================================================================================

Accuracy, intervals and confusion matrices live in :mod:`metanlp_lite.stats`. Every name in
``__all__`` is a public name of one of these modules, importable from here or from its module.
"""
from __future__ import annotations

from .base import BLOCK_HYPERPARAMS, REGISTRY, BuildSpec, Method, Registration, register
from .bodies import BODY_HIDDEN, BOW_DIM, N_BUCKETS, BowMLP, ResidualMLP, TransformerBody, length_chunks, make_body
from .cli import SPLITS, command, main, run
from .features import (
    ANY_WORD, BLOCK_LAYERS, ENCODERS, HashedNgrams, LazyBatch, Pool, add_label_names, featurize, is_lazy, make_pools, ngrams,
    sample_batch, split_class_ids,
)
from .finetune import Finetune, fit_linear_head, linear_head_step
from .maml_family import ANIL, LoRAMAML, MAMLFamily, ProtoMAML
from .methods import (
    HYPERPARAMS, LAYER_METHODS, METHODS, TRAINING_HYPERPARAMS, build_method, hyperparams, known_hyperparams,
    registered, registration,
)
from .metric import NCM, ProtoNet, ncm_logits, ncm_predict, prototypes
from .training import (
    CENTRE, EVAL_EVERY, PATIENCE, STEPS, VAL_EPISODES, TrainLog, budget_schedule, embed_rows, episode_batches, evaluate,
    evaluate_batches, evaluate_method, frozen_batches, predict_all, train_for, train_mean, train_method,
)
from .stored import FEWSHOT_RUNS_FILE, FEWSHOT_SPLITS_FILE, SplitRuns, StoredRuns, load_fewshot_runs, load_fewshot_splits

__all__ = [
    # features
    "ENCODERS", "BLOCK_LAYERS", "ANY_WORD", "ngrams", "HashedNgrams", "featurize", "Pool", "make_pools", "split_class_ids",
    "add_label_names", "sample_batch", "LazyBatch", "is_lazy",
    # bodies
    "ResidualMLP", "BowMLP", "TransformerBody", "make_body", "length_chunks", "BODY_HIDDEN", "BOW_DIM", "N_BUCKETS",
    # base
    "Method", "BuildSpec", "Registration", "REGISTRY", "register", "BLOCK_HYPERPARAMS",
    # metric
    "prototypes", "ncm_logits", "ncm_predict", "NCM", "ProtoNet",
    # finetune
    "linear_head_step", "fit_linear_head", "Finetune",
    # maml_family
    "MAMLFamily", "ANIL", "ProtoMAML", "LoRAMAML",
    # methods
    "METHODS", "LAYER_METHODS", "HYPERPARAMS", "TRAINING_HYPERPARAMS", "registered", "registration",
    "known_hyperparams", "hyperparams", "build_method",
    # training
    "STEPS", "VAL_EPISODES", "EVAL_EVERY", "PATIENCE", "CENTRE", "evaluate", "TrainLog", "train_method", "evaluate_method",
    "episode_batches", "evaluate_batches", "predict_all", "frozen_batches", "embed_rows", "train_mean", "train_for",
    "budget_schedule",
    # stored
    "FEWSHOT_RUNS_FILE", "StoredRuns", "load_fewshot_runs", "FEWSHOT_SPLITS_FILE", "SplitRuns", "load_fewshot_splits",
    # cli
    "SPLITS", "run", "command", "main",
]
