"""Measure the low-confidence thresholds of the router from out-of-fold predictions (training data only).

The NLU engineer's cross-validation (`bot.nlu.category_model.cross_val_category_predictions`) writes
`var/eval/category_oof.json`: for every training example, the category predicted by a model that never
saw it, with its confidence and the full ranking. From that file alone (never the held-out test split):

- category threshold: the lowest confidence t such that the reports auto-dispatched on their category
  (confidence >= t) go to the right department with precision >= target, at t and at every higher
  threshold that still covers `min_support` examples (so one lucky point cannot set it);
- group threshold: the same, for the group fallback, measured on the examples the category threshold
  turns away. The group confidence is read from `var/eval/group_oof.json` when the NLU writes one, else it
  is the category ranking summed per group (the group implied by the category model).

`python -m routing.calibrate` writes the chosen numbers into the `thresholds:` block of rules.yml with
how they were measured (date, counts, precision, coverage, sha256 of the predictions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from routing.rules import Rules, load_rules, rules_path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
OOF_PATH = REPO_ROOT / "var" / "eval" / "category_oof.json"
GROUP_OOF_PATH = REPO_ROOT / "var" / "eval" / "group_oof.json"
TARGET_PRECISION = 0.95
MIN_SUPPORT = 30


@dataclass(frozen=True)
class Scored:
    """One out-of-fold example: a confidence and whether acting on it would have been right."""

    confidence: float
    correct: bool


@dataclass(frozen=True)
class Threshold:
    """A measured threshold and what it gives on the data it was measured on."""

    value: float
    precision: float
    coverage: float
    support: int
    n: int


def choose_threshold(scored: Sequence[Scored], target: float, min_support: int = MIN_SUPPORT) -> Threshold:
    """The lowest confidence threshold whose auto-dispatched set, and every stricter one, meets `target`.

    Args:
        scored: examples with their confidence and correctness.
        target: the precision the auto-dispatched cases must reach.
        min_support: stricter thresholds covering fewer examples than this are not checked.

    Returns:
        The threshold (1.0 when no threshold reaches the target: nothing is auto-dispatched on it).
    """
    ordered = sorted(scored, key=lambda s: s.confidence, reverse=True)
    n = len(ordered)
    best: Threshold | None = None
    correct = 0
    ok_so_far = True  # every stricter threshold (with enough support) met the target
    index = 0
    while index < n:
        value = ordered[index].confidence
        while index < n and ordered[index].confidence == value:  # ties go in together
            correct += ordered[index].correct
            index += 1
        precision = correct / index
        if index >= min_support:
            ok_so_far = ok_so_far and precision >= target
            if ok_so_far:
                best = Threshold(round(value, 4), precision, index / n, index, n)
    return best if best is not None else Threshold(1.0, 0.0, 0.0, 0, n)


def _group_confidence(row: dict[str, Any], rules: Rules) -> tuple[str | None, float]:
    totals: dict[str, float] = {}
    for item in row.get("ranking") or ():
        category = rules.categories.get(item.get("code") or item.get("name") or "")
        if category is not None:
            totals[category.group] = totals.get(category.group, 0.0) + float(item["confidence"])
    if not totals:
        return None, 0.0
    group = max(totals, key=totals.__getitem__)
    return group, totals[group]


def measure(
    oof: dict[str, Any], rules: Rules, target: float, group_oof: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Both thresholds from out-of-fold predictions, with their measured precision and coverage."""
    rows = [row for row in oof["predictions"] if row.get("gold") in rules.categories]
    department = {code: category.department for code, category in rules.categories.items()}
    category = choose_threshold(
        [
            Scored(float(r["confidence"]), department.get(r["predicted"]) == department[r["gold"]])
            for r in rows
        ],
        target,
    )
    turned_away = [r for r in rows if float(r["confidence"]) < category.value]
    if group_oof is not None:
        group_rows = group_oof["predictions"]
        scored_groups = [Scored(float(r["confidence"]), r["predicted"] == r["gold"]) for r in group_rows]
        group_source = "group_oof.json"
    else:
        pool = turned_away if len(turned_away) >= MIN_SUPPORT else rows
        scored_groups = []
        for row in pool:
            predicted_group, confidence = _group_confidence(row, rules)
            scored_groups.append(Scored(confidence, predicted_group == rules.categories[row["gold"]].group))
        group_source = "category ranking summed per group" + (
            ", turned-away examples" if pool is turned_away else ""
        )
    return {
        "model": f"{oof.get('kind', '?')}, {oof.get('folds', '?')}-fold",
        "category": category,
        "group": choose_threshold(scored_groups, target),
        "group_source": group_source,
        "n": len(rows),
    }


def fingerprint(path: Path) -> str:
    """sha256 (first 12 hex digits) of the predictions file, to tie the numbers to their data."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def thresholds_block(result: dict[str, Any], target: float, source: Path, when: datetime) -> str:
    """The `thresholds:` YAML block, with how the numbers were measured."""
    cat, grp = result["category"], result["group"]
    return (
        "thresholds:\n"
        f"  category: {cat.value}\n"
        f"  group: {grp.value}\n"
        "  measured:\n"
        f"    date: '{when:%Y-%m-%d %H:%M} UTC'\n"
        f"    by: python -m routing.calibrate --target {target}\n"
        f"    data: {source.relative_to(REPO_ROOT) if source.is_relative_to(REPO_ROOT) else source}"
        f" (out-of-fold, training data only; category model {result.get('model', '?')})\n"
        f"    data_sha256: {fingerprint(source)}\n"
        f"    target_precision: {target}\n"
        f"    category: {{n: {cat.n}, precision: {cat.precision:.4f}, coverage: {cat.coverage:.4f}}}\n"
        f"    group: {{n: {grp.n}, precision: {grp.precision:.4f}, coverage: {grp.coverage:.4f}, "
        f"source: '{result['group_source']}'}}\n"
    )


def write_thresholds(block: str, path: Path) -> None:
    """Replace the `thresholds:` block of rules.yml (up to the next blank line), keeping the rest."""
    text = path.read_text(encoding="utf-8")
    updated, count = re.subn(r"^thresholds:\n(?:[ ].*\n)*", block, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise ValueError(f"no thresholds block in {path}")
    path.write_text(updated, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure and (unless --dry-run) write the thresholds; prints the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oof", type=Path, default=OOF_PATH)
    parser.add_argument("--target", type=float, default=TARGET_PRECISION)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    oof = json.loads(args.oof.read_text(encoding="utf-8"))
    group_oof = json.loads(GROUP_OOF_PATH.read_text(encoding="utf-8")) if GROUP_OOF_PATH.exists() else None
    result = measure(oof, load_rules(), args.target, group_oof)
    block = thresholds_block(result, args.target, args.oof, datetime.now(timezone.utc))
    print(block, end="")  # noqa: T201 - a command-line report
    if not args.dry_run:
        write_thresholds(block, rules_path())
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
