"""central schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', store.types.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=191), nullable=False),
    sa.Column('details', store.types.JSONText(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_target_type_target'), ['target_type', 'target'], unique=False)

    op.create_table('channel_listing',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('external_ref', sa.String(length=128), nullable=True),
    sa.Column('last_pushed_qty', sa.BigInteger(), nullable=True),
    sa.Column('pushed_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('last_seen_qty', sa.BigInteger(), nullable=True),
    sa.Column('seen_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('push_version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_listing')),
    sa.UniqueConstraint('channel', 'sku', name=op.f('uq_channel_listing_channel_sku')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('location',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('safety_stock', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['location.id'], name=op.f('fk_location_parent_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location')),
    sa.UniqueConstraint('code', name=op.f('uq_location_code')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_parent_id'), ['parent_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=191), nullable=False),
    sa.Column('payload', store.types.JSONText(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('failed_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_delivered_at_next_attempt_at'), ['delivered_at', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_topic_delivered_at'), ['topic', 'delivered_at'], unique=False)

    op.create_table('product',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('uom', sa.String(length=16), nullable=False),
    sa.Column('barcode', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product')),
    sa.UniqueConstraint('sku', name=op.f('uq_product_sku')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_category'), ['category'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('record_key', sa.String(length=191), nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', store.types.JSONText(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seen_count', sa.Integer(), nullable=False),
    sa.Column('first_seen', store.types.UTCDateTime(), nullable=False),
    sa.Column('last_seen', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('connector', 'stream', 'record_key', name=op.f('uq_quarantine_connector_stream_record_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_status_reason_code'), ['status', 'reason_code'], unique=False)

    op.create_table('sales_order',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('source_status', sa.String(length=32), nullable=True),
    sa.Column('hold_reason', sa.String(length=255), nullable=True),
    sa.Column('placed_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('source_updated_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', sa.Numeric(precision=18, scale=4), nullable=True),
    sa.Column('customer_ref', sa.String(length=128), nullable=True),
    sa.Column('ship_region', sa.String(length=191), nullable=True),
    sa.Column('ship_to_sealed', sa.Text(), nullable=True),
    sa.Column('payload_digest', sa.String(length=64), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_order')),
    sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_sales_order_channel_external_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('sales_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_order_status_updated_at'), ['status', 'updated_at'], unique=False)

    op.create_table('sku_binding',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('external_sku', sa.String(length=128), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('uom_factor', sa.Integer(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sku_binding')),
    sa.UniqueConstraint('system', 'external_sku', name=op.f('uq_sku_binding_system_external_sku')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('sku_binding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sku_binding_sku'), ['sku'], unique=False)

    op.create_table('sync_cursor',
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=True),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('connector', 'stream', name=op.f('pk_sync_cursor')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('sync_lease',
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('fence', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', store.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('connector', 'stream', name=op.f('pk_sync_lease')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    op.create_table('sync_run',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('finished_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('records_in', sa.Integer(), nullable=False),
    sa.Column('records_changed', sa.Integer(), nullable=False),
    sa.Column('records_quarantined', sa.Integer(), nullable=False),
    sa.Column('cursor_before', sa.String(length=255), nullable=True),
    sa.Column('cursor_after', sa.String(length=255), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_run')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_run_connector_stream_started_at'), ['connector', 'stream', 'started_at'], unique=False)

    op.create_table('alert',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=True),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('open_key', sa.String(length=191), nullable=True),
    sa.Column('details', store.types.JSONText(), nullable=True),
    sa.Column('opened_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('acknowledged_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=True),
    sa.Column('escalated_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('muted_until', store.types.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', store.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_alert_location_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('open_key', name=op.f('uq_alert_open_key')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_state_severity'), ['state', 'severity'], unique=False)

    op.create_table('dispatch_instruction',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('part_no', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('carrier_hint', sa.String(length=64), nullable=True),
    sa.Column('due_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('sent_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('shipped_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('carrier', sa.String(length=64), nullable=True),
    sa.Column('tracking_no', sa.String(length=64), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_dispatch_instruction_location_id_location')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_dispatch_instruction_order_id_sales_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_instruction')),
    sa.UniqueConstraint('number', name=op.f('uq_dispatch_instruction_number')),
    sa.UniqueConstraint('order_id', 'location_id', 'part_no', name=op.f('uq_dispatch_instruction_order_id_location_id_part_no')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('dispatch_instruction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_instruction_location_id_status'), ['location_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispatch_instruction_status_due_at'), ['status', 'due_at'], unique=False)

    op.create_table('location_region',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('region', sa.String(length=191), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_location_region_location_id_location'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_region')),
    sa.UniqueConstraint('location_id', 'region', name=op.f('uq_location_region_location_id_region')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('location_region', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_region_region'), ['region'], unique=False)

    op.create_table('order_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('external_line_id', sa.String(length=128), nullable=True),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('qty_shipped', sa.BigInteger(), nullable=False),
    sa.Column('qty_returned', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_order_line_order_id_sales_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_line')),
    sa.UniqueConstraint('order_id', 'line_no', name=op.f('uq_order_line_order_id_line_no')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_line_sku'), ['sku'], unique=False)

    op.create_table('stock_level',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('on_hand', sa.BigInteger(), nullable=False),
    sa.Column('reserved', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('source_as_of', store.types.UTCDateTime(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_stock_level_location_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_level')),
    sa.UniqueConstraint('sku', 'location_id', name=op.f('uq_stock_level_sku_location_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_level_location_id'), ['location_id'], unique=False)

    op.create_table('stock_movement',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('delta_on_hand', sa.BigInteger(), nullable=False),
    sa.Column('delta_reserved', sa.BigInteger(), nullable=False),
    sa.Column('on_hand_after', sa.BigInteger(), nullable=False),
    sa.Column('reserved_after', sa.BigInteger(), nullable=False),
    sa.Column('ref_type', sa.String(length=32), nullable=True),
    sa.Column('ref', sa.String(length=128), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_stock_movement_location_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movement')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_movement_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movement_ref_type_ref'), ['ref_type', 'ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movement_sku_location_id_id'), ['sku', 'location_id', 'id'], unique=False)

    op.create_table('allocation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('location_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dispatch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dispatch_id'], ['dispatch_instruction.id'], name=op.f('fk_allocation_dispatch_id_dispatch_instruction')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_allocation_location_id_location')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_allocation_order_line_id_order_line'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('allocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allocation_dispatch_id'), ['dispatch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_allocation_location_id_status'), ['location_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_allocation_order_line_id_location_id'), ['order_line_id', 'location_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('allocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocation_order_line_id_location_id'))
        batch_op.drop_index(batch_op.f('ix_allocation_location_id_status'))
        batch_op.drop_index(batch_op.f('ix_allocation_dispatch_id'))

    op.drop_table('allocation')
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_movement_sku_location_id_id'))
        batch_op.drop_index(batch_op.f('ix_stock_movement_ref_type_ref'))
        batch_op.drop_index(batch_op.f('ix_stock_movement_created_at'))

    op.drop_table('stock_movement')
    with op.batch_alter_table('stock_level', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_level_location_id'))

    op.drop_table('stock_level')
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_line_sku'))

    op.drop_table('order_line')
    with op.batch_alter_table('location_region', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_region_region'))

    op.drop_table('location_region')
    with op.batch_alter_table('dispatch_instruction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_instruction_status_due_at'))
        batch_op.drop_index(batch_op.f('ix_dispatch_instruction_location_id_status'))

    op.drop_table('dispatch_instruction')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_state_severity'))

    op.drop_table('alert')
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_run_connector_stream_started_at'))

    op.drop_table('sync_run')
    op.drop_table('sync_lease')
    op.drop_table('sync_cursor')
    with op.batch_alter_table('sku_binding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sku_binding_sku'))

    op.drop_table('sku_binding')
    with op.batch_alter_table('sales_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_order_status_updated_at'))

    op.drop_table('sales_order')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_status_reason_code'))

    op.drop_table('quarantine')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_category'))

    op.drop_table('product')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_topic_delivered_at'))
        batch_op.drop_index(batch_op.f('ix_outbox_delivered_at_next_attempt_at'))

    op.drop_table('outbox')
    with op.batch_alter_table('location', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_parent_id'))

    op.drop_table('location')
    op.drop_table('channel_listing')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_target_type_target'))
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
