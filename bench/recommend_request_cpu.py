"""CPU cost of one POST /v1/recommendations on all of Ta-Feng, in process: no server, no load generator.

    python bench/recommend_request_cpu.py --data-dir DIR [--requests 600] [--rounds 3] [--profile]
    python bench/recommend_request_cpu.py --data-dir DIR --instructions [--requests 100]   # valgrind; ~10 minutes

DIR is a KEFU_DATA_DIR with Ta-Feng ingested and a recommender trained (bench/serve_recommend.py leaves one in
/tmp as kefu-bench-rec-*); without --data-dir one is prepared the same way (`kefu ingest`, `kefu train`: minutes).
The request bodies are serve_recommend's (200 customers with purchases, k=10), called through ``app.wsgi_app``
as bench/risk_request_cpu.py does, so the figures are the app's own work (routing, auth, validation, the store
reads, candidates, features, scoring, rules, JSON) without gunicorn's HTTP parsing.

It reports the median thread CPU time of one request per round and the median over rounds; ``--profile`` then
runs cProfile over the requests and prints the top functions by own time. ``--instructions`` counts
instructions per request under callgrind instead (see bench/risk_request_cpu.py for why: no neighbour on these
shared machines changes them); ``REPO=<another checkout>`` in the environment measures that tree's code on the
same data, for a before/after ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(os.environ.get("REPO", Path(__file__).resolve().parents[1])).resolve()
sys.path.insert(0, str(ROOT))

from bench.common import DEFAULT_DATA, print_table, spread_buyers, write_result  # noqa: E402
from bench.risk_request_cpu import callgrind_totals, caller, environs, in_callback, measure, profile  # noqa: E402


def prepare(data_dir: Path, data: Path) -> None:
    """Ta-Feng ingested and a recommender trained in ``data_dir``, unless a model is already there."""
    if (data_dir / "models" / "recommend" / "CURRENT").exists():
        return
    env = {**os.environ, "KEFU_DATA_DIR": str(data_dir), "KEFU_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    for args in (["ingest", str(data / "recommend/ta-feng/ta_feng.csv.zip"), "--mapping", "ta-feng"],
                 ["train", "recommender"]):
        subprocess.run([sys.executable, "-m", "service.cli.main", *args], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)


def count_instructions(args) -> float:
    total, = callgrind_totals([__file__, "--under-callgrind", "--data-dir", str(args.data_dir),
                               "--requests", str(args.requests), "--warmup", str(args.warmup)])
    return total / args.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--data-dir", type=Path, help="a KEFU_DATA_DIR with Ta-Feng and a trained recommender")
    parser.add_argument("--requests", type=int, help="measured requests per round (600; 100 counted)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind (callgrind)")
    parser.add_argument("--under-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    args.data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="kefu-bench-rec-cpu-"))).resolve()
    prepare(args.data_dir, args.data)
    args.requests = args.requests or (100 if args.instructions or args.under_callgrind else 600)
    if args.instructions:
        per_request = count_instructions(args)
        results = {"data_dir": str(args.data_dir), "code": str(ROOT), "requests": args.requests,
                   "instructions_per_request": round(per_request)}
        print_table([(k, json.dumps(v)) for k, v in results.items()])
        print("written", write_result("recommend_request_instructions", {"command": " ".join(sys.argv), **results}))
        return
    os.environ.update(KEFU_DATA_DIR=str(args.data_dir), KEFU_LOG_LEVEL="WARNING", OMP_NUM_THREADS="1")

    from service.app import create_app
    from service.auth import create_api_key

    app = create_app()
    state = app.extensions["kefu"]
    key = create_api_key(state.store, ["recommendations"], name="bench recommend_request_cpu")
    customers = spread_buyers(state.store, 200)                                            # as serve_recommend
    call = caller(app, environs("/v1/recommendations", [json.dumps({"customer_id": c, "k": 10}) for c in customers],
                                key))
    if args.under_callgrind:
        for i in range(args.warmup):
            call(i)

        def work() -> None:
            for i in range(args.requests):
                call(i)

        in_callback(work)
        return

    runs = [measure(call, args.requests, args.warmup) for _ in range(args.rounds)]
    results = {"data_dir": str(args.data_dir), "code": str(ROOT), "requests": args.requests, "rounds": args.rounds,
               "load_average": os.getloadavg(),
               **{k: statistics.median(r[k] for r in runs) for k in runs[0]},
               "thread_cpu_ms_p50_per_round": [r["thread_cpu_ms_p50"] for r in runs]}
    print_table([(k, json.dumps(v)) for k, v in results.items()])
    print("written", write_result("recommend_request_cpu", {"command": " ".join(sys.argv), **results}))
    if args.profile:
        print(f"\n--- cProfile: {args.requests} requests, by own time ---")
        print(profile(call, args.requests, args.top))


if __name__ == "__main__":
    main()
