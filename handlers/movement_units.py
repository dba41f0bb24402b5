"""A grassroots union's side of a movement: /myunit (an official picks one of the open movements
meant for their union) and the union's screen, `mvu:u:<movement id>:<unit id>` (also a button on
an official's movement card, put there by movement_admin.py).

The screen shows the union's collective registration (register for a collective title, change
it, withdraw it; each after a confirmation), "Registered: N / Not yet: M" with pages of the names
of each group, and a button to remind the M who have not registered: each gets a message in their
own language on their own channel (a direct message until the delivery outbox exists), and the
official is told how many were reached.

Everything is buttons (nothing is typed), so there is no conversation to keep. Payloads start
with "mvu:" and carry ids only; models.movement_units checks each again (the official's scope,
the movement meant for the union), so a forged payload is refused with an alert and changes
nothing.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.context import UnionContext
from bot.notify import notify_members
from handlers import common
from models import movement_units as model
from models.access import Actor
from models.base import utcnow
from models.errors import DomainError
from models.movements import Movement, RegistrationStatus, registration_open
from models.org import OrgUnit
from models.outbox import Source

# Movements and unions listed per message; names per page of a group.
MOVEMENTS_PER_PAGE = 8
NAMES_PER_PAGE = 20
# A button shows at most this much of a long movement name.
LABEL_MAX = 60

ID = r"\d{1,12}"
PAGE = r"\d{1,6}"

_STATUS_KEYS = {
    RegistrationStatus.AWAITING_APPROVAL: "movement_units.status_awaiting_approval",
    RegistrationStatus.REGISTERED: "movement_units.status_registered",
    RegistrationStatus.WITHDRAWN: "movement_units.status_withdrawn",
    RegistrationStatus.SUBMITTED: "movement_units.status_submitted",
    RegistrationStatus.ACHIEVED: "movement_units.status_achieved",
    RegistrationStatus.NOT_ACHIEVED: "movement_units.status_not_achieved",
}


# --- rendering -----------------------------------------------------------------------------------


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _title_name(movement: Movement, code: str | None) -> str:
    title = movement.title(code or "")
    return str(title.get("name", code)) if title is not None else (code or "")


def _collective_titles(movement: Movement) -> list[tuple[int, dict]]:  # type: ignore[type-arg]
    """The collective titles with their place in the movement's list (what buttons carry)."""
    return [(i, t) for i, t in enumerate(movement.titles) if t.get("collective")]


async def _show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None,
                *, toast: str | None = None) -> None:
    """Puts a screen in place of the tapped message (a new message after a command)."""
    if update.callback_query is not None:
        await update.callback_query.answer(toast)
    await common.show(update, text, markup)


def _unions_menu(
    context: UnionContext, unions: list[OrgUnit]
) -> tuple[str, InlineKeyboardMarkup]:
    rows = [[(_label(unit.name), f"mvu:l:{unit.id}:0")] for unit in unions]
    return context.t("movement_units.ask_union"), common.keyboard(rows)


