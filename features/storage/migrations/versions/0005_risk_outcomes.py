"""risk score outcomes and a per-model index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:20:00

What each scored case turned out to be, when an analyst records it, and an index to read a model's scores by
time (model monitoring, models/risk/monitoring.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('outcome_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('outcome_by', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_risk_scores_model_created_at', ['model', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_scores_model_created_at')
        batch_op.drop_column('outcome_by')
        batch_op.drop_column('outcome_at')
        batch_op.drop_column('outcome')
