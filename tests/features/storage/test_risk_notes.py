"""Analysts' notes on risk cases on SQLite and PostgreSQL: stored, read back oldest first per case; migration
0015."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

from features.storage.migrate import downgrade, upgrade
from features.storage.risk_notes import MAX_NOTE_CHARS, RiskNoteStore


def test_notes_are_stored_and_read_back_per_case_oldest_first(migrated_engine):
    notes = RiskNoteStore(migrated_engine)
    assert notes.notes("s1") == []
    first = notes.add("s1", "Called the customer: card not in their hands.", "alice")
    notes.add("s2", "Other case.", None)
    second = notes.add("s1", "Bank confirms the chargeback.", "bob")
    assert second["note_id"] > first["note_id"] and first["author"] == "alice"
    read = notes.notes("s1")
    assert [(n["author"], n["text"]) for n in read] == [
        ("alice", "Called the customer: card not in their hands."), ("bob", "Bank confirms the chargeback.")]
    assert read[0]["note_id"] == first["note_id"] and read[0]["created_at"] <= read[1]["created_at"]
    assert [n["text"] for n in notes.notes("s2")] == ["Other case."]
    long = "x" * MAX_NOTE_CHARS
    assert notes.add("s3", long, None)["text"] == long and notes.notes("s3")[0]["text"] == long
    with pytest.raises(ValueError):
        notes.add("s1", "", "alice")
    with pytest.raises(ValueError):
        notes.add("s1", long + "x", "alice")


def test_migration_0015_adds_and_drops_the_notes_table(migrated_engine):
    RiskNoteStore(migrated_engine).add("s1", "kept?", None)
    downgrade(migrated_engine, "0014")
    assert "risk_case_notes" not in inspect(migrated_engine).get_table_names()
    upgrade(migrated_engine)
    assert {i["name"] for i in inspect(migrated_engine).get_indexes("risk_case_notes")} == {
        "ix_risk_case_notes_score_id"}
    assert RiskNoteStore(migrated_engine).notes("s1") == []
