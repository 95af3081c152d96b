"""Recommendations on all of Ta-Feng, through the CLI and over HTTP (gunicorn, 2 sync workers).

    python bench/serve_recommend.py [--data ../shared/data] [--duration 15] [--connections 16] [--data-dir DIR]

Imports Ta-Feng with `kefu ingest --mapping ta-feng`, trains with `kefu train recommender` (timed), evaluates
with `kefu evaluate recommender` (last period held out, baselines in the same run), then loads
POST /v1/recommendations with wrk (Debian package) at 1 and --connections connections, cycling over customers
with history. Each answer reads the customer's fresh events, ranks ~600 candidates and applies the rules.

The goals are absolute (p50, p99, requests/s) and these machines' speed changes from day to day, so a
hello-world Flask app served the same way (bench/hello_app.py) is measured in the same run, after a short
warm-up of both servers, and each figure's ratio to it is recorded. `--data-dir DIR` keeps the imported shop
and model in DIR; a rerun with the same DIR skips import and training.

`--promotion-items N` schedules a promotion of N items (a fixed random draw of the catalogue, share 0.2) on the
api channel before serving, and measures two targets in the same run: `recommend` (the bodies say
`"promotion": null`, so no promotion) and `recommend_scheduled` (the same bodies without it, so the scheduled
promotion applies: all candidates ranked, the N items included).
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

from bench.common import DEFAULT_DATA, print_table, spread_buyers, write_result, wrk  # noqa: E402
from bench.ingest_http import wait_ready  # noqa: E402

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-evaluate", action="store_true", help="Leave out `kefu evaluate recommender` (serving only).")
    parser.add_argument("--data-dir", type=Path, help="keep the shop here; reused (no import, no training) if it has one")
    parser.add_argument("--promotion-items", type=int, default=0,
                        help="schedule a promotion of this many items and measure lists with and without it")
    args = parser.parse_args()
    data_dir = str(args.data_dir or tempfile.mkdtemp(prefix="kefu-bench-rec-"))
    reuse = args.data_dir is not None and (args.data_dir / "models").is_dir()
    env = {**os.environ, "KEFU_DATA_DIR": data_dir, "KEFU_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    py = sys.executable

    def kefu(*a: str) -> tuple[str, float]:
        started = time.perf_counter()
        out = subprocess.run([py, "-m", "service.cli.main", *a], env=env, capture_output=True, text=True, check=True).stdout
        return out, time.perf_counter() - started

    result: dict = {"load_average_before": os.getloadavg()}
    if not reuse:
        out, result["ingest_seconds"] = kefu("ingest", str(args.data / "recommend/ta-feng/ta_feng.csv.zip"),
                                             "--mapping", "ta-feng")
        result["ingest"] = out.strip().splitlines()[0]
        out, result["train_seconds"] = kefu("train", "recommender")
        result["train"] = out.strip()
    if not args.skip_evaluate:
        out, result["evaluate_seconds"] = kefu("evaluate", "recommender")
        result["evaluate"] = out.strip()
    key = kefu("keys", "create", "--scope", "recommendations")[0].strip()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.update(KEFU_DATA_DIR=data_dir, KEFU_LOG_LEVEL="WARNING")
    from service.app import create_app

    store = create_app().extensions["kefu"].store
    customers = spread_buyers(store, 200)
    bodies = [json.dumps({"customer_id": c, "k": 10}) for c in customers]
    targets = {"hello": ("http://127.0.0.1:8795/hello", ["{}"])}
    if args.promotion_items:
        from features.storage.promotions import PromotionStore

        items = store.load_items()
        promoted = list(items[items.active.astype(bool)].item_id.sample(args.promotion_items, random_state=0))
        PromotionStore(store.engine).put("bench", items=promoted, share=0.2, channels=["api"])
        result["promotion"] = {"items": len(promoted), "share": 0.2}
        targets["recommend"] = ("http://127.0.0.1:8794/v1/recommendations",
                                [json.dumps({"customer_id": c, "k": 10, "promotion": None}) for c in customers])
        targets["recommend_scheduled"] = ("http://127.0.0.1:8794/v1/recommendations", bodies)
    else:
        targets["recommend"] = ("http://127.0.0.1:8794/v1/recommendations", bodies)
    servers = [subprocess.Popen([py, "-m", "service.cli.main", "serve", "--port", "8794", "--workers", "2"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
               subprocess.Popen([py, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:8795", "--chdir",
                                 str(Path(__file__).parent), "hello_app:app"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_ready(8794, timeout=120)
        for url, sample in targets.values():                        # warm-up: model load, caches, first-use code
            wrk(url, sample, key, 2, 3)
        for c in (1, args.connections):
            for name, (url, sample) in targets.items():
                result[f"{name}_c{c}"] = wrk(url, sample, key, c, args.duration)
            for name in targets:
                if name != "hello":
                    result[f"{name}_to_hello_rps_c{c}"] = round(result[f"{name}_c{c}"]["rps"] / result[f"hello_c{c}"]["rps"], 3)
    finally:
        for server in servers:
            server.terminate(), server.wait()
        if args.promotion_items:
            PromotionStore(store.engine).delete("bench")     # a kept --data-dir serves without it next time
    result["load_average_after"] = os.getloadavg()
    print_table([(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in result.items()])
    print("written", write_result("serve_recommend", result))


if __name__ == "__main__":
    main()
