"""The behavioural score's history read with and without the per-worker cache, and the cache's memory.

    python bench/history_cache.py --data-dir DIR [--rounds 3]
    python bench/history_cache.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB [--rounds 3]

DIR is a KEFU_DATA_DIR with the demo shop stored (bench/serve_risk.py or risk_request_cpu.py prepare one; or
`kefu demo --no-serve` with KEFU_DATA_DIR set). For every customer of the shop, in turn, it measures the CPU
time of getting a payment's features (a payment one hour after the shop's last event):

- whole: features.transactions.load_customer_history + payment_features (the path without the cache, and what
  a cache miss costs, PostgreSQL's path);
- miss: the cache's first read of the customer (the whole history, no end time);
- hit: the cache's later reads, when nothing was stored since (one query that returns only the signup time);

and the cache's memory per customer (tracemalloc, after every customer was read once). Medians over the
customers; CPU time of the calling thread, and wall time (on PostgreSQL the server's work and the round trip
are not the caller's CPU). `--database-url` reads a shop stored elsewhere (e.g. the demo built with
KEFU_DATABASE_URL set) instead of DIR's SQLite file.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, write_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path)
    where.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from sqlalchemy import func, select

    from features.history_cache import HistoryCache
    from features.storage import schema as s
    from features.storage.engine import make_engine
    from features.transactions import load_customer_history, payment_features

    engine = make_engine(args.database_url or f"sqlite:///{args.data_dir / 'kefu.db'}")
    with engine.connect() as conn:
        customers = list(conn.execute(select(s.customers.c.customer_id).order_by(s.customers.c.customer_id)).scalars())
        last = conn.execute(select(func.max(s.events.c.ts))).scalar_one()
        events = conn.execute(select(func.count()).select_from(s.events)).scalar_one()
    payment = {"ts": last + timedelta(hours=1), "amount": 42.0, "device_id": "bench-device", "country": "US"}

    runs: dict[str, list[float]] = {f"{name}_{clock}": [] for name in ("whole", "miss", "hit")
                                    for clock in ("ms", "wall_ms")}

    def timed(name: str, call) -> None:
        cpu, wall = time.thread_time(), time.perf_counter()
        call()
        runs[f"{name}_ms"].append((time.thread_time() - cpu) * 1000)
        runs[f"{name}_wall_ms"].append((time.perf_counter() - wall) * 1000)

    for _ in range(args.rounds):
        cache = HistoryCache(engine, max_customers=len(customers) + 1)
        for customer in customers:
            timed("whole", lambda: payment_features(load_customer_history(engine, customer, payment["ts"]), payment))
            timed("miss", lambda: cache.index(customer).features(payment))
            timed("hit", lambda: cache.index(customer).features(payment))

    tracemalloc.start()
    cache = HistoryCache(engine, max_customers=len(customers) + 1)
    for customer in customers:
        cache.index(customer)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    result = {"database": engine.dialect.name, "customers": len(customers), "events": events, "rounds": args.rounds,
              **{k: round(statistics.median(v), 4) for k, v in runs.items()},
              "bytes_per_customer": round(held / len(customers))}
    result["hit_over_whole"] = round(result["hit_ms"] / result["whole_ms"], 3)
    result["hit_over_whole_wall"] = round(result["hit_wall_ms"] / result["whole_wall_ms"], 3)
    print_table([(k, str(v)) for k, v in result.items()])
    print("written", write_result("history_cache", {"command": " ".join(sys.argv), **result}))
    engine.dispose()


if __name__ == "__main__":
    main()
