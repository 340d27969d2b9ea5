"""The Transformer as a learner: all-MiniLM-L6-v2 split into a frozen bottom and a trainable top.

Taught in notebook 05. In notebook 04 the sentence encoder is a fixed feature map and only a head on
its 384-d embeddings learns. Here the last ``n_layers`` (1 or 2) layers learn, so MAML can adapt them:

.. code-block:: text

    texts --tokenise--> embeddings --layers 0..5-n_layers--> hidden (B, L, 384)      frozen bottom
    hidden --layers 6-n_layers..5--> mean over real tokens --> L2-normalise --> (B, 384)  trainable top
    (B texts, each padded to L tokens; in this package's shapes T always counts tasks)

What is here
------------
- :func:`bottom_states`: the frozen bottom's token states ``hidden`` (B, L, 384) and the attention
  ``mask`` (B, L), computed once per data set, without gradients (they do not depend on what we adapt).
- :func:`top_params`: the top's parameters as a dict of tensors copied from the pretrained model,
  named as in ``bert.encoder.named_parameters()`` (``"layer.5.attention.self.query.weight"``).
- :func:`top_forward`: the top as a pure function of that dict, ``(params, hidden, mask) -> (B, 384)``.
- :func:`bert_layer`: one BERT layer written out (self-attention, residual, LayerNorm, GELU feed-forward,
  residual, LayerNorm), for bottom and top; bottom + top give ``encoder.encode`` to 1e-5 (tests).
- :func:`token_states`: :func:`bottom_states` stored on disk without padding (float16), keyed by the
  model (:func:`model_tag`), ``n_layers`` and the texts, read back as a :class:`TokenStates` that
  indexes like a feature table (:func:`pack`); :func:`cached_bottom_states` returns them padded.
- :func:`lora_params`, :func:`with_lora`: low-rank fast weights ``W + B A`` (Hu et al., 2022), B zero at first.

The attention mask: ``mask`` is 1 for a real token and 0 for padding. Inside attention a
padding *key* gets ``torch.finfo(dtype).min`` added to its score before the softmax (Hugging
Face's "extended attention mask" convention), so no token attends to padding; padding
*queries* still get (meaningless) states, which the mean pooling then ignores.
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .cost import release_memory
from .progress import progress
from .text import EMBEDDING_TAG, EmbeddingCache, cache_dir, in_float64, token_batches

__all__ = ["bert_of", "check_n_layers", "bert_layer", "top_params", "top_forward", "bottom_states",
           "mean_pool", "model_tag", "pack", "unpack", "TokenStates", "token_states", "cached_bottom_states",
           "LORA_TARGETS", "lora_params", "with_lora"]


def bert_of(model: Any) -> Any:
    """The Hugging Face ``BertModel`` inside ``model``.

    model: a ``SentenceTransformer`` (its first module holds ``auto_model``) or a ``BertModel``.
    """
    if hasattr(model, "encoder") and hasattr(model, "embeddings") and hasattr(model, "config"):
        return model
    try:
        return model[0].auto_model
    except (TypeError, IndexError, KeyError, AttributeError) as err:
        raise TypeError(
            f"expected a SentenceTransformer (e.g. metanlp_lite.text.load_encoder()) or a Hugging Face "
            f"BertModel, got {type(model).__name__}"
        ) from err


def check_n_layers(n_layers: int, model: Any) -> int:
    """``n_layers`` if it is a whole number in 1..(the model's layer count); else a ValueError saying how to fix it."""
    total = bert_of(model).config.num_hidden_layers
    if isinstance(n_layers, bool) or not isinstance(n_layers, int):
        raise ValueError(f"n_layers must be a whole number of Transformer layers (1..{total}), got {n_layers!r}")
    if n_layers > total:
        raise ValueError(
            f"n_layers={n_layers} is asking for more layers than the model has: it has {total}. "
            f"Pass n_layers between 1 and {total} (1 or 2 keeps most of the encoder frozen and is fast)."
        )
    if n_layers < 1:
        raise ValueError(
            f"n_layers={n_layers}: the trainable top needs at least one layer. Pass n_layers between 1 "
            f"and {total}; to adapt no layer at all, use the frozen embeddings of metanlp_lite.text.embed()."
        )
    return n_layers


def _layer_indices(n_layers: int, model: Any) -> range:
    """Indices of the top ``n_layers`` layers, e.g. range(4, 6) for n_layers=2 of 6."""
    total = bert_of(model).config.num_hidden_layers
    return range(total - check_n_layers(n_layers, model), total)


def _check_states(hidden: Tensor, mask: Tensor, width: int) -> None:
    if hidden.dim() != 3 or hidden.shape[-1] != width:
        raise ValueError(
            f"hidden must be token states of shape (B, T, {width}), got {tuple(hidden.shape)}. "
            "Make it with bottom_states(texts, encoder, n_layers)."
        )
    if tuple(mask.shape) != tuple(hidden.shape[:2]):
        raise ValueError(
            f"mask must have shape (B, T) = {tuple(hidden.shape[:2])} to match hidden {tuple(hidden.shape)}, "
            f"got {tuple(mask.shape)}. Pass the mask that bottom_states returned with these states."
        )


def bert_layer(p: dict[str, Tensor], hidden: Tensor, mask: Tensor, *, n_heads: int, eps: float) -> Tensor:
    """One BERT encoder layer as a pure function of its parameters.

    p: the layer's parameters, named as in ``BertLayer.named_parameters()``
    (``"attention.self.query.weight"`` (D, D), ..., ``"intermediate.dense.weight"`` (4D, D), ...).
    hidden: (B, L, D) token states; mask: (B, L), 1 for real tokens and 0 for padding.
    Returns the new token states (B, L, D). Dropout is off (the encoder is used in eval mode).
    """
    B, T, D = hidden.shape
    d = D // n_heads

    def split_heads(x: Tensor) -> Tensor:            # (B, T, D) -> (B, heads, T, d)
        return x.view(B, T, n_heads, d).transpose(1, 2)

    q = split_heads(F.linear(hidden, p["attention.self.query.weight"], p["attention.self.query.bias"]))
    k = split_heads(F.linear(hidden, p["attention.self.key.weight"], p["attention.self.key.bias"]))
    v = split_heads(F.linear(hidden, p["attention.self.value.weight"], p["attention.self.value.bias"]))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)                   # (B, heads, T, T)
    # padding keys get the most negative number added: after the softmax their weight is 0
    blocked = (1.0 - mask.to(hidden.dtype))[:, None, None, :] * torch.finfo(hidden.dtype).min
    weights = torch.softmax(scores + blocked, dim=-1)
    attended = (weights @ v).transpose(1, 2).reshape(B, T, D)        # heads side by side again
    attended = F.linear(attended, p["attention.output.dense.weight"], p["attention.output.dense.bias"])
    hidden = F.layer_norm(hidden + attended, (D,), p["attention.output.LayerNorm.weight"],
                          p["attention.output.LayerNorm.bias"], eps)
    ff = F.gelu(F.linear(hidden, p["intermediate.dense.weight"], p["intermediate.dense.bias"]))  # exact (erf) GELU
    ff = F.linear(ff, p["output.dense.weight"], p["output.dense.bias"])
    return F.layer_norm(hidden + ff, (D,), p["output.LayerNorm.weight"], p["output.LayerNorm.bias"], eps)


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean of the real tokens' states, as sentence-transformers pools: (B, L, D), (B, L) -> (B, D)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)                             # (B, L, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def _layer_params(params: dict[str, Tensor], i: int) -> dict[str, Tensor]:
    prefix = f"layer.{i}."
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def _check_act(bert: Any) -> None:
    if bert.config.hidden_act != "gelu":
        raise ValueError(f"bert_layer implements BERT's exact GELU; this model uses {bert.config.hidden_act!r}")


