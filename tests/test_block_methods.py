"""Meta-learning inside a Transformer layer (encoder ``minilm-block``): token states as features,
the layer as a body, low-rank fast weights, the methods that reach into the block, the
five-split protocol of the command line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from metanlp_lite import transformer as tr
from metanlp_lite.episodes import TaskBatch
from metanlp_lite.fewshot import cli
from metanlp_lite.fewshot.bodies import TransformerBody, length_chunks
from metanlp_lite.fewshot.features import LazyBatch, add_label_names, make_pools, sample_batch
from metanlp_lite.fewshot.maml_family import LoRAMAML
from metanlp_lite.fewshot.methods import build_method
from metanlp_lite.fewshot.training import evaluate_batches, episode_batches, predict_all
from metanlp_lite.stats import mean_ci95, mean_ci95_over_seeds, mean_ci95_t, paired_over_seeds

TEXTS = ["I still have not received my new card", "how do I top up by bank transfer",
         "why was I charged a fee for cash withdrawal", "my card payment was declined",
         "can I change my PIN at an ATM", "the exchange rate seems wrong"]


@pytest.fixture(scope="module")
def states(encoder):
    hidden, mask = tr.bottom_states(TEXTS, encoder, 1)
    return hidden, mask, tr.TokenStates.from_padded(hidden, mask)


# ---- token states without padding ----

def test_token_states_index_like_a_feature_table(states):
    hidden, mask, ts = states
    assert len(ts) == 6 and ts.shape == (6, 385) and ts.states.dtype == torch.float16
    assert ts.states.shape[0] == int(mask.sum())                      # no padding stored
    x = ts[torch.tensor([[0, 3], [5, 5]])]
    T = int(mask[[0, 3, 5]].sum(1).max())
    assert x.shape == (2, 2, T, 385) and x.dtype == torch.float32
    h, m = tr.unpack(x)
    assert torch.equal(m[0, 0], (torch.arange(T) < mask[0].sum()).float())   # channel 384 is the mask
    assert torch.equal(h[0, 0][m[0, 0] == 0], torch.zeros_like(h[0, 0][m[0, 0] == 0]))  # zeros at padding
    n0 = int(mask[0].sum())
    assert torch.equal(h[0, 0, :n0], hidden[0, :n0].half().float())
    again_h, again_m = ts.padded()
    assert torch.equal(again_m, mask) and torch.equal(again_h, hidden.half().float() * mask[..., None])


def test_token_state_cache_is_ragged_and_refuses_another_model(encoder, tmp_path, monkeypatch):
    path = tmp_path / "states.npz"
    ts = tr.token_states(TEXTS, encoder, 1, path=path)
    import numpy as np
    with np.load(path) as f:
        assert f["states"].dtype == np.float16 and f["states"].shape == (int(ts.lengths.sum()), 384)
    assert torch.equal(tr.token_states(TEXTS, encoder, 1, path=path).states, ts.states)
    monkeypatch.setattr(tr, "model_tag", lambda encoder: "some-other-model-000000000000")
    with pytest.raises(ValueError, match="another model.*Delete it"):
        tr.token_states(TEXTS, encoder, 1, path=path)


# ---- the layer as a body ----

def test_transformer_body_starts_as_the_encoder(encoder, states):
    hidden, mask, ts = states
    body = TransformerBody(encoder)
    assert [n for n, _ in body.named_parameters()][0] == "layers.0.attention.self.query.weight"
    assert sum(p.numel() for p in body.parameters()) == 1_774_464          # one MiniLM layer
    reference = encoder.encode(TEXTS, normalize_embeddings=True, convert_to_tensor=True)
    with torch.no_grad():
        exact = body(tr.pack(hidden, mask))                         # float32 states
        stored = body(ts[torch.arange(6)])                          # float16 states
    assert (exact - reference).abs().max() < 1e-5
    assert (stored - reference).abs().max() < 1e-2
    w = body.layers[0].attention.self.query.weight
    g_plain = torch.autograd.grad(body(tr.pack(hidden, mask))[:, :8].sum(), w)[0]
    body.chunk, body.chunk_tokens = 2, 16   # sorted by length, chunks cut to their longest: the same values and gradients
    with torch.no_grad():
        assert (body(tr.pack(hidden, mask)) - exact).abs().max() < 1e-6
    g_chunked = torch.autograd.grad(body(tr.pack(hidden, mask))[:, :8].sum(), w)[0]
    torch.testing.assert_close(g_chunked, g_plain, rtol=1e-4, atol=1e-6)
    body.layers[0].output.dense.bias.data.add_(0.1)                 # a copy: the encoder is untouched
    assert not torch.equal(body.layers[0].output.dense.bias, encoder[0].auto_model.encoder.layer[5].output.dense.bias)


def test_length_chunks_cover_every_text_once_within_both_limits():
    lengths = torch.tensor([5, 98, 12, 7, 40, 3, 3, 60, 12, 30, 200])
    chunks = length_chunks(lengths, max_texts=3, max_tokens=100)
    assert sorted(torch.cat(chunks).tolist()) == list(range(len(lengths)))          # each text once
    flat = torch.cat(chunks)
    assert (lengths[flat][1:] >= lengths[flat][:-1]).all()                          # shortest first
    for c in chunks:
        assert len(c) <= 3
        assert len(c) == 1 or len(c) * int(lengths[c].max()) <= 100                 # a long text goes alone
    assert [lengths[c].tolist() for c in chunks][-3:] == [[60], [98], [200]]


def test_zero_initialised_low_rank_fast_weights_leave_the_block_unchanged(encoder, states):
    hidden, mask, _ = states
    body, x = TransformerBody(encoder), tr.pack(hidden, mask)
    lora = tr.lora_params(encoder, 1, 4, targets=("query", "value", "intermediate.dense"))
    assert set(lora) == {f"layer.5.{t}.lora_{m}" for t in ("attention.self.query", "attention.self.value",
                                                         "intermediate.dense") for m in "AB"}
    assert lora["layer.5.attention.self.query.lora_A"].shape == (4, 384)
    assert lora["layer.5.intermediate.dense.lora_B"].shape == (1536, 4)
    with torch.no_grad():
        plain = body(x)
        assert torch.equal(body(x, lora=lora), plain)              # B = 0: exactly the same
        moved = {k: (v + 0.05 if k.endswith("lora_B") else v) for k, v in lora.items()}
        assert (body(x, lora=moved) - plain).abs().max() > 1e-3    # and the factors do reach it
        # W + B A, written out by hand, is what the fast weights add
        params = tr.top_params(encoder, 1)
        w = "layer.5.attention.self.value.weight"
        by_hand = {**params, w: params[w] + moved["layer.5.attention.self.value.lora_B"]
                   @ moved["layer.5.attention.self.value.lora_A"]}
        only_value = {k: v for k, v in moved.items() if ".value." in k}
        torch.testing.assert_close(body(x, lora=only_value), tr.top_forward(by_hand, hidden, mask, n_layers=1, model=encoder))


def test_low_rank_fast_weights_refuse_bad_input(encoder):
    with pytest.raises(ValueError, match="whole number >= 1"):
        tr.lora_params(encoder, 1, 0)
    with pytest.raises(ValueError, match="unknown target 'keys'.*attention.self.key"):
        tr.lora_params(encoder, 1, 4, targets=("keys",))
    with pytest.raises(ValueError, match="more layers than the model has"):
        tr.lora_params(encoder, 9, 4)


# ---- the methods, on real BANKING77 episodes ----

@pytest.fixture(scope="module")
def pools(banking77):
    return make_pools(banking77, "minilm-block", "01", show_progress=False)


@pytest.fixture(scope="module")
def batch(pools):
    sampler = pools["train"].sampler(5, 1, 2, seed=0)
    return sample_batch(pools["train"].features, sampler, 2)[0]


def _body(m):
    """The TransformerBody inside a method (MAMLFamily keeps it as model[0])."""
    return m.body if hasattr(m, "body") else m.model[0]


@pytest.mark.parametrize("method", ["protonet", "maml", "fomaml", "anil", "protomaml", "lora"])
def test_every_method_trains_the_block(method, batch):
    torch.manual_seed(0)
    m = build_method(method, "minilm-block", 384, n_way=5, seed=0, inner_steps=1)
    assert m.eval_tasks == 10
    loss = m.loss(m.cast(batch))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    g = _body(m).layers[0].attention.self.query.weight.grad
    assert g is not None and g.abs().max() > 0, f"{method}: the meta-gradient does not reach the block"
    assert predict_all(m, batch).shape == batch.query_y.shape


def test_lora_inner_loop_adapts_only_factors_and_head(batch):
    m = build_method("lora", "minilm-block", 384, n_way=5, seed=0, rank=2)
    assert isinstance(m, LoRAMAML)
    fast = set(m.learner.params())
    assert fast == {"factors.layer/5/attention/self/query/lora_A", "factors.layer/5/attention/self/query/lora_B",
                    "factors.layer/5/attention/self/value/lora_A", "factors.layer/5/attention/self/value/lora_B",
                    "head.weight", "head.bias"}
    meta = {id(p) for p in m.meta_parameters()}
    assert id(m.body.layers[0].output.dense.weight) in meta and id(m.model.head.weight) not in meta
    B = "factors.layer/5/attention/self/query/lora_B"
    phi = m.learner.adapt_batch(batch.support_x, batch.support_y, 1)
    assert phi[B].shape == (2, 384, 2)
    assert torch.equal(phi[B], torch.zeros_like(phi[B]))     # step 1: the head is zero, so only it moves
    phi = m.learner.adapt_batch(batch.support_x, batch.support_y, 2)
    assert phi[B].abs().max() > 0                            # step 2: the factors move too
    out = functional_call(m.model, {k: v[0] for k, v in phi.items()}, (batch.query_x[0],))
    assert out.shape == (10, 5)


def _layer_moved(phi, m, task=0):
    """How far task ``task``'s inner loop moved the layer's query weight (0: not at all)."""
    w = _body(m).layers[0].attention.self.query.weight
    key = next(k for k in phi if k.endswith("layers.0.attention.self.query.weight"))
    return (phi[key][task] - w).abs().max().item()


def test_a_zero_head_stops_the_first_inner_step_at_the_head(batch):
    """MAML's head starts at zero, so the support loss's gradient reaching the layer,
    W_head^T (p - y), is exactly zero at the first inner step: one step adapts only the head.
    The registered two training steps adapt the layer; Proto-MAML's prototype head does from the first."""
    m = build_method("maml", "minilm-block", 384, n_way=5, seed=0, dtype=torch.float64)
    assert m.learner.inner_steps == 2
    b = m.cast(batch)
    assert _layer_moved(m.learner.adapt_batch(b.support_x, b.support_y, 1), m) == 0.0
    assert _layer_moved(m.learner.adapt_batch(b.support_x, b.support_y, 2), m) > 1e-6
    pm = build_method("protomaml", "minilm-block", 384, n_way=5, seed=0, dtype=torch.float64)
    assert _layer_moved(pm.adapt(pm.cast(batch), 1, first_order=True), pm) > 1e-6


