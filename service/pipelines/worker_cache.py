"""A table each worker keeps in memory and reads again at most every ``ttl`` seconds.

Block and allow lists, decision rules and scheduled promotions change rarely and are read on every request, so
each worker holds its own copy: a change made through a worker applies there at once (``forget``), and in the
other workers within ``ttl`` seconds, without any message between them.
"""
from __future__ import annotations

import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class WorkerCache(Generic[T]):
    def __init__(self, ttl: float, ticker: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.ticker = ticker                            # seconds, for the ttl (a test's own clock)
        self._value: T | None = None
        self._read_at = 0.0

    def _read(self) -> T:
        """The table as the store holds it now, in the form the subclass asks it in."""
        raise NotImplementedError

    def forget(self) -> None:
        self._value = None

    def cached(self) -> T:
        value, now = self._value, self.ticker()
        if value is None or now - self._read_at > self.ttl:
            value = self._read()
            self._value, self._read_at = value, now
        return value
