"""Per-app state, kept in ``app.extensions['kefu']`` (one per app, so tests can build many apps)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from features.storage.store import SqlStore
from service.auth import KeyVerifier
from service.config import Settings


@dataclass
class KefuState:
    settings: Settings
    store: SqlStore
    verifier: KeyVerifier
    embedder_factory: Callable[[], Any]
    extras: dict[str, Any] = field(default_factory=dict)
    _embedder: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def embedder(self):
        """The sentence embedder, loaded on first use (so a worker that never sees chat text never loads it)."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = self.embedder_factory()
        return self._embedder
