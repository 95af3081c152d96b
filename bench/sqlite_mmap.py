"""The behavioural risk score with and without SQLite's memory map (``KEFU_SQLITE_MMAP_MB``): CPU and memory.

    python bench/sqlite_mmap.py [--data ../shared/data] [--data-dir DIR] [--rounds 2] [--mmap-mb 256]

Each score reads the customer's history from SQLite, and every audit commit makes the reading connection drop its
page cache; without the map the pages come back through ``pread`` copies. Each run is a fresh process (so its
memory is its own) that builds the app, scores every customer of the demo shop twice through WSGI (the
``transactions`` model, one payment each, bodies as bench/risk_cases.py makes them), and reports the process
CPU time per score and how much its resident memory grew, split into anonymous memory and mapped file pages
(``/proc/self/status``: RssAnon, RssFile). Runs alternate, map off then on, ``--rounds`` times; figures are
medians. The data folder is prepared as bench/serve_risk.py does; ``--data-dir`` reuses one.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result  # noqa: E402
from bench import risk_cases  # noqa: E402


def _memory_kib() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0])
    return out


def one_run(data: Path, data_dir: Path) -> dict:
    """In this process (KEFU_SQLITE_MMAP_MB already set): score every demo customer twice."""
    import sqlite3

    from bench.risk_request_cpu import caller, environs
    from service.app import create_app
    from service.auth import create_api_key

    os.environ.update(KEFU_DATA_DIR=str(data_dir), KEFU_LOG_LEVEL="WARNING", OMP_NUM_THREADS="1")
    app = create_app()
    key = create_api_key(app.extensions["kefu"].store, ["risk"], name="bench sqlite_mmap")
    with sqlite3.connect(data_dir / "kefu.db") as conn:
        customers = [r[0] for r in conn.execute("SELECT DISTINCT customer_id FROM events ORDER BY customer_id")]
    template = json.loads(risk_cases.bodies(data, 1)[1][0])
    bodies = [json.dumps({**template, "customer_id": c}) for c in customers]
    call = caller(app, environs("/v1/risk/scores", bodies, key))
    for i in range(100):
        call(i)
    before = _memory_kib()
    started = time.process_time()
    for i in range(2 * len(bodies)):
        if call(i) != 200:
            raise SystemExit(f"score {i} failed")
    cpu_ms = (time.process_time() - started) / (2 * len(bodies)) * 1e3
    after = _memory_kib()
    app.extensions["kefu"].extras["risk_audit"].flush()
    return {"customers": len(customers), "cpu_ms_per_score": round(cpu_ms, 4),
            **{f"{k}_growth_mib": round((after[k] - before[k]) / 1024, 1) for k in after}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--data-dir", type=Path, help="reuse a KEFU_DATA_DIR prepared by an earlier run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--mmap-mb", type=int, default=256)
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="kefu-bench-mmap-"))).resolve()
    if args.one_run:
        print(json.dumps(one_run(args.data, data_dir)))
        return
    risk_cases.prepare(data_dir, args.data)
    runs: dict[int, list[dict]] = {0: [], args.mmap_mb: []}
    for _ in range(args.rounds):
        for mb in runs:
            env = {**os.environ, "KEFU_SQLITE_MMAP_MB": str(mb)}
            done = subprocess.run([sys.executable, __file__, "--one-run", "--data", str(args.data), "--data-dir",
                                   str(data_dir)], env=env, capture_output=True, text=True, check=True)
            runs[mb].append(json.loads(done.stdout.strip().splitlines()[-1]))
    result: dict = {"data_dir": str(data_dir), "rounds": args.rounds, "customers": runs[0][0]["customers"]}
    for mb, measured in runs.items():
        result[f"mmap_{mb}_mib"] = {k: statistics.median(r[k] for r in measured)
                                    for k in measured[0] if k != "customers"}
    result["cpu_with_map_over_without"] = round(result[f"mmap_{args.mmap_mb}_mib"]["cpu_ms_per_score"]
                                                / result["mmap_0_mib"]["cpu_ms_per_score"], 3)
    print_table([(k, json.dumps(v)) for k, v in result.items()])
    print("written", write_result("sqlite_mmap", {"command": " ".join(sys.argv), **result}))


if __name__ == "__main__":
    main()
