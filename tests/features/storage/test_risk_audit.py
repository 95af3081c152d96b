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


# --- one case by id, and the analysts' review queue ------------------------------------------------------------

def put_rows(engine, rows: list[dict]) -> None:
    """Rows straight into risk_scores, created_at as given (the store stamps "now"; the queue needs other times)."""
    from features.storage import schema as s

    full = [{"customer_id": None, "transaction_id": None, "reasons": [], "features": {}, "request_id": None,
             "list_match": None, "shadow_of": None, "outcome": None, "model_version": "v1", **r} for r in rows]
    with engine.begin() as conn:
        conn.execute(s.risk_scores.insert(), full)


def queue_ids(audit, decisions=("review",), since=None, **kw) -> list[str]:
    from datetime import timedelta

    from features.storage.store import utcnow

    since = since or utcnow() - timedelta(days=7)
    return [e["score_id"] for e in audit.review_queue(list(decisions), since, limit=500, **kw)["entries"]]


def test_one_score_is_read_whole_with_its_shadow_scores(audit):
    writer = BufferedAuditWriter(audit, flush_seconds=60)                # pending: the read must flush first
    reasons = [{"feature": "x", "value": 3, "contribution": 0.5, "direction": "increases_risk"}]
    match = {"field": "country", "value": "XX", "action": "block", "reason": None}
    writer.record([{**row(1), "reasons": reasons, "transaction_id": "t1", "request_id": "req-1",
                    "list_match": match, "decision": "decline"},
                   {**row(2), "score_id": "sh1", "model_version": "v2", "score": 0.7, "decision": "review",
                    "shadow_of": "s1"},
                   {**row(3), "score_id": "sh2", "model_version": "v3", "score": 0.2, "shadow_of": "s1"},
                   row(4)])
    case = writer.score("s1")
    assert case is not None
    assert {k: case[k] for k in ("score_id", "model", "model_version", "customer_id", "transaction_id", "score",
                                 "decision", "reasons", "features", "list_match", "request_id", "outcome",
                                 "outcome_at", "outcome_by", "shadow_of")} == {
        "score_id": "s1", "model": "m", "model_version": "v1", "customer_id": "c1", "transaction_id": "t1",
        "score": 0.1, "decision": "decline", "reasons": reasons, "features": {"x": 1}, "list_match": match,
        "request_id": "req-1", "outcome": None, "outcome_at": None, "outcome_by": None, "shadow_of": None}
    assert case["created_at"] is not None
    assert case["shadows"] == [
        {"score_id": "sh1", "model_version": "v2", "score": 0.7, "decision": "review"},
        {"score_id": "sh2", "model_version": "v3", "score": 0.2, "decision": "approve"}]
    shadow = writer.score("sh1")
    assert shadow["shadow_of"] == "s1" and shadow["shadows"] == []
    assert writer.score("s4")["shadows"] == []
    assert writer.score("nope") is None
    writer.record_outcome("s1", True, by="analyst")
    after = writer.score("s1")
    assert after["outcome"] is True and after["outcome_by"] == "analyst" and after["outcome_at"] is not None


