"""In headless Chromium, the newcomer's walk: a resident reports in the simulator's WeChat pane (signed XML to the
real Rasa webhook, the trained model, the action server), answers what the bot asks until the case opens, the grid
worker and the department work it in the Telegram panes (the real PTB bot on the fake Bot API), the resident
confirms and rates 5; then the console shows the whole timeline, the rating and the KPIs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.web.browser.conftest import TIMEOUT_MS, LocalStack, login, press, screenshot, wait_bot_text

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.model, pytest.mark.postgres]

CASE_CODE = re.compile(r"YX-\d{8}-\d{4}")
CONVERSATION_S = 150


def send(page: Any, text: str) -> None:
    page.fill("#wechat-input", text)
    page.click("#wechat-send")


def bot_replies(page: Any) -> list[str]:
    return [str(text) for text in page.locator("#wechat-log .bot-reply").all_inner_texts()]


def answer_until_opened(page: Any, stack: LocalStack) -> str:
    """Answer the bot like a resident (read-back: 对; place asked: the preset's location; a choice: 1) until the
    simulator shows the opened case's code."""
    answered = 0
    deadline = time.monotonic() + CONVERSATION_S
    while time.monotonic() < deadline:
        found = CASE_CODE.search(page.inner_text("#worker-who"))
        if found:
            return found.group(0)
        replies = bot_replies(page)
        if len(replies) > answered:
            answered, latest = len(replies), replies[-1]
            if "对吗" in latest:
                send(page, "对")
            elif "在哪里" in latest or "发送位置" in latest:
                page.click("#send-location")
            elif "回复序号" in latest:
                send(page, "1")
        stack.check_alive()
        page.wait_for_timeout(700)
    raise AssertionError(f"no case opened; the bot said: {bot_replies(page)}\n{stack.diagnostics()}")


def test_a_newcomer_walks_a_case_from_report_to_rating(local_stack: LocalStack, page: Any, new_page: Callable[[], Any]) -> None:
    page.goto(f"{local_stack.console}/simulator")
    page.select_option("#resident", index=0)
    page.select_option("#place", index=1)  # 文德路8号 (the other browser tests report at 越华路12号)
    page.select_option("#problem", index=0)  # 门口的垃圾堆了三天没人清理
    page.click("#fill-report")
    assert "文德路8号" in page.input_value("#wechat-input")
    page.click("#wechat-send")
    code = answer_until_opened(page, local_stack)
    wait_bot_text(page, "wechat", code)
    screenshot(page, "walk-01-reported")

    press(page, "worker", code, "响应")
    press(page, "worker", code, "需部门处置")
    press(page, "worker", code, "✅")
    page.locator("#dept-who", has_text=re.compile(r"群 -\d+")).wait_for(timeout=TIMEOUT_MS)
    press(page, "dept", code, "签收")
    press(page, "dept", code, "办结", then_gone=False)
    wait_bot_text(page, "dept", rf"现场照片[\s\S]*{code}")
    page.click("#dept-photo")
    wait_bot_text(page, "dept", f"已收到处置后照片，{code}")
    screenshot(page, "walk-02-handled")

    wait_bot_text(page, "wechat", "问题解决了吗")
    send(page, "是")
    wait_bot_text(page, "wechat", "感谢确认")  # the rating question (the handled push mentions 打分 too)
    send(page, "5")
    wait_bot_text(page, "wechat", r"感谢您的评价（5分）")
    screenshot(page, "walk-03-rated")

    console = new_page()
    login(console, local_stack.console, "demo-centre")
    console.goto(f"{local_stack.console}/#case/{code}")
    console.locator("#detail-code", has_text=code).wait_for(timeout=TIMEOUT_MS)
    console.locator("#rating", has_text="5/5").wait_for(timeout=TIMEOUT_MS)
    events = console.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.event)")
    for expected in ("report", "respond", "dispatch", "sign", "handle"):
        assert expected in events, events
    assert events.index("report") < events.index("respond") < events.index("dispatch") < events.index("sign")
    assert console.locator("#explanation li").count() >= 1
    console.locator("#detail img.photo").first.wait_for(timeout=TIMEOUT_MS)
    screenshot(console, "walk-04-console-timeline")

    console.goto(f"{local_stack.console}/#kpi")
    console.click(".kpi-tools button[data-period='today']")
    console.locator("#kpi-satisfaction .value", has_text=re.compile(r"\d")).wait_for(timeout=TIMEOUT_MS)
    console.locator("#kpi-same-day .value", has_text="%").wait_for(timeout=TIMEOUT_MS)
    console.locator("svg.chart line.baseline").nth(2).wait_for(state="attached", timeout=TIMEOUT_MS)  # street x2, department x1
    baselines = console.locator("svg.chart line.baseline").evaluate_all("ls => ls.map(l => l.dataset.value)")
    assert {"0.788", "0.98"} <= set(baselines), baselines
    screenshot(console, "walk-05-kpi")
