"""A drifting user (metanlp_lite.drift, notebook 07): the leak guard, the two phases, the accuracy
matrix, on a small made-up parallel corpus (no encoder, no dataset); and the stored results."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metanlp_lite import continual as cl
from metanlp_lite import drift


def corpus(n_classes: int = 4, per_class: int = 14, dim: int = 32, seed: int = 0) -> drift.DriftData:
    """English sentences around one centre per intent, and their translations in "xx" (the same
    vector moved along one fixed direction, plus noise). English repeats one sentence word for word
    and one up to case and punctuation; each repeat has its own translation."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_classes, dim, generator=g), dim=-1)
    shift = F.normalize(torch.randn(dim, generator=g), dim=0)
    rows = [(f"intent {c} sentence {k}", c) for c in range(n_classes) for k in range(per_class)]
    rows += [("intent 0 sentence 0", 0), ("Intent 0, sentence 1!", 0)]        # the repeats
    vec = {e: F.normalize(centres[c] + 0.8 * torch.randn(dim, generator=g) / dim ** 0.5, dim=0) for e, c in rows}
    vec["Intent 0, sentence 1!"] = F.normalize(vec["intent 0 sentence 1"] + 0.8 * torch.randn(dim, generator=g) / dim ** 0.5, dim=0)
    texts, labels, language, text_en, features = [], [], [], [], []
    for lang in ("en", "xx"):
        for i, (e, c) in enumerate(rows):
            texts.append(e if lang == "en" else f"xx {i} {e}")
            labels.append(c), language.append(lang), text_en.append(e)
            features.append(vec[e] if lang == "en" else F.normalize(vec[e] + 1.5 * shift
                                                                     + 0.3 * torch.randn(dim, generator=g) / dim ** 0.5, dim=0))
    names = F.normalize(centres + 0.3 * torch.randn(n_classes, dim, generator=g), dim=-1)
    return drift.drift_data(texts, labels, language, text_en, torch.stack(features), names,
                            [f"intent {c}" for c in range(n_classes)])


DATA = corpus()
C, Q = 4, 6


class FirstVisitOnly(cl.RunningPrototypes):
    """Nearest class mean that ignores every example of an intent it already knows (phase 2)."""

    def learn(self, z, label):
        if label not in self.column:
            super().learn(z, label)


def test_parallel_ids_merge_repeats_and_near_duplicates():
    v = F.normalize(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0.1, 1]]), dim=-1)
    texts = ["Show all alarms", "show all alarms!", "Wake me up", "wake me up at 7"]
    assert drift.parallel_ids(texts, v) == [0, 0, 1, 1]          # same words; a cosine of 0.995
    assert drift.parallel_ids(texts, v, cut=0.999) == [0, 0, 1, 2]
    # on the corpus: a repeat and a case-and-punctuation variant share their original's id, in both languages
    en = [i for i, lang in enumerate(DATA.language) if lang == "en"]
    key = {DATA.texts[i]: int(DATA.key[i]) for i in en}
    assert DATA.key[en[-2]] == key["intent 0 sentence 0"] and DATA.key[en[-1]] == key["intent 0 sentence 1"]
    assert DATA.table.shape == (2, C * 14) and (DATA.key_label == torch.arange(C).repeat_interleave(14)).all()


def test_no_query_is_a_support_sentence_or_its_translation_in_any_language():
    for seed in range(20):
        s = drift.make_drift_stream(DATA, "xx", n_query=Q, seed=seed)
        assert len(drift.leaked_queries(s, DATA.key)) == 0
        support, queries = set(DATA.key[s.support.flatten()].tolist()), set(DATA.key[s.queries.flatten()].tolist())
        assert not support & queries and len(support) == 2 * C        # two distinct sentences per intent
        # the guard catches a query that translates a support sentence, and a repeat of one
        planted = s.queries.clone()
        planted[1, 0, 0] = DATA.table[1, DATA.key[s.support[0, 0]]]              # the xx translation of an English support
        assert drift.leaked_queries(s._replace(queries=planted), DATA.key).tolist() == [int(planted[1, 0, 0])]
    repeat = DATA.texts.index("intent 0 sentence 0", 1)          # English says it twice, word for word
    s = drift.make_drift_stream(DATA, "xx", n_query=Q, seed=0)
    j0 = int(torch.nonzero(s.classes == 0))
    support, queries = s.support.clone(), s.queries.clone()
    support[0, j0], queries[0, j0, 0] = DATA.texts.index("intent 0 sentence 0"), repeat
    assert repeat in drift.leaked_queries(s._replace(support=support, queries=queries), DATA.key).tolist()


