"""The Transformer as a learner (metanlp_lite.transformer): the split reproduces the encoder,
meta-gradients through a Transformer block are right, and misuse gets a clear error."""
from __future__ import annotations

import pytest
import torch

from metanlp_lite import transformer as tr

N_TEXTS = 200
# The issue asks for 1e-4; we measure 1.6e-7, and 1e-5 still leaves 60x room while catching
# the tanh approximation of GELU (5.4e-5 at n_layers=1), which 1e-4 would let through.
TOL = 1e-5


@pytest.fixture(scope="module", params=["clinc150", "banking77"])
def texts_and_reference(request, encoder):
    """The first 200 utterances of a data set and encoder.encode's normalised embeddings (200, 384)."""
    texts = request.getfixturevalue(request.param)["text"][:N_TEXTS]
    reference = encoder.encode(texts, normalize_embeddings=True, convert_to_tensor=True, batch_size=64)
    return request.param, texts, reference


@pytest.mark.parametrize("n_layers", [1, 2])
def test_top_of_bottom_reproduces_the_encoder(texts_and_reference, encoder, n_layers):
    name, texts, reference = texts_and_reference
    hidden, mask = tr.bottom_states(texts, encoder, n_layers)
    assert hidden.shape[:2] == mask.shape and hidden.shape == (N_TEXTS, hidden.shape[1], 384)
    assert not hidden.requires_grad
    with torch.no_grad():
        out = tr.top_forward(tr.top_params(encoder, n_layers), hidden, mask, n_layers=n_layers, model=encoder)
    assert out.dtype == torch.float32 and out.shape == reference.shape
    diff = (out - reference.to(out.device)).abs().max().item()
    print(f"{name}, n_layers={n_layers}: max |top(bottom(x)) - encode(x)| = {diff:.2e}")
    assert diff <= TOL, f"{name}, n_layers={n_layers}: max |difference| {diff:.2e} > {TOL}"


def test_top_params_are_copies_of_the_last_layers(encoder):
    params = tr.top_params(encoder, 2)
    assert {k.split(".")[1] for k in params} == {"4", "5"} and len(params) == 32
    before = encoder[0].auto_model.encoder.layer[5].output.dense.weight.clone()
    params["layer.5.output.dense.weight"].add_(1.0)   # adapting the copy must not touch the encoder
    assert torch.equal(encoder[0].auto_model.encoder.layer[5].output.dense.weight, before)


# ---- a meta-gradient through one Transformer block, against finite differences (float64) ----

SUPPORT = ["wake me at seven", "what is my balance", "set an alarm please", "how much money do i have"]
QUERY = ["alarm for six am", "check my account balance", "an alarm at noon", "balance of checking"]
LABELS = torch.tensor([0, 1, 0, 1])
INNER_LR = 0.5


def _meta_setup(encoder):
    hs, ms = tr.bottom_states(SUPPORT, encoder, 1)
    hq, mq = tr.bottom_states(QUERY, encoder, 1)
    gen = torch.Generator().manual_seed(0)
    params = {k: v.double() for k, v in tr.top_params(encoder, 1).items()}
    params["head.weight"] = 0.5 * torch.randn(2, 384, generator=gen, dtype=torch.float64)
    params["head.bias"] = torch.zeros(2, dtype=torch.float64)
    return params, (hs.double(), ms), (hq.double(), mq), gen


def _loss(params, states, encoder):
    hidden, mask = states
    body = {k: v for k, v in params.items() if k.startswith("layer.")}
    z = tr.top_forward(body, hidden, mask, n_layers=1, model=encoder)             # (B, 384)
    logits = torch.nn.functional.linear(z, params["head.weight"], params["head.bias"])
    return torch.nn.functional.cross_entropy(logits, LABELS)


def _meta_loss(params, support, query, encoder, first_order=False):
    grads = torch.func.grad(_loss)(params, support, encoder)
    if first_order:
        grads = {k: g.detach() for k, g in grads.items()}
    adapted = {k: p - INNER_LR * grads[k] for k, p in params.items()}     # phi = theta - alpha grad L_s
    return _loss(adapted, query, encoder)


