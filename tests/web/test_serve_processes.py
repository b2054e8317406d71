"""`gridsec serve` starts the processes the configuration asks for (local mode: no Telegram bot)."""

from __future__ import annotations

from pathlib import Path

from bot.serve import process_specs

MODEL = Path("models/gridsec-test.tar.gz")


def test_local_mode_runs_rasa_actions_console_and_worker_on_the_contract_ports() -> None:
    specs = {spec.name: spec for spec in process_specs({}, MODEL)}
    assert set(specs) == {"rasa", "actions", "console", "worker"}
    assert (specs["rasa"].port, specs["actions"].port, specs["console"].port) == (5005, 5055, 8000)
    assert str(MODEL) in specs["rasa"].argv


def test_a_telegram_api_adds_the_telegram_bot_process() -> None:
    names = [spec.name for spec in process_specs({"TELEGRAM_API_BASE": "http://127.0.0.1:8081/bot"}, MODEL)]
    assert names[-1] == "telegram"


def test_ports_follow_the_environment() -> None:
    specs = {spec.name: spec for spec in process_specs({"CONSOLE_PORT": "9000", "RASA_PORT": "6005"}, MODEL)}
    assert specs["console"].port == 9000
    assert "6005" in specs["rasa"].argv
