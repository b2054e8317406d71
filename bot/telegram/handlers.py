"""PTB handlers: task-card buttons, after-photos, department replies and the worker commands.

Handlers answer only the person who pressed or wrote (answerCallbackQuery, a reply, the pressed card's
buttons): that is the UI's acknowledgement. Everything others must hear goes through
`storage.cases.apply_event`, which writes the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import telegram_store as store
from bot.telegram import cards, pending
from bot.telegram.callbacks import BadCallbackData, ButtonPress, decode, find_case_code
from bot.telegram.understanding import Parser, reply_action
from storage.errors import InvalidTransition, StorageInputError
from storage.lifecycle import OPEN_STATES
from storage.models import Case
from storage.outbox import enqueue
from storage.privacy import mask_text
from storage.queries import case_status, overdue_cases
from storage.timeutil import SHANGHAI, utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")
OPEN_VALUES = tuple(state.value for state in OPEN_STATES)


@dataclass
class Services:
    """What the handlers need, built once by the application (tests pass their own)."""

    session_factory: Callable[[], Session]
    parser: Parser | None = None
    media_dir: Path = Path("var/media/telegram")
    clock: Callable[[], datetime] = field(default=utcnow)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The Services the application was built with."""
    return context.application.bot_data["services"]


async def _transaction(svc: Services, work: Callable[[Session], T]) -> T:
    """Run blocking database work in one transaction, off the event loop."""

    def run() -> T:
        with svc.session_factory() as session, session.begin():
            return work(session)

    return await asyncio.to_thread(run)


async def _act_for_message(
    update: Update, message: Message, svc: Services, work: Callable[[Session], T]
) -> T | None:
    """Run `work` in one transaction; on a refusal or an illegal step, tell the sender and return None."""
    try:
        return await _transaction(svc, work)
    except store.NotAuthorised as error:
        _refuse_log(update, error)
        await message.reply_text(cards.reply("refused"))
    except InvalidTransition:
        await message.reply_text(cards.reply("invalid", state="?"))
    return None


def _refuse_log(update: Update, error: store.NotAuthorised) -> None:
    chat = update.effective_chat
    logger.warning("refused: %r in chat %s", error, chat.id if chat else None)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A task-card button: decode, authorise, then open a menu, ask for a photo, or record the event."""
    query = update.callback_query
    assert query is not None and query.message is not None
    try:
        press = decode(query.data)
    except BadCallbackData:
        logger.warning("ignored callback data %r from user %s", query.data, query.from_user.id)
        await query.answer("按钮已失效")
        return
    svc = services(context)
    chat_id = query.message.chat.id
    action = press.action.removesuffix("_menu")
    check_action = {"back": "respond", "dispatch": "dispatch", "wreturn": "wreturn"}.get(action, action)
    if press.action in ("dreturn_menu", "dreturn") or (press.action == "back" and chat_id < 0):
        check_action = "dreturn"

    def act(session: Session) -> tuple[str, Any]:
        case = store.load_case(session, press.case_code)
        person = store.authorise(session, case, query.from_user.id, chat_id, check_action)
        kind, value = _button_effect(session, case, person, press, chat_id, svc.clock())
        if kind == "photo":  # remembered in the database: a restart before the photo loses nothing
            pending.expect_photo(
                session,
                user_id=query.from_user.id,
                chat_id=chat_id,
                case=case,
                action=press.action,
                now=svc.clock(),
            )
        return kind, value

    try:
        kind, value = await _transaction(svc, act)
    except store.NotAuthorised as error:
        _refuse_log(update, error)
        await query.answer(cards.reply("refused"), show_alert=True)
        return
    except InvalidTransition:
        state = await _transaction(svc, lambda s: store.load_case(s, press.case_code).state)
        await query.answer(cards.reply("invalid", state=state), show_alert=True)
        return
    except StorageInputError as error:
        await query.answer(error.detail[:190], show_alert=True)
        return
    if kind == "menu":
        text, markup = value
        await query.answer(text)
        await query.edit_message_reply_markup(reply_markup=markup)
    elif kind == "photo":
        await query.answer()
        await context.bot.send_message(chat_id, cards.reply(value) + f"\n（{press.case_code}）")
    else:
        await query.answer(f"已记录：{press.case_code} → {value.state}")
        await query.edit_message_reply_markup(
            reply_markup=cards.keyboard_for_state(press.case_code, value.state, group=chat_id < 0)
        )


def _button_effect(
    session: Session, case: Case, person: Any, press: ButtonPress, chat_id: int, now: datetime
) -> tuple[str, Any]:
    code = case.code
    if press.action == "dispatch_menu":
        store.check_allowed(case, "dispatch")
        suggested, choices = store.dispatch_choices(session, case)
        return "menu", (cards.reply("dispatch_pick"), cards.dispatch_menu(code, suggested, choices))
    if press.action in ("wreturn_menu", "dreturn_menu"):
        action = press.action.removesuffix("_menu")
        store.check_allowed(case, action)
        reasons = cards.texts()["worker_reasons" if action == "wreturn" else "department_reasons"]
        return "menu", (cards.reply(f"{action}_pick"), cards.reasons_menu(code, action, reasons))
    if press.action == "back":
        return "menu", ("", cards.keyboard_for_state(code, case.state, group=chat_id < 0))
    if press.action in store.PHOTO_ACTIONS:
        store.check_allowed(case, press.action)
        return "photo", ("onsite_needs_photo" if press.action == "onsite" else "done_needs_photo")
    payload: dict[str, Any] = {}
    if press.action == "dispatch":
        payload["department_key"] = press.arg
    elif press.action in ("wreturn", "dreturn"):
        reasons = cards.texts()["worker_reasons" if press.action == "wreturn" else "department_reasons"]
        if press.arg not in reasons:
            raise StorageInputError(f"unknown reason {press.arg!r}")
        payload["reason"] = reasons[press.arg]
    return "done", store.perform(session, case, press.action, person, now, payload)


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo: the after-photo a 现场处置完成/办结 press asked for, or a photo reply to a department card."""
    message = update.effective_message
    assert message is not None and message.photo and update.effective_user is not None
    svc, user_id, chat_id = services(context), update.effective_user.id, message.chat.id
    request = await _transaction(
        svc, lambda session: pending.expected_photo(session, user_id=user_id, chat_id=chat_id)
    )
    reply_code = find_case_code(_card_text(message.reply_to_message))
    if request and (reply_code is None or reply_code == request.case_code):
        code, action = request.case_code, request.action
    elif reply_code and chat_id < 0:
        code, action, request = reply_code, "done", None
    else:
        return
    finished = await _finish_with_photo(
        update, svc, message, code, action, answers_request=request is not None
    )
    if request is not None and not finished:  # refused or no longer allowed: stop waiting for a photo
        await _transaction(
            svc, lambda session: pending.forget_photo(session, user_id=user_id, chat_id=chat_id)
        )


