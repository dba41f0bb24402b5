"""/announce: an official writes an announcement, chooses who receives it, sees the exact count
and a preview as members will see it, then sends it now, schedules it or keeps it as a draft.

The flow:

* /announce asks for the text: a text message (its Telegram formatting kept as HTML, whatever
  was typed escaped, by python-telegram-bot's `text_html`), or a photo / document with its
  caption. Then one menu, edited in place: text, attachment, audience, acknowledgement, preview,
  send now, schedule, save as draft, cancel. The menu shows who receives it and the EXACT count
  (models.audience.describe), recomputed after every change.
* The audience submenu: the whole scope, units (browsing the official's subtree), blocs, and the
  filters (roles, gender, a movement's registrants or laggards, no initiative this school
  year). Every id in a button is only a proposal: the changed audience is checked by
  models.audience before it is kept, so a forged unit, bloc or movement id is refused (an
  alert) and nothing changes.
* The preview is `models.announcements.render` for the official's own channel and language,
  sent as members receive it; its "Đã nhận" button is harmless here ("anw:noop").
* "anw:edit:<id>" (a button of /announcements for drafts) loads a saved draft: saving updates
  it, sending releases it.
* An event reminder (issue 8) is the same draft sent by a rule: the schedule question ("🕒 Hẹn
  giờ gửi") offers "🔔 Nhắc lịch (lặp lại)" ("anw:ev"), which asks the reminder's name, then the
  rule with buttons (once at a typed time, every day, every week on a weekday, every month on
  a day or the last day), then the time of day, and shows a summary with the next three times
  and the exact count before creating it (models.reminders.create_event_reminder). The menu
  itself stays at nine options (a Zalo list page). Attachments and the acknowledgement button
  are not sent with reminders: the summary says so. A day of the month is typed at a question
  without buttons, since on Zalo a typed number would pick a listed option.

What is being written waits in user_data (persisted), and the conversation's state is stored
before each question, so a restart resumes where the official was. Callback payloads start
with "anw:" and carry only ids.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import UnionContext
from handlers import common
from models import announcements as ann
from models import audience as audiences
from models import reminders as rem
from models.access import Actor, require_official
from models.audience import Audience, AudienceDescription, AudienceRole, MovementCriterion
from models.base import utcnow
from models.errors import DomainError, InvalidInput, NotAllowed, NotFound
from models.members import Channel, Gender
from models.movement_admin import parse_local_datetime
from models.movements import Movement, school_year_of
from models.org import get_unit
from models.units import browse, roots_for, up_from

log = logging.getLogger(__name__)

# What the bot is waiting for.
TYPING_TEXT = "typing_text"
ATTACHING = "attaching"
CHOOSING = "choosing"  # the menu and its submenus: buttons only
TYPING_TIME = "typing_time"
TYPING_REMINDER_TITLE = "typing_reminder_title"
TYPING_REMINDER_ONCE = "typing_reminder_once"  # "dd/mm/yyyy HH:MM"
TYPING_REMINDER_DAY = "typing_reminder_day"  # a day of the month, 1–28 or "cuối"
TYPING_REMINDER_TIME = "typing_reminder_time"  # "HH:MM"

END = ConversationHandler.END
CONVERSATION = "announce"
# The announcement being written: in user_data, persisted.
DRAFT = "announce_draft"
PREFIX = "anw:"
PER_PAGE = 8
UNITS_NAMED = 10
SNIPPET = 160
# Telegram bots cannot download more than 20 MB; the file is only forwarded by its id, but a
# bigger one is refused clearly rather than failing later.
FILE_MAX_MB = 20

ID = r"\d{1,12}"
PAGE = r"\d{1,6}"

ROLE_LABELS = {
    AudienceRole.GRASSROOTS_CHAIRS: "anw.role_grassroots_chairs",
    AudienceRole.OFFICIALS: "anw.role_officials",
    AudienceRole.REVIEWERS: "anw.role_reviewers",
}
GENDER_LABELS = {
    Gender.FEMALE: "anw.gender_female",
    Gender.MALE: "anw.gender_male",
}
CRITERION_LABELS = {
    MovementCriterion.REGISTERED: "anw.movement_registered",
    MovementCriterion.NOT_REGISTERED: "anw.movement_not_registered",
}

State = str | int
Screen = tuple[str, InlineKeyboardMarkup | None]
_TAG = re.compile(r"<[^>]+>")


# --- the draft -----------------------------------------------------------------------------------


def _draft(context: UnionContext) -> dict[str, Any]:
    """What is being written (the same dict as in user_data: changes to it are kept)."""
    draft = (context.user_data or {}).get(DRAFT)
    if not draft:
        raise NotFound("anw_draft_gone")
    return draft  # type: ignore[no-any-return]


def _start(context: UnionContext, **draft: Any) -> dict[str, Any]:
    context.user_data[DRAFT] = draft  # type: ignore[index]
    return context.user_data[DRAFT]  # type: ignore[index,no-any-return]


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)


def _audience(draft: dict[str, Any]) -> Audience:
    return Audience.from_dict(draft.get("audience") or {})


def _model_draft(draft: dict[str, Any]) -> ann.Draft:
    return ann.Draft(
        text=draft.get("text") or "",
        media=draft.get("media"),
        ack_requested=bool(draft.get("ack")),
        audience=_audience(draft),
    )


def _chosen(audience: Audience) -> bool:
    return audience.whole_scope or bool(audience.unit_ids) or bool(audience.bloc_ids)


async def _described(
    session: AsyncSession, actor: Actor, audience: Audience
) -> AudienceDescription | None:
    """The audience in words with its exact count, checked by models.audience (None: nobody
    chosen yet; its filters are still checked)."""
    if _chosen(audience):
        return await audiences.describe(session, actor, audience)
    probe = Audience.from_dict({**audience.to_dict(), "whole_scope": True})
    await audiences.check(session, actor, probe)
    return None


async def _change_audience(
    session: AsyncSession, actor: Actor, draft: dict[str, Any], change: Callable[[Audience], None]
) -> None:
    """Applies `change` to a copy of the audience, has models check it (a forged id raises
    here), and only then keeps it."""
    audience = _audience(draft)
    change(audience)
    await _described(session, actor, audience)
    draft["audience"] = audience.to_dict()


# --- small helpers -------------------------------------------------------------------------------


async def _official(session: AsyncSession, context: UnionContext, update: Update) -> Actor:
    actor = await context.actor(session, update)
    require_official(actor)
    return actor


Step = Callable[[Update, UnionContext, AsyncSession, Actor, list[str]], Awaitable[State]]


def _tap(step: Step) -> Callable[[Update, UnionContext], Awaitable[State | None]]:
    return common.official_tap(step)


async def _put(update: Update, context: UnionContext, state: State, screen: Screen) -> State:
    """Shows a screen (in place of a tapped message, else anew), its state stored first."""
    if state != END:
        await context.remember_state(CONVERSATION, update, state)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, screen[0], screen[1])  # type: ignore[arg-type]
    return state


async def _send(update: Update, context: UnionContext, state: State, screen: Screen) -> State:
    """Sends a screen as a new message (after a typed answer or a preview)."""
    if state != END:
        await context.remember_state(CONVERSATION, update, state)
    await common.reply(update, screen[0], reply_markup=screen[1])
    return state


def _pager(
    context: UnionContext, page: int, total: int, data: Callable[[int], str]
) -> list[list[tuple[str, str]]]:
    buttons = []
    if page > 0:
        buttons.append((context.t("common.previous"), data(page - 1)))
    if (page + 1) * PER_PAGE < total:
        buttons.append((context.t("common.next"), data(page + 1)))
    return [buttons] if buttons else []


def _plain(text_html: str) -> str:
    return html.unescape(_TAG.sub("", text_html))


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:UNITS_NAMED])
    return shown + (f" (+{len(names) - UNITS_NAMED})" if len(names) > UNITS_NAMED else "")


def _audience_lines(
    context: UnionContext, actor: Actor, described: AudienceDescription | None
) -> list[str]:
    """Who receives it, in words, and how many exactly."""
    if described is None:
        return [context.t("anw.audience_none")]
    lines = []
    if described.whole_scope:
        if actor.is_admin and not described.units:
            lines.append(context.t("anw.audience_everyone"))
        else:
            lines.append(context.t("anw.audience_whole", units=_names(described.units)))
    else:
        if described.units:
            lines.append(context.t("anw.audience_units", units=_names(described.units)))
        if described.blocs:
            lines.append(context.t("anw.audience_blocs", blocs=_names(described.blocs)))
    if described.roles:
        roles = ", ".join(context.t(ROLE_LABELS[AudienceRole(r)]) for r in described.roles)
        lines.append(context.t("anw.audience_roles", roles=roles))
    if described.gender in GENDER_LABELS:
        gender = context.t(GENDER_LABELS[Gender(described.gender)])
        lines.append(context.t("anw.audience_gender", gender=gender))
    if described.movement is not None and described.movement_criterion in CRITERION_LABELS:
        criterion = context.t(CRITERION_LABELS[MovementCriterion(described.movement_criterion)])
        lines.append(context.t(
            "anw.audience_movement", movement=described.movement, criterion=criterion
        ))
    if described.no_initiative_in:
        lines.append(context.t("anw.audience_no_initiative", year=described.no_initiative_in))
    lines.append(context.t("anw.audience_count", count=described.count))
    return lines


# --- the screens ---------------------------------------------------------------------------------


async def _menu_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any]
) -> Screen:
    """What is being written, who receives it (exact count) and what can be done next. An
    audience that no longer holds (a unit closed since the draft was saved) is explained in
    place of the count, to be chosen again."""
    try:
        audience_lines = _audience_lines(
            context, actor, await _described(session, actor, _audience(draft))
        )
    except (InvalidInput, NotAllowed) as error:
        audience_lines = [context.t(f"error.{error.code}", **error.params)]
    text = draft.get("text") or ""
    plain = _plain(text)
    snippet = plain if len(plain) <= SNIPPET else plain[: SNIPPET - 1].rstrip() + "…"
    media = draft.get("media")
    lines = [context.t("anw.menu_title_edit" if draft.get("id") else "anw.menu_title"), ""]
    lines.append(context.t("anw.menu_text", text=snippet, length=len(plain)))
    if media:
        key = "anw.menu_photo" if media.get("kind") == ann.MediaKind.PHOTO else "anw.menu_document"
        lines.append(context.t(key, name=media.get("name") or ""))
    lines.append(context.t("anw.menu_ack_on" if draft.get("ack") else "anw.menu_ack_off"))
    lines += ["", *audience_lines]
    ack = "anw.ack_turn_off" if draft.get("ack") else "anw.ack_turn_on"
    rows = [
        [(context.t("anw.edit_text"), "anw:txt"), (context.t("anw.attachment"), "anw:att")],
        [(context.t("anw.audience"), "anw:a")],
        [(context.t(ack), "anw:ack")],
        [(context.t("anw.preview"), "anw:pv")],
        [(context.t("anw.send_now"), "anw:go"), (context.t("anw.schedule"), "anw:sch")],
        [(context.t("anw.save_draft"), "anw:dr"), (context.t("anw.cancel"), "anw:x")],
    ]
    return "\n".join(lines), common.keyboard(rows)


async def _audience_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any]
) -> Screen:
    """The ways to choose who receives it, with the current choice and its count."""
    audience = _audience(draft)
    described = await _described(session, actor, audience)
    mark = {True: "✅", False: "▫️"}
    rows: list[list[tuple[str, str]]] = [
        [(f"{mark[audience.whole_scope]} {context.t('anw.whole_scope')}", "anw:aw")],
        [(context.t("anw.choose_units", count=len(audience.unit_ids)), "anw:u:0:0")],
    ]
    if await audiences.blocs_for_announcing(session, actor):
        rows.append([(context.t("anw.choose_blocs", count=len(audience.bloc_ids)), "anw:b:0")])
    rows.append([(context.t("anw.choose_roles", count=len(audience.roles)), "anw:r")])
    rows.append([
        (f"{mark[audience.gender is None]} {context.t('anw.gender_any')}", "anw:gd:any"),
        (f"{mark[audience.gender == Gender.FEMALE]} {context.t('anw.gender_female')}",
         "anw:gd:female"),
        (f"{mark[audience.gender == Gender.MALE]} {context.t('anw.gender_male')}",
         "anw:gd:male"),
    ])
    rows.append([(context.t("anw.choose_movement"), "anw:mv:0")])
    if audience.movement_id is not None:
        rows.append([(context.t("anw.movement_clear"), "anw:mx")])
    year = school_year_of(utcnow(), context.services.settings.tz)
    rows.append([(
        f"{mark[audience.no_initiative_in is not None]} "
        f"{context.t('anw.no_initiative', year=year)}",
        "anw:ni",
    )])
    rows.append([(context.t("anw.audience_done"), "anw:m")])
    text = "\n".join([
        context.t("anw.audience_title"), "", *_audience_lines(context, actor, described),
    ])
    return text, common.keyboard(rows)


async def _units_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any],
    level_id: int, page: int,
) -> Screen:
    """One level of the official's units (0: where their scope starts): a school ticked by a
    tap, a group opened by a tap (and, inside one, the whole group ticked by the first
    button)."""
    level = None
    if level_id:
        level = await get_unit(session, level_id)
        if level is None or not level.is_active:
            raise NotFound("anw_unit_gone")
    else:
        roots = await roots_for(session, actor=actor)
        if len(roots) == 1 and not roots[0].is_grassroots:
            level = roots[0]  # one union to browse: start inside it
    children, total = await browse(
        session, actor=actor, level=level, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not children:
        raise NotFound("anw_unit_gone")
    here = level.id if level is not None else 0
    chosen = set(_audience(draft).unit_ids)
    mark = {True: "✅", False: "▫️"}
    rows: list[list[tuple[str, str]]] = []
    if level is not None:
        label = f"{mark[level.id in chosen]} {context.t('anw.whole_level', unit=level.name)}"
        rows.append([(label, f"anw:tu:{level.id}:{here}:{page}")])
    for child in children:
        if child.is_grassroots:
            rows.append([(f"{mark[child.id in chosen]} 🏫 {child.name}",
                          f"anw:tu:{child.id}:{here}:{page}")])
        else:
            rows.append([(f"{mark[child.id in chosen]} 📂 {child.name}", f"anw:u:{child.id}:0")])
    rows += _pager(context, page, total, lambda p: f"anw:u:{here}:{p}")
    if level is not None:
        up = await up_from(session, actor=actor, unit=level)
        if up is not None:
            rows.append([(context.t("common.up"), f"anw:u:{up}:0")])
    rows.append([(context.t("anw.choices_done"), "anw:a")])
    where = level.name if level is not None else context.t("anw.your_units")
    text = context.t("anw.choose_units_in", unit=where, count=len(chosen))
    return text, common.keyboard(rows)


async def _blocs_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any], page: int
) -> Screen:
    """The blocs with units in the official's scope, ticked by a tap."""
    blocs = await audiences.blocs_for_announcing(session, actor)
    shown = blocs[page * PER_PAGE : (page + 1) * PER_PAGE]
    if page > 0 and not shown:
        raise NotFound("anw_unit_gone")
    chosen = set(_audience(draft).bloc_ids)
    rows = [
        [(f"{'✅' if bloc.id in chosen else '▫️'} {bloc.name}", f"anw:tb:{bloc.id}:{page}")]
        for bloc in shown
    ]
    rows += _pager(context, page, len(blocs), lambda p: f"anw:b:{p}")
    rows.append([(context.t("anw.choices_done"), "anw:a")])
    return context.t("anw.choose_blocs_title", count=len(chosen)), common.keyboard(rows)


