"""`GroupClassifier`: the Rasa GraphComponent that makes `group` good in its own right for long, formal texts.

It trains at `rasa train` time on the citizen messages' train split (../shared/data, not on Rasa
training data) and persists the model in Rasa's ModelStorage. It runs after CategoryClassifier:

- long, formal messages (see `is_long_formal`) get `group` and `group_confidence` from the group model,
  and `group_source = "group_model"`;
- short, colloquial ones keep the category-derived `group`; `group_confidence` is then the summed
  probability of the ranked categories in that group, and `group_source = "category"`.

Only report-like messages (intent in `report_intents`, like CategoryClassifier) get a group.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any, Dict, List  # noqa: UP035 - Rasa validates component signatures by these types

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.group_model import (
    GroupModel,
    load_citizen_rows,
    load_extra_titles,
    shared_data_dir,
    train_group_model,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "group_model.pkl"
ORIGINAL_TEXT = "original_text"  # set by bot.nlu.normalise_component.TextNormaliser
# Where the group model takes over, measured by `python tests/bench/bench_group.py threshold` (train data only,
# 10:20 UTC): on citizen texts cut to N chars the group model beats the category-derived group at every N
# (N=30: 0.753 vs 0.399; N=80: 0.854 vs 0.487; full: 0.907 vs 0.541); on the colloquial NLU report examples
# the category-derived group wins (0.90 vs 0.55-0.58). 0.9% of NLU examples but 86% of citizen messages
# have >= 80 chars (60: 5.1% vs 93%). Formal phrases (尊敬的, 投诉, 反映 …) were tried as a second signal and
# dropped: they are as common in short colloquial reports as in short board posts.
LONG_TEXT_CHARS = 80
# The model reads at most this many characters per parse: on a held-out 20% of train, text-only accuracy was
# the same at 1,000 chars as at full length (0.9066 both), and it bounds the cost of the rare 12,000-char post.
MAX_MODEL_CHARS = 1000


def is_long_formal(text: str, min_chars: int = LONG_TEXT_CHARS) -> bool:
    """A message-board style text: at least `min_chars` characters once surrounding whitespace is dropped."""
    return len(text.strip()) >= min_chars


@functools.lru_cache(maxsize=4)
def _data_fingerprint(data_dir: str) -> str:
    """Hash of the citizen data files, so Rasa's training cache retrains when they change."""
    digest = hashlib.sha256()
    for name in ("citizen_messages.csv", "citizen_titles.csv"):
        path = Path(data_dir) / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"missing")
    return digest.hexdigest()[:16]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class GroupClassifier(GraphComponent):
    """First-level group (一级标签) of long, formal messages from the citizen-message model."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:  # noqa: UP006
        from bot.nlu.digest import source_digest

        return {
            "random_seed": 0,
            "min_chars": LONG_TEXT_CHARS,
            "report_intents": ["report_issue", "consult"],
            "data_fingerprint": _data_fingerprint(str(shared_data_dir())),
            "source_digest": source_digest("bot/nlu/group_model.py", "bot/nlu/group_component.py"),
        }

    def __init__(
        self,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        model: GroupModel | None = None,  # noqa: UP007
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
    ) -> GroupClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def required_packages(cls) -> List[str]:  # noqa: UP006
        return ["jieba", "sklearn"]

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the group model on the citizen train split (the Rasa training data is not used) and persist it."""
        data_dir = shared_data_dir()
        if not (data_dir / "citizen_messages.csv").exists():
            raise FileNotFoundError(
                f"GroupClassifier trains on {data_dir}/citizen_messages.csv, which is missing; "
                "set GRIDSEC_SHARED_DATA to the directory holding the shared data"
            )
        rows, extra = load_citizen_rows("train", data_dir), load_extra_titles(data_dir)
        self._model = train_group_model(rows, extra, seed=int(self._config["random_seed"]))
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(Path(directory) / MODEL_FILE)
        logger.info("group classifier: %d messages + %d titles", len(rows), len(extra))
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],  # noqa: UP006
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> GroupClassifier:
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                model = GroupModel.load(Path(directory) / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("no trained group model in %s; group stays category-derived", resource.name)
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:  # noqa: UP006
        """Set group, group_confidence and group_source on each message (see the module docstring)."""
        for message in messages:
            self._annotate(message)
        return messages

    def _annotate(self, message: Message) -> None:
        text = message.get(ORIGINAL_TEXT) or message.get(TEXT) or ""
        intent = (message.get(INTENT) or {}).get("name")
        report_like = intent is None or intent in self._config["report_intents"]
        long_formal = is_long_formal(text, int(self._config["min_chars"]))
        group: str | None
        source: str | None
        if self._model is not None and report_like and long_formal:
            group, confidence = self._model.predict([text.strip()[:MAX_MODEL_CHARS]])[0]
            source = "group_model"
        else:
            group = message.get("group")
            confidence = category_group_confidence(group, message.get("category_ranking") or [])
            source = "category" if group else None
        message.set("group", group, add_to_output=True)
        message.set("group_confidence", round(float(confidence), 4), add_to_output=True)
        message.set("group_source", source, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the Rasa training data."""
        return training_data


def category_group_confidence(group: str | None, ranking: List[Dict[str, Any]]) -> float:  # noqa: UP006
    """Probability of `group` implied by a category ranking: the summed confidence of its codes."""
    if not group:
        return 0.0
    from bot.nlu.category import category_groups

    groups = category_groups()
    total = 0.0
    for entry in ranking:
        if groups.get(str(entry.get("code"))) == group:
            total += float(entry.get("confidence", 0.0))
    return min(total, 1.0)
