"""The member directory for officials (/members): the members of their scope, page by page,
filtered by unit, position, gender and status, searched by typing a name (without diacritics);
a member's card (phone masked) with buttons to appoint or revoke roles and to open their record
of titles and initiatives ("ach:m:", handlers/achievements.py); the export to .xlsx.

While the directory is open (from /members until "Close" or /cancel), typed text is a name to
search for; once it is closed, text goes to whoever else takes it. The filters live in
`user_data["directory"]`, so callback data stays short; every id a button carries is authorised
again in models/directory.py (a forged one is refused, logged, and changes nothing).

Callback data starts with "dir:".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from bot.notify import Localized, notify_member
from handlers import common
from models import directory
from models.access import Actor, Role
from models.base import utcnow
from models.errors import DomainError
from models.members import Channel, Gender, MemberStatus, Position
from models.org import get_unit
from models.outbox import Source

# What the bot is waiting for: a tap on the directory, or a name typed to search for.
BROWSING = "browsing"

END = ConversationHandler.END
CONVERSATION = "directory"
STATE = "directory"  # the key of the filters in user_data
# Zalo shows at most 9 options per screen: fewer members per page keep the page's buttons on it.
MEMBERS_PER_PAGE = {Channel.TELEGRAM: 8, Channel.ZALO: 4}
UNITS_PER_PAGE = 8

ROLES = {"o": Role.OFFICIAL, "r": Role.REVIEWER, "a": Role.ADMIN}
ROLE_KEYS = {
    Role.ADMIN: "role.admin",
    Role.OFFICIAL: "role.official",
    Role.REVIEWER: "role.reviewer",
}
# Filter buttons: "dir:<letter>:<value>" sets the filter named here.
FILTER_FIELDS = {"p": "position", "g": "gender", "s": "status"}
FILTER_VALUES: dict[str, tuple[str, ...]] = {
    "position": tuple(Position),
    "gender": tuple(Gender),
    "status": tuple(MemberStatus),
}
FILTER_TITLES = {
    "position": "directory.ask_position",
    "gender": "directory.ask_gender",
    "status": "directory.ask_status",
}

View = tuple[str, InlineKeyboardMarkup]
State = object


# --- the filters kept between taps ---------------------------------------------------------------


def _filters(context: UnionContext) -> dict[str, Any]:
    assert context.user_data is not None
    return context.user_data.setdefault(STATE, {"page": 0})


def _query_of(state: dict[str, Any]) -> dict[str, Any]:
    """The filters as models.directory takes them."""
    return {
        "text": state.get("text"),
        "unit_id": state.get("unit"),
        "position": state.get("position"),
        "gender": state.get("gender"),
        "status": state.get("status"),
    }


def _label(context: UnionContext, field: str, value: str) -> str:
    if field == "position":
        return context.t(f"position.{value}")
    if field == "gender":
        return context.t(f"gender.{value}")
    return context.t(f"status.{value}")


async def _filter_lines(
    session: AsyncSession, context: UnionContext, state: dict[str, Any]
) -> list[str]:
    lines = []
    if state.get("text"):
        lines.append(context.t("directory.filter_text", text=state["text"]))
    if state.get("unit"):
        unit = await get_unit(session, state["unit"])
        lines.append(context.t("directory.filter_unit", unit=unit.name if unit else "—"))
    for field, key in (
        ("position", "directory.filter_position"),
        ("gender", "directory.filter_gender"),
        ("status", "directory.filter_status"),
    ):
        if state.get(field):
            lines.append(context.t(key, value=_label(context, field, state[field])))
    return lines


# --- views: each returns the text and buttons to show --------------------------------------------


async def _list_view(
    session: AsyncSession, context: UnionContext, actor: Actor, state: dict[str, Any]
) -> View:
    """One page of the directory under the filters of `state` (its page moved back in range)."""
    per_page = MEMBERS_PER_PAGE.get(context.channel, 8)
    page = max(int(state.get("page", 0)), 0)
    rows, total = await directory.search_members(
        session, actor, offset=page * per_page, limit=per_page, **_query_of(state)
    )
    if page > 0 and not rows:
        page = max((total - 1) // per_page, 0)
        rows, total = await directory.search_members(
            session, actor, offset=page * per_page, limit=per_page, **_query_of(state)
        )
    state["page"] = page
    pages = max((total + per_page - 1) // per_page, 1)
    lines = [context.t("directory.list", total=total)]
    if pages > 1:
        lines.append(context.t("directory.page", page=page + 1, pages=pages))
    lines.extend(await _filter_lines(session, context, state))
    lines.append("")
    lines.append(context.t("directory.empty" if total == 0 else "directory.hint"))
    buttons = [
        [(f"{row.member.full_name} · {row.unit.name}", f"dir:m:{row.member.id}")] for row in rows
    ]
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"dir:pg:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"dir:pg:{page + 1}"))
    if pager:
        buttons.append(pager)
    buttons.append(
        [(context.t("directory.filters"), "dir:f"), (context.t("directory.export"), "dir:x")]
    )
    buttons.append([(context.t("directory.close"), "dir:close")])
    return "\n".join(lines), common.keyboard(buttons)


async def _filters_view(
    session: AsyncSession, context: UnionContext, actor: Actor, state: dict[str, Any]
) -> View:
    """The filter menu: what is set, and a button per kind of filter."""
    lines = [context.t("directory.filters_title")]
    shown = await _filter_lines(session, context, state)
    lines.extend(shown or [context.t("directory.no_filter")])
    buttons = [
        [(context.t("directory.by_unit"), "dir:fu:0:0")],
        [(context.t("directory.by_position"), "dir:fp")],
        [(context.t("directory.by_gender"), "dir:fg")],
        [(context.t("directory.by_status"), "dir:fs")],
        [(context.t("directory.clear"), "dir:clr")],
        [(context.t("common.back"), f"dir:pg:{state.get('page', 0)}")],
    ]
    return "\n".join(lines), common.keyboard(buttons)


def _values_view(context: UnionContext, letter: str) -> View:
    """The choices of one filter (position, gender or status), and "all"."""
    field = FILTER_FIELDS[letter]
    buttons = [
        [(_label(context, field, value), f"dir:{letter}:{value}")]
        for value in FILTER_VALUES[field]
    ]
    buttons.append([(context.t("directory.any"), f"dir:{letter}:all")])
    buttons.append([(context.t("common.back"), "dir:f")])
    return context.t(FILTER_TITLES[field]), common.keyboard(buttons)


async def _unit_level(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    *,
    parent_id: int,
    page: int,
    choose: Callable[[Any], str | None],
    open_data: Callable[[int, int], str],
) -> tuple[Any, list[list[tuple[str, str]]]]:
    """Buttons for one level of the actor's scope: ✅ the level itself (when `choose` gives it
    data), its units (grassroots ones chosen directly, others opened), pages, and up."""
    level = await directory.browse_scope(
        session, actor, parent_id=parent_id or None, offset=page * UNITS_PER_PAGE,
        limit=UNITS_PER_PAGE,
    )
    buttons: list[list[tuple[str, str]]] = []
    if level.parent is not None and (data := choose(level.parent)) is not None:
        buttons.append([(context.t("directory.this_unit", unit=level.parent.name), data)])
    for unit in level.units:
        data = choose(unit) if unit.is_grassroots else open_data(unit.id, 0)
        if data is not None:
            label = unit.name if unit.is_grassroots else f"📂 {unit.name}"
            buttons.append([(label, data)])
    here = level.parent.id if level.parent is not None else 0
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), open_data(here, page - 1)))
    if (page + 1) * UNITS_PER_PAGE < level.total:
        pager.append((context.t("common.next"), open_data(here, page + 1)))
    if pager:
        buttons.append(pager)
    if level.up_id is not None:
        buttons.append([(context.t("common.up"), open_data(level.up_id, 0))])
    return level, buttons


async def _unit_filter_view(
    session: AsyncSession, context: UnionContext, actor: Actor, parent_id: int, page: int
) -> View:
    level, buttons = await _unit_level(
        session, context, actor, parent_id=parent_id, page=page,
        choose=lambda unit: f"dir:u:{unit.id}",
        open_data=lambda unit_id, to_page: f"dir:fu:{unit_id}:{to_page}",
    )
    buttons.append([(context.t("directory.any_unit"), "dir:u:0")])
    buttons.append([(context.t("common.back"), "dir:f")])
    where = level.parent.name if level.parent is not None else context.t("directory.your_scope")
    return context.t("directory.ask_unit", unit=where), common.keyboard(buttons)


async def _card_view(
    session: AsyncSession, context: UnionContext, actor: Actor, member_id: int, *, done: str = ""
) -> View:
    """A member's card (phone masked), with the appointments the official may make."""
    card = await directory.member_card(session, actor, member_id)
    lines = [done, ""] if done else []
    lines.append(
        context.t(
            "directory.card",
            name=card.full_name,
            unit=card.unit_name,
            position=context.t(f"position.{card.position}"),
            gender=context.t(f"gender.{card.gender or Gender.UNDISCLOSED}"),
            phone=card.phone or context.t("directory.no_phone"),
            status=context.t(f"status.{card.status}"),
        )
    )
    lines.append(context.t("directory.card_roles"))
    for held in card.roles:
        lines.append(_role_line(context, held.role, held.unit_name))
    if not card.roles:
        lines.append(context.t("directory.no_role"))
    channels = ", ".join(context.t(f"channel.{channel}") for channel in card.channels)
    lines.append(
        context.t("directory.card_channels", channels=channels)
        if channels
        else context.t("directory.not_on_chat")
    )
    # The member's titles and recognised initiatives (handlers/achievements.py).
    buttons = [[(context.t("achievements.record_button"), f"ach:m:{member_id}")]]
    if card.may_appoint_official:
        buttons.append([(context.t("directory.appoint_official"), f"dir:a:o:{member_id}:0:0")])
    if card.may_appoint_reviewer:
        buttons.append([(context.t("directory.appoint_reviewer"), f"dir:a:r:{member_id}:0:0")])
    if card.may_appoint_admin:
        buttons.append([(context.t("directory.appoint_admin"), f"dir:ac:a:{member_id}:0")])
    for held in card.roles:
        if held.may_revoke:
            role = context.t(ROLE_KEYS[Role(held.role)])
            label = (
                context.t("directory.revoke_no_unit", role=role)
                if held.unit_name is None
                else context.t("directory.revoke", role=role, unit=held.unit_name)
            )
            buttons.append([(label, f"dir:rv:{held.assignment_id}")])
    page = _filters(context).get("page", 0)
    buttons.append([(context.t("directory.back_to_list"), f"dir:pg:{page}")])
    return "\n".join(lines), common.keyboard(buttons)


