"""`gridsec eval` for NLU: held-out intent and category quality, the public group split, and parse speed.

Everything is measured with the trained model loaded the way the bot loads it (`Agent.load` +
`parse_message`) on tests/data/nlu/heldout_*.yml, which are never trained on. Writes
var/eval/nlu_report.json, confusion matrices as PNG, and prints the headline numbers and the top
confusions with examples.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
HELDOUT_DIR = REPO_ROOT / "tests" / "data" / "nlu"
EVAL_DIR = REPO_ROOT / "var" / "eval"
# the floors (tests/nlu asserts them; a regression fails CI)
CATEGORY_MACRO_F1_FLOOR = 0.90
INTENT_ACCURACY_FLOOR = 0.95
PARSE_P95_TARGET_MS = 50.0


@dataclass(frozen=True)
class HeldoutExample:
    """One held-out message with its gold intent and (for reports) gold category."""

    text: str
    intent: str
    category: str | None
    source: str


def load_heldout(directory: Path = HELDOUT_DIR) -> list[HeldoutExample]:
    """Every example of tests/data/nlu/heldout_*.yml, read with Rasa's own reader (markup stripped)."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.category import example_category

    examples: list[HeldoutExample] = []
    for path in sorted(directory.glob("heldout_*.yml")):
        for message in load_data(str(path)).intent_examples:
            examples.append(
                HeldoutExample(
                    message.get("text"), message.get("intent"), example_category(message), path.name
                )
            )
    return examples


