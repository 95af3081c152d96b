"""The risk audit trail: buffered writes reach the database, reads see pending rows, thresholds are checked."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from features.storage.risk_audit import BufferedAuditWriter, RiskAuditStore


@pytest.fixture
def audit(migrated_engine):
    return RiskAuditStore(migrated_engine)


def row(i: int, customer: str = "c1") -> dict:
    return {"score_id": f"s{i}", "model": "m", "model_version": "v1", "customer_id": customer, "transaction_id": None,
            "score": i / 10, "decision": "approve", "reasons": [], "features": {"x": i}, "request_id": None}


def test_background_thread_writes_the_rows(audit):
    writer = BufferedAuditWriter(audit, flush_seconds=0.05)
    writer.record([row(1), row(2)])
    deadline = time.time() + 5
    while time.time() < deadline and len(audit.customer_scores("c1")) < 2:
        time.sleep(0.02)
    assert [r["score_id"] for r in audit.customer_scores("c1")] == ["s2", "s1"]


def test_reads_through_the_writer_see_pending_rows(audit):
    writer = BufferedAuditWriter(audit, flush_seconds=60)
    writer.record([row(3)])
    assert [r["score_id"] for r in writer.customer_scores("c1")] == ["s3"]


def test_zero_interval_writes_inside_the_call(audit):
    BufferedAuditWriter(audit, flush_seconds=0).record([row(4, "c2")])
    assert len(audit.customer_scores("c2")) == 1


def test_thresholds_round_trip_and_order(audit):
    assert audit.thresholds("m") is None
    audit.set_thresholds("m", 0.2, 0.7, by="tester")
    audit.set_thresholds("m", 0.3, 0.8)
    got = audit.thresholds("m")
    assert (got["review"], got["decline"]) == (0.3, 0.8)
    with pytest.raises(ValueError):
        audit.set_thresholds("m", 0.9, 0.1)


def test_json_columns_round_trip_and_none_is_null(audit):
    writer = BufferedAuditWriter(audit, flush_seconds=60)
    reasons = [{"feature": "x", "value": 1.5, "contribution": -0.25}]
    writer.record([{**row(5, "c3"), "reasons": reasons, "transaction_id": "t5"},
                   {**row(6, "c3"), "reasons": None, "features": None}])
    got = {r["score_id"]: r for r in writer.customer_scores("c3")}
    assert got["s5"]["reasons"] == reasons and got["s5"]["transaction_id"] == "t5"
    assert got["s6"]["reasons"] is None
    with audit.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT score_id, features FROM risk_scores WHERE customer_id = 'c3' "
                                   "ORDER BY score_id").all()
    assert raw[1][1] is None                                   # SQL NULL, not the JSON text 'null'
    assert raw[0][1] == {"x": 5} or json.loads(raw[0][1]) == {"x": 5}   # json on PostgreSQL, text on SQLite


def test_a_failed_write_keeps_the_rows_in_order(audit, monkeypatch):
    writer = BufferedAuditWriter(audit, flush_seconds=60)
    writer.record([row(7, "c4"), row(8, "c4")])
    real = audit.record_tuples

    def broken(rows):
        raise RuntimeError("database down")

    monkeypatch.setattr(audit, "record_tuples", broken)
    with pytest.raises(RuntimeError):
        writer.flush()
    writer.record([row(9, "c4")])
    monkeypatch.setattr(audit, "record_tuples", real)
    assert [r["score_id"] for r in writer.customer_scores("c4")] == ["s9", "s8", "s7"]


def test_a_read_waits_for_a_background_write_under_way(audit, monkeypatch):
    writer = BufferedAuditWriter(audit, flush_seconds=60)
    real, started = audit.record_tuples, threading.Event()

    def slow(rows):
        started.set()
        time.sleep(0.3)
        real(rows)

    monkeypatch.setattr(audit, "record_tuples", slow)
    writer.record([row(10, "c5")])
    background = threading.Thread(target=writer.flush)       # as the writer thread (or the exit flush) would
    background.start()
    assert started.wait(5)
    assert [r["score_id"] for r in writer.customer_scores("c5")] == ["s10"]
    background.join()


EXIT_SCRIPT = """
import sys
from features.storage.engine import make_engine
from features.storage.risk_audit import BufferedAuditWriter, RiskAuditStore
writer = BufferedAuditWriter(RiskAuditStore(make_engine(sys.argv[1])), flush_seconds=60)
writer.record([{"score_id": f"x{i}", "model": "m", "model_version": "v1", "customer_id": "c6",
                "transaction_id": None, "score": 0.5, "decision": "approve", "reasons": [], "features": {},
                "request_id": None} for i in range(3)])
"""


def test_pending_rows_are_written_at_exit(audit, database_url):
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT, database_url], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parents[3])
    assert sorted(r["score_id"] for r in audit.customer_scores("c6")) == ["x0", "x1", "x2"]


@pytest.mark.parametrize("with_orjson", [True, False])
def test_features_are_stored_as_json_values_with_or_without_orjson(audit, monkeypatch, with_orjson):
    import numpy as np

    from features import fastjson

    if not with_orjson:
        monkeypatch.setattr(fastjson, "orjson", None)
    features = {"a": 1.5, "nan": float("nan"), "inf": float("inf"), "np": np.float64(2.5), "i": np.int64(3),
                "s": "x", "none": None, "flag": True}
    BufferedAuditWriter(audit, flush_seconds=0).record([{**row(11, "c7"), "features": features}])
    with audit.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT features FROM risk_scores WHERE customer_id = 'c7'").scalar_one()
    stored = raw if isinstance(raw, dict) else json.loads(raw)
    assert stored == {"a": 1.5, "nan": None, "inf": None, "np": 2.5, "i": 3, "s": "x", "none": None, "flag": True}


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_worker_starts_its_own_writer_and_its_rows_arrive(audit):
    """gunicorn forks workers from a parent that may already have scored: the child's rows must still be written."""
    import os

    writer = BufferedAuditWriter(audit, flush_seconds=0.05)
    writer.record([row(10)])                     # the parent's writer thread runs
    writer.flush()
    audit.engine.dispose(close=False)            # the child must not share the parent's pooled connections
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            writer.record([row(11)])
            deadline = time.time() + 5
            while time.time() < deadline and len(audit.customer_scores("c1")) < 2:
                time.sleep(0.02)
            code = 0 if len(audit.customer_scores("c1")) == 2 and writer._thread.is_alive() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [r["score_id"] for r in audit.customer_scores("c1")] == ["s11", "s10"]