def test_the_queue_filters_by_decision_model_window_outcome_and_shadow(audit):
    from datetime import timedelta

    from features.storage.store import utcnow

    now = utcnow()
    put_rows(audit.engine, [
        {"score_id": "rev", "model": "cards", "score": 0.5, "decision": "review", "created_at": now},
        {"score_id": "dec", "model": "cards", "score": 0.9, "decision": "decline", "created_at": now},
        {"score_id": "app", "model": "cards", "score": 0.1, "decision": "approve", "created_at": now},
        {"score_id": "other", "model": "payments", "score": 0.6, "decision": "review", "created_at": now},
        {"score_id": "old", "model": "cards", "score": 0.55, "decision": "review",
         "created_at": now - timedelta(days=10)},
        {"score_id": "done", "model": "cards", "score": 0.7, "decision": "review", "created_at": now,
         "outcome": False},
        {"score_id": "shadow", "model": "cards", "score": 0.8, "decision": "review", "created_at": now,
         "shadow_of": "app"},
    ])
    assert queue_ids(audit) == ["other", "rev"]                                    # review only, by score
    assert queue_ids(audit, model="cards") == ["rev"]
    assert queue_ids(audit, model="payments") == ["other"]
    assert queue_ids(audit, model="nothing") == []
    assert queue_ids(audit, ("review", "decline")) == ["dec", "other", "rev"]
    assert queue_ids(audit, ("approve",), model="cards") == ["app"]
    assert queue_ids(audit, since=now - timedelta(days=30)) == ["other", "old", "rev"]
    page = audit.review_queue(["review", "decline"], now - timedelta(days=30), model="cards", limit=1)
    assert page["open"] == 3 and page["more"] is True and [e["score_id"] for e in page["entries"]] == ["dec"]
    assert set(page["entries"][0]) == {"id", "score_id", "model", "model_version", "customer_id", "transaction_id",
                                       "score", "decision", "reasons", "list_match", "rule_matches", "created_at",
                                       "assigned_to", "assigned_at", "hold_until"}
    # an outcome takes the case out of the queue (and its shadow's too, which was never in it)
    audit.record_outcome("rev", True, by="analyst")
    assert queue_ids(audit) == ["other"]
    assert audit.review_queue(["review"], now - timedelta(days=7))["open"] == 1
    with pytest.raises(ValueError):
        audit.review_queue(["review"], now, order="oldest")


def walk(audit, since, order, limit, model=None, between_pages=None) -> list[list[dict]]:
    """Every page of the queue, following each page's last entry as the cursor."""
    pages, after = [], None
    while True:
        page = audit.review_queue(["review", "decline"], since, model=model, order=order, limit=limit, after=after)
        pages.append(page)
        if not page["more"]:
            return pages
        last = page["entries"][-1]
        after = (last["score"] if order == "score" else last["created_at"], last["id"])
        if between_pages is not None:
            between_pages(len(pages))


