"""Local mode plumbing: the environment points WeChat/Telegram at the fakes, serve runs them first, and every
person and department gets a Telegram chat on the fake (idempotently, never touching existing bindings)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.localmode import fake_ports, local_environ
from bot.localmode.bindings import bind_local_chats, chat_for_department, chat_for_person, department_member
from bot.serve import process_specs
from storage.models import ChatBinding, Department, Person

MODEL = Path("models/gridsec-test.tar.gz")


def test_without_credentials_the_apis_point_at_the_fakes_and_serve_starts_them_first() -> None:
    env = local_environ({"FAKE_TELEGRAM_PORT": "9081", "FAKE_WECHAT_PORT": "9082"})
    assert env["TELEGRAM_API_BASE"] == "http://127.0.0.1:9081/bot"
    assert env["WECHAT_API_BASE"] == "http://127.0.0.1:9082/cgi-bin/"
    assert fake_ports(env) == (9081, 9082)
    names = [spec.name for spec in process_specs(env, MODEL)]
    assert names[0] == "fakes" and "telegram" in names  # the bot runs against the fake
    fakes = process_specs(env, MODEL)[0]
    assert fakes.port == 9081 and fakes.argv[1:3] == ["-m", "bot.localmode"]


def test_with_credentials_nothing_is_faked() -> None:
    env = local_environ({"TELEGRAM_TOKEN": "123:real", "WECHAT_APP_SECRET": "s", "WECHAT_TOKEN": "t"})
    assert "TELEGRAM_API_BASE" not in env and fake_ports(env) is None
    assert "fakes" not in [spec.name for spec in process_specs(env, MODEL)]


def _people(session: Session) -> None:
    session.add(Department(key="HWZX", code="HWZX", name="区环境卫生事务中心", scope="district"))
    session.add(Department(key="SWJ", code="SWJ", name="区水务局", scope="district"))
    session.flush()
    session.add(Person(id="DP-HWZX", name="叶英珊", role="department", department_key="HWZX", active=True))
    session.add(Person(id="DP-SWJ", name="王五", role="department", department_key="SWJ", active=True))
    session.add(Person(id="DP-OLD", name="离职", role="department", department_key="SWJ", active=False))
    session.flush()
    session.add(ChatBinding(channel="telegram", chat_id="777", person_id="DP-SWJ", kind="private"))
    session.flush()


def test_bindings_cover_everyone_once_and_keep_existing_chats(session: Session) -> None:
    _people(session)
    first = bind_local_chats(session)
    assert (first.people, first.departments) == (1, 2)  # DP-SWJ was bound already; DP-OLD is inactive
    assert chat_for_person(session, "DP-SWJ") == 777
    hwzx_chat = chat_for_person(session, "DP-HWZX")
    assert hwzx_chat is not None and hwzx_chat > 0
    group = chat_for_department(session, "HWZX")
    assert group is not None and group < 0
    assert department_member(session, "HWZX") == ("DP-HWZX", hwzx_chat)
    again = bind_local_chats(session)
    assert (again.people, again.departments) == (0, 0)
    chats = session.execute(select(ChatBinding.chat_id)).scalars().all()
    assert len(chats) == len(set(chats)) == 4


def test_the_simulator_follows_the_residents_own_or_followed_case_into_its_chats(session: Session) -> None:
    from datetime import datetime, timezone

    from bot.web.simulator_presets import latest_case_chats
    from storage.cases import open_case, subscribe
    from storage.models import Resident

    _people(session)
    bind_local_chats(session)
    now = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    first = Resident(openid="oSimResident0000000000000001", channel="wechat", created_at=now)
    second = Resident(openid="oSimResident0000000000000002", channel="wechat", created_at=now)
    session.add_all([first, second])
    session.flush()
    assert latest_case_chats(session, first.openid) == {"case": None, "worker": None, "department": None}
    case = open_case(session, now=now, description="垃圾没人清", category="GARBAGE", resident_id=first.id,
                     department_key="HWZX")
    subscribe(session, case, second.id, now)  # the second resident's report was a duplicate of it
    for openid in (first.openid, second.openid):
        chats = latest_case_chats(session, openid)
        assert chats["case"]["code"] == case.code
        assert chats["department"]["chat_id"] == chat_for_department(session, "HWZX")
        assert chats["department"]["member_user_id"] == chat_for_person(session, "DP-HWZX")