def test_two_phases_english_then_the_same_intents_in_the_new_language():
    s = drift.make_drift_stream(DATA, "xx", n_query=Q, seed=3)
    events = s.events()
    assert len(events) == 2 * C and s.queries.shape == (2, C, Q)
    phase1, phase2 = events[:C], events[C:]
    assert [c for _, c in phase1] == s.classes.tolist() and sorted(c for _, c in phase2) == sorted(s.classes.tolist())
    assert [c for _, c in phase2] == s.classes[s.revisit].tolist()
    assert all(DATA.language[r] == "en" for r, _ in phase1) and all(DATA.language[r] == "xx" for r, _ in phase2)
    assert all(int(DATA.labels[r]) == c for r, c in events)
    for q, lang in enumerate(("en", "xx")):          # queries: each intent's own, in each language, the same sentences
        assert all(DATA.language[r] == lang for r in s.queries[q].flatten().tolist())
        assert (DATA.labels[s.queries[q]] == s.classes.unsqueeze(1)).all()
    assert torch.equal(DATA.key[s.queries[0]], DATA.key[s.queries[1]])
    control = drift.make_drift_stream(DATA, "en", n_query=Q, seed=3)    # no drift: phase 1 the same stream
    assert torch.equal(control.support[0], s.support[0]) and torch.equal(control.queries[0], s.queries[0])
    assert torch.equal(control.queries[1], control.queries[0]) and DATA.language[int(control.support[1, 0])] == "en"
    assert torch.equal(DATA.key[control.support[1]], DATA.key[s.support[1]])     # the same sentence, in English
    assert not torch.equal(drift.make_drift_stream(DATA, "xx", n_query=Q, seed=4).classes, s.classes)
    with pytest.raises(ValueError, match="needs 16"):
        drift.make_drift_stream(DATA, "xx", range(C), n_query=14)
    with pytest.raises(ValueError, match="no intent"):
        drift.make_drift_stream(DATA, "xx", n_query=14)
    assert drift.drift_classes(DATA, 12) == list(range(C)) and drift.drift_classes(DATA, 13) == []   # the repeats are one sentence


def test_accuracy_matrix_shape_and_what_is_not_yet_arrived():
    s = drift.make_drift_stream(DATA, "xx", n_query=Q, seed=1)
    for learner in (cl.RunningPrototypes(dim=32), cl.OnlineHead(dim=32, **drift.SETTINGS["fine-tuning + replay"])):
        acc = drift.run_drift(learner, DATA.features, s, DATA.names)
        assert acc.shape == (2, 2 * C, C)
        t, j = torch.meshgrid(torch.arange(2 * C), torch.arange(C), indexing="ij")
        assert torch.equal(acc.isnan(), (j > t).expand(2, -1, -1))      # phase 1: an intent not yet arrived
        done = acc[~acc.isnan()]
        assert ((done >= 0) & (done <= 100)).all() and torch.allclose(done * Q / 100, (done * Q / 100).round(), atol=1e-4)
    assert acc[0, 0, 0] == 100        # one intent seen: every English query goes to it


def test_a_learner_that_ignores_phase_2_scores_the_same_before_and_after_it():
    gains = []
    for seed in range(5):
        s = drift.make_drift_stream(DATA, "xx", n_query=Q, seed=seed)
        frozen = drift.run_drift(FirstVisitOnly(dim=32), DATA.features, s)
        assert torch.equal(frozen[:, C:], frozen[:, C - 1:C].expand(-1, C, -1))     # English and xx, every arrival
        learns = drift.run_drift(cl.RunningPrototypes(dim=32), DATA.features, s)
        assert torch.equal(learns[:, :C].nan_to_num(-1), frozen[:, :C].nan_to_num(-1))   # phase 1: the same learner
        gains.append(learns[1, -1].mean() - frozen[1, -1].mean())
    # the one that learns phase 2 gains in xx (the made-up translations are shifted): the test can tell them apart
    assert torch.stack(gains).mean() > 5


def test_tables_on_made_up_runs_and_the_stored_results(capsys):
    make = {"nearest class mean": lambda: cl.RunningPrototypes(dim=32),
            "Proto-MAML init": lambda: cl.OnlineHead(dim=32, **drift.SETTINGS["Proto-MAML init"])}
    runs = {lang: {name: torch.stack([drift.run_drift(m(), DATA.features, drift.make_drift_stream(DATA, lang, n_query=Q, seed=i))
                                      for i in range(3)]) for name, m in make.items()} for lang in ("en", "xx")}
    table = drift.drift_table(runs["xx"], "xx")
    assert "xx before 2" in table and len(table.splitlines()) == 3
    assert "xx" in drift.drift_cost_table(runs).splitlines()[0]
    stored = drift.load_drift_results()
    cfg, acc = stored["config"], stored["acc"]
    assert list(acc) == ["en", *drift.LANGUAGES] and cfg["learners"] == list(drift.LEARNERS) and cfg["streams"] >= 20
    n = cfg["n_classes"]
    for lang in acc:
        for name in drift.LEARNERS:
            a = acc[lang][name]
            assert a.shape == (cfg["streams"], 2, 2 * n, n)
            assert torch.equal(a[:, 0, :n].nan_to_num(-1), acc["en"][name][:, 0, :n].nan_to_num(-1))  # phase 1 shared
    drift.show_drift(stored)
    out = capsys.readouterr().out
    assert "L = de-st (South Tyrolean)" in out and "control: phase 2 in English" in out


def test_the_loader_says_how_to_make_missing_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/continual_drift.py"):
        drift.load_drift_results(tmp_path / "none.pt")
