"""/units: officials browse and manage the organisation tree from the chat.

The browsing starts at the official's own units (the whole tree's roots for administrators).
A unit's card shows its place, its numbers and its blocs, the units below it (paged), and the
buttons for what the official may do: add a unit below, rename, move (browse to the new
place), deactivate (its members first get a new union, chosen by browsing), emulation blocs.

Callback payloads start with "units:" and carry only ids; every tap asks models.org (which asks
models.access) again, so a forged payload naming a unit outside the official's scope is refused,
logged, and changes nothing. Typed answers (a name) are states of a persistent conversation.
"""

from __future__ import annotations

import logging
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
from handlers import common
from models.access import Action, Actor, authorize, may, require_official
from models.errors import DomainError, InvalidInput, NotFound
from models.org import OrgKind, OrgUnit, get_unit
from models.units import (
    add_unit,
    blocs_of,
    browse,
    check_add,
    check_deactivation,
    check_edit,
    create_bloc,
    deactivate_unit,
    get_bloc,
    list_blocs,
    move_unit,
    rename_unit,
    roots_for,
    tag_unit,
    unit_card,
    untag_unit,
    up_from,
)

log = logging.getLogger(__name__)

# What the bot is waiting for (typed answers); buttons work in any state.
TYPING_UNIT_NAME = "typing_unit_name"
TYPING_NEW_NAME = "typing_new_name"
TYPING_BLOC_NAME = "typing_bloc_name"

END = ConversationHandler.END
CONVERSATION = "units"
PER_PAGE = 8
# The pending typed answer: {"op": "add"|"rename"|"bloc", ...ids}; in user_data, persisted.
PENDING = "units_pending"

ID = r"\d{1,12}"
PAGE = r"\d{1,6}"
KINDS = "|".join(kind.value for kind in OrgKind)
KIND_LABELS = {
    OrgKind.FEDERATION: "units.kind.federation",
    OrgKind.INDUSTRY_UNION: "units.kind.industry_union",
    OrgKind.GRASSROOTS: "units.kind.grassroots",
}

State = str | int
Screen = tuple[str, InlineKeyboardMarkup]


# --- small helpers -------------------------------------------------------------------------------


async def _official(session: AsyncSession, context: UnionContext, update: Update) -> Actor:
    actor = await context.actor(session, update)
    require_official(actor)
    return actor


async def _unit(session: AsyncSession, unit_id: int) -> OrgUnit:
    unit = await get_unit(session, unit_id)
    if unit is None:
        raise NotFound("unit_unavailable")
    return unit


def _label(unit: OrgUnit) -> str:
    return f"🏫 {unit.name}" if unit.is_grassroots else f"📂 {unit.name}"


def _pager(
    context: UnionContext, page: int, total: int, data: Callable[[int], str]
) -> list[list[tuple[str, str]]]:
    buttons = []
    if page > 0:
        buttons.append((context.t("common.previous"), data(page - 1)))
    if (page + 1) * PER_PAGE < total:
        buttons.append((context.t("common.next"), data(page + 1)))
    return [buttons] if buttons else []


def _pending(context: UnionContext) -> dict[str, Any]:
    return dict((context.user_data or {}).get(PENDING) or {})


def _remember(context: UnionContext, **pending: Any) -> None:
    context.user_data[PENDING] = pending  # type: ignore[index]


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(PENDING, None)


Step = Callable[[Update, UnionContext, AsyncSession, Actor, list[str]], Awaitable[State]]


def _tap(step: Step) -> Callable[[Update, UnionContext], Awaitable[State | None]]:
    return common.official_tap(step, on_end=_forget)


# --- screens -------------------------------------------------------------------------------------


