"""recommendation lists served

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 00:50:00

Every list POST /v1/recommendations answers, for online measurement (models/recommend/online.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recommendation_lists',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('recommendation_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('strategy', sa.String(length=16), nullable=True),
    sa.Column('context_item_id', sa.String(length=128), nullable=True),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendation_lists')),
    sa.UniqueConstraint('recommendation_id', name=op.f('uq_recommendation_lists_recommendation_id'))
    )
    with op.batch_alter_table('recommendation_lists', schema=None) as batch_op:
        batch_op.create_index('ix_recommendation_lists_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recommendation_lists', schema=None) as batch_op:
        batch_op.drop_index('ix_recommendation_lists_created_at')
    op.drop_table('recommendation_lists')
