"""What the risk serving benchmarks share: the prepared data folder and the request bodies they send.

Many different cases in turn, not one repeated: a repeated row would let the CPU's branch predictors learn its
path through the trees. Table cases are Taiwan rows 7..; behavioural cases are customers c00001.. of the demo shop.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TAIWAN = "risk/taiwan-default/UCI_Credit_Card.csv"


def prepare(data_dir: Path, data: Path) -> None:
    """The demo shop (with the behavioural ``transactions`` model) and the table model ``taiwan``, unless
    ``data_dir`` already has them (a folder prepared by an earlier run is reused)."""
    if (data_dir / "models" / "taiwan").exists():
        return
    env = {**os.environ, "KEFU_DATA_DIR": str(data_dir), "KEFU_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "service.cli.main", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, check=True)
    run("demo", "--no-serve", "--customers", "2000")
    run("train", "risk", "--name", "taiwan", "--data", str(data / TAIWAN),
        "--label", "default.payment.next.month", "--id-column", "ID")


def bodies(data: Path, cases: int) -> tuple[list[str], list[str]]:
    """(table-model bodies, behavioural-model bodies), ``cases`` of each, as JSON text."""
    import pandas as pd

    rows = pd.read_csv(data / TAIWAN, nrows=7 + cases).drop(columns=["ID", "default.payment.next.month"])
    table = [json.dumps({"model": "taiwan", "features": {k: float(v) for k, v in rows.iloc[i].items()},
                         "customer_id": f"c{i:05d}"}) for i in range(7, 7 + cases)]
    transaction = [json.dumps({"model": "transactions", "customer_id": f"c{i:05d}",
                               "transaction": {"amount": round(20.0 + 7.5 * (i % 40), 2), "device_id": f"d-{i % 3}",
                                               "ip": "203.0.113.5", "country": ("US", "PT", "BR")[i % 3]}})
                   for i in range(1, 1 + cases)]
    return table, transaction
