"""bot.nlu.tfidf_rows builds scikit-learn's TF-IDF features entry for entry, or declines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.nlu.category_model import CategoryModel
from bot.nlu.tfidf_rows import TfidfRows, stacked_rows
from tests.nlu.test_nlu_category_model import _data

PROBES = ["路灯又唔着", "垃圾堆满晒，垃圾垃圾", "", "？？！", "今日天气几好", "路灯下面有垃圾同埋乱停车 abc 123"]


def _same_entries(ours: csr_matrix, theirs: csr_matrix) -> None:
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)  # the stored order, not just the set
    np.testing.assert_array_equal(ours.data, theirs.data)  # bit for bit


def test_the_stacked_rows_are_scikit_learns_matrix_entry_for_entry() -> None:
    texts, codes = _data()
    model = CategoryModel("svm").fit(texts, codes)
    rows = [TfidfRows.of(vectorizer) for vectorizer in model._vectorizers()]
    assert all(row is not None for row in rows)
    sparse = [vectorizer.transform(PROBES) for vectorizer in model._vectorizers()]
    dense = np.random.default_rng(0).normal(size=(len(PROBES), 8))
    dense[1, :3] = 0.0  # csr_matrix(dense) drops zeros; so must the rows
    _same_entries(stacked_rows(rows, PROBES, dense), hstack([*sparse, csr_matrix(dense)]).tocsr())  # type: ignore[arg-type]
    _same_entries(stacked_rows(rows, PROBES), hstack(sparse).tocsr())  # type: ignore[arg-type]


def test_the_category_model_predicts_the_same_bits_through_the_rows() -> None:
    texts, codes = _data()
    model = CategoryModel("svm").fit(texts, codes)
    fast = model.predict_proba(PROBES)
    assert model._rows is not None
    model._rows = None  # scikit-learn's own features, the same folds
    np.testing.assert_array_equal(model.predict_proba(PROBES), fast)


@pytest.mark.parametrize(
    "vectorizer",
    [
        TfidfVectorizer(analyzer="char"),  # linear tf
        TfidfVectorizer(analyzer="char", sublinear_tf=True, norm="l1"),
        TfidfVectorizer(analyzer="char", sublinear_tf=True, use_idf=False),
        TfidfVectorizer(analyzer="char", sublinear_tf=True, binary=True),
        TfidfVectorizer(analyzer="char", sublinear_tf=True, dtype=np.float32),
    ],
)
def test_other_vectorizer_settings_keep_scikit_learns_path(vectorizer: TfidfVectorizer) -> None:
    vectorizer.fit(_data()[0])
    assert TfidfRows.of(vectorizer) is None


def test_an_unfitted_vectorizer_is_declined() -> None:
    assert TfidfRows.of(TfidfVectorizer(sublinear_tf=True)) is None
