"""Decision rules on many cases: back-testing on the stored audit trail, and `kefu score`'s lists and rules.

    python bench/risk_backtest_speed.py [--data ../shared/data] [--copies 4]

Trains a table model on Taiwan default (30,000 rows, 23 features) in a fresh SQLite store, scores the table
``--copies`` times through the batch path (1,000 cases per call, every score stored for audit as served), and
records half of the cases' outcomes from the file's labels. Then:

- **back-test**: `service.pipelines.risk_backtest.backtest_rule` (what `GET /v1/risk/rules/{name}/backtest` runs)
  on every stored case of the last 30 days, for three rules; each timed three times, the best kept, and the
  peak of Python allocations measured on a fourth run (tracemalloc, which slows it). The rules'
  matches are checked against a pandas evaluation of the same conditions on the file, so the figures are for
  correct answers;
- **files**: `service.pipelines.risk_files.decide_rows` (what `kefu score` adds to the model's scores) on the
  table repeated ten times (300,000 rows), with no rule or list, with five rules, and with five rules and two
  list entries.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result  # noqa: E402

LABEL = "default.payment.next.month"
RULES = {
    "late-and-small": ([{"field": "PAY_0", "op": ">=", "value": 2}, {"field": "LIMIT_BAL", "op": "<", "value": 50000}],
                       lambda f, s: (f["PAY_0"] >= 2) & (f["LIMIT_BAL"] < 50000)),
    "young-high-score": ([{"field": "AGE", "op": "<", "value": 25}, {"field": "score", "op": ">=", "value": 0.4}],
                         lambda f, s: (f["AGE"] < 25) & (s >= 0.4)),
    "education-set": ([{"field": "EDUCATION", "op": "in", "value": [4, 5, 6]},
                       {"field": "BILL_AMT1", "op": ">", "value": 100000},
                       {"field": "PAY_AMT1", "op": "<=", "value": 1000}],
                      lambda f, s: f["EDUCATION"].isin([4, 5, 6]) & (f["BILL_AMT1"] > 100000)
                      & (f["PAY_AMT1"] <= 1000)),
}
FILE_RULES = [*[(name, when) for name, (when, _) in RULES.items()],
              ("huge-bill", [{"field": "BILL_AMT1", "op": ">", "value": 400000}]),
              ("marriage-3", [{"field": "MARRIAGE", "op": "==", "value": 3}])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    path = args.data / "risk" / "taiwan-default" / "UCI_Credit_Card.csv"
    if not path.exists():
        sys.exit(f"{path} is missing: this benchmark needs the shared Taiwan default table")

    from features.storage.store import utcnow
    from models.risk.job import train_and_register
    from service.app import create_app
    from service.pipelines.risk_backtest import backtest_rule
    from service.pipelines.risk_files import decide_rows
    from service.pipelines.risk_rules import compile_rule

    frame = pd.read_csv(path).drop(columns=["ID"])
    folder = Path(tempfile.mkdtemp())
    app = create_app({"database_url": f"sqlite:///{folder / 'kefu.db'}", "data_dir": str(folder / "data"),
                      "log_level": "WARNING", "risk_audit_flush_seconds": 0.0})
    state = app.extensions["kefu"]
    risk = state.extras["risk"]
    started = time.perf_counter()
    trained = train_and_register(frame, registry=state.extras["registry"], name="taiwan", label=LABEL,
                                 report_root=folder / "reports", seed=0)
    train_s = time.perf_counter() - started
    features = frame.drop(columns=[LABEL])
    records = features.to_dict("records")
    started = time.perf_counter()
    score_ids, scores = [], []
    for _ in range(args.copies):
        for start in range(0, len(records), 1000):
            out = risk.score_batch("taiwan", [{"features": r} for r in records[start:start + 1000]])["results"]
            score_ids += [r["score_id"] for r in out]
            scores += [r["score"] for r in out]
    store_s = time.perf_counter() - started
    labels = frame[LABEL].to_numpy().astype(bool)
    labelled = [(sid, bool(labels[i % len(frame)])) for i, sid in enumerate(score_ids) if i % 2 == 0]
    from sqlalchemy import bindparam

    from features.storage import schema as s
    c = s.risk_scores.c
    with state.store.engine.begin() as conn:
        conn.execute(s.risk_scores.update().where(c.score_id == bindparam("sid")).values(
            outcome=bindparam("fraud"), outcome_at=utcnow()), [{"sid": sid, "fraud": f} for sid, f in labelled])

    cases = len(score_ids)
    score_arr = np.array(scores)
    big = pd.concat([features] * args.copies, ignore_index=True)
    rows: list[tuple[str, str]] = [("model", f"taiwan {trained.version.version}, trained in {train_s:.1f} s"),
                                   ("stored cases", f"{cases:,} in {store_s:.1f} s through score_batch")]
    result: dict = {"cases": cases, "train_s": train_s, "store_s": store_s, "backtest": {}, "files": {}}
    for name, (when, expected) in RULES.items():
        rule = {"name": name, "model": "taiwan", "when": when, "action": "review"}
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            report = backtest_rule(rule, risk.audit, days=30)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        backtest_rule(rule, risk.audit, days=30)
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        want = int(expected(big, score_arr).sum())
        assert report["cases"] == cases and report["matched"] == want, (name, report["matched"], want)
        best = min(times)
        result["backtest"][name] = {"seconds": best, "matched": want, "cases_per_s": cases / best,
                                    "precision": report["outcomes"]["precision"], "peak_python_mib": peak_mib}
        rows.append((f"back-test {name}", f"{best:.2f} s ({cases / best:,.0f} cases/s), {want:,} matched, "
                                          f"precision {report['outcomes']['precision']:.3f}, "
                                          f"Python allocations peak {peak_mib:.0f} MiB"))

    many = pd.concat([features] * 10, ignore_index=True)
    many_scores = np.tile(np.array(scores[:len(features)]), 10)
    decisions = ["approve"] * len(many)
    compiled = [compile_rule({"name": n, "action": "review", "when": w}) for n, w in FILE_RULES]
    risk.lists.store.put("MARRIAGE", "0", "block")
    risk.lists.store.put("AGE", "21", "allow")
    for label, rules, lists in (("no rules, no lists", (), None), ("5 rules", compiled, None),
                                ("5 rules + 2 list entries", compiled, risk.lists)):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = decide_rows(many, many_scores, decisions, rules=rules, lists=lists)
            times.append(time.perf_counter() - t0)
        best = min(times)
        raised = sum(d != "approve" for d in out["decisions"])
        result["files"][label] = {"seconds": best, "rows_per_s": len(many) / best, "changed": raised}
        rows.append((f"kefu score, {label}", f"{best:.2f} s for {len(many):,} rows ({len(many) / best:,.0f} rows/s), "
                                             f"{raised:,} decisions changed"))
    print_table(rows)
    print("written", write_result("risk_backtest_speed", result))


if __name__ == "__main__":
    main()