async def _top_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, page: int
) -> Screen:
    """The official's own units: the card of the only one, or the list of them."""
    roots = await roots_for(session, actor=actor)
    if len(roots) == 1:
        return await _card_screen(session, context, actor, roots[0], page)
    shown = roots[page * PER_PAGE : (page + 1) * PER_PAGE]
    if page > 0 and not shown:
        raise NotFound("unit_unavailable")
    rows = [[(_label(unit), f"units:open:{unit.id}:0")] for unit in shown]
    rows += _pager(context, page, len(roots), lambda p: f"units:open:0:{p}")
    key = "units.top" if roots else "units.nothing"
    return context.t(key), common.keyboard(rows)


async def _card_screen(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    unit: OrgUnit,
    page: int = 0,
    notice: str | None = None,
) -> Screen:
    """A unit's card, one page of the units below it, and the official's buttons."""
    card = await unit_card(session, actor=actor, unit=unit)
    children, total = await browse(
        session, actor=actor, level=unit, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not children:
        raise NotFound("unit_unavailable")
    text = context.t(
        "units.card",
        name=unit.name,
        code=unit.code,
        kind=context.t(KIND_LABELS[OrgKind(unit.kind)]),
        chain=" › ".join(u.name for u in card.chain) or context.t("units.top_level"),
        members=card.members,
        children=card.children,
        blocs=", ".join(b.name for b in card.blocs) or context.t("units.no_blocs"),
    )
    if notice:
        text = f"{notice}\n\n{text}"
    rows = [[(_label(child), f"units:open:{child.id}:0")] for child in children]
    rows += _pager(context, page, total, lambda p: f"units:open:{unit.id}:{p}")
    if card.can_add:
        rows.append([(context.t("units.add"), f"units:add:{unit.id}")])
    if card.can_edit:
        start = card.up or 0
        rows.append(
            [
                (context.t("units.rename"), f"units:ren:{unit.id}"),
                (context.t("units.move"), f"units:mv:{unit.id}:{start}:0"),
            ]
        )
        rows.append(
            [
                (context.t("units.blocs"), f"units:blocs:{unit.id}:0"),
                (context.t("units.deactivate"), f"units:off:{unit.id}"),
            ]
        )
    if card.up is not None:
        rows.append([(context.t("common.up"), f"units:open:{card.up}:0")])
    return text, common.keyboard(rows)


async def _level(session: AsyncSession, level_id: int) -> OrgUnit | None:
    return None if level_id == 0 else await _unit(session, level_id)


async def _move_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, unit: OrgUnit, level_id: int,
    page: int,
) -> Screen:
    """Where `unit` may go: the units below `level` that take units, and "move here"."""
    level = await _level(session, level_id)
    places, total = await browse(
        session, actor=actor, level=level, offset=page * PER_PAGE, limit=PER_PAGE,
        containers_only=True, excluding=unit,
    )
    rows = [[(_label(place), f"units:mv:{unit.id}:{place.id}:0")] for place in places]
    rows += _pager(context, page, total, lambda p: f"units:mv:{unit.id}:{level_id}:{p}")
    if level is not None and level.id != unit.parent_id:
        rows.append([(context.t("units.move_here"), f"units:mvto:{unit.id}:{level.id}")])
    if level is not None:
        up = await up_from(session, actor=actor, unit=level)
        if up is not None:
            rows.append([(context.t("common.up"), f"units:mv:{unit.id}:{up}:0")])
    rows.append([(context.t("common.back"), f"units:open:{unit.id}:0")])
    text = context.t(
        "units.move_where",
        unit=unit.name,
        level=level.name if level is not None else context.t("units.your_units"),
    )
    return text, common.keyboard(rows)