async def _finish_with_photo(
    update: Update, svc: Services, message: Message, code: str, action: str, *, answers_request: bool
) -> bool:
    """Store the photo and record `action`; the pending request it answers goes in the same transaction."""
    user_id = update.effective_user.id if update.effective_user else 0

    def may_act(session: Session) -> bool:
        store.authorise(session, store.load_case(session, code), user_id, message.chat.id, action)
        return True

    if await _act_for_message(update, message, svc, may_act) is None:
        return False  # refused (and told) before a byte of the photo is fetched or stored
    photo = message.photo[-1]
    telegram_file = await photo.get_file()
    data = await telegram_file.download_as_bytearray()
    path = svc.media_dir / f"{photo.file_unique_id}.jpg"
    await asyncio.to_thread(_write, path, bytes(data))

    def act(session: Session) -> store.Outcome:
        case = store.load_case(session, code)
        person = store.authorise(session, case, user_id, message.chat.id, action)
        now = svc.clock()
        store.record_photo(session, case, photo.file_id, str(path), now, stage="after")
        outcome = store.perform(session, case, action, person, now, {"after_photo": str(path)})
        if answers_request:
            pending.forget_photo(session, user_id=user_id, chat_id=message.chat.id)
        return outcome

    outcome = await _act_for_message(update, message, svc, act)
    if outcome is None:
        return False
    await message.reply_text(cards.reply("photo_received", case_code=outcome.case_code))
    return True


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _card_text(message: Message | None) -> str | None:
    return None if message is None else (message.text or message.caption)