def _roles_screen(context: UnionContext, draft: dict[str, Any]) -> Screen:
    """The roles a message may be narrowed to (any of those ticked)."""
    chosen = set(_audience(draft).roles)
    rows = [
        [(f"{'✅' if role in chosen else '▫️'} {context.t(label)}", f"anw:tr:{role}")]
        for role, label in ROLE_LABELS.items()
    ]
    rows.append([(context.t("anw.choices_done"), "anw:a")])
    return context.t("anw.choose_roles_title"), common.keyboard(rows)


async def _movements_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, page: int
) -> Screen:
    """The movements whose registrants (or laggards) the official may address."""
    movements, total = await ann.movements_for_announcing(
        session, actor, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not movements:
        raise NotFound("anw_unit_gone")
    rows = [[(f"🏆 {m.name} · {m.school_year}", f"anw:mp:{m.id}")] for m in movements]
    rows += _pager(context, page, total, lambda p: f"anw:mv:{p}")
    rows.append([(context.t("common.back"), "anw:a")])
    key = "anw.choose_movement_title" if total else "anw.no_movements"
    return context.t(key), common.keyboard(rows)


def _criterion_screen(context: UnionContext, movement: Movement) -> Screen:
    rows = [
        [(context.t(label), f"anw:mc:{movement.id}:{criterion}")]
        for criterion, label in CRITERION_LABELS.items()
    ]
    rows.append([(context.t("common.back"), "anw:mv:0")])
    return context.t("anw.choose_criterion", movement=movement.name), common.keyboard(rows)


def _question(context: UnionContext, draft: dict[str, Any], key: str) -> Screen:
    """A question waiting for something typed or sent; back to the menu once there is a text."""
    rows = [[(context.t("common.back"), "anw:m")]] if draft.get("text") else [
        [(context.t("anw.cancel"), "anw:x")]
    ]
    if key == "anw.ask_attachment" and draft.get("media"):
        rows.insert(0, [(context.t("anw.remove_attachment"), "anw:rm")])
    if key == "anw.ask_time":  # or sent again and again: an event reminder
        rows.insert(0, [(context.t("evr.instead"), "anw:ev")])
    return context.t(key, max=FILE_MAX_MB), common.keyboard(rows)


# --- /announce and the typed answers -------------------------------------------------------------


async def announce(update: Update, context: UnionContext) -> State:
    """/announce: asks for the text of a new announcement (officials only)."""
    _forget(context)
    async with context.session() as session:
        try:
            await _official(session, context, update)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
    draft = _start(context, text=None, media=None, ack=False,
                   audience=Audience(whole_scope=True).to_dict())
    return await _send(update, context, TYPING_TEXT, _question(context, draft, "anw.ask_text"))


async def _typed(
    update: Update,
    context: UnionContext,
    state: State,
    question: str,
    apply: Callable[[dict[str, Any]], str | None],
) -> State:
    """Takes what was typed or sent (checked by `apply`, which raises before changing
    anything, and returns a notice, or a question key to stay on). An answer that cannot be
    used is explained and the question asked again; nothing changed."""
    async with context.session() as session:
        try:
            draft = _draft(context)
            actor = await _official(session, context, update)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            _forget(context)
            return END
        try:
            staying = apply(draft)
        except InvalidInput as error:
            reason = context.t(f"error.{error.code}", **error.params)
            text, markup = _question(context, draft, question)
            return await _send(update, context, state, (f"{reason}\n\n{text}", markup))
        if staying is not None:
            return await _send(update, context, TYPING_TEXT, _question(context, draft, staying))
        try:
            screen = await _menu_screen(session, context, actor, draft)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
    return await _send(update, context, CHOOSING, screen)


def _media_of(update: Update, context: UnionContext) -> dict[str, Any]:
    """The photo or document sent, as an announcement keeps it (refused over 20 MB)."""
    incoming = common.incoming_file(update)
    if incoming.size is not None and incoming.size > FILE_MAX_MB * 1024 * 1024:
        raise InvalidInput("anw_file_too_big", max=FILE_MAX_MB)
    if context.channel == Channel.ZALO:
        # The bridge hands a Zalo photo over with its URL as the file id.
        media = {"kind": incoming.kind, "channel": Channel.ZALO, "url": incoming.file_id,
                 "file_id": None, "name": incoming.name}
    else:
        media = {"kind": incoming.kind, "channel": Channel.TELEGRAM,
                 "file_id": incoming.file_id, "url": None, "name": incoming.name}
    return ann.clean_media(media)  # type: ignore[return-value]


def _caption(update: Update) -> str | None:
    message = update.effective_message
    assert message is not None
    return message.caption_html if message.caption else None


async def received_text(update: Update, context: UnionContext) -> State:
    """The text (formatting kept, anything typed escaped): checked, kept; the menu."""
    message = update.effective_message
    assert message is not None

    def apply(draft: dict[str, Any]) -> str | None:
        draft["text"] = ann.clean_text(message.text_html, has_media=bool(draft.get("media")))
        return None

    return await _typed(update, context, TYPING_TEXT, "anw.ask_text", apply)


async def _file(update: Update, context: UnionContext, state: State) -> State:
    """A photo or document; its caption, if any, becomes the text."""
    question = "anw.ask_attachment" if state == ATTACHING else "anw.ask_text"

    def apply(draft: dict[str, Any]) -> str | None:
        media = _media_of(update, context)
        caption = _caption(update)
        text = caption if caption else draft.get("text")
        if text:
            text = ann.clean_text(text, has_media=True)
        draft["media"], draft["text"] = media, text
        return None if text else "anw.ask_text_after_file"

    return await _typed(update, context, state, question, apply)


async def received_file(update: Update, context: UnionContext) -> State:
    """A photo or document at the text question (its caption as the text)."""
    return await _file(update, context, TYPING_TEXT)


async def received_attachment(update: Update, context: UnionContext) -> State:
    """A photo or document at the attachment question: it replaces the attachment."""
    return await _file(update, context, ATTACHING)


async def received_time(update: Update, context: UnionContext) -> State:
    """The time to send at, typed in local time: saved as scheduled; the time said back."""
    typed = update.effective_message.text if update.effective_message else ""
    async with context.session() as session:
        try:
            draft = _draft(context)
            actor = await _official(session, context, update)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            _forget(context)
            return END
        try:
            send_at = parse_local_datetime(typed, context.services.settings.tz, end_of_day=False)
            announcement = await _store(session, actor, draft, send_at=send_at)
            count = await _count(session, actor, draft)
            await session.commit()
        except InvalidInput as error:
            await session.rollback()
            reason = context.t(f"error.{error.code}", **error.params)
            text, markup = _question(context, draft, "anw.ask_time")
            return await _send(update, context, TYPING_TIME, (f"{reason}\n\n{text}", markup))
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return await _send(
                update, context, CHOOSING, await _menu_screen(session, context, actor, draft)
            )
    log.info("announcement %s scheduled by identity %s", announcement.id, actor.identity.id)
    _forget(context)
    context.services.wake_up()
    assert announcement.scheduled_at is not None
    text = context.t(
        "anw.scheduled", time=context.local_time(announcement.scheduled_at), count=count
    )
    return await _send(update, context, END, (text, None))


# --- saving --------------------------------------------------------------------------------------


async def _count(session: AsyncSession, actor: Actor, draft: dict[str, Any]) -> int:
    return await audiences.count(session, actor, _audience(draft))


async def _store(
    session: AsyncSession, actor: Actor, draft: dict[str, Any], *,
    send_at: Any = None, as_draft: bool = False,
) -> ann.Announcement:
    """Saves what is written: a new announcement, or the saved draft being edited (updated,
    then released unless kept as a draft). Everything is checked again by models."""
    now = utcnow()
    model = _model_draft(draft)
    if draft.get("id"):
        saved = await ann.get_for(session, actor, int(draft["id"]))
        await ann.update_draft(session, actor, saved, model, now=now)
        if not as_draft:
            await ann.release_draft(session, actor, saved, now=now, send_at=send_at)
        return saved
    return await ann.save(session, actor, model, now=now, send_at=send_at, as_draft=as_draft)


# --- the menu's buttons --------------------------------------------------------------------------


async def _menu(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor,
    draft: dict[str, Any],
) -> State:
    screen = await _menu_screen(session, context, actor, draft)
    return await _put(update, context, CHOOSING, screen)


@_tap
async def showed_menu(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Back to the menu."""
    return await _menu(update, context, session, actor, _draft(context))


@_tap
async def asked_text(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks for a new text (or a photo / document with its caption)."""
    return await _put(update, context, TYPING_TEXT,
                      _question(context, _draft(context), "anw.ask_text"))


@_tap
async def asked_attachment(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks for a photo or document (or offers to remove the one attached)."""
    return await _put(update, context, ATTACHING,
                      _question(context, _draft(context), "anw.ask_attachment"))


@_tap
async def removed_attachment(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    draft = _draft(context)
    draft["media"] = None
    return await _menu(update, context, session, actor, draft)


@_tap
async def toggled_ack(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks members to acknowledge, or not."""
    draft = _draft(context)
    draft["ack"] = not draft.get("ack")
    return await _menu(update, context, session, actor, draft)


@_tap
async def previewed(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Sends the announcement exactly as members on this channel, in this language, receive
    it (models.announcements.render); its acknowledgement button only answers a note here.
    Then the menu again, under it."""
    draft = _draft(context)
    model = _model_draft(draft)
    ann.clean_text(model.text, has_media=bool(model.media))
    unsaved = ann.preview(model, actor, now=utcnow())
    message = ann.render(
        unsaved, sender=await ann.sender_name(session, unsaved), channel=context.channel,
        locale=context.locale, t=context.services.translator.t,
    )
    markup = None
    if message.buttons:
        markup = common.keyboard([
            [(button["text"], "anw:noop") for button in row] for row in message.buttons
        ])
    screen = await _menu_screen(session, context, actor, draft)
    assert update.callback_query is not None and update.effective_chat is not None
    await update.callback_query.answer()
    chat = update.effective_chat
    media = message.media or {}
    source = media.get("file_id") or media.get("url")
    if media.get("kind") == ann.MediaKind.PHOTO and source:
        await chat.send_photo(source, caption=message.text, reply_markup=markup)
    elif media.get("kind") == ann.MediaKind.DOCUMENT and source:
        await chat.send_document(source, caption=message.text, reply_markup=markup)
    else:
        await chat.send_message(message.text, reply_markup=markup)
    return await _send(update, context, CHOOSING, screen)


async def preview_button(update: Update, context: UnionContext) -> None:
    """The preview's "Đã nhận": members' button, harmless here."""
    assert update.callback_query is not None
    await update.callback_query.answer(context.t("anw.preview_button"), show_alert=True)


@_tap
async def asked_send(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks to confirm sending now, with the exact number of recipients."""
    draft = _draft(context)
    model = _model_draft(draft)
    ann.clean_text(model.text, has_media=bool(model.media))
    if not _chosen(model.audience):  # type: ignore[arg-type]
        raise InvalidInput("audience_empty")
    count = await _count(session, actor, draft)
    rows = [
        [(context.t("anw.confirm_send", count=count), "anw:gy")],
        [(context.t("common.back"), "anw:m")],
    ]
    text = context.t("anw.ask_confirm", count=count)
    return await _put(update, context, CHOOSING, (text, common.keyboard(rows)))


@_tap
async def sent(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Saves the announcement due now, wakes the scheduler: it is queued at once. A second tap
    finds nothing left to send (the draft is dropped with the first)."""
    draft = _draft(context)
    count = await _count(session, actor, draft)
    announcement = await _store(session, actor, draft)
    await session.commit()
    _forget(context)
    context.services.wake_up()
    log.info("announcement %s sent now by identity %s", announcement.id, actor.identity.id)
    return await _put(update, context, END, (context.t("anw.queued", count=count), None))


@_tap
async def asked_time(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks when to send it (local time)."""
    draft = _draft(context)
    model = _model_draft(draft)
    ann.clean_text(model.text, has_media=bool(model.media))
    if not _chosen(model.audience):  # type: ignore[arg-type]
        raise InvalidInput("audience_empty")
    return await _put(update, context, TYPING_TIME, _question(context, draft, "anw.ask_time"))


@_tap
async def saved_draft(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Keeps it as a draft (to finish from /announcements)."""
    draft = _draft(context)
    announcement = await _store(session, actor, draft, as_draft=True)
    await session.commit()
    _forget(context)
    log.info("announcement %s saved as draft by identity %s", announcement.id, actor.identity.id)
    return await _put(update, context, END, (context.t("anw.draft_saved"), None))


@_tap
async def edit_draft(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Loads a saved draft (a button of /announcements) to change and send it."""
    announcement = await ann.get_for(session, actor, int(parts[0]))
    if announcement.status != ann.AnnouncementStatus.DRAFT:
        raise NotAllowed("announcement_not_draft")
    model = ann.draft_of(announcement)
    draft = _start(
        context, id=announcement.id, text=model.text, media=model.media,
        ack=model.ack_requested,
        audience=(model.audience or Audience(whole_scope=True)).to_dict(),
    )
    return await _menu(update, context, session, actor, draft)


async def _cancel_tap(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Drops what was being written (a saved draft stays as it was)."""
    _forget(context)
    return await _put(update, context, END, (context.t("anw.cancelled"), None))


cancelled = common.official_tap(_cancel_tap)


# --- the audience's buttons ----------------------------------------------------------------------


async def _audience_changed(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor,
    change: Callable[[Audience], None], screen: Callable[[dict[str, Any]], Awaitable[Screen]],
) -> State:
    draft = _draft(context)
    await _change_audience(session, actor, draft, change)
    return await _put(update, context, CHOOSING, await screen(draft))


@_tap
async def showed_audience(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """The audience submenu."""
    draft = _draft(context)
    return await _put(
        update, context, CHOOSING, await _audience_screen(session, context, actor, draft)
    )


@_tap
async def chose_whole_scope(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    def change(audience: Audience) -> None:
        audience.whole_scope, audience.unit_ids, audience.bloc_ids = True, [], []

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _audience_screen(session, context, actor, draft),
    )


@_tap
async def browsed_units(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    draft = _draft(context)
    screen = await _units_screen(session, context, actor, draft, int(parts[0]), int(parts[1]))
    return await _put(update, context, CHOOSING, screen)


def _toggle(values: list[int], value: int) -> list[int]:
    return [v for v in values if v != value] if value in values else [*values, value]


@_tap
async def toggled_unit(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Ticks or unticks a unit (checked by models: a unit outside the scope is refused)."""
    unit_id, level_id, page = (int(part) for part in parts)

    def change(audience: Audience) -> None:
        audience.whole_scope = False
        audience.unit_ids = _toggle(audience.unit_ids, unit_id)

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _units_screen(session, context, actor, draft, level_id, page),
    )


@_tap
async def browsed_blocs(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    screen = await _blocs_screen(session, context, actor, _draft(context), int(parts[0]))
    return await _put(update, context, CHOOSING, screen)


@_tap
async def toggled_bloc(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Ticks or unticks a bloc (checked by models: one without units in scope is refused)."""
    bloc_id, page = int(parts[0]), int(parts[1])

    def change(audience: Audience) -> None:
        audience.whole_scope = False
        audience.bloc_ids = _toggle(audience.bloc_ids, bloc_id)

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _blocs_screen(session, context, actor, draft, page),
    )


@_tap
async def showed_roles(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    _draft(context)
    return await _put(update, context, CHOOSING, _roles_screen(context, _draft(context)))


@_tap
async def toggled_role(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    role = parts[0]

    def change(audience: Audience) -> None:
        audience.roles = (
            [r for r in audience.roles if r != role] if role in audience.roles
            else [*audience.roles, role]
        )

    async def screen(draft: dict[str, Any]) -> Screen:
        return _roles_screen(context, draft)

    return await _audience_changed(update, context, session, actor, change, screen)


@_tap
async def chose_gender(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    gender = None if parts[0] == "any" else parts[0]

    def change(audience: Audience) -> None:
        audience.gender = gender

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _audience_screen(session, context, actor, draft),
    )


@_tap
async def listed_movements(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    _draft(context)
    screen = await _movements_screen(session, context, actor, int(parts[0]))
    return await _put(update, context, CHOOSING, screen)


@_tap
async def picked_movement(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks whether its registrants or those who have not registered."""
    _draft(context)
    movement = await session.get(Movement, int(parts[0]))
    if movement is None:
        raise NotFound("anw_movement_gone")
    if not await audiences.movement_visible(session, actor, movement):
        log.warning("identity %s picked movement %s outside their reach",
                    actor.identity.id, movement.id)
        raise InvalidInput("audience_movement_not_yours")
    return await _put(update, context, CHOOSING, _criterion_screen(context, movement))


@_tap
async def chose_criterion(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Narrows to a movement's registrants or laggards (checked by models)."""
    movement_id, criterion = int(parts[0]), parts[1]

    def change(audience: Audience) -> None:
        audience.movement_id, audience.movement_criterion = movement_id, criterion

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _audience_screen(session, context, actor, draft),
    )


@_tap
async def cleared_movement(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    def change(audience: Audience) -> None:
        audience.movement_id, audience.movement_criterion = None, None

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _audience_screen(session, context, actor, draft),
    )


@_tap
async def toggled_no_initiative(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Only members with no initiative submitted in the current school year, or everyone."""
    year = school_year_of(utcnow(), context.services.settings.tz)

    def change(audience: Audience) -> None:
        audience.no_initiative_in = None if audience.no_initiative_in else year

    return await _audience_changed(
        update, context, session, actor, change,
        lambda draft: _audience_screen(session, context, actor, draft),
    )


# --- event reminders: the draft sent by a rule ---------------------------------------------------

# The reminder being set up, inside the draft: {"title", "kind", "weekday", "day", "hour",
# "minute", "at" (a one-off's time, ISO)}.
REMINDER = "reminder"
WEEKDAY_LABELS = (
    "evr.weekday_mon", "evr.weekday_tue", "evr.weekday_wed", "evr.weekday_thu",
    "evr.weekday_fri", "evr.weekday_sat", "evr.weekday_sun",
)
KIND_LABELS = {
    rem.RuleKind.ONCE: "evr.kind_once",
    rem.RuleKind.DAILY: "evr.kind_daily",
    rem.RuleKind.WEEKLY: "evr.kind_weekly",
    rem.RuleKind.MONTHLY: "evr.kind_monthly",
}
# Days of the month offered as buttons; any other is typed.
MONTH_DAYS_OFFERED = (1, 15)
NEXT_SHOWN = 3


def rule_in_words(
    context: UnionContext, parts: rem.RuleParts, *, rule: str, at: datetime | None
) -> str:
    """"Thứ Hai hằng tuần lúc 07:00", "Ngày cuối tháng lúc 16:00", "Một lần lúc 07:30
    01/12/2026" … (`at`: a one-off's time)."""
    if parts.kind == rem.RuleKind.ONCE and at is not None:
        local = at.astimezone(context.services.settings.tz)
        return context.t("evr.rule_once", time=f"{local:%H:%M}", date=f"{local:%d/%m/%Y}")
    if parts.hour is None or parts.minute is None:
        return context.t("evr.rule_other", rule=rule)
    hm = f"{parts.hour:02d}:{parts.minute:02d}"
    if parts.kind == rem.RuleKind.DAILY:
        return context.t("evr.rule_daily", time=hm)
    if parts.kind == rem.RuleKind.WEEKLY and parts.weekday is not None:
        return context.t("evr.rule_weekly", weekday=context.t(WEEKDAY_LABELS[parts.weekday]),
                         time=hm)
    if parts.kind == rem.RuleKind.MONTHLY and parts.day == "last":
        return context.t("evr.rule_month_last", time=hm)
    if parts.kind == rem.RuleKind.MONTHLY and parts.day is not None:
        return context.t("evr.rule_monthly", day=parts.day, time=hm)
    return context.t("evr.rule_other", rule=rule)


def _reminder(draft: dict[str, Any]) -> dict[str, Any]:
    """The reminder being set up (a stale button after it was created or dropped: gone)."""
    found = draft.get(REMINDER)
    if not found or not found.get("title"):
        raise NotFound("anw_draft_gone")
    return found  # type: ignore[no-any-return]


def _parts(reminder: dict[str, Any]) -> rem.RuleParts:
    return rem.RuleParts(
        kind=reminder.get("kind") or "", weekday=reminder.get("weekday"),
        day=reminder.get("day"), hour=reminder.get("hour"), minute=reminder.get("minute"),
    )


def _at(reminder: dict[str, Any]) -> datetime | None:
    at = reminder.get("at")
    return datetime.fromisoformat(at) if at else None


def _ready_for_reminder(draft: dict[str, Any]) -> None:
    """A text (sent without its attachment, so a message's limit) and someone chosen."""
    ann.clean_text(draft.get("text"), has_media=False)
    if not _chosen(_audience(draft)):
        raise InvalidInput("audience_empty")


def _title_question(context: UnionContext, reminder: dict[str, Any]) -> Screen:
    rows = []
    text = context.t("evr.ask_title")
    if reminder.get("title"):
        text += "\n\n" + context.t("evr.title_now", title=reminder["title"])
        rows.append([(context.t("evr.keep_title"), "anw:er")])
    rows.append([(context.t("common.back"), "anw:m")])
    return text, common.keyboard(rows)


def _rules_screen(context: UnionContext, reminder: dict[str, Any]) -> Screen:
    """How often: once, every day, every week, every month."""
    rows = [[(context.t(label), f"anw:ek:{kind}")] for kind, label in KIND_LABELS.items()]
    rows.append([(context.t("evr.rename"), "anw:ev")])
    rows.append([(context.t("common.back"), "anw:m")])
    return context.t("evr.choose_rule", title=reminder["title"]), common.keyboard(rows)


def _weekday_screen(context: UnionContext) -> Screen:
    rows = [[(context.t(label), f"anw:ew:{day}")] for day, label in enumerate(WEEKDAY_LABELS)]
    rows.append([(context.t("common.back"), "anw:er")])
    return context.t("evr.choose_weekday"), common.keyboard(rows)


def _month_day_screen(context: UnionContext) -> Screen:
    rows = [
        [(context.t("evr.month_day", day=day), f"anw:ed:{day}")] for day in MONTH_DAYS_OFFERED
    ]
    rows.append([(context.t("evr.month_last"), "anw:ed:last")])
    rows.append([(context.t("evr.month_other"), "anw:edt")])
    rows.append([(context.t("common.back"), "anw:er")])
    return context.t("evr.choose_month_day"), common.keyboard(rows)


def _once_question(context: UnionContext) -> Screen:
    rows = [[(context.t("common.back"), "anw:er")]]
    return context.t("evr.ask_once"), common.keyboard(rows)


def _month_day_question(context: UnionContext) -> Screen:
    # No buttons: on Zalo a typed number would pick a listed option instead of being the day.
    return context.t("evr.ask_month_day", max=rem.MONTH_DAY_MAX), None


def _time_of_day_question(context: UnionContext) -> Screen:
    rows = [[(context.t("common.back"), "anw:er")]]
    return context.t("evr.ask_time_of_day"), common.keyboard(rows)


async def _summary_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any]
) -> Screen:
    """What will be sent, by which rule, its next times (local), who receives it with the
    exact count, and what is not sent with a reminder."""
    reminder = _reminder(draft)
    parts = _parts(reminder)
    rule = rem.rule_of(parts)
    at = _at(reminder)
    if rule == rem.RULE_ONCE:
        if at is None:
            raise InvalidInput("reminder_rule_invalid")
        times = [rem.check_first_at(at, now=utcnow())]
    else:
        times = rem.next_fires(rule, after=utcnow(), tz=context.services.settings.tz,
                               count=NEXT_SHOWN)
    plain = _plain(draft.get("text") or "")
    snippet = plain if len(plain) <= SNIPPET else plain[: SNIPPET - 1].rstrip() + "…"
    described = await _described(session, actor, _audience(draft))
    lines = [
        context.t("evr.summary_title", title=reminder["title"]), "",
        context.t("evr.summary_rule", rule=rule_in_words(context, parts, rule=rule, at=at)),
        context.t("evr.summary_next"),
        *(context.t("evr.summary_time", time=context.local_time(moment)) for moment in times),
        "", context.t("anw.menu_text", text=snippet, length=len(plain)),
    ]
    if draft.get("media"):
        lines.append(context.t("evr.summary_no_attachment"))
    if draft.get("ack"):
        lines.append(context.t("evr.summary_no_ack"))
    lines += ["", *_audience_lines(context, actor, described)]
    count = described.count if described is not None else 0
    rows = [
        [(context.t("evr.create", count=count), "anw:ey")],
        [(context.t("evr.change_rule"), "anw:er")],
        [(context.t("common.back"), "anw:m")],
    ]
    return "\n".join(lines), common.keyboard(rows)


@_tap
async def asked_reminder(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks the reminder's name (the draft's text and audience are checked first)."""
    draft = _draft(context)
    _ready_for_reminder(draft)
    reminder = draft.setdefault(REMINDER, {})
    return await _put(update, context, TYPING_REMINDER_TITLE, _title_question(context, reminder))


@_tap
async def showed_rules(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """How often it is sent."""
    reminder = _reminder(_draft(context))
    return await _put(update, context, CHOOSING, _rules_screen(context, reminder))


@_tap
async def chose_rule_kind(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Once (asks the time), every day (asks the hour), every week (asks the weekday), every
    month (asks the day)."""
    reminder = _reminder(_draft(context))
    kind = parts[0]
    reminder.update(kind=kind, weekday=None, day=None, hour=None, minute=None, at=None)
    if kind == rem.RuleKind.ONCE:
        return await _put(update, context, TYPING_REMINDER_ONCE, _once_question(context))
    if kind == rem.RuleKind.WEEKLY:
        return await _put(update, context, CHOOSING, _weekday_screen(context))
    if kind == rem.RuleKind.MONTHLY:
        return await _put(update, context, CHOOSING, _month_day_screen(context))
    return await _put(update, context, TYPING_REMINDER_TIME, _time_of_day_question(context))


@_tap
async def chose_weekday(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """The weekday of a weekly reminder; asks the hour."""
    reminder = _reminder(_draft(context))
    weekday = int(parts[0])
    if reminder.get("kind") != rem.RuleKind.WEEKLY or weekday not in range(7):
        raise InvalidInput("reminder_rule_invalid")
    reminder["weekday"] = weekday
    return await _put(update, context, TYPING_REMINDER_TIME, _time_of_day_question(context))


@_tap
async def chose_month_day(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """The day of a monthly reminder (checked by models: a forged 31 is refused); asks the
    hour."""
    reminder = _reminder(_draft(context))
    day = rem.parse_month_day(parts[0])
    if reminder.get("kind") != rem.RuleKind.MONTHLY:
        raise InvalidInput("reminder_rule_invalid")
    reminder["day"] = day
    return await _put(update, context, TYPING_REMINDER_TIME, _time_of_day_question(context))


@_tap
async def asked_month_day(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Another day of the month: typed."""
    reminder = _reminder(_draft(context))
    if reminder.get("kind") != rem.RuleKind.MONTHLY:
        raise InvalidInput("reminder_rule_invalid")
    return await _put(update, context, TYPING_REMINDER_DAY, _month_day_question(context))


ReminderStep = Callable[
    [AsyncSession, Actor, dict[str, Any]], Awaitable[tuple[State, Screen]]
]


async def _reminder_typed(
    update: Update, context: UnionContext, state: State, question: Screen, apply: ReminderStep
) -> State:
    """Takes an answer typed while setting up a reminder: `apply` checks it (raising before it
    changes anything) and says what to show next; an answer that cannot be used is explained
    and the question asked again."""
    async with context.session() as session:
        try:
            draft = _draft(context)
            actor = await _official(session, context, update)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            _forget(context)
            return END
        try:
            following, screen = await apply(session, actor, draft)
        except InvalidInput as error:
            await session.rollback()
            reason = context.t(f"error.{error.code}", **error.params)
            return await _send(update, context, state, (f"{reason}\n\n{question[0]}",
                                                        question[1]))
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return await _send(
                update, context, CHOOSING, await _menu_screen(session, context, actor, draft)
            )
    return await _send(update, context, following, screen)


def _typed_text(update: Update) -> str:
    return update.effective_message.text or "" if update.effective_message else ""


async def received_reminder_title(update: Update, context: UnionContext) -> State:
    """The reminder's name; asks how often."""
    typed = _typed_text(update)

    async def apply(
        session: AsyncSession, actor: Actor, draft: dict[str, Any]
    ) -> tuple[State, Screen]:
        title = rem.clean_title(typed)
        reminder = draft.setdefault(REMINDER, {})
        reminder["title"] = title
        return CHOOSING, _rules_screen(context, reminder)

    reminder = (context.user_data or {}).get(DRAFT, {}).get(REMINDER) or {}
    return await _reminder_typed(update, context, TYPING_REMINDER_TITLE,
                                 _title_question(context, reminder), apply)


async def received_once_time(update: Update, context: UnionContext) -> State:
    """A one-off's time typed "dd/mm/yyyy HH:MM" (local); the summary."""
    typed = _typed_text(update)

    async def apply(
        session: AsyncSession, actor: Actor, draft: dict[str, Any]
    ) -> tuple[State, Screen]:
        reminder = _reminder(draft)
        at = parse_local_datetime(typed, context.services.settings.tz, end_of_day=False)
        rem.check_first_at(at, now=utcnow())
        reminder.update(kind=rem.RuleKind.ONCE, at=at.isoformat())
        return CHOOSING, await _summary_screen(session, context, actor, draft)

    return await _reminder_typed(update, context, TYPING_REMINDER_ONCE, _once_question(context),
                                 apply)


async def received_month_day(update: Update, context: UnionContext) -> State:
    """A day of the month typed (1–28, or "cuối"); asks the hour."""
    typed = _typed_text(update)

    async def apply(
        session: AsyncSession, actor: Actor, draft: dict[str, Any]
    ) -> tuple[State, Screen]:
        reminder = _reminder(draft)
        reminder["day"] = rem.parse_month_day(typed)
        return TYPING_REMINDER_TIME, _time_of_day_question(context)

    return await _reminder_typed(update, context, TYPING_REMINDER_DAY,
                                 _month_day_question(context), apply)


async def received_time_of_day(update: Update, context: UnionContext) -> State:
    """The hour of a recurring reminder, typed "HH:MM" (local); the summary."""
    typed = _typed_text(update)

    async def apply(
        session: AsyncSession, actor: Actor, draft: dict[str, Any]
    ) -> tuple[State, Screen]:
        reminder = _reminder(draft)
        hour, minute = rem.parse_time_of_day(typed)
        rem.rule_of(replace(_parts(reminder), hour=hour, minute=minute))
        reminder.update(hour=hour, minute=minute)
        return CHOOSING, await _summary_screen(session, context, actor, draft)

    return await _reminder_typed(update, context, TYPING_REMINDER_TIME,
                                 _time_of_day_question(context), apply)


@_tap
async def created_reminder(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Creates the event reminder (everything checked again by models), wakes the scheduler.
    A second tap finds nothing left (the draft is dropped with the first)."""
    draft = _draft(context)
    reminder = _reminder(draft)
    rule = rem.rule_of(_parts(reminder))
    at = _at(reminder)
    event = await rem.create_event_reminder(
        session, actor, title=reminder["title"], text=draft.get("text") or "",
        audience=_audience(draft), rule=rule, first_at=at if rule == rem.RULE_ONCE else None,
        now=utcnow(), tz=context.services.settings.tz,
    )
    count = await _count(session, actor, draft)
    await session.commit()
    _forget(context)
    context.services.wake_up()
    log.info("event reminder %s created by identity %s", event.id, actor.identity.id)
    assert event.next_run_at is not None
    text = context.t(
        "evr.created", title=event.title,
        rule=rule_in_words(context, rem.rule_parts(rule), rule=rule, at=event.next_run_at),
        next=context.local_time(event.next_run_at), count=count,
    )
    return await _put(update, context, END, (text, None))


# --- leaving -------------------------------------------------------------------------------------


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel while an announcement is being written: forgets it."""
    _forget(context)
    await common.reply(update, context.t("anw.cancelled"))
    return END


async def stale_button(update: Update, context: UnionContext) -> None:
    """An "anw:" payload that fits no button (an old version, or forged): refused."""
    assert update.callback_query is not None
    log.info("unknown announce button from user %s",
             update.effective_user.id if update.effective_user else None)
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)


def _buttons() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CallbackQueryHandler(preview_button, pattern=r"^anw:noop$"),
        CallbackQueryHandler(edit_draft, pattern=rf"^anw:edit:{ID}$"),
        CallbackQueryHandler(showed_menu, pattern=r"^anw:m$"),
        CallbackQueryHandler(asked_text, pattern=r"^anw:txt$"),
        CallbackQueryHandler(asked_attachment, pattern=r"^anw:att$"),
        CallbackQueryHandler(removed_attachment, pattern=r"^anw:rm$"),
        CallbackQueryHandler(toggled_ack, pattern=r"^anw:ack$"),
        CallbackQueryHandler(previewed, pattern=r"^anw:pv$"),
        CallbackQueryHandler(asked_send, pattern=r"^anw:go$"),
        CallbackQueryHandler(sent, pattern=r"^anw:gy$"),
        CallbackQueryHandler(asked_time, pattern=r"^anw:sch$"),
        CallbackQueryHandler(saved_draft, pattern=r"^anw:dr$"),
        CallbackQueryHandler(cancelled, pattern=r"^anw:x$"),
        CallbackQueryHandler(showed_audience, pattern=r"^anw:a$"),
        CallbackQueryHandler(chose_whole_scope, pattern=r"^anw:aw$"),
        CallbackQueryHandler(browsed_units, pattern=rf"^anw:u:{ID}:{PAGE}$"),
        CallbackQueryHandler(toggled_unit, pattern=rf"^anw:tu:{ID}:{ID}:{PAGE}$"),
        CallbackQueryHandler(browsed_blocs, pattern=rf"^anw:b:{PAGE}$"),
        CallbackQueryHandler(toggled_bloc, pattern=rf"^anw:tb:{ID}:{PAGE}$"),
        CallbackQueryHandler(showed_roles, pattern=r"^anw:r$"),
        CallbackQueryHandler(toggled_role, pattern=r"^anw:tr:[a-z_]{1,32}$"),
        CallbackQueryHandler(chose_gender, pattern=r"^anw:gd:[a-z_]{1,16}$"),
        CallbackQueryHandler(listed_movements, pattern=rf"^anw:mv:{PAGE}$"),
        CallbackQueryHandler(picked_movement, pattern=rf"^anw:mp:{ID}$"),
        CallbackQueryHandler(chose_criterion, pattern=rf"^anw:mc:{ID}:[a-z_]{{1,32}}$"),
        CallbackQueryHandler(cleared_movement, pattern=r"^anw:mx$"),
        CallbackQueryHandler(toggled_no_initiative, pattern=r"^anw:ni$"),
        CallbackQueryHandler(asked_reminder, pattern=r"^anw:ev$"),
        CallbackQueryHandler(showed_rules, pattern=r"^anw:er$"),
        CallbackQueryHandler(chose_rule_kind, pattern=r"^anw:ek:(once|daily|weekly|monthly)$"),
        CallbackQueryHandler(chose_weekday, pattern=r"^anw:ew:\d$"),
        CallbackQueryHandler(chose_month_day, pattern=r"^anw:ed:(\d{1,2}|last)$"),
        CallbackQueryHandler(asked_month_day, pattern=r"^anw:edt$"),
        CallbackQueryHandler(created_reminder, pattern=r"^anw:ey$"),
        CallbackQueryHandler(stale_button, pattern=r"^anw:"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """/announce and its buttons; the typed answers are states persisted across restarts."""
    text = filters.TEXT & ~filters.COMMAND
    files = filters.PHOTO | filters.Document.ALL
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[CommandHandler("announce", announce), *_buttons()],
        states={
            TYPING_TEXT: [
                MessageHandler(text, received_text),
                MessageHandler(files, received_file),
            ],
            ATTACHING: [
                MessageHandler(files, received_attachment),
                MessageHandler(text, common.says("anw.send_a_file")),
            ],
            CHOOSING: [MessageHandler(text, common.says("anw.use_buttons"))],
            TYPING_TIME: [MessageHandler(text, received_time)],
            TYPING_REMINDER_TITLE: [MessageHandler(text, received_reminder_title)],
            TYPING_REMINDER_ONCE: [MessageHandler(text, received_once_time)],
            TYPING_REMINDER_DAY: [MessageHandler(text, received_month_day)],
            TYPING_REMINDER_TIME: [MessageHandler(text, received_time_of_day)],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CommandHandler("announce", announce),
            *_buttons(),
            common.other_button_leaves(PREFIX, _forget),
            MessageHandler(~filters.TEXT & ~filters.COMMAND, common.says("anw.type_the_answer")),
            common.other_command_leaves(_forget),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [conversation()]