async def _movements_menu(
    session: AsyncSession, context: UnionContext, actor: Actor, unit_id: int, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the open movements meant for the union, each a button to its screen."""
    unit = await model.union_of_official(session, actor, unit_id=unit_id)
    offset = page * MOVEMENTS_PER_PAGE
    movements, total = await model.open_movements(
        session, actor, unit=unit, offset=offset, limit=MOVEMENTS_PER_PAGE
    )
    rows: list[list[tuple[str, str]]] = []
    if total == 0:
        text = context.t("movement_units.no_movements", unit=unit.name)
    else:
        lines = [context.t("movement_units.ask_movement", unit=unit.name, count=total), ""]
        for number, movement in enumerate(movements, start=offset + 1):
            lines.append(
                context.t(
                    "movement_units.movement_line",
                    number=number,
                    name=movement.name,
                    deadline=context.local_time(movement.registration_deadline),
                )
            )
            rows.append([(f"{number}. {_label(movement.name)}", f"mvu:u:{movement.id}:{unit.id}")])
        text = "\n".join(lines)
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"mvu:l:{unit.id}:{page - 1}"))
    if offset + MOVEMENTS_PER_PAGE < total:
        pager.append((context.t("common.next"), f"mvu:l:{unit.id}:{page + 1}"))
    if pager:
        rows.append(pager)
    if len(await model.my_unions(session, actor)) > 1:
        rows.append([(context.t("common.back"), "mvu:m")])
    return text, common.keyboard(rows) if rows else None


async def _screen(
    session: AsyncSession, context: UnionContext, actor: Actor, movement_id: int, unit_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The union's screen for one movement: its collective registration, who has registered,
    the reminder."""
    movement, unit = await model.unit_and_movement(
        session, actor, movement_id=movement_id, unit_id=unit_id
    )
    view = await model.unit_view(session, actor, movement=movement, unit=unit)
    now = utcnow()
    is_open = registration_open(movement, now)
    # A reminder went less than a day ago: the next waits (the model would refuse it).
    waiting = view.next_nudge_at is not None and now < view.next_nudge_at
    deadline = context.local_time(movement.registration_deadline)
    lines = [
        context.t("movement_units.screen_title", unit=unit.name, movement=movement.name),
        context.t(
            "movement_units.deadline" if is_open else "movement_units.deadline_passed",
            deadline=deadline,
        ),
        "",
    ]
    collective = view.collective
    titles = _collective_titles(movement)
    registered = collective is not None and collective.status != RegistrationStatus.WITHDRAWN
    if registered:
        assert collective is not None
        lines.append(
            context.t(
                "movement_units.collective_line",
                title=_title_name(movement, collective.title_code),
                status=context.t(_STATUS_KEYS[RegistrationStatus(collective.status)]),
            )
        )
    elif titles:
        lines.append(context.t("movement_units.collective_none"))
    else:
        lines.append(context.t("movement_units.no_collective_title"))
    lines.append(
        context.t(
            "movement_units.counts",
            registered=view.registered,
            not_registered=view.not_registered,
        )
    )
    if view.last_nudged_at is not None and is_open and waiting:
        assert view.next_nudge_at is not None
        lines.append(
            context.t(
                "movement_units.last_nudge_wait",
                when=context.local_time(view.last_nudged_at),
                next=context.local_time(view.next_nudge_at),
            )
        )
    elif view.last_nudged_at is not None:
        lines.append(
            context.t("movement_units.last_nudge", when=context.local_time(view.last_nudged_at))
        )
    ids = f"{movement.id}:{unit.id}"
    rows: list[list[tuple[str, str]]] = []
    if is_open and titles:
        if not registered:
            rows.append([(context.t("movement_units.register_button"), f"mvu:t:{ids}")])
        elif collective is not None and collective.status == RegistrationStatus.REGISTERED:
            if len(titles) > 1:
                rows.append([(context.t("movement_units.change_button"), f"mvu:t:{ids}")])
            rows.append([(context.t("movement_units.withdraw_button"), f"mvu:wa:{ids}")])
    groups = []
    if view.registered:
        groups.append((context.t("movement_units.registered_button", count=view.registered),
                       f"mvu:rn:{ids}:0"))
    if view.not_registered:
        groups.append((context.t("movement_units.not_registered_button",
                                 count=view.not_registered), f"mvu:nn:{ids}:0"))
    if groups:
        rows.append(groups)
    if is_open and view.not_registered and not waiting:
        rows.append([(context.t("movement_units.nudge_button", count=view.not_registered),
                      f"mvu:na:{ids}")])
    rows.append([(context.t("common.back"), f"mvu:l:{unit.id}:0")])
    return "\n".join(lines), common.keyboard(rows)


async def _names(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    movement_id: int,
    unit_id: int,
    *,
    registered: bool,
    page: int,
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of the names of those who have (or have not) registered."""
    movement, unit = await model.unit_and_movement(
        session, actor, movement_id=movement_id, unit_id=unit_id
    )
    shown = await model.unit_names(
        session, actor, movement=movement, unit=unit, registered=registered,
        offset=page * NAMES_PER_PAGE, limit=NAMES_PER_PAGE,
    )
    pages = max(1, -(-shown.total // NAMES_PER_PAGE))
    page = min(page, pages - 1)
    if not shown.rows and shown.total:
        shown = await model.unit_names(
            session, actor, movement=movement, unit=unit, registered=registered,
            offset=page * NAMES_PER_PAGE, limit=NAMES_PER_PAGE,
        )
    key = "movement_units.registered_title" if registered else "movement_units.not_yet_title"
    lines = [
        context.t(key, unit=unit.name, movement=movement.name, count=shown.total),
        context.t("movement_units.page", page=page + 1, pages=pages),
        "",
    ]
    if not shown.rows:
        lines.append(context.t("movement_units.nobody"))
    for number, row in enumerate(shown.rows, start=page * NAMES_PER_PAGE + 1):
        if registered:
            line = context.t(
                "movement_units.name_with_title",
                number=number, name=row.full_name, title=_title_name(movement, row.title_code),
            )
            if row.status == RegistrationStatus.AWAITING_APPROVAL:
                line += " " + context.t("movement_units.awaiting_mark")
        else:
            line = context.t("movement_units.name_line", number=number, name=row.full_name)
            if row.status == RegistrationStatus.WITHDRAWN:
                line += " " + context.t("movement_units.withdrawn_mark")
        lines.append(line)
    group = "rn" if registered else "nn"
    ids = f"{movement.id}:{unit.id}"
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"mvu:{group}:{ids}:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"mvu:{group}:{ids}:{page + 1}"))
    rows = [pager] if pager else []
    rows.append([(context.t("common.back"), f"mvu:u:{ids}")])
    return "\n".join(lines), common.keyboard(rows)


# --- /myunit and the screen ----------------------------------------------------------------------


async def start(update: Update, context: UnionContext) -> None:
    """/myunit: the open movements of the official's union (their unions first, if several)."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            unions = await model.my_unions(session, actor)
            if len(unions) == 1:
                text, markup = await _movements_menu(session, context, actor, unions[0].id, 0)  # type: ignore[arg-type]
            elif unions:
                text, markup = _unions_menu(context, unions)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    if not unions:
        await common.reply(update, context.t("movement_units.no_union"))
        return
    await common.reply(update, text, reply_markup=markup)


async def listed_unions(update: Update, context: UnionContext) -> None:
    """Shows the official's unions again (from a union's list of movements)."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            unions = await model.my_unions(session, actor)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    if not unions:
        await _show(update, context.t("movement_units.no_union"))
        return
    await _show(update, *_unions_menu(context, unions))


async def listed_movements(update: Update, context: UnionContext) -> None:
    """Shows one page of the open movements meant for a union."""
    unit_id, page = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await _movements_menu(session, context, actor, unit_id, page)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    await _show(update, text, markup)


async def opened_screen(update: Update, context: UnionContext) -> None:
    """Shows the union's screen for a movement."""
    movement_id, unit_id = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await _screen(session, context, actor, movement_id, unit_id)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    await _show(update, text, markup)


async def listed_names(update: Update, context: UnionContext) -> None:
    """Shows a page of the names of those who have (rn) or have not (nn) registered."""
    assert update.callback_query is not None and update.callback_query.data is not None
    registered = update.callback_query.data.startswith("mvu:rn:")
    movement_id, unit_id, page = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await _names(
                session, context, actor, movement_id, unit_id, registered=registered, page=page
            )
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    await _show(update, text, markup)


# --- the collective registration ----------------------------------------------------------------


async def asked_title(update: Update, context: UnionContext) -> None:
    """Offers the movement's collective titles (the current one marked)."""
    movement_id, unit_id = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
            view = await model.unit_view(session, actor, movement=movement, unit=unit)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    current = view.collective
    current_code = (
        current.title_code
        if current is not None and current.status != RegistrationStatus.WITHDRAWN
        else None
    )
    ids = f"{movement.id}:{unit.id}"
    rows = [
        [(("✓ " if title.get("code") == current_code else "") + _label(str(title.get("name"))),
          f"mvu:tc:{ids}:{index}")]
        for index, title in _collective_titles(movement)
    ]
    rows.append([(context.t("common.back"), f"mvu:u:{ids}")])
    await _show(
        update,
        context.t("movement_units.ask_title", unit=unit.name, movement=movement.name),
        common.keyboard(rows),
    )


async def chose_title(update: Update, context: UnionContext) -> None:
    """Asks to confirm the registration (or the change) for the chosen collective title."""
    movement_id, unit_id, index = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
            title = model.collective_title(movement, index)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    ids = f"{movement.id}:{unit.id}"
    rows = [
        [(context.t("movement_units.confirm_register_button"), f"mvu:ty:{ids}:{index}")],
        [(context.t("common.back"), f"mvu:t:{ids}")],
    ]
    text = context.t(
        "movement_units.confirm_register",
        unit=unit.name, movement=movement.name, title=str(title.get("name")),
    )
    await _show(update, text, common.keyboard(rows))


async def registered_unit(update: Update, context: UnionContext) -> None:
    """Registers the union for the confirmed title; shows its screen again."""
    movement_id, unit_id, index = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
            title = model.collective_title(movement, index)
            await model.register_collective(
                session, actor, movement=movement, unit=unit,
                title_code=str(title.get("code")), now=utcnow(),
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
        text, markup = await _screen(session, context, actor, movement_id, unit_id)
    toast = context.t("movement_units.registered_toast", title=str(title.get("name")))
    await _show(update, text, markup, toast=toast)


async def asked_withdraw(update: Update, context: UnionContext) -> None:
    """Asks to confirm the withdrawal of the collective registration."""
    movement_id, unit_id = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    ids = f"{movement.id}:{unit.id}"
    rows = [
        [(context.t("movement_units.confirm_withdraw_button"), f"mvu:wy:{ids}")],
        [(context.t("common.back"), f"mvu:u:{ids}")],
    ]
    text = context.t("movement_units.confirm_withdraw", unit=unit.name, movement=movement.name)
    await _show(update, text, common.keyboard(rows))


async def withdrew_unit(update: Update, context: UnionContext) -> None:
    """Withdraws the collective registration; shows the screen again."""
    movement_id, unit_id = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
            await model.withdraw_collective(
                session, actor, movement=movement, unit=unit, now=utcnow()
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
        text, markup = await _screen(session, context, actor, movement_id, unit_id)
    await _show(update, text, markup, toast=context.t("movement_units.withdrawn_toast"))


# --- the reminder --------------------------------------------------------------------------------


async def asked_nudge(update: Update, context: UnionContext) -> None:
    """Asks to confirm the reminder to those who have not registered."""
    movement_id, unit_id = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
            view = await model.unit_view(session, actor, movement=movement, unit=unit)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    ids = f"{movement.id}:{unit.id}"
    rows = [
        [(context.t("movement_units.confirm_nudge_button"), f"mvu:ny:{ids}")],
        [(context.t("common.back"), f"mvu:u:{ids}")],
    ]
    text = context.t(
        "movement_units.confirm_nudge",
        count=view.not_registered, unit=unit.name, movement=movement.name,
    )
    await _show(update, text, common.keyboard(rows))


async def nudged(update: Update, context: UnionContext) -> None:
    """Records the reminder, sends it to each member who has not registered (their language,
    their channel), and tells the official how many it reached."""
    movement_id, unit_id = common.callback_ids(update)
    query = update.callback_query
    assert query is not None
    now = utcnow()
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement, unit = await model.unit_and_movement(
                session, actor, movement_id=movement_id, unit_id=unit_id
            )
            members = await model.nudge_targets(
                session, actor, movement=movement, unit=unit, now=now
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        # One batch, saved with the record of the reminder; the nudge's time names the event.
        reached = await notify_members(
            context.services, session, members, "movement_units.nudge_message",
            about=Source("movement", movement.id), event=f"nudge:u{unit.id}:{now:%Y%m%d%H%M%S%f}",
            unit=unit.name, movement=movement.name,
            deadline=context.local_time(movement.registration_deadline),
        )
        await session.commit()
    context.services.wake_up()
    await query.answer()
    # The question is answered: its buttons go, so one tap sends one reminder.
    await common.show(
        update, context.t("movement_units.nudging", count=len(members), unit=unit.name)
    )
    rows = [[(context.t("movement_units.back_to_screen"), f"mvu:u:{movement.id}:{unit.id}")]]
    await common.reply(
        update,
        context.t("movement_units.nudged", reached=reached, unreached=len(members) - reached),
        reply_markup=common.keyboard(rows),
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        CommandHandler("myunit", start),
        CallbackQueryHandler(listed_unions, pattern=r"^mvu:m$"),
        CallbackQueryHandler(listed_movements, pattern=rf"^mvu:l:{ID}:{PAGE}$"),
        CallbackQueryHandler(opened_screen, pattern=rf"^mvu:u:{ID}:{ID}$"),
        CallbackQueryHandler(listed_names, pattern=rf"^mvu:(rn|nn):{ID}:{ID}:{PAGE}$"),
        CallbackQueryHandler(asked_title, pattern=rf"^mvu:t:{ID}:{ID}$"),
        CallbackQueryHandler(chose_title, pattern=rf"^mvu:tc:{ID}:{ID}:\d{{1,3}}$"),
        CallbackQueryHandler(registered_unit, pattern=rf"^mvu:ty:{ID}:{ID}:\d{{1,3}}$"),
        CallbackQueryHandler(asked_withdraw, pattern=rf"^mvu:wa:{ID}:{ID}$"),
        CallbackQueryHandler(withdrew_unit, pattern=rf"^mvu:wy:{ID}:{ID}$"),
        CallbackQueryHandler(asked_nudge, pattern=rf"^mvu:na:{ID}:{ID}$"),
        CallbackQueryHandler(nudged, pattern=rf"^mvu:ny:{ID}:{ID}$"),
    ]
