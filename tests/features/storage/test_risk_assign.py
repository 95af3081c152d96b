"""Analysts claiming review cases at the same time on SQLite and PostgreSQL: each case goes to one analyst only,
and every open case is handed out; assignment and release; holds of their own length that lapse; migrations 0014
and 0017."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import inspect
from tests_helpers_risk import age_holds

from features.storage import schema as s
from features.storage.migrate import downgrade, upgrade
from features.storage.risk_audit import RiskAuditStore
from features.storage.store import utcnow


def _rows(n: int) -> list[dict]:
    return [{"score_id": f"s{i:03d}", "model": "cards", "model_version": "v1", "customer_id": f"c{i}",
             "score": (i % 17) / 17, "decision": "review" if i % 5 else "approve", "reasons": [],
             "features": {"amount": float(i)}} for i in range(n)]


@pytest.mark.parametrize("held", [False, True], ids=["unheld", "lapsed-holds"])
def test_concurrent_claims_hand_each_case_to_one_analyst(migrated_engine, held):
    audit = RiskAuditStore(migrated_engine)
    audit.record_scores(_rows(60))                                  # 48 in review, 12 approved
    audit.record_scores([{**_rows(1)[0], "score_id": "shadow", "shadow_of": "s001", "decision": "review"}])
    since = utcnow() - timedelta(days=1)
    if held:                                     # every case held by someone who left: each goes out once again
        for row in _rows(60):
            audit.assign(row["score_id"], "gone", hold_hours=8)
        age_holds(migrated_engine, [r["score_id"] for r in _rows(60)], 9)
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def analyst(name: str) -> None:
        try:
            mine = claimed.setdefault(name, [])
            while (case := audit.claim_next(name, ["review"], since, hold_hours=8)) is not None:
                mine.append(case["score_id"])
        except BaseException as exc:                                 # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=analyst, args=(f"a{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    every = [sid for ids in claimed.values() for sid in ids]
    assert len(every) == len(set(every)) == 48                      # no case twice, every review case once
    assert "shadow" not in every and sum(1 for ids in claimed.values() if ids) >= 2
    held = {e["score_id"]: e["assigned_to"] for e in
            audit.review_queue(["review"], since, limit=100)["entries"]}
    assert all(held[sid] == name for name, ids in claimed.items() for sid in ids)
    assert audit.review_queue(["review"], since, unassigned=True)["open"] == 0


def _queued(engine) -> tuple[RiskAuditStore, object, list[str]]:
    """Ten stored cases: (the audit store, the queue's window start, the review queue's score ids in order)."""
    audit = RiskAuditStore(engine)
    audit.record_scores(_rows(10))
    since = utcnow() - timedelta(days=1)
    return audit, since, [e["score_id"] for e in audit.review_queue(["review"], since, limit=100)["entries"]]


def test_claims_follow_the_order_and_skip_held_and_decided_cases(migrated_engine):
    audit, since, queue = _queued(migrated_engine)
    audit.assign(queue[0], "lead")
    audit.record_outcome(queue[1], False)
    assert audit.claim_next("x", ["review"], since)["score_id"] == queue[2]
    free = audit.review_queue(["review"], since, order="newest", unassigned=True, limit=100)["entries"]
    assert queue[0] not in {e["score_id"] for e in free} and queue[2] not in {e["score_id"] for e in free}
    newest = audit.claim_next("x", ["review"], since, order="newest")
    assert newest["score_id"] == free[0]["score_id"] and newest["assigned_to"] == "x"
    assert audit.claim_next("x", ["review"], since, model="other") is None
    assert audit.unassigned_count(["review"], since) == len(queue) - 4


def test_assign_and_release(migrated_engine):
    audit = RiskAuditStore(migrated_engine)
    audit.record_scores(_rows(3))
    done = audit.assign("s001", "dana")
    assert done["assigned_to"] == "dana" and done["assigned_at"] is not None
    assert audit.score("s001")["assigned_to"] == "dana"
    released = audit.assign("s001", None)
    assert released["assigned_to"] is None and released["assigned_at"] is None
    assert audit.assign("nope", "x") is None


def test_a_lapsed_hold_counts_as_nobodys_and_goes_to_the_next_claim(migrated_engine):
    audit, since, queue = _queued(migrated_engine)
    audit.assign(queue[0], "left-early", hold_hours=8)
    audit.assign(queue[1], "at-work", hold_hours=8)
    audit.assign(queue[2], "on-leave", hold_hours=0)                          # held until released
    age_holds(migrated_engine, [queue[0]], 9)
    age_holds(migrated_engine, [queue[1]], 7)
    age_holds(migrated_engine, [queue[2]], 24 * 365)
    free = {e["score_id"] for e in audit.review_queue(["review"], since, unassigned=True, limit=100)["entries"]}
    assert free == set(queue) - {queue[1], queue[2]}
    assert audit.unassigned_count(["review"], since) == len(queue) - 2
    taken = audit.claim_next("y", ["review"], since, hold_hours=8)
    assert taken["score_id"] == queue[0] and taken["assigned_to"] == "y"       # the riskiest unheld: the lapsed one
    assert audit.claim_next("z", ["review"], since, hold_hours=8)["score_id"] == queue[3]   # y's hold is fresh


def test_each_claim_and_assignment_holds_for_its_own_hours(migrated_engine):
    audit, since, queue = _queued(migrated_engine)
    short = audit.claim_next("night", ["review"], since, hold_hours=0.5)
    assert short["hold_until"] - short["assigned_at"] == timedelta(minutes=30)
    long = audit.claim_next("day", ["review"], since, hold_hours=12)
    assert long["hold_until"] - long["assigned_at"] == timedelta(hours=12)
    age_holds(migrated_engine, [short["score_id"], long["score_id"]], 1)      # an hour on: only the short one lapsed
    assert audit.claim_next("next", ["review"], since, hold_hours=8)["score_id"] == short["score_id"]
    given = audit.assign(long["score_id"], "day", hold_hours=2.5)                # renewed, for another length
    assert given["hold_until"] - given["assigned_at"] == timedelta(hours=2.5)
    assert audit.score(long["score_id"])["hold_until"] == given["hold_until"]
    forever = audit.assign(queue[-1], "lead", hold_hours=0)
    assert forever["hold_until"] is None and audit.score(queue[-1])["hold_until"] is None
    released = audit.assign(long["score_id"], None, hold_hours=3)
    assert released["hold_until"] is None and audit.score(long["score_id"])["hold_until"] is None


def test_migration_0017_gives_holds_taken_before_it_the_configured_length(migrated_engine):
    audit = RiskAuditStore(migrated_engine)
    audit.record_scores(_rows(3))
    downgrade(migrated_engine, "0016")
    assert "hold_until" not in {c["name"] for c in inspect(migrated_engine).get_columns("risk_scores")}
    taken = utcnow().replace(microsecond=0) - timedelta(hours=1)
    c = s.risk_scores.c
    with migrated_engine.begin() as conn:                           # a hold as 0014-0016 stored it
        conn.execute(s.risk_scores.update().where(c.score_id == "s001").values(assigned_to="dana", assigned_at=taken))
    upgrade(migrated_engine, risk_hold_hours=3)
    assert audit.score("s001")["hold_until"] == taken + timedelta(hours=3)
    assert audit.score("s002")["hold_until"] is None                # nobody held it
    downgrade(migrated_engine, "0016")
    upgrade(migrated_engine, risk_hold_hours=0)                     # holds never lapsed: they still do not
    assert audit.score("s001")["hold_until"] is None
    assert audit.unassigned_count(["review"], utcnow() - timedelta(days=1)) == 1   # s002: s001 stays dana's


def test_migration_0014_adds_and_drops_the_assignment_columns(migrated_engine):
    audit = RiskAuditStore(migrated_engine)
    audit.record_scores(_rows(2))
    audit.assign("s001", "dana")
    downgrade(migrated_engine, "0013")
    assert not {"assigned_to", "assigned_at"} & {c["name"] for c in inspect(migrated_engine).get_columns("risk_scores")}
    upgrade(migrated_engine)
    columns = {c["name"]: c for c in inspect(migrated_engine).get_columns("risk_scores")}
    assert columns["assigned_to"]["nullable"] and columns["assigned_at"]["nullable"]
    assert RiskAuditStore(migrated_engine).score("s001")["assigned_to"] is None
