"""the payment's raw fields on a behavioural score's audit row

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 10:30:00

``risk_scores.payment``: the raw fields a decision rule may test besides a behavioural model's computed
features (amount, country, device_id, ip, as sent), so a rule can be back-tested on stored cases
(service/pipelines/risk_backtest.py) and a case's view shows the payment as it came; NULL for table models and
for scores stored before.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_column('payment')
