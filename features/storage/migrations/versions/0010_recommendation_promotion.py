"""the promotion a recommendation list carried

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 06:30:00

``recommendation_lists.promotion``: the name of the request's promotion (NULL: none), and ``promoted``: one
flag per listed item, true where the item was in the promotion, so GET /v1/recommendations/performance can report
how each promotion's items did against the other items of the same lists.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recommendation_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('promotion', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('promoted', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recommendation_lists', schema=None) as batch_op:
        batch_op.drop_column('promoted')
        batch_op.drop_column('promotion')
