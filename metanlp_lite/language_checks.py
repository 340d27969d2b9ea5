"""The checks of notebook 06's exercises 12a and 12b: near-duplicates in parallel data, and a tokenizer's word
pieces per word.

Like those of :mod:`metanlp_lite.checks`, which re-exports them (a notebook calls
``checks.check_near_duplicates``): each takes the student's function, runs it on inputs built to
catch the usual mistakes, and says which one it met (:class:`~metanlp_lite.feedback.Feedback`).
"""
from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .feedback import Feedback as _Feedback
from .leakage import normalised

__all__ = ["check_near_duplicates", "check_pieces_per_word"]


def check_near_duplicates(near_duplicates: Callable[..., Any], seed: int = 0) -> None:
    """Exercise 12a (notebook 06): the near-duplicates of meta-test sentences that the split drops.

    ``near_duplicates(texts, language, text_en, test_sentences)``: texts, language and text_en (P
    values each: a row's utterance, language code and English original), test_sentences a set of
    English texts -> the set of English texts, not in test_sentences, that have in some language a
    translation with the same words as a meta-test sentence's translation in that language, up to
    case and punctuation (:func:`metanlp_lite.leakage.normalised`), as
    :func:`metanlp_lite.multilingual.word_twins`. Each random corpus hides twins that differ only in
    case or punctuation, twins in one language only, a meta-test sentence that is in the test set
    twice, a sentence that shares all but one word with a meta-test sentence (no twin), and a sentence
    whose Arabic row has the words of a meta-test sentence's German one (no twin: the rule compares
    within one language).
    """
    from .multilingual import word_twins       # here, not above: the notebooks that import checks need no corpus

    fb = _Feedback("check_near_duplicates")
    g = torch.Generator().manual_seed(seed)
    codes = ["en", "de", "ar", "da"]
    vocab = {c: [f"{c}{w}" for w in ("alarm", "rain", "song", "remind", "film", "book", "cold", "wake", "play", "cancel")]
             for c in codes}
    for trial in range(4):
        keys = [f"Sentence {i}" for i in range(14)]
        pick = lambda n: torch.randperm(len(keys), generator=g)[:n].tolist()
        test = {keys[i] for i in pick(4 + trial)}
        rest = [e for e in keys if e not in test]
        text = {}
        for i, e in enumerate(keys):
            for c in codes:
                if c == "da" and i % 5 == 4:                        # a language without some sentences (as Japanese)
                    continue
                words = [vocab[c][j] for j in torch.randint(0, 10, (3,), generator=g).tolist()]
                text[e, c] = " ".join(words) + f" {c}{i}"
        t1, t2, t3, t4 = sorted(test)[:4]
        r1, r2, r3, r4, r5, r6, r7 = rest[:7]
        text[r1, "en"] = text[t1, "en"].upper() + "?"               # case and punctuation, in English
        text[r2, "ar"] = text[t2, "ar"] + "."                       # punctuation, in Arabic only
        text[r3, "de"] = text[t3, "de"].replace(" ", "  ", 1)       # the same words, one double space, in German only
        text[t2, "en"] = text[t2, "en"].replace(" ", "-", 1)        # inner punctuation: "top-up" in the test sentence,
        text[r7, "en"] = text[t2, "en"].replace("-", " ")           # "top up" in the other: twins
        text[r4, "en"] = text[t4, "en"] + " please"                 # one word more: no twin
        text[r5, "de"] = text[t1, "de"] if trial % 2 else text[r5, "de"]   # a twin of t1 in another language too
        text[r6, "ar"] = text[t3, "de"]                             # a test sentence's German words in Arabic: no twin
        text[t4, "da"] = text[t1, "da"] = text.get((t1, "da"), "da x")     # two meta-test sentences alike: no twin
        rows = list(text)
        order = torch.randperm(len(rows), generator=g).tolist()
        texts = [text[rows[i]] for i in order]
        language, text_en = [rows[i][1] for i in order], [rows[i][0] for i in order]
        expected = word_twins(texts, language, text_en, test)
        inputs = f"{len(texts)} rows in {len(codes)} languages, {len(test)} meta-test sentences (trial {trial})"
        got = fb.call(near_duplicates, list(texts), list(language), list(text_en), set(test))
        if not isinstance(got, (set, frozenset)) or not all(isinstance(e, str) for e in got):
            fb.fail("your function should return a set of English texts", inputs, expected, got,
                    "collect the rows' text_en in a set, e.g. {e for ...}")
        if got == expected:
            continue
        def variant(same, languages):
            tested = {(c, same(t)) for t, c, e in zip(texts, language, text_en) if e in test and c in languages}
            return {e for t, c, e in zip(texts, language, text_en) if e not in test and c in languages and (c, same(t)) in tested}
        def variant_any_language():
            tested = {normalised(t) for t, e in zip(texts, text_en) if e in test}
            return {e for t, e in zip(texts, text_en) if e not in test and normalised(t) in tested}
        if got & test:
            hint = ("meta-test sentences are in your set: return only the OTHER sentences, those that the split drops "
                    "from meta-train and meta-val (two meta-test sentences alike are no leak)")
        elif got == variant(lambda t: t, codes):
            hint = ("you compared the texts as they are: compare normalised(text), so that case and punctuation do not "
                    "count ('IS IT COLD?' and 'is it cold')")
        elif got == variant(lambda t: t.lower().strip(string.punctuation + " "), codes):
            hint = ("strip() removes punctuation and spaces at the ends only: 'top-up' inside a sentence stays and two "
                    "spaces stay two; replace every punctuation mark by a space and rejoin the words (normalised(text))")
        elif got == variant(lambda t: " ".join(re.sub(r"[^\w\s]", "", t.lower()).split()), codes):
            hint = ("you deleted the punctuation: 'top-up' becomes 'topup', not 'top up'; replace each mark by a SPACE, "
                    "then rejoin the words (normalised(text))")
        elif got == variant(lambda t: re.sub(r"[^\w\s]", " ", t.lower()).strip(), codes):
            hint = ("punctuation as spaces, but the spaces not rejoined: 'a  b' (two spaces) is 'a b'; split the text into "
                    "words and join them with one space (normalised(text))")
        elif got == variant(normalised, ["en"]):
            hint = ("you compared the English texts only: a translator can say two English sentences alike, so compare "
                    "the translations in every language (each with the meta-test sentences' translations in that language)")
        elif got == variant_any_language():
            hint = ("you matched the words across languages: the rule compares each translation with the meta-test "
                    "sentences' translations in the SAME language (a German test sentence's words in an Arabic row are "
                    "not that sentence's Arabic translation); compare (language, normalised text) pairs")
        elif got > expected:
            hint = "only a sentence with the SAME words as a meta-test sentence's, in the same language, is a twin"
        else:
            hint = ("a twin: in some language, normalised(its text) equals normalised(the text of a meta-test sentence) "
                    "in that language; compare (language, normalised text) pairs")
        fb.fail(f"wrong set: {len(got - expected)} sentences too many, {len(expected - got)} missing", inputs,
                sorted(expected), sorted(got), hint)
    fb.passed("Same words up to case and punctuation, in any one language: the twins an exact key lets through.")


