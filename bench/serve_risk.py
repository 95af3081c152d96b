"""POST /v1/risk/scores under gunicorn (2 sync workers) against a hello-world Flask app served the same way.

    python bench/serve_risk.py [--data ../shared/data] [--duration 15] [--connections 16]

Needs `wrk` (Debian package). Trains the table model `taiwan` (Taiwan default, shared data) and, on a demo shop,
the behavioural model `transactions`; then loads each endpoint with wrk at 1 and 16 connections. Every score
includes auth, validation, the model lookup, the score, LightGBM reasons and the audit row; the behavioural
one also reads the customer's history and computes its features. Result: requests/s, latency percentiles, and
the ratio to hello-world in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result, wrk  # noqa: E402
from bench.ingest_http import wait_ready  # noqa: E402

def serve(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port) if "kefu" in " ".join(cmd) or "service.cli" in " ".join(cmd) else time.sleep(3)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="kefu-bench-risk-")
    env = {**os.environ, "KEFU_DATA_DIR": data_dir, "KEFU_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    py = sys.executable
    run = lambda *a: subprocess.run([py, "-m", "service.cli.main", *a], env=env, capture_output=True, text=True, check=True).stdout  # noqa: E731
    run("demo", "--no-serve", "--customers", "2000")
    run("train", "risk", "--name", "taiwan", "--data", str(args.data / "risk/taiwan-default/UCI_Credit_Card.csv"),
        "--label", "default.payment.next.month", "--id-column", "ID")
    key = run("keys", "create", "--scope", "risk").strip()
    import pandas as pd

    row = pd.read_csv(args.data / "risk/taiwan-default/UCI_Credit_Card.csv").drop(columns=["ID", "default.payment.next.month"]).iloc[7]
    table_body = json.dumps({"model": "taiwan", "features": {k: float(v) for k, v in row.items()}, "customer_id": "c00001"})
    tx_body = json.dumps({"model": "transactions", "customer_id": "c00042",
                          "transaction": {"amount": 120.5, "device_id": "d-new", "ip": "203.0.113.5", "country": "US"}})

    results: dict[str, dict] = {}
    hello = serve([py, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:8792", "--chdir", str(Path(__file__).parent), "hello_app:app"], env, 8792)
    try:
        for c in (1, args.connections):
            results[f"hello_c{c}"] = wrk("http://127.0.0.1:8792/hello", ["{}"], "x", c, args.duration)
    finally:
        hello.terminate(), hello.wait()
    kefu = serve([py, "-m", "service.cli.main", "serve", "--port", "8793", "--workers", "2"], env, 8793)
    try:
        for name, body in (("score_table", table_body), ("score_transaction", tx_body)):
            for c in (1, args.connections):
                results[f"{name}_c{c}"] = wrk("http://127.0.0.1:8793/v1/risk/scores", [body], key, c, args.duration)
    finally:
        kefu.terminate(), kefu.wait()
    c = args.connections
    for name in ("score_table", "score_transaction"):
        results[f"{name}_ratio_to_hello_c{c}"] = round(results[f"{name}_c{c}"]["rps"] / results[f"hello_c{c}"]["rps"], 3)
    print_table([(k, json.dumps(v)) for k, v in results.items()])
    print("written", write_result("serve_risk", results))


if __name__ == "__main__":
    main()
