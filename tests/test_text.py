import warnings

import numpy as np
import pytest
import torch

from metanlp_lite import text
from metanlp_lite.text import EmbeddingCache, embed


class Counting(torch.nn.Module):
    """Wraps the real encoder and records how many texts it was asked to encode (a module holding
    the encoder, so that embed() can switch its weights to float64 as it does the encoder's)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder, self.seen = encoder, []
        self.tokenizer, self.max_seq_length = encoder.tokenizer, encoder.max_seq_length   # for by_token_count

    def encode(self, texts, **kwargs):
        self.seen += list(texts)
        return self.encoder.encode(texts, **kwargs)


def test_packaged_weights_are_the_hub_file():
    path = text.packaged_model_path()
    assert text.sha256_file(path / "model.safetensors") == text.MODEL_SHA256


def test_tampered_weights_are_refused(monkeypatch):
    monkeypatch.setattr(text, "MODEL_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="are not the hub's all-MiniLM-L6-v2"):
        text.packaged_model_path()


def test_embeddings_are_computed_in_float64_and_rounded(encoder, tmp_path):
    """embed() gives encode()'s float64 vectors rounded to float32, not encode()'s float32 ones (those
    depend on the CPU's kernels in their last bits), and hands the encoder back in float32, unchanged."""
    texts = ["book a flight to Paris", "how do I bake bread", "my card was declined", "什么时候下雨"]
    weights = {n: p.clone() for n, p in encoder.named_parameters()}
    e = embed(texts, encoder, cache=tmp_path, show_progress=False)
    assert all(p.dtype == torch.float32 and torch.equal(p, weights[n]) for n, p in encoder.named_parameters())
    single = torch.from_numpy(encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True))
    with text.in_float64(encoder):
        double = torch.from_numpy(encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True))
    assert double.dtype == torch.float64
    assert torch.equal(e, double.float())
    assert not torch.equal(e, single)          # float32 arithmetic differs in some last bits
    assert (e - single).abs().max() < 1e-6


def test_in_float64_passes_other_objects_through():
    stand_in = object()
    with text.in_float64(stand_in) as got:
        assert got is stand_in


def test_embeddings_are_normalised_and_meaningful(encoder, tmp_path):
    e = embed(["book a flight to Paris", "reserve a plane ticket to Rome", "how do I bake bread"],
              encoder, cache=tmp_path, show_progress=False)
    assert e.shape == (3, 384) and e.dtype == torch.float32
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
    sims = e @ e.T
    assert sims[0, 1] > sims[0, 2] + 0.2        # paraphrases are closer than unrelated text


def test_cache_miss_then_hit(encoder, tmp_path):
    enc = Counting(encoder)
    first = embed(["alpha", "beta", "alpha"], enc, cache=tmp_path, show_progress=False)
    assert sorted(enc.seen) == ["alpha", "beta"]                 # a repeated text is encoded once
    torch.testing.assert_close(first[0], first[2])
    enc.seen.clear()
    second = embed(["beta", "alpha"], enc, cache=tmp_path, show_progress=False)
    assert enc.seen == []                                        # all from the cache
    torch.testing.assert_close(second, first[[1, 0]])
    third = embed(["beta", "gamma"], enc, cache=tmp_path, show_progress=False)
    assert enc.seen == ["gamma"]                                 # only the new text
    torch.testing.assert_close(third[0], first[1])


def test_corrupt_cache_file_is_recomputed(encoder, tmp_path):
    enc = Counting(encoder)
    reference = embed(["one", "two"], enc, cache=tmp_path, show_progress=False)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    files[0].write_bytes(files[0].read_bytes()[:100])           # as if a write was cut short
    enc.seen.clear()
    with pytest.warns(UserWarning, match="removing unreadable embedding cache file"):
        again = embed(["one", "two"], enc, cache=tmp_path, show_progress=False)
    assert sorted(enc.seen) == ["one", "two"]
    torch.testing.assert_close(again, reference)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # repaired: no warning now
        embed(["one", "two"], enc, cache=tmp_path, show_progress=False)


