"""In headless Chromium: a case opened for a preset resident is worked through the simulator's Telegram panes
(grid worker: 响应 → 需部门处置 → ✅ suggested department; department group: 签收 → 办结 + photo) by the real PTB
bot on the fake Bot API; then the console (login, live list, detail timeline, roles, map, KPI dashboard) shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select

from tests.web.browser.conftest import TIMEOUT_MS, LocalStack, login, press, screenshot, wait_bot_text

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model, pytest.mark.postgres]

RESIDENT = "oSimResident0000000000000002"  # the simulator's second preset resident (李先生)


def open_preset_case(stack: LocalStack) -> str:
    """Open a garbage case at the first preset place, as the conversation would (report event + worker card)."""
    from bot.web.simulator_presets import preset_places
    from storage.cases import open_case
    from storage.db import make_engine, session_scope
    from storage.models import Resident

    place = preset_places()[0]
    grid = place["grid"]
    engine = make_engine(stack.database_url)
    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        resident = session.execute(select(Resident).where(Resident.openid == RESIDENT)).scalar_one_or_none()
        if resident is None:
            resident = Resident(openid=RESIDENT, channel="wechat", phone="13812345678", created_at=now)
            session.add(resident)
            session.flush()
        case = open_case(
            session, now=now, description=f"{place['label']}门口的垃圾堆了三天没人清理，电话13812345678",
            category="GARBAGE", resident_id=resident.id, lat=place["lat"], lng=place["lng"],
            address=place["label"], street_code=grid[:9], community_code=grid.split("-")[0], grid_id=grid,
            department_key="HWZX", worker_id=f"GW-{grid}", auto_dispatch=True,
            routing={"department_key": "HWZX", "explanation": ["category GARBAGE from text", "rule: GARBAGE -> HWZX"]},
        )
        code = str(case.code)
    engine.dispose()
    return code


def test_worker_and_department_work_a_case_in_the_simulator_and_the_console_shows_it(
    local_stack: LocalStack, page: Any, new_page: Callable[[], Any]
) -> None:
    code = open_preset_case(local_stack)
    page.goto(f"{local_stack.console}/simulator")
    page.select_option("#resident", index=1)
    page.locator("#worker-who", has_text=code).wait_for(timeout=TIMEOUT_MS)
    press(page, "worker", code, "响应")
    press(page, "worker", code, "需部门处置")
    press(page, "worker", code, "✅")
    page.locator("#dept-who", has_text="HWZX").wait_for(timeout=TIMEOUT_MS)
    press(page, "dept", code, "签收")
    press(page, "dept", code, "办结", then_gone=False)
    wait_bot_text(page, "dept", rf"现场照片[\s\S]*{code}")
    page.click("#dept-photo")
    wait_bot_text(page, "dept", f"已收到处置后照片，{code}")
    # The resident's pushes reached the fake WeChat API and show in their chat.
    page.locator("#wechat-log .bot-reply").nth(2).wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "chain-01-simulator")
    local_stack.check_alive()

    console = new_page()
    login(console, local_stack.console, "demo-centre")
    console.locator(f"#case-table tr[data-code='{code}']").wait_for(timeout=TIMEOUT_MS)
    console.click(f"#case-table tr[data-code='{code}']")
    console.locator("#detail-state[data-state='handled']").wait_for(timeout=TIMEOUT_MS)
    events = console.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.event)")
    assert events[:5] == ["report", "respond", "dispatch", "sign", "handle"], events
    assert console.locator("#timeline li[data-event='sign'] .actor").inner_text().strip()
    assert "GARBAGE" in console.locator("#explanation").inner_text()
    console.locator("#detail img.photo").first.wait_for(timeout=TIMEOUT_MS)
    assert "13812345678" in console.locator("#detail").inner_text()  # the command centre sees contacts
    screenshot(console, "chain-02-console-detail")

    console.goto(f"{local_stack.console}/#kpi")
    console.locator("#kpi-cases .value", has_text=re.compile(r"[1-9]")).wait_for(timeout=TIMEOUT_MS)
    console.locator("svg.chart line.baseline").nth(2).wait_for(state="attached", timeout=TIMEOUT_MS)  # street x2, department x1
    baselines = console.locator("svg.chart line.baseline").evaluate_all("ls => ls.map(l => l.dataset.value)")
    assert {"0.788", "0.98"} <= set(baselines), baselines
    assert console.locator("#league tbody tr").count() >= 1
    assert "没有数据" not in console.locator("#league").inner_text()
    screenshot(console, "chain-03-kpi")

    console.goto(f"{local_stack.console}/#map")
    console.wait_for_function("() => typeof mapState !== 'undefined' && mapState.grids && mapState.grids.getLayers().length >= 1893",
                              timeout=TIMEOUT_MS)
    console.select_option("#map-status", "")  # every state: the handled case is awaiting the resident
    console.wait_for_function("() => mapState.points && mapState.points.getLayers().length >= 1", timeout=TIMEOUT_MS)
    screenshot(console, "chain-04-map")


def test_roles_decide_what_the_console_shows(local_stack: LocalStack, new_page: Callable[[], Any]) -> None:
    code = open_preset_case(local_stack)  # 越华路 is in 北京 street; the case is HWZX's
    for username, sees in (("demo-dept", True), ("demo-street", False)):
        page = new_page()
        login(page, local_stack.console, username)
        page.locator("#case-count", has_text="共").wait_for(timeout=TIMEOUT_MS)
        rows = page.locator(f"#case-table tr[data-code='{code}']")
        if sees:
            rows.wait_for(timeout=TIMEOUT_MS)
        else:
            assert rows.count() == 0
        page.goto(f"{local_stack.console}/#case/{code}")
        if sees:
            page.locator("#detail-code", has_text=code).wait_for(timeout=TIMEOUT_MS)
            detail = page.locator("#detail").inner_text()
            assert "138****5678" in detail and "13812345678" not in detail  # contacts masked for departments
            assert page.locator("#triage-form").count() == 0  # only the command centre triages
        else:
            page.locator("#detail .error", has_text="outside").wait_for(timeout=TIMEOUT_MS)
        screenshot(page, f"roles-{username}")


def test_a_wrong_password_is_refused_on_the_login_page(local_stack: LocalStack, page: Any) -> None:
    page.goto(f"{local_stack.console}/")
    page.fill("#login-username", "demo-centre")
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    page.locator("#login-status", has_text="用户名或密码错误").wait_for()
    assert page.locator("#cases-view").is_hidden()
