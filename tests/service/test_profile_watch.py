"""`kefu profiles refresh --watch`: the process `kefu serve` runs to refresh profiles outside the web workers."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta


def test_the_watcher_refreshes_dirty_profiles_until_stopped(app):
    from service.profile_watch import watch_dirty_profiles

    state = app.extensions["kefu"]
    store, profiles = state.store, state.extras["profiles"]
    store.insert_events([{"event_id": "w1", "type": "purchase", "customer_id": "cw", "item_id": "i1", "order_id": "o1",
                          "ts": datetime.utcnow() - timedelta(hours=1), "quantity": 1.0, "amount": 9.5,
                          "currency": "USD"}])
    assert [c for c, _ in store.dirty_customers()] == ["cw"] and store.get_profile("cw") is None
    stop = threading.Event()
    watcher = threading.Thread(target=watch_dirty_profiles, args=(profiles, 0.05, stop))
    watcher.start()
    try:
        deadline = time.monotonic() + 30
        while store.dirty_customers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.dirty_customers() == []
        assert store.get_profile("cw")["features"]["orders_total"] == 1
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not watcher.is_alive()


def test_external_refresh_leaves_chat_profiles_to_the_watcher(database_url, tmp_path, embedder):
    from service.app import create_app

    app = create_app({"database_url": database_url, "data_dir": str(tmp_path), "log_level": "WARNING",
                      "chat_profile_refresh": "external"}, embedder=embedder)
    assert app.extensions["kefu"].extras["chat"].after_store is None
    app.extensions["kefu"].store.engine.dispose()
