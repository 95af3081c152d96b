"""An embedder that remembers the vectors of recent texts.

Customers repeat themselves ("hi", "thanks", "where is my order?"), knowledge-base passages and intent examples
are embedded again at every retraining, and one sentence costs ~20 ms of CPU on the e5 engine. The engines are
deterministic, and batch-independent to within 1e-5 (tests/features/text/test_embedder.py), so a remembered vector
is the vector the engine would give again. ``CachedEmbedder`` wraps any :class:`~features.text.embedder.Embedder`, keeps the
``max_entries`` most recently used (kind, text) pairs (~1.5 KB each at 384 dimensions) and hands the engine only
the distinct texts it has not seen, once each, in one call.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from features.text.embedder import Embedder, _clean_texts

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """``inner`` behind a least-recently-used cache of ``max_entries`` vectors; the Embedder contract holds.

    Returned arrays are fresh copies, so a caller that writes into its result cannot change the cache. The cache
    lock is never held while the engine runs: two threads missing the same text may both embed it (same vector).
    """

    def __init__(self, inner: Embedder, max_entries: int = 10_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_entries = max_entries
        self._vectors: OrderedDict[tuple[bool, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=False)

    def __len__(self) -> int:
        return len(self._vectors)

    def __getattr__(self, name: str) -> Any:
        # Engine details (num_threads, model_path) read through; only called for names not set above.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, max_entries={self.max_entries})"

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        items = _clean_texts(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(items):
                vector = self._vectors.get((is_query, text))
                if vector is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._vectors.move_to_end((is_query, text))
                    out[i] = vector
            self.hits += len(items) - len(missing)      # a repeat within the call is a hit too
            self.misses += len(missing)
        if missing:
            todo = list(missing)
            fresh = self.inner.embed_queries(todo) if is_query else self.inner.embed_passages(todo)
            with self._lock:
                for text, vector in zip(todo, fresh):
                    out[missing[text]] = vector
                    self._vectors[(is_query, text)] = np.array(vector, dtype=np.float32, copy=True)
                    self._vectors.move_to_end((is_query, text))
                while len(self._vectors) > self.max_entries:
                    self._vectors.popitem(last=False)
        return out
