"""Train the Rasa model only when its inputs change: the model is cached by a data fingerprint.

The fingerprint hashes config.yml, domain.yml, everything under nlu_data/, the sources and data files
of bot/nlu/, the routing files that training reads (place lexicon, category groups) and the citizen
message files the group classifier trains on. The model lives at models/gridsec-<fingerprint>.tar.gz;
a file lock makes concurrent callers (pytest workers, `make setup`, the server) train it once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
MODEL_PREFIX = "gridsec-"
FINGERPRINT_LENGTH = 16
_SOURCE_SUFFIXES = {".py", ".yml", ".yaml", ".txt", ".csv", ".json"}
# tools around the model, not parts of it: editing them must not retrain
_NOT_MODEL_INPUTS = {"training.py", "evaluate.py"}


def _shared_data_dir() -> Path:
    env = os.environ.get("GRIDSEC_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


# routing files that shape training: the place lexicon protects place names in the normaliser and
# categories.yml maps codes to groups; the rest of routing/ is read at run time, not baked into the model
ROUTING_INPUTS = (
    "routing/lexicon.py",
    "routing/data/categories.yml",
    "routing/data/places.csv",
    "routing/data/place_aliases.yml",
)


def fingerprint_inputs(root: Path = REPO_ROOT) -> list[Path]:
    """Every file whose content shapes the trained model, sorted."""
    files = [root / "config.yml", root / "domain.yml"] + [root / name for name in ROUTING_INPUTS]
    for directory in (root / "nlu_data", root / "bot" / "nlu"):
        files += [
            p
            for p in directory.rglob("*")
            if p.is_file() and p.suffix in _SOURCE_SUFFIXES and p.name not in _NOT_MODEL_INPUTS
        ]
    for name in ("citizen_messages.csv", "citizen_titles.csv"):  # the group classifier's training data
        if (_shared_data_dir() / name).exists():
            files.append(_shared_data_dir() / name)
    return sorted({p for p in files if p.exists() and "__pycache__" not in p.parts})


def data_fingerprint(files: Iterable[Path] | None = None, root: Path = REPO_ROOT) -> str:
    """A short hex digest over the relative paths and contents of the model's inputs."""
    digest = hashlib.sha256()
    for path in files if files is not None else fingerprint_inputs(root):
        try:
            name = str(path.relative_to(root))
        except ValueError:
            name = path.name
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def model_path_for(fingerprint: str, models_dir: Path = MODELS_DIR) -> Path:
    """Where the model for a fingerprint lives."""
    return models_dir / f"{MODEL_PREFIX}{fingerprint}.tar.gz"


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # config.yml names the jieba dictionary relative to the repository root
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _train(out_path: Path, progress: Callable[[str], None]) -> Path:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.model_training import train

    with (
        tempfile.TemporaryDirectory(prefix="gridsec-train-", dir=out_path.parent) as tmp,
        _working_directory(REPO_ROOT),
    ):
        result = train(
            domain=str(REPO_ROOT / "domain.yml"),
            config=str(REPO_ROOT / "config.yml"),
            training_files=[str(REPO_ROOT / "nlu_data")],
            output=tmp,
            fixed_model_name="model",
        )
        if result.code != 0 or not result.model:
            raise RuntimeError(f"rasa training failed with code {result.code}")
        # rename within one file system: readers never see a half-written archive
        os.replace(result.model, out_path)
    progress(f"trained {out_path.name}")
    return out_path


def ensure_model(force: bool = False, progress: Callable[[str], None] = logger.info) -> Path:
    """Return the trained model for the current data, training it first when missing (or forced).

    Args:
        force: train even when a model with the current fingerprint exists.
        progress: receives one-line progress messages (the CLI prints them).

    Returns:
        Path of models/gridsec-<fingerprint>.tar.gz.
    """
    fingerprint = data_fingerprint()
    out_path = model_path_for(fingerprint)
    if out_path.exists() and not force:
        progress(f"model up to date: {out_path.name}")
        return out_path
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    with FileLock(str(MODELS_DIR / ".train.lock")):
        if out_path.exists() and not force:  # another process trained it while we waited
            progress(f"model up to date: {out_path.name}")
            return out_path
        progress(f"training the Rasa model for data fingerprint {fingerprint} (a few minutes)")
        return _train(out_path, progress)


def prune_old_models(keep: int = 3, models_dir: Path = MODELS_DIR) -> list[Path]:
    """Delete all but the `keep` newest gridsec models; returns what was removed."""
    models = sorted(models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = models[keep:]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def latest_model(models_dir: Path = MODELS_DIR) -> Path | None:
    """The newest trained gridsec model, if any (for tools that accept a stale model)."""
    models = sorted(models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None
