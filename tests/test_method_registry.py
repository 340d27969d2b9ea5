"""The registry of few-shot methods: one registration per method, the same hyper-parameters and the
same freshly built methods as before it existed, strict training keywords, and an import order
without cycles."""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from metanlp_lite.fewshot.base import REGISTRY, BuildSpec, Method, register
from metanlp_lite.fewshot.features import Pool
from metanlp_lite.fewshot.methods import (
    HYPERPARAMS, LAYER_METHODS, METHODS, TRAINING_HYPERPARAMS, build_method, hyperparams,
)
from metanlp_lite.fewshot.metric import ncm_logits, prototypes
from metanlp_lite.fewshot.training import train_for, train_method

FEWSHOT = Path(__file__).resolve().parents[1] / "metanlp_lite" / "fewshot"

# HYPERPARAMS written out: "minilm" and "bow" as they stood before the registry (commit 478f545),
# which produced notebook 04's outputs; "minilm-block" as notebook 05's stored results were
# produced (since 2026-12-01: meta-val of the meta-test's 1-shot shape, two inner steps for MAML
# on the layer, Proto-MAML's separate, meta-learned step sizes for head and layer).
FROZEN_HYPERPARAMS = {
    "ncm": {"minilm": {}, "bow": {}, "minilm-block": {}},
    "finetune": {
        "minilm": {"meta_batch": 128, "head_lr": 10.0, "head_steps": 30},
        "bow": {"meta_batch": 128, "head_lr": 10.0, "head_steps": 30, "lr": 0.003},
        "minilm-block": {"meta_batch": 4, "head_lr": 10.0, "head_steps": 30, "lr": 3e-05, "weight_decay": 0.0,
                         "n_query": 5, "val_shots": (1,)},
    },
    "protonet": {
        "minilm": {},
        "bow": {"lr": 0.003},
        "minilm-block": {"lr": 3e-05, "weight_decay": 0.0, "meta_batch": 4, "n_query": 5, "val_shots": (1,)},
    },
    **{kind: {
        "minilm": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 1, "test_steps": 3, "lr": 0.0003},
        "bow": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 1, "test_steps": 3, "lr": 0.001},
        "minilm-block": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 2, "test_steps": 3, "lr": 3e-05,
                         "weight_decay": 0.0, "meta_batch": 4, "n_query": 5, "val_shots": (1,)},
    } for kind in ("maml", "fomaml")},
    "reptile": {
        "minilm": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 3, "test_steps": 3, "lr": 0.001,
                   "dtype": torch.float64},   # since 2026-12-01: the same model on AVX2, AVX-512 and default kernels
        "bow": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 3, "test_steps": 3, "lr": 0.003},
        "minilm-block": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 3, "test_steps": 3, "lr": 3e-05,
                         "weight_decay": 0.0, "meta_batch": 4, "n_query": 5, "val_shots": (1,)},
    },
    "anil": {
        "minilm": {"scale": 5.0, "inner_lr": 1.0, "inner_steps": 3, "test_steps": 5},
        "bow": {"scale": 5.0, "inner_lr": 1.0, "inner_steps": 3, "test_steps": 5, "lr": 0.003},
        "minilm-block": {"scale": 5.0, "inner_lr": 1.0, "inner_steps": 3, "test_steps": 5, "lr": 3e-05,
                         "weight_decay": 0.0, "meta_batch": 4, "n_query": 5, "val_shots": (1,)},
    },
    "protomaml": {
        "minilm": {"scale": 3.0, "inner_lr": 0.1, "inner_steps": 1, "test_steps": 1},
        "bow": {"scale": 3.0, "inner_lr": 0.1, "inner_steps": 1, "test_steps": 1, "lr": 0.003},
        "minilm-block": {"scale": 3.0, "inner_lr": 0.1, "inner_steps": 1, "test_steps": 1, "body_lr": 1.0,
                         "learn_inner_lr": True, "lr": 3e-05, "weight_decay": 0.0, "meta_batch": 4, "n_query": 5, "val_shots": (1,)},
    },
    "lora": {
        "minilm-block": {"scale": 5.0, "inner_lr": 0.5, "inner_steps": 2, "test_steps": 3, "lr": 3e-05, "rank": 4,
                         "weight_decay": 0.0, "meta_batch": 4, "n_query": 5, "val_shots": (1,)},
    },
}

