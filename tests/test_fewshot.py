import math

import pytest
import torch

from metanlp_lite.episodes import EpisodeSampler
from metanlp_lite.fewshot.metric import ncm_predict, prototypes
from metanlp_lite.fewshot.training import evaluate
from metanlp_lite.stats import accuracy, mean_ci95


def clusters(n_classes=8, per_class=40, dim=16, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=g)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[labels] + spread * torch.randn(len(labels), dim, generator=g), labels


def test_prototypes_are_class_means():
    x = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]]])
    y = torch.tensor([[0, 0, 1]])
    torch.testing.assert_close(prototypes(x, y, 2), torch.tensor([[[1.0, 0.0], [0.0, 4.0]]]))
    with pytest.raises(ValueError, match="at least one support example"):
        prototypes(x, torch.tensor([[0, 0, 0]]), 2)


def test_ncm_separates_well_separated_clusters():
    feats, labels = clusters()
    accs = evaluate(ncm_predict, EpisodeSampler(labels, 5, 1, 15, seed=0), feats, 100, show_progress=False)
    assert accs.shape == (100,) and accs.min() == 100.0


def test_ncm_is_at_chance_on_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(8).repeat_interleave(40)
    feats = torch.randn(len(labels), 16, generator=g)
    m, h = mean_ci95(evaluate(ncm_predict, EpisodeSampler(labels, 5, 1, 15, seed=0), feats, 300,
                              show_progress=False))
    assert abs(m - 20.0) < 3 * h + 1


def test_accuracy_and_interval():
    assert accuracy(torch.tensor([[0, 1, 1, 0]]), torch.tensor([[0, 1, 0, 0]])).item() == 75.0
    m, h = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert h == pytest.approx(1.96 * math.sqrt(5 / 3) / 2)   # s = sqrt(5/3), n = 4
    with pytest.raises(ValueError):
        mean_ci95([1.0])


def test_ncm_reference_number_on_clinc150(clinc150, tmp_path_factory):
    """The training-free baseline on the held-out domains lands near the data README's 93.96 ± 0.44."""
    from metanlp_lite.data import class_splits, select_classes
    from metanlp_lite.text import embed

    pool = select_classes(clinc150, class_splits(clinc150).test)
    feats = embed(list(pool["text"]), show_progress=False)
    accs = evaluate(ncm_predict, EpisodeSampler(list(pool["label"]), 5, 1, 15, seed=0), feats, 600,
                    show_progress=False)
    m, h = mean_ci95(accs)
    assert abs(m - 93.96) < 2 * max(h, 0.44), (m, h)
