"""First-level `group` (一级标签) of long, formal citizen messages, and the same-run TF-IDF baseline.

The model is a two-view stack chosen by 5-fold cross-validation on `split=train` only:

- full view: TF-IDF over jieba words + char 1–3 grams of title + body, LinearSVC;
- title view: the same features over the title alone, LinearSVC trained on the train-split titles of
  `citizen_messages.csv` plus the train-split titles of `citizen_titles.csv` whose bodies are not in it;
- a logistic-regression meta-learner over the out-of-fold decision values of both views.

Selection (train split only, 2026-11-29): out-of-fold decision values of candidate views, 5 folds, gave
macro-F1 full view 0.913, title view 0.863 (0.877 with the extra titles), body view 0.895, ComplementNB
0.872; stacked by logistic regression: full + title(extra) 0.931 (C=0.3; C=0.03/3: 0.930/0.929), adding
body and/or ComplementNB 0.928-0.930, so the two-view stack was kept. End-to-end 5-fold CV of this module
(`cross_validate`, every fold refitting everything): model 0.9289, baseline 0.9127. USE sentence vectors
were left out: ~50-250 ms per long text here, against a 50 ms parse budget.

The baseline is the full view alone. Without a title (chat messages), the headline of the text (its first
clause) stands in. Test rows are used only by `evaluate_public_split`, once, for the final numbers.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
import pickle
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)

GROUPS = ("城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "商贸旅游", "卫生计生")
FORMAT_VERSION = 1
META_FOLDS = 5
FULL_VIEW_C = 1.0
TITLE_VIEW_C = 0.5
META_C = 0.3
HEADLINE_CHARS = 40
_HEADLINE_END = re.compile(r"[。！？!?；;\n]")


@dataclass(frozen=True)
class CitizenRow:
    """One labelled citizen message (or a title-only row when `text` is empty)."""

    id: str
    title: str
    text: str
    label: str


def shared_data_dir() -> Path:
    """`<repo>/../shared/data`, or the directory named by GRIDSEC_SHARED_DATA."""
    override = os.environ.get("GRIDSEC_SHARED_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def load_citizen_rows(split: str, data_dir: Path | None = None) -> list[CitizenRow]:
    """Rows of citizen_messages.csv with `split` ("train" or "test")."""
    if split not in {"train", "test"}:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    path = (data_dir or shared_data_dir()) / "citizen_messages.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [_row(record) for record in csv.DictReader(handle) if record["split"] == split]


def load_extra_titles(data_dir: Path | None = None) -> list[CitizenRow]:
    """Train-split titles of citizen_titles.csv whose message is not in citizen_messages.csv.

    Excludes every id that is test in either file and every title equal to a test message's title,
    so no test row leaks in through the title file.
    """
    directory = data_dir or shared_data_dir()
    with (directory / "citizen_messages.csv").open(encoding="utf-8", newline="") as handle:
        messages = list(csv.DictReader(handle))
    known_ids = {record["id"] for record in messages}
    test_titles = {record["title"] for record in messages if record["split"] == "test"}
    with (directory / "citizen_titles.csv").open(encoding="utf-8", newline="") as handle:
        titles = list(csv.DictReader(handle))
    test_ids = {record["id"] for record in titles if record["split"] == "test" and record["id"]}
    return [
        CitizenRow(id=record["id"], title=record["title"], text="", label=record["label"])
        for record in titles
        if record["split"] == "train"
        and record["id"] not in known_ids
        and record["id"] not in test_ids
        and record["title"] not in test_titles
        and record["title"]
    ]


def _row(record: dict[str, str]) -> CitizenRow:
    return CitizenRow(id=record["id"], title=record["title"], text=record["text"], label=record["label"])


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Any:
    """A private jieba tokenizer: Rasa's JiebaTokenizer loads user dictionaries into jieba's global one."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def words(text: str) -> str:
    """jieba words of `text`, space-joined (the input of the word TF-IDF)."""
    return " ".join(token for token in _tokenizer().lcut(text) if not token.isspace())


def headline(text: str) -> str:
    """The first clause of a title-less text (at most HEADLINE_CHARS), standing in for its title."""
    return _HEADLINE_END.split(text.strip(), maxsplit=1)[0][:HEADLINE_CHARS]


def full_text(title: str, text: str) -> str:
    """What the full view reads: title and body joined like a message-board post."""
    return f"{title}。{text}" if title and text else (title or text)


