"""`TextNormaliser`: the first component of the NLU pipeline; rewrites message text with `normalise`.

It runs on training data and on live messages alike, so DIET, the category classifier and the place
extractor all see simplified Mandarin. The resident's own words stay available as `original_text`.
Entity annotations in training examples are moved to their position in the rewritten text.
"""

from __future__ import annotations

import logging
from typing import Any, Dict  # noqa: UP035 - Rasa validates signatures by these types

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.digest import source_digest
from bot.nlu.normalise import convert_numerals, normalise

logger = logging.getLogger(__name__)

ORIGINAL_TEXT = "original_text"


def relocate_entities(original: str, normalised: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move entity spans from the original text to the normalised text.

    An entity whose value equals its surface text gets the normalised surface as value (五 -> 5),
    while explicit synonyms (城管 -> CGZF) keep their value. Entities that cannot be found are dropped
    with a log line, never guessed.
    """
    moved: list[dict[str, Any]] = []
    for entity in entities:
        surface = original[entity[ENTITY_ATTRIBUTE_START] : entity[ENTITY_ATTRIBUTE_END]]
        candidates = [normalise(surface), convert_numerals(normalise(surface) + "分")[:-1], surface]
        expected = round(entity[ENTITY_ATTRIBUTE_START] * len(normalised) / max(len(original), 1))
        found = _closest_occurrence(normalised, [c for c in candidates if c], expected)
        if found is None:
            logger.warning(
                "entity %r (%s) lost by normalisation of %r", surface, entity.get("entity"), original
            )
            continue
        start, new_surface = found
        relocated = {**entity, ENTITY_ATTRIBUTE_START: start, ENTITY_ATTRIBUTE_END: start + len(new_surface)}
        if entity.get("value") == surface:
            relocated["value"] = new_surface
        moved.append(relocated)
    return moved


def _closest_occurrence(text: str, candidates: list[str], expected: int) -> tuple[int, str] | None:
    best: tuple[int, int, str] | None = None
    for candidate in candidates:
        start = text.find(candidate)
        while start >= 0:
            distance = abs(start - expected)
            if best is None or distance < best[0]:
                best = (distance, start, candidate)
            start = text.find(candidate, start + 1)
        if best is not None:
            break
    return (best[1], best[2]) if best else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextNormaliser(GraphComponent):
    """Normalises message text (width, traditional, Cantonese, emoji, punctuation, numerals, case codes)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:  # noqa: UP006
        return {
            "source_digest": source_digest(
                "bot/nlu/normalise.py",
                "bot/nlu/normalise_component.py",
                "bot/nlu/data/cantonese.yml",
                "routing/lexicon.py",
                "routing/data/places.csv",
                "routing/data/place_aliases.yml",
            )
        }

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormaliser:
        return cls()

    def _normalise_message(self, message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or not text:
            return
        new_text = normalise(text) or text
        if message.get(ORIGINAL_TEXT) is None:
            message.set(ORIGINAL_TEXT, text, add_to_output=True)
        if new_text == text:
            return
        entities = message.get(ENTITIES)
        if entities:
            message.set(ENTITIES, relocate_entities(text, new_text, entities))
        message.set(TEXT, new_text)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalise every training example (intent examples and responses alike)."""
        for example in training_data.training_examples:
            self._normalise_message(example)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Normalise live messages; the original text is kept as `original_text`."""
        for message in messages:
            self._normalise_message(message)
        return messages
