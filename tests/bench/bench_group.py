"""Benchmark of the `group` classifier: public-split quality against the same-run baseline, and latency.

`main()` trains the stacked model and the TF-IDF + LinearSVC baseline on split=train, scores both once
on split=test, and times `GroupModel.predict` on single long messages (what the Rasa component does per
parse). `python tests/bench/bench_group.py threshold` prints the length measurement behind
`bot.nlu.group_component.LONG_TEXT_CHARS` (train data only, never the test split).
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from bot.nlu.group_model import (
    GroupModel,
    evaluate_public_split,
    load_citizen_rows,
    load_extra_titles,
    train_group_model,
)

logger = logging.getLogger(__name__)

TARGET_DELTA = 0.005
TARGET_MACRO_F1 = 0.93
TARGET_P95_MS = 50.0  # the whole pipeline's budget; this component must use a small part of it
LENGTHS = (15, 20, 30, 40, 60, 80, 120, 200, 10_000)


def _latency_ms(model: GroupModel, texts: list[str]) -> dict[str, float]:
    model.predict(texts[:5])  # warm-up: jieba dictionary, first-call allocations
    timings = []
    for text in texts:
        started = time.perf_counter()
        model.predict([text])
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[int(0.95 * (len(timings) - 1))],
        "max_ms": timings[-1],
    }


def main() -> dict[str, Any]:
    """Public-split macro-F1/accuracy of model and baseline (same run), per-class F1 and latency."""
    result = evaluate_public_split(seed=0, keep_models=True)
    trained, _baseline = result.pop("models")
    model, base = result["model"], result["baseline"]
    print(
        f"group on public test split (n={result['n_test']}; trained on {result['n_train']} + "
        f"{result['n_extra_titles']} titles)"
    )
    print(
        f"  model    macro-F1 {model['macro_f1']:.4f}  accuracy {model['accuracy']:.4f}  (goal {TARGET_MACRO_F1})"
    )
    print(f"  baseline macro-F1 {base['macro_f1']:.4f}  accuracy {base['accuracy']:.4f}")
    print(f"  delta    {result['delta_macro_f1']:+.4f}  (target >= +{TARGET_DELTA})")
    for group, value in model["per_class_f1"].items():
        print(f"    {group:<8} model {value:.4f}  baseline {base['per_class_f1'][group]:.4f}")
    print(
        f"  training seconds: model {result['train_seconds']['model']:.1f}, "
        f"baseline {result['train_seconds']['baseline']:.1f}"
    )
    texts = [row.text for row in load_citizen_rows("test")[:200]]
    latency = _latency_ms(trained, texts)
    print(
        f"  per-message predict (no title, 200 test bodies): p50 {latency['p50_ms']:.1f} ms, "
        f"p95 {latency['p95_ms']:.1f} ms, max {latency['max_ms']:.1f} ms (pipeline p95 budget {TARGET_P95_MS} ms)"
    )
    result["latency"] = latency
    result["use_latency"] = _use_latency_ms([t for t in texts if len(t) >= 80][:60])
    print(
        "  for comparison, USE v3 (the pipeline's SentenceEncoderFeaturizer) on one long text: "
        f"p50 {result['use_latency']['p50_ms']:.1f} ms, p95 {result['use_latency']['p95_ms']:.1f} ms"
    )
    return result


def _use_latency_ms(texts: list[str]) -> dict[str, float]:
    """USE on single long texts: why GroupModel does not use sentence vectors (parse p95 budget 50 ms)."""
    from bot.nlu.sentence_encoder import encode

    encode(texts[:3])
    timings = []
    for text in texts:
        started = time.perf_counter()
        encode([text])
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50_ms": statistics.median(timings), "p95_ms": timings[int(0.95 * (len(timings) - 1))]}


def _category_groups_for(texts: list[str]) -> list[str | None]:
    """Group implied by the category model trained on the Rasa NLU data (the pipeline's short-text path)."""
    from bot.nlu.category import category_groups
    from bot.nlu.category_model import REPO_ROOT, CategoryModel, load_category_examples

    examples, codes = load_category_examples(sorted((REPO_ROOT / "nlu_data").rglob("*.yml")))
    model = CategoryModel("svm").fit(examples, codes)
    predicted = model.classes_[model.predict_proba(texts).argmax(axis=1)]
    return [category_groups().get(str(code)) for code in predicted]


def threshold() -> dict[str, Any]:
    """Group accuracy by text length: group model vs category-derived group, on citizen and NLU texts.

    Citizen side: the model is trained on 80% of split=train and judged on the other 20%, bodies cut to
    each length and given without title (as chat messages arrive). NLU side: the colloquial `report_issue`
    examples whose category lies in one of the seven standard groups, against the category model's
    out-of-fold predictions in var/eval/category_oof.json (written by `python -m bot.nlu.category_model oof`).
    """
    rows = load_citizen_rows("train")
    fit_rows, held = train_test_split(rows, test_size=0.2, random_state=0, stratify=[r.label for r in rows])
    model = train_group_model(fit_rows, load_extra_titles(), seed=0)
    report: dict[str, Any] = {"citizen": {}, "nlu": {}}
    for length in LENGTHS:
        cut = [row.text[:length] for row in held]
        mine = [label for label, _ in model.predict(cut)]
        theirs = _category_groups_for(cut)
        report["citizen"][length] = {
            "group_model": float(np.mean([m == r.label for m, r in zip(mine, held, strict=True)])),
            "category": float(np.mean([t == r.label for t, r in zip(theirs, held, strict=True)])),
        }
        print(
            f"citizen cut {length:>5}: group model {report['citizen'][length]['group_model']:.3f}  "
            f"category-derived {report['citizen'][length]['category']:.3f}"
        )
    report["nlu"] = _nlu_side(model)
    return report


def _nlu_side(model: GroupModel) -> dict[str, Any]:
    from bot.nlu.category import category_groups
    from bot.nlu.category_model import REPO_ROOT

    oof_path = REPO_ROOT / "var" / "eval" / "category_oof.json"
    if not oof_path.exists():
        print(f"no {oof_path}: run `python -m bot.nlu.category_model oof` for the NLU side")
        return {}
    groups = category_groups()
    standard = {row.label for row in load_citizen_rows("train")}
    oof = [
        p
        for p in json.loads(oof_path.read_text(encoding="utf-8"))["predictions"]
        if groups.get(p["gold"]) in standard
    ]
    mine = [label for label, _ in model.predict([p["text"] for p in oof])]
    buckets: dict[str, dict[str, float]] = {}
    for low, high in ((0, 20), (20, 40), (40, 60), (60, 10_000)):
        idx = [i for i, p in enumerate(oof) if low <= len(p["text"]) < high]
        if not idx:
            continue
        buckets[f"{low}-{high}"] = {
            "n": len(idx),
            "group_model": float(np.mean([mine[i] == groups[oof[i]["gold"]] for i in idx])),
            "category": float(
                np.mean([groups.get(oof[i]["predicted"]) == groups[oof[i]["gold"]] for i in idx])
            ),
        }
        b = buckets[f"{low}-{high}"]
        print(
            f"nlu chars {low:>3}-{high:<5} n={b['n']:>4}: group model {b['group_model']:.3f}  "
            f"category-derived {b['category']:.3f}"
        )
    return buckets


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    if sys.argv[1:] == ["threshold"]:
        threshold()
    else:
        main()
