"""The few-shot methods by name: :data:`METHODS`, :data:`HYPERPARAMS`, :func:`build_method`.

============  ================================================================================
``ncm``       nearest class mean by cosine on the raw features (no training at all)
``finetune``  the transfer baseline: pretrain a network on all meta-train classes as one
              ordinary classification problem, then fit a fresh linear head per task
``protonet``  Prototypical Networks (Snell et al., 2017) with a learned projection, cosine
              similarity and a learned temperature
``maml``      MAML (Finn et al., 2017) on projection + linear head, second order
``fomaml``    first-order MAML
``reptile``   Reptile (Nichol et al., 2018)
``anil``      ANIL (Raghu et al., 2020): only the last layer is adapted per task
``protomaml`` Proto-MAML (Triantafillou et al., 2020): MAML whose last layer starts from the
              prototypes
``lora``      MAML whose inner loop adapts only low-rank fast weights and the head
              (``minilm-block`` only, notebook 05)
============  ================================================================================

Where they live: :mod:`~metanlp_lite.fewshot.metric` (``ncm``, ``protonet``),
:mod:`~metanlp_lite.fewshot.finetune` (``finetune``), :mod:`~metanlp_lite.fewshot.maml_family`
(the rest). Each registers itself with :func:`~metanlp_lite.fewshot.base.register` next to its
class; this module reads the registry: :data:`METHODS` (notebook 04's eight, in its tables'
order), :data:`LAYER_METHODS`, :data:`HYPERPARAMS`, :func:`hyperparams` and
:func:`build_method` (a fresh, seeded method by name, its network from
:func:`~metanlp_lite.fewshot.bodies.make_body`). A new method is its class and one
``@register(...)`` above it, in the module of its family.

Taught in notebook 04, section 3 ("The methods").
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

# The families register their methods when imported: these imports fill REGISTRY.
from . import finetune, maml_family, metric  # noqa: F401
from .base import REGISTRY, BuildSpec, Method, Registration
from .features import ENCODERS

__all__ = ["METHODS", "LAYER_METHODS", "HYPERPARAMS", "TRAINING_HYPERPARAMS", "registered", "registration",
           "known_hyperparams", "hyperparams", "build_method"]


def registered() -> list[str]:
    """The registered methods' names: notebook 04's by column, then the Transformer-layer ones."""
    return [r.name for r in sorted(REGISTRY.values(), key=lambda r: (r.column is None, r.column or 0))]


METHODS = tuple(m for m in registered() if REGISTRY[m].column is not None)   # notebook 04's eight, in its tables' order
LAYER_METHODS = tuple(m for m in registered() if REGISTRY[m].column is None)  # need a Transformer layer (notebook 05)

# Hyper-parameters per method and encoder, chosen by hand on meta-val accuracy (BANKING77
# split 01 and CLINC150's domains, 5-way 1- and 5-shot, quick budget) among a few values of
# the learning rates and the feature scale: HYPERPARAMS[method][encoder], on top of _COMMON.
# The number of meta-training steps is set by the budget: STEPS["quick"] (the notebook's
# default run) or STEPS["full"] of metanlp_lite.fewshot.training.
HYPERPARAMS: dict[str, dict[str, dict[str, Any]]] = {
    name: REGISTRY[name].hyperparams for name in METHODS + LAYER_METHODS}
# dtype: of the parameters (see build_method).
_COMMON = {"lr": 1e-3, "weight_decay": 1e-2, "meta_batch": 16, "dtype": torch.float32}
# The hyper-parameters that meta-training takes (train_method's keywords); the others build the method.
TRAINING_HYPERPARAMS = ("lr", "weight_decay", "meta_batch", "n_query", "train_shots", "val_shots")
_EVAL_TASKS = {"minilm-block": 10}   # a task's utterances run through the Transformer layer (and its own copy of it)


def registration(method: str) -> Registration:
    """The registry's entry for ``method``; an unknown name lists the registered ones."""
    if method not in REGISTRY:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(registered())}")
    return REGISTRY[method]


def known_hyperparams() -> set[str]:
    """Every hyper-parameter some method or meta-training reads: the common ones, the registered
    ones and options, :data:`TRAINING_HYPERPARAMS`."""
    return (set(_COMMON) | set(TRAINING_HYPERPARAMS)
            | {k for r in REGISTRY.values() for per_encoder in r.hyperparams.values() for k in per_encoder}
            | {k for r in REGISTRY.values() for k in r.options})


def hyperparams(method: str, encoder: str, **overrides: Any) -> dict[str, Any]:
    """The hyper-parameters of ``method`` on ``encoder`` (see HYPERPARAMS), with ``overrides``.

    An override that no method reads (a typo) is refused; one that another method reads (e.g.
    ``inner_steps`` for ``protonet``) is allowed, so one loop can override many methods alike."""
    reg = registration(method)
    unknown = sorted(set(overrides) - known_hyperparams())
    if unknown:
        raise TypeError(f"unknown hyper-parameter(s) {', '.join(unknown)}; the known ones are "
                        f"{', '.join(sorted(known_hyperparams()))}")
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if encoder not in reg.hyperparams:
        if reg.column is None:
            raise ValueError(f"method {method!r} needs a Transformer layer to put its fast weights on: "
                             f"use --encoder minilm-block (got {encoder!r})")
        raise ValueError(f"method {method!r} has no hyper-parameters for encoder {encoder!r}; "
                         f"use one of {', '.join(reg.hyperparams)}")
    return {**_COMMON, **reg.hyperparams[encoder], **overrides}


def build_method(method: str, encoder: str, in_dim: int, *, n_way: int = 5, n_classes: int = 0,
                 seed: int = 0, centre: Tensor | None = None, **overrides: Any) -> Method:
    """A fresh, seeded :class:`~metanlp_lite.fewshot.base.Method` by name. in_dim: the feature
    width (384 or n_buckets); n_classes: the meta-train classes (for ``finetune``'s pretraining
    classifier); centre: the mean meta-train embedding, where the MiniLM adapter starts (None:
    the raw embeddings).

    The random initialisation is the same on every CPU (:mod:`metanlp_lite.reproducible`).
    The parameters are float32 (``dtype=torch.float32``, the default): over the few dozen steps
    of the notebook's runs, other CPUs' rounding does not change the printed accuracies (checked
    under ``ATEN_CPU_CAPABILITY=default``). ``dtype=torch.float64`` makes long runs reproducible
    too, at about twice the cost: :func:`~metanlp_lite.fewshot.training.train_method` then rounds
    the parameters to float32 after every step."""
    reg = registration(method)
    hp = hyperparams(method, encoder, **overrides)
    torch.manual_seed(seed)
    m = reg.cls.build(BuildSpec(method, encoder, in_dim, hp, n_way, n_classes, seed, centre))
    if encoder in _EVAL_TASKS:
        m.eval_tasks = _EVAL_TASKS[encoder]
    return m.to(hp["dtype"])
