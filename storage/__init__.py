"""Persistence for GridSec: models, migrations, the case lifecycle, scheduler, outbox and KPIs."""
