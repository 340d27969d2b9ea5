"""Bad settings raise a one-line ValueError at the call, saying what is wrong and how to fix it,
before anything is drawn or changed (instead of all-NaN results, a failed reshape or stack, a
division by zero, or a silent fallback deep inside)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from metanlp_lite import continual as cl
from metanlp_lite import crosslingual as xl
from metanlp_lite.fewshot.training import train_method
from metanlp_lite.oml import (RepresentationNet, meta_train_oml, oml_meta_loss, train_adapter_protonet,
                              train_adapter_supervised)
from metanlp_lite.reproducible import train_keeping_best

TRAINERS = [meta_train_oml, train_adapter_supervised, train_adapter_protonet]
NO_SHOT_OR_QUERY = [({"k_shot": 0}, r"k_shot must be at least 1 .*got 0"), ({"n_query": 0}, r"n_query must be at least 1 .*got 0")]


def toy(per_class: int = 10, n_classes: int = 12, dim: int = 8, short: dict[int, int] | None = None):
    """(features (P, dim), labels (P,)): ``per_class`` rows of each class, or ``short[c]`` for class c."""
    counts = [(short or {}).get(c, per_class) for c in range(n_classes)]
    labels = torch.repeat_interleave(torch.arange(n_classes), torch.tensor(counts))
    x = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(0))
    return x, labels


def stream_data(**kw) -> cl.StreamData:
    x, labels = toy(**kw)
    n = int(labels.max()) + 1
    return cl.StreamData(x, labels, torch.randn(n, x.shape[1]), [f"intent {c}" for c in range(n)],
                         [""] * len(labels), {"train": list(range(6)), "val": list(range(6, 9)), "test": list(range(9, n))})


def train(trainer, labels=None, rln=None, **kw):
    x, toy_labels = toy()
    rln = RepresentationNet(dim=8, hidden=4) if rln is None else rln
    options = dict(steps=2, eval_every=1, val_streams=1, n_query=3, show_progress=False)
    if trainer is not train_adapter_supervised:
        options.update(n_classes=4, meta_batch=2)
    trainer(rln, x, toy_labels if labels is None else labels, range(6), range(6, 9), **{**options, **kw})
    return rln


# --- continual.make_stream --------------------------------------------------------------------
def test_make_stream_with_k_shot_0_says_an_intent_needs_an_example():
    _, labels = toy()
    with pytest.raises(ValueError, match=r"k_shot must be at least 1 \(each intent needs an example.*got 0: set k_shot to 1"):
        cl.make_stream(labels, range(4), k_shot=0)


def test_make_stream_with_n_query_0_says_an_intent_needs_a_query():
    _, labels = toy()
    with pytest.raises(ValueError, match=r"n_query must be at least 1 \(each intent needs a query.*got 0: set n_query to 1"):
        cl.make_stream(labels, range(4), n_query=0)


def test_make_stream_names_the_intent_with_too_few_examples_and_the_fix():
    _, labels = toy(short={2: 4, 3: 6})
    with pytest.raises(ValueError, match=r"^intent 2 has only 4 examples, but k_shot \+ n_query = 1 \+ 5 = 6 are needed "
                                         r"\(1 intent\(s\) too small\): lower k_shot or n_query \(to at most 4 together\)"):
        cl.make_stream(labels, range(4), k_shot=1, n_query=5)
    with pytest.raises(ValueError, match=r"intent 7 has only 0 examples.*: leave such intents out"):
        cl.make_stream(toy(short={7: 0})[1], [0, 7], n_query=5)


def test_make_stream_takes_an_intent_with_exactly_k_shot_plus_n_query_examples():
    _, labels = toy(short={2: 6})
    s = cl.make_stream(labels, range(4), k_shot=1, n_query=5)
    assert s.support.shape == (4, 1) and s.queries.shape == (4, 5)
    row = s.classes.tolist().index(2)
    assert sorted(s.support[row].tolist() + s.queries[row].tolist()) == torch.nonzero(labels == 2).flatten().tolist()


# --- continual.choose_on_val and run_streams ---------------------------------------------------
def test_choose_on_val_with_no_stream_says_so():
    with pytest.raises(ValueError, match=r"n_streams must be at least 1 .*got 0: set it to 1 or more"):
        cl.choose_on_val(lambda **h: cl.RunningPrototypes(8), stream_data(), {}, n_streams=0)


def test_choose_on_val_with_an_empty_list_in_the_grid_names_it():
    with pytest.raises(ValueError, match=r"grid\['lr'\] is empty: give at least one value to try, or leave 'lr' out"):
        cl.choose_on_val(lambda **h: cl.OnlineHead(8, **h), stream_data(), {"steps": (1,), "lr": []})


@pytest.mark.parametrize("bad, match", NO_SHOT_OR_QUERY + [({"n_query": 10}, r"intent \d+ has only 10 examples, but k_shot "
                                                                            r"\+ n_query = 1 \+ 10 = 11")])
def test_choose_on_val_checks_its_streams_shape(bad, match):
    with pytest.raises(ValueError, match=match):
        cl.choose_on_val(lambda **h: cl.RunningPrototypes(8), stream_data(), {}, **bad)


def test_run_streams_without_streams_says_so():
    with pytest.raises(ValueError, match=r"run_streams got no streams: pass at least one"):
        cl.run_streams(lambda: cl.RunningPrototypes(8), stream_data(), [])


# --- oml --------------------------------------------------------------------------------------
@pytest.mark.parametrize("trainer", [meta_train_oml, train_adapter_protonet])
def test_oml_trainers_name_the_meta_train_intent_too_small_for_their_draws_before_any_draw(trainer):
    _, labels = toy(short={3: 2})
    with pytest.raises(ValueError, match=r"^meta-train intent 3 has only 2 examples, but k_shot \+ n_query = 1 \+ 3 = 4 "
                                         r"are needed .*lower k_shot or n_query \(to at most 2 together\)"):
        train(trainer, labels, rln := RepresentationNet(dim=8, hidden=4))
    assert rln.outer.weight.dtype == torch.float32          # nothing was changed (the trainers turn it float64)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_oml_trainers_name_a_meta_val_intent_too_small_for_the_streams(trainer):
    _, labels = toy(short={7: 3})
    with pytest.raises(ValueError, match=r"^meta-val intent 7 has only 3 examples, but k_shot \+ n_query = 1 \+ 3 = 4"):
        train(trainer, labels)


def test_the_supervised_adapter_does_not_need_episodes_of_the_meta_train_intents():
    _, labels = toy(short={3: 2})
    log_rln = train(train_adapter_supervised, labels)                 # no episode is drawn from meta-train
    assert log_rln.outer.weight.dtype == torch.float64


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("bad, match", NO_SHOT_OR_QUERY)
def test_oml_trainers_check_k_shot_and_n_query(trainer, bad, match):
    with pytest.raises(ValueError, match=match):
        train(trainer, **bad)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_oml_trainers_with_eval_every_0_say_it_must_be_positive(trainer):
    with pytest.raises(ValueError, match=r"eval_every must be a positive number of steps .*got 0: set it to 1 or more"):
        train(trainer, eval_every=0)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_oml_trainers_with_an_unknown_init_list_the_valid_ones(trainer):
    with pytest.raises(ValueError, match=r"init must be 'prototype' .* or 'zero' .*got 'proto'"):
        train(trainer, init="proto")


def test_oml_meta_loss_with_an_unknown_init_lists_the_valid_ones_instead_of_starting_at_zero():
    x, _ = toy()
    rln = RepresentationNet(dim=8, hidden=4).double()
    support, queries = x.double()[:6].reshape(1, 3, 2, 8), x.double()[6:12].reshape(1, 3, 2, 8)
    assert oml_meta_loss(rln, support, queries, init="zero") != oml_meta_loss(rln, support, queries, init="prototype")
    with pytest.raises(ValueError, match=r"init must be 'prototype' .* or 'zero' .*got 'proto'"):
        oml_meta_loss(rln, support, queries, init="proto")


# --- eval_every elsewhere -----------------------------------------------------------------------
def test_train_keeping_best_with_eval_every_0_says_it_must_be_positive_before_scoring():
    model = torch.nn.Linear(2, 1)
    scored = []
    with pytest.raises(ValueError, match=r"eval_every must be a positive number of steps .*got 0"):
        train_keeping_best(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda: model.weight.sum(),
                           lambda: scored.append(1) or 0.0, steps=3, eval_every=0, show_progress=False)
    assert not scored


def test_fewshot_train_method_with_eval_every_0_says_it_must_be_positive():
    # the check comes first: nothing of the (here absent) method or pools is read
    with pytest.raises(ValueError, match=r"eval_every must be a positive number of steps .*got 0"):
        train_method(None, None, None, eval_every=0)


# --- crosslingual (the checks come before the corpus is read: a stand-in with one language will do) ---------------------
CORPUS = SimpleNamespace(language=["gsw"], text_en=[], split=[])


def test_crosslingual_meta_train_with_eval_every_0_says_it_must_be_positive():
    with pytest.raises(ValueError, match=r"eval_every must be a positive number of steps .*got 0"):
        xl.meta_train(None, CORPUS, None, None, eval_every=0)


def test_crosslingual_meta_train_with_val_episodes_0_says_so():
    with pytest.raises(ValueError, match=r"val_episodes must be at least 1 .*got 0: set it to 1 or more"):
        xl.meta_train(None, CORPUS, None, None, val_episodes=0)


def test_evaluate_language_with_0_episodes_says_so():
    with pytest.raises(ValueError, match=r"episodes must be at least 1 .*got 0: set episodes to 1 or more"):
        xl.evaluate_language(None, CORPUS, "gsw", episodes=0, sentences=set())
