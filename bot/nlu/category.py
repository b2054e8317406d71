"""`CategoryClassifier`: the Rasa GraphComponent that assigns one of the 43 taxonomy codes.

Trained on the `report_issue` examples whose intent-level metadata names a category (Rasa keeps it
at `message.data["metadata"]["intent"]["category"]`). It runs after DIET and sets, with
add_to_output=True, on every parsed message:

- `category_ranking`: the top 5 `{"code", "confidence"}` (always, for inspection and thresholds);
- `category`, `category_confidence` (calibrated probability) and `group` (the code's taxonomy group),
  only when the message is report-like (intent in `report_intents`); otherwise None / 0.0 / None.

A later group component may override `group` for long, formal texts.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Dict, List  # noqa: UP035 - Rasa validates signatures by these types

import joblib
import numpy as np
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.category_model import DEFAULT_KIND, CategoryModel, ranking
from bot.nlu.digest import source_digest

logger = logging.getLogger(__name__)

CATEGORIES_FILE = Path(__file__).resolve().parents[2] / "routing" / "data" / "categories.yml"
MODEL_FILE = "category_model.joblib"


@functools.lru_cache(maxsize=1)
def category_groups() -> dict[str, str]:
    """code -> taxonomy group, from routing/data/categories.yml (our encoding of taxonomy.yml)."""
    data = yaml.safe_load(CATEGORIES_FILE.read_text(encoding="utf-8"))
    return {entry["code"]: entry["group"] for entry in data["categories"]}


def example_category(message: Message) -> str | None:
    """The category code of a training example, from its intent-level metadata."""
    metadata = message.get("metadata") or {}
    intent_metadata = metadata.get("intent") or {} if isinstance(metadata, dict) else {}
    code = intent_metadata.get("category") if isinstance(intent_metadata, dict) else None
    return str(code) if code else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class CategoryClassifier(GraphComponent):
    """Taxonomy category of a report, with calibrated confidence and the top-5 ranking."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:  # noqa: UP006
        return {
            "kind": DEFAULT_KIND,
            # alias of the SentenceEncoderFeaturizer whose vectors to reuse
            "sentence_features": "use",
            "report_intents": ["report_issue", "consult"],
            "ranking_length": 5,
            "source_digest": source_digest(
                "bot/nlu/category.py", "bot/nlu/category_model.py", "bot/nlu/data/domain_words.txt"
            ),
        }

    def __init__(
        self,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        model: CategoryModel | None = None,  # noqa: UP007
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CategoryClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def required_packages(cls) -> List[str]:  # noqa: UP006
        # names must be both importable and distribution names (Rasa checks one, fingerprints the other)
        return ["joblib", "jieba"]

    def _vectors(self, messages: List[Message]) -> np.ndarray | None:  # noqa: UP006, UP007
        alias = self._config["sentence_features"]
        rows = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT, [alias])
            if sentence is None:
                return None  # the model encodes the texts itself
            rows.append(sentence.features.reshape(-1))
        return np.vstack(rows) if rows else None

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on every example with a category in its intent metadata and persist the model."""
        examples = [m for m in training_data.intent_examples if example_category(m) and m.get(TEXT)]
        if not examples:
            logger.warning("no report examples with a category: the category classifier stays empty")
            return self._resource
        texts = [m.get(TEXT) for m in examples]
        codes = [example_category(m) or "" for m in examples]
        self._model = CategoryModel(self._config["kind"]).fit(texts, codes, self._vectors(examples))
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self._model, directory / MODEL_FILE)
        logger.info("category classifier: %d examples, %d codes", len(texts), len(set(codes)))
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> CategoryClassifier:
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("no trained category model in %s; categories will be None", resource.name)
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:  # noqa: UP006
        """Set category, category_confidence, category_ranking and group on each message."""
        with_text = [m for m in messages if m.get(TEXT)]
        ranked: list[list[tuple[str, float]]] = []
        if self._model is not None and with_text:
            texts = [m.get(TEXT) for m in with_text]
            ranked = ranking(self._model, texts, self._vectors(with_text), self._config["ranking_length"])
        by_message = {id(m): r for m, r in zip(with_text, ranked, strict=True)}
        for message in messages:
            self._annotate(message, by_message.get(id(message), []))
        return messages

    def _annotate(self, message: Message, ranked: list[tuple[str, float]]) -> None:
        intent = (message.get(INTENT) or {}).get("name")
        report_like = bool(ranked) and (intent is None or intent in self._config["report_intents"])
        code, confidence = ranked[0] if report_like else (None, 0.0)
        message.set("category", code, add_to_output=True)
        message.set("category_confidence", round(float(confidence), 4), add_to_output=True)
        message.set(
            "category_ranking",
            [{"code": c, "confidence": round(p, 4)} for c, p in ranked],
            add_to_output=True,
        )
        message.set("group", category_groups().get(code) if code else None, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data (the classifier only predicts)."""
        return training_data