async def _destination_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, unit: OrgUnit, count: int,
    level_id: int, page: int,
) -> Screen:
    """Where the members of a unit being closed may go: grassroots unions, browsed."""
    level = await _level(session, level_id)
    places, total = await browse(
        session, actor=actor, level=level, offset=page * PER_PAGE, limit=PER_PAGE,
        excluding=unit,
    )
    rows = [
        [
            (_label(place), f"units:offto:{unit.id}:{place.id}")
            if place.is_grassroots
            else (_label(place), f"units:offin:{unit.id}:{place.id}:0")
        ]
        for place in places
    ]
    rows += _pager(context, page, total, lambda p: f"units:offin:{unit.id}:{level_id}:{p}")
    if level is not None:
        up = await up_from(session, actor=actor, unit=level)
        if up is not None:
            rows.append([(context.t("common.up"), f"units:offin:{unit.id}:{up}:0")])
    rows.append([(context.t("common.back"), f"units:open:{unit.id}:0")])
    text = context.t(
        "units.members_where",
        unit=unit.name,
        count=count,
        level=level.name if level is not None else context.t("units.your_units"),
    )
    return text, common.keyboard(rows)


async def _blocs_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, unit: OrgUnit, page: int,
    notice: str | None = None,
) -> Screen:
    """Every bloc, ticked when the unit is in it; a tap puts it in or takes it out."""
    blocs = await list_blocs(session)
    tagged = {bloc.id for bloc in await blocs_of(session, unit)}
    shown = blocs[page * PER_PAGE : (page + 1) * PER_PAGE]
    rows = [
        [
            (f"✅ {bloc.name}", f"units:tag:{unit.id}:{bloc.id}:0:{page}")
            if bloc.id in tagged
            else (f"▫️ {bloc.name}", f"units:tag:{unit.id}:{bloc.id}:1:{page}")
        ]
        for bloc in shown
    ]
    rows += _pager(context, page, len(blocs), lambda p: f"units:blocs:{unit.id}:{p}")
    if may(actor, Action.MANAGE_BLOCS):
        rows.append([(context.t("units.new_bloc"), f"units:newbloc:{unit.id}")])
    rows.append([(context.t("common.back"), f"units:open:{unit.id}:0")])
    text = context.t("units.blocs_of" if blocs else "units.blocs_none", unit=unit.name)
    if notice:
        text = f"{notice}\n\n{text}"
    return text, common.keyboard(rows)


async def _ask(
    update: Update, context: UnionContext, state: str, text: str, back: str
) -> State:
    """Asks for a typed answer (the state stored first), with a button to leave it."""
    await context.remember_state(CONVERSATION, update, state)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, text, common.keyboard([[(context.t("common.cancel"), back)]]))
    return state


# --- /units and browsing -------------------------------------------------------------------------


async def show_units(update: Update, context: UnionContext) -> State:
    """Shows the official's starting point: their unit's card, or the list of their units."""
    _forget(context)
    async with context.session() as session:
        try:
            actor = await _official(session, context, update)
            text, markup = await _top_screen(session, context, actor, 0)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    await common.reply(update, text, reply_markup=markup)
    return END


@_tap
async def opened(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows a unit's card (0: the official's own units) at a page of the units below it."""
    unit_id, page = int(parts[0]), int(parts[1])
    if unit_id == 0:
        text, markup = await _top_screen(session, context, actor, page)
    else:
        unit = await _unit(session, unit_id)
        text, markup = await _card_screen(session, context, actor, unit, page)
    await session.commit()
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


# --- adding --------------------------------------------------------------------------------------


@_tap
async def chose_add(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks which kind of unit to add below this one."""
    parent = await _unit(session, int(parts[0]))
    await check_add(session, actor=actor, parent=parent)
    await session.commit()
    rows = [[(context.t(KIND_LABELS[kind]), f"units:kind:{parent.id}:{kind.value}")]
            for kind in (OrgKind.GRASSROOTS, OrgKind.INDUSTRY_UNION, OrgKind.FEDERATION)]
    rows.append([(context.t("common.back"), f"units:open:{parent.id}:0")])
    await update.callback_query.answer()  # type: ignore[union-attr]
    text = context.t("units.ask_kind", parent=parent.name)
    await common.show(update, text, common.keyboard(rows))
    return END


