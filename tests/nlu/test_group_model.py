"""The `group` classifier: public-split floor against the same-run baseline, API, persistence, component."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from bot.nlu.group_model import (
    GROUPS,
    CitizenRow,
    GroupModel,
    evaluate_public_split,
    headline,
    load_citizen_rows,
    load_extra_titles,
    shared_data_dir,
    train_baseline,
    train_group_model,
)

PER_GROUP = 40


def _small(rows: list[CitizenRow], per_group: int = PER_GROUP) -> list[CitizenRow]:
    taken: dict[str, list[CitizenRow]] = defaultdict(list)
    for row in rows:
        if len(taken[row.label]) < per_group:
            taken[row.label].append(row)
    return [row for group in GROUPS for row in taken[group]]


@pytest.fixture(scope="module")
def small_train() -> list[CitizenRow]:
    return _small(load_citizen_rows("train"))


@pytest.fixture(scope="module")
def small_model(small_train: list[CitizenRow]) -> GroupModel:
    return train_group_model(small_train, _small(load_extra_titles(), 20), seed=7)


@pytest.mark.slow
def test_public_split_beats_the_same_run_baseline() -> None:
    result = evaluate_public_split(seed=0)

    assert result["n_test"] > 1000 and result["n_train"] > 5000
    assert set(result["model"]["per_class_f1"]) == set(GROUPS)
    assert result["model"]["macro_f1"] >= result["baseline"]["macro_f1"] + 0.005, result


def test_predict_returns_a_group_and_a_probability_per_text(small_model: GroupModel) -> None:
    texts = ["小区门口的垃圾堆了一个星期没人清运，臭气熏天，蚊子苍蝇很多", "学校乱收补课费，家长负担很重"]

    predicted = small_model.predict(texts)

    assert len(predicted) == 2
    for group, confidence in predicted:
        assert group in GROUPS
        assert 1 / len(GROUPS) < confidence <= 1.0
    assert small_model.predict([]) == []


def test_titles_change_the_prediction_input(small_model: GroupModel) -> None:
    body = "请有关部门尽快处理。"
    with_title = small_model.predict_proba([body], ["学校乱收补课费"])
    without = small_model.predict_proba([body])

    assert with_title.shape == without.shape == (1, len(GROUPS))
    assert with_title.sum() == pytest.approx(1.0)
    assert (with_title != without).any()


def test_learns_the_training_rows(small_train: list[CitizenRow], small_model: GroupModel) -> None:
    predicted = small_model.predict([r.text for r in small_train], [r.title for r in small_train])

    accuracy = sum(p == r.label for (p, _), r in zip(predicted, small_train, strict=True)) / len(small_train)
    assert accuracy > 0.95


def test_training_is_deterministic_for_a_seed(small_train: list[CitizenRow], small_model: GroupModel) -> None:
    again = train_group_model(small_train, _small(load_extra_titles(), 20), seed=7)
    texts = [row.text for row in load_citizen_rows("train")[-30:]]

    assert (again.predict_proba(texts) == small_model.predict_proba(texts)).all()


def test_save_load_round_trip(tmp_path: Path, small_model: GroupModel) -> None:
    texts = [row.text for row in load_citizen_rows("train")[-20:]]
    small_model.save(tmp_path / "group" / "model.pkl")

    loaded = GroupModel.load(tmp_path / "group" / "model.pkl")

    assert loaded.predict(texts) == small_model.predict(texts)


def test_load_refuses_a_foreign_file(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"format": 999, "model": None}))

    with pytest.raises(ValueError, match="format"):
        GroupModel.load(path)


def test_baseline_predicts_groups(small_train: list[CitizenRow]) -> None:
    baseline = train_baseline(small_train, seed=0)

    predicted = baseline.predict([r.text for r in small_train[:10]], [r.title for r in small_train[:10]])

    assert len(predicted) == 10 and set(predicted) <= set(GROUPS)


def _is_test_id(identifier: str) -> bool:
    return int(hashlib.sha256(identifier.encode()).hexdigest(), 16) % 100 < 20


def test_splits_follow_the_published_rule_and_extra_titles_leak_nothing() -> None:
    train, test = load_citizen_rows("train"), load_citizen_rows("test")
    extra = load_extra_titles()
    test_titles = {row.title for row in test}

    assert not any(_is_test_id(row.id) for row in train)
    assert all(_is_test_id(row.id) for row in test)
    assert extra and not any(row.id and _is_test_id(row.id) for row in extra)
    assert not {row.id for row in extra} & {row.id for row in train + test}
    assert not {row.title for row in extra} & test_titles


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="split"):
        load_citizen_rows("dev")


def test_shared_data_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSEC_SHARED_DATA", str(tmp_path))
    (tmp_path / "citizen_messages.csv").write_text(
        "id,title,text,label,split,orig_msg_id,title_source\nx-1,标题,正文,交通运输,train,,given\n",
        encoding="utf-8",
    )

    assert shared_data_dir() == tmp_path
    assert load_citizen_rows("train") == [CitizenRow("x-1", "标题", "正文", "交通运输")]
    assert load_citizen_rows("test") == []


def test_headline_is_the_first_clause() -> None:
    assert headline("  A市某路井盖破损！请尽快修复。谢谢") == "A市某路井盖破损"
    assert len(headline("很" * 100)) == 40


def write_small_shared_data(directory: Path) -> None:
    """A per-group slice of the real shared data, for training the Rasa component quickly."""
    source = shared_data_dir()
    for name, per_group in (("citizen_messages.csv", PER_GROUP), ("citizen_titles.csv", 20)):
        with (source / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            fields, records = reader.fieldnames or [], list(reader)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        kept = []
        for record in records:
            key = (record["label"], record["split"])
            if counts[key] < per_group:
                counts[key] += 1
                kept.append(record)
        with (directory / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)


@pytest.fixture(scope="module")
def trained_component(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object, object]:
    """GroupClassifier trained through Rasa's ModelStorage on a slice of the shared data."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.group_component import GroupClassifier

    data_dir = tmp_path_factory.mktemp("shared-data")
    write_small_shared_data(data_dir)
    storage = LocalModelStorage.create(tmp_path_factory.mktemp("model-storage"))
    resource = Resource("group_classifier")
    context = ExecutionContext(GraphSchema({}), "test-model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDSEC_SHARED_DATA", str(data_dir))
        config = {**GroupClassifier.get_default_config(), "random_seed": 3}
        GroupClassifier.create(config, storage, resource, context).train(TrainingData())
    return GroupClassifier, (config, storage, resource, context), data_dir