def _role_line(context: UnionContext, role: str, unit_name: str | None) -> str:
    label = context.t(ROLE_KEYS[Role(role)])
    if unit_name is None:
        return context.t("directory.role_line_no_unit", role=label)
    return context.t("directory.role_line", role=label, unit=unit_name)


async def _appoint_units_view(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    code: str,
    member_id: int,
    parent_id: int,
    page: int,
) -> View:
    """Where to appoint the member: the units of the actor's scope the role may be given in."""
    role = ROLES[code]
    card = await directory.member_card(session, actor, member_id)
    _, buttons = await _unit_level(
        session, context, actor, parent_id=parent_id, page=page,
        choose=lambda unit: (
            f"dir:ac:{code}:{member_id}:{unit.id}"
            if directory.may_appoint_at(actor, role, unit)
            else None
        ),
        open_data=lambda unit_id, to_page: f"dir:a:{code}:{member_id}:{unit_id}:{to_page}",
    )
    buttons.append([(context.t("common.cancel"), f"dir:m:{member_id}")])
    text = context.t(
        "directory.ask_appoint_unit", name=card.full_name, role=context.t(ROLE_KEYS[role])
    )
    return text, common.keyboard(buttons)


async def _confirm_appointment_view(
    session: AsyncSession, context: UnionContext, actor: Actor, code: str, member_id: int,
    unit_id: int,
) -> View:
    role = ROLES[code]
    change = await directory.preview_appointment(
        session, actor, member_id=member_id, role=role, unit_id=unit_id or None
    )
    text = _change_text(
        context, change, "directory.confirm_appoint", "directory.confirm_appoint_admin"
    )
    buttons = [
        [(context.t("directory.confirm"), f"dir:ay:{code}:{member_id}:{unit_id}")],
        [(context.t("common.cancel"), f"dir:m:{member_id}")],
    ]
    return text, common.keyboard(buttons)


