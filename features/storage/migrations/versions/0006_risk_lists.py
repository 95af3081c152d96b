"""risk block and allow lists

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:25:00

Listed values of a case's attributes (a customer, a device, an IP, a country, a feature column) decline or
approve it whatever the model says (service/pipelines/risk_lists.py); each score's audit row keeps the entry
that decided it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_lists',
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('field', 'value', name=op.f('pk_risk_lists'))
    )
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_match', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_column('list_match')
    op.drop_table('risk_lists')
