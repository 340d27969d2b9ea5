"""Few-shot text classification: methods, meta-training with model selection, and evaluation.

Notebook 04 teaches it; notebook 00 its nearest-class-mean baseline. One idea per module:

=================  ==================================================================================
``features``       encoders (frozen MiniLM embeddings, hashed n-grams), :func:`featurize`, the
                   meta-train/val/test :class:`Pool` s of a dataset, label names, episodes of features
``bodies``         the networks methods meta-learn: the residual adapter, the n-gram MLP, :func:`make_body`
``methods``        prototypes and nearest class mean, the linear head, the eight methods
                   (:data:`METHODS`), their hyper-parameters and :func:`build_method`
``training``       :func:`meta_train` with model selection on meta-val, :func:`train_for` with a
                   budget, :func:`evaluate` and :func:`evaluate_method` on seeded episodes
``cli``            :func:`run` (one reproducible number), :func:`command` and :func:`main`, the
                   command line ``python -m metanlp_lite.fewshot``
=================  ==================================================================================

Accuracy, intervals and confusion matrices live in :mod:`metanlp_lite.stats`.

Notebook 05's additions (the ``minilm-block`` encoder, :class:`TransformerBody`, :class:`LoRAMAML`,
:data:`LAYER_METHODS`, :class:`LazyBatch`) import from here too, outside ``__all__``, which
stays the former module's.

Every name of the former single module ``metanlp_lite/fewshot.py`` is re-exported here, so
``from metanlp_lite.fewshot import X`` keeps working; new code may import from the module that
holds ``X``.
"""
from __future__ import annotations

from ..stats import accuracy, confusion_matrix, mean_ci95
from .bodies import BowMLP, ResidualMLP, TransformerBody, make_body
from .cli import command, main, run
from .features import (
    ENCODERS, HashedNgrams, LazyBatch, Pool, add_label_names, featurize, make_pools, ngrams, sample_batch,
    split_class_ids,
)
from .methods import (
    ANIL, HYPERPARAMS, LAYER_METHODS, METHODS, NCM, Finetune, LoRAMAML, MAMLFamily, Method, ProtoMAML, ProtoNet,
    build_method, fit_linear_head, linear_head_step, ncm_logits, ncm_predict, prototypes,
)
from .training import TrainLog, evaluate, evaluate_method, meta_train, train_for, train_mean

# The former module's other names stay importable from here too: its constants, its private
# helpers, and the names it imported from the rest of the package.
from ..episodes import EpisodeSampler, TaskBatch  # noqa: F401
from ..maml import MAML, Reptile  # noqa: F401
from ..progress import progress  # noqa: F401
from .bodies import BODY_HIDDEN, BOW_DIM, N_BUCKETS  # noqa: F401
from .cli import _int_at_least, _nonnegative_int, _positive_int  # noqa: F401
from .features import _WORD  # noqa: F401
from .methods import _COMMON, _MAML, hyperparams  # noqa: F401
from .training import CENTRE, EVAL_EVERY, STEPS, VAL_EPISODES, _supervised_batch, _val_batches  # noqa: F401

__all__ = [
    "METHODS", "ENCODERS", "HYPERPARAMS",
    "prototypes", "ncm_logits", "ncm_predict", "accuracy", "mean_ci95", "confusion_matrix",
    "evaluate", "HashedNgrams", "ngrams", "featurize", "Pool", "make_pools", "split_class_ids", "add_label_names",
    "sample_batch", "ResidualMLP", "BowMLP", "make_body", "linear_head_step", "fit_linear_head",
    "Method", "NCM", "Finetune", "ProtoNet", "MAMLFamily", "ANIL", "ProtoMAML", "build_method",
    "TrainLog", "meta_train", "evaluate_method", "train_for", "train_mean", "run", "command", "main",
]
