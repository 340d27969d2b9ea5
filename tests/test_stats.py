"""metanlp_lite.stats: Student's t for a few seeds or splits, and the words a notebook ranks with."""
from __future__ import annotations

import math

import pytest
import torch

from metanlp_lite.stats import (mean_ci95, mean_ci95_over_seeds, mean_ci95_t, paired_over_seeds, paired_over_seeds_t,
                                t_quantile, verdict)

# t_{0.975, df} to 16 digits (R: qt(0.975, df))
KNOWN = {1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977987, 20: 2.0859634472658364,
         100: 1.9839715184496334}


@pytest.mark.parametrize("df", sorted(KNOWN))
def test_t_quantiles_are_exact(df):
    assert t_quantile(0.975, df) == pytest.approx(KNOWN[df], rel=1e-9)
    assert t_quantile(0.025, df) == pytest.approx(-KNOWN[df], rel=1e-9)     # symmetric


def test_t_quantiles_between_the_table_and_the_normal():
    assert t_quantile(0.5, 3) == 0.0
    assert t_quantile(0.95, 10) == pytest.approx(1.8124611228107335, rel=1e-9)
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959963984540054, rel=1e-6)   # the normal's 1.96
    values = [t_quantile(0.975, df) for df in (1, 1.5, 2, 3, 7, 11, 15, 40)]
    assert values == sorted(values, reverse=True)            # real df too, decreasing towards 1.96
    with pytest.raises(ValueError, match="between 0 and 1"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="n - 1"):
        t_quantile(0.975, 0)


def test_three_seeds_get_a_wider_interval_than_the_normal_one():
    g = torch.Generator().manual_seed(0)
    runs = 80 + torch.randn(600, generator=g) * 8 + torch.tensor([[-1.5], [0.0], [1.0]])   # 3 seeds x 600 episodes
    _, wide = mean_ci95_over_seeds(runs)
    _, normal = mean_ci95_over_seeds(runs, t_seeds=1.96)
    episodes = 1.96 ** 2 * runs.mean(0).double().var() / 600
    seeds = runs.mean(1).double().var() / 3
    assert wide > 1.5 * normal
    assert wide == pytest.approx(math.sqrt(episodes + KNOWN[2] ** 2 * seeds))
    assert mean_ci95_t([1.0, 2.0, 4.0])[1] > mean_ci95([1.0, 2.0, 4.0])[1] * 2


def test_student_t_covers_the_mean_of_three_values_and_1_96_does_not():
    g = torch.Generator().manual_seed(1)
    draws = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    t_hits = normal_hits = 0
    for row in draws:
        m, h = mean_ci95_t(row)
        t_hits += abs(m) <= h
        normal_hits += abs(m) <= mean_ci95(row)[1]
    assert 0.93 <= t_hits / 4000 <= 0.97                    # 95%, as promised
    assert normal_hits / 4000 < 0.85                        # 1.96 with three values: about 81%


def test_verdict_reads_a_paired_interval():
    assert verdict(1.2, 0.5) == "ahead"
    assert verdict(-1.2, 0.5) == "behind"
    assert verdict(0.4, 0.5) == "not separated"
    assert verdict(-0.5, 0.5) == "not separated"             # an interval touching 0 does not separate
    assert verdict(-0.3, 0.1, lower_is_better=True) == "ahead"   # an error 0.3 lower
    assert verdict(0.3, 0.1, lower_is_better=True) == "behind"
    with pytest.raises(ValueError, match="non-negative"):
        verdict(1.0, -0.1)


def test_seeds_paired_interval_uses_the_per_seed_differences():
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(300, generator=g, dtype=torch.float64)
    seed_shift = torch.tensor([[-2.0], [0.0], [2.0]], dtype=torch.float64)     # seed i moves both methods alike
    a = 1.0 + noise + seed_shift + 0.1 * torch.randn(3, 300, generator=g, dtype=torch.float64)
    b = noise + seed_shift
    d, unpaired = paired_over_seeds(a, b)
    d2, paired = paired_over_seeds(a, b, seeds_paired=True)
    assert d == d2
    per_seed = (a - b).mean(1)
    episodes = 1.96 ** 2 * (a - b).mean(0).var() / 300
    assert paired == pytest.approx(math.sqrt(episodes + KNOWN[2] ** 2 * per_seed.var() / 3))
    assert paired < unpaired / 5                              # the shared seed shift cancels
    assert verdict(d, unpaired) == "not separated" and verdict(d, paired) == "ahead"
    # seeds that move the two methods apart: the paired interval is the wider one
    assert paired_over_seeds(a, b - 2 * seed_shift, seeds_paired=True)[1] > paired_over_seeds(a, b - 2 * seed_shift)[1]
    with pytest.raises(ValueError, match="same seeds"):
        paired_over_seeds(a, b[:1], seeds_paired=True)


def test_paired_over_seeds_t_uses_student_t_for_few_episodes():
    g = torch.Generator().manual_seed(3)
    a, b = torch.rand(3, 9, generator=g) * 100, torch.rand(1, 9, generator=g) * 100
    d, h_normal = paired_over_seeds(a, b)
    d_t, h_t = paired_over_seeds_t(a, b)
    assert d_t == d
    # the episodes' part alone: 1.96 against t with 8 degrees of freedom (2.306); the seeds' part is the same
    seeds = (t_quantile(0.975, 2) ** 2 * a.double().mean(1).var() / 3).item()
    episodes = ((a.double().mean(0) - b.double()[0]).var() / 9).item()
    assert h_normal ** 2 == pytest.approx(1.96 ** 2 * episodes + seeds, rel=1e-3)
    assert h_t ** 2 == pytest.approx(t_quantile(0.975, 8) ** 2 * episodes + seeds, rel=1e-3)
    assert h_t > h_normal
    # an interval the normal 1.96 calls "behind" that Student's t leaves not separated, over few episodes
    x = torch.tensor([[0., 0., 0., 0., 0.]]), torch.tensor([[2., 0., 3., 1., 1.]])
    half = paired_over_seeds(*x)[1]
    assert verdict(*paired_over_seeds(*x)) == "behind" and verdict(*paired_over_seeds_t(*x)) == "not separated"
    assert paired_over_seeds_t(*x)[1] == pytest.approx(half * t_quantile(0.975, 4) / 1.96)
    # over many episodes the two agree closely; seeds paired too; errors as paired_over_seeds
    big_a, big_b = torch.rand(3, 600, generator=g), torch.rand(3, 600, generator=g)
    assert paired_over_seeds_t(big_a, big_b)[1] == pytest.approx(paired_over_seeds(big_a, big_b)[1], rel=3e-3)
    assert paired_over_seeds_t(big_a, big_b, seeds_paired=True)[1] == pytest.approx(
        paired_over_seeds(big_a, big_b, seeds_paired=True)[1], rel=3e-3)
    with pytest.raises(ValueError, match="at least 2 episodes"):
        paired_over_seeds_t(torch.zeros(3, 1), torch.zeros(1, 1))
    with pytest.raises(ValueError, match="same episodes"):
        paired_over_seeds_t(torch.zeros(3, 5), torch.zeros(1, 4))
