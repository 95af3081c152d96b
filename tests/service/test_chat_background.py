"""The background profile refresh used by chat: delayed, coalescing, flushable, and never fatal."""
from __future__ import annotations

import threading
import time

from service.pipelines.chat import BackgroundRefresh


def test_customers_submitted_together_are_refreshed_in_one_batch():
    batches: list[set[str]] = []
    refresher = BackgroundRefresh(batches.append, delay_s=0.3)
    refresher.submit({"a"})
    refresher.submit({"b"})
    refresher.submit({"a", "c"})
    time.sleep(0.05)
    assert batches == []  # still waiting for more
    refresher.flush()
    assert batches == [{"a", "b", "c"}]


def test_flush_does_not_wait_for_the_delay():
    done = threading.Event()
    refresher = BackgroundRefresh(lambda _: done.set(), delay_s=60.0)
    refresher.submit({"a"})
    started = time.monotonic()
    refresher.flush(timeout=10.0)
    assert done.is_set() and time.monotonic() - started < 5.0


def test_a_failing_refresh_is_logged_and_the_next_one_still_runs(caplog):
    calls: list[set[str]] = []

    def refresh(customers: set[str]) -> None:
        calls.append(customers)
        if len(calls) == 1:
            raise RuntimeError("database went away")

    refresher = BackgroundRefresh(refresh, delay_s=0.0)
    refresher.submit({"a"})
    refresher.flush()
    refresher.submit({"b"})
    refresher.flush()
    assert calls == [{"a"}, {"b"}]
    assert "background profile refresh failed" in caplog.text
