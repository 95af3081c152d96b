"""Small helpers shared by the benchmark scripts: results folder, peak memory, a table printer."""
from __future__ import annotations

import json
import platform
import resource
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spread_buyers(store, n: int) -> list[str]:
    """n customers with purchases, spread evenly from the busiest to the quietest (the recommendation benches' set)."""
    buyers = store.load_events(types=["purchase"]).customer_id.value_counts()
    return list(buyers.index[:: max(1, len(buyers) // n)][:n])


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(),
              "python": platform.python_version(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


WRK_LUA = """local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}, bodies[i])
end
"""


def wrk(url: str, bodies: list[str], key: str, connections: int, duration: int) -> dict:
    """POST the bodies in turn with wrk (Debian package); requests/s and latency percentiles in ms."""
    import re
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % (", ".join("[[" + b + "]]" for b in bodies), key))
    out = subprocess.run(["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{duration}s",
                          "--latency", "-s", f.name, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: _ms(m) for p, m in re.findall(r"\s(50|90|99)%\s+([\d.]+\w+)", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": round(rps), "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def _ms(text: str) -> float:
    import re

    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)
