"""who holds a review case

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 10:20:00

``risk_scores.assigned_to`` / ``assigned_at``: the analyst who claimed or was given a case in the review queue,
and when (service/pipelines/risk_reviews.py); NULL while nobody holds it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_to', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('assigned_to')
