"""risk scores and thresholds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 01:22:55.982382
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_thresholds',
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('review', sa.Float(), nullable=False),
    sa.Column('decline', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('model', name=op.f('pk_model_thresholds'))
    )
    op.create_table('risk_scores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('score_id', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=True),
    sa.Column('transaction_id', sa.String(length=128), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('features', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_scores')),
    sa.UniqueConstraint('score_id', name=op.f('uq_risk_scores_score_id'))
    )
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.create_index('ix_risk_scores_customer_id_created_at', ['customer_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_scores_customer_id_created_at')

    op.drop_table('risk_scores')
    op.drop_table('model_thresholds')