# Fingerprints (see `fingerprint`) of build_method(method, encoder, in_dim, n_way=5, n_classes=7,
# seed=3, centre=linspace(-1, 1, 384) on MiniLM), computed with the code of commit 478f545, before
# the registry: the registry builds the very same methods, bit for bit (the initialisation is the
# same on every CPU, see metanlp_lite.reproducible), except ("reptile", "minilm"), float64 since 2026-12-01.
FINGERPRINTS = {
    ("ncm", "minilm"): "649b1fc4894985be", ("ncm", "bow"): "649b1fc4894985be",
    ("finetune", "minilm"): "4f198ea95afff75f", ("finetune", "bow"): "744021df35d955f8",
    ("protonet", "minilm"): "6f2c5c70b180c071", ("protonet", "bow"): "6bbe17b709d914d3",
    ("maml", "minilm"): "958185e56f529256", ("maml", "bow"): "6d413f6cb6cf17eb",
    ("fomaml", "minilm"): "c89bf0097b1c68e4", ("fomaml", "bow"): "fa10ccb6b8908738",
    ("reptile", "minilm"): "6ada187f3be9e932", ("reptile", "bow"): "db4a7baac838a440",
    ("anil", "minilm"): "d61ef28e2eeeb8e6", ("anil", "bow"): "829beef17568b4df",
    ("protomaml", "minilm"): "bb163a04c80f517a", ("protomaml", "bow"): "e4dbab82519e57a7",
}
# The same on the Transformer layer (needs the encoder's weights: seconds).
BLOCK_FINGERPRINTS = {
    ("ncm", "minilm-block"): "526172af8d162863", ("finetune", "minilm-block"): "0ff58f52e0c17158",
    ("protonet", "minilm-block"): "c79f0ab0e899237c", ("maml", "minilm-block"): "4135adaf37f51e1c",
    ("fomaml", "minilm-block"): "0d41d583d00d9462", ("reptile", "minilm-block"): "9de5474a8c87f8b4",
    ("anil", "minilm-block"): "36173ccf44b30a36", ("protomaml", "minilm-block"): "ff18b1dc077a5cef",   # + its two log step sizes (2026-12-01)
    ("lora", "minilm-block"): "e91b760ff9750771",
}


def fingerprint(m: Method) -> str:
    """sha256 of the class, name, eval_tasks and every state_dict tensor (name, dtype, shape, bytes)."""
    h = hashlib.sha256(f"{type(m).__name__} {m.name} {m.eval_tasks}".encode())
    for k, v in m.state_dict().items():
        h.update(f"{k}{v.dtype}{tuple(v.shape)}".encode())
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def build(method: str, encoder: str) -> Method:
    in_dim = 2048 if encoder == "bow" else 384
    centre = None if encoder == "bow" else torch.linspace(-1, 1, 384)
    return build_method(method, encoder, in_dim, n_way=5, n_classes=7, seed=3, centre=centre)


def test_the_tables_are_the_registry_read_in_notebook_04s_order():
    assert METHODS == ("ncm", "finetune", "protonet", "maml", "fomaml", "reptile", "anil", "protomaml")
    assert LAYER_METHODS == ("lora",)
    assert list(HYPERPARAMS) == list(METHODS + LAYER_METHODS) and set(REGISTRY) == set(HYPERPARAMS)
    assert all(HYPERPARAMS[name] is REGISTRY[name].hyperparams for name in HYPERPARAMS)


def test_hyperparams_are_unchanged():
    assert HYPERPARAMS == FROZEN_HYPERPARAMS
    assert {m: list(per_encoder) for m, per_encoder in HYPERPARAMS.items()} == \
        {m: list(per_encoder) for m, per_encoder in FROZEN_HYPERPARAMS.items()}


