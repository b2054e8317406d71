"""The held-out NLU files are never trained on, and are not near-copies of training lines.

The quality floors are only honest if the held-out set is independent of the training data: no held-out
line may equal a training line, or share more than 60% of its character 3-grams with one (Jaccard).
Very short answers ("谢谢", "好") are exempt from the exact-match rule: there are only so many ways to say them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

REPO = Path(__file__).resolve().parents[2]
MAX_JACCARD = 0.6
SHORT = 4  # characters after normalisation
KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def _norm(text: str) -> str:
    return "".join(KEEP.findall(text)).lower()


def _grams(text: str) -> frozenset[str]:
    norm = _norm(text)
    return frozenset({norm}) if len(norm) < 3 else frozenset(norm[i : i + 3] for i in range(len(norm) - 2))


def _texts(paths: list[Path]) -> list[str]:
    return [m.get("text") for path in paths for m in load_data(str(path)).training_examples if m.get("text")]


@pytest.fixture(scope="module")
def training_lines() -> list[str]:
    return _texts(sorted((REPO / "nlu_data" / "nlu").glob("*.yml")))


@pytest.fixture(scope="module")
def heldout_lines() -> list[str]:
    paths = sorted((REPO / "tests" / "data" / "nlu").glob("heldout_*.yml"))
    assert paths, "no held-out NLU files"
    return _texts(paths)


def test_heldout_lines_are_not_copies_of_training_lines(training_lines, heldout_lines) -> None:
    train_norm = {_norm(text) for text in training_lines}
    copies = [text for text in heldout_lines if len(_norm(text)) >= SHORT and _norm(text) in train_norm]
    assert copies == []


def test_heldout_lines_are_not_near_copies_of_training_lines(training_lines, heldout_lines) -> None:
    train_grams = [_grams(text) for text in training_lines]
    by_gram: dict[str, list[int]] = defaultdict(list)
    for index, grams in enumerate(train_grams):
        for gram in grams:
            by_gram[gram].append(index)
    near = []
    for text in heldout_lines:
        grams = _grams(text)
        if len(_norm(text)) < SHORT:
            continue
        candidates = {index for gram in grams for index in by_gram.get(gram, ())}
        for index in candidates:
            other = train_grams[index]
            if len(grams & other) / len(grams | other) > MAX_JACCARD:
                near.append((text, training_lines[index]))
                break
    assert near == []