def test_meta_gradient_through_a_block_matches_finite_differences(encoder):
    params, support, query, gen = _meta_setup(encoder)
    meta_grad = torch.func.grad(_meta_loss)(params, support, query, encoder)
    checked = ["layer.5.attention.self.query.weight", "layer.5.attention.output.LayerNorm.weight",
               "layer.5.intermediate.dense.weight", "head.weight"]
    direction = {k: torch.randn(params[k].shape, generator=gen, dtype=torch.float64) for k in checked}
    analytic = sum((meta_grad[k] * direction[k]).sum() for k in checked).item()
    eps = 1e-6  # central differences: error ~ eps^2 (9e-7 at 1e-5, 9e-9 here); rounding ~1e-12

    def shifted(sign):
        p = {k: v + sign * eps * direction[k] if k in direction else v for k, v in params.items()}
        return _meta_loss(p, support, query, encoder).item()

    numeric = (shifted(+1) - shifted(-1)) / (2 * eps)
    assert abs(numeric) > 1e-3, f"the check needs a meta-gradient that is not ~0 (got {numeric:.1e})"
    rel = abs(analytic - numeric) / abs(numeric)
    print(f"second-order meta-gradient: analytic {analytic:.10e}, finite differences {numeric:.10e}, rel. error {rel:.1e}")
    assert rel < 1e-6, f"meta-gradient {analytic} vs finite differences {numeric}: relative error {rel:.1e}"

    # first order: the inner gradient is a constant, so the meta-gradient is the query gradient at phi
    first = torch.func.grad(_meta_loss)(params, support, query, encoder, first_order=True)
    grads = torch.func.grad(_loss)(params, support, encoder)
    adapted = {k: p - INNER_LR * grads[k] for k, p in params.items()}
    at_phi = torch.func.grad(_loss)(adapted, query, encoder)
    for k in checked:
        torch.testing.assert_close(first[k], at_phi[k], rtol=1e-10, atol=1e-12)
    flat = lambda g: torch.cat([g[k].flatten() for k in checked])  # noqa: E731
    gap = ((flat(first) - flat(meta_grad)).norm() / flat(meta_grad).norm()).item()
    print(f"first- vs second-order meta-gradient: relative difference {gap:.1e}")
    assert gap > 1e-6, "first-order and second-order meta-gradients should differ through a Transformer block"


# ---- errors ----

def test_too_many_or_too_few_layers_are_refused(encoder):
    with pytest.raises(ValueError, match="more layers than the model has"):
        tr.top_params(encoder, 7)
    with pytest.raises(ValueError, match="at least one layer"):
        tr.top_params(encoder, 0)
    with pytest.raises(ValueError, match="more layers than the model has"):
        tr.bottom_states(["hello"], encoder, 7)
    with pytest.raises(ValueError, match="at least one layer"):
        tr.bottom_states(["hello"], encoder, 0)
    with pytest.raises(ValueError, match="whole number"):
        tr.check_n_layers(1.5, encoder)
    hidden, mask = torch.zeros(2, 5, 384), torch.ones(2, 5)
    with pytest.raises(ValueError, match="more layers than the model has"):
        tr.top_forward({}, hidden, mask, n_layers=7, model=encoder)


def test_mismatched_shapes_and_params_are_refused(encoder):
    params = tr.top_params(encoder, 1)
    with pytest.raises(ValueError, match=r"\(B, T, 384\)"):
        tr.top_forward(params, torch.zeros(2, 5, 100), torch.ones(2, 5), n_layers=1, model=encoder)
    with pytest.raises(ValueError, match=r"\(B, T, 384\)"):
        tr.top_forward(params, torch.zeros(5, 384), torch.ones(5), n_layers=1, model=encoder)
    with pytest.raises(ValueError, match="mask must have shape"):
        tr.top_forward(params, torch.zeros(2, 5, 384), torch.ones(2, 6), n_layers=1, model=encoder)
    with pytest.raises(ValueError, match="n_layers=2"):
        tr.top_forward(params, torch.zeros(2, 5, 384), torch.ones(2, 5), n_layers=2, model=encoder)
    with pytest.raises(TypeError, match="not a single string"):
        tr.bottom_states("hello", encoder, 1)
    with pytest.raises(TypeError, match="SentenceTransformer"):
        tr.top_params(object(), 1)


# ---- the token-state cache ----

CACHE_TEXTS = ["book a table for two", "what's the weather like", "transfer money to savings"]


