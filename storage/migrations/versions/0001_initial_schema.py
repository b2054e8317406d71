"""Initial schema: organisation, residents, cases, events, ratings, outbox, dedupe, due items.

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_counters',
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_case_counters'))
    )
    op.create_table('console_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=160), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient_kind', sa.String(length=16), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_console_messages_idempotency_key'))
    )
    with op.batch_alter_table('console_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_messages_recipient_id'), ['recipient_id'], unique=False)

    op.create_table('inbound_dedupe',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_dedupe')),
    sa.UniqueConstraint('channel', 'key', name=op.f('uq_inbound_dedupe_channel_key'))
    )
    with op.batch_alter_table('inbound_dedupe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_dedupe_seen_at'), ['seen_at'], unique=False)

    op.create_table('residents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('nickname', sa.String(length=64), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_residents')),
    sa.UniqueConstraint('openid', name=op.f('uq_residents_openid'))
    )
    op.create_table('streets',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('full_name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_streets')),
    sa.UniqueConstraint('name', name=op.f('uq_streets_name'))
    )
    op.create_table('communities',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_communities_street_code_streets')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_communities'))
    )
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_communities_street_code'), ['street_code'], unique=False)

    op.create_table('departments',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.CheckConstraint("(scope = 'street') = (street_code IS NOT NULL)", name=op.f('ck_departments_street_scope_has_street')),
    sa.CheckConstraint("scope IN ('district', 'street')", name=op.f('ck_departments_scope')),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_departments_street_code_streets')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_departments'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_departments_code'), ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_departments_street_code'), ['street_code'], unique=False)

    op.create_table('grids',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('community_code', sa.String(length=16), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_code'], ['communities.code'], name=op.f('fk_grids_community_code_communities')),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_grids_street_code_streets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grids'))
    )
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grids_community_code'), ['community_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_grids_street_code'), ['street_code'], unique=False)

    op.create_table('people',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('community_code', sa.String(length=16), nullable=True),
    sa.Column('grid_id', sa.String(length=24), nullable=True),
    sa.Column('department_key', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("role IN ('grid_worker', 'community', 'street', 'department', 'command_centre')", name=op.f('ck_people_role')),
    sa.ForeignKeyConstraint(['community_code'], ['communities.code'], name=op.f('fk_people_community_code_communities')),
    sa.ForeignKeyConstraint(['department_key'], ['departments.key'], name=op.f('fk_people_department_key_departments')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_people_grid_id_grids')),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_people_street_code_streets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_people'))
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_people_community_code'), ['community_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_department_key'), ['department_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_role'), ['role'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_street_code'), ['street_code'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('community_code', sa.String(length=16), nullable=True),
    sa.Column('grid_id', sa.String(length=24), nullable=True),
    sa.Column('department_key', sa.String(length=32), nullable=True),
    sa.Column('worker_id', sa.String(length=40), nullable=True),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('auto_dispatch', sa.Boolean(), nullable=False),
    sa.Column('routing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('duplicate_of', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("urgency IN ('urgent', 'normal', 'complex')", name=op.f('ck_cases_urgency')),
    sa.CheckConstraint('escalation_level BETWEEN 0 AND 3', name=op.f('ck_cases_escalation_level')),
    sa.ForeignKeyConstraint(['community_code'], ['communities.code'], name=op.f('fk_cases_community_code_communities')),
    sa.ForeignKeyConstraint(['department_key'], ['departments.key'], name=op.f('fk_cases_department_key_departments')),
    sa.ForeignKeyConstraint(['duplicate_of'], ['cases.id'], name=op.f('fk_cases_duplicate_of_cases')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_cases_grid_id_grids')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_cases_resident_id_residents')),
    sa.ForeignKeyConstraint(['street_code'], ['streets.code'], name=op.f('fk_cases_street_code_streets')),
    sa.ForeignKeyConstraint(['worker_id'], ['people.id'], name=op.f('fk_cases_worker_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('code', name=op.f('uq_cases_code'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_community_code'), ['community_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_department_key'), ['department_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_duplicate_of'), ['duplicate_of'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_street_code'), ['street_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_worker_id'), ['worker_id'], unique=False)

    op.create_table('chat_bindings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=40), nullable=True),
    sa.Column('department_key', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.CheckConstraint('person_id IS NOT NULL OR department_key IS NOT NULL', name=op.f('ck_chat_bindings_has_owner')),
    sa.ForeignKeyConstraint(['department_key'], ['departments.key'], name=op.f('fk_chat_bindings_department_key_departments')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_chat_bindings_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_bindings')),
    sa.UniqueConstraint('channel', 'chat_id', name=op.f('uq_chat_bindings_channel_chat_id'))
    )
    with op.batch_alter_table('chat_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_bindings_department_key'), ['department_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_bindings_person_id'), ['person_id'], unique=False)

    op.create_table('duty_shifts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=40), nullable=False),
    sa.Column('shift', sa.String(length=16), nullable=False),
    sa.Column('grid_id', sa.String(length=24), nullable=True),
    sa.Column('community_code', sa.String(length=16), nullable=True),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('weekdays', sa.String(length=7), nullable=False),
    sa.CheckConstraint("shift IN ('day', 'night')", name=op.f('ck_duty_shifts_shift')),
    sa.ForeignKeyConstraint(['community_code'], ['communities.code'], name=op.f('fk_duty_shifts_community_code_communities')),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], name=op.f('fk_duty_shifts_grid_id_grids')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_duty_shifts_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_shifts'))
    )
    with op.batch_alter_table('duty_shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duty_shifts_community_code'), ['community_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_shifts_grid_id'), ['grid_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_shifts_person_id'), ['person_id'], unique=False)

    op.create_table('case_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('from_state', sa.String(length=24), nullable=True),
    sa.Column('to_state', sa.String(length=24), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_events_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events')),
    sa.UniqueConstraint('case_id', 'seq', name=op.f('uq_case_events_case_id_seq'))
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_events_event'), ['event'], unique=False)

    op.create_table('case_media',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('uri', sa.String(length=512), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=True),
    sa.Column('meta', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_media_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_media'))
    )
    with op.batch_alter_table('case_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_media_case_id'), ['case_id'], unique=False)

    op.create_table('due_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('escalate_to', sa.Integer(), nullable=False),
    sa.Column('limit_text', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('fired_at', sa.DateTime(), nullable=True),
    sa.Column('fired_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'fired', 'cancelled')", name=op.f('ck_due_items_status')),
    sa.CheckConstraint('escalate_to BETWEEN 1 AND 3', name=op.f('ck_due_items_escalate_to')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_due_items_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_due_items')),
    sa.UniqueConstraint('case_id', 'stage', 'cycle', 'escalate_to', name=op.f('uq_due_items_case_id_stage_cycle_escalate_to'))
    )
    with op.batch_alter_table('due_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_due_items_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_due_items_pending', ['status', 'due_at'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient_kind', sa.String(length=16), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=160), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('parked_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'parked')", name=op.f('ck_outbox_status')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_outbox_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_ratings_score')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_ratings_case_id_cases')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_ratings_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings'))
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_case_id'))

    op.drop_table('ratings')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index(batch_op.f('ix_outbox_case_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('due_items', schema=None) as batch_op:
        batch_op.drop_index('ix_due_items_pending')
        batch_op.drop_index(batch_op.f('ix_due_items_case_id'))

    op.drop_table('due_items')
    with op.batch_alter_table('case_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_media_case_id'))

    op.drop_table('case_media')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_events_event'))
        batch_op.drop_index(batch_op.f('ix_case_events_at'))

    op.drop_table('case_events')
    with op.batch_alter_table('duty_shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_shifts_person_id'))
        batch_op.drop_index(batch_op.f('ix_duty_shifts_grid_id'))
        batch_op.drop_index(batch_op.f('ix_duty_shifts_community_code'))

    op.drop_table('duty_shifts')
    with op.batch_alter_table('chat_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_bindings_person_id'))
        batch_op.drop_index(batch_op.f('ix_chat_bindings_department_key'))

    op.drop_table('chat_bindings')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_worker_id'))
        batch_op.drop_index(batch_op.f('ix_cases_street_code'))
        batch_op.drop_index(batch_op.f('ix_cases_state'))
        batch_op.drop_index(batch_op.f('ix_cases_resident_id'))
        batch_op.drop_index(batch_op.f('ix_cases_grid_id'))
        batch_op.drop_index(batch_op.f('ix_cases_duplicate_of'))
        batch_op.drop_index(batch_op.f('ix_cases_department_key'))
        batch_op.drop_index(batch_op.f('ix_cases_created_at'))
        batch_op.drop_index(batch_op.f('ix_cases_community_code'))
        batch_op.drop_index(batch_op.f('ix_cases_category'))

    op.drop_table('cases')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_street_code'))
        batch_op.drop_index(batch_op.f('ix_people_role'))
        batch_op.drop_index(batch_op.f('ix_people_grid_id'))
        batch_op.drop_index(batch_op.f('ix_people_department_key'))
        batch_op.drop_index(batch_op.f('ix_people_community_code'))

    op.drop_table('people')
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grids_street_code'))
        batch_op.drop_index(batch_op.f('ix_grids_community_code'))

    op.drop_table('grids')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_departments_street_code'))
        batch_op.drop_index(batch_op.f('ix_departments_code'))

    op.drop_table('departments')
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_communities_street_code'))

    op.drop_table('communities')
    op.drop_table('streets')
    op.drop_table('residents')
    with op.batch_alter_table('inbound_dedupe', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_dedupe_seen_at'))

    op.drop_table('inbound_dedupe')
    with op.batch_alter_table('console_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_messages_recipient_id'))

    op.drop_table('console_messages')
    op.drop_table('case_counters')
