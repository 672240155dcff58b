"""task state

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('task_state',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('checkpoint', store.types.UTCDateTime(), nullable=True),
    sa.Column('inputs', sa.String(length=64), nullable=True),
    sa.Column('last_run_at', store.types.UTCDateTime(), nullable=True),
    sa.Column('updated_at', store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_task_state')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    mysql_engine='InnoDB'
    )


def downgrade() -> None:
    op.drop_table('task_state')
