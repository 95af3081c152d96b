"""Risk decision rules on SQLite and PostgreSQL: written, replaced (keeping the creation time), read per model and
by activity, deleted; the audit row's rule_matches and payment fields; migrations 0012 and 0013."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from features.storage.migrate import downgrade, upgrade
from features.storage.risk_audit import RiskAuditStore
from features.storage.risk_rules import RiskRuleStore
from features.storage.store import utcnow

BIG = [{"field": "amount", "op": ">", "value": 5000}, {"field": "new_country", "op": "==", "value": 1}]


def test_a_rule_is_written_replaced_read_and_deleted(migrated_engine):
    store = RiskRuleStore(migrated_engine)
    assert store.rules() == [] and store.get("big") is None
    first = store.put("big", "transactions", BIG, "review", reason="big and new", by="key-1")
    assert (first["name"], first["model"], first["when"], first["action"], first["reason"], first["enabled"]) == (
        "big", "transactions", BIG, "review", "big and new", True)
    assert first["created_by"] == "key-1" and first["expires_at"] is None
    time.sleep(0.01)
    again = store.put("big", "transactions", BIG[:1], "decline", enabled=False, by="key-2")
    assert (again["when"], again["action"], again["reason"], again["enabled"]) == (BIG[:1], "decline", None, False)
    assert again["created_at"] == first["created_at"] and again["updated_at"] > first["updated_at"]
    store.put("cards-score", "cards", [{"field": "country", "op": "in", "value": ["XX", "YY"]}], "review")
    assert [r["name"] for r in store.rules()] == ["big", "cards-score"]
    assert [r["name"] for r in store.rules(model="cards")] == ["cards-score"]
    assert store.rules(model="cards")[0]["when"] == [{"field": "country", "op": "in", "value": ["XX", "YY"]}]
    assert store.delete("big") and not store.delete("big")
    assert [r["name"] for r in store.rules()] == ["cards-score"]


def test_only_enabled_unexpired_rules_are_active(migrated_engine):
    store = RiskRuleStore(migrated_engine)
    now = utcnow()
    store.put("on", "cards", BIG, "review")
    store.put("off", "cards", BIG, "review", enabled=False)
    store.put("gone", "cards", BIG, "review", expires_at=now - timedelta(minutes=1))
    store.put("later", "cards", BIG, "decline", expires_at=now + timedelta(hours=1))
    assert [r["name"] for r in store.rules(active_at=now)] == ["later", "on"]
    assert len(store.rules()) == 4


def test_bad_actions_and_empty_conditions_are_refused(migrated_engine):
    store = RiskRuleStore(migrated_engine)
    with pytest.raises(ValueError):
        store.put("x", "cards", BIG, "approve")
    with pytest.raises(ValueError):
        store.put("x", "cards", [], "review")


def _row(score_id, **extra):
    return {"score_id": score_id, "model": "cards", "model_version": "v1", "customer_id": "c1",
            "score": 0.3, "decision": "review", "reasons": [], "features": {"amount": 1.0}, **extra}


def test_the_audit_row_keeps_the_rule_matches(migrated_engine):
    audit = RiskAuditStore(migrated_engine)
    hit = [{"name": "big", "action": "review", "reason": "big and new"}]
    audit.record_scores([_row("s1", rule_matches=hit), _row("s2", rule_matches=[]), _row("s3")])
    assert audit.score("s1")["rule_matches"] == hit
    assert audit.score("s2")["rule_matches"] == [] and audit.score("s3")["rule_matches"] == []
    assert {r["score_id"]: r["rule_matches"] for r in audit.customer_scores("c1")} == {"s1": hit, "s2": [], "s3": []}


def test_migration_0012_adds_and_drops_the_rules_table_and_column(migrated_engine):
    RiskRuleStore(migrated_engine).put("big", "cards", BIG, "review")
    RiskAuditStore(migrated_engine).record_scores([_row("s1", rule_matches=[{"name": "big", "action": "review",
                                                                             "reason": None}])])
    downgrade(migrated_engine, "0011")
    assert "risk_rules" not in inspect(migrated_engine).get_table_names()
    assert "rule_matches" not in {c["name"] for c in inspect(migrated_engine).get_columns("risk_scores")}
    upgrade(migrated_engine)
    columns = {c["name"]: c for c in inspect(migrated_engine).get_columns("risk_rules")}
    assert set(columns) == {"name", "model", "conditions", "action", "reason", "enabled", "expires_at",
                            "created_by", "created_at", "updated_at"}
    assert columns["name"]["type"].length == 64 and columns["expires_at"]["nullable"]
    assert not columns["conditions"]["nullable"] and not columns["enabled"]["nullable"]
    scores = {c["name"]: c for c in inspect(migrated_engine).get_columns("risk_scores")}
    assert scores["rule_matches"]["nullable"]
    assert RiskRuleStore(migrated_engine).rules() == []
    assert RiskAuditStore(migrated_engine).score("s1")["rule_matches"] == []


def test_the_audit_row_keeps_a_payments_raw_fields_for_backtests(migrated_engine):
    from datetime import timedelta

    audit = RiskAuditStore(migrated_engine)
    payment = {"amount": 12.5, "country": "DE", "device_id": "d-1"}
    audit.record_scores([_row("s1", payment=payment), _row("s2"), _row("s3", shadow_of="s1", payment=payment),
                         _row("s4", model="other")])
    assert audit.score("s1")["payment"] == payment and audit.score("s2")["payment"] is None
    cases = list(audit.decided_cases("cards", utcnow() - timedelta(days=1), 10))
    assert [c["score_id"] for c in cases] == ["s2", "s1"]          # newest first, no shadow, one model
    assert cases[1]["payment"] == payment and cases[1]["features"] == {"amount": 1.0}
    assert cases[0]["rule_matches"] == [] and cases[0]["outcome"] is None
    assert [c["score_id"] for c in audit.decided_cases("cards", utcnow() - timedelta(days=1), 1)] == ["s2"]
    assert list(audit.decided_cases("cards", utcnow() + timedelta(seconds=1), 10)) == []


def test_migration_0013_adds_and_drops_the_payment_column(migrated_engine):
    RiskAuditStore(migrated_engine).record_scores([_row("s1", payment={"ip": "10.0.0.1"})])
    downgrade(migrated_engine, "0012")
    assert "payment" not in {c["name"] for c in inspect(migrated_engine).get_columns("risk_scores")}
    upgrade(migrated_engine)
    scores = {c["name"]: c for c in inspect(migrated_engine).get_columns("risk_scores")}
    assert scores["payment"]["nullable"]
    assert RiskAuditStore(migrated_engine).score("s1")["payment"] is None     # dropped with the column
