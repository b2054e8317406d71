"""Durable inbound turns: an acknowledged WeChat message survives a Rasa process killed mid-turn.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_turns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('sender_id', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=96), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('lease_until', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name=op.f('ck_inbound_turns_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_turns')),
    sa.UniqueConstraint('channel', 'key', name=op.f('uq_inbound_turns_channel_key'))
    )
    with op.batch_alter_table('inbound_turns', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_turns_pending', ['status', 'lease_until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbound_turns', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_turns_pending')
    op.drop_table('inbound_turns')
