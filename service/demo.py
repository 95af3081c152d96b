"""``kefu demo``: a believable shop, stored, profiled and ready to serve, from one command."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from features.demo.simulator import simulate_shop
from features.ingest.events import to_naive_utc
from service.auth import SCOPES, create_api_key

BATCH = 2000


def _parse(ts: str | None) -> datetime | None:
    return to_naive_utc(datetime.fromisoformat(ts)) if ts else None


def load_shop_into(state, n_customers: int, seed: int, echo: Callable[[str], None] = print) -> dict:
    """Simulate the shop and store it; returns counts. Idempotent: a second run stores nothing twice."""
    # The history ends today, so events sent now continue it (windows count back from the newest event).
    today = datetime.now(timezone.utc).date()
    months_back = today.year * 12 + today.month - 1 - 6
    start = today.replace(year=months_back // 12, month=months_back % 12 + 1, day=min(today.day, 28)).isoformat()
    shop = simulate_shop(seed=seed, n_customers=n_customers, start=start)
    store = state.store
    customers = [{**c, "signup_at": _parse(c.get("signup_at"))} for c in shop.customers]
    store.upsert_customers(customers)
    store.upsert_items(shop.items)
    echo(f"simulated {len(shop.customers)} customers, {len(shop.items)} items, {len(shop.events)} events")
    ingestor = state.extras["ingestor"]
    accepted = duplicates = 0
    with tqdm(total=len(shop.events), unit="events", desc="ingest demo events", file=sys.stderr) as bar:
        for start in range(0, len(shop.events), BATCH):
            batch = [{**e, "timestamp": _parse(e["timestamp"])} for e in shop.events[start : start + BATCH]]
            outcome = ingestor.ingest(batch, refresh_profiles=False)
            accepted += outcome.accepted
            duplicates += outcome.duplicates
            bar.update(len(batch))
    return {"accepted": accepted, "duplicates": duplicates, "shop": shop}


def prepare_demo(n_customers: int = 2000, seed: int = 7, echo: Callable[[str], None] = print):
    from service.app import create_app

    app = create_app()
    state = app.extensions["kefu"]
    counts = load_shop_into(state, n_customers, seed, echo)
    echo(f"stored {counts['accepted']} new events ({counts['duplicates']} already there)")
    with tqdm(unit="customers", desc="build profiles", file=sys.stderr) as bar:
        stats = state.extras["profiles"].rebuild_all(progress=bar.update)
    echo(f"{stats.customers} profiles built in {stats.seconds:.1f}s; segments: "
         + ", ".join(f"{k} {v}" for k, v in stats.segments.items()))

    keys = {scope: create_api_key(state.store, [scope], name=f"demo {scope}") for scope in SCOPES}
    key_file = Path(state.settings.data_dir) / "demo-keys.json"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(keys, indent=2))
    os.chmod(key_file, 0o600)

    shop = counts["shop"]
    chatty = next((e["customer_id"] for e in shop.events if e["type"] == "chat_message"), shop.customers[0]["customer_id"])
    item = shop.items[0]["item_id"]

    def example(base: str) -> list[str]:
        event = json.dumps({"events": [{"event_id": "try-1", "type": "view", "customer_id": chatty, "item_id": item}]})
        return [
            f"curl -s {base}/readyz",
            f"curl -s -H 'Authorization: Bearer {keys['profiles']}' {base}/v1/customers/{chatty}/profile",
            f"curl -s -X POST -H 'Authorization: Bearer {keys['events']}' -H 'Content-Type: application/json' "
            f"-d '{event}' {base}/v1/events",
            f"curl -s -H 'Authorization: Bearer {keys['profiles']}' {base}/v1/profiles/features",
        ]

    return keys, example
