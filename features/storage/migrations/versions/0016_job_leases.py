"""leases for jobs that run in one place

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 16:45:00

``job_leases``: the host that runs a single-instance job (the recommender's scheduled refresh under several
``kefu serve`` hosts) and until when its claim holds (features/storage/leases.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases'))
    )


def downgrade() -> None:
    op.drop_table('job_leases')
