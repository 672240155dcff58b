"""orders, dispatch and shipments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('request_nonce',
    sa.Column('nonce', sa.String(length=191), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_request_nonce')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('request_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_nonce_expires_at'), ['expires_at'], unique=False)

    op.create_table('shipment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dispatch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('carrier', sa.String(length=64), nullable=False),
    sa.Column('tracking_no', sa.String(length=64), nullable=False),
    sa.Column('shipped_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('lines', store.types.JSONText(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dispatch_id'], ['dispatch_instruction.id'], name=op.f('fk_shipment_dispatch_id_dispatch_instruction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment')),
    sa.UniqueConstraint('dispatch_id', 'tracking_no', name=op.f('uq_shipment_dispatch_id_tracking_no')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('dispatch_instruction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('send_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('escalated_at', store.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('recall_requested_at', store.types.UTCDateTime(), nullable=True))

    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_level_updated_at'), ['updated_at'], unique=False)

    with op.batch_alter_table('sales_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ship_postal', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('ship_to_missing', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('change_note', sa.String(length=255), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_level_updated_at'))

    with op.batch_alter_table('sales_order', schema=None) as batch_op:
        batch_op.drop_column('change_note')
        batch_op.drop_column('ship_to_missing')
        batch_op.drop_column('ship_postal')

    with op.batch_alter_table('dispatch_instruction', schema=None) as batch_op:
        batch_op.drop_column('recall_requested_at')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('send_count')
        batch_op.drop_column('acknowledged_by')

    op.drop_table('shipment')
    with op.batch_alter_table('request_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_nonce_expires_at'))

    op.drop_table('request_nonce')