def check_pieces_per_word(pieces_per_word: Callable[..., Any], tokenizer: Any = None, seed: int = 0) -> None:
    """Exercise 12b (notebook 06): the tokenizer's fertility, word pieces per word.

    ``pieces_per_word(texts, tokenizer)``: the number of word pieces the tokenizer cuts the texts'
    words into (no [CLS] or [SEP]; an [UNK] counts as one piece), divided by the number of words,
    a word being what whitespace separates (``text.split()``), pooled over all the texts, as
    :func:`metanlp_lite.crosslingual.tokenizer_stats`'s ``pieces_per_word``. ``tokenizer``: a
    ``tokenizers.Tokenizer`` (default: MiniLM's, :func:`metanlp_lite.text.load_tokenizer`).
    """
    from .crosslingual import tokenizer_stats

    if tokenizer is None:
        from .text import load_tokenizer
        tokenizer = load_tokenizer()
    fb = _Feedback("check_pieces_per_word")
    g = torch.Generator().manual_seed(seed)
    cases = (["set an alarm for seven", "wake me up"],
             ["Set an alarm, please!", "Is it going to rain tomorrow?"],
             ["remind me", "lösche meine Erinnerung an den Termin morgen früh um halb acht"],
             ["Менің еске салғышымды алып таста", "取消我的提醒"],
             ["set  alarm", "play\tmusic now "])
    for texts in cases:
        texts = [texts[i] for i in torch.randperm(len(texts), generator=g).tolist()]
        expected = tokenizer_stats(texts, tokenizer)["pieces_per_word"]
        inputs = f"texts {texts}"
        got = fb.call(pieces_per_word, list(texts), tokenizer)
        if isinstance(got, Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            fb.fail("your function should return one number", inputs, expected, got, "return pieces / words, a float")
        close = lambda a, b: abs(a - b) < 1e-6 * max(1.0, abs(b))       # float32 answers pass too
        if close(got, expected):
            continue
        pieces = [len(tokenizer.encode(w, add_special_tokens=False).ids) for t in texts for w in t.split()]
        words = sum(len(t.split()) for t in texts)
        pre = sum(len(tokenizer.pre_tokenizer.pre_tokenize_str(t)) for t in texts) if tokenizer.pre_tokenizer else -1
        per_text = [sum(len(tokenizer.encode(w, add_special_tokens=False).ids) for w in t.split()) / len(t.split())
                    for t in texts]
        if close(got, (sum(pieces) + 2 * len(texts)) / words):
            hint = "[CLS] and [SEP] are no pieces of a word: encode with add_special_tokens=False, or leave them out"
        elif close(got, sum(pieces) / pre):
            hint = ("a word is what whitespace separates, text.split(): the tokenizer also splits off punctuation, but "
                    "'alarm,' is one word cut into two pieces")
        elif close(got, sum(per_text) / len(per_text)):
            hint = "pool the texts: all their pieces over all their words, not the mean of each text's ratio"
        elif close(got, sum(pieces) / sum(len(t.split(" ")) for t in texts)):
            hint = "split on any whitespace with text.split() (no argument): split(' ') makes empty 'words' of double spaces"
        else:
            hint = "count len(tokenizer.encode(word, add_special_tokens=False).ids) for every word of every text"
        fb.fail("wrong pieces per word", inputs, expected, got, hint)
    fb.passed("Word pieces over whitespace-separated words, pooled, without [CLS] and [SEP]: the tokenizer's fertility.")