@pytest.mark.parametrize("method", ["maml", "protomaml"])
def test_second_order_through_the_layer_differs_from_first_order(method, batch):
    """With the registered inner loops (two steps for MAML, a prototype head for Proto-MAML) the
    layer is adapted in the inner loop, so its meta-gradient has a second-order term: float64."""
    grads = {}
    for first_order in (False, True):
        extra = {"first_order": first_order} if method == "protomaml" else {}
        kind = method if method == "protomaml" or not first_order else "fomaml"
        m = build_method(kind, "minilm-block", 384, n_way=5, seed=0, dtype=torch.float64, **extra)
        m.loss(m.cast(batch)).backward()
        grads[first_order] = _body(m).layers[0].attention.self.query.weight.grad.clone()
    gap = ((grads[False] - grads[True]).norm() / grads[False].norm()).item()
    assert gap > 1e-3, f"{method}: second- and first-order meta-gradients of the layer should differ, gap {gap:.1e}"


def _second_order_part(batch, layer_rate: float) -> torch.Tensor:
    """Proto-MAML's second- minus first-order meta-gradient of the layer's query weight, float64,
    with the layer's inner step size set to ``layer_rate`` (0: the inner loop adapts the head only)."""
    out = {}
    for first_order in (False, True):
        m = build_method("protomaml", "minilm-block", 384, n_way=5, seed=0, dtype=torch.float64,
                         first_order=first_order)
        with torch.no_grad():
            m.log_lr[1] = math.log(layer_rate) if layer_rate > 0 else -math.inf
        m.loss(m.cast(batch)).backward()
        out[first_order] = _body(m).layers[0].attention.self.query.weight.grad.clone()
    return out[False] - out[True]


