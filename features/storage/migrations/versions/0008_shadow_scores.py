"""shadow scores of a challenger model

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 02:50:00

A challenger version in shadow mode scores the same cases as the serving (champion) version without deciding
them; its audit rows name the champion's score in ``shadow_of`` (service/pipelines/risk.py), so outcomes recorded
on the champion's score reach the challenger's too and the two can be compared case by case.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shadow_of', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_risk_scores_shadow_of', ['shadow_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_scores_shadow_of')
        batch_op.drop_column('shadow_of')
