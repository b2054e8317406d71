"""The training cache's fingerprint: stable for unchanged inputs, different for any change."""

from __future__ import annotations

from pathlib import Path

from bot.nlu.training import data_fingerprint, fingerprint_inputs, model_path_for


def _tree(root: Path) -> list[Path]:
    (root / "nlu_data" / "nlu").mkdir(parents=True)
    files = [root / "config.yml", root / "domain.yml", root / "nlu_data" / "nlu" / "a.yml"]
    for i, path in enumerate(files):
        path.write_text(f"content {i}\n", encoding="utf-8")
    return files


def test_fingerprint_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    first = data_fingerprint(files, root=tmp_path)
    assert data_fingerprint(files, root=tmp_path) == first
    files[2].write_text("content 2 changed\n", encoding="utf-8")
    assert data_fingerprint(files, root=tmp_path) != first


def test_fingerprint_sees_renames(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    first = data_fingerprint(files, root=tmp_path)
    renamed = files[2].with_name("b.yml")
    files[2].rename(renamed)
    assert data_fingerprint([files[0], files[1], renamed], root=tmp_path) != first


def test_repository_inputs_cover_config_data_and_components() -> None:
    names = {p.as_posix() for p in fingerprint_inputs()}
    assert any(n.endswith("/config.yml") for n in names)
    assert any(n.endswith("/domain.yml") for n in names)
    assert any("/nlu_data/nlu/" in n for n in names)
    assert any(n.endswith("/bot/nlu/normalise.py") for n in names)
    assert any(n.endswith("/bot/nlu/data/cantonese.yml") for n in names)


def test_model_path_names_the_fingerprint(tmp_path: Path) -> None:
    assert model_path_for("abc123", tmp_path) == tmp_path / "gridsec-abc123.tar.gz"
