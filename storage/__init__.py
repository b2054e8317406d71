"""Persistence for GridSec: models, migrations, the case lifecycle, scheduler, outbox and KPIs.

Where things are (each module's docstring has the details):

- `db`: `database_url(environ)`, `make_engine(url)`, `session_scope(engine)`. On SQLite every
  transaction is BEGIN IMMEDIATE (writers queue safely): keep sessions short.
- `migrate`: `upgrade(url)` runs the Alembic revisions in `storage/migrations/versions/`.
- `models`: organisation (Street, Community, Grid, Department, Person, DutyShift, ChatBinding),
  Resident, Case, CaseMedia, CaseEventRecord (append-only), CaseSubscription, Rating, OutboxMessage,
  ConsoleMessage, InboundDedupe, DueItem, Open311IdempotencyKey. Datetimes are aware UTC in Python
  (`timeutil`).
- `lifecycle`: `CaseState`, `CaseEvent`, `TRANSITIONS`, `advance`; diagram in `lifecycle.mmd`.
- `cases`: `open_case`, `apply_event` (the only writer of a case's state), `subscribe`,
  `derive_state`, `get_case_by_code`. `intake`: a routing `Decision` to a case, `resident_for`.
- `clocks` + `scheduler`: time limits as due items; `run_due` / `run_loop` escalate missed ones.
- `notifications`: who is told what (`NOTIFY_PLAN`); `outbox`: `enqueue`, `deliver_due`,
  `deliver_loop`, `Sender`, `OutgoingMessage`, `parked_messages`, `resume_parked`,
  `LocalConsoleSender`; `templates`: default texts (`render`).
- `queries`: `case_status`, `resident_cases`, `latest_case`, `overdue_cases`, `due_within`.
- `kpi`: `compute_kpis`; `dedupe`: `first_seen`; `idempotency`: Open311 `Idempotency-Key` records;
  `privacy`: `mask_phone`, `mask_text`, ...
"""
