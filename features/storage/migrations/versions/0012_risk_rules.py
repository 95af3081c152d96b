"""risk decision rules

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 09:00:00

``risk_rules``: a risk team's own conditions on a model's cases (features, raw payment fields, the score), ANDed,
each escalating a matching case to review or decline (service/pipelines/risk_rules.py); each score's audit row
keeps the rules that matched it (``risk_scores.rule_matches``).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_rules',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_risk_rules'))
    )
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_matches', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_column('rule_matches')
    op.drop_table('risk_rules')
