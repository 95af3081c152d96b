"""analysts' notes on risk cases

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 10:55:00

``risk_case_notes``: notes analysts leave on a scored case (features/storage/risk_notes.py), never edited, read
back oldest first with the case.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_case_notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('score_id', sa.String(length=64), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_case_notes'))
    )
    with op.batch_alter_table('risk_case_notes', schema=None) as batch_op:
        batch_op.create_index('ix_risk_case_notes_score_id', ['score_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_case_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_case_notes_score_id')
    op.drop_table('risk_case_notes')