def _change_text(
    context: UnionContext, change: directory.RoleChange, key: str, admin_key: str
) -> str:
    """`key` filled in with whom, which role, and where (`admin_key`: administrators, who have
    no unit)."""
    return context.t(
        key if change.unit is not None else admin_key,
        name=change.member.full_name,
        role=context.t(ROLE_KEYS[change.role]),
        unit=change.unit.name if change.unit is not None else "",
    )


async def _confirm_revocation_view(
    session: AsyncSession, context: UnionContext, actor: Actor, assignment_id: int
) -> View:
    change = await directory.preview_revocation(session, actor, assignment_id=assignment_id)
    text = _change_text(
        context, change, "directory.confirm_revoke", "directory.confirm_revoke_admin"
    )
    buttons = [
        [(context.t("directory.confirm"), f"dir:ry:{assignment_id}")],
        [(context.t("common.cancel"), f"dir:m:{change.member.id}")],
    ]
    return text, common.keyboard(buttons)


# --- showing a view ------------------------------------------------------------------------------


async def _show(
    update: Update,
    context: UnionContext,
    view: Callable[[AsyncSession, Actor], Awaitable[View]],
) -> State:
    """Shows what `view` builds: in place of the tapped message, or as a new message for a
    command or typed text. A refusal is shown instead and changes nothing."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await view(session, actor)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END if error.code == "officials_only" else BROWSING
        await session.commit()
    await context.remember_state(CONVERSATION, update, BROWSING)
    await _put(update, text, markup)
    return BROWSING


async def _put(update: Update, text: str, markup: InlineKeyboardMarkup | None) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, text, markup)


# --- the flow ------------------------------------------------------------------------------------


async def open_directory(update: Update, context: UnionContext) -> State:
    """/members: forgets earlier filters and shows the first page of the official's scope."""
    assert context.user_data is not None
    context.user_data[STATE] = {"page": 0}
    state = _filters(context)
    return await _show(
        update, context, lambda session, actor: _list_view(session, context, actor, state)
    )