def parse_all(model_path: Path, texts: Sequence[str]) -> tuple[list[dict[str, Any]], list[float]]:
    """Parse each text with the loaded model; returns (parses, latencies in ms). Warm-up excluded."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path))

    async def run() -> tuple[list[dict[str, Any]], list[float]]:
        for text in texts[:5]:  # warm-up: lazy loads (USE weights, spaCy, jieba) are not latency
            await agent.parse_message(text)
        parses, latencies = [], []
        for text in texts:
            start = time.perf_counter()
            parses.append(await agent.parse_message(text))
            latencies.append((time.perf_counter() - start) * 1000.0)
        return parses, latencies

    return asyncio.run(run())


def classification_summary(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-label precision/recall/F1/support."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=list(labels), zero_division=0
    )
    return {
        "n": len(gold),
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=list(labels), average="macro", zero_division=0)),
        "per_label": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
    }


def top_confusions(
    gold: Sequence[str], predicted: Sequence[str], texts: Sequence[str], top: int = 10
) -> list[dict[str, Any]]:
    """The most frequent (gold, predicted) mistakes, each with up to three example texts."""
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    out = []
    for (g, p), count in pairs.most_common(top):
        examples = [t for t, gg, pp in zip(texts, gold, predicted, strict=True) if gg == g and pp == p][:3]
        out.append({"gold": g, "predicted": p, "count": count, "examples": examples})
    return out


def save_confusion_png(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str], path: Path, title: str
) -> Path:
    """Draw the confusion matrix (rows gold, columns predicted) to a PNG with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(gold, predicted, labels=list(labels))
    size = max(6.0, 0.28 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels=list(labels), fontsize=7)
    for i, j in zip(*np.nonzero(matrix), strict=True):
        ax.text(
            j,
            i,
            str(matrix[i, j]),
            ha="center",
            va="center",
            fontsize=6,
            color="white" if matrix[i, j] > matrix.max() / 2 else "black",
        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/max per message and messages per second (sequential, one process)."""
    values = np.asarray(latencies_ms, dtype=float)
    return {
        "n": int(values.size),
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "max_ms": float(values.max()),
        "messages_per_s": float(1000.0 * values.size / values.sum()),
    }


def evaluate_heldout(model_path: Path, examples: Sequence[HeldoutExample]) -> dict[str, Any]:
    """Intent and category metrics plus latency on the held-out examples."""
    parses, latencies = parse_all(model_path, [e.text for e in examples])
    gold_intents = [e.intent for e in examples]
    predicted_intents = [(p.get("intent") or {}).get("name") or "None" for p in parses]
    reports = [(e, p) for e, p in zip(examples, parses, strict=True) if e.category]
    gold_categories = [e.category or "" for e, _ in reports]
    # end to end: a report DIET misread as another intent has category None and counts as wrong
    predicted_categories = [p.get("category") or "None" for _, p in reports]
    ranking_top = [((p.get("category_ranking") or [{}])[0]).get("code") or "None" for _, p in reports]
    intent_labels = sorted(set(gold_intents))
    category_labels = sorted(set(gold_categories))
    EVAL_DIR.mkdir(parents=True, exist_ok=True)
    save_confusion_png(
        gold_intents,
        predicted_intents,
        intent_labels,
        EVAL_DIR / "intent_confusion.png",
        "intents (held-out)",
    )
    save_confusion_png(
        gold_categories,
        predicted_categories,
        category_labels,
        EVAL_DIR / "category_confusion.png",
        "categories (held-out reports)",
    )
    report_texts = [e.text for e, _ in reports]
    return {
        "model": model_path.name,
        "heldout_files": sorted({e.source for e in examples}),
        "intent": {
            **classification_summary(gold_intents, predicted_intents, intent_labels),
            "top_confusions": top_confusions(gold_intents, predicted_intents, [e.text for e in examples]),
        },
        "category": {
            **classification_summary(gold_categories, predicted_categories, category_labels),
            "classifier_only_macro_f1": classification_summary(gold_categories, ranking_top, category_labels)[
                "macro_f1"
            ],
            "top_confusions": top_confusions(gold_categories, predicted_categories, report_texts),
        },
        "latency": latency_summary(latencies),
    }


def evaluate_group_public_split(progress: Callable[[str], None]) -> dict[str, Any] | None:
    """The group engineer's public-split evaluation (bot.nlu.group_model), when it exists."""
    try:
        group_model = importlib.import_module("bot.nlu.group_model")
    except ImportError:
        progress("note: bot.nlu.group_model is not available yet; public-split group evaluation skipped")
        return None
    for name in ("evaluate_public_split", "evaluate_public", "evaluate"):
        function = getattr(group_model, name, None)
        if callable(function):
            result = function()
            return result if isinstance(result, dict) else {"result": result}
    progress("note: bot.nlu.group_model has no evaluate_public_split(); public-split evaluation skipped")
    return None


def weak_labels(summary: dict[str, Any], threshold: float = 0.85) -> list[tuple[str, float]]:
    """Labels whose F1 is below `threshold`, weakest first."""
    weak = [(label, row["f1"]) for label, row in summary["per_label"].items() if row["f1"] < threshold]
    return sorted(weak, key=lambda item: item[1])


def run_evaluation(progress: Callable[[str], None] = logger.info) -> int:
    """Write var/eval/nlu_report.json + PNGs and print the headline numbers.

    Returns:
        0 when the floors hold (category macro-F1 >= 0.90, intent accuracy >= 0.95), 1 otherwise,
        2 when there is nothing to evaluate.
    """
    from bot.nlu.training import ensure_model

    examples = load_heldout()
    if not examples:
        progress(f"no held-out files in {HELDOUT_DIR}")
        return 2
    model_path = ensure_model(force=False, progress=progress)
    progress(f"parsing {len(examples)} held-out messages with {model_path.name}")
    report = evaluate_heldout(model_path, examples)
    report["group_public_split"] = evaluate_group_public_split(progress)
    (EVAL_DIR / "nlu_report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    _print_headline(report, progress)
    ok = (
        report["category"]["macro_f1"] >= CATEGORY_MACRO_F1_FLOOR
        and report["intent"]["accuracy"] >= INTENT_ACCURACY_FLOOR
    )
    return 0 if ok else 1


def _print_headline(report: dict[str, Any], progress: Callable[[str], None]) -> None:
    intent, category, latency = report["intent"], report["category"], report["latency"]
    progress(
        f"intent accuracy {intent['accuracy']:.4f} (floor {INTENT_ACCURACY_FLOOR}), "
        f"macro-F1 {intent['macro_f1']:.4f}, n={intent['n']}"
    )
    progress(
        f"category macro-F1 {category['macro_f1']:.4f} (floor {CATEGORY_MACRO_F1_FLOOR}), "
        f"accuracy {category['accuracy']:.4f}, classifier alone {category['classifier_only_macro_f1']:.4f}, "
        f"n={category['n']}"
    )
    progress(
        f"parse p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms "
        f"(target <= {PARSE_P95_TARGET_MS:.0f}), {latency['messages_per_s']:.1f} msg/s"
    )
    for label, f1 in weak_labels(category):
        progress(f"weak category {label}: F1 {f1:.2f}")
    for row in (intent["top_confusions"] + category["top_confusions"])[:12]:
        progress(f"confusion {row['gold']} -> {row['predicted']} x{row['count']}: {row['examples'][0]}")
    group = report.get("group_public_split")
    if group:
        progress(f"group on public split: {json.dumps(group, ensure_ascii=False)[:300]}")
    progress(f"report: {EVAL_DIR / 'nlu_report.json'}")
