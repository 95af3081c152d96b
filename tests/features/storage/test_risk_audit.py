"""The risk audit trail: buffered writes reach the database, reads see pending rows, thresholds are checked."""
from __future__ import annotations

import time

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
