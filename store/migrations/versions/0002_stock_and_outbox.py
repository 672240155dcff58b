"""stock reservations, snapshots and outbox partitions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('allocation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipped_at', store.types.UTCDateTime(), nullable=True))

    with op.batch_alter_table('channel_listing', schema=None) as batch_op:
        batch_op.add_column(sa.Column('planned_qty', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('planned_at', store.types.UTCDateTime(), nullable=True))

    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stock_source', sa.String(length=64), nullable=True))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('partition_key', sa.String(length=128), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', store.types.UTCDateTime(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_outbox_topic_delivered_at'))
        batch_op.create_index(batch_op.f('ix_outbox_topic_partition_key_delivered_at_id'), ['topic', 'partition_key', 'delivered_at', 'id'], unique=False)

    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seen_run_id', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_ref', sa.String(length=191), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_stock_movement_source_external_ref'), ['source', 'external_ref'])



def downgrade() -> None:
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_stock_movement_source_external_ref'), type_='unique')
        batch_op.drop_column('external_ref')

    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.drop_column('seen_run_id')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_topic_partition_key_delivered_at_id'))
        batch_op.create_index(batch_op.f('ix_outbox_topic_delivered_at'), ['topic', 'delivered_at'], unique=False)
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('partition_key')

    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_column('stock_source')

    with op.batch_alter_table('channel_listing', schema=None) as batch_op:
        batch_op.drop_column('planned_at')
        batch_op.drop_column('planned_qty')

    with op.batch_alter_table('allocation', schema=None) as batch_op:
        batch_op.drop_column('shipped_at')

