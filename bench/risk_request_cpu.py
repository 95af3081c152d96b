"""CPU time per request of POST /v1/risk/scores, in process, against hello-world: no server, no load generator.

    python bench/risk_request_cpu.py [--data ../shared/data] [--data-dir DIR] [--requests 3000] [--profile table]
    python bench/risk_request_cpu.py --instructions [--requests 300]      # needs valgrind; ~5 minutes
    python bench/risk_request_cpu.py --data-dir DIR --challenger shadow   # or split: a challenger on both models

A wall-clock load test on these shared 2-core machines mostly measures the neighbours; CPU time per request is
far steadier, and it is what bounds requests/s under gunicorn's sync workers. The apps are called through WSGI
directly (``app.wsgi_app(environ, start_response)``) with prepared environs, so the figures are each app's own
work: routing, hooks, auth, validation, scoring, the audit row, the JSON answer. The HTTP parsing gunicorn adds
is the same for every app and is not in them.

Per endpoint it reports the median CPU time of one request on the calling thread (``time.thread_time``) and
the process's whole CPU time over the run divided by the requests (``time.process_time``: it also counts the
audit writer's background thread and garbage collection), plus the ratio of each to hello-world's.
``--profile NAME`` runs cProfile over that endpoint afterwards and prints the top functions by own time.

Even CPU time moves by ±30 % from run to run here: a neighbour on the other hyperthread or in the shared cache
slows every instruction. ``--instructions`` counts instructions instead, which no neighbour changes: the script
runs itself under valgrind's callgrind, each endpoint's measured requests inside a ctypes callback, and callgrind
counts only inside it (``--toggle-collect``) and writes one total per endpoint (``--dump-after``). Counts
include the audit rows' write: the writer's interval is made long and the rows are flushed inside the callback.

``--challenger shadow|split`` gives both models a challenger (share 1.0 in shadow, 0.5 in split) before
measuring: a copy of the active version published as a new version, so the challenger costs what the champion
does. ``--challenger none`` (the default) ends any challenger a reused data folder has. Timing runs only:
``--instructions`` counts with whatever challengers the data folder holds.

The data folder is prepared as bench/serve_risk.py does (a demo shop with the behavioural model `transactions`,
and the table model `taiwan` trained on the Taiwan default data); ``--data-dir`` reuses one.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result  # noqa: E402
from bench import risk_cases  # noqa: E402


def environs(path: str, bodies: list[str], key: str | None) -> list[dict]:
    """One WSGI environ per body, built once (werkzeug's EnvironBuilder), copied per call with a fresh input."""
    from werkzeug.test import EnvironBuilder

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    out = []
    for body in bodies:
        builder = EnvironBuilder(path=path, method="POST", data=body, content_type="application/json",
                                 headers=headers)
        env = builder.get_environ()
        env["_body"] = body.encode()
        builder.close()
        out.append(env)
    return out


def caller(app, envs: list[dict]) -> Callable[[int], int]:
    """call(i): one request with the i-th environ (cycled); returns the status code."""
    status: list[str] = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    def call(i: int) -> int:
        base = envs[i % len(envs)]
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(base["_body"])
        status.clear()
        result = app.wsgi_app(env, start_response)
        try:
            for _ in result:
                pass
        finally:
            if hasattr(result, "close"):
                result.close()
        return int(status[0].split()[0])

    return call


def measure(call: Callable[[int], int], n: int, warmup: int) -> dict:
    for i in range(warmup):
        code = call(i)
        if code != 200:
            raise SystemExit(f"warm-up request answered {code}")
    per_request = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        t0 = time.thread_time()
        call(i)
        per_request.append(time.thread_time() - t0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"thread_cpu_ms_p50": round(statistics.median(per_request) * 1000, 4),
            "process_cpu_ms_mean": round(cpu / n * 1000, 4),
            "wall_ms_mean": round(wall / n * 1000, 4)}


CALLGRIND_FUNCTION = "_CallPythonObject"      # ctypes' C entry into a Python callback


def in_callback(work: Callable[[], None]) -> None:
    """Run ``work`` through a C callback, so that callgrind collects exactly it (see --instructions)."""
    import ctypes

    ctypes.CFUNCTYPE(None)(work)()


def callgrind_totals(script_args: list[str], dumps: int = 0) -> list[int]:
    """Instructions callgrind counted inside ``in_callback`` while running ``python *script_args``.

    ``dumps`` > 0: one dump (and one total) per callback call, in order; 0: one total over all of them.
    """
    out = Path(tempfile.mkdtemp(prefix="kefu-callgrind-"))
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={CALLGRIND_FUNCTION}",
           *([f"--dump-after={CALLGRIND_FUNCTION}"] if dumps else []), f"--callgrind-out-file={out / 'cg.out'}",
           sys.executable, *script_args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    files = [out / f"cg.out.{i}" for i in range(1, dumps + 1)] if dumps else [out / "cg.out"]
    return [int(next(line.split()[1] for line in f.read_text().splitlines() if line.startswith("totals:")))
            for f in files]


def count_instructions(args, names: list[str]) -> dict[str, float]:
    """Instructions per request of each endpoint: this script under callgrind, one dump per endpoint."""
    totals = callgrind_totals([__file__, "--under-callgrind", "--data", str(args.data), "--data-dir",
                               str(args.data_dir), "--requests", str(args.requests), "--warmup", str(args.warmup),
                               "--cases", str(args.cases)], dumps=len(names))
    return {name: total / args.requests for name, total in zip(names, totals)}


def profile(call: Callable[[int], int], n: int, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        call(i)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def set_challengers(state, mode: str) -> None:
    """Give each risk model a challenger in ``mode``: a copy of its active version (or end the challenges)."""
    from service.pipelines.model_admin import challenge_with

    registry = state.extras["registry"]
    for name in ("taiwan", "transactions"):
        if mode == "none":
            registry.stop_challenger(name, "bench")
            continue
        copy = registry.clone(name, registry.current(name).version)
        challenge_with(registry, state.extras["models"], name, copy.version, mode, 1.0 if mode == "shadow" else 0.5,
                       "bench/risk_request_cpu.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--data-dir", type=Path, help="reuse a KEFU_DATA_DIR prepared by an earlier run")
    parser.add_argument("--requests", type=int, help="measured requests per endpoint and round (3000; 300 counted)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="hello/table/behavioural in turn, this many times")
    parser.add_argument("--cases", type=int, default=100, help="distinct request bodies per endpoint, in turn")
    parser.add_argument("--profile", choices=["hello", "table", "transaction"], action="append", default=[])
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request under valgrind (callgrind) instead of timing")
    parser.add_argument("--challenger", choices=["none", "shadow", "split"], default="none",
                        help="give both models a challenger (a copy of the active version) in this mode")
    parser.add_argument("--under-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="kefu-bench-risk-cpu-"))).resolve()
    risk_cases.prepare(data_dir, args.data)
    args.data_dir = data_dir
    args.requests = args.requests or (300 if args.instructions or args.under_callgrind else 3000)
    if args.instructions:
        if args.requests > 900:
            raise SystemExit("--instructions: at most 900 requests (the audit writer flushes on its own at 1,000)")
        per_request = count_instructions(args, ["hello", "table", "transaction"])
        results = {"data_dir": str(data_dir), "requests": args.requests,
                   **{f"{k}_instructions": round(v) for k, v in per_request.items()},
                   **{f"{k}_over_hello_instructions": round(per_request[k] / per_request["hello"], 2)
                      for k in ("table", "transaction")}}
        print_table([(k, json.dumps(v)) for k, v in results.items()])
        print("written", write_result("risk_request_instructions", {"command": " ".join(sys.argv), **results}))
        return
    os.environ.update(KEFU_DATA_DIR=str(data_dir), KEFU_LOG_LEVEL="WARNING", OMP_NUM_THREADS="1")
    if args.under_callgrind:             # the audit rows are written inside the counted callback, not by the thread
        os.environ["KEFU_RISK_AUDIT_FLUSH_SECONDS"] = "3600"

    from bench.hello_app import app as hello_app
    from service.app import create_app
    from service.auth import create_api_key

    app = create_app()
    state = app.extensions["kefu"]
    key = create_api_key(state.store, ["risk"], name="bench risk_request_cpu")
    if not args.under_callgrind:
        set_challengers(state, args.challenger)

    table_bodies, tx_bodies = risk_cases.bodies(args.data, args.cases)
    calls = {"hello": caller(hello_app, environs("/hello", ["{}"], None)),
             "table": caller(app, environs("/v1/risk/scores", table_bodies, key)),
             "transaction": caller(app, environs("/v1/risk/scores", tx_bodies, key))}

    if args.under_callgrind:
        audit = state.extras["risk_audit"]
        for name, call in calls.items():
            for i in range(args.warmup):
                call(i)
            audit.flush()

            def work(call=call) -> None:
                for i in range(args.requests):
                    call(i)
                audit.flush()

            in_callback(work)
        return

    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for name, call in calls.items():
            runs.setdefault(name, []).append(measure(call, args.requests, args.warmup))
    state.extras["risk_audit"].flush()

    results: dict = {"data_dir": str(data_dir), "requests": args.requests, "rounds": args.rounds,
                     "challenger": args.challenger, "load_average": os.getloadavg()}
    for name, measured in runs.items():
        results[name] = {k: statistics.median(r[k] for r in measured) for k in measured[0]}
    for name in ("table", "transaction"):
        for k in ("thread_cpu_ms_p50", "process_cpu_ms_mean"):
            results[f"{name}_over_hello_{k}"] = round(results[name][k] / results["hello"][k], 2)
    print_table([(k, json.dumps(v)) for k, v in results.items()])
    print("written", write_result("risk_request_cpu", {"command": " ".join(sys.argv), **results}))
    for name in args.profile:
        print(f"\n--- cProfile: {name}, {args.requests} requests, by own time ---")
        print(profile(calls[name], args.requests, args.top))


if __name__ == "__main__":
    main()
