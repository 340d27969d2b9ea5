"""metanlp_lite.reproducible: the same seed gives the same numbers with another CPU's kernels.

``ATEN_CPU_CAPABILITY=default`` makes PyTorch use its plain (non-AVX) kernels: a subprocess
with it stands for a student's different CPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from metanlp_lite.reproducible import init_linear_, normal, round_parameters, uniform

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import sys, torch
from torch import nn
from metanlp_lite.reproducible import uniform, normal, init_linear_
from metanlp_lite.sinusoid import train_sinusoid
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
out = {"uniform": uniform((3000,), 0.5, g), "normal": normal((3001,), 1.0, g),
       "linear": init_linear_(nn.Linear(40, 40), 1).weight.detach(),
       "torch_linear": (torch.manual_seed(1), nn.Linear(40, 40))[1].weight.detach(),
       "torch_randn": (torch.manual_seed(1), torch.randn(3000))[1],
       "trained": torch.cat([p.detach().flatten() for p in
                             train_sinusoid("fomaml", 150, 0, show_progress=False, dtype=torch.float64)[0].parameters()])}
torch.save(out, sys.argv[1])
"""


def probe(tmp_path: Path, capability: str | None) -> dict[str, torch.Tensor]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    out = tmp_path / f"{capability or 'native'}.pt"
    subprocess.run([sys.executable, "-c", PROBE, str(out)], env=env, check=True, timeout=300)
    return torch.load(out)


def test_same_numbers_with_another_cpus_kernels(tmp_path):
    native, other = probe(tmp_path, None), probe(tmp_path, "default")
    for name in ("uniform", "normal", "linear", "trained"):
        assert torch.equal(native[name], other[name]), f"{name} differs with ATEN_CPU_CAPABILITY=default"
    if torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        # why this module exists: PyTorch's own initialisers are not reproducible across kernels
        assert not (torch.equal(native["torch_linear"], other["torch_linear"])
                    and torch.equal(native["torch_randn"], other["torch_randn"]))


def test_distributions():
    g = torch.Generator().manual_seed(0)
    u = uniform((100_000,), 0.25, g)
    assert u.dtype == torch.float32 and -0.25 <= u.min() and u.max() <= 0.25
    assert abs(u.mean()) < 0.003 and abs(u.var() - 0.25 ** 2 / 3) < 1e-3
    z = normal((100_001,), 2.0, g, torch.float64)
    assert z.shape == (100_001,) and z.dtype == torch.float64
    assert abs(z.mean()) < 0.03 and abs(z.std() - 2.0) < 0.03
    assert torch.equal(z, z.float().double())                  # float32-exact values
    assert not torch.equal(normal((10,), 1.0, torch.Generator().manual_seed(0)),
                           normal((10,), 1.0, torch.Generator().manual_seed(1)))


def test_init_linear_is_pytorch_default_range_and_seeded():
    a = init_linear_(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2)), seed=3)
    b = init_linear_(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2)), seed=3)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
        bound = 1 / (16 ** 0.5 if name.startswith("0.") else 8 ** 0.5)
        assert p.abs().max() <= bound and p.abs().max() > 0.5 * bound


def test_round_parameters():
    m = nn.Linear(3, 2).double()
    with torch.no_grad():
        m.weight.add_(1e-12)
    round_parameters(m)
    assert m.weight.dtype == torch.float64
    assert all(torch.equal(p, p.float().double()) for p in m.parameters())


def test_training_runs_on_one_thread_gives_the_same_network_and_restores_the_count():
    """train_keeping_best trains on one thread (no spinning beside another job), restores the
    caller's count, and the float32 rounding makes the run the same as one forced on two threads."""
    from metanlp_lite.reproducible import threads, train_keeping_best

    def run(n_threads: int | None) -> tuple[list[int], torch.Tensor]:
        model = init_linear_(nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 5)), 3).double()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(512, 64, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 5, (512,), generator=gen)
        seen = []

        def loss_fn() -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return nn.functional.cross_entropy(model(x), y)

        def score() -> float:
            return -loss_fn().item()

        if n_threads is None:
            train_keeping_best(model, opt, loss_fn, score, steps=30, eval_every=10, show_progress=False)
        else:                    # the loop's own body, on n_threads threads: what the decorator replaces
            with threads(n_threads):
                train_keeping_best.__wrapped__(model, opt, loss_fn, score, steps=30, eval_every=10,
                                               show_progress=False)
        return seen, torch.cat([p.detach().flatten() for p in model.parameters()])

    before = torch.get_num_threads()
    with threads(2):
        seen, one = run(None)
        assert set(seen) == {1} and torch.get_num_threads() == 2
        seen2, two = run(2)
        assert set(seen2) == {2}
    assert torch.get_num_threads() == before
    assert torch.equal(one, two)
