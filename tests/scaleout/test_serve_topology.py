"""`gridsec serve --production`: the process set, the ports, and the variables endpoints.production.yml reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rasa.core.lock_store import RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.utils.common import class_from_module_path

from bot.config import REPO_ROOT, ConfigError
from bot.serve import PRODUCTION, Topology, process_environment, process_specs, production_environment

MODEL = Path("models/gridsec-test.tar.gz")
PG = "postgresql+psycopg2://gridsec:s3cret@db.internal:6432/gridsec"


def test_production_runs_two_of_each_behind_one_entry_point_on_the_contract_ports() -> None:
    specs = {spec.name: spec for spec in process_specs({"DATABASE_URL": PG}, MODEL, PRODUCTION)}
    assert {"rasa", "rasa-1", "rasa-2", "actions", "actions-1", "actions-2", "worker-1", "worker-2"} <= set(
        specs
    )
    assert "worker" not in specs
    assert (specs["rasa"].port, specs["actions"].port) == (5005, 5055)
    assert specs["rasa"].argv[1:3] == ["-m", "bot.balancer"]
    backends = [specs["rasa"].argv[i + 1] for i, arg in enumerate(specs["rasa"].argv) if arg == "--backend"]
    assert backends == [f"http://127.0.0.1:{specs[name].port}" for name in ("rasa-1", "rasa-2")]
    assert all("endpoints.production.yml" in specs[name].argv for name in ("rasa-1", "rasa-2"))
    assert len({spec.port for spec in specs.values() if spec.port}) == len(
        [s for s in specs.values() if s.port]
    )


def test_the_default_stays_one_process_each_with_the_local_endpoints() -> None:
    specs = {spec.name: spec for spec in process_specs({}, MODEL)}
    assert {"rasa", "actions", "console", "worker"} <= set(specs)
    assert not {"rasa-1", "actions-1", "worker-1"} & set(specs)
    assert "endpoints.yml" in specs["rasa"].argv and "bot.balancer" not in specs["rasa"].argv


def test_the_production_variables_come_from_database_url_and_cover_the_endpoints_file() -> None:
    env = production_environment(
        {"DATABASE_URL": PG + "?options=-csearch_path%3Dtenant1", "ACTION_PORT": "6055"}
    )
    assert env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:6055/webhook"
    assert (env["TRACKER_DB_HOST"], env["TRACKER_DB_PORT"], env["TRACKER_DB_NAME"]) == (
        "db.internal",
        "6432",
        "gridsec",
    )
    assert (env["TRACKER_DB_USER"], env["TRACKER_DB_PASSWORD"]) == ("gridsec", "s3cret")
    assert env["POSTGRESQL_SCHEMA"] == "tenant1"
    text = (REPO_ROOT / "endpoints.production.yml").read_text(encoding="utf-8")
    settings = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    wanted = set(re.findall(r"\$\{(\w+)\}", settings))
    assert "TRACKER_DB_HOST" in wanted and "REDIS_HOST" in wanted
    assert wanted <= set(env)  # Rasa refuses to start on an unset ${VARIABLE}
    endpoints = yaml.safe_load(text)
    # Rasa's SQL tracker store with its queries off the event loop (bot/tracker_store.py), and Redis locks
    tracker_store = class_from_module_path(endpoints["tracker_store"]["type"])
    assert issubclass(tracker_store, SQLTrackerStore) and endpoints["tracker_store"]["dialect"] == "postgresql"
    assert issubclass(class_from_module_path(endpoints["lock_store"]["type"]), RedisLockStore)


def test_explicit_variables_win_over_the_derived_ones() -> None:
    env = production_environment(
        {"DATABASE_URL": PG, "REDIS_HOST": "redis.internal", "TRACKER_DB_NAME": "rasa"}
    )
    assert (env["REDIS_HOST"], env["TRACKER_DB_NAME"]) == ("redis.internal", "rasa")


def test_started_processes_get_single_threaded_math_unless_the_operator_says_otherwise() -> None:
    env = process_environment({"DATABASE_URL": PG, "OMP_NUM_THREADS": "4"})
    assert env["TF_INTRA_OP_PARALLELISM_THREADS"] == env["TF_INTER_OP_PARALLELISM_THREADS"] == "1"
    assert (env["OMP_NUM_THREADS"], env["DATABASE_URL"]) == ("4", PG)


def test_rasa_applies_the_thread_settings_at_start() -> None:
    # what `rasa run` does first (rasa/__main__.py), in a fresh interpreter: TensorFlow fixes its pools once
    probe = (
        "from rasa.utils.tensorflow.environment import setup_tf_environment; setup_tf_environment(); "
        "import tensorflow as tf; t = tf.config.threading; "
        "print(t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())"
    )
    env = process_environment({"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["1", "1"]


def test_bad_shapes_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        production_environment({"DATABASE_URL": "sqlite:///var/gridsec.db"})
    with pytest.raises(ConfigError, match="shared stores"):
        Topology(rasa_instances=2)
    with pytest.raises(ConfigError, match="at least 1"):
        Topology(workers=0)
