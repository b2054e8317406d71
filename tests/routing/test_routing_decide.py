"""decide(): each rule, the fallbacks, street-scoped departments, rosters, needs and emergencies."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from routing.decide import decide
from routing.rules import DATA_DIR
from routing.types import NO_LOCATION, Candidate, PlaceMention, ResolvedLocation
from tests.routing.conftest import BEIJING_GRID, DAY, HONGQIAO_GRID, NIGHT, at_grid, read_yaml, report

CATEGORIES = {row["code"]: row for row in read_yaml(DATA_DIR / "categories.yml")["categories"]}


@pytest.mark.parametrize("code", list(CATEGORIES))
def test_confident_category_goes_to_its_owner(rules, code: str) -> None:  # noqa: ANN001
    decision = decide(report("这里有个问题要处理", code), at_grid(), DAY, rules=rules)
    assert decision.department == CATEGORIES[code]["department"]
    assert decision.category == code
    assert decision.group == CATEGORIES[code]["group"]
    assert decision.urgency == CATEGORIES[code]["urgency"]
    assert decision.limits == rules.sla[CATEGORIES[code]["urgency"]]
    assert decision.auto_dispatch is (code != "OTHER")
    assert decision.emergency is ("emergency" in CATEGORIES[code])
    assert decision.rule_ids and any(f"rule {decision.rule_ids[0]}:" in line for line in decision.explanation)


def test_base_rule_explanation_names_rule_category_and_department(rules) -> None:  # noqa: ANN001
    decision = decide(report("小区门口垃圾好几天没人收", "GARBAGE", 0.91), at_grid(), DAY, rules=rules)
    assert decision.rule_ids == ("R108",)
    assert decision.explanation[0] == "category GARBAGE (0.91) from text"
    assert "rule R108: GARBAGE -> HWZX" in decision.explanation
    assert f"worker on duty: GW-{HONGQIAO_GRID} (day shift)" in decision.explanation
    assert decision.match == "FULL"


def test_r01_ebike_charging_in_corridor_is_fire_hazard(rules) -> None:  # noqa: ANN001
    decision = decide(report("楼道里有人拉飞线给电动车充电", "CORRIDOR"), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department) == (("R01",), "FIRE_HAZARD", "XFDD")
    assert decision.emergency and decision.emergency_advice == CATEGORIES["FIRE_HAZARD"]["emergency"]


def test_r02_bar_noise_is_shop_noise_for_the_streets_enforcement_team(rules) -> None:  # noqa: ANN001
    decision = decide(
        report("楼下酒吧天天放音乐吵死了", "LIFE_NOISE"), at_grid(BEIJING_GRID), NIGHT, rules=rules
    )
    assert (decision.rule_ids, decision.category, decision.department) == (("R02",), "SHOP_NOISE", "JDZF")
    assert decision.street == "北京"
    assert "department JDZF of 北京 street" in decision.explanation


def test_r03_building_site_noise_stays_with_environment_bureau(rules) -> None:  # noqa: ANN001
    decision = decide(report("半夜工地还在打桩", "LIFE_NOISE"), at_grid(), NIGHT, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department) == (
        ("R03",),
        "CONSTRUCTION_NOISE",
        "STHJ",
    )


def test_r04_night_life_noise_goes_to_police_without_grid_first(rules) -> None:  # noqa: ANN001
    decision = decide(report("楼上半夜一直喧哗", "LIFE_NOISE"), at_grid(), NIGHT, rules=rules)
    assert (decision.rule_ids, decision.department, decision.grid_first) == (("R04",), "GAFJ", False)


def test_r05_daytime_life_noise_is_mediated_by_the_grid_worker_first(rules) -> None:  # noqa: ANN001
    decision = decide(report("广场舞音响太大声", "LIFE_NOISE"), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.department, decision.grid_first) == (("R05",), "GAFJ", True)
    assert decision.worker == f"GW-{HONGQIAO_GRID}"


def test_r06_rubbish_in_the_stairwell_is_corridor_for_the_street_office(rules) -> None:  # noqa: ANN001
    decision = decide(report("楼道堆满了垃圾", "GARBAGE"), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department) == (("R06",), "CORRIDOR", "JDB")
    assert decision.street == "洪桥" and decision.grid_first


def test_r07_corridor_on_a_road_is_street_sanitation(rules) -> None:  # noqa: ANN001
    road = PlaceMention(kind="road", text="起义路", value="广州起义路")
    decision = decide(report("起义路边有人堆杂物", "CORRIDOR", places=(road,)), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department) == (("R07",), "GARBAGE", "HWZX")


def test_r07_does_not_fire_when_a_building_is_named(rules) -> None:  # noqa: ANN001
    places = (
        PlaceMention(kind="road", text="起义路", value="广州起义路"),
        PlaceMention(kind="building", text="3号楼", value="3号楼"),
    )
    decision = decide(report("起义路3号楼堆杂物", "CORRIDOR", places=places), at_grid(), DAY, rules=rules)
    assert decision.department == "JDB" and decision.rule_ids == ("R110",)


def test_r08_share_bikes_are_the_transport_offices(rules) -> None:  # noqa: ANN001
    decision = decide(report("地铁口共享单车乱停一大片", "PARKING"), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department, decision.grid_first) == (
        ("R08",),
        "BIKE_SHARE",
        "JTYS",
        True,
    )


def test_r09_adding_a_lift_is_a_housing_project(rules) -> None:  # noqa: ANN001
    decision = decide(report("我们楼想加装电梯找谁", "ELEVATOR_FAULT"), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department, decision.emergency) == (
        ("R09",),
        "ELEVATOR_ADD",
        "ZJJ",
        False,
    )


def test_r10_public_toilet_is_street_cleaning(rules) -> None:  # noqa: ANN001
    decision = decide(report("公厕臭得不行", "GARBAGE"), at_grid(), DAY, rules=rules)
    assert (decision.rule_ids, decision.category, decision.department) == (("R10",), "STREET_CLEAN", "HWZX")


def test_keywords_outside_the_rules_categories_do_not_recategorise(rules) -> None:  # noqa: ANN001
    decision = decide(report("酒吧门口井盖不见了", "MANHOLE"), at_grid(), DAY, rules=rules)
    assert (decision.category, decision.department) == ("MANHOLE", "SWJ")


def test_low_category_confidence_falls_back_to_the_groups_department(rules) -> None:  # noqa: ANN001
    understanding = report(
        "这个事情麻烦处理一下",
        "ROAD_DAMAGE",
        rules.category_threshold - 0.01,
        group="交通运输",
        group_confidence=0.99,
    )
    decision = decide(understanding, at_grid(), DAY, rules=rules)
    assert decision.rule_ids == ("F1",)
    assert (decision.department, decision.category, decision.group, decision.auto_dispatch) == (
        "JJDD",
        None,
        "交通运输",
        True,
    )
    assert decision.explanation[0].startswith("category ROAD_DAMAGE (")
    assert "below threshold" in decision.explanation[0]


def test_group_fallback_to_the_street_office_takes_the_street(rules) -> None:  # noqa: ANN001
    understanding = report("这事谁管", None, 0.0, group="民政与综合", group_confidence=0.99)
    decision = decide(understanding, at_grid(BEIJING_GRID), DAY, rules=rules)
    assert (decision.department, decision.street) == ("JDB", "北京")


def test_group_not_confident_either_goes_to_command_centre_triage(rules) -> None:  # noqa: ANN001
    understanding = report(
        "嗯那个东西", "TREE", 0.2, group="城乡建设", group_confidence=rules.group_threshold - 0.01
    )
    decision = decide(understanding, at_grid(), DAY, rules=rules)
    assert decision.rule_ids == ("F2",)
    assert (decision.department, decision.auto_dispatch, decision.match) == ("DZZX", False, "NONE")


def test_unknown_category_code_is_treated_as_not_understood(rules) -> None:  # noqa: ANN001
    decision = decide(report("看不懂", "NOT_A_CODE", 0.99), at_grid(), DAY, rules=rules)
    assert decision.rule_ids == ("F2",) and decision.department == "DZZX"


def test_other_category_is_manual_triage_even_when_confident(rules) -> None:  # noqa: ANN001
    decision = decide(report("有个事想反映", "OTHER", 0.99), at_grid(), DAY, rules=rules)
    assert (decision.department, decision.auto_dispatch, decision.match) == ("DZZX", False, "NONE")


@pytest.mark.parametrize(("grid", "street"), [(HONGQIAO_GRID, "洪桥"), (BEIJING_GRID, "北京")])
def test_street_scoped_department_resolves_to_the_cases_street(rules, grid: str, street: str) -> None:  # noqa: ANN001
    decision = decide(report("路边有人摆摊卖水果", "STREET_VENDOR"), at_grid(grid), DAY, rules=rules)
    assert (decision.department, decision.street) == ("JDZF", street)
    assert f"department JDZF of {street} street" in decision.explanation


def test_street_scoped_department_without_a_place_needs_location(rules) -> None:  # noqa: ANN001
    decision = decide(report("有人摆摊", "STREET_VENDOR"), NO_LOCATION, DAY, rules=rules)
    assert (decision.department, decision.street, decision.needs) == ("JDZF", None, ("location",))
    assert decision.auto_dispatch is True  # a missing place does not make it false (contracts.md)
    assert decision.match == "PARTIAL"


def test_place_bound_category_without_place_needs_location(rules) -> None:  # noqa: ANN001
    decision = decide(report("井盖没了", "MANHOLE"), NO_LOCATION, DAY, rules=rules)
    assert decision.needs == ("location",) and decision.department == "SWJ" and decision.worker is None


def test_category_not_bound_to_a_place_needs_nothing(rules) -> None:  # noqa: ANN001
    decision = decide(report("老板拖欠我三个月工资", "WAGE_ARREARS"), NO_LOCATION, DAY, rules=rules)
    assert decision.needs == () and decision.department == "RSJ" and decision.auto_dispatch


def test_ambiguous_place_asks_to_clarify_with_candidates(rules) -> None:  # noqa: ANN001
    candidates = (
        Candidate(label="东风中路(洪桥)", street="洪桥"),
        Candidate(label="东风中路(北京)", street="北京"),
    )
    location = ResolvedLocation(source="text", precision="none", candidates=candidates)
    decision = decide(report("东风中路路灯不亮", "STREETLIGHT"), location, DAY, rules=rules)
    assert decision.needs == ("clarify_location",)
    assert decision.candidates == candidates
    assert decision.department == "SZWH" and decision.auto_dispatch


def test_point_near_a_grid_boundary_asks_to_clarify(rules) -> None:  # noqa: ANN001
    candidates = (
        Candidate(label="A", street="洪桥", grid=HONGQIAO_GRID),
        Candidate(label="B", street="北京", grid=BEIJING_GRID),
    )
    location = replace(at_grid(), source="gps", candidates=candidates)
    decision = decide(report("这里垃圾没人收", "GARBAGE"), location, DAY, rules=rules)
    assert decision.needs == ("clarify_location",) and len(decision.candidates) == 2


def test_day_shift_is_the_grid_worker(rules) -> None:  # noqa: ANN001
    decision = decide(report("井盖破了", "MANHOLE"), at_grid(), DAY, rules=rules)
    assert decision.worker == f"GW-{HONGQIAO_GRID}" and decision.match == "FULL"


def test_night_shift_is_the_community_night_worker(rules) -> None:  # noqa: ANN001
    decision = decide(report("井盖破了", "MANHOLE"), at_grid(), NIGHT, rules=rules)
    assert decision.worker == "NW-440104001007"
    assert "worker on duty: NW-440104001007 (night shift)" in decision.explanation


def test_shift_is_chosen_by_shanghai_time_not_utc(rules) -> None:  # noqa: ANN001
    utc_0130 = datetime(2026, 11, 30, 1, 30, tzinfo=timezone.utc)  # 09:30 in Guangzhou
    utc_1230 = datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc)  # 20:30 in Guangzhou
    assert decide(report("井盖破了", "MANHOLE"), at_grid(), utc_0130, rules=rules).worker.startswith("GW-")
    assert decide(report("井盖破了", "MANHOLE"), at_grid(), utc_1230, rules=rules).worker.startswith("NW-")


@pytest.mark.parametrize(
    ("hour", "minute", "worker"), [(7, 59, "NW-"), (8, 0, "GW-"), (19, 59, "GW-"), (20, 0, "NW-")]
)
def test_shift_boundaries(rules, hour: int, minute: int, worker: str) -> None:  # noqa: ANN001
    now = DAY.replace(hour=hour, minute=minute)
    assert decide(report("井盖破了", "MANHOLE"), at_grid(), now, rules=rules).worker.startswith(worker)


def test_community_precision_finds_the_night_worker_but_no_grid_worker(rules) -> None:  # noqa: ANN001
    location = ResolvedLocation(street="洪桥", community="三眼井社区", source="text", precision="community")
    assert decide(report("井盖破了", "MANHOLE"), location, NIGHT, rules=rules).worker == "NW-440104001007"
    day = decide(report("井盖破了", "MANHOLE"), location, DAY, rules=rules)
    assert day.worker is None and day.match == "PARTIAL" and day.department == "SWJ"


def test_grid_without_rostered_worker_is_partial(rules) -> None:  # noqa: ANN001
    location = ResolvedLocation(
        street="人民", community="某社区", grid="440104099999-01", source="gps", precision="grid"
    )
    decision = decide(report("井盖破了", "MANHOLE"), location, DAY, rules=rules)
    assert (decision.worker, decision.match, decision.department) == (None, "PARTIAL", "SWJ")


def test_gas_leak_is_an_emergency_with_advice(rules) -> None:  # noqa: ANN001
    decision = decide(report("楼道有很浓的煤气味", "GAS_LEAK"), at_grid(), DAY, rules=rules)
    assert decision.emergency and decision.emergency_advice == "119"
    assert decision.urgency == "urgent" and decision.limits["respond"] == "15m"
    assert "emergency: tell the resident to call 119" in decision.explanation


@pytest.mark.parametrize(
    ("intent", "kind"),
    [
        ("greet", "greet"),
        ("thanks", "thanks"),
        ("status_query", "status_query"),
        ("list_cases", "status_query"),
        ("rate", "rating"),
        ("out_of_scope", "out_of_scope"),
        ("consult", "consult"),
        ("affirm", "other"),
        ("dept_done", "other"),
        ("nlu_fallback", "other"),
        ("some_new_intent", "other"),
        (None, "other"),
    ],
)
def test_non_reports_are_not_routed(rules, intent: str | None, kind: str) -> None:  # noqa: ANN001
    decision = decide(report("你好", "GARBAGE", intent=intent), at_grid(), DAY, rules=rules)
    assert decision.kind == kind
    assert (decision.department, decision.category, decision.worker, decision.auto_dispatch) == (
        None,
        None,
        None,
        False,
    )


def test_decide_is_a_pure_function_of_its_inputs(rules) -> None:  # noqa: ANN001
    understanding = report("楼下酒吧吵", "SHOP_NOISE")
    assert decide(understanding, at_grid(), DAY, rules=rules) == decide(
        understanding, at_grid(), DAY, rules=rules
    )


def test_fast_built_decision_equals_a_normally_built_one(rules) -> None:  # noqa: ANN001
    from dataclasses import fields

    from routing.types import Decision

    decision = decide(report("楼道里电动车充电", "CORRIDOR"), at_grid(), NIGHT, rules=rules)
    values = {f.name: getattr(decision, f.name) for f in fields(Decision)}
    assert set(vars(decision)) == set(values)
    rebuilt = Decision(**values)
    assert rebuilt == decision and hash(rebuilt.to_contract(1)["id"]) == 1
    assert rebuilt.to_contract("x") == decision.to_contract("x")


def test_every_domain_intent_has_a_kind(rules) -> None:  # noqa: ANN001
    from pathlib import Path

    from routing.types import KINDS

    domain = read_yaml(Path(__file__).resolve().parents[2] / "domain.yml")
    assert set(domain["intents"]) <= set(rules.intent_kinds)
    assert set(rules.intent_kinds.values()) <= set(KINDS)


def test_resident_message_read_as_a_department_reply_takes_the_next_resident_intent(rules) -> None:  # noqa: ANN001
    understanding = report(
        "整栋楼突然没电了",
        "POWER",
        intent="dept_need_info",
        intent_confidence=0.95,
        intent_ranking=(("dept_need_info", 0.95), ("dept_done", 0.02), ("report_issue", 0.02)),
    )
    decision = decide(understanding, at_grid(), DAY, rules=rules)
    assert (decision.kind, decision.intent, decision.department) == ("report", "report_issue", "GDJ")
    assert decision.explanation[0].startswith("intent dept_need_info (0.95) is a department reply")


def test_department_reply_with_no_resident_intent_ranked_is_other(rules) -> None:  # noqa: ANN001
    understanding = report(
        "收到，马上处理", None, intent="dept_accept", intent_ranking=(("dept_accept", 0.99),)
    )
    decision = decide(understanding, at_grid(), DAY, rules=rules)
    assert (decision.kind, decision.department, decision.auto_dispatch) == ("other", None, False)


def test_decide_reads_time_only_from_its_argument(rules) -> None:  # noqa: ANN001
    from freezegun import freeze_time

    with freeze_time("2026-11-30 19:30:00"):  # 03:30 in Guangzhou: the night shift, were the clock read
        decision = decide(report("井盖破了", "MANHOLE"), at_grid(), DAY, rules=rules)
    assert decision.worker == f"GW-{HONGQIAO_GRID}"
