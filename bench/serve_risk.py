"""POST /v1/risk/scores under gunicorn (2 sync workers) against a hello-world Flask app served the same way.

    python bench/serve_risk.py [--data ../shared/data] [--duration 15] [--rounds 3] [--connections 16]
    python bench/serve_risk.py --set KEFU_RISK_HISTORY_CACHE=0 --set KEFU_FAST_LANE=0    # kefu's settings changed
    python bench/serve_risk.py --rules 20     # each model with 20 decision rules that are checked on every case

Needs `wrk` (Debian package). Trains the table model `taiwan` (Taiwan default, shared data) and, on a demo shop,
the behavioural model `transactions`; then loads each endpoint with wrk at 1 and 16 connections. Every score
includes auth, validation, the model lookup, the score, LightGBM reasons and the audit row; the behavioural
one also reads the customer's history and computes its features. Result: requests/s, latency percentiles, and
the ratio to hello-world in the same run.

These machines are shared, so the load from others changes within a run. Both servers stay up and the three
endpoints are measured in turn, `--rounds` times: hello, table, behavioural, hello, ... Each figure is the median
over the rounds, and the ratio to hello-world is the median of the per-round ratios (each ratio compares runs
seconds apart). The load average before and after is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result, wrk  # noqa: E402
from bench.ingest_http import wait_ready  # noqa: E402
from bench import risk_cases  # noqa: E402

def serve(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port) if "kefu" in " ".join(cmd) or "service.cli" in " ".join(cmd) else time.sleep(3)
    except BaseException:                  # a server that never became ready must not outlive the run (and its port)
        proc.terminate(), proc.wait()
        raise
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="hello/table/behavioural measured in turn, this many times")
    parser.add_argument("--cases", type=int, default=100, help="distinct request bodies per endpoint, sent in turn")
    parser.add_argument("--data-dir", type=Path, help="reuse a KEFU_DATA_DIR prepared by an earlier run")
    parser.add_argument("--set", action="append", default=[], metavar="KEFU_X=VALUE",
                        help="a setting for the kefu server (not hello-world), e.g. KEFU_RISK_HISTORY_CACHE=0")
    parser.add_argument("--rules", type=int, default=0,
                        help="store this many decision rules per model, each with two conditions on the score "
                             "(the first always met, the second never), so every case evaluates them all")
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)

    data_dir = str(args.data_dir or tempfile.mkdtemp(prefix="kefu-bench-risk-"))
    env = {**os.environ, "KEFU_DATA_DIR": data_dir, "KEFU_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    py = sys.executable
    run = lambda *a: subprocess.run([py, "-m", "service.cli.main", *a], env=env, capture_output=True, text=True, check=True).stdout  # noqa: E731
    risk_cases.prepare(Path(data_dir), args.data)
    key = run("keys", "create", "--scope", "risk").strip()
    table_bodies, tx_bodies = risk_cases.bodies(args.data, args.cases)
    if args.rules:
        from features.storage.engine import make_engine
        from features.storage.risk_rules import RiskRuleStore

        os.environ["KEFU_DATA_DIR"] = data_dir
        from service.config import settings_from_env

        rules = RiskRuleStore(make_engine(settings_from_env().resolved_database_url))
        names = [f"bench-{model}-{i}" for model in ("taiwan", "transactions") for i in range(args.rules)]
        for name in names:
            rules.put(name, name.split("-")[1], [{"field": "score", "op": ">=", "value": 0.0},
                                                 {"field": "score", "op": ">", "value": 2.0}],
                      "review", reason="benchmark: never matches")
    results: dict[str, Any] = {"settings": settings, "rules_per_model": args.rules,
                               "load_average_before": os.getloadavg()}
    targets = {"hello": ("http://127.0.0.1:8792/hello", ["{}"]),
               "score_table": ("http://127.0.0.1:8793/v1/risk/scores", table_bodies),
               "score_transaction": ("http://127.0.0.1:8793/v1/risk/scores", tx_bodies)}
    runs: dict[str, list[dict]] = {}
    servers: list[subprocess.Popen] = []
    try:
        servers.append(serve([py, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:8792", "--chdir",
                              str(Path(__file__).parent), "hello_app:app"], env, 8792))
        servers.append(serve([py, "-m", "service.cli.main", "serve", "--port", "8793", "--workers", "2"],
                             {**env, **settings}, 8793))
        for name, (url, bodies) in targets.items():                      # warm-up: caches, first-use compiles
            wrk(url, bodies, key, 2, 2)
        for c in (1, args.connections):
            for _ in range(args.rounds):
                for name, (url, bodies) in targets.items():
                    runs.setdefault(f"{name}_c{c}", []).append(wrk(url, bodies, key, c, args.duration))
    finally:
        for proc in servers:
            proc.terminate(), proc.wait()
        if args.rules:                                   # a reused --data-dir serves without them next time
            for name in names:
                rules.delete(name)
    results["load_average_after"] = os.getloadavg()
    for label, measured in runs.items():
        results[label] = {k: statistics.median(r[k] for r in measured) for k in ("rps", "p50_ms", "p99_ms", "non_2xx")}
        results[label]["rounds"] = measured
    for c in (1, args.connections):
        hello_rounds = runs[f"hello_c{c}"]
        for name in ("score_table", "score_transaction"):
            ratios = [r["rps"] / h["rps"] for r, h in zip(runs[f"{name}_c{c}"], hello_rounds)]
            results[f"{name}_ratio_to_hello_c{c}"] = round(statistics.median(ratios), 3)
    print_table([(k, json.dumps({kk: vv for kk, vv in v.items() if kk != "rounds"}) if isinstance(v, dict) else json.dumps(v))
                 for k, v in results.items()])
    print("written", write_result("serve_risk", {"command": " ".join(sys.argv), **results}))


if __name__ == "__main__":
    main()
