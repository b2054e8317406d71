"""Calibrated LinearSVC folds, predicted with plain array arithmetic (prediction only).

scikit-learn 1.1's `CalibratedClassifierCV.predict_proba` validates its input, then for each of the three folds
runs the SVM and calls its 43 per-class sigmoid calibrators one after another, 129 calls per message. That is
1.1 ms of the category classifier's 3.2 ms per message, on the Rasa event loop (docs/scaling.md). Each fold is
linear, and each calibrator is `1 / (1 + exp(a·d + b))`, so a fold is one sparse product and one vectorised
sigmoid. `SigmoidFolds` does scikit-learn's arithmetic in scikit-learn's order (`_CalibratedClassifier.
predict_proba`, `_SigmoidCalibration.predict`) for fitted models of exactly that shape; `of` returns None for
any other model, which then keeps scikit-learn's path. It reads the fitted weights in place and copies none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC


@dataclass(frozen=True)
class SigmoidFold:
    """One fold: the SVM's weights (features x its classes), intercepts, calibrator slopes and offsets."""

    weights: np.ndarray
    intercepts: np.ndarray
    slopes: np.ndarray
    offsets: np.ndarray
    columns: np.ndarray  # the class column each of the fold's classes fills


@dataclass(frozen=True)
class SigmoidFolds:
    folds: tuple[SigmoidFold, ...]
    n_classes: int

    @classmethod
    def of(cls, classifier: Any) -> SigmoidFolds | None:
        """The folds of a fitted multi-class sigmoid-calibrated LinearSVC, or None for any other model."""
        if not isinstance(classifier, CalibratedClassifierCV) or classifier.method != "sigmoid":
            return None
        classes = classifier.classes_
        if len(classes) < 3:
            return None  # binary folds keep one decision column and fill the other class by subtraction
        folds = []
        for fold in classifier.calibrated_classifiers_:
            svm = fold.base_estimator
            if type(svm) is not LinearSVC or len(svm.classes_) < 3:
                return None
            folds.append(
                SigmoidFold(
                    weights=svm.coef_.T,
                    intercepts=svm.intercept_,
                    slopes=np.array([calibrator.a_ for calibrator in fold.calibrators], dtype=float),
                    offsets=np.array([calibrator.b_ for calibrator in fold.calibrators], dtype=float),
                    columns=np.searchsorted(classes, svm.classes_),
                )
            )
        return cls(tuple(folds), len(classes))

    def predict_proba(self, features: Any) -> np.ndarray:
        """Mean over folds of the normalised calibrated probabilities; columns in `classes_` order."""
        rows = features.shape[0]
        mean = np.zeros((rows, self.n_classes))
        for fold in self.folds:
            decisions = np.asarray(features @ fold.weights) + fold.intercepts
            proba = np.zeros((rows, self.n_classes))
            proba[:, fold.columns] = expit(-(fold.slopes * decisions + fold.offsets))
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            uniform = np.full_like(proba, 1 / self.n_classes)
            proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0  # as scikit-learn clips
            mean += proba
        mean /= len(self.folds)
        return mean