def top_params(model: Any, n_layers: int) -> dict[str, Tensor]:
    """The trainable top's parameters: copies of the last ``n_layers`` layers' weights.

    Keys are ``"layer.<i>.<name>"`` as in ``bert.encoder.named_parameters()``, e.g.
    ``"layer.5.output.dense.weight"`` (384, 1536); 16 tensors (about 1.8 M numbers) per layer.
    The copies are detached from the encoder (and do not require grad), so adapting them never
    changes the pretrained model; call ``.requires_grad_()`` or use ``torch.func.grad`` to train them.
    """
    bert = bert_of(model)
    out: dict[str, Tensor] = {}
    for i in _layer_indices(n_layers, bert):
        for name, p in bert.encoder.layer[i].named_parameters():
            out[f"layer.{i}.{name}"] = p.detach().clone()
    return out


def top_forward(params: dict[str, Tensor], hidden: Tensor, mask: Tensor, *, n_layers: int, model: Any) -> Tensor:
    """The trainable top: last ``n_layers`` layers, mean pooling, L2 normalisation.

    params: as from :func:`top_params` (same ``n_layers``; any dtype, e.g. float64 for checks).
    hidden: (B, L, 384) states from :func:`bottom_states` with the same ``n_layers``; mask: (B, L).
    model: the encoder, read only for its configuration (layer count, heads, LayerNorm eps).
    Returns unit-length sentence embeddings (B, 384), a pure function of ``params``.
    """
    bert = bert_of(model)
    _check_act(bert)
    cfg = bert.config
    _check_states(hidden, mask, cfg.hidden_size)
    for i in _layer_indices(n_layers, bert):
        p = _layer_params(params, i)
        if len(p) != len(list(bert.encoder.layer[i].parameters())):
            raise ValueError(
                f"params lacks layer {i}'s weights (has {len(p)} of its tensors): make params with "
                f"top_params(encoder, n_layers={n_layers}), the same n_layers as here."
            )
        hidden = bert_layer(p, hidden, mask, n_heads=cfg.num_attention_heads, eps=cfg.layer_norm_eps)
    return F.normalize(mean_pool(hidden, mask), p=2, dim=1)


