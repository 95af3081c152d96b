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


def train_transactions_model(state, echo: Callable[[str], None] = print, name: str = "transactions") -> str | None:
    """Train the behavioural fraud model on the stored, labelled payments (features as of each payment).

    A shop too small to hold fraud in every time slice cannot train it: that is said, not raised.
    """
    from features.transactions import labelled_transactions
    from models.risk.job import train_and_register

    frame = labelled_transactions(state.store)
    try:
        with tqdm(total=1, desc="train risk model 'transactions'", file=sys.stderr) as bar:
            trained = train_and_register(
                frame, registry=state.extras["registry"], name=name, label="is_fraud", time_column="ts",
                report_root=Path(state.settings.data_dir) / "reports", kind="risk_transactions", source="demo payments",
            )
            bar.update(1)
    except ValueError as exc:
        echo(f"risk model '{name}' not trained: {exc} (simulate a larger shop with --customers)")
        return None
    m = trained.result.metrics["kefu"]
    echo(f"risk model '{name}' {trained.version.version}: test ROC-AUC {m['roc_auc']:.3f}, PR-AUC {m['pr_auc']:.3f} "
         f"on {len(frame)} payments; report {trained.report}")
    return name


def train_recommender_model(state, echo: Callable[[str], None] = print) -> str | None:
    """Train the recommender on the demo shop's events (time split) and publish it."""
    from service.pipelines.recommend import train_and_register

    try:
        with tqdm(desc="train recommender", unit="step", file=sys.stderr) as bar:
            version = train_and_register(state, progress=lambda message: bar.update(1))
    except ValueError as exc:
        echo(f"recommender not trained: {exc}")
        return None
    echo(f"recommender {version.version}: validation NDCG@10 {version.metrics.get('valid_ndcg_at_10')}")
    return version.version


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

    trained = train_transactions_model(state, echo)
    recommender = train_recommender_model(state, echo)
    from models.chat.jobs import setup_demo_chat_models

    setup_demo_chat_models(state.extras["registry"], state.embedder, echo, only_missing=True)

    keys = {scope: create_api_key(state.store, [scope], name=f"demo {scope}") for scope in SCOPES}
    key_file = Path(state.settings.data_dir) / "demo-keys.json"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(keys, indent=2))
    os.chmod(key_file, 0o600)

    shop = counts["shop"]
    chatty = next((e["customer_id"] for e in shop.events if e["type"] == "chat_message"), shop.customers[0]["customer_id"])
    item = shop.items[0]["item_id"]

    risk_case = json.dumps({"model": trained, "customer_id": chatty, "transaction": {
        "amount": 899.0, "currency": "USD", "device_id": "new-device-1", "ip": "198.51.100.7", "country": "BR"}})

    rule = json.dumps({"model": trained, "when": [{"field": "amount", "op": ">", "value": 500}],
                       "action": "review", "reason": "large payment"})

    featured = next((i["category"] for i in shop.items if i["category"] != "toys"), None)
    rec_case = json.dumps({"customer_id": chatty, "k": 5, "filters": {"exclude_categories": ["toys"]},
                           **({"promotion": {"name": "Spring sale", "categories": [featured], "share": 0.4}}
                              if featured else {})})
    buyers = {e["customer_id"] for e in shop.events if e["type"] == "purchase"}
    speaker = {lang: next((c["customer_id"] for c in shop.customers
                           if c.get("language") == lang and c["customer_id"] in buyers), chatty) for lang in ("en", "zh")}
    chats = [json.dumps({"customer_id": speaker["en"], "message": "Where is my order?"}),
             json.dumps({"customer_id": speaker["zh"], "message": "我的订单到哪了？"}, ensure_ascii=False),
             json.dumps({"customer_id": speaker["en"], "message": "Can you recommend something for me?", "stream": True})]
    completion = json.dumps({"model": "kefu", "user": speaker["en"], "messages": [
        {"role": "user", "content": "How do I return an item?"}]})

    def example(base: str) -> list[str]:
        event = json.dumps({"events": [{"event_id": "try-1", "type": "view", "customer_id": chatty, "item_id": item}]})
        risk = [
            f"curl -s -X PUT -H 'Authorization: Bearer {keys['risk']}' -H 'Content-Type: application/json' "
            f"-d '{rule}' {base}/v1/risk/rules/large-payment",
            f"curl -s -X POST -H 'Authorization: Bearer {keys['risk']}' -H 'Content-Type: application/json' "
            f"-d '{risk_case}' {base}/v1/risk/scores",
            f"curl -s -H 'Authorization: Bearer {keys['risk']}' '{base}/v1/risk/reviews?decisions=review,decline'",
            f"curl -s -H 'Authorization: Bearer {keys['risk']}' '{base}/v1/risk/rules/large-payment/backtest?days=7'",
            f"curl -s -H 'Authorization: Bearer {keys['risk']}' {base}/v1/customers/{chatty}/risk",
            f"curl -s -H 'Authorization: Bearer {keys['risk']}' {base}/v1/risk/models/transactions/monitoring",
        ] if trained else []
        return [
            f"curl -s {base}/readyz",
            f"curl -s -H 'Authorization: Bearer {keys['profiles']}' {base}/v1/customers/{chatty}/profile",
            f"curl -s -X POST -H 'Authorization: Bearer {keys['events']}' -H 'Content-Type: application/json' "
            f"-d '{event}' {base}/v1/events",
            *risk,
            *([f"curl -s -X POST -H 'Authorization: Bearer {keys['recommendations']}' -H 'Content-Type: application/json' "
               f"-d '{rec_case}' {base}/v1/recommendations",
               f"curl -s -H 'Authorization: Bearer {keys['recommendations']}' {base}/v1/items/{item}/similar?k=5",
               f"curl -s -H 'Authorization: Bearer {keys['recommendations']}' '{base}/v1/items/popular?k=5'",
               f"curl -s -H 'Authorization: Bearer {keys['recommendations']}' {base}/v1/recommendations/performance"]
              if recommender else []),
            *[f"curl -s -X POST -H 'Authorization: Bearer {keys['chat']}' -H 'Content-Type: application/json' "
              f"-d '{c}' {base}/v1/chat" for c in chats],
            f"curl -s -X POST -H 'Authorization: Bearer {keys['chat']}' -H 'Content-Type: application/json' "
            f"-d '{completion}' {base}/v1/chat/completions",
            f"curl -s -H 'Authorization: Bearer {keys['admin']}' {base}/v1/models",
            f"curl -s -H 'Authorization: Bearer {keys['metrics']}' {base}/metrics",
        ]

    return keys, example
