"""District-year scale: the KPI facts projection, one row per case, indexed by report time.

`case_kpi_facts` holds one row per case with what the KPIs need from its events, kept by a trigger
on `case_events` inserts (PostgreSQL; SQLite folds the events in Python) and backfilled here from the
existing events, so the dashboard reads one narrow row per case (storage.kpi_sql). Measured by
tests/bench/bench_db_scale.py on a million cases, which also showed that the case list and the
scheduler's claim need no index beyond those of 0001 (ix_cases_created_at, ix_due_items_pending).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.kpi_sql import BACKFILL_SQL, DROP_TRIGGER_SQL, TRIGGER_SQL

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_kpi_facts',
        sa.Column('case_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('street_code', sa.String(length=12), nullable=True),
        sa.Column('department_key', sa.String(length=32), nullable=True),
        sa.Column('report_at', sa.DateTime(), nullable=False),
        sa.Column('report_us', sa.BigInteger(), nullable=False),
        sa.Column('report_day', sa.Integer(), nullable=False),
        sa.Column('auto_dispatch', sa.Boolean(), nullable=False),
        sa.Column('respond_us', sa.BigInteger(), nullable=True),
        sa.Column('sign_us', sa.BigInteger(), nullable=True),
        sa.Column('handled_us', sa.BigInteger(), nullable=True),
        sa.Column('handled_on_site', sa.Boolean(), nullable=True),
        sa.Column('confirm_day', sa.Integer(), nullable=True),
        sa.Column('hops', sa.Integer(), nullable=False),
        sa.Column('overdue', sa.Boolean(), nullable=False),
        sa.Column('reopened', sa.Boolean(), nullable=False),
        sa.Column('rating_sum', sa.BigInteger(), nullable=False),
        sa.Column('rating_n', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_kpi_facts_case_id_cases')),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_kpi_facts')),
    )
    op.create_index(op.f('ix_case_kpi_facts_report_at'), 'case_kpi_facts', ['report_at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(TRIGGER_SQL)
        op.execute(BACKFILL_SQL)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(DROP_TRIGGER_SQL)
    op.drop_index(op.f('ix_case_kpi_facts_report_at'), table_name='case_kpi_facts')
    op.drop_table('case_kpi_facts')