def test_every_registered_method_and_encoder_has_a_fingerprint():
    pairs = {(m, e) for m, per_encoder in HYPERPARAMS.items() for e in per_encoder}
    assert pairs == set(FINGERPRINTS) | set(BLOCK_FINGERPRINTS)


@pytest.mark.parametrize("method, encoder", sorted(FINGERPRINTS))
def test_build_method_builds_what_it_built_before_the_registry(method, encoder):
    assert fingerprint(build(method, encoder)) == FINGERPRINTS[method, encoder]


def test_build_method_builds_on_the_layer_what_it_built_before_the_registry(encoder):
    found = {key: fingerprint(build(*key)) for key in BLOCK_FINGERPRINTS}
    assert found == BLOCK_FINGERPRINTS


def test_build_method_seeds_pytorch_as_before():
    """Code after build_method draws the same random numbers as before the registry."""
    build("maml", "minilm")
    assert torch.rand(3).tolist() == [0.749229371547699, 0.7922995686531067, 0.5997325778007507]   # as at 478f545


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown method 'protonets'; choose one of ncm, finetune, protonet"):
        build_method("protonets", "minilm", 384)
    with pytest.raises(ValueError, match="unknown encoder 'glove'"):
        hyperparams("maml", "glove")
    with pytest.raises(ValueError, match="--encoder minilm-block"):
        hyperparams("lora", "bow")


def test_a_registration_is_checked():
    with pytest.raises(ValueError, match="unknown encoder.*glove"):
        register("x", column=99, hyperparams={"glove": {}})
    with pytest.raises(ValueError, match="column 2 is 'protonet'"):
        register("x", column=2, hyperparams={"minilm": {}})
    with pytest.raises(ValueError, match="Transformer-layer method"):
        register("x", hyperparams={"minilm": {}})
    with pytest.raises(ValueError, match="already registered by ProtoNet"):
        register("protonet", column=2, hyperparams={"minilm": {}})(Method)


def test_a_new_method_is_a_class_and_one_registration():
    try:
        @register("euclidean-ncm", column=99, hyperparams={"minilm": {"scale": 2.0}})
        class EuclideanNCM(Method):
            name = "euclidean-ncm"
            needs_training = False

            def __init__(self, scale: float) -> None:
                super().__init__()
                self.scale = scale

            @classmethod
            def build(cls, spec: BuildSpec) -> Method:
                return cls(spec.hp["scale"])

            def logits(self, batch):
                return -self.scale * torch.cdist(batch.query_x, prototypes(batch.support_x, batch.support_y, 2))

        m = build_method("euclidean-ncm", "minilm", 4)
        assert isinstance(m, EuclideanNCM) and m.scale == 2.0
        assert hyperparams("euclidean-ncm", "minilm")["lr"] == 1e-3     # the common ones underneath
    finally:
        REGISTRY.pop("euclidean-ncm", None)


def tiny_pools(dim: int = 8) -> dict[str, Pool]:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(9).repeat_interleave(25)
    x = F.normalize(torch.randn(9, dim, generator=g)[labels] + 0.1 * torch.randn(len(labels), dim, generator=g), dim=1)
    names = [str(i) for i in range(9)]
    return {p: Pool(x, labels, c, None, names, names)
            for p, c in (("train", [0, 1, 2, 3]), ("val", [4, 5, 6]), ("test", [6, 7, 8]))}


def test_train_method_refuses_a_mistyped_keyword():
    pools = tiny_pools()
    m = build_method("protonet", "minilm", 8, n_way=3)
    with pytest.raises(TypeError, match="weight_deacy"):
        train_method(m, pools["train"], pools["val"], n_way=3, steps=1, weight_deacy=0.1, show_progress=False)


