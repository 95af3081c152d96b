"""What counting and timing one request costs (service/metrics.py), in process and in gunicorn's multiprocess mode.

    python bench/metrics_cost.py [--n 50000]

Each request adds one to kefu_http_requests_total and one observation to kefu_http_request_duration_seconds, as
the WSGI middleware does. Multiprocess mode (what `kefu serve` runs) writes to memory-mapped files in a fresh
folder; in-process mode keeps the values in memory. Run it in a fresh process: the mode is set once.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_table, write_result  # noqa: E402


def per_request_us(n: int) -> float:
    from service.metrics import metrics

    m = metrics()
    started = time.perf_counter()
    for _ in range(n):
        m.requests.labels("/v1/risk/scores", "POST", "200").inc()
        m.latency.labels("/v1/risk/scores", "POST").observe(0.002)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    args = parser.parse_args()
    in_process = per_request_us(args.n)
    from service.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir(tempfile.mkdtemp())
    multiprocess = per_request_us(args.n)
    print_table([("in process", f"{in_process:.2f} µs per request"),
                 ("multiprocess files", f"{multiprocess:.2f} µs per request")])
    print("written", write_result("metrics_cost", {"n": args.n, "in_process_us": in_process,
                                                   "multiprocess_us": multiprocess}))


if __name__ == "__main__":
    main()