def _message(text: str, intent: str | None = "report_issue", group: str | None = None) -> object:
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": text})
    if intent:
        message.set("intent", {"name": intent, "confidence": 0.9})
    if group:
        message.set("group", group)
        ranking = [
            ("GARBAGE", 0.5),
            ("MANHOLE", 0.25),
            ("STREET_CLEAN", 0.125),
        ]  # 环境保护, 城乡建设, 环境保护
        message.set("category_ranking", [{"code": code, "confidence": value} for code, value in ranking])
    return message


LONG_FORMAL = (
    "尊敬的领导：您好！我是A市A5区某小区的业主，小区旁边的工地每天晚上十一点以后还在施工，"
    "噪音非常大，严重影响了周边居民的休息，多次向有关部门反映都没有得到解决，恳请领导重视。"
)


def test_component_persists_and_sets_group_for_long_formal_messages(trained_component: tuple) -> None:
    component_class, (config, storage, resource, context), _ = trained_component
    loaded = component_class.load(config, storage, resource, context)
    message = _message(LONG_FORMAL, group="城乡建设")

    loaded.process([message])

    assert message.get("group") in GROUPS
    assert message.get("group_source") == "group_model"
    assert 0.0 < message.get("group_confidence") <= 1.0
    model = GroupModel.load(next(Path(storage._storage_path).rglob("group_model.pkl")))  # noqa: SLF001
    assert (message.get("group"), round(model.predict([LONG_FORMAL.strip()])[0][1], 4)) == (
        model.predict([LONG_FORMAL.strip()])[0][0],
        message.get("group_confidence"),
    )


def test_component_keeps_the_category_group_for_short_colloquial_messages(trained_component: tuple) -> None:
    component_class, (config, storage, resource, context), _ = trained_component
    loaded = component_class.load(config, storage, resource, context)
    short = _message("楼下垃圾好多冇人收", group="环境保护")
    not_a_report = _message(LONG_FORMAL, intent="greet")

    loaded.process([short, not_a_report])

    assert short.get("group") == "环境保护"
    assert short.get("group_source") == "category"
    assert short.get("group_confidence") == pytest.approx(0.625)  # GARBAGE + STREET_CLEAN
    assert not_a_report.get("group") is None
    assert not_a_report.get("group_confidence") == 0.0


def test_long_formal_shape() -> None:
    from bot.nlu.group_component import LONG_TEXT_CHARS, is_long_formal

    assert is_long_formal(LONG_FORMAL)
    assert not is_long_formal("楼下垃圾好多冇人收")
    assert not is_long_formal(
        "尊敬的领导，我们小区的路灯坏了一个多月了没人修理，请求处理"
    )  # formal but short
    assert not is_long_formal("  " + "啊" * (LONG_TEXT_CHARS - 1) + "\n")
    assert is_long_formal("啊" * LONG_TEXT_CHARS) and not is_long_formal("啊" * (LONG_TEXT_CHARS - 1))


def test_component_reads_at_most_max_model_chars(trained_component: tuple) -> None:
    from bot.nlu.group_component import MAX_MODEL_CHARS

    component_class, (config, storage, resource, context), _ = trained_component
    loaded = component_class.load(config, storage, resource, context)
    long_post = LONG_FORMAL.strip() * 30
    message = _message(long_post)

    loaded.process([message])

    model = GroupModel.load(next(Path(storage._storage_path).rglob("group_model.pkl")))  # noqa: SLF001
    group, confidence = model.predict([long_post[:MAX_MODEL_CHARS]])[0]
    assert (message.get("group"), message.get("group_confidence")) == (group, round(confidence, 4))


def test_training_refuses_too_few_examples(small_train: list[CitizenRow]) -> None:
    one_group = [row for row in small_train if row.label == GROUPS[0]]
    scarce = one_group + [row for row in small_train if row.label == GROUPS[1]][:3]

    with pytest.raises(ValueError, match="at least two groups"):
        train_group_model(one_group)
    with pytest.raises(ValueError, match=f"at least 5 messages.*{GROUPS[1]}"):
        train_group_model(scarce)


def test_two_groups_train_and_predict(small_train: list[CitizenRow]) -> None:
    two = [row for row in small_train if row.label in GROUPS[:2]]

    model = train_group_model(two, seed=1)

    predicted = model.predict([row.text for row in two[:5]])
    assert {group for group, _ in predicted} <= set(GROUPS[:2])
    assert model.predict_proba([two[0].text]).shape == (1, 2)
