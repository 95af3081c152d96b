"""HTTP batch ingestion under gunicorn (2 sync workers), the way `kefu serve` runs it.

    python bench/ingest_http.py [--batches 120] [--batch-size 500] [--concurrency 4] [--customers 5000]

Starts `kefu serve` on a fresh SQLite store, pre-builds the request bodies (unique event ids: views, carts,
purchases, payments over --customers customers), sends them from --concurrency client threads with keep-alive,
and reports events/s and per-batch latency. Every accepted event is committed (synchronous=FULL) and the touched
customers' profiles are rebuilt before each answer. Client and server share the machine's 2 cores.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, write_result  # noqa: E402


def make_bodies(batches: int, size: int, customers: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    bodies, n = [], 0
    for _ in range(batches):
        events = []
        for _ in range(size):
            n += 1
            c = f"c{rng.randrange(customers):05d}"
            kind = rng.choices(["view", "add_to_cart", "purchase", "payment"], [70, 15, 10, 5])[0]
            e = {"event_id": f"h{n}", "type": kind, "customer_id": c,
                 "timestamp": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"}
            if kind != "payment":
                e["item_id"] = f"p{rng.randrange(2000):04d}"
            if kind in ("purchase", "payment"):
                e.update(amount=round(rng.uniform(1, 200), 2), order_id=f"o{n}")
            if kind == "payment":
                e.update(device_id=f"d{rng.randrange(9999)}", ip=f"10.0.{rng.randrange(255)}.{rng.randrange(255)}",
                         country="US", status="approved")
            events.append(e)
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def _worker_peak_rss(master_pid: int) -> list[int]:
    """Peak resident memory (VmHWM) of each gunicorn worker, in MiB."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(master_pid) and "VmHWM" in fields:
            peaks.append(round(int(fields["VmHWM"].split()[0]) / 1024))
    return sorted(peaks)


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="kefu-bench-http-")
    env = {**os.environ, "KEFU_DATA_DIR": data_dir, "KEFU_LOG_LEVEL": "WARNING"}
    key = subprocess.run([sys.executable, "-m", "service.cli.main", "keys", "create", "--scope", "events"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "service.cli.main", "serve", "--port", str(args.port), "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(args.port)
        bodies = make_bodies(args.batches, args.batch_size, args.customers)
        queue = list(enumerate(bodies))
        lock = threading.Lock()
        latencies: list[float] = []
        accepted = [0]
        errors: list[str] = []

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop()
                started = time.perf_counter()
                conn.request("POST", "/v1/events", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status == 202:
                        accepted[0] += json.loads(payload)["accepted"]
                    else:
                        errors.append(f"{response.status} {payload[:200]!r}")

        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        worker_peak_mib = _worker_peak_rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat = sorted(latencies)
    result = {
        "batches": args.batches, "batch_size": args.batch_size, "concurrency": args.concurrency,
        "customers": args.customers, "accepted_events": accepted[0], "errors": len(errors),
        "seconds": round(wall, 2), "events_per_second": round(accepted[0] / wall),
        "batch_latency_p50_ms": round(statistics.median(lat) * 1000, 1),
        "batch_latency_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
        "worker_peak_rss_mib": worker_peak_mib,
    }
    print_table([(k, str(v)) for k, v in result.items()])
    if errors:
        print("first error:", errors[0])
    print("written", write_result("ingest_http", result))


if __name__ == "__main__":
    main()
