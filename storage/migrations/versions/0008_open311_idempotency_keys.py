"""Open311 idempotency keys: a POST retried with the same Idempotency-Key opens its case once.

One row per (client, key), written with the case it opened; see storage.idempotency. The index on
`created_at` serves the worker's pruning of keys older than 24 hours.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open311_idempotency_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_digest', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('case_code', sa.String(length=20), nullable=False),
    sa.Column('service_notice', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_code'], ['cases.code'],
                            name=op.f('fk_open311_idempotency_keys_case_code_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_idempotency_keys')),
    sa.UniqueConstraint('client_digest', 'idempotency_key',
                        name=op.f('uq_open311_idempotency_keys_client_digest_idempotency_key'))
    )
    with op.batch_alter_table('open311_idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_open311_idempotency_keys_created_at'), ['created_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('open311_idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open311_idempotency_keys_created_at'))
    op.drop_table('open311_idempotency_keys')
