"""where a recommendation list was shown

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:00:00

``recommendation_lists.channel``: api (POST /v1/recommendations), chat (a chat reply) or campaign (a
``kefu recommend`` file), so GET /v1/recommendations/performance can report and filter per channel. Lists logged
before this revision keep NULL, which reads as api (they all came from the HTTP endpoint).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recommendation_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recommendation_lists', schema=None) as batch_op:
        batch_op.drop_column('channel')