@pytest.mark.parametrize("order", ["score", "newest"])
def test_paging_visits_every_case_once_in_order_with_ties(audit, order):
    from datetime import timedelta

    from features.storage.store import utcnow

    now = utcnow().replace(microsecond=0)
    times = [now - timedelta(hours=h) for h in (0, 1, 2)]
    # 31 queued cases with only three scores and three times between them: ties in both keys everywhere, plus
    # rows that must never show (approve, an outcome, a shadow score)
    rows = [{"score_id": f"q{i:02d}", "model": ("cards", "payments")[i % 2], "score": (0.4, 0.6, 0.9)[i % 3],
             "decision": ("review", "decline")[i % 5 == 0], "created_at": times[(i // 3) % 3]} for i in range(31)]
    rows += [{"score_id": "x1", "model": "cards", "score": 0.9, "decision": "approve", "created_at": now},
             {"score_id": "x2", "model": "cards", "score": 0.9, "decision": "review", "created_at": now,
              "outcome": True},
             {"score_id": "x3", "model": "cards", "score": 0.9, "decision": "review", "created_at": now,
              "shadow_of": "q00"}]
    put_rows(audit.engine, rows)
    since = now - timedelta(days=1)
    everything = audit.review_queue(["review", "decline"], since, order=order, limit=500)
    assert everything["open"] == 31 and everything["more"] is False
    full = everything["entries"]
    key = (lambda e: (e["score"], e["id"])) if order == "score" else (lambda e: (e["created_at"], e["id"]))
    assert [key(e) for e in full] == sorted((key(e) for e in full), reverse=True)
    assert sorted(e["score_id"] for e in full) == [f"q{i:02d}" for i in range(31)]
    for limit in (1, 4, 7, 31, 40):
        pages = walk(audit, since, order, limit)
        assert [e["score_id"] for p in pages for e in p["entries"]] == [e["score_id"] for e in full]
        assert all(p["open"] == 31 for p in pages)
        assert all(len(p["entries"]) == limit for p in pages[:-1]) and 0 < len(pages[-1]["entries"]) <= limit
    cards = walk(audit, since, order, 3, model="cards")
    assert [e["score_id"] for p in cards for e in p["entries"]] == [e["score_id"] for e in full
                                                                    if e["model"] == "cards"]


@pytest.mark.parametrize("order", ["score", "newest"])
def test_pages_stay_stable_while_new_cases_arrive(audit, order):
    from datetime import timedelta

    from features.storage.store import utcnow

    now = utcnow() - timedelta(minutes=5)
    put_rows(audit.engine, [{"score_id": f"o{i}", "model": "cards", "score": (0.3, 0.5, 0.7)[i % 3],
                             "decision": "review", "created_at": now - timedelta(minutes=i % 4)} for i in range(20)])
    counter = iter(range(1000))

    def score_more(_page: int) -> None:          # new cases with every score, some tied with the cursor's key
        put_rows(audit.engine, [{"score_id": f"n{next(counter)}", "model": "cards", "score": sc,
                                 "decision": "review", "created_at": utcnow()} for sc in (0.9, 0.5, 0.1)])

    pages = walk(audit, now - timedelta(days=1), order, 3, between_pages=score_more)
    seen = [e["score_id"] for p in pages for e in p["entries"]]
    assert len(seen) == len(set(seen))                                             # nothing twice
    assert {f"o{i}" for i in range(20)} <= set(seen)                               # nothing old skipped
    if order == "newest":                                                          # newer cases come before the cursor
        assert not any(s.startswith("n") for s in seen)
    assert pages[-1]["open"] == 20 + 3 * (len(pages) - 1)


def test_the_queue_reads_the_model_created_at_index(audit):
    """Every statement of the queue (the models, the count, a page) is answered from ix_risk_scores_model_created_at,
    over all models too, never by reading the table whole or by ix_risk_scores_shadow_of's NULLs (which SQLite picks
    after ANALYZE when the query lets it)."""
    from datetime import timedelta

    from sqlalchemy import event

    from features.storage.store import utcnow

    now = utcnow()
    put_rows(audit.engine, [{"score_id": f"p{i}", "model": f"m{i % 4}", "score": (i % 97) / 97,
                             "decision": ("approve", "approve", "review", "decline")[i % 4 - (i % 3 == 0)],
                             "created_at": now - timedelta(minutes=7 * i), "outcome": (None, True)[i % 5 == 0],
                             "shadow_of": f"p{i - 1}" if i % 10 == 3 else None} for i in range(3000)])
    sqlite = audit.engine.dialect.name == "sqlite"
    with audit.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE" if sqlite else "ANALYZE risk_scores")
    statements = []
    listener = lambda conn, cursor, stmt, params, context, many: statements.append((stmt, params))  # noqa: E731
    event.listen(audit.engine, "before_cursor_execute", listener)
    try:
        for model in (None, "m2"):
            for order in ("score", "newest"):
                first = audit.review_queue(["review", "decline"], now - timedelta(days=3), model=model, order=order,
                                           limit=5)
                last = first["entries"][-1]
                audit.review_queue(["review", "decline"], now - timedelta(days=3), model=model, order=order, limit=5,
                                   after=(last["score"] if order == "score" else last["created_at"], last["id"]))
    finally:
        event.remove(audit.engine, "before_cursor_execute", listener)
    assert len(statements) == 2 * 3 + 2 * 3 + 2 * 2 + 2 * 2           # models + count + page; count + page
    with audit.engine.connect() as conn:
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")           # a table this small is cheaper to read whole
        for stmt, params in statements:
            plan = " ".join(str(r[-1] if sqlite else r[0]) for r in conn.exec_driver_sql(
                ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + stmt, params))
            assert "ix_risk_scores_model_created_at" in plan, (stmt, plan)
            assert "ix_risk_scores_shadow_of" not in plan, (stmt, plan)
            assert "SCAN risk_scores" not in plan and "Seq Scan" not in plan, (stmt, plan)