@_tap
async def chose_kind(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Stores the kind of the new unit; asks for its name."""
    parent = await _unit(session, int(parts[0]))
    kind = OrgKind(parts[1])
    await check_add(session, actor=actor, parent=parent)
    await session.commit()
    _remember(context, op="add", parent=parent.id, kind=kind.value)
    text = context.t("units.ask_name", parent=parent.name, kind=context.t(KIND_LABELS[kind]))
    return await _ask(update, context, TYPING_UNIT_NAME, text, f"units:open:{parent.id}:0")


async def _typed(
    update: Update,
    context: UnionContext,
    op: str,
    state: str,
    act: Callable[[AsyncSession, Actor, dict[str, Any], str], Awaitable[Screen]],
) -> State:
    """Applies a typed name to the pending operation; a name that cannot be used is refused and
    asked again, anything else refused ends the question."""
    pending = _pending(context)
    text = update.effective_message.text if update.effective_message else ""
    if pending.get("op") != op:
        await common.reply(update, context.t("common.stale_button"))
        return END
    async with context.session() as session:
        try:
            actor = await _official(session, context, update)
            screen = await act(session, actor, pending, text or "")
        except InvalidInput as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return state
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            _forget(context)
            return END
    _forget(context)
    await common.reply(update, screen[0], reply_markup=screen[1])
    return END


async def received_unit_name(update: Update, context: UnionContext) -> State:
    """Adds the unit with the typed name; shows its card."""

    async def act(
        session: AsyncSession, actor: Actor, pending: dict[str, Any], name: str
    ) -> Screen:
        parent = await _unit(session, int(pending["parent"]))
        unit = await add_unit(
            session, actor=actor, parent=parent, name=name, kind=OrgKind(pending["kind"])
        )
        await session.commit()
        notice = context.t("units.added", name=unit.name, parent=parent.name)
        return await _card_screen(session, context, actor, unit, notice=notice)

    return await _typed(update, context, "add", TYPING_UNIT_NAME, act)


# --- renaming ------------------------------------------------------------------------------------


@_tap
async def chose_rename(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks for the unit's new name."""
    unit = await _unit(session, int(parts[0]))
    await check_edit(session, actor=actor, unit=unit)
    await session.commit()
    _remember(context, op="rename", unit=unit.id)
    text = context.t("units.ask_new_name", name=unit.name)
    return await _ask(update, context, TYPING_NEW_NAME, text, f"units:open:{unit.id}:0")


async def received_new_name(update: Update, context: UnionContext) -> State:
    """Renames the unit; shows its card."""

    async def act(
        session: AsyncSession, actor: Actor, pending: dict[str, Any], name: str
    ) -> Screen:
        unit = await _unit(session, int(pending["unit"]))
        old = unit.name
        await rename_unit(session, actor=actor, unit=unit, name=name)
        await session.commit()
        notice = context.t("units.renamed", old=old, name=unit.name)
        return await _card_screen(session, context, actor, unit, notice=notice)

    return await _typed(update, context, "rename", TYPING_NEW_NAME, act)


# --- moving --------------------------------------------------------------------------------------


@_tap
async def browsed_places(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows where the unit may move, one level and page at a time."""
    unit = await _unit(session, int(parts[0]))
    await check_edit(session, actor=actor, unit=unit)
    text, markup = await _move_screen(
        session, context, actor, unit, int(parts[1]), int(parts[2])
    )
    await session.commit()
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


@_tap
async def moved(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Moves the unit (and all below it) under the chosen unit; shows its card."""
    unit = await _unit(session, int(parts[0]))
    parent = await _unit(session, int(parts[1]))
    await move_unit(session, actor=actor, unit=unit, new_parent=parent)
    await session.commit()
    notice = context.t("units.moved", name=unit.name, parent=parent.name)
    text, markup = await _card_screen(session, context, actor, unit, notice=notice)
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


# --- deactivating --------------------------------------------------------------------------------


def _confirm_screen(
    context: UnionContext, unit: OrgUnit, count: int, destination: OrgUnit | None
) -> Screen:
    if destination is None:
        text = context.t("units.confirm_deactivate", unit=unit.name)
    else:
        text = context.t(
            "units.confirm_deactivate_moving",
            unit=unit.name, count=count, destination=destination.name,
        )
    target = destination.id if destination is not None else 0
    rows = [
        [(context.t("units.confirm"), f"units:offok:{unit.id}:{target}")],
        [(context.t("common.back"), f"units:open:{unit.id}:0")],
    ]
    return text, common.keyboard(rows)


@_tap
async def chose_deactivate(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks where the members go (if it has any), else asks to confirm."""
    unit = await _unit(session, int(parts[0]))
    count = await check_deactivation(session, actor=actor, unit=unit)
    if count:
        start = await up_from(session, actor=actor, unit=unit)
        text, markup = await _destination_screen(
            session, context, actor, unit, count, start or 0, 0
        )
    else:
        text, markup = _confirm_screen(context, unit, 0, None)
    await session.commit()
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


@_tap
async def browsed_destinations(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows another level or page of the grassroots unions the members may go to."""
    unit = await _unit(session, int(parts[0]))
    count = await check_deactivation(session, actor=actor, unit=unit)
    text, markup = await _destination_screen(
        session, context, actor, unit, count, int(parts[1]), int(parts[2])
    )
    await session.commit()
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


@_tap
async def chose_destination(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks to confirm closing the unit, its members going to the chosen union."""
    unit = await _unit(session, int(parts[0]))
    destination = await _unit(session, int(parts[1]))
    count = await check_deactivation(
        session, actor=actor, unit=unit, move_members_to=destination
    )
    await session.commit()
    await update.callback_query.answer()  # type: ignore[union-attr]
    text, markup = _confirm_screen(context, unit, count, destination if count else None)
    await common.show(update, text, markup)
    return END


@_tap
async def deactivated(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Closes the unit, moving its members; says how many moved and leads back up."""
    unit = await _unit(session, int(parts[0]))
    destination = await _unit(session, int(parts[1])) if int(parts[1]) else None
    moved_count = await deactivate_unit(
        session, actor=actor, unit=unit, move_members_to=destination
    )
    up = await up_from(session, actor=actor, unit=unit)
    await session.commit()
    if moved_count and destination is not None:
        text = context.t(
            "units.deactivated_moving",
            unit=unit.name, count=moved_count, destination=destination.name,
        )
    else:
        text = context.t("units.deactivated", unit=unit.name)
    rows = [[(context.t("common.up"), f"units:open:{up}:0")]] if up is not None else []
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, common.keyboard(rows))
    return END


# --- blocs ---------------------------------------------------------------------------------------


@_tap
async def showed_blocs(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows the blocs, ticked where the unit is in them."""
    unit = await _unit(session, int(parts[0]))
    await check_edit(session, actor=actor, unit=unit)
    text, markup = await _blocs_screen(session, context, actor, unit, int(parts[1]))
    await session.commit()
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


@_tap
async def toggled_bloc(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Puts the unit in the bloc, or takes it out (as the button said); shows the blocs."""
    unit = await _unit(session, int(parts[0]))
    bloc = await get_bloc(session, int(parts[1]))
    if bloc is None:
        raise NotFound("unit_unavailable")
    if parts[2] == "1":
        await tag_unit(session, actor=actor, unit=unit, bloc=bloc)
    else:
        await untag_unit(session, actor=actor, unit=unit, bloc=bloc)
    await session.commit()
    text, markup = await _blocs_screen(session, context, actor, unit, int(parts[3]))
    await update.callback_query.answer()  # type: ignore[union-attr]
    await common.show(update, text, markup)
    return END


@_tap
async def chose_new_bloc(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks an administrator for the new bloc's name."""
    unit = await _unit(session, int(parts[0]))
    await authorize(session, actor, Action.MANAGE_BLOCS)
    await check_edit(session, actor=actor, unit=unit)
    await session.commit()
    _remember(context, op="bloc", unit=unit.id)
    return await _ask(
        update, context, TYPING_BLOC_NAME, context.t("units.ask_bloc_name"),
        f"units:blocs:{unit.id}:0",
    )


async def received_bloc_name(update: Update, context: UnionContext) -> State:
    """Creates the bloc; shows the unit's blocs again, to tick it."""

    async def act(
        session: AsyncSession, actor: Actor, pending: dict[str, Any], name: str
    ) -> Screen:
        unit = await _unit(session, int(pending["unit"]))
        bloc = await create_bloc(session, actor=actor, name=name)
        await session.commit()
        notice = context.t("units.bloc_created", name=bloc.name)
        return await _blocs_screen(session, context, actor, unit, 0, notice=notice)

    return await _typed(update, context, "bloc", TYPING_BLOC_NAME, act)


# --- leaving -------------------------------------------------------------------------------------


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel while a name is asked: forgets the question."""
    _forget(context)
    await common.reply(update, context.t("units.cancelled"))
    return END


async def name_expected(update: Update, context: UnionContext) -> None:
    """A photo, a sticker or a file while a name is asked: the name is still awaited."""
    await common.reply(update, context.t("units.type_a_name"))


async def stale_units_button(update: Update, context: UnionContext) -> None:
    """A "units:" payload that fits no button (an old version, or forged): refused."""
    assert update.callback_query is not None
    log.info("unknown units button from user %s", update.effective_user.id
             if update.effective_user else None)
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)


def _buttons() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CallbackQueryHandler(opened, pattern=rf"^units:open:{ID}:{PAGE}$"),
        CallbackQueryHandler(chose_add, pattern=rf"^units:add:{ID}$"),
        CallbackQueryHandler(chose_kind, pattern=rf"^units:kind:{ID}:({KINDS})$"),
        CallbackQueryHandler(chose_rename, pattern=rf"^units:ren:{ID}$"),
        CallbackQueryHandler(browsed_places, pattern=rf"^units:mv:{ID}:{ID}:{PAGE}$"),
        CallbackQueryHandler(moved, pattern=rf"^units:mvto:{ID}:{ID}$"),
        CallbackQueryHandler(chose_deactivate, pattern=rf"^units:off:{ID}$"),
        CallbackQueryHandler(browsed_destinations, pattern=rf"^units:offin:{ID}:{ID}:{PAGE}$"),
        CallbackQueryHandler(chose_destination, pattern=rf"^units:offto:{ID}:{ID}$"),
        CallbackQueryHandler(deactivated, pattern=rf"^units:offok:{ID}:{ID}$"),
        CallbackQueryHandler(showed_blocs, pattern=rf"^units:blocs:{ID}:{PAGE}$"),
        CallbackQueryHandler(toggled_bloc, pattern=rf"^units:tag:{ID}:{ID}:[01]:{PAGE}$"),
        CallbackQueryHandler(chose_new_bloc, pattern=rf"^units:newbloc:{ID}$"),
        CallbackQueryHandler(stale_units_button, pattern=r"^units:"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """/units and its buttons; the typed names are states persisted across restarts."""
    text = filters.TEXT & ~filters.COMMAND
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[CommandHandler("units", show_units), *_buttons()],
        states={
            TYPING_UNIT_NAME: [MessageHandler(text, received_unit_name)],
            TYPING_NEW_NAME: [MessageHandler(text, received_new_name)],
            TYPING_BLOC_NAME: [MessageHandler(text, received_bloc_name)],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CommandHandler("units", show_units),
            *_buttons(),
            MessageHandler(~filters.TEXT & ~filters.COMMAND, name_expected),
            common.other_command_leaves(_forget),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [conversation()]