async def on_department_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text reply to a task card in a department group, understood by the NLU department intents."""
    message = update.effective_message
    assert message is not None and message.text is not None and update.effective_user is not None
    code = find_case_code(_card_text(message.reply_to_message))
    if code is None:
        return
    svc = services(context)
    if svc.parser is None:
        await message.reply_text(cards.reply("not_understood"))
        return
    understood = reply_action(await svc.parser(message.text), message.text)
    if understood is None:
        await message.reply_text(cards.reply("not_understood"))
        return
    user_id = update.effective_user.id
    check = "sign" if understood.action == "need_info" else understood.action

    def act(session: Session) -> str:
        case = store.load_case(session, code)
        person = store.authorise(session, case, user_id, message.chat.id, check)
        now = svc.clock()
        if understood.action == "done":
            store.check_allowed(case, "done")
            pending.expect_photo(
                session, user_id=user_id, chat_id=message.chat.id, case=case, action="done", now=now
            )
            return "done_needs_photo"
        if understood.action == "need_info":
            enqueue(
                session,
                recipient_kind="person" if case.worker_id else "department",
                recipient_id=case.worker_id or "DZZX",
                template="telegram.text",
                params={"case_code": code, "text": f"【需补充】{code} 部门请补充信息：{message.text}"},
                idempotency_key=f"tg-needinfo-{message.chat.id}-{message.message_id}",
                now=now,
                case_id=case.id,
            )
            return "need_info"
        payload: dict[str, Any] = {}
        if understood.action == "dreturn":
            payload["reason"] = understood.reason
            if understood.suggested_department:
                key = store.department_key_for(session, case, understood.suggested_department)
                payload["suggested_department_key"] = key
        store.perform(session, case, understood.action, person, now, payload)
        return "signed" if understood.action == "sign" else "returned"

    key = await _act_for_message(update, message, svc, act)
    if key is None:
        return
    await message.reply_text(cards.reply(key, case_code=code, reason=mask_text(understood.reason)))


def _case_line(case: Case) -> str:
    return f"{case.code} [{case.state}] {case.category or ''} {mask_text(case.address)[:20]}"


def _my_cases(session: Session, user_id: int, overdue: bool, now: datetime) -> str:
    person = store.person_for_user(session, user_id)
    if person is None:
        return cards.reply("refused")
    column = (
        {"department_key": person.department_key} if person.role == "department" else {"worker_id": person.id}
    )
    if overdue:
        cases = overdue_cases(session, now, **column)
    else:
        field_ = Case.department_key if "department_key" in column else Case.worker_id
        cases = list(
            session.execute(
                select(Case)
                .where(field_ == next(iter(column.values())), Case.state.in_(OPEN_VALUES))
                .order_by(Case.id)
            ).scalars()
        )
    title = "超时事项" if overdue else "在办事项"
    return (
        f"{title}（{len(cases)}）：\n" + "\n".join(_case_line(case) for case in cases)
        if cases
        else f"没有{title}。"
    )


async def cmd_tasks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/tasks: the open cases the person holds."""
    svc, user = services(context), update.effective_user
    assert user is not None and update.effective_message is not None
    await update.effective_message.reply_text(
        await _transaction(svc, lambda s: _my_cases(s, user.id, False, svc.clock()))
    )


async def cmd_overdue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/overdue: the person's cases that missed a time limit."""
    svc, user = services(context), update.effective_user
    assert user is not None and update.effective_message is not None
    await update.effective_message.reply_text(
        await _transaction(svc, lambda s: _my_cases(s, user.id, True, svc.clock()))
    )


async def cmd_case(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/case CODE: one case's status (state, next limit, escalation level)."""
    svc, message = services(context), update.effective_message
    assert message is not None and update.effective_user is not None
    code = (context.args or [""])[0].upper()
    user_id = update.effective_user.id

    def look(session: Session) -> str:
        if store.person_for_user(session, user_id) is None:
            return cards.reply("refused")
        status = case_status(session, code, svc.clock())
        if status is None:
            return cards.reply("unknown_case", case_code=code or "?")
        due = status.next_due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") if status.next_due_at else "-"
        return (
            f"{status.code} 状态：{status.state}\n类别：{status.category}\n部门：{status.department_key or '-'}\n"
            f"下一时限：{status.next_stage or '-'} {due}\n督办级别：{status.escalation_level}"
            + ("\n⚠️ 已超时" if status.overdue else "")
        )

    await message.reply_text(await _transaction(svc, look))


async def cmd_duty(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/duty: whether the duty roster has the person on shift now."""
    svc, user = services(context), update.effective_user
    assert user is not None and update.effective_message is not None

    def look(session: Session) -> str:
        person = store.person_for_user(session, user.id)
        if person is None:
            return cards.reply("refused")
        return f"{person.name}：" + (
            "在岗" if store.on_duty(session, person.id, svc.clock()) else "不在岗（非值班时段）"
        )

    await update.effective_message.reply_text(await _transaction(svc, look))


async def cmd_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: the chat id to register, and the commands."""
    chat = update.effective_chat
    assert chat is not None and update.effective_message is not None
    await update.effective_message.reply_text(
        f"网格秘书。本会话 chat id：{chat.id}（请管理员登记）。\n命令：/tasks /overdue /case 编号 /duty"
    )


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every handler failure with its traceback (the update is kept out of the log: it has personal data)."""
    logger.error("exception while handling an update", exc_info=context.error)
