"""The bot's words to residents, built from routing decisions and stored cases (pure formatting)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from actions.drafts import ReportDraft, category_name, place_label
from routing.types import Decision
from storage.resident import STATE_NAMES
from storage.timeutil import SHANGHAI

UNITS = {"m": "分钟", "h": "小时", "d": "天", "wd": "个工作日"}
STAGES = {"respond": "网格员响应", "dispatch": "派发部门", "handle": "处置完成", "confirm": "您确认"}
MAX_CHOICES = 5

ASK_PROBLEM_FIRST = "好的，请说说遇到了什么问题？可以发文字、照片或位置。"
ASK_PHOTO_PROBLEM = "照片收到了。请简单说说是什么问题？"
ASK_LOCATION = "请问具体在哪里？可以直接发送位置，或告诉我路名门牌、附近地标（比如“越华路12号门口”）。"
ASK_WHICH_PLACE = "您说的地方有几处，请问是哪一个？回复序号即可："
WHAT_IS_WRONG = "好的，哪里不对呢？请直接告诉我正确的地点或问题，比如“不是，是在中山五路”或“是垃圾没人清”。"
CANCELLED_DRAFT = "好的，这次反映已取消。有问题随时再找我。"
ASK_PROBLEM = "收到位置了。请说说遇到了什么问题？"
HANDOFF = "已为您转接区综合指挥调度中心的人工坐席，工作人员会尽快在这里回复您。"
NO_CASES = "您还没有反映过问题。遇到问题直接发文字、照片或位置给我就可以。"
NOTHING_TO_CONFIRM = "好的。如需反映新问题，直接描述就可以。"
ASK_RATING = "感谢确认！请为本次服务打分（1-5分，5分最满意）。"
BAD_RATING = "请回复1到5之间的分数（5分最满意）。"
RATED = "感谢您的评价（{score}分），事项 {code} 已办结。"
REOPENED = "抱歉问题还没解决。事项 {code} 已重新启动处置，网格员会再跟进。"
CANNOT_CANCEL = "事项 {code} 已进入部门处置（{state}），不能撤销了。如有疑问可以回复“转人工”。"
CASE_CANCELLED = "事项 {code} 已撤销。"
NOT_FOUND = "没有找到编号 {code} 的事项，请核对编号（格式如 YX-20261129-0001）。"


def limit_text(limit: str) -> str:
    """'15m' -> '15分钟', '5wd' -> '5个工作日'."""
    match = re.fullmatch(r"(\d+)(wd|m|h|d)", limit.strip())
    return f"{match.group(1)}{UNITS[match.group(2)]}" if match else limit


def emergency_advice(decision: Decision) -> str:
    advice = decision.emergency_advice or "110"
    return f"【紧急】如有危险，请立即拨打 {advice}，并远离危险区域！我们同时为您登记，按紧急事项处理。"


def read_back(draft: ReportDraft, decision: Decision) -> str:
    """One short message: what and where, then 对吗?"""
    urgent = "（紧急）" if decision.urgency == "urgent" else ""
    return (
        f"我帮您登记：{category_name(decision.category)}{urgent}，地点：{place_label(draft, decision)}。"
        "对吗？回复“对”提交，说错了可以直接告诉我改正。"
    )


def opened(code: str, decision: Decision) -> str:
    handle = decision.limits.get("handle")
    respond = decision.limits.get("respond")
    timing = ""
    if respond and handle:
        timing = f"网格员将在{limit_text(respond)}内响应，预计{limit_text(handle)}内处置完成。"
    owner = "" if decision.department else "将由区综合指挥调度中心确定责任部门。"
    return f"已为您登记，编号 {code}。{timing}{owner}每一步进展都会推送给您。"


def duplicate(code: str, state: str) -> str:
    return (
        f"附近已有居民反映了同一问题（编号 {code}，{STATE_NAMES.get(state, state)}），"
        "已为您关注这件事，进展会同步推送给您。"
    )


def status_line(
    code: str, category: str | None, state: str, due_at: datetime | None, stage: str | None
) -> str:
    line = f"事项 {code}（{category_name(category)}）：{STATE_NAMES.get(state, state)}"
    if due_at is not None and stage in STAGES:
        local = due_at.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M")
        line += f"，{STAGES[stage]}时限 {local}"
    return line + "。"


def case_list(lines: Sequence[str]) -> str:
    return "您最近的事项：\n" + "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))