def test_a_mistyped_hyperparameter_is_refused_everywhere():
    with pytest.raises(TypeError, match="unknown hyper-parameter.*inner_lrr"):
        build_method("maml", "minilm", 8, inner_lrr=0.1)
    with pytest.raises(TypeError, match="unknown hyper-parameter.*weight_deacy"):
        train_for("protonet", "minilm", tiny_pools(), n_way=3, steps=1, weight_deacy=0.1, show_progress=False)
    build_method("protonet", "minilm", 8, inner_steps=1)          # another method's: allowed
    build_method("maml", "minilm", 8, learn_head_init=True)       # an option of the method


def test_train_for_passes_meta_training_only_its_keywords():
    import inspect

    takes = inspect.signature(train_method).parameters
    assert all(takes[k].kind is inspect.Parameter.KEYWORD_ONLY for k in TRAINING_HYPERPARAMS)
    pools = tiny_pools()
    model, log = train_for("maml", "minilm", pools, n_way=3, steps=2, n_query=3, show_progress=False)
    assert len(log.losses) == 2 and model.learner.inner_lr == HYPERPARAMS["maml"]["minilm"]["inner_lr"]


def test_ncm_from_the_registry_is_nearest_class_mean():
    sx = torch.randn(2, 6, 5, generator=torch.Generator().manual_seed(0))
    sy = torch.tensor([[0, 0, 1, 1, 2, 2]] * 2)
    qx = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(1))
    from metanlp_lite.episodes import TaskBatch

    batch = TaskBatch(sx, sy, qx, torch.zeros(2, 4, dtype=torch.long))
    torch.testing.assert_close(build_method("ncm", "minilm", 5).logits(batch), ncm_logits(qx, prototypes(sx, sy, 3)))


def sibling_imports(path: Path) -> tuple[set[str], list[str]]:
    """The fewshot modules ``path`` imports at its top level, and any it imports inside a function."""
    tree = ast.parse(path.read_text())
    top, inner = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            (top.update(names) if node in tree.body else inner.extend(names))
    return top, inner


def test_the_fewshot_modules_import_each_other_without_a_cycle():
    graph = {}
    for path in sorted(FEWSHOT.glob("*.py")):
        top, inner = sibling_imports(path)
        assert not inner, f"{path.name} imports {inner} inside a function: import at the top (no cycles to dodge)"
        graph[path.stem] = top
    done: list[str] = []
    while len(done) < len(graph):
        ready = [m for m in graph if m not in done and graph[m] <= set(done)]
        assert ready, f"an import cycle among {sorted(set(graph) - set(done))}"
        done += ready


def test_finetunes_classifier_lr_moves_only_the_new_classifier_faster():
    # notebook 05's control on the layer: the pretrained body at the outer rate, the new classifier and its
    # temperature at classifier_lr; without it, the groups are the base class's (every parameter at lr)
    plain = build_method("finetune", "minilm", 384, n_classes=7, seed=3, centre=torch.zeros(384))
    fast = build_method("finetune", "minilm", 384, n_classes=7, seed=3, centre=torch.zeros(384), classifier_lr=1e-3)
    assert {g["lr"] for g in plain.optimizer_groups(3e-5, 0.0)} == {3e-5}
    groups = fast.optimizer_groups(3e-5, 0.01)
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in groups}
    assert by_lr[1e-3] == {id(fast.classifier), id(fast.log_tau)}
    body = {id(p) for p in fast.body.parameters() if p.requires_grad}
    assert body and body == {i for g in groups if g["lr"] == 3e-5 for i in {id(p) for p in g["params"]}}
    assert sum(len(g["params"]) for g in groups) == len(list(fast.meta_parameters()))    # each parameter once
    # one AdamW step on the same gradients: the classifier moves by ~classifier_lr, the body by ~lr
    batch = (torch.randn(16, 384, generator=torch.Generator().manual_seed(0)), torch.arange(16) % 7)
    for m in (plain, fast):
        opt = torch.optim.AdamW(m.optimizer_groups(3e-5, 0.0), lr=3e-5)
        before = m.classifier.detach().clone()
        m.loss(batch).backward()
        opt.step()
        m.moved = (m.classifier.detach() - before).abs().max().item()
    assert fast.moved > 20 * plain.moved