async def searched(update: Update, context: UnionContext) -> State:
    """Typed text while the directory is open: a name to search for (from the first page)."""
    assert update.effective_message is not None
    state = {**_filters(context), "text": update.effective_message.text or "", "page": 0}

    async def view(session: AsyncSession, actor: Actor) -> View:
        shown = await _list_view(session, context, actor, state)
        _filters(context).update(state)  # kept only once the search was accepted
        return shown

    return await _show(update, context, view)


async def turned_page(update: Update, context: UnionContext) -> State:
    """◀ / ▶ (or back to the list): the page asked for, under the same filters."""
    state = _filters(context)
    state["page"] = int(context.matches[0].group(1))
    return await _show(
        update, context, lambda session, actor: _list_view(session, context, actor, state)
    )


async def opened_filters(update: Update, context: UnionContext) -> State:
    """Shows the filter menu."""
    state = _filters(context)
    return await _show(
        update, context, lambda session, actor: _filters_view(session, context, actor, state)
    )


async def opened_filter(update: Update, context: UnionContext) -> State:
    """Asks for a position, gender or status to filter by."""
    letter = context.matches[0].group(1)

    async def view(session: AsyncSession, actor: Actor) -> View:
        return _values_view(context, letter)

    return await _show(update, context, view)


async def chose_filter(update: Update, context: UnionContext) -> State:
    """Sets (or, with "all", clears) a position, gender or status filter; back to page 1."""
    letter, value = context.matches[0].group(1), context.matches[0].group(2)
    field = FILTER_FIELDS[letter]
    state = {**_filters(context), field: None if value == "all" else value, "page": 0}

    async def view(session: AsyncSession, actor: Actor) -> View:
        shown = await _list_view(session, context, actor, state)  # checks the value
        _filters(context).update(state)
        return shown

    return await _show(update, context, view)


async def browsed_units(update: Update, context: UnionContext) -> State:
    """A level of the official's scope to choose the unit filter from."""
    parent_id, page = (int(group) for group in context.matches[0].groups())
    return await _show(
        update,
        context,
        lambda session, actor: _unit_filter_view(session, context, actor, parent_id, page),
    )


