"""`ExactEntityPreference`: when a rule-based extractor and DIET both find an entity of the same type at
overlapping positions (a case code YX-20261129-0007 is matched exactly by RegexEntityExtractor while
DIET may tag only "YX"), keep the rule-based one. Entities of different types are left alone.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List  # noqa: UP035 - Rasa validates signatures by these types

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

EXACT_EXTRACTORS = ("RegexEntityExtractor", "PlaceExtractor")


def prefer_exact(
    entities: list[dict[str, Any]], exact: tuple[str, ...] = EXACT_EXTRACTORS
) -> list[dict[str, Any]]:
    """Drop statistical entities that overlap an exact entity of the same type."""
    exact_spans = [(e["entity"], e["start"], e["end"]) for e in entities if e.get("extractor") in exact]

    def shadowed(entity: dict[str, Any]) -> bool:
        return entity.get("extractor") not in exact and any(
            kind == entity["entity"] and start < entity["end"] and entity["start"] < end
            for kind, start, end in exact_spans
        )

    return [e for e in entities if not shadowed(e)]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class ExactEntityPreference(GraphComponent):
    """Removes DIET entities that duplicate an exact (regex) match of the same type."""

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ExactEntityPreference:
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:  # noqa: UP006
        """Drop the shadowed entities of each message."""
        for message in messages:
            entities = message.get(ENTITIES) or []
            kept = prefer_exact(entities)
            if len(kept) != len(entities):
                message.set(ENTITIES, kept, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data is left as annotated."""
        return training_data
