"""scheduled promotions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 08:10:00

``promotions``: promotions a merchandiser schedules once (items and categories, the share of places they keep,
the channels, a priority, and when they start and end). While one is live, every recommendation list on its
channels keeps places for it without the caller sending it (service/pipelines/promotions.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('promotions',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_promotions'))
    )


def downgrade() -> None:
    op.drop_table('promotions')