def test_cache_writes_are_atomic(tmp_path, monkeypatch):
    store = EmbeddingCache("tag", tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save(["a"], np.zeros((1, 3), np.float32))
    assert list(store.folder.iterdir()) == []                    # no partial or temporary file left
    monkeypatch.undo()
    store.save(["a"], np.ones((1, 3), np.float32))
    assert list(store.load()) == ["a"]


def test_cache_loads_only_the_texts_asked_for(tmp_path, monkeypatch):
    """load(texts) gives those texts' vectors, the same as the whole cache's, and reads no file's
    vectors unless it holds one of them (a notebook embedding 100 texts does not load them all)."""
    store = EmbeddingCache("tag", tmp_path)
    store.save(["a", "b", "c"], np.arange(9, dtype=np.float32).reshape(3, 3))
    store.save(["d", "e"], np.arange(9, 15, dtype=np.float32).reshape(2, 3))
    whole = store.load()
    some = store.load(["e", "a", "zz"])
    assert sorted(some) == ["a", "e"] and all(np.array_equal(some[t], whole[t]) for t in some)
    assert some["a"].base.shape == (1, 3)            # a copy of the rows asked for, not a view of the file
    read = []
    real_load = np.load

    def counting_load(path, *args, **kwargs):
        f = real_load(path, *args, **kwargs)
        real_getitem = f.__getitem__

        class Counting:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

            def __getitem__(self, key):
                read.append((path.name, key))
                return real_getitem(key)
        return Counting()

    monkeypatch.setattr(np, "load", counting_load)
    assert list(store.load(["d"])) == ["d"]
    assert sum(key == "vectors" for _, key in read) == 1 and sum(key == "texts" for _, key in read) == 2


def test_embed_refuses_a_single_string(tmp_path):
    with pytest.raises(TypeError, match="list of texts"):
        embed("hello", cache=tmp_path)


def test_an_interrupted_first_embedding_resumes_and_changes_no_bit(encoder, tmp_path):
    """Saved in chunks of whole batches: after Ctrl-C only the rest is encoded, in the same batches."""
    texts = [f"{w} number {i}" for i, w in enumerate(["book a flight", "card declined", "hi", "what time is it"] * 10)]
    settings = dict(batch_size=4, save_every=8, show_progress=False)

    class Interrupted(Counting):
        def encode(self, texts, **kwargs):
            if len(self.seen) == 12:                             # in the second chunk's second batch
                raise KeyboardInterrupt
            return super().encode(texts, **kwargs)

    whole = embed(texts, encoder, cache=tmp_path / "whole", **settings)
    with pytest.raises(KeyboardInterrupt):
        embed(texts, Interrupted(encoder), cache=tmp_path / "cut", **settings)
    saved = list((tmp_path / "cut").rglob("*.npz"))
    assert len(saved) == 1                                       # the first chunk: 8 texts
    rest = Counting(encoder)
    resumed = embed(texts, rest, cache=tmp_path / "cut", **settings)
    in_order, _ = text.by_token_count(list(set(texts)), encoder)
    assert rest.seen == in_order[8:]                             # the rest, each text once
    assert torch.equal(resumed, whole)                           # bit for bit
    assert len(list((tmp_path / "cut").rglob("*.npz"))) == 5     # 40 texts in chunks of 8


def test_after_prefetch_the_pools_need_no_encoder(fake_encoder, monkeypatch):
    """prefetch embeds the label names too: otherwise make_pools (notebooks 00, 03, 04) loads the
    sentence encoder, about 0.3 GB more memory than a notebook's budget allows."""
    from metanlp_lite.__main__ import prefetch
    from metanlp_lite.data import load_intents
    from metanlp_lite.fewshot.features import make_pools

    text = fake_encoder

    prefetch(["banking77"], embeddings=True, states=False, xsid=False)     # token states need the real encoder

    def no_encoder(*a, **k):
        raise AssertionError("make_pools loaded the encoder after prefetch")

    monkeypatch.setattr(text, "load_encoder", no_encoder)
    pools = make_pools(load_intents("banking77"), "minilm", "01", show_progress=False)
    assert pools["test"].names.shape == (77, text.EMBEDDING_DIM)


def test_texts_are_encoded_shortest_first_in_batches_bounded_in_tokens(encoder):
    """by_token_count counts the tokenizer's tokens (not characters), and token_batches cuts that
    order into consecutive batches of at most batch_size texts and max_tokens padded tokens, each
    as long as those bounds allow: short texts 64 at a time, long ones fewer."""
    texts = ["antidisestablishmentarianism", "a b c d e f g h i j k l", "hi", "what is my balance", "why"]
    ordered, n_tokens = text.by_token_count(texts, encoder)
    assert sorted(ordered) == sorted(texts) and n_tokens == sorted(n_tokens)
    assert n_tokens == [len(encoder.tokenizer(t)["input_ids"]) for t in ordered]
    # 14 tokens in 23 characters after 10 tokens in 28: by characters it would come first
    assert ordered.index("a b c d e f g h i j k l") > ordered.index("antidisestablishmentarianism")
    lengths = sorted(torch.randint(3, 200, (500,), generator=torch.Generator().manual_seed(0)).tolist())
    cuts = text.token_batches(lengths, batch_size=64, max_tokens=2048)
    assert cuts[0].start == 0 and cuts[-1].stop == len(lengths)
    assert all(a.stop == b.start for a, b in zip(cuts, cuts[1:]))                # consecutive, nothing left out
    for cut in cuts:
        n, longest = cut.stop - cut.start, max(lengths[cut])
        assert n <= 64 and (n * longest <= 2048 or n == 1)
        if cut.stop < len(lengths):                                               # the next text would break a bound
            assert n == 64 or (n + 1) * lengths[cut.stop] > 2048
    assert [c.stop - c.start for c in text.token_batches([10] * 130)] == [64, 64, 2]
    assert text.token_batches([]) == []


def test_embeddings_do_not_depend_on_the_batches(encoder, tmp_path):
    """In float64, rounded to float32: the same bits whichever texts share a batch and however long
    the batch is padded (a long text alone, or padded beside short ones)."""
    texts = ["hi", "book a flight to Paris on Friday", "my card was declined at the supermarket yesterday "
             "evening and I would like to know why that happened", "bake bread"]
    together = embed(texts, encoder, cache=tmp_path / "a", batch_size=64, show_progress=False)
    alone = embed(texts, encoder, cache=tmp_path / "b", batch_size=1, show_progress=False)
    assert torch.equal(together, alone)
