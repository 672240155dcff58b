"""snapshot holds and stock reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('snapshot_hold',
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('rows_to_zero', sa.Integer(), nullable=False),
    sa.Column('rows_held', sa.Integer(), nullable=False),
    sa.Column('opened_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('connector', 'stream', name=op.f('pk_snapshot_hold')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('stock_report',
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('first_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_stock_report_location_id_location')),
    sa.PrimaryKeyConstraint('location_id', 'connector', name=op.f('pk_stock_report')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zero_run_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('zero_as_of', store.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.drop_column('zero_as_of')
        batch_op.drop_column('zero_run_id')

    op.drop_table('stock_report')
    op.drop_table('snapshot_hold')