async def chose_unit(update: Update, context: UnionContext) -> State:
    """Sets the unit filter (0: the whole scope); the unit is authorised again."""
    unit_id = int(context.matches[0].group(1))
    state = {**_filters(context), "unit": unit_id or None, "page": 0}

    async def view(session: AsyncSession, actor: Actor) -> View:
        shown = await _list_view(session, context, actor, state)
        _filters(context).update(state)
        return shown

    return await _show(update, context, view)


async def cleared_filters(update: Update, context: UnionContext) -> State:
    """Drops every filter and the name searched for."""
    assert context.user_data is not None
    context.user_data[STATE] = state = {"page": 0}
    return await _show(
        update, context, lambda session, actor: _list_view(session, context, actor, state)
    )


async def opened_card(update: Update, context: UnionContext) -> State:
    """A member's card; the member id is authorised again (a forged one is refused)."""
    member_id = int(context.matches[0].group(1))
    return await _show(
        update, context, lambda session, actor: _card_view(session, context, actor, member_id)
    )


async def exported(update: Update, context: UnionContext) -> State:
    """Sends the .xlsx of the filtered scope (on Zalo, which cannot receive files: says so)."""
    query = update.callback_query
    assert query is not None
    if context.channel == Channel.ZALO:
        await query.answer()
        await common.reply(update, context.t("directory.export_on_zalo"))
        return BROWSING
    # Answered at once: a whole city takes a while, and Telegram drops a tap left unanswered.
    await query.answer(context.t("directory.export_preparing"))
    state = _filters(context)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            content = await directory.export_xlsx(
                session, actor, translate=context.t, **_query_of(state)
            )
        except DomainError as error:
            await session.rollback()
            await common.reply(update, context.t(f"error.{error.code}", **error.params))
            return END if error.code == "officials_only" else BROWSING
        await session.commit()
    assert update.effective_chat is not None
    await update.effective_chat.send_document(
        document=content,
        filename=context.t(
            "directory.export_filename", date=utcnow().astimezone(context.services.settings.tz)
            .strftime("%Y-%m-%d"),
        ),
        caption=context.t("directory.export_caption"),
    )
    return BROWSING


async def chose_role_unit(update: Update, context: UnionContext) -> State:
    """A level of the tree to choose where the member becomes official (or reviewer)."""
    match = context.matches[0]
    code = match.group(1)
    member_id, parent_id, page = int(match.group(2)), int(match.group(3)), int(match.group(4))
    return await _show(
        update,
        context,
        lambda session, actor: _appoint_units_view(
            session, context, actor, code, member_id, parent_id, page
        ),
    )


async def confirm_appointment(update: Update, context: UnionContext) -> State:
    """Asks to confirm an appointment (already checked: a forged one is refused here)."""
    match = context.matches[0]
    code, member_id, unit_id = match.group(1), int(match.group(2)), int(match.group(3))
    return await _show(
        update,
        context,
        lambda session, actor: _confirm_appointment_view(
            session, context, actor, code, member_id, unit_id
        ),
    )


