"""Notebook 06's near-duplicate checks: the twins by words the split drops (exercise 12a), the
meta-test sentences with a template twin below the split's cut, the stored runs' episodes drawn
again, the queries that meet their own words in their episode's support set, and the checks of
exercises 12a and 12b failing plausible wrong answers with a useful hint."""
from __future__ import annotations

import re
import string

import pytest
import torch

from metanlp_lite import checks
from metanlp_lite import crosslingual as cl
from metanlp_lite.leakage import normalised, repeated_queries


@pytest.fixture(scope="module")
def full():
    corpus = cl.load_corpus(show_progress=False)
    return corpus, cl.position_split(corpus)


def test_word_twins_is_the_first_rule_of_the_split(full):
    corpus, parts = full
    by_words = cl.word_twins(corpus.texts, corpus.language, corpus.text_en, parts["test"])
    assert by_words <= parts["dropped"] and not by_words & parts["test"]
    assert len(by_words) == 33 and len(parts["dropped"]) == 37              # the other 4: the English cosine only
    assert {"Is it cloudy today?", "Set alarm for 5am"} <= by_words        # case and punctuation; a Danish twin
    # an exact key misses some, English alone misses most
    exact = {e for t, c, e in zip(corpus.texts, corpus.language, corpus.text_en) if e not in parts["test"]
             and (c, t) in {(c2, t2) for t2, c2, e2 in zip(corpus.texts, corpus.language, corpus.text_en)
                            if e2 in parts["test"]}}
    assert exact < by_words
    with pytest.raises(ValueError, match="one value a row"):
        cl.word_twins(corpus.texts[:3], corpus.language, corpus.text_en, parts["test"])


def test_word_twins_in_one_language_only():
    texts = ["Is it cold?", "is it cold", "Hace frío", "hace frio", "a", "a"]
    language = ["en", "en", "es", "es", "es", "en"]
    text_en = ["T", "X", "T", "Y", "Z", "Z2"]
    assert cl.word_twins(texts, language, text_en, {"T"}) == {"X"}         # "frío" is not "frio"
    assert cl.word_twins(texts, language, text_en, {"Z"}) == set()         # the same text, another language


def test_twin_sentences_grow_as_the_cut_falls(full):
    corpus, parts = full
    seen = parts["train"] | parts["val"]
    found = {cut: cl.twin_sentences(corpus, parts["test"], seen, cut) for cut in (0.95, 0.90, 0.85)}
    assert found[0.95] == set()                                             # the split dropped those
    assert found[0.95] < found[0.90] < found[0.85] <= parts["test"]
    assert (len(found[0.90]), len(found[0.85])) == (17, 44)
    assert "rate the current novel zero out of 6" in found[0.90]            # a template twin, 0.94
    with pytest.raises(ValueError, match="not English texts"):
        cl.twin_sentences(corpus, {"no such sentence"}, seen)


def test_episode_rows_are_the_episodes_evaluate_language_scores(full):
    corpus, parts = full
    idx = cl.episode_rows(corpus, "gsw", k_shot=5, episodes=40)
    assert idx.support_x.shape == (40, 25) and idx.query_x.shape == (40, 25)
    rows = torch.cat([idx.support_x.flatten(), idx.query_x.flatten()]).tolist()
    assert {corpus.language[r] for r in rows} == {"gsw"} and {corpus.text_en[r] for r in rows} <= parts["test"]
    # nearest class mean on these rows is what evaluate_language returns, episode by episode, and the stored run
    from metanlp_lite.fewshot.metric import ncm_logits, prototypes
    z = lambda r: corpus.minilm[r].double()
    acc = (ncm_logits(z(idx.query_x), prototypes(z(idx.support_x), idx.support_y, 5)).argmax(-1) == idx.query_y)
    mine = 100 * acc.double().mean(1)
    assert torch.equal(mine, cl.evaluate_language(None, corpus, "gsw", k_shot=5, episodes=40))
    stored = cl.load_language_results()["runs"]["ncm/gsw"]["k5"][:40]
    assert torch.equal(mine.round().to(torch.uint8), stored)
    assert not torch.equal(cl.episode_rows(corpus, "gsw", k_shot=5, episodes=40, seed=1).query_x, idx.query_x)
    with pytest.raises(ValueError, match="not in the corpus"):
        cl.episode_rows(corpus, "xx")
    with pytest.raises(ValueError, match="at least 1"):
        cl.episode_rows(corpus, "gsw", episodes=0)


def test_repeated_queries_compare_normalised_words_within_an_episode():
    texts = ["Wake me up!", "wake me up", "play a song", "Play a song.", "stop"]
    support = torch.tensor([[0, 2], [4, 2]])
    query = torch.tensor([[1, 4, 3], [1, 0, 3]])
    assert repeated_queries(texts, support, query).tolist() == [[True, False, True], [False, False, True]]
    with pytest.raises(ValueError, match="same T episodes"):
        repeated_queries(texts, support, query[:1])
    with pytest.raises(ValueError, match="row indices"):
        repeated_queries(texts, support, query + 10)


def test_about_one_in_eight_five_shot_queries_meets_its_words_in_the_support_set(full):
    corpus, _ = full
    idx = cl.episode_rows(corpus, "de", k_shot=5)
    share = repeated_queries(corpus.texts, idx.support_x, idx.query_x).double().mean().item()
    assert 0.10 < share < 0.15
    one = cl.episode_rows(corpus, "de", k_shot=1)
    assert repeated_queries(corpus.texts, one.support_x, one.query_x).double().mean().item() < share / 2