def _tokenize(encoder: Any, texts: list[str]) -> dict[str, Tensor]:
    """Tokenise as ``encoder.encode`` does: its tokenizer, its max_seq_length, padding to the longest."""
    if hasattr(encoder, "preprocess"):            # sentence-transformers >= 6
        features = encoder.preprocess(texts)
    else:
        features = encoder.tokenize(texts)
    return {k: v for k, v in features.items() if isinstance(v, Tensor)}


@torch.no_grad()
def bottom_states(
    texts: Sequence[str], encoder: Any, n_layers: int, *, batch_size: int = 64
) -> tuple[Tensor, Tensor]:
    """The frozen bottom's token states for ``texts``, for a top of ``n_layers`` layers.

    Runs the embeddings and the first (num_layers - n_layers) layers of ``encoder`` (a
    ``SentenceTransformer``, e.g. :func:`metanlp_lite.text.load_encoder`), without gradients.
    Texts are tokenised as ``encoder.encode`` tokenises them (its tokenizer, truncated at its
    max_seq_length) and padded together to the longest, then run in batches of ``batch_size``.

    Returns ``hidden`` (B, L, 384) float32 on the encoder's device and ``mask`` (B, L) int64,
    1 for real tokens and 0 for padding.
    """
    if isinstance(texts, str):
        raise TypeError("bottom_states() takes a list of texts, not a single string: use [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("bottom_states() needs at least one text")
    bert = bert_of(encoder)
    _check_act(bert)
    cfg = bert.config
    bottom = range(cfg.num_hidden_layers - check_n_layers(n_layers, bert))
    features = _tokenize(encoder, texts)
    device = next(bert.parameters()).device
    hiddens = []
    for s in range(0, len(texts), batch_size):
        batch = {k: v[s:s + batch_size].to(device) for k, v in features.items()}
        h = bert.embeddings(input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        for i in bottom:
            p = dict(bert.encoder.layer[i].named_parameters())
            h = bert_layer(p, h, batch["attention_mask"], n_heads=cfg.num_attention_heads, eps=cfg.layer_norm_eps)
        hiddens.append(h)
    return torch.cat(hiddens), features["attention_mask"].to(device).long()


# ---- the token-state cache on disk ----

def model_tag(encoder: Any) -> str:
    """A short name for the encoder's weights, e.g. ``"all-MiniLM-L6-v2-3f9a0c1b2d4e"``.

    The folder name of its weights plus a hash of every parameter's first 64 numbers, so two
    different models (or a fine-tuned copy) never share cached token states.
    """
    bert = bert_of(encoder)
    h = hashlib.sha256()
    for name, p in bert.named_parameters():
        h.update(name.encode())
        h.update(p.detach().flatten()[:64].float().cpu().numpy().tobytes())
    base = PurePath(str(getattr(bert.config, "_name_or_path", "") or "bert")).name
    if base in ("model", ""):   # the offline package's folder is called "model"
        base = "all-MiniLM-L6-v2"
    return f"{base}-{h.hexdigest()[:12]}"


def _texts_hash(texts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


# ---- token states without padding, indexed like a feature table ----

def pack(hidden: Tensor, mask: Tensor) -> Tensor:
    """Token states and their mask as one tensor: (..., L, D), (..., L) -> (..., L, D + 1), channel D the
    mask (1.0 real token, 0.0 padding): one tensor travels where a feature vector does (episodes, ``vmap``)."""
    return torch.cat([hidden, mask.to(hidden.dtype).unsqueeze(-1)], dim=-1)


def unpack(x: Tensor) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`pack`: (..., L, D + 1) -> states (..., L, D) and mask (..., L) (float)."""
    return x[..., :-1], x[..., -1]


class TokenStates:
    """The bottom's token states of P texts, stored without padding, indexed like a feature table.

    states: (total tokens, D) float16, the texts one after another; lengths: (P,) tokens per text.
    ``ts[idx]`` (``idx`` a long tensor of any shape, an int, a list or a slice) returns the :func:`pack` ed
    states ``(*idx.shape, L, D + 1)`` float32, padded to the longest chosen text: an episode of indices
    becomes one of token states, as with sentence embeddings. Unpadded, BANKING77 takes 160 MB, not 1 GB.
    """

    def __init__(self, states: Tensor, lengths: Tensor) -> None:
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        if states.ndim != 2 or lengths.ndim != 1 or int(lengths.sum()) != states.shape[0]:
            raise ValueError(f"states must be (total tokens, D) with total tokens = lengths.sum(); got "
                             f"{tuple(states.shape)} and lengths summing to {int(lengths.sum())}")
        if (lengths < 1).any():
            raise ValueError("every text needs at least one token")
        self.states, self.lengths = states, lengths
        self.offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])

    @classmethod
    def from_padded(cls, hidden: Tensor, mask: Tensor) -> "TokenStates":
        """From :func:`bottom_states` output (B, L, D), (B, L); stored as float16."""
        keep = mask.bool()
        return cls(hidden[keep].to(torch.float16).cpu(), keep.sum(1).cpu())

    def __len__(self) -> int:
        return self.lengths.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(P, D + 1): P texts, each a (L, D + 1) packed tensor once indexed."""
        return (len(self), self.states.shape[1] + 1)

    def __getitem__(self, idx: Tensor | int | slice | Sequence[int]) -> Tensor:
        if isinstance(idx, slice):
            idx = torch.arange(len(self))[idx]
        idx = torch.as_tensor(idx, dtype=torch.long)
        flat = idx.reshape(-1)
        lengths = self.lengths[flat]                                       # (n,)
        T = int(lengths.max()) if flat.numel() else 1
        pos = torch.arange(T)
        mask = pos[None, :] < lengths[:, None]                             # (n, T)
        rows = (self.offsets[flat][:, None] + pos[None, :]).clamp(max=self.states.shape[0] - 1)
        hidden = self.states[rows].float() * mask[..., None]               # (n, T, D), zeros at padding
        return pack(hidden, mask).reshape(*idx.shape, T, self.states.shape[1] + 1)

    def padded(self) -> tuple[Tensor, Tensor]:
        """All P texts as :func:`bottom_states` returns them: hidden (P, L, D) float32, mask (P, L) int64."""
        hidden, mask = unpack(self[torch.arange(len(self))])
        return hidden, mask.long()


def token_states(
    texts: Sequence[str],
    encoder: Any,
    n_layers: int,
    *,
    path: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
    embeddings: bool = False,
) -> TokenStates:
    """:func:`bottom_states` of ``texts`` as a :class:`TokenStates`, stored on disk and read back.

    The file (``path``, else ``<cache>/token-states/<model>-f64-L<n_layers>-<hash of the texts>.npz``)
    holds the states without padding as float16 (half the memory; the top's output moves by about
    1e-3), the lengths, the model tag, ``n_layers`` and the texts' hash, written to a temporary file
    and renamed; an unreadable one is reported, removed and rebuilt. The states are computed in
    float64 (:func:`metanlp_lite.text.in_float64`), batched by :func:`metanlp_lite.text.token_batches`: the
    same on every CPU. ``embeddings``: also run the top on them, in float64, and store the sentence embeddings in
    :func:`metanlp_lite.text.embed`'s cache (``encoder.encode``'s, to the last bit): one pass through
    the encoder instead of two, as ``python -m metanlp_lite prefetch`` does.

    Raises:
        ValueError: the file at ``path`` holds states of another model, another ``n_layers``
            or other texts (delete it or pass another path).
    """
    if isinstance(texts, str):
        raise TypeError("token_states() takes a list of texts, not a single string: use [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("token_states() needs at least one text")
    check_n_layers(n_layers, encoder)
    tag, digest = model_tag(encoder), _texts_hash(texts)
    if path is None:
        path = cache_dir(cache) / "token-states" / f"{tag}-f64-L{n_layers}-{digest[:24]}.npz"
    path = Path(path)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                stored = {k: f[k] for k in ("model", "n_layers", "texts_sha256", "states", "lengths")}
        except Exception as err:
            warnings.warn(f"removing unreadable token-state cache file {path} ({type(err).__name__}); "
                          "its states will be recomputed", stacklevel=2)
            path.unlink(missing_ok=True)
        else:
            wanted = {"model": tag, "n_layers": n_layers, "texts_sha256": digest}
            found = {"model": str(stored["model"]), "n_layers": int(stored["n_layers"]),
                     "texts_sha256": str(stored["texts_sha256"])}
            if found != wanted:
                what = {"model": "another model", "n_layers": "another layer split",
                        "texts_sha256": "other texts"}
                differs = ", ".join(f"{what[k]} ({found[k] if k != 'texts_sha256' else found[k][:12]} "
                                    f"instead of {wanted[k] if k != 'texts_sha256' else wanted[k][:12]})"
                                    for k in wanted if found[k] != wanted[k])
                raise ValueError(
                    f"the token-state cache file {path} belongs to {differs}. Delete it "
                    f"(rm {path}) to rebuild it for this encoder and n_layers={n_layers}, or pass another path."
                )
            return TokenStates(torch.from_numpy(stored["states"]), torch.from_numpy(stored["lengths"].astype(np.int64)))
    # one float16 array filled in place: a tensor per text and torch.cat would hold it twice (~0.4 GB more)
    lengths = _tokenize(encoder, texts)["attention_mask"].sum(1).long()
    offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
    states = torch.empty(int(offsets[-1]), bert_of(encoder).config.hidden_size, dtype=torch.float16)
    order = sorted(range(len(texts)), key=lambda i: (int(lengths[i]), len(texts[i])))   # pads 1% (by characters 30%)
    bottom = bert_of(encoder).config.num_hidden_layers - n_layers
    what = f"token states (first {bottom} layers)" + (" and sentence embeddings" if embeddings else "")
    bar = progress(total=len(texts), desc=what, disable=not show_progress)
    vectors: dict[str, np.ndarray] = {}
    with in_float64(encoder), torch.no_grad():
        top = top_params(encoder, n_layers) if embeddings else None
        for k, cut in enumerate(token_batches([int(lengths[i]) for i in order], batch_size)):   # long texts fewer at a time
            chosen = order[cut]
            hidden, mask = bottom_states([texts[i] for i in chosen], encoder, n_layers, batch_size=batch_size)
            for j, i in enumerate(chosen):
                states[offsets[i]:offsets[i + 1]] = hidden[j, :int(lengths[i])].to(torch.float16).cpu()
            if not torch.equal(mask.sum(1).cpu(), lengths[chosen]):
                raise RuntimeError("the tokenizer gave other lengths in a batch than for all texts at once")
            if top is not None:
                z = top_forward(top, hidden, mask, n_layers=n_layers, model=encoder).to(torch.float32).cpu().numpy()
                vectors.update((texts[i], z[j]) for j, i in enumerate(chosen))
            bar.update(len(chosen))
            if k % 5 == 4:   # longer and longer batches fragment the heap (every 20: 1.5 GB at the end, not 1.3)
                release_memory()
    bar.close()
    if vectors:
        EmbeddingCache(EMBEDDING_TAG, cache).save(list(vectors), np.stack(list(vectors.values())))
    result = TokenStates(states, lengths)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, model=np.array(tag), n_layers=np.array(n_layers), texts_sha256=np.array(digest),
                     states=result.states.numpy(), lengths=result.lengths.numpy().astype(np.int32))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return result


def cached_bottom_states(
    texts: Sequence[str],
    encoder: Any,
    n_layers: int,
    *,
    path: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    batch_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """:func:`bottom_states`, through the disk cache of :func:`token_states`.

    Returns ``hidden`` (B, L, 384) float32 (the stored float16 values, widened; zero at padding)
    and ``mask`` (B, L) int64, padded to the longest of the texts.
    """
    if isinstance(texts, str):
        raise TypeError("cached_bottom_states() takes a list of texts, not a single string: use [text]")
    device = next(bert_of(encoder).parameters()).device
    hidden, mask = token_states(texts, encoder, n_layers, path=path, cache=cache, batch_size=batch_size).padded()
    return hidden.to(device), mask.to(device)


# ---- low-rank fast weights (LoRA-style) ----

LORA_TARGETS = ("attention.self.query", "attention.self.value")


def lora_params(model: Any, n_layers: int, rank: int, *, targets: Sequence[str] = LORA_TARGETS,
                seed: int = 0) -> dict[str, Tensor]:
    """Low-rank factors for the top's weight matrices named in ``targets`` (Hu et al., 2022).

    For each targeted weight W (out, in) of the top ``n_layers`` layers: ``"<name>.lora_A"``
    (rank, in), drawn uniformly in +-1/sqrt(in) (the same on every CPU), and ``"<name>.lora_B"``
    (out, rank), zero. :func:`with_lora` uses ``W + B A``, so at zero B the block is unchanged.
    E.g. rank 4 on query and value of one layer: 4 x 384 x 4 = 6,144 numbers, against 1.8 M in the layer.
    """
    from .reproducible import uniform

    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"the rank of low-rank fast weights must be a whole number >= 1, got {rank!r}")
    bert = bert_of(model)
    known = {n.rsplit(".", 1)[0] for n, p in bert.encoder.layer[0].named_parameters() if p.ndim == 2}
    resolved = []
    for t in ([targets] if isinstance(targets, str) else list(targets)):
        match = [k for k in sorted(known) if k == t or k.endswith("." + t)]   # "query" is attention.self.query
        if len(match) != 1:
            raise ValueError(f"unknown target {t!r} for low-rank fast weights: choose among {sorted(known)} "
                             "(or the last part of a name, e.g. query, value)")
        resolved.append(match[0])
    if not resolved:
        raise ValueError(f"low-rank fast weights need at least one target among {sorted(known)}")
    targets = resolved
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, Tensor] = {}
    for i in _layer_indices(n_layers, bert):
        for t in targets:
            d_out, d_in = bert.encoder.layer[i].get_parameter(f"{t}.weight").shape
            out[f"layer.{i}.{t}.lora_A"] = uniform((rank, d_in), 1 / math.sqrt(d_in), gen)
            out[f"layer.{i}.{t}.lora_B"] = torch.zeros(d_out, rank)
    return out


def with_lora(params: dict[str, Tensor], lora: dict[str, Tensor]) -> dict[str, Tensor]:
    """The top's parameters with each targeted weight replaced by ``W + B A``: same keys as ``params``.

    params: from :func:`top_params`; lora: from :func:`lora_params` (any subset of layers).
    """
    out = dict(params)
    for name in lora:
        if name.endswith(".lora_A"):
            base = name[: -len(".lora_A")]
            if f"{base}.weight" not in out:
                raise ValueError(f"low-rank factors for {base}, which is not among the top's parameters")
            out[f"{base}.weight"] = out[f"{base}.weight"] + lora[f"{base}.lora_B"] @ lora[name]
    return out
