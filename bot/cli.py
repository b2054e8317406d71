"""The `gridsec` operator CLI.

Each command is a thin shell over a function in `storage/`, `routing/` or `bot/`; imports are
lazy so that `gridsec --help` is instant and loading Rasa is paid only by the commands that need it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)

app = typer.Typer(help="GridSec (网格秘书) operator CLI.", no_args_is_help=True, add_completion=False)


def _progress(message: str) -> None:
    typer.echo(f"==> {message}", err=True)


@app.command()
def migrate() -> None:
    """Apply the Alembic migrations to DATABASE_URL (default: SQLite under var/)."""
    from storage.db import database_url
    from storage.migrate import upgrade

    url = database_url(os.environ)
    _progress(f"migrating {url.split('@')[-1]}")
    upgrade(url)


@app.command()
def seed() -> None:
    """Migrate, then load the Yuexiu organisation (streets, communities, grids, departments, people). Idempotent."""
    from storage.db import database_url, make_engine, session_scope
    from storage.migrate import upgrade
    from storage.seed import seed_all

    url = database_url(os.environ)
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        counts = seed_all(session)
    _progress("seeded: " + ", ".join(f"{name} {count}" for name, count in counts.items()))


@app.command()
def train(
    force: Annotated[bool, typer.Option(help="Train even if the data fingerprint is unchanged.")] = False,
) -> None:
    """Train the Rasa model if nlu_data/, config.yml or domain.yml changed (cached by fingerprint)."""
    from bot.nlu.training import ensure_model

    path = ensure_model(force=force, progress=_progress)
    _progress(f"model: {path}")


@app.command()
def setup() -> None:
    """Everything `make setup` does after installing: migrate, seed, and train if the data changed."""
    seed()
    train(force=False)


@app.command()
def route(
    model: Annotated[Path | None, typer.Option(help="Model archive; default: the model for the current data.")] = None,
) -> None:
    """Read JSON lines on stdin, write one routing decision per line on stdout (contracts.md)."""
    from routing.route_cli import run

    run(sys.stdin, sys.stdout, model_path=model)


@app.command()
def serve(
    production: Annotated[
        bool, typer.Option(help="Scale-out shape: 2 Rasa + 2 action servers behind :5005/:5055, 2 workers.")
    ] = False,
    rasa_instances: Annotated[int | None, typer.Option(help="Rasa servers behind :5005.")] = None,
    action_instances: Annotated[int | None, typer.Option(help="Action servers behind :5055.")] = None,
    workers: Annotated[int | None, typer.Option(help="Scheduler/outbox workers.")] = None,
) -> None:
    """Start the whole service on localhost: Rasa :5005, actions :5055, console :8000, workers.

    With --production (PostgreSQL + Redis, endpoints.production.yml) see docs/scaling.md.
    """
    from bot.serve import LOCAL, PRODUCTION, Topology, serve_all

    base = PRODUCTION if production or (rasa_instances or 1) > 1 else LOCAL
    topology = Topology(
        rasa_instances=rasa_instances or base.rasa_instances,
        action_instances=action_instances or base.action_instances,
        workers=workers or base.workers,
        endpoints=base.endpoints,
    )
    serve_all(os.environ, progress=_progress, topology=topology)


@app.command()
def console() -> None:
    """Run the web console and API on CONSOLE_PORT (default :8000)."""
    from bot.config import load_settings
    from bot.web.app import create_app
    from storage.db import make_engine

    settings = load_settings(os.environ)
    web = create_app(make_engine(settings.database_url))
    web.run(host="127.0.0.1", port=settings.console_port, access_log=False)


@app.command(name="staff-add")
def staff_add(
    username: Annotated[str, typer.Argument(help="Login name for the web console.")],
    role: Annotated[str, typer.Option(help="command_centre, street or department.")],
    street: Annotated[str | None, typer.Option(help="Street code or name (role street), e.g. 洪桥.")] = None,
    department: Annotated[str | None, typer.Option(help="Department key (role department), e.g. HWZX.")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the console.")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Create a web-console staff account (the password is stored as an scrypt hash)."""
    from storage.accounts import add_staff_account
    from storage.db import database_url, make_engine, session_scope
    from storage.errors import StorageInputError

    try:
        with session_scope(make_engine(database_url(os.environ))) as session:
            user = add_staff_account(session, username=username, password=password, role=role, street=street,
                                     department=department, display_name=display_name)
    except StorageInputError as error:
        raise typer.BadParameter(str(error)) from error
    _progress(f"created {user.role} account {user.username!r}")


@app.command()
def worker() -> None:
    """Run the background worker: time-limit escalation and outbox delivery."""
    from bot.worker import run_forever

    run_forever(os.environ)


@app.command()
def telegram() -> None:
    """Run the Telegram bot for grid workers and department groups (polling, or webhook via TELEGRAM_WEBHOOK_URL)."""
    from bot.telegram.app import main as telegram_main

    telegram_main(os.environ)


@app.command()
def bench(
    only: Annotated[list[str] | None, typer.Argument(help="Benchmark module names, e.g. bench_geo.")] = None,
) -> None:
    """Run the benchmarks; each prints its figures with the baseline measured in the same run."""
    # The benchmarks live beside the tests (they share fixtures), so the repo root goes on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.bench.runner import run_all

    raise typer.Exit(run_all(progress=_progress, only=only or None))


@app.command(name="eval")
def evaluate() -> None:
    """Write the NLU and routing evaluation reports to var/eval/ and print the headline numbers."""
    from bot.nlu.evaluate import run_evaluation
    from routing.evaluation import AUTO_DISPATCH_FLOOR, DEPARTMENT_FLOOR, evaluate_resident_cases

    nlu_status = run_evaluation(progress=_progress)
    routing = evaluate_resident_cases(progress=_progress)
    routing_ok = (
        routing["department_accuracy"] >= DEPARTMENT_FLOOR and routing["auto_dispatch_rate"] >= AUTO_DISPATCH_FLOOR
    )
    raise typer.Exit(nlu_status or (0 if routing_ok else 1))


def main() -> None:
    logging.basicConfig(level=os.environ.get("GRIDSEC_LOG_LEVEL", "WARNING"))
    from bot.log_redaction import protect_environment

    protect_environment(os.environ)  # tokens, keys and the database password never reach a log line
    app()


if __name__ == "__main__":
    main()
