"""Console staff accounts and their login sessions (issue 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_accounts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('department_key', sa.String(length=32), nullable=True),
    sa.Column('person_id', sa.String(length=40), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("role IN ('command_centre', 'street', 'department')", name=op.f('ck_staff_accounts_role')),
    sa.CheckConstraint("role != 'street' OR street_code IS NOT NULL", name=op.f('ck_staff_accounts_street_has_street')),
    sa.CheckConstraint("role != 'department' OR department_key IS NOT NULL", name=op.f('ck_staff_accounts_department_has_department')),
    sa.ForeignKeyConstraint(['department_key'], ['departments.key'], name=op.f('fk_staff_accounts_department_key_departments')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_staff_accounts_person_id_people')),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_staff_accounts_street_code_streets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_accounts_username'))
    )
    op.create_table('staff_sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['staff_accounts.id'], name=op.f('fk_staff_sessions_account_id_staff_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_sessions_token_hash'))
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sessions_account_id'))

    op.drop_table('staff_sessions')
    op.drop_table('staff_accounts')