class TextView:
    """TF-IDF over jieba words (sublinear tf) plus TF-IDF over char 1–3 grams of one text field."""

    def __init__(self, char_min_df: int = 2) -> None:
        self.words = TfidfVectorizer(token_pattern=r"(?u)\S+", lowercase=False, sublinear_tf=True)
        self.chars = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=char_min_df
        )

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Fit both vectorizers on `texts` and return their features (jieba runs once per text)."""
        return sp.hstack(
            [self.words.fit_transform([words(t) for t in texts]), self.chars.fit_transform(texts)]
        ).tocsr()

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return sp.hstack(
            [self.words.transform([words(t) for t in texts]), self.chars.transform(texts)]
        ).tocsr()


class BaselineModel:
    """TF-IDF (jieba words + char 1–3 grams) + LinearSVC over title + body: the issue's baseline."""

    def __init__(self, view: TextView, svc: LinearSVC) -> None:
        self.view, self.svc = view, svc

    def predict(self, texts: Sequence[str], titles: Sequence[str] | None = None) -> list[str]:
        joined = (
            [full_text(t, x) for t, x in zip(titles, texts, strict=True)]
            if titles is not None
            else list(texts)
        )
        return [str(label) for label in self.svc.predict(self.view.transform(joined))]


def train_baseline(rows: Sequence[CitizenRow], seed: int = 0) -> BaselineModel:
    """Fit the baseline on `rows` (title + body)."""
    texts = [full_text(row.title, row.text) for row in rows]
    view = TextView()
    svc = LinearSVC(C=FULL_VIEW_C, random_state=seed).fit(view.fit_transform(texts), [r.label for r in rows])
    return BaselineModel(view, svc)


class GroupModel:
    """The stacked two-view group classifier; `predict` returns (group, calibrated confidence) pairs."""

    def __init__(
        self,
        full_view: TextView,
        full_svc: LinearSVC,
        title_view: TextView,
        title_svc: LinearSVC,
        meta: Any,
    ) -> None:
        self.full_view, self.full_svc = full_view, full_svc
        self.title_view, self.title_svc = title_view, title_svc
        self.meta = meta

    @property
    def classes(self) -> list[str]:
        return [str(label) for label in self.meta.classes_]

    def predict_proba(self, texts: Sequence[str], titles: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities (columns in `classes` order) for bodies `texts` with optional `titles`."""
        texts = list(texts)
        if titles is None:
            titles, joined = [headline(text) for text in texts], texts
        else:
            joined = [full_text(t, x) for t, x in zip(titles, texts, strict=True)]
            titles = [title or headline(text) for title, text in zip(titles, texts, strict=True)]
        if not texts:
            return np.zeros((0, len(self.meta.classes_)))
        stacked = np.hstack(
            [
                _decision(self.full_svc, self.full_view.transform(joined)),
                _decision(self.title_svc, self.title_view.transform(titles)),
            ]
        )
        return self.meta.predict_proba(stacked)

    def predict(self, texts: Sequence[str], titles: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(group, confidence) per text; without `titles` each text's headline stands in for its title."""
        probabilities = self.predict_proba(texts, titles)
        best = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, dtype=int)
        classes = self.classes
        return [(classes[i], float(probabilities[row, i])) for row, i in enumerate(best)]

    def save(self, path: Path) -> None:
        """Write the model to `path` (one pickle file, format-versioned)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            pickle.dump({"format": FORMAT_VERSION, "model": self}, handle, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, path: Path) -> GroupModel:
        """Read a model written by `save`; a file of another format version is refused."""
        with path.open("rb") as handle:
            payload = pickle.load(handle)  # noqa: S301 - our own artefact, written by `save`
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a GroupModel file of format {FORMAT_VERSION}; retrain it")
        model = payload["model"]
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a GroupModel")
        return model


def train_group_model(
    rows: Sequence[CitizenRow], extra_titles: Iterable[CitizenRow] = (), seed: int = 0
) -> GroupModel:
    """Fit the stacked model on `rows` (title + body) and title-only `extra_titles`.

    The meta-learner sees only out-of-fold decision values (META_FOLDS stratified folds, shuffled by
    `seed`), so it learns how far to trust each view on texts that view has not seen.
    """
    rows, extra = list(rows), [row for row in extra_titles if row.title]
    labels = np.array([row.label for row in rows])
    _check_trainable(labels)
    joined = [full_text(row.title, row.text) for row in rows]
    titles = [row.title or headline(row.text) for row in rows]
    full_view, title_view = TextView(), TextView(char_min_df=1)
    x_full = full_view.fit_transform(joined)
    x_titles = title_view.fit_transform(titles + [row.title for row in extra])
    x_title, x_extra = x_titles[: len(rows)], x_titles[len(rows) :]
    extra_labels = np.array([row.label for row in extra])

    def fit_full(index: np.ndarray) -> LinearSVC:
        return LinearSVC(C=FULL_VIEW_C, random_state=seed).fit(x_full[index], labels[index])

    def fit_title(index: np.ndarray) -> LinearSVC:
        x = sp.vstack([x_title[index], x_extra]).tocsr()
        return LinearSVC(C=TITLE_VIEW_C, random_state=seed).fit(
            x, np.concatenate([labels[index], extra_labels])
        )

    columns = len(set(labels)) if len(set(labels)) > 2 else 1
    out_of_fold = np.zeros((len(rows), 2 * columns))
    folds = StratifiedKFold(n_splits=META_FOLDS, shuffle=True, random_state=seed)
    for fit_index, held_index in folds.split(x_full, labels):
        full_svc, title_svc = fit_full(fit_index), fit_title(fit_index)
        out_of_fold[held_index] = np.hstack(
            [_decision(full_svc, x_full[held_index]), _decision(title_svc, x_title[held_index])]
        )
    meta = _meta_learner(seed).fit(out_of_fold, labels)
    everything = np.arange(len(rows))
    return GroupModel(full_view, fit_full(everything), title_view, fit_title(everything), meta)


def _check_trainable(labels: np.ndarray) -> None:
    counts = {str(label): int((labels == label).sum()) for label in np.unique(labels)}
    if len(counts) < 2:
        raise ValueError(f"the group model needs at least two groups to learn from, got {counts}")
    scarce = {label: n for label, n in counts.items() if n < META_FOLDS}
    if scarce:
        raise ValueError(f"every group needs at least {META_FOLDS} messages for the stack's folds: {scarce}")


def _decision(svc: LinearSVC, x: sp.csr_matrix) -> np.ndarray:
    """Decision values as a 2-D array (a two-group SVC returns one column)."""
    return np.asarray(svc.decision_function(x)).reshape(x.shape[0], -1)


def _meta_learner(seed: int) -> Any:
    from sklearn.pipeline import make_pipeline

    return make_pipeline(StandardScaler(), LogisticRegression(C=META_C, max_iter=5000, random_state=seed))


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class F1 (over GROUPS present in `gold`)."""
    present = [group for group in GROUPS if group in set(gold)]
    per_class = f1_score(gold, predicted, labels=present, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)),
        "per_class_f1": {group: float(value) for group, value in zip(present, per_class, strict=True)},
    }


