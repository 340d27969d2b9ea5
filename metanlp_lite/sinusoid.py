"""The sinusoid regression benchmark of Finn et al. (2017, section 5.1): the network and its
meta-training with MAML, first-order MAML, Reptile or joint pretraining.

- :func:`sinusoid_mlp`: the MLP 1 -> 40 -> 40 -> 1 of the paper, seeded the same on every CPU;
- :data:`SINUSOID_METHODS`: each method's learner, inner steps and inner step size;
- :func:`train_sinusoid`: one meta-training run (float64 runs are the same on any CPU);
- :func:`sinusoid_test_tasks`, :func:`evaluate_sinusoid`: notebook 02's test protocol, shared
  with ``benchmarks/sinusoid_reproduction.py``;
- :func:`load_sinusoid_results`, :func:`load_sinusoid_runs`: the networks that script trained at the paper's scale (70,000
  meta-steps, three seeds), shipped with the package in ``results/sinusoid_70k.pt``.

The tasks themselves (y = a sin(x - psi), amplitude a, phase psi) come from
:mod:`metanlp_lite.data`; the engine from :mod:`metanlp_lite.maml`. Taught in notebook 02
(sections 7 and 8); notebook 03 retrains the same networks to look at their loss landscapes.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import sample_sinusoid_tasks
from .episodes import TaskBatch
from .maml import MAML, Reptile, adaptation_curve, meta_train
from .reproducible import init_linear_

__all__ = ["sinusoid_mlp", "SINUSOID_METHODS", "train_sinusoid", "sinusoid_test_tasks", "evaluate_sinusoid",
           "load_sinusoid_results", "load_sinusoid_runs", "RUNS_FILE", "SHORT_RUNS_FILE"]


def sinusoid_mlp(hidden: int = 40, dtype: torch.dtype = torch.float32, seed: int | None = None) -> nn.Sequential:
    """The MLP of Finn et al.: 1 -> hidden -> hidden -> 1 with ReLU. Input (N, 1), output (N, 1)."""
    model = nn.Sequential(
        nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    ).to(dtype)
    if seed is not None:
        init_linear_(model, seed)
    return model


# method -> (learner kind, inner steps used in meta-training, inner_lr)
SINUSOID_METHODS: dict[str, dict[str, Any]] = {
    "maml": {"kind": "maml", "inner_steps": 1, "inner_lr": 0.01, "first_order": False},
    "fomaml": {"kind": "maml", "inner_steps": 1, "inner_lr": 0.01, "first_order": True},
    "reptile": {"kind": "reptile", "inner_steps": 5, "inner_lr": 0.02},
    "joint": {"kind": "maml", "inner_steps": 0, "inner_lr": 0.01, "first_order": False},
}


def train_sinusoid(method: str, n_iters: int = 2000, seed: int = 0, *, meta_batch: int = 25,
                   k_support: int = 10, k_query: int = 10, outer_lr: float = 1e-3, hidden: int = 40,
                   show_progress: bool = True, dtype: torch.dtype = torch.float32,
                   **overrides: Any) -> tuple[nn.Sequential, list[float]]:
    """Meta-train a sinusoid MLP with ``method`` in {"maml", "fomaml", "reptile", "joint"}.

    The same seed gives the same initial network and the same tasks for every method.
    ``dtype``: of the network and the tasks. In float64 the parameters are rounded to float32
    after each step, which makes the run the same on any CPU (see
    :mod:`metanlp_lite.reproducible`); in float32, another CPU's kernels change the result.
    ``overrides`` replace entries of ``SINUSOID_METHODS[method]`` (e.g. ``inner_steps=5``).
    Adam with ``outer_lr`` is the meta-optimizer (for Reptile it steps along theta - mean(phi)).
    Returns (model, meta-loss per step). "joint" is joint pretraining: MAML with zero inner
    steps, i.e. plain regression on all tasks' query points.
    """
    if method not in SINUSOID_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(SINUSOID_METHODS)}")
    cfg = {**SINUSOID_METHODS[method], **overrides}
    model = sinusoid_mlp(hidden, dtype, seed=seed)
    if cfg["kind"] == "reptile":
        learner: MAML | Reptile = Reptile(model, cfg["inner_lr"], cfg["inner_steps"], loss_fn=F.mse_loss)
    else:
        learner = MAML(model, cfg["inner_lr"], cfg["inner_steps"], first_order=cfg["first_order"],
                       loss_fn=F.mse_loss)
    gen = torch.Generator().manual_seed(seed)
    losses = meta_train(learner, lambda: sample_sinusoid_tasks(meta_batch, k_support, k_query, gen, dtype)[0],
                        n_iters, outer_lr=outer_lr, desc=method, show_progress=show_progress,
                        round_to=torch.float32 if dtype == torch.float64 else None)
    return model, losses


def sinusoid_test_tasks(n_tasks: int = 500, k_support: int = 10, k_query: int = 100, seed: int = 99,
                        dtype: torch.dtype = torch.float32) -> TaskBatch:
    """The test tasks of notebook 02: ``n_tasks`` new sine waves (seed 99, never used in training),
    K = ``k_support`` support points and ``k_query`` query points each: support (n, K, 1), query (n, M, 1)."""
    return sample_sinusoid_tasks(n_tasks, k_support, k_query, torch.Generator().manual_seed(seed), dtype)[0]


def evaluate_sinusoid(model: nn.Module, method: str, tasks: TaskBatch | None = None, *, alpha: float = 0.01,
                      steps: int = 10) -> dict[str, torch.Tensor]:
    """Query MSE of ``model`` on each test task, under notebook 02's two protocols.

    ``common``: (steps + 1, n) after 0, 1, ..., ``steps`` gradient steps of size ``alpha`` on the
    support points, the same for every method; ``own_curve``: the same at ``method``'s own inner
    step size; ``own``: (n,) after ``method``'s own inner loop of meta-training (its steps at its
    step size; joint pretraining: none). ``tasks``: default :func:`sinusoid_test_tasks`.
    Deterministic full-batch gradient descent, so two methods can be compared task by task.
    """
    if method not in SINUSOID_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(SINUSOID_METHODS)}")
    if tasks is None:
        tasks = sinusoid_test_tasks()
    own = SINUSOID_METHODS[method]
    if own["inner_steps"] > steps:
        raise ValueError(f"steps={steps} is fewer than {method}'s own {own['inner_steps']} inner steps")
    common = adaptation_curve(model, tasks, inner_lr=alpha, steps=steps, loss_fn=F.mse_loss)
    own_curve = common if own["inner_lr"] == alpha else adaptation_curve(
        model, tasks, inner_lr=own["inner_lr"], steps=steps, loss_fn=F.mse_loss)
    return {"common": common, "own_curve": own_curve, "own": own_curve[own["inner_steps"]]}


RUNS_FILE = "sinusoid_70k.pt"          # benchmarks/sinusoid_reproduction.py: 70,000 meta-steps, 3 seeds
SHORT_RUNS_FILE = "sinusoid_3k.pt"     # benchmarks/sinusoid_short.py: notebook 02's 3,000-step runs, seed 0


def load_sinusoid_results(path: str | Path | None = None, *, file: str = RUNS_FILE) -> dict[str, Any]:
    """What a sinusoid benchmark stored: ``{"steps", "meta_batch", "k", "runs"}``, ``runs["maml/0"] =
    {"state": float32 state dict, "seconds": float, ...}`` with the meta-loss averaged over every
    1,000 meta-steps (``"loss_per_1000"``, :data:`RUNS_FILE`) or at every step (``"losses"``,
    :data:`SHORT_RUNS_FILE`, which also holds ``"checkpoints"``: ``{"maml/0/1000": state dict}``).

    ``path``: default the file ``file`` shipped in ``metanlp_lite/results``.
    """
    script = {RUNS_FILE: "sinusoid_reproduction.py` to train the networks (about an hour on 2 cores)",
              SHORT_RUNS_FILE: "sinusoid_short.py` to train the networks (about 2 minutes)"}.get(file, "")
    path = Path(str(files("metanlp_lite") / "results" / file)) if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/{script}, "
                                f"or reinstall metanlp-lite")
    return torch.load(path, weights_only=True)


def load_sinusoid_runs(source: str | Path | dict[str, Any] | None = None) -> dict[tuple[str, int], nn.Sequential]:
    """The networks meta-trained by ``benchmarks/sinusoid_reproduction.py``: {(method, seed): model}.

    ``source``: a stored file (default: the shipped one), or what :func:`load_sinusoid_results`
    returned. Each model is the float32 MLP of :func:`sinusoid_mlp`, in eval mode.
    """
    stored = source if isinstance(source, dict) else load_sinusoid_results(source)
    models = {}
    for name, run in stored["runs"].items():
        method, seed = name.split("/")
        model = sinusoid_mlp(run["state"]["0.weight"].shape[0])
        model.load_state_dict(run["state"])
        models[method, int(seed)] = model.eval()
    return models
