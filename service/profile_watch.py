"""Refresh dirty profiles in a loop, in a process of its own (``kefu profiles refresh --watch``).

``kefu serve`` starts one beside the gunicorn workers and sets ``KEFU_CHAT_PROFILE_REFRESH=external`` for them:
a profile rebuild costs ~70 ms of pandas however few customers it covers, and run in a web worker it held the
GIL in front of the next requests (the chat p99 at one connection was 131 ms with it, most of it that). The
``profile_dirty`` table, written in the same transaction as the events, is the queue.
"""
from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


def watch_dirty_profiles(profiles, interval_s: float = 1.0, stop: threading.Event | None = None) -> None:
    """Until ``stop`` is set (or SIGTERM/SIGINT arrives): refresh every dirty profile, then wait ``interval_s``."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        try:
            n = profiles.refresh_dirty()
            if n:
                log.info("refreshed %d dirty profiles", n)
        except Exception:  # noqa: BLE001 -- a database hiccup must not end the watcher; the marks stay
            log.exception("refreshing dirty profiles failed; retrying in %.1f s", interval_s)
        stop.wait(interval_s)