def test_cache_round_trip_reads_the_file_back(encoder, tmp_path, monkeypatch):
    hidden, mask = tr.cached_bottom_states(CACHE_TEXTS, encoder, 1, cache=tmp_path)
    files = list((tmp_path / "token-states").glob("*.npz"))
    assert len(files) == 1 and "-L1-" in files[0].name and not list(tmp_path.rglob("*.tmp"))
    from metanlp_lite.text import in_float64

    with in_float64(encoder):              # the cache's states are computed in float64, then rounded
        fresh, fresh_mask = tr.bottom_states(CACHE_TEXTS, encoder, 1)
    # the same states on real tokens (float16), zero at padding
    assert torch.equal(hidden, fresh.half().float() * mask[..., None]) and torch.equal(mask, fresh_mask)
    fresh = fresh.float()

    def no_compute(*args, **kwargs):
        raise AssertionError("the second call should read the cache, not compute")

    monkeypatch.setattr(tr, "bottom_states", no_compute)
    again, again_mask = tr.cached_bottom_states(CACHE_TEXTS, encoder, 1, cache=tmp_path)
    assert again.dtype == torch.float32 and torch.equal(again, hidden) and torch.equal(again_mask, mask)
    # float16 states move the top's output by about 1e-3, no more
    params = tr.top_params(encoder, 1)
    with torch.no_grad():
        gap = (tr.top_forward(params, again, mask, n_layers=1, model=encoder)
               - tr.top_forward(params, fresh, mask, n_layers=1, model=encoder)).abs().max().item()
    assert gap < 1e-2
    # other texts or another split get their own file
    monkeypatch.undo()
    tr.cached_bottom_states(CACHE_TEXTS[:2], encoder, 1, cache=tmp_path)
    tr.cached_bottom_states(CACHE_TEXTS, encoder, 2, cache=tmp_path)
    assert len(list((tmp_path / "token-states").glob("*.npz"))) == 3


def test_one_pass_fills_the_token_states_and_the_embedding_cache(encoder, tmp_path):
    """token_states(embeddings=True), as the prefetch runs it: the sentence embeddings from the same
    float64 pass are, bit for bit, what embed() computes on its own."""
    from metanlp_lite.text import embed

    texts = ["book a flight to Paris", "my card was declined", "hi", "what time is it in Tokyo", "hi"]
    states = tr.token_states(texts, encoder, 1, cache=tmp_path / "one", embeddings=True)
    assert len(states) == len(texts)
    saved = list((tmp_path / "one" / "embeddings").rglob("*.npz"))
    assert len(saved) == 1
    cached = embed(texts, encoder, cache=tmp_path / "one", show_progress=False)     # read, not encoded
    assert torch.equal(cached, embed(texts, encoder, cache=tmp_path / "two", show_progress=False))
    assert next(encoder.parameters()).dtype == torch.float32


def test_cache_corrupt_file_is_removed_and_rebuilt(encoder, tmp_path):
    hidden, mask = tr.cached_bottom_states(CACHE_TEXTS, encoder, 1, cache=tmp_path)
    (path,) = (tmp_path / "token-states").glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])          # a half-written file, e.g. from a full disk
    with pytest.warns(UserWarning, match="unreadable token-state cache file"):
        rebuilt, rebuilt_mask = tr.cached_bottom_states(CACHE_TEXTS, encoder, 1, cache=tmp_path)
    assert torch.equal(rebuilt, hidden) and torch.equal(rebuilt_mask, mask)
    import numpy as np
    with np.load(path) as f:                            # rebuilt on disk too
        assert f["states"].shape == (int(mask.sum()), 384) and f["states"].dtype == np.float16


def test_cache_file_of_another_model_or_split_is_refused(encoder, tmp_path, monkeypatch):
    path = tmp_path / "states.npz"
    tr.cached_bottom_states(CACHE_TEXTS, encoder, 1, path=path)
    with pytest.raises(ValueError, match=r"another layer split \(1 instead of 2\).*Delete it"):
        tr.cached_bottom_states(CACHE_TEXTS, encoder, 2, path=path)
    with pytest.raises(ValueError, match="other texts"):
        tr.cached_bottom_states(CACHE_TEXTS[:2], encoder, 1, path=path)
    monkeypatch.setattr(tr, "model_tag", lambda encoder: "some-other-model-000000000000")
    with pytest.raises(ValueError, match="another model"):
        tr.cached_bottom_states(CACHE_TEXTS, encoder, 1, path=path)
    assert path.exists()                                # a mismatch never deletes the file


def test_model_tag_tells_models_apart(encoder):
    tag = tr.model_tag(encoder)
    assert tag.startswith("all-MiniLM-L6-v2-") and tag == tr.model_tag(encoder)
    bert = encoder[0].auto_model
    w = bert.encoder.layer[5].output.dense.bias
    saved = w.detach().clone()                          # the encoder is shared: restore it bit for bit
    with torch.no_grad():
        w[0] += 1.0
        try:
            assert tr.model_tag(encoder) != tag
        finally:
            w.copy_(saved)
    assert tr.model_tag(encoder) == tag
