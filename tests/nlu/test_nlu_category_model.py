"""The category model on its own: reading metadata, fitting, calibrated rankings, cross-validation."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.nlu.calibrated_svm import SigmoidFolds
from bot.nlu.category import category_groups
from bot.nlu.category_model import CategoryModel, cross_validate, load_category_examples, ranking

GARBAGE = [
    "垃圾堆咗三日冇人收",
    "垃圾桶满晒好臭",
    "楼下垃圾站成日冇人清",
    "垃圾清运唔及时",
    "有人乱倒垃圾",
    "垃圾堆积好多苍蝇",
]
STREETLIGHT = [
    "路灯唔着",
    "条街啲路灯坏咗好黑",
    "路灯闪下闪下",
    "夜晚路灯冇开",
    "路灯柱歪咗",
    "成排路灯都唔亮",
]
PARKING = [
    "有车停喺人行道",
    "门口成日有人乱停车",
    "违章停车堵住出口",
    "车停喺消防通道",
    "双黄线有车停",
    "乱停车好严重",
]


def _data() -> tuple[list[str], list[str]]:
    texts = GARBAGE + STREETLIGHT + PARKING
    codes = ["GARBAGE"] * 6 + ["STREETLIGHT"] * 6 + ["PARKING"] * 6
    return texts, codes


def test_load_category_examples_reads_intent_metadata(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(
        'version: "3.1"\nnlu:\n- intent: report_issue\n  metadata:\n    category: GARBAGE\n  examples: |\n'
        "    - 垃圾冇人收\n    - 好臭\n- intent: greet\n  examples: |\n    - 你好\n",
        encoding="utf-8",
    )
    assert load_category_examples([nlu]) == (["垃圾冇人收", "好臭"], ["GARBAGE", "GARBAGE"])


def test_sparse_model_ranks_the_right_code_first() -> None:
    texts, codes = _data()
    model = CategoryModel("svm").fit(texts, codes)
    ranked = ranking(model, ["路灯又唔着", "垃圾堆满晒"], top=3)
    assert [r[0][0] for r in ranked] == ["STREETLIGHT", "GARBAGE"]
    for row in ranked:
        assert len(row) == 3
        assert row == sorted(row, key=lambda item: -item[1])
        assert 0.0 <= row[-1][1] <= row[0][1] <= 1.0


def test_probabilities_sum_to_one() -> None:
    texts, codes = _data()
    probabilities = CategoryModel("svm").fit(texts, codes).predict_proba(["乱停车"])
    assert probabilities.sum() == pytest.approx(1.0)


def test_model_with_a_single_example_class_still_gives_probabilities() -> None:
    texts, codes = _data()
    model = CategoryModel("svm").fit(texts + ["狗屎成街都系"], codes + ["DOG"])
    assert "DOG" in model.classes_


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown category model kind"):
        CategoryModel("bert")


def test_cross_validate_returns_out_of_fold_predictions() -> None:
    texts, codes = _data()
    result = cross_validate(texts, codes, "svm", folds=3)
    assert result["n"] == len(texts)
    assert len(result["predictions"]) == len(texts)
    assert {row["gold"] for row in result["predictions"]} == set(codes)
    assert 0.0 <= result["macro_f1"] <= 1.0


def test_every_taxonomy_code_has_a_group() -> None:
    groups = category_groups()
    assert len(groups) == 43
    assert groups["GARBAGE"] == "环境保护"
    assert groups["PARKING"] == "交通运输"


def _features_and_classifier(model: CategoryModel, texts: list[str]) -> tuple[Any, Any]:
    return model._features(texts, None, fit=False), model.classifier


def test_the_fold_arithmetic_gives_scikit_learns_probabilities() -> None:
    texts, codes = _data()
    model = CategoryModel("svm").fit(texts, codes)
    probes = ["路灯又唔着", "垃圾堆满晒", "乱停车", "今日天气几好", "路灯下面有垃圾同埋乱停车"]
    features, classifier = _features_and_classifier(model, probes)
    folds = SigmoidFolds.of(classifier)
    assert folds is not None and len(folds.folds) == len(classifier.calibrated_classifiers_) == 3
    np.testing.assert_allclose(folds.predict_proba(features), classifier.predict_proba(features), rtol=0, atol=1e-15)
    np.testing.assert_allclose(model.predict_proba(probes), classifier.predict_proba(features), rtol=0, atol=1e-15)


def test_other_models_keep_scikit_learns_path_and_pickles_carry_no_views() -> None:
    texts, codes = _data()
    single = CategoryModel("svm").fit(texts + ["狗屎成街都系"], codes + ["DOG"])  # logistic regression
    assert SigmoidFolds.of(single.classifier) is None
    assert single.predict_proba(["乱停车"]).sum() == pytest.approx(1.0)
    two = CategoryModel("svm").fit(GARBAGE + STREETLIGHT, ["GARBAGE"] * 6 + ["STREETLIGHT"] * 6)
    assert SigmoidFolds.of(two.classifier) is None  # binary folds
    model = CategoryModel("svm").fit(texts, codes)
    before = model.predict_proba(["路灯唔着"])
    loaded = pickle.loads(pickle.dumps(model))
    assert "_folds" not in loaded.__dict__ and "_rows" not in loaded.__dict__
    np.testing.assert_array_equal(loaded.predict_proba(["路灯唔着"]), before)
