"""Metrics under `kefu serve` (gunicorn, two workers): a scrape adds up every worker's counts, whichever worker
answers it (prometheus_client's multiprocess mode, set up by service.server); each worker's served model version;
and the helper processes `kefu serve` runs beside the workers, gone with it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from tests_helpers_risk import table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_scrape_adds_up_every_worker(tmp_path, monkeypatch):
    from service.cli.main import cli

    env = {**os.environ, "KEFU_DATA_DIR": str(tmp_path / "data"), "KEFU_LOG_LEVEL": "WARNING"}
    env.pop("KEFU_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    monkeypatch.setenv("KEFU_DATA_DIR", env["KEFU_DATA_DIR"])
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    created = CliRunner().invoke(cli, ["keys", "create", "--scope", "metrics", "--name", "prometheus"])
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    table(400).to_csv(tmp_path / "cases.csv", index=False)
    trained = CliRunner().invoke(cli, ["train", "risk", "--name", "cards", "--data", str(tmp_path / "cases.csv"),
                                       "--label", "is_bad"])
    assert trained.exit_code == 0, trained.output
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "service.cli.main", "serve", "--port", str(port),
                               "--workers", "2"], env=env, cwd=Path(__file__).resolve().parents[2],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ok = 0
        deadline = time.monotonic() + 120
        while True:
            try:
                ok += _get(f"{base}/healthz")[0] == 200
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        counts = []
        lock = threading.Lock()

        def hit() -> None:
            n = sum(_get(f"{base}/healthz")[0] == 200 for _ in range(10))
            with lock:
                counts.append(n)

        threads = [threading.Thread(target=hit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok += sum(counts)
        # Two connections held open at once: a sync worker that accepted the first waits for its request, so the
        # other worker accepts the second. Each then serves one: both workers have counted requests for sure.
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.5)
        for conn in held:
            conn.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        for conn in held:
            with conn:
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
                ok += answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.0 200")
        assert ok == 83
        seen = []
        for _ in range(6):                                          # each scrape may reach either worker
            status, text = _get(f"{base}/metrics", key)
            assert status == 200, text[:300]
            samples = {(s.name, frozenset(s.labels.items())): s.value
                       for f in text_string_to_metric_families(text.decode()) for s in f.samples}
            seen.append(samples[("kefu_http_requests_total",
                                 frozenset({"route": "/healthz", "method": "GET", "status": "200"}.items()))])
        assert seen == [83.0] * 6
        version = os.listdir(tmp_path / "data" / "models" / "cards")
        serving = [s for f in text_string_to_metric_families(text.decode()) for s in f.samples
                   if s.name == "kefu_model_serving" and s.labels["model"] == "cards"]
        # each worker loaded the model before it reported ready: one series per worker process
        assert len({s.labels["pid"] for s in serving}) == 2 and {s.value for s in serving} == {1.0}
        assert {s.labels["version"] for s in serving} < set(version)
        files = os.listdir(tmp_path / "data" / "metrics")
        pids = {name.rsplit("_", 1)[-1] for name in files if name.startswith("counter_")}
        assert len(pids) >= 2, files                                # both workers counted requests
        assert _get(f"{base}/metrics")[0] == 401
        # beside the workers: the profile refresher and the recommender's refresh schedule (every 6 h by default)
        helpers = _descendants(server.pid)
        assert any("--watch" in line for line in helpers.values()), helpers
        assert any("--every 6" in line for line in helpers.values()), helpers
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    time.sleep(0.5)
    assert not [pid for pid in helpers if Path(f"/proc/{pid}").exists()], "a helper outlived the server"


def _descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid``, with its command line (Linux /proc)."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            lines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = lines[child]
                frontier.append(child)
    return found
