"""Case subscriptions: residents who reported a duplicate follow the original case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_subscriptions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_subscriptions_case_id_cases')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_case_subscriptions_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_subscriptions')),
    sa.UniqueConstraint('case_id', 'resident_id', name=op.f('uq_case_subscriptions_case_id_resident_id'))
    )
    with op.batch_alter_table('case_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_subscriptions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_subscriptions_resident_id'), ['resident_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_subscriptions_resident_id'))
        batch_op.drop_index(batch_op.f('ix_case_subscriptions_case_id'))

    op.drop_table('case_subscriptions')
