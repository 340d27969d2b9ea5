"""Near-duplicates across a class split: what counts as a twin, and the episodes left without one."""
import pytest
import torch

from metanlp_lite.leakage import episodes_without, normalised, twin_free_episodes, twin_free_labels, twin_rows


def test_normalised_ignores_case_punctuation_and_spaces():
    assert normalised("Has my top-up  gone through?") == normalised("has my top up gone through") \
        == "has my top up gone through"
    assert normalised("is it cloudy today") != normalised("is it sunny today")


def test_twins_by_words_or_by_cosine_and_nothing_else():
    texts = ["Set alarm for 7 am tomorrow", "set alarm for 7 am tomorrow.", "What is my balance?",
             "How much money do I have", "Play some jazz", "Order a pizza"]
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0],      # 0 and 1: the same words, orthogonal embeddings
                             [1.0, 1.0], [1.0, 0.98],    # 2 and 3: other words, cosine 0.9999
                             [1.0, -1.0], [-1.0, 0.2]])  # 4 and 5: neither
    test, seen = torch.tensor([0, 2, 4]), torch.tensor([1, 3, 5])
    assert twin_rows(features, texts, test, seen).tolist() == [0, 2]
    assert twin_rows(features, texts, test, seen, cut=1.0).tolist() == [0]     # words alone at cut 1
    assert twin_rows(features, texts, test, seen[:0]).tolist() == []


def test_twin_rows_says_what_is_wrong():
    with pytest.raises(ValueError, match="one text a row"):
        twin_rows(torch.zeros(3, 2), ["a", "b"], torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match="cosine"):
        twin_rows(torch.zeros(2, 2), ["a", "b"], torch.tensor([0]), torch.tensor([1]), cut=1.5)


def test_episodes_without_drops_a_twin_in_support_or_query():
    support = torch.tensor([[0, 1], [2, 3], [4, 5]])
    query = torch.tensor([[6, 7], [8, 9], [10, 11]])
    assert episodes_without(support, query, torch.tensor([3, 10])).tolist() == [True, False, False]
    assert episodes_without(support, query, torch.tensor([], dtype=torch.long)).all()


def test_twin_free_episodes_at_several_cuts():
    texts = ["Set alarm for 7 am tomorrow", "set alarm for 7 am tomorrow.", "What is my balance?",
             "How much money do I have", "Play some jazz", "Order a pizza", "Book a table", "Call mum"]
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0],      # 0 and 1: the same words
                             [1.0, 1.0], [1.0, 0.98],    # 2 and 3: cosine 0.9999
                             [1.0, 0.6], [1.0, 0.45],    # 4 and 5: cosine 0.99: a twin at 0.98, not at 0.995
                             [1.0, -1.0], [-1.0, 0.2]])  # 6: no twin
    test, seen = torch.tensor([0, 2, 4, 6]), torch.tensor([1, 3, 5, 7])
    support, query = torch.tensor([[0], [2], [4], [6]]), torch.tensor([[6], [6], [6], [6]])
    found = twin_free_episodes(features, texts, test, seen, support, query, cuts=(1.0, 0.995, 0.98))
    assert {c: (n, k.tolist()) for c, (n, k) in found.items()} == {
        1.0: (1, [False, True, True, True]), 0.995: (2, [False, False, True, True]), 0.98: (3, [False, False, False, True])}
    with pytest.raises(ValueError, match="cuts is empty"):
        twin_free_episodes(features, texts, test, seen, support, query, cuts=())


def test_twin_free_labels_leaves_out_twins_and_repeats_within_an_intent():
    texts = ["Roll dice", "roll dice!", "throw a die for me", "what time is it", "What time is it?", "time please",
             "roll the dice", "tell me the time"]
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])       # intents 0 and 1 are test intents, 2 is seen
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.7, 0.7], [0.0, 1.0], [0.0, 1.0], [0.3, 1.0],
                             [0.6, 0.8], [-1.0, 0.1]])    # row 2 and row 6: cosine 0.99, a twin at 0.95
    clean, twins, repeats = twin_free_labels(features, texts, labels, [0, 1], [2])
    assert (twins, repeats) == (1, 2)
    assert clean.tolist() == [0, -1, -1, 1, -1, 1, 2, 2]   # row 2 a twin of seen row 6; rows 1 and 4 repeat rows 0 and 3
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]     # the caller's labels untouched
    _, twins, _ = twin_free_labels(features, texts, labels, [0, 1], [2], cut=0.999)
    assert twins == 0