# --- exercise 12a ----------------------------------------------------------------------------
def near_duplicates(texts, language, text_en, test_sentences):
    tested = {(c, normalised(t)) for t, c, e in zip(texts, language, text_en) if e in test_sentences}
    return {e for t, c, e in zip(texts, language, text_en) if e not in test_sentences and (c, normalised(t)) in tested}


def fails(check, fn, *fragments):
    with pytest.raises(AssertionError) as err:
        check(fn)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_check_near_duplicates():
    checks.check_near_duplicates(near_duplicates)

    def exact(texts, language, text_en, test):
        tested = {(c, t) for t, c, e in zip(texts, language, text_en) if e in test}
        return {e for t, c, e in zip(texts, language, text_en) if e not in test and (c, t) in tested}

    def english_only(texts, language, text_en, test):
        return {e for e in near_duplicates(texts, language, text_en, test)
                if any(c == "en" and normalised(t) in {normalised(t2) for t2, c2, e2 in zip(texts, language, text_en)
                                                      if c2 == "en" and e2 in test}
                       for t, c, e2 in zip(texts, language, text_en) if e2 == e)}

    def with_test(texts, language, text_en, test):
        tested = {(c, normalised(t)) for t, c, e in zip(texts, language, text_en) if e in test}
        return {e for t, c, e in zip(texts, language, text_en) if (c, normalised(t)) in tested}

    def a_word_more(texts, language, text_en, test):       # a twin by prefix: one word more still counts
        tested = [(c, normalised(t)) for t, c, e in zip(texts, language, text_en) if e in test]
        return {e for t, c, e in zip(texts, language, text_en) if e not in test
                and any(c == c2 and normalised(t).startswith(t2) for c2, t2 in tested)}

    def any_language(texts, language, text_en, test):      # the words matched across languages
        tested = {normalised(t) for t, e in zip(texts, text_en) if e in test}
        return {e for t, e in zip(texts, text_en) if e not in test and normalised(t) in tested}

    def stripped(texts, language, text_en, test):          # punctuation and spaces stripped at the ends only
        same = lambda t: t.lower().strip(string.punctuation + " ")
        tested = {(c, same(t)) for t, c, e in zip(texts, language, text_en) if e in test}
        return {e for t, c, e in zip(texts, language, text_en) if e not in test and (c, same(t)) in tested}

    def deleted(texts, language, text_en, test):           # punctuation deleted, not made a space: "top-up" -> "topup"
        same = lambda t: " ".join(re.sub(r"[^\w\s]", "", t.lower()).split())
        tested = {(c, same(t)) for t, c, e in zip(texts, language, text_en) if e in test}
        return {e for t, c, e in zip(texts, language, text_en) if e not in test and (c, same(t)) in tested}

    fails(checks.check_near_duplicates, stripped, "strip() removes", "top-up")
    fails(checks.check_near_duplicates, deleted, "deleted the punctuation", "SPACE")
    fails(checks.check_near_duplicates, any_language, "across languages", "SAME language")
    fails(checks.check_near_duplicates, exact, "compare normalised(text)")
    fails(checks.check_near_duplicates, english_only, "compared the English texts only")
    fails(checks.check_near_duplicates, with_test, "meta-test sentences are in your set")
    fails(checks.check_near_duplicates, a_word_more, "too many", "SAME words")
    fails(checks.check_near_duplicates, lambda *a: sorted(near_duplicates(*a)), "return a set")
    fails(checks.check_near_duplicates, lambda *a: (_ for _ in ()).throw(NotImplementedError()), "not implemented yet")


# --- exercise 12b ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    from metanlp_lite.text import load_tokenizer
    return load_tokenizer()


def pieces_per_word(texts, tokenizer):
    words = [w for t in texts for w in t.split()]
    return sum(len(tokenizer.encode(w, add_special_tokens=False).ids) for w in words) / len(words)


def test_check_pieces_per_word(tokenizer):
    check = lambda fn: checks.check_pieces_per_word(fn, tokenizer)
    check(pieces_per_word)
    pieces = lambda tok, t: len(tok.encode(t, add_special_tokens=False).ids)

    def with_specials(texts, tok):
        return sum(len(tok.encode(t).ids) for t in texts) / sum(len(t.split()) for t in texts)

    def tokenizer_words(texts, tok):
        return (sum(pieces(tok, t) for t in texts)
                / sum(len(tok.pre_tokenizer.pre_tokenize_str(t)) for t in texts))

    def per_text(texts, tok):
        return sum(pieces(tok, t) / len(t.split()) for t in texts) / len(texts)

    def split_space(texts, tok):
        return sum(pieces(tok, t) for t in texts) / sum(len(t.split(" ")) for t in texts)

    fails(check, with_specials, "[CLS] and [SEP]")
    fails(check, tokenizer_words, "what whitespace separates")
    fails(check, per_text, "pool the texts")
    fails(check, split_space, "split() (no argument)")
    fails(check, lambda texts, tok: [pieces_per_word(texts, tok)], "one number")
    check(lambda texts, tok: torch.tensor(pieces_per_word(texts, tok)))   # a 0-d tensor is a number