def test_second_order_through_the_layers_own_step(batch):
    """The head's step alone makes second- and first-order meta-gradients differ (the head's inner
    step depends on the layer's features), so that gap is no evidence of second order *through the
    layer*. This test measures the part of the second-order term that the layer's own inner step adds:
    the gap with the layer's registered step size minus the gap with the layer's step at 0. With the
    layer's step size at 0 on both sides this quantity is 0 by construction, so the test cannot pass
    unless the layer is adapted in the inner loop."""
    m = build_method("protomaml", "minilm-block", 384, n_way=5, seed=0, dtype=torch.float64)
    rate = m.log_lr.exp()[1].item()
    assert rate > 0
    at_rate, at_zero = _second_order_part(batch, rate), _second_order_part(batch, 0.0)
    assert at_zero.norm() > 0             # the head's step alone: a second-order term, not the layer's
    through_layer = ((at_rate - at_zero).norm() / at_rate.norm()).item()
    assert through_layer > 1e-3, f"the layer's own inner step adds no second-order term: {through_layer:.1e}"


def test_proto_maml_meta_learns_separate_step_sizes_for_head_and_layer(batch):
    m = build_method("protomaml", "minilm-block", 384, n_way=5, seed=0, dtype=torch.float64)
    head, layer = m.log_lr.exp().tolist()
    assert head == pytest.approx(0.1) and layer == pytest.approx(1.0)
    rates = m.step_sizes(["W", "b", "body.layers.0.output.dense.weight"])
    assert rates["W"] is rates["b"] and rates["body.layers.0.output.dense.weight"].item() == pytest.approx(1.0)
    m.loss(m.cast(batch)).backward()
    assert m.log_lr.grad is not None and (m.log_lr.grad != 0).all()     # both rates are meta-learned
    groups = m.optimizer_groups(3e-5, 0.0)
    assert [len(g["params"]) for g in groups][-1] == 1 and groups[-1]["params"][0] is m.log_lr
    assert sum(len(g["params"]) for g in groups) == len(m.meta_parameters())
    frozen = build_method("protomaml", "minilm", 384, n_way=5, seed=0)      # notebook 04's: one plain rate
    assert frozen.log_lr is None and frozen.step_sizes(["W"]) == 0.1


