"""`PlaceExtractor`: wraps `bot.nlu.places.extract_places` as a Rasa entity extractor.

Sets `places` (a list of dicts with the `PlaceMention` fields) with add_to_output=True, and adds each
mention as a Rasa entity (street, community, road, address, building, landmark) whose value is the
canonical name, so slots and stories can use them. Offsets refer to the normalised text.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, List  # noqa: UP035 - Rasa validates signatures by these types

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.places import extract_places
from routing.types import PlaceMention

logger = logging.getLogger(__name__)

PLACES = "places"
# PlaceMention.kind -> Rasa entity name (metro stations and lakes are landmarks to the dialogue)
ENTITY_NAMES = {
    "street": "street",
    "community": "community",
    "road": "road",
    "address": "address",
    "building": "building",
    "landmark": "landmark",
    "metro_station": "landmark",
    "lake": "landmark",
}


def place_entity(mention: PlaceMention, extractor: str) -> dict[str, Any]:
    """The Rasa entity dict for one place mention."""
    return {
        ENTITY_ATTRIBUTE_TYPE: ENTITY_NAMES.get(mention.kind, "landmark"),
        ENTITY_ATTRIBUTE_VALUE: mention.value,
        ENTITY_ATTRIBUTE_START: mention.start,
        ENTITY_ATTRIBUTE_END: mention.end,
        EXTRACTOR: extractor,
    }


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class PlaceExtractor(GraphComponent, EntityExtractorMixin):
    """Finds streets, communities, roads, addresses, buildings and landmarks of Yuexiu in the text."""

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PlaceExtractor:
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:  # noqa: UP006
        """Set `places` and append the place entities to each message."""
        for message in messages:
            text = message.get(TEXT)
            mentions = extract_places(text) if isinstance(text, str) else ()
            message.set(PLACES, [dataclasses.asdict(m) for m in mentions], add_to_output=True)
            if mentions:
                entities = [place_entity(m, self.__class__.__name__) for m in mentions]
                message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to learn: the lexicon is generated from the gazetteer."""
        return training_data
