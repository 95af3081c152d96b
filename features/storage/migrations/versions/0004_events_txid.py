"""events.txid on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 19:00:00

The id of the transaction that stored each event, for the risk history cache (features.history_cache), and an
index to read a customer's events by it. PostgreSQL only; nothing on SQLite (see storage.schema.PG_ONLY).
pg_current_xact_id() is a stable function, so adding the column does not rewrite the table: existing rows all
read this migration's transaction id.
"""
from __future__ import annotations

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('ALTER TABLE events ADD COLUMN IF NOT EXISTS txid xid8 NOT NULL DEFAULT pg_current_xact_id()')
    op.execute('CREATE INDEX IF NOT EXISTS ix_events_customer_id_txid ON events (customer_id, txid)')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP INDEX IF EXISTS ix_events_customer_id_txid')
    op.execute('ALTER TABLE events DROP COLUMN IF EXISTS txid')