def test_ncm_on_token_states_is_ncm_on_the_embeddings(banking77, pools):
    from metanlp_lite.fewshot.features import make_pools as mp

    emb = mp(banking77, "minilm", "01", show_progress=False)
    a = evaluate_batches(build_method("ncm", "minilm", 384), episode_batches(emb["test"], episodes=20))
    lazy = episode_batches(pools["test"], episodes=20)
    assert all(isinstance(b, LazyBatch) for b in lazy)
    b = evaluate_batches(build_method("ncm", "minilm-block", 384), lazy)
    assert (a - b).abs().max() <= 100 / 75 + 1e-6     # float16 states may flip at most one query in a rare episode
    assert abs(a.mean() - b.mean()) < 0.2


def test_label_names_are_padded_onto_token_state_supports(pools):
    p = pools["test"]
    sampler = p.sampler(5, 1, 2, seed=0)
    idx, classes = sampler.sample_indices(2)
    batch = TaskBatch(p.features[idx.support_x], idx.support_y, p.features[idx.query_x], idx.query_y)
    with_names = add_label_names(batch, classes, p.names)
    assert with_names.support_x.shape[:2] == (2, 10)
    assert with_names.support_x.shape[2] == max(batch.support_x.shape[2], p.names[classes].shape[2])
    _, m = tr.unpack(with_names.support_x)
    assert torch.equal(m[:, 5:].sum(-1), p.names.lengths[classes].float())   # each name keeps its own tokens


def test_method_lora_needs_the_block_encoder():
    with pytest.raises(ValueError, match="--encoder minilm-block"):
        build_method("lora", "minilm", 384)


# ---- the five-split protocol ----

