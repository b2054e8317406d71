"""`rasa test core` over the whole-conversation test stories, with the trained model: no prediction errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
STORIES = Path(__file__).parent / "stories" / "test_stories.yml"


def test_there_are_at_least_twenty_whole_conversations() -> None:
    stories = yaml.safe_load(STORIES.read_text(encoding="utf-8"))["stories"]
    assert len(stories) >= 20
    assert len({story["story"] for story in stories}) == len(stories)


def test_rasa_test_core_predicts_every_turn(nlu_model_path: Any, tmp_path: Path) -> None:
    env = os.environ | {"RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(
        [
            sys.executable, "-m", "rasa", "test", "core",
            "--model", str(nlu_model_path),
            "--stories", str(STORIES),
            "--out", str(tmp_path),
            "--fail-on-prediction-errors",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    failed = tmp_path / "failed_test_stories.yml"
    report = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, f"{report}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "- story:" not in report