def cross_validate(
    rows: Sequence[CitizenRow], extra_titles: Sequence[CitizenRow] = (), folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Model selection evidence on train only: k-fold macro-F1 of the model and the baseline.

    Every fold refits everything (vectorizers included) on its training part; `extra_titles` are
    title-only rows and join every fold's training part.
    """
    rows = list(rows)
    labels = np.array([row.label for row in rows])
    results: dict[str, list[float]] = {"model": [], "baseline": []}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + 1)
    for fit_index, held_index in splitter.split(np.zeros(len(rows)), labels):
        fit_rows, held = [rows[i] for i in fit_index], [rows[i] for i in held_index]
        gold = [row.label for row in held]
        titles, bodies = [row.title for row in held], [row.text for row in held]
        model = train_group_model(fit_rows, extra_titles, seed=seed)
        results["model"].append(scores(gold, [g for g, _ in model.predict(bodies, titles)])["macro_f1"])
        baseline = train_baseline(fit_rows, seed=seed)
        results["baseline"].append(scores(gold, baseline.predict(bodies, titles))["macro_f1"])
        logger.info(
            "fold %d: model %.4f baseline %.4f", len(results["model"]), *(v[-1] for v in results.values())
        )
    return {name: {"mean": float(np.mean(v)), "folds": v} for name, v in results.items()}


def evaluate_public_split(
    seed: int = 0, data_dir: Path | None = None, keep_models: bool = False
) -> dict[str, Any]:
    """Train the model and the baseline on split=train, then score both once on split=test.

    Returns:
        {"model": scores, "baseline": scores, "delta_macro_f1", "n_train", "n_extra_titles", "n_test",
        "train_seconds": {"model", "baseline"}}.
    """
    train, test = load_citizen_rows("train", data_dir), load_citizen_rows("test", data_dir)
    extra = load_extra_titles(data_dir)
    started = time.perf_counter()
    model = train_group_model(train, extra, seed=seed)
    model_seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = train_baseline(train, seed=seed)
    baseline_seconds = time.perf_counter() - started
    gold = [row.label for row in test]
    titles, bodies = [row.title for row in test], [row.text for row in test]
    model_scores = scores(gold, [label for label, _ in model.predict(bodies, titles)])
    baseline_scores = scores(gold, baseline.predict(bodies, titles))
    result = {
        "model": model_scores,
        "baseline": baseline_scores,
        "delta_macro_f1": model_scores["macro_f1"] - baseline_scores["macro_f1"],
        "n_train": len(train),
        "n_extra_titles": len(extra),
        "n_test": len(test),
        "train_seconds": {"model": model_seconds, "baseline": baseline_seconds},
    }
    if keep_models:
        result["models"] = (model, baseline)
    return result