async def appointed(update: Update, context: UnionContext) -> State:
    """Makes the appointment, tells the appointee, and shows the card again."""
    match = context.matches[0]
    role, member_id, unit_id = ROLES[match.group(1)], int(match.group(2)), int(match.group(3))
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            change = await directory.appoint_role(
                session, actor, member_id=member_id, role=role, unit_id=unit_id or None
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END if error.code == "officials_only" else BROWSING
        await _tell(
            context, session, change,
            "directory.notify_appointed", "directory.notify_appointed_admin",
        )
        await session.commit()
        context.services.wake_up()
        done = _change_text(
            context, change, "directory.appointed", "directory.appointed_admin"
        )
        text, markup = await _card_view(session, context, actor, member_id, done=done)
    await _put(update, text, markup)
    return BROWSING


async def confirm_revocation(update: Update, context: UnionContext) -> State:
    """Asks to confirm taking a role away (already checked: a forged one is refused here)."""
    assignment_id = int(context.matches[0].group(1))
    return await _show(
        update,
        context,
        lambda session, actor: _confirm_revocation_view(session, context, actor, assignment_id),
    )


async def revoked(update: Update, context: UnionContext) -> State:
    """Takes the role away, tells the member, and shows their card again (if still in scope)."""
    assignment_id = int(context.matches[0].group(1))
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            change = await directory.revoke_role(session, actor, assignment_id=assignment_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END if error.code == "officials_only" else BROWSING
        await _tell(
            context, session, change, "directory.notify_revoked", "directory.notify_revoked_admin"
        )
        await session.commit()
        context.services.wake_up()
        done = _change_text(context, change, "directory.revoked", "directory.revoked_admin")
        # Revoking one's own last role ends one's scope: then only the confirmation is shown.
        actor = await context.actor(session, update)
        try:
            text, markup = await _card_view(
                session, context, actor, change.member.id, done=done  # type: ignore[arg-type]
            )
        except DomainError:
            text, markup = done, None
    await _put(update, text, markup)
    return BROWSING if markup is not None else END


async def _tell(
    context: UnionContext,
    session: AsyncSession,
    change: directory.RoleChange,
    key: str,
    admin_key: str,
) -> None:
    """Queues the notice to the member concerned, in their language, with the change (the
    caller commits both)."""
    await notify_member(
        context.services, session, change.member, key if change.unit is not None else admin_key,
        about=Source("member", change.member.id),
        role=Localized(ROLE_KEYS[change.role]),
        unit=change.unit.name if change.unit is not None else "",
    )


async def closed(update: Update, context: UnionContext) -> State:
    """"Close" or /cancel: leaves the directory; typed text is no longer a search."""
    if context.user_data is not None:
        context.user_data.pop(STATE, None)
    await _put(update, context.t("directory.closed"), None)
    return END


async def stale(update: Update, context: UnionContext) -> State | None:
    """A "dir:" button this version does not know (an old or forged message): change nothing."""
    assert update.callback_query is not None
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)
    return None


def _taps() -> list[BaseHandler]:  # type: ignore[type-arg]
    """The directory's buttons: they work whether or not the directory is open (an older list
    reopens it), and each re-checks what it names."""
    id_ = r"(\d{1,12})"
    page = r"(\d{1,6})"
    return [
        CallbackQueryHandler(turned_page, pattern=rf"^dir:pg:{page}$"),
        CallbackQueryHandler(opened_card, pattern=rf"^dir:m:{id_}$"),
        CallbackQueryHandler(opened_filters, pattern=r"^dir:f$"),
        CallbackQueryHandler(opened_filter, pattern=r"^dir:f([pgs])$"),
        CallbackQueryHandler(chose_filter, pattern=r"^dir:([pgs]):([a-z_]{1,16})$"),
        CallbackQueryHandler(browsed_units, pattern=rf"^dir:fu:{id_}:{page}$"),
        CallbackQueryHandler(chose_unit, pattern=rf"^dir:u:{id_}$"),
        CallbackQueryHandler(cleared_filters, pattern=r"^dir:clr$"),
        CallbackQueryHandler(exported, pattern=r"^dir:x$"),
        CallbackQueryHandler(chose_role_unit, pattern=rf"^dir:a:([or]):{id_}:{id_}:{page}$"),
        CallbackQueryHandler(confirm_appointment, pattern=rf"^dir:ac:([ora]):{id_}:{id_}$"),
        CallbackQueryHandler(appointed, pattern=rf"^dir:ay:([ora]):{id_}:{id_}$"),
        CallbackQueryHandler(confirm_revocation, pattern=rf"^dir:rv:{id_}$"),
        CallbackQueryHandler(revoked, pattern=rf"^dir:ry:{id_}$"),
        CallbackQueryHandler(closed, pattern=r"^dir:close$"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """The directory, open from /members until closed, persisted across restarts."""
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[CommandHandler("members", open_directory), *_taps()],
        states={
            BROWSING: [
                *_taps(),
                MessageHandler(filters.TEXT & ~filters.COMMAND, searched),
            ],
        },
        fallbacks=[
            CommandHandler("members", open_directory),
            CommandHandler("cancel", closed),
            CallbackQueryHandler(stale, pattern=r"^dir:"),
        ],
    )


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [conversation()]
