"""when each review hold lapses

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 19:45:00

``risk_scores.hold_until``: the moment the analyst's hold on a review case lapses, set when the case is claimed or
given (after that claim's or assignment's own hours), NULL while nobody holds it or when the hold never lapses.
Before, every hold lapsed KEFU_RISK_HOLD_HOURS after it was taken, so one length served every analyst and a
change of the setting moved the holds already taken. Holds taken before this revision get the length that setting
gives when the migration runs (handed over by ``features.storage.migrate.upgrade``; 0 = never lapses), so they
lapse as they would have.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import context, op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_until', sa.DateTime(), nullable=True))
    hours = float(context.config.attributes["risk_hold_hours"])     # always set by migrate.alembic_config
    if hours <= 0:
        return
    scores = sa.table('risk_scores', sa.column('id', sa.Integer), sa.column('assigned_to', sa.String),
                      sa.column('assigned_at', sa.DateTime), sa.column('hold_until', sa.DateTime))
    conn = op.get_bind()
    held = conn.execute(sa.select(scores.c.id, scores.c.assigned_at)
                        .where(scores.c.assigned_to.is_not(None), scores.c.assigned_at.is_not(None))).all()
    set_until = (scores.update().where(scores.c.id == sa.bindparam('row_id'))
                 .values(hold_until=sa.bindparam('until')))
    for start in range(0, len(held), 10_000):      # date arithmetic in Python: the same on SQLite and PostgreSQL
        conn.execute(set_until, [{"row_id": row_id, "until": at + timedelta(hours=hours)}
                                 for row_id, at in held[start:start + 10_000]])


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_column('hold_until')
