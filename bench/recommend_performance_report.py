"""How long GET /v1/recommendations/performance takes at its cap of 50,000 lists.

    python bench/recommend_performance_report.py [--lists 50000] [--customers 20000] [--events-per-customer 20]

A temporary SQLite store gets ``--lists`` served lists of 10 items (random customers and items from a
5,000-item catalogue, spread over 7 days) and, for every listed customer, ``--events-per-customer`` views and
purchases over the same days, some of them on shown items. The report (`service.pipelines.recommend_online`,
what the endpoint answers) is then computed three times; the median time is printed with the report's rates,
which are set by the simulation and say nothing about any model.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lists", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events-per-customer", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="kefu-perf-") as tmp:
        os.environ.update(KEFU_DATA_DIR=tmp, KEFU_LOG_LEVEL="WARNING")
        from features.storage.recommend_log import RecommendationLogStore
        from features.storage.store import utcnow
        from service.app import create_app
        from service.pipelines.recommend_online import performance_report

        state = create_app().extensions["kefu"]
        log_store = RecommendationLogStore(state.store.engine)
        now = utcnow()
        start = now - timedelta(days=7)
        sources = np.array(["repeat", "bought_together", "popular_segment", "user_knn", "similar_text"])
        customers = rng.integers(0, args.customers, args.lists)
        served_at = [start + (now - start) * float(x) for x in rng.random(args.lists)]
        items = rng.integers(0, 5_000, (args.lists, 10))
        rows = [(f"r{i}", f"c{customers[i]}", "v1", "personalised", None, [f"i{x}" for x in items[i]],
                 sources[rng.integers(0, len(sources), 10)].tolist(), None, served_at[i]) for i in range(args.lists)]
        t = time.perf_counter()
        for part in range(0, len(rows), 5_000):
            log_store.record(rows[part:part + 5_000])
        events, eid = [], 0
        shown_by_customer: dict[int, list[int]] = {}
        for c, row_items in zip(customers, items):
            shown_by_customer.setdefault(int(c), []).extend(row_items[:3].tolist())
        for c, shown in shown_by_customer.items():
            for j in range(args.events_per_customer):
                item = shown[j % len(shown)] if rng.random() < 0.3 else int(rng.integers(0, 5_000))
                kind = "purchase" if rng.random() < 0.3 else "view"
                ts = start + timedelta(seconds=float(rng.random() * 7 * 86_400))
                events.append({"event_id": f"e{eid}", "type": kind, "customer_id": f"c{c}", "item_id": f"i{item}",
                               "ts": ts, "quantity": 1.0 if kind == "purchase" else None,
                               "amount": 1.0 if kind == "purchase" else None})
                eid += 1
        for part in range(0, len(events), 20_000):
            state.store.insert_events([{**{k: None for k in ("order_id", "currency", "device_id", "ip", "country",
                                                               "status", "is_fraud")}, **e}
                                       for e in events[part:part + 20_000]], mark_dirty=False)
        load_s = time.perf_counter() - t
        log = state.extras["recommend_log"]
        times, report = [], None
        for _ in range(3):
            t = time.perf_counter()
            report = performance_report(log, days=7, window_days=7)
            times.append(time.perf_counter() - t)
    result = {"command": "python bench/recommend_performance_report.py " + " ".join(sys.argv[1:]),
              "lists": report["lists"], "customers": report["customers"], "events": len(events),
              "load_seconds": round(load_s, 1), "report_seconds_median": round(statistics.median(times), 3),
              "report_seconds": [round(x, 3) for x in times], "purchase_rate": report["purchase_rate"],
              "truncated": report["truncated"]}
    for k, v in result.items():
        print(f"{k:<24} {v}")
    write_result("recommend_performance_report", result)


if __name__ == "__main__":
    main()
