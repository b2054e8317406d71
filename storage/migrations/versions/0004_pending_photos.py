"""Pending photo requests: a 现场处置完成/办结 press waits for its "after" photo across bot restarts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pending_photos',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_pending_photos_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_photos')),
    sa.UniqueConstraint('channel', 'user_id', 'chat_id', name=op.f('uq_pending_photos_channel_user_id_chat_id'))
    )
    with op.batch_alter_table('pending_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_photos_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pending_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_photos_case_id'))

    op.drop_table('pending_photos')
