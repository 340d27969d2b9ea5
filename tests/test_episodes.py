import pytest
import torch

from metanlp_lite.episodes import EpisodeSampler, TaskBatch


def pool(n_classes=10, per_class=30, dim=4):
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    feats = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(0))
    return labels, feats


def test_shapes_and_labels():
    labels, feats = pool()
    b = EpisodeSampler(labels, n_way=5, k_shot=3, n_query=4, seed=0).sample(feats, n_tasks=7)
    assert isinstance(b, TaskBatch)
    assert b.support_x.shape == (7, 15, 4) and b.query_x.shape == (7, 20, 4)
    assert torch.equal(b.support_y[0], torch.arange(5).repeat_interleave(3))
    assert torch.equal(b.query_y[0], torch.arange(5).repeat_interleave(4))


def test_invariants_over_many_tasks():
    labels, _ = pool(n_classes=12, per_class=9)
    sampler = EpisodeSampler(labels, n_way=6, k_shot=2, n_query=7, seed=3)   # K+Q = 9: uses every example
    idx, classes = sampler.sample_indices(200)
    for t in range(200):
        s, q = idx.support_x[t], idx.query_x[t]
        assert len(set(classes[t].tolist())) == 6                      # no class repeats in a task
        assert not set(s.tolist()) & set(q.tolist())                   # support and query disjoint
        assert len(set(s.tolist())) == len(s) and len(set(q.tolist())) == len(q)
        # label j of the task is class classes[t, j] of the pool, in support and query alike
        assert torch.equal(labels[s], classes[t][idx.support_y[t]])
        assert torch.equal(labels[q], classes[t][idx.query_y[t]])


def test_classes_restrict_the_pool():
    labels, feats = pool()
    sampler = EpisodeSampler(labels, 3, 1, 2, classes=[7, 8, 9], seed=0)
    _, classes = sampler.sample_indices(50)
    assert set(classes.flatten().tolist()) == {7, 8, 9}


def test_same_seed_same_episodes():
    labels, feats = pool()
    a = EpisodeSampler(labels, 5, 1, 5, seed=42).sample(feats, 3)
    b = EpisodeSampler(labels, 5, 1, 5, seed=42).sample(feats, 3)
    c = EpisodeSampler(labels, 5, 1, 5, seed=43).sample(feats, 3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.support_x, c.support_x)


def test_texts():
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    texts = [f"utterance {i}" for i in range(9)]
    b = EpisodeSampler(labels, 3, 1, 2, seed=0).sample(texts, 2)
    assert len(b.support_x) == 2 and len(b.support_x[0]) == 3 and len(b.query_x[1]) == 6
    for t in range(2):
        for text, y in zip(b.support_x[t], b.support_y[t].tolist()):
            assert isinstance(text, str)
        assert not set(b.support_x[t]) & set(b.query_x[t])


def test_impossible_requests_fail_early_and_clearly():
    labels = torch.tensor([0] * 10 + [1] * 10 + [2] * 4)
    with pytest.raises(ValueError, match="cannot sample 5-way tasks: only 3 classes"):
        EpisodeSampler(labels, n_way=5, k_shot=1)
    with pytest.raises(ValueError, match=r"'tiny' \(id 2\) has only 4 examples but K\+Q = 6"):
        EpisodeSampler(labels, n_way=2, k_shot=1, n_query=5, class_names=["a", "b", "tiny"])
    with pytest.raises(ValueError, match="k_shot must be an integer >= 1"):
        EpisodeSampler(labels, n_way=2, k_shot=0)
    with pytest.raises(ValueError, match="1-D"):
        EpisodeSampler(labels[:, None], n_way=2, k_shot=1)
    with pytest.raises(ValueError, match="no examples"):
        EpisodeSampler(labels, n_way=2, k_shot=1, n_query=1, classes=[0, 9])