def test_mean_ci95_t_uses_student_t():
    mean, ci = mean_ci95_t([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0 and abs(ci - 2.7764451051977987 * (2.5 ** 0.5) / 5 ** 0.5) < 1e-9


def test_paired_over_seeds_adds_the_seeds_variation_to_the_episodes():
    g = torch.Generator().manual_seed(0)
    episodes = torch.randn(600, generator=g) * 10          # what every run shares: the episodes' difficulty
    b = (80 + episodes)[None]                              # one run (nothing to train)
    same = (81 + episodes + torch.randn(600, generator=g))[None].repeat(3, 1)   # three seeds, identical runs
    d, h = paired_over_seeds(same, b)
    assert d == pytest.approx(mean_ci95(same[0] - b[0])[0]) and h == pytest.approx(mean_ci95(same[0] - b[0])[1])
    spread = same + torch.tensor([[-1.0], [0.0], [1.0]])   # the seeds' means differ by 1 point
    d2, h2 = paired_over_seeds(spread, b)
    t2 = 4.302652729749464                                 # Student's t, 2 degrees of freedom: 3 seeds
    assert d2 == pytest.approx(d) and h2 == pytest.approx((h ** 2 + t2 ** 2 * 1.0 / 3) ** 0.5)
    assert paired_over_seeds(spread, b, t_seeds=1.96)[1] == pytest.approx((h ** 2 + 1.96 ** 2 / 3) ** 0.5)
    with pytest.raises(ValueError, match="same episodes"):
        paired_over_seeds(spread, b[:, :100])


def test_split_all_reports_each_split_and_the_mean_over_them(capsys):
    assert cli.main(["--data", "banking77", "--split", "all", "--method", "ncm", "--episodes", "20", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["per_split"]) == ["01", "02", "03", "04", "05"] and out["settings"]["split"] == "all"
    means = [out["per_split"][s]["mean"] for s in cli.SPLITS]
    assert len(set(means)) > 1                      # five different class splits
    mean, ci = mean_ci95_t(means)
    assert out["mean"] == round(mean, 2) and out["ci95"] == round(ci, 2)


def test_lora_flags_are_checked(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--data", "banking77", "--method", "protonet", "--lora-rank", "4"])
    assert "are for --method lora" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--data", "banking77", "--method", "lora", "--encoder", "minilm", "--steps", "0"])
    assert "--encoder minilm-block" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["ncm", "protonet", "anil"])
def test_a_fixed_body_runs_once_per_utterance_with_the_same_scores(method, pools):
    from metanlp_lite.fewshot.training import frozen_batches

    m = build_method(method, "minilm-block", 384, n_way=5, seed=0, centre=torch.zeros(384))
    if method != "ncm":
        with torch.no_grad():     # a trained layer, not the encoder's own
            _body(m).layers[0].output.dense.bias.add_(0.05 * torch.randn(384, generator=torch.Generator().manual_seed(1)))
    lazy = episode_batches(pools["test"], episodes=10, label_names=True)
    view, fast = frozen_batches(m, lazy)
    assert isinstance(view.body, torch.nn.Identity) and isinstance(_body(m), TransformerBody)   # m itself untouched
    assert fast[0].features.shape == (len(pools["test"].features), 384)
    slow = torch.cat([(predict_all(m, b) == b.query_y).float().mean(-1) for b in lazy])
    quick = torch.cat([(predict_all(view, b) == b.query_y).float().mean(-1) for b in fast])
    assert (slow - quick).abs().max() <= 1 / 75 + 1e-6     # float rounding may flip one query, no more
    assert torch.equal(evaluate_batches(m, lazy), quick * 100)


def test_a_layer_trains_on_every_thread_a_small_model_on_one(pools):
    """train_method: a small model's steps run on one thread (they spin-wait beside another job),
    a Transformer layer's on the caller's count (its matrix products gain from two cores); the
    caller's count is restored either way."""
    from metanlp_lite.fewshot.features import Pool
    from metanlp_lite.fewshot.training import train_method

    def threads_seen(method, train, val):
        seen, loss = [], method.loss
        method.loss = lambda batch: (seen.append(torch.get_num_threads()), loss(batch))[1]
        train_method(method, train, val, steps=1, meta_batch=1, n_query=2, val_n_query=2, val_episodes=2,
                     eval_every=1, show_progress=False)
        return seen

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(12).repeat_interleave(10)
    x = torch.nn.functional.normalize(torch.randn(len(labels), 16, generator=g), dim=1)
    names = [str(i) for i in range(12)]
    small = {p: Pool(x, labels, c, None, names, names) for p, c in (("train", list(range(6))), ("val", list(range(6, 12))))}
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        layer = build_method("protonet", "minilm-block", 384, n_way=5, seed=0)
        assert threads_seen(layer, pools["train"], pools["val"]) == [2]
        assert threads_seen(build_method("protonet", "minilm", 16, n_way=5, seed=0), small["train"], small["val"]) == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_graph_bytes_counts_what_backward_keeps():
    from metanlp_lite.cost import graph_bytes, meta_step_cost

    x = torch.randn(1000, requires_grad=True)
    w = torch.randn(1000, requires_grad=True)
    _, size = graph_bytes(lambda: (x * w).sum())          # mul saves both operands: 2 x 4,000 bytes
    assert size == 8000
    _, size = graph_bytes(lambda: (x + w).sum())          # add saves nothing
    assert size == 0

    def second_order(create_graph):
        def loss():
            g = torch.autograd.grad((x.sin() * w).sum(), x, create_graph=create_graph)[0]
            return (g * w).sum()
        return loss

    (_, first), (_, second) = graph_bytes(second_order(False)), graph_bytes(second_order(True))
    assert second > first                                  # second order keeps the inner graph
    seconds, size = meta_step_cost(second_order(True), repeats=3)
    assert seconds > 0 and size == second and x.grad is not None
    with pytest.raises(ValueError, match="at least 1"):
        meta_step_cost(second_order(True), repeats=0)


FRAGMENT_AND_RELEASE = """
import os, torch
from metanlp_lite import cost
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
pins = []
for _ in range(2):      # the first round raises glibc's mmap threshold; then tensors come from its heap
    parts = []
    for n in range(1, 30):
        parts.append(torch.ones(n * 2**18))     # n MB: 435 MB in all
        pins.append(torch.ones(2**16))          # 256 kB after each, kept: the freed parts become holes
    del parts
    before = rss_mb()
    cost.release_memory()
print(cost._libc is not None, before - rss_mb())
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads resident memory from Linux's /proc")
def test_release_memory_gives_freed_tensors_back_to_the_system():
    import subprocess
    import sys

    # a fresh interpreter: what its heap holds does not depend on the tests that ran before
    out = subprocess.run([sys.executable, "-c", FRAGMENT_AND_RELEASE], capture_output=True, text=True, check=True)
    glibc, released_mb = out.stdout.split()
    if glibc != "True":
        pytest.skip("no glibc: release_memory is a no-op here")
    assert float(released_mb) > 200, f"only {released_mb} MB of 435 MB freed went back to the system"


def test_graph_split_separates_weight_copies_from_activations():
    from metanlp_lite.cost import graph_bytes, graph_split

    w = torch.randn(3, 20, 10, requires_grad=True)       # three tasks' copies of a 20 x 10 weight
    x = torch.randn(3, 7, 10, requires_grad=True)        # their inputs: 7 rows each
    _, total = graph_bytes(lambda: torch.tanh(x @ w.transpose(1, 2)).sum())
    _, split = graph_split(lambda: torch.tanh(x @ w.transpose(1, 2)).sum(), [3 * 20 * 10 * 4])
    assert w.grad is not None                            # the backward pass ran (and freed the graph)
    assert split == {"weights": 3 * 20 * 10 * 4, "activations": 3 * 7 * 10 * 4 + 3 * 7 * 20 * 4}   # x; tanh's output
    assert sum(split.values()) == total


def test_mean_ci95_over_seeds_adds_the_seeds_variation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 200, generator=g, dtype=torch.float64) + torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64)
    m, h = mean_ci95_over_seeds(x)
    assert m == pytest.approx(x.mean().item())
    assert (m, h) == pytest.approx(paired_over_seeds(x, torch.zeros(1, 200, dtype=torch.float64)))
    assert h > mean_ci95(x.mean(0))[1] * 3              # seeds half a unit apart dominate the episodes' part
    assert mean_ci95_over_seeds(x[:1]) == pytest.approx(mean_ci95(x[0]))     # one seed: the plain interval
    with pytest.raises(ValueError, match="seeds, episodes"):
        mean_ci95_over_seeds(x[0])
