"""Cost of writing risk audit rows, by the kind of score id: random (version 4) against time-ordered (version 7).

    python bench/audit_insert.py [--existing 200000] [--rows 4000] [--batches 1 100 400] [--rounds 3]
                                 [--synchronous FULL] [--database-url URL]

Each score's id goes into the audit table's unique index. The script builds kefu's schema in a fresh SQLite file
(or the database at ``--database-url``), fills the table with ``--existing`` rows, then writes ``--rows`` more
through the service's own path (``RiskAuditStore.record_tuples``: one transaction and one ``executemany`` per
batch, as ``BufferedAuditWriter`` flushes), once with ``uuid.uuid4().hex`` ids and once with
``service.ids.uuid7_hex`` ids, alternating, ``--rounds`` times. The rows are copies of one real score request's
audit row (23 features, 5 reasons). Result: process CPU time (user + system: SQLite's page writes are system
time, which an instruction count misses) and wall time per row, medians over the rounds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, write_result  # noqa: E402
from features.storage.engine import make_engine  # noqa: E402
from features.storage.migrate import upgrade  # noqa: E402
from features.storage.risk_audit import RiskAuditStore, audit_tuple  # noqa: E402
from service.ids import uuid7_hex  # noqa: E402

FEATURES = {f"PAY_AMT{i}": 1234.5 * i for i in range(1, 7)} | {f"BILL_AMT{i}": 4321.0 * i for i in range(1, 7)} | {
    f"PAY_{i}": float(i % 3) for i in range(0, 7)} | {"LIMIT_BAL": 50000.0, "SEX": 2.0, "EDUCATION": 2.0,
                                                     "MARRIAGE": 1.0}
REASONS = [{"feature": f"PAY_{i}", "value": float(i), "contribution": 0.1 * i, "direction": "raises"}
           for i in range(5)]


def audit_row(score_id: str, i: int) -> tuple:
    return audit_tuple({"score_id": score_id, "model": "taiwan", "model_version": "20261129T124330Z-aceb0d",
                        "customer_id": f"c{i % 5000:05d}", "transaction_id": None, "score": 0.2, "decision": "approve",
                        "reasons": REASONS, "features": FEATURES, "request_id": uuid7_hex()})


def write(audit: RiskAuditStore, ids, n: int, batch: int, start: int) -> tuple[float, float]:
    rows = [audit_row(ids(), start + i) for i in range(n)]
    cpu, wall = time.process_time(), time.perf_counter()
    for k in range(0, n, batch):
        audit.record_tuples(rows[k:k + batch])
    return (time.process_time() - cpu) / n * 1e3, (time.perf_counter() - wall) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--existing", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100, 400])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--synchronous", default="FULL", help="SQLite's synchronous setting (KEFU_SQLITE_SYNCHRONOUS)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kefu-audit-") as folder:
        url = args.database_url or f"sqlite:///{folder}/kefu.db"
        engine = make_engine(url, sqlite_synchronous=args.synchronous)
        upgrade(engine)
        audit = RiskAuditStore(engine)
        random_ids = lambda: uuid.uuid4().hex  # noqa: E731
        for k in range(0, args.existing, 10_000):                      # the history: ids as the old code made them
            audit.record_tuples([audit_row(random_ids(), k + i) for i in range(min(10_000, args.existing - k))])
        result: dict = {"database": engine.dialect.name, "existing_rows": args.existing, "rows": args.rows,
                        "synchronous": args.synchronous}
        done = args.existing
        for batch in args.batches:
            samples: dict[str, list[tuple[float, float]]] = {"uuid4": [], "uuid7": []}
            for _ in range(args.rounds):
                for name, ids in (("uuid4", random_ids), ("uuid7", uuid7_hex)):
                    samples[name].append(write(audit, ids, args.rows, batch, done))
                    done += args.rows
            for name, runs in samples.items():
                result[f"batch_{batch}_{name}"] = {
                    "cpu_ms_per_row": round(statistics.median(r[0] for r in runs), 4),
                    "wall_ms_per_row": round(statistics.median(r[1] for r in runs), 4)}
            result[f"batch_{batch}_uuid4_over_uuid7_cpu"] = round(
                result[f"batch_{batch}_uuid4"]["cpu_ms_per_row"] / result[f"batch_{batch}_uuid7"]["cpu_ms_per_row"], 2)
        engine.dispose()
    print_table([(k, str(v)) for k, v in result.items()])
    write_result("audit_insert", result)


if __name__ == "__main__":
    main()
