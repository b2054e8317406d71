"""TF-IDF rows of a fitted `TfidfVectorizer`, built with plain array arithmetic (prediction only).

scikit-learn 1.1's `TfidfVectorizer.transform` builds a count matrix, validates it, multiplies it by a sparse
diagonal and normalises it through generic sparse-matrix code. For the one short message of a turn that
machinery, not the arithmetic, is most of the category classifier's feature time (docs/scaling.md). `TfidfRows`
counts the analyser's tokens the same way, then does scikit-learn's arithmetic in scikit-learn's order:
`log(count) + 1`, times the term's idf, L2-normalised by scikit-learn's own routine. The entries also come out
in the order scikit-learn stores them (the diagonal product reverses each row), so any product over them sums
in the same order and gives the same bits. `of` returns None for any other configuration, which keeps
scikit-learn's path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2


@dataclass(frozen=True)
class TfidfRows:
    """One fitted vectorizer: its analyser, vocabulary and idf weights."""

    analyze: Callable[[str], Sequence[str]]
    vocabulary: Mapping[str, int]
    idf: np.ndarray

    @classmethod
    def of(cls, vectorizer: Any) -> TfidfRows | None:
        """The rows of a fitted sublinear, idf-weighted, L2-normalised `TfidfVectorizer`; else None."""
        if type(vectorizer) is not TfidfVectorizer or not hasattr(vectorizer, "vocabulary_"):
            return None
        settings = (vectorizer.sublinear_tf, vectorizer.use_idf, vectorizer.norm, vectorizer.binary)
        if settings != (True, True, "l2", False) or vectorizer.dtype is not np.float64:
            return None
        return cls(vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_)

    @property
    def width(self) -> int:
        return len(self.idf)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, column indices) of `text`'s row, in scikit-learn's stored order."""
        counts: dict[int, int] = {}
        for token in self.analyze(text):
            column = self.vocabulary.get(token)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = np.fromiter(sorted(counts, reverse=True), dtype=np.int32, count=len(counts))
        values = np.fromiter((counts[int(c)] for c in columns), dtype=np.float64, count=len(counts))
        np.log(values, values)
        values += 1
        values *= self.idf[columns]
        if len(values):
            inplace_csr_row_normalize_l2(csr_matrix((values, columns, [0, len(values)]), shape=(1, self.width)))
        return values, columns


def stacked_rows(blocks: Sequence[TfidfRows], texts: Sequence[str], dense: np.ndarray | None = None) -> csr_matrix:
    """Entry for entry, `hstack([v.transform(texts) for v in vectorizers] + [csr_matrix(dense)]).tocsr()`."""
    offsets = np.cumsum([0] + [block.width for block in blocks])  # each block's first column, then the dense one
    width = int(offsets[-1]) + (0 if dense is None else dense.shape[1])
    values: list[np.ndarray] = [np.zeros(0)]
    columns: list[np.ndarray] = [np.zeros(0, dtype=np.int32)]
    pointers = [0]
    for number, text in enumerate(texts):
        entries = 0
        for offset, block in zip(offsets[:-1], blocks, strict=True):
            block_values, block_columns = block.row(text)
            values.append(block_values)
            columns.append(block_columns + offset)
            entries += len(block_values)
        if dense is not None:
            present = np.flatnonzero(dense[number])  # csr_matrix(dense) keeps the non-zero entries only
            values.append(dense[number, present])
            columns.append(present + offsets[-1])
            entries += len(present)
        pointers.append(pointers[-1] + entries)
    return csr_matrix((np.concatenate(values), np.concatenate(columns), pointers), shape=(len(texts), width))
