"""/newmovement and /movement: federation officials create emulation movements from the chat
and run them (edit a field, open, close, archive, copy as next year's template).

/newmovement asks in turn: name, description, criteria (one per line), titles (the standard
ones toggled by buttons, others typed), who it is for (the whole scope, units chosen by
browsing, or emulation blocs), the registration deadline, the self-assessment window and
whether officials approve registrations; then shows the movement as members will see it, to
create as a draft, create and open, edit a field, or cancel. "From a previous movement" copies
one the official runs and asks only the new dates. The answers wait in user_data (persisted),
so a restart resumes at the question.

/movement lists the movements the official runs; each opens a management card. Its Registrants,
Export, Results and Statistics buttons ("mvr:…") belong to handlers/movement_reports.py, and
"My union" ("mvu:…") to handlers/movement_units.py. /movement stats lists the same movements
with a Statistics button each.

Callback payloads start with "mva:" and carry only ids; every tap asks models.movement_admin
(which asks models.access: RUN_MOVEMENT on the movement's owner unit) again, so a forged id of
another district's movement is refused, logged, and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
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
from handlers import reminders as reminder_screens
from models import movement_admin as admin
from models.access import Actor, require_official
from models.base import fold, utcnow
from models.errors import DomainError, InvalidInput, NotFound
from models.movements import Movement, MovementStatus, school_year_of
from models.org import OrgUnit
from models.units import browse, roots_for

log = logging.getLogger(__name__)

# What the bot is waiting for.
CHOOSING_OWNER = "choosing_owner"
TYPING_NAME = "typing_name"
CHOOSING_TEMPLATE = "choosing_template"
TYPING_DESCRIPTION = "typing_description"
TYPING_CRITERIA = "typing_criteria"
CHOOSING_TITLES = "choosing_titles"
CHOOSING_TARGET = "choosing_target"
TYPING_DEADLINE = "typing_deadline"
TYPING_WINDOW = "typing_window"
CHOOSING_APPROVAL = "choosing_approval"
CONFIRMING = "confirming"

END = ConversationHandler.END
CONVERSATION = "movement_admin"
# The movement being written (or the field being edited): in user_data, persisted.
DRAFT = "movement_admin_draft"
PER_PAGE = 8
# Telegram takes 4,096 characters; longer cards are shown with shortened texts.
CARD_MAX_CHARS = 3900
UNITS_NAMED = 10

ID = r"\d{1,12}"
PAGE = r"\d{1,6}"
INDEX = r"\d{1,2}"

# The questions, in the order /newmovement asks them.
FIELDS = ("name", "desc", "crit", "titles", "target", "deadline", "window", "approval")
FIELD_PATTERN = "|".join(FIELDS)
FIELD_STATES = {
    "name": TYPING_NAME,
    "desc": TYPING_DESCRIPTION,
    "crit": TYPING_CRITERIA,
    "titles": CHOOSING_TITLES,
    "target": CHOOSING_TARGET,
    "deadline": TYPING_DEADLINE,
    "window": TYPING_WINDOW,
    "approval": CHOOSING_APPROVAL,
}
FIELD_LABELS = {
    "name": "movement_admin.field_name",
    "desc": "movement_admin.field_desc",
    "crit": "movement_admin.field_crit",
    "titles": "movement_admin.field_titles",
    "target": "movement_admin.field_target",
    "deadline": "movement_admin.field_deadline",
    "window": "movement_admin.field_window",
    "approval": "movement_admin.field_approval",
}
QUESTIONS = {
    "name": "movement_admin.ask_name",
    "desc": "movement_admin.ask_description",
    "crit": "movement_admin.ask_criteria",
    "deadline": "movement_admin.ask_deadline",
    "window": "movement_admin.ask_window",
}
STATUS_LABELS = {
    MovementStatus.DRAFT: "movement_admin.status_draft",
    MovementStatus.OPEN: "movement_admin.status_open",
    MovementStatus.CLOSED: "movement_admin.status_closed",
    MovementStatus.ARCHIVED: "movement_admin.status_archived",
}
STATUS_ICONS = {
    MovementStatus.DRAFT: "📝",
    MovementStatus.OPEN: "🟢",
    MovementStatus.CLOSED: "🔒",
    MovementStatus.ARCHIVED: "🗄",
}
# The management card's moves: payload letter → (status reached, button, question, notice).
MOVES = {
    "o": (MovementStatus.OPEN, "movement_admin.open", "movement_admin.confirm_open",
          "movement_admin.opened"),
    "c": (MovementStatus.CLOSED, "movement_admin.close", "movement_admin.confirm_close",
          "movement_admin.closed"),
    "a": (MovementStatus.ARCHIVED, "movement_admin.archive", "movement_admin.confirm_archive",
          "movement_admin.archived"),
}
NEXT_MOVE = {MovementStatus.DRAFT: "o", MovementStatus.OPEN: "c", MovementStatus.CLOSED: "a"}

State = str | int
Screen = tuple[str, InlineKeyboardMarkup]


# --- the draft -----------------------------------------------------------------------------------


def _draft(context: UnionContext) -> dict[str, Any]:
    """The answers so far (the same dict as in user_data: changes to it are kept)."""
    draft = (context.user_data or {}).get(DRAFT)
    if not draft:
        raise NotFound("mva_draft_gone")
    return draft  # type: ignore[no-any-return]


def _start(context: UnionContext, **draft: Any) -> dict[str, Any]:
    context.user_data[DRAFT] = draft  # type: ignore[index]
    return context.user_data[DRAFT]  # type: ignore[index,no-any-return]


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _draft_of(movement: Movement, targets: admin.Targets, owner: OrgUnit) -> dict[str, Any]:
    """A movement's fields as a draft's answers ("whole scope" when it targets its owner)."""
    whole = targets.everyone or (
        [u.id for u in targets.units] == [owner.id] and not targets.blocs
    )
    return {
        "owner": owner.id,
        "name": movement.name,
        "desc": movement.description,
        "crit": list(movement.criteria),
        "titles": [dict(t) for t in movement.titles],
        "everyone": whole,
        "units": [] if whole else [u.id for u in targets.units],
        "blocs": [] if whole else [b.id for b in targets.blocs],
        "deadline": movement.registration_deadline.isoformat(),
        "opens": movement.assessment_opens.isoformat(),
        "closes": movement.assessment_closes.isoformat(),
        "approval": movement.requires_approval,
    }


# --- small helpers -------------------------------------------------------------------------------


async def _official(session: AsyncSession, context: UnionContext, update: Update) -> Actor:
    actor = await context.actor(session, update)
    require_official(actor)
    return actor


async def _checked(
    session: AsyncSession, actor: Actor, draft: dict[str, Any]
) -> tuple[OrgUnit, Movement | None]:
    """The draft's owner unit (and the movement being edited), the actor allowed again."""
    if draft.get("mode") == "edit":
        movement = await admin.movement_to_run(session, actor, movement_id=int(draft["movement"]))
        admin.ensure_editable(movement)
        return await admin.owner_of(session, movement), movement
    return await admin.runnable_owner(session, actor, unit_id=int(draft["owner"])), None


def _pager(
    context: UnionContext, page: int, total: int, data: Callable[[int], str]
) -> list[list[tuple[str, str]]]:
    buttons = []
    if page > 0:
        buttons.append((context.t("common.previous"), data(page - 1)))
    if (page + 1) * PER_PAGE < total:
        buttons.append((context.t("common.next"), data(page + 1)))
    return [buttons] if buttons else []


def _back(context: UnionContext, draft: dict[str, Any]) -> tuple[str, str]:
    """Where leaving a question leads: the card of the movement being edited, the summary
    when a field of the new movement is being changed, else cancelling it."""
    if draft.get("mode") == "edit":
        return context.t("common.back"), f"mva:m:{draft['movement']}"
    if draft.get("review"):
        return context.t("common.back"), "mva:sum"
    return context.t("common.cancel"), "mva:x"


Step = Callable[[Update, UnionContext, AsyncSession, Actor, list[str]], Awaitable[State]]


def _tap(step: Step) -> Callable[[Update, UnionContext], Awaitable[State | None]]:
    return common.official_tap(step)


async def _put(
    update: Update, context: UnionContext, state: State, screen: Screen
) -> State:
    """Shows a screen (in place of a tapped message, else anew), its state stored first."""
    if state != END:
        await context.remember_state(CONVERSATION, update, state)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, screen[0], screen[1])
    return state


# --- what members will see -----------------------------------------------------------------------


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _preview(context: UnionContext, draft: dict[str, Any], *, short: bool = False) -> list[str]:
    """The movement's card as members see it: name, purpose, criteria, titles, dates."""
    description = str(draft.get("desc") or "")
    criteria = [str(c) for c in draft.get("crit") or []]
    titles = list(draft.get("titles") or [])
    if short:
        description = _fit(description, 300)
        criteria = [_fit(c, 80) for c in criteria]
        titles = [{**t, "name": _fit(str(t["name"]), 60)} for t in titles]
    lines = [context.t("movement_admin.preview_name", name=draft["name"])]
    if description:
        lines += ["", context.t("movement_admin.preview_description", description=description)]
    lines += ["", context.t("movement_admin.preview_criteria")]
    lines += [
        context.t("movement_admin.criterion_line", number=number, text=text)
        for number, text in enumerate(criteria, start=1)
    ]
    lines += ["", context.t("movement_admin.preview_titles")]
    lines += [
        context.t(
            "movement_admin.title_line_collective" if t.get("collective")
            else "movement_admin.title_line",
            name=t["name"],
        )
        for t in titles
    ]
    deadline, opens, closes = (_moment(draft.get(k)) for k in ("deadline", "opens", "closes"))
    lines.append("")
    if deadline is not None:
        lines.append(context.t(
            "movement_admin.preview_deadline", deadline=context.local_time(deadline)
        ))
    if opens is not None and closes is not None:
        lines.append(context.t(
            "movement_admin.preview_window",
            opens=context.local_time(opens), closes=context.local_time(closes),
        ))
    return lines


def _target_lines(
    context: UnionContext,
    actor: Actor,
    owner: OrgUnit,
    *,
    everyone: bool,
    units: list[OrgUnit],
    blocs: list[Any],
    literal_everyone: bool | None = None,
) -> list[str]:
    """Who the movement is for, in words."""
    if literal_everyone is None:
        literal_everyone = everyone and actor.is_admin
    if literal_everyone:
        return [context.t("movement_admin.for_everyone")]
    if everyone or ([u.id for u in units] == [owner.id] and not blocs):
        return [context.t("movement_admin.for_whole", unit=owner.name)]
    lines = []
    if units:
        names = ", ".join(u.name for u in units[:UNITS_NAMED])
        lines.append(context.t("movement_admin.for_units", units=names))
        if len(units) > UNITS_NAMED:
            lines.append(context.t("movement_admin.and_more", count=len(units) - UNITS_NAMED))
    if blocs:
        lines.append(context.t("movement_admin.for_blocs", blocs=", ".join(b.name for b in blocs)))
    return lines


async def _summary_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any]
) -> Screen:
    """The new movement as members will see it, what only officials see, and the choices."""
    owner, _ = await _checked(session, actor, draft)
    units = await admin.units_by_ids(session, draft.get("units") or [])
    blocs = await admin.blocs_by_ids(session, draft.get("blocs") or [])
    extra = [context.t("movement_admin.summary_owner", unit=owner.name)]
    extra += _target_lines(
        context, actor, owner, everyone=bool(draft.get("everyone")), units=units, blocs=blocs
    )
    extra.append(context.t(
        "movement_admin.approval_yes" if draft.get("approval") else "movement_admin.approval_no"
    ))
    deadline = _moment(draft.get("deadline"))
    if deadline is not None:
        year = school_year_of(deadline, context.services.settings.tz)
        extra.append(context.t("movement_admin.school_year", school_year=year))
    if draft.get("template_name"):
        extra.append(context.t("movement_admin.copied_from", name=draft["template_name"]))
    text = ""
    for short in (False, True):
        lines = [context.t("movement_admin.summary_intro"), ""]
        lines += _preview(context, draft, short=short)
        lines += ["", context.t("movement_admin.summary_officials"), *extra]
        text = "\n".join(lines)
        if len(text) <= CARD_MAX_CHARS:
            break
    rows = [
        [(context.t("movement_admin.create_draft"), "mva:mk:0")],
        [(context.t("movement_admin.create_open"), "mva:mk:1")],
        [(context.t("movement_admin.edit_field"), "mva:ed")],
        [(context.t("common.cancel"), "mva:x")],
    ]
    return text, common.keyboard(rows)


# --- the questions -------------------------------------------------------------------------------


async def _titles_screen(context: UnionContext, draft: dict[str, Any]) -> Screen:
    """The standard titles, ticked when chosen; the typed ones, with a tap to remove them."""
    titles = draft.setdefault("titles", [])
    chosen = {t.get("code") for t in titles if t.get("code")}
    collective = context.t("movement_admin.collective_mark")
    rows = []
    for index, title in enumerate(admin.STANDARD_TITLES):
        mark = "✅" if title["code"] in chosen else "▫️"
        label = f"{mark} {title['name']}" + (f" {collective}" if title["collective"] else "")
        rows.append([(label, f"mva:t:{index}")])
    standard = {t["code"] for t in admin.STANDARD_TITLES}
    for index, title in enumerate(titles):
        if title.get("code") in standard:
            continue
        label = f"❌ {title['name']}" + (f" {collective}" if title.get("collective") else "")
        rows.append([(label, f"mva:tc:{index}")])
    rows.append([(context.t("movement_admin.done", count=len(titles)), "mva:td")])
    rows.append([_back(context, draft)])
    return context.t("movement_admin.ask_titles", count=len(titles)), common.keyboard(rows)


async def _target_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any]
) -> Screen:
    """The three ways to say who the movement is for."""
    owner, _ = await _checked(session, actor, draft)
    if actor.is_admin:
        whole = context.t("movement_admin.target_everyone")
    else:
        whole = f"{context.t('movement_admin.target_whole')} {owner.name}"
    rows = [[(whole, "mva:ga")]]
    if not owner.is_grassroots:
        rows.append([(context.t("movement_admin.target_units"), f"mva:gu:{owner.id}:0")])
    if await admin.blocs_for(session, actor, owner=owner):
        rows.append([(context.t("movement_admin.target_blocs"), "mva:gb:0")])
    rows.append([_back(context, draft)])
    return context.t("movement_admin.ask_target", unit=owner.name), common.keyboard(rows)


async def _units_screen(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    draft: dict[str, Any],
    level_id: int,
    page: int,
) -> Screen:
    """One level of the owner's subtree: schools ticked by a tap, groups opened by a tap (and,
    inside one, the whole group ticked by the first button)."""
    owner, _ = await _checked(session, actor, draft)
    level = (await admin.units_by_ids(session, [level_id]) or [None])[0]
    if level is None or not level.is_active or not owner.contains(level):
        raise NotFound("unit_unavailable")
    children, total = await browse(
        session, actor=actor, level=level, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not children:
        raise NotFound("unit_unavailable")
    chosen = set(draft.setdefault("units", []))
    rows = []
    if level.id != owner.id:
        mark = "✅" if level.id in chosen else "▫️"
        label = f"{mark} {context.t('movement_admin.whole_level')} {level.name}"
        rows.append([(label, f"mva:tu:{level.id}:{level.id}:{page}")])
    for child in children:
        mark = "✅" if child.id in chosen else "▫️"
        if child.is_grassroots:
            rows.append([(f"{mark} 🏫 {child.name}", f"mva:tu:{child.id}:{level.id}:{page}")])
        else:
            rows.append([(f"{mark} 📂 {child.name}", f"mva:gu:{child.id}:0")])
    rows += _pager(context, page, total, lambda p: f"mva:gu:{level.id}:{p}")
    if level.id != owner.id and level.parent_id is not None:
        rows.append([(context.t("common.up"), f"mva:gu:{level.parent_id}:0")])
    rows.append([(context.t("movement_admin.done", count=len(chosen)), "mva:gd")])
    rows.append([(context.t("common.back"), "mva:g")])
    text = context.t("movement_admin.choose_units_in", unit=level.name, count=len(chosen))
    return text, common.keyboard(rows)


async def _blocs_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, draft: dict[str, Any], page: int
) -> Screen:
    """The blocs the movement may target, ticked by a tap."""
    owner, _ = await _checked(session, actor, draft)
    blocs = await admin.blocs_for(session, actor, owner=owner)
    shown = blocs[page * PER_PAGE : (page + 1) * PER_PAGE]
    if page > 0 and not shown:
        raise NotFound("mva_bloc_unknown")
    chosen = set(draft.setdefault("blocs", []))
    rows = [
        [(f"{'✅' if bloc.id in chosen else '▫️'} {bloc.name}", f"mva:tb:{bloc.id}:{page}")]
        for bloc in shown
    ]
    rows += _pager(context, page, len(blocs), lambda p: f"mva:gb:{p}")
    rows.append([(context.t("movement_admin.done", count=len(chosen)), "mva:gd")])
    rows.append([(context.t("common.back"), "mva:g")])
    return context.t("movement_admin.choose_blocs", count=len(chosen)), common.keyboard(rows)


async def _question(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    draft: dict[str, Any],
    field: str,
) -> Screen:
    """The question of `field`, with its buttons."""
    if field == "titles":
        return await _titles_screen(context, draft)
    if field == "target":
        return await _target_screen(session, context, actor, draft)
    if field == "approval":
        rows = [
            [(context.t("movement_admin.yes"), "mva:ap:1"),
             (context.t("movement_admin.no"), "mva:ap:0")],
            [_back(context, draft)],
        ]
        return context.t("movement_admin.ask_approval"), common.keyboard(rows)
    rows = []
    if field == "name" and draft.get("mode") == "new" and not draft.get("review"):
        _, total = await admin.movements_run_by(session, actor, limit=1)
        if total:
            rows.append([(context.t("movement_admin.from_previous"), "mva:tp:0")])
    rows.append([_back(context, draft)])
    text = context.t(QUESTIONS[field])
    if field in ("deadline", "window") and draft.get("template_name") and not draft.get("review"):
        text = f"{context.t('movement_admin.copying', name=draft['template_name'])}\n\n{text}"
    return text, common.keyboard(rows)


async def _ask(
    update: Update,
    context: UnionContext,
    session: AsyncSession,
    actor: Actor,
    draft: dict[str, Any],
    field: str,
) -> State:
    return await _put(
        update, context, FIELD_STATES[field],
        await _question(session, context, actor, draft, field),
    )


def _changes(draft: dict[str, Any], field: str) -> dict[str, Any]:
    """The update_movement arguments of one edited field."""
    if field == "target":
        return {
            "target_everyone": bool(draft.get("everyone")),
            "target_unit_ids": list(draft.get("units") or []),
            "target_bloc_ids": list(draft.get("blocs") or []),
        }
    if field == "window":
        return {
            "assessment_opens": _moment(draft["opens"]),
            "assessment_closes": _moment(draft["closes"]),
        }
    name, key = {
        "name": ("name", "name"),
        "desc": ("description", "desc"),
        "crit": ("criteria", "crit"),
        "titles": ("titles", "titles"),
        "deadline": ("registration_deadline", "deadline"),
        "approval": ("requires_approval", "approval"),
    }[field]
    value = draft[key]
    return {name: _moment(value) if field == "deadline" else value}


async def _answered(
    update: Update,
    context: UnionContext,
    session: AsyncSession,
    actor: Actor,
    draft: dict[str, Any],
    field: str,
) -> State:
    """After an answer: an edited movement is saved and its card shown; a new one goes on to
    the next question (only the dates for a copy), or back to the summary."""
    if draft.get("mode") == "edit":
        _, movement = await _checked(session, actor, draft)
        assert movement is not None
        await admin.update_movement(
            session, actor, movement=movement, now=utcnow(), tz=context.services.settings.tz,
            **_changes(draft, field),
        )
        await session.commit()
        _forget(context)
        notice = context.t("movement_admin.saved")
        return await _put(
            update, context, END, await _card_screen(session, context, actor, movement, notice)
        )
    following: str | None = None
    if not draft.get("review") and field != "approval":
        following = FIELDS[FIELDS.index(field) + 1]
        if draft.get("template"):
            following = "window" if field == "deadline" else None
    if field == "deadline" and not draft.get("opens"):
        following = "window"
    if following is not None:
        return await _ask(update, context, session, actor, draft, following)
    draft["review"] = True
    return await _put(
        update, context, CONFIRMING, await _summary_screen(session, context, actor, draft)
    )


# --- /newmovement --------------------------------------------------------------------------------


async def new_movement(update: Update, context: UnionContext) -> State:
    """Starts a movement: asks which unit runs it when the official has several, else its
    name."""
    _forget(context)
    async with context.session() as session:
        try:
            actor = await _official(session, context, update)
            roots = await roots_for(session, actor=actor)
            if not roots:
                raise NotFound("unit_unavailable")
            if len(roots) > 1:
                rows = [[(unit.name, f"mva:ow:{unit.id}")] for unit in roots[:20]]
                rows.append([(context.t("common.cancel"), "mva:x")])
                text = context.t("movement_admin.ask_owner")
                return await _put(update, context, CHOOSING_OWNER, (text, common.keyboard(rows)))
            draft = _start(context, mode="new", owner=roots[0].id)
            return await _ask(update, context, session, actor, draft, "name")
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END


@_tap
async def chose_owner(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Stores the unit that runs the new movement; asks its name."""
    owner = await admin.runnable_owner(session, actor, unit_id=int(parts[0]))
    draft = _start(context, mode="new", owner=owner.id)
    return await _ask(update, context, session, actor, draft, "name")


@_tap
async def asked_name(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Back from the templates to the name question."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    return await _ask(update, context, session, actor, draft, "name")


@_tap
async def listed_templates(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows the movements the official runs, to copy one."""
    page = int(parts[0])
    movements, total = await admin.movements_run_by(
        session, actor, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not movements:
        raise NotFound("mva_unknown")
    rows = [[(_movement_label(m), f"mva:tpl:{m.id}")] for m in movements]
    rows += _pager(context, page, total, lambda p: f"mva:tp:{p}")
    if (context.user_data or {}).get(DRAFT):
        rows.append([(context.t("common.back"), "mva:nm")])
    else:
        rows.append([(context.t("common.cancel"), "mva:x")])
    text = context.t("movement_admin.ask_template")
    return await _put(update, context, CHOOSING_TEMPLATE, (text, common.keyboard(rows)))


@_tap
async def chose_template(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Copies the chosen movement into a new draft; asks only the new dates."""
    template = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    owner = await admin.owner_of(session, template)
    targets = await admin.movement_targets(session, template)
    draft = _start(
        context, mode="new", template=template.id, template_name=template.name,
        **_draft_of(template, targets, owner),
    )
    for date in ("deadline", "opens", "closes"):
        del draft[date]  # all new
    return await _ask(update, context, session, actor, draft, "deadline")


async def _typed(
    update: Update,
    context: UnionContext,
    field: str,
    apply: Callable[[dict[str, Any], str], None],
) -> State:
    """Stores a typed answer (checked by `apply`, which raises before changing anything) and
    goes on; an answer that cannot be used is explained and the question asked again."""
    text = update.effective_message.text if update.effective_message else ""
    async with context.session() as session:
        try:
            draft = _draft(context)
            actor = await _official(session, context, update)
            await _checked(session, actor, draft)
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            _forget(context)
            return END
        try:
            apply(draft, text or "")
            return await _answered(update, context, session, actor, draft, field)
        except InvalidInput as error:
            await session.rollback()
            reason = context.t(f"error.{error.code}", **error.params)
            question, markup = await _question(session, context, actor, draft, field)
            await context.remember_state(CONVERSATION, update, FIELD_STATES[field])
            await common.reply(update, f"{reason}\n\n{question}", reply_markup=markup)
            return FIELD_STATES[field]
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            _forget(context)
            return END


async def received_name(update: Update, context: UnionContext) -> State:
    """Stores the name; asks the description."""

    def apply(draft: dict[str, Any], text: str) -> None:
        draft["name"] = admin.clean_name(text)

    return await _typed(update, context, "name", apply)


async def received_description(update: Update, context: UnionContext) -> State:
    """Stores the description; asks the criteria."""

    def apply(draft: dict[str, Any], text: str) -> None:
        draft["desc"] = admin.clean_description(text)

    return await _typed(update, context, "desc", apply)


async def received_criteria(update: Update, context: UnionContext) -> State:
    """Stores the criteria, one per line; asks the titles."""

    def apply(draft: dict[str, Any], text: str) -> None:
        draft["crit"] = admin.clean_criteria(admin.parse_criteria(text))

    return await _typed(update, context, "crit", apply)


async def received_deadline(update: Update, context: UnionContext) -> State:
    """Stores the registration deadline (local time); asks the self-assessment window."""
    tz = context.services.settings.tz

    def apply(draft: dict[str, Any], text: str) -> None:
        deadline = admin.parse_local_datetime(text, tz, end_of_day=True)
        admin.check_deadline_ahead(deadline, utcnow())
        opens, closes = _moment(draft.get("opens")), _moment(draft.get("closes"))
        if opens is not None and closes is not None:
            try:
                admin.check_dates(deadline, opens, closes)
            except InvalidInput:
                if draft.get("mode") == "edit":
                    raise
                # A new movement's window that no longer fits is asked again next.
                draft.pop("opens", None)
                draft.pop("closes", None)
        draft["deadline"] = deadline.isoformat()

    return await _typed(update, context, "deadline", apply)


async def received_window(update: Update, context: UnionContext) -> State:
    """Stores the self-assessment window; asks whether registrations need approval."""
    tz = context.services.settings.tz

    def apply(draft: dict[str, Any], text: str) -> None:
        opens, closes = admin.parse_window(text, tz)
        deadline = _moment(draft.get("deadline"))
        if deadline is not None:
            admin.check_dates(deadline, opens, closes)
        draft["opens"], draft["closes"] = opens.isoformat(), closes.isoformat()

    return await _typed(update, context, "window", apply)


async def received_title(update: Update, context: UnionContext) -> State:
    """Adds a typed title ("… (tập thể)" for a collective one); shows the titles again."""
    text = update.effective_message.text if update.effective_message else ""
    async with context.session() as session:
        try:
            draft = _draft(context)
            actor = await _official(session, context, update)
            await _checked(session, actor, draft)
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            _forget(context)
            return END
    titles = draft.setdefault("titles", [])
    notice = None
    try:
        title = admin.parse_title(text)
        title = admin.standard_title(title["name"]) or title
        if any(fold(t["name"]) == fold(title["name"]) for t in titles):
            raise InvalidInput("mva_title_repeated", name=title["name"])
        if len(titles) >= admin.TITLES_MAX:
            raise InvalidInput("mva_titles_count", max=admin.TITLES_MAX)
        titles.append(title)
    except InvalidInput as error:
        notice = context.t(f"error.{error.code}", **error.params)
    question, markup = await _titles_screen(context, draft)
    await context.remember_state(CONVERSATION, update, CHOOSING_TITLES)
    await common.reply(update, f"{notice}\n\n{question}" if notice else question,
                       reply_markup=markup)
    return CHOOSING_TITLES


@_tap
async def toggled_title(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Chooses a standard title, or drops it; shows the titles again."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    index = int(parts[0])
    if index >= len(admin.STANDARD_TITLES):
        raise NotFound("mva_draft_gone")
    standard = admin.STANDARD_TITLES[index]
    titles = draft.setdefault("titles", [])
    kept = [t for t in titles if t.get("code") != standard["code"]]
    if len(kept) == len(titles):
        if len(titles) >= admin.TITLES_MAX:
            raise InvalidInput("mva_titles_count", max=admin.TITLES_MAX)
        kept = [t for t in titles if fold(t["name"]) != fold(standard["name"])]
        kept.append(dict(standard))
    draft["titles"] = kept
    return await _put(update, context, CHOOSING_TITLES, await _titles_screen(context, draft))


@_tap
async def removed_title(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Drops a typed title; shows the titles again."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    titles = draft.setdefault("titles", [])
    index = int(parts[0])
    if index >= len(titles):
        raise NotFound("mva_draft_gone")
    del titles[index]
    return await _put(update, context, CHOOSING_TITLES, await _titles_screen(context, draft))


@_tap
async def titles_done(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Checks the titles chosen; asks who the movement is for."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    admin.clean_titles(draft.get("titles") or [])
    return await _answered(update, context, session, actor, draft, "titles")


@_tap
async def showed_target(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Back to the three ways to choose who the movement is for."""
    draft = _draft(context)
    return await _put(
        update, context, CHOOSING_TARGET, await _target_screen(session, context, actor, draft)
    )


@_tap
async def chose_whole_scope(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """The movement is for the whole scope (everyone, for administrators)."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    draft.update(everyone=True, units=[], blocs=[])
    return await _answered(update, context, session, actor, draft, "target")


@_tap
async def browsed_units(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows a level of the owner's subtree to choose units."""
    draft = _draft(context)
    screen = await _units_screen(session, context, actor, draft, int(parts[0]), int(parts[1]))
    return await _put(update, context, CHOOSING_TARGET, screen)


@_tap
async def toggled_unit(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Chooses a unit (with its subtree), or drops it; shows the level again."""
    draft = _draft(context)
    owner, _ = await _checked(session, actor, draft)
    unit_id = int(parts[0])
    chosen = draft.setdefault("units", [])
    if unit_id in chosen:
        chosen.remove(unit_id)
    else:
        unit = (await admin.units_by_ids(session, [unit_id]) or [None])[0]
        if unit is None:
            raise NotFound("unit_unavailable")
        await admin.check_target_unit(session, actor, owner=owner, unit=unit)
        chosen.append(unit_id)
    screen = await _units_screen(session, context, actor, draft, int(parts[1]), int(parts[2]))
    return await _put(update, context, CHOOSING_TARGET, screen)


@_tap
async def browsed_blocs(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows the blocs the movement may target."""
    draft = _draft(context)
    screen = await _blocs_screen(session, context, actor, draft, int(parts[0]))
    return await _put(update, context, CHOOSING_TARGET, screen)


@_tap
async def toggled_bloc(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Chooses a bloc, or drops it; shows the blocs again."""
    draft = _draft(context)
    owner, _ = await _checked(session, actor, draft)
    bloc_id = int(parts[0])
    chosen = draft.setdefault("blocs", [])
    if bloc_id in chosen:
        chosen.remove(bloc_id)
    else:
        bloc = (await admin.blocs_by_ids(session, [bloc_id]) or [None])[0]
        if bloc is None:
            raise NotFound("mva_bloc_unknown")
        await admin.check_target_bloc(session, actor, owner=owner, bloc=bloc)
        chosen.append(bloc_id)
    screen = await _blocs_screen(session, context, actor, draft, int(parts[1]))
    return await _put(update, context, CHOOSING_TARGET, screen)


@_tap
async def target_done(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """The movement is for the units and blocs chosen; asks the deadline."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    if not draft.get("units") and not draft.get("blocs"):
        raise InvalidInput("mva_no_target")
    draft["everyone"] = False
    return await _answered(update, context, session, actor, draft, "target")


@_tap
async def chose_approval(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Stores whether officials approve registrations; shows the summary."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    draft["approval"] = parts[0] == "1"
    return await _answered(update, context, session, actor, draft, "approval")


@_tap
async def showed_summary(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Back to the summary of the new movement."""
    draft = _draft(context)
    return await _put(
        update, context, CONFIRMING, await _summary_screen(session, context, actor, draft)
    )


def _fields_screen(
    context: UnionContext, data: Callable[[str], str], back: str,
    extra: list[list[tuple[str, str]]] | None = None,
) -> Screen:
    rows = [[(context.t(FIELD_LABELS[field]), data(field))] for field in FIELDS]
    rows += extra or []
    rows.append([(context.t("common.back"), back)])
    return context.t("movement_admin.which_field"), common.keyboard(rows)


@_tap
async def listed_fields(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks which answer of the new movement to change."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    screen = _fields_screen(context, lambda field: f"mva:ef:{field}", "mva:sum")
    return await _put(update, context, CONFIRMING, screen)


@_tap
async def chose_field(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks that question again; the answer leads back to the summary."""
    draft = _draft(context)
    await _checked(session, actor, draft)
    draft["review"] = True
    return await _ask(update, context, session, actor, draft, parts[0])


@_tap
async def created(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Creates the movement as a draft (and opens it, if asked); shows its card."""
    draft = _draft(context)
    owner, _ = await _checked(session, actor, draft)
    template = None
    if draft.get("template"):
        template = await admin.movement_to_run(session, actor, movement_id=int(draft["template"]))
    now = utcnow()
    movement = await admin.create_movement(
        session,
        actor,
        owner_unit=owner,
        name=draft["name"],
        description=draft.get("desc") or "",
        criteria=list(draft["crit"]),
        titles=list(draft["titles"]),
        target_everyone=bool(draft.get("everyone")),
        target_unit_ids=list(draft.get("units") or []),
        target_bloc_ids=list(draft.get("blocs") or []),
        registration_deadline=_moment(draft["deadline"]),  # type: ignore[arg-type]
        assessment_opens=_moment(draft["opens"]),  # type: ignore[arg-type]
        assessment_closes=_moment(draft["closes"]),  # type: ignore[arg-type]
        requires_approval=bool(draft.get("approval")),
        now=now,
        tz=context.services.settings.tz,
        copied_from=template,
    )
    opening = parts[0] == "1"
    if opening:
        await admin.open_movement(session, actor, movement=movement, now=now)
    await session.commit()
    _forget(context)
    notice = context.t("movement_admin.created_open" if opening else "movement_admin.created")
    return await _put(
        update, context, END, await _card_screen(session, context, actor, movement, notice)
    )


@_tap
async def cancelled(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Drops the movement being written."""
    _forget(context)
    return await _put(update, context, END, (context.t("movement_admin.cancelled"), None))  # type: ignore[arg-type]


# --- /movement -----------------------------------------------------------------------------------


def _movement_label(movement: Movement) -> str:
    icon = STATUS_ICONS.get(MovementStatus(movement.status), "")
    return f"{icon} {movement.name} · {movement.school_year}"


async def _list_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, page: int, *, stats: bool
) -> Screen:
    """One page of the movements the official runs: each opens its card (or, for statistics,
    the statistics of movement_reports)."""
    movements, total = await admin.movements_run_by(
        session, actor, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not movements:
        raise NotFound("mva_unknown")
    if stats:
        rows = [[(f"📊 {m.name} · {m.school_year}", f"mvr:st:{m.id}")] for m in movements]
        rows += _pager(context, page, total, lambda p: f"mva:ls:{p}")
        key = "movement_admin.stats_list" if total else "movement_admin.none"
    else:
        rows = [[(_movement_label(m), f"mva:m:{m.id}")] for m in movements]
        rows += _pager(context, page, total, lambda p: f"mva:l:{p}")
        key = "movement_admin.list" if total else "movement_admin.none"
    return context.t(key, count=total), common.keyboard(rows)


async def show_movements(update: Update, context: UnionContext) -> State:
    """/movement: the movements the official runs; /movement stats: their statistics."""
    _forget(context)
    stats = [arg.lower() for arg in (context.args or [])][:1] == ["stats"]
    async with context.session() as session:
        try:
            actor = await _official(session, context, update)
            text, markup = await _list_screen(session, context, actor, 0, stats=stats)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
    await common.reply(update, text, reply_markup=markup)
    return END


@_tap
async def listed(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Another page of the movements."""
    _forget(context)
    screen = await _list_screen(session, context, actor, int(parts[0]), stats=False)
    return await _put(update, context, END, screen)


@_tap
async def listed_stats(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Another page of the movements, with their Statistics buttons."""
    screen = await _list_screen(session, context, actor, int(parts[0]), stats=True)
    return await _put(update, context, END, screen)


async def _card_screen(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    movement: Movement,
    notice: str | None = None,
) -> Screen:
    """A movement's management card: where it stands, its dates and registrations, and the
    buttons for what comes next."""
    movement = await admin.movement_to_run(session, actor, movement_id=movement.id)  # type: ignore[arg-type]
    owner = await admin.owner_of(session, movement)
    targets = await admin.movement_targets(session, movement)
    counts = await admin.registration_counts(session, movement)
    status = MovementStatus(movement.status)
    lines = [
        context.t("movement_admin.card_name", name=movement.name),
        context.t("movement_admin.card_status", status=context.t(STATUS_LABELS[status])),
        context.t("movement_admin.summary_owner", unit=owner.name),
        context.t("movement_admin.school_year", school_year=movement.school_year),
        *_target_lines(
            context, actor, owner, everyone=False, units=targets.units, blocs=targets.blocs,
            literal_everyone=targets.everyone,
        ),
        context.t(
            "movement_admin.preview_deadline",
            deadline=context.local_time(movement.registration_deadline),
        ),
        context.t(
            "movement_admin.preview_window",
            opens=context.local_time(movement.assessment_opens),
            closes=context.local_time(movement.assessment_closes),
        ),
        context.t(
            "movement_admin.approval_yes" if movement.requires_approval
            else "movement_admin.approval_no"
        ),
        context.t(
            "movement_admin.card_counts", members=counts.members, units=counts.units,
            awaiting=counts.awaiting, submitted=counts.submitted, achieved=counts.achieved,
        ),
    ]
    if notice:
        lines = [notice, "", *lines]
    mid = movement.id
    rows: list[list[tuple[str, str]]] = []
    first: list[tuple[str, str]] = []
    if status in admin.EDITABLE:
        first.append((context.t("movement_admin.edit"), f"mva:e:{mid}"))
    if status in NEXT_MOVE:
        move = NEXT_MOVE[status]
        first.append((context.t(MOVES[move][1]), f"mva:s:{mid}:{move}"))
    if first:
        rows.append(first)
    rows.append([(context.t("movement_admin.copy"), f"mva:cp:{mid}")])
    rows.append([
        (context.t("movement_admin.registrants"), f"mvr:reg:{mid}:0"),
        (context.t("movement_admin.export"), f"mvr:x:{mid}"),
    ])
    rows.append([
        (context.t("movement_admin.results"), f"mvr:res:{mid}"),
        (context.t("movement_admin.statistics"), f"mvr:st:{mid}"),
    ])
    if status != MovementStatus.DRAFT:  # what its reminders reached (handlers/reminders.py)
        rows.append([reminder_screens.figures_button(context, mid)])  # type: ignore[arg-type]
    unions = await admin.grassroots_targeted(session, actor, movement=movement)
    for unit in unions:
        label = context.t("movement_admin.my_union")
        if len(unions) > 1:
            label = f"{label} · {unit.name}"
        rows.append([(label, f"mvu:u:{mid}:{unit.id}")])
    rows.append([(context.t("movement_admin.all_movements"), "mva:l:0")])
    return "\n".join(lines), common.keyboard(rows)


async def card_screen(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    movement: Movement,
    notice: str | None = None,
) -> Screen:
    """The movement's management card, for another feature's step that ends on it (the
    reminder days, handlers/reminders.py)."""
    return await _card_screen(session, context, actor, movement, notice)


@_tap
async def opened(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Shows a movement's management card."""
    _forget(context)
    movement = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    return await _put(update, context, END, await _card_screen(session, context, actor, movement))


@_tap
async def listed_movement_fields(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks which field of the movement to change."""
    movement = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    admin.ensure_editable(movement)
    # The reminder days are asked by handlers/reminders.py ("rmd:o:…").
    offsets = reminder_screens.offsets_button(
        context, movement.id, movement.reminder_offsets  # type: ignore[arg-type]
    )
    screen = _fields_screen(
        context, lambda field: f"mva:ee:{movement.id}:{field}", f"mva:m:{movement.id}",
        [[offsets]],
    )
    return await _put(update, context, END, screen)


@_tap
async def chose_movement_field(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks the question of that field; the answer is saved to the movement at once."""
    movement = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    admin.ensure_editable(movement)
    owner = await admin.owner_of(session, movement)
    targets = await admin.movement_targets(session, movement)
    draft = _start(
        context, mode="edit", movement=movement.id, **_draft_of(movement, targets, owner)
    )
    return await _ask(update, context, session, actor, draft, parts[1])


@_tap
async def asked_move(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks to confirm opening, closing or archiving the movement."""
    movement = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    _, button, question, _ = MOVES[parts[1]]
    rows = [
        [(context.t(button), f"mva:sy:{movement.id}:{parts[1]}")],
        [(context.t("common.back"), f"mva:m:{movement.id}")],
    ]
    text = context.t(question, name=movement.name)
    return await _put(update, context, END, (text, common.keyboard(rows)))


@_tap
async def moved(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Opens, closes or archives the movement; shows its card."""
    movement = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    to, _, _, notice = MOVES[parts[1]]
    if to == MovementStatus.OPEN:
        await admin.open_movement(session, actor, movement=movement, now=utcnow())
    elif to == MovementStatus.CLOSED:
        await admin.close_movement(session, actor, movement=movement)
    else:
        await admin.archive_movement(session, actor, movement=movement)
    await session.commit()
    return await _put(
        update, context, END,
        await _card_screen(session, context, actor, movement, context.t(notice)),
    )


# --- leaving -------------------------------------------------------------------------------------


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel while a movement is being written: forgets it."""
    _forget(context)
    await common.reply(update, context.t("movement_admin.cancelled"))
    return END


async def stale_button(update: Update, context: UnionContext) -> None:
    """A "mva:" payload that fits no button (an old version, or forged): refused."""
    assert update.callback_query is not None
    log.info("unknown movement_admin button from user %s",
             update.effective_user.id if update.effective_user else None)
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)


def _buttons() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CallbackQueryHandler(chose_owner, pattern=rf"^mva:ow:{ID}$"),
        CallbackQueryHandler(asked_name, pattern=r"^mva:nm$"),
        CallbackQueryHandler(listed_templates, pattern=rf"^mva:tp:{PAGE}$"),
        CallbackQueryHandler(chose_template, pattern=rf"^mva:(?:tpl|cp):{ID}$"),
        CallbackQueryHandler(toggled_title, pattern=rf"^mva:t:{INDEX}$"),
        CallbackQueryHandler(removed_title, pattern=rf"^mva:tc:{INDEX}$"),
        CallbackQueryHandler(titles_done, pattern=r"^mva:td$"),
        CallbackQueryHandler(showed_target, pattern=r"^mva:g$"),
        CallbackQueryHandler(chose_whole_scope, pattern=r"^mva:ga$"),
        CallbackQueryHandler(browsed_units, pattern=rf"^mva:gu:{ID}:{PAGE}$"),
        CallbackQueryHandler(toggled_unit, pattern=rf"^mva:tu:{ID}:{ID}:{PAGE}$"),
        CallbackQueryHandler(browsed_blocs, pattern=rf"^mva:gb:{PAGE}$"),
        CallbackQueryHandler(toggled_bloc, pattern=rf"^mva:tb:{ID}:{PAGE}$"),
        CallbackQueryHandler(target_done, pattern=r"^mva:gd$"),
        CallbackQueryHandler(chose_approval, pattern=r"^mva:ap:[01]$"),
        CallbackQueryHandler(showed_summary, pattern=r"^mva:sum$"),
        CallbackQueryHandler(listed_fields, pattern=r"^mva:ed$"),
        CallbackQueryHandler(chose_field, pattern=rf"^mva:ef:({FIELD_PATTERN})$"),
        CallbackQueryHandler(created, pattern=r"^mva:mk:[01]$"),
        CallbackQueryHandler(cancelled, pattern=r"^mva:x$"),
        CallbackQueryHandler(listed, pattern=rf"^mva:l:{PAGE}$"),
        CallbackQueryHandler(listed_stats, pattern=rf"^mva:ls:{PAGE}$"),
        CallbackQueryHandler(opened, pattern=rf"^mva:m:{ID}$"),
        CallbackQueryHandler(listed_movement_fields, pattern=rf"^mva:e:{ID}$"),
        CallbackQueryHandler(chose_movement_field, pattern=rf"^mva:ee:{ID}:({FIELD_PATTERN})$"),
        CallbackQueryHandler(asked_move, pattern=rf"^mva:s:{ID}:[oca]$"),
        CallbackQueryHandler(moved, pattern=rf"^mva:sy:{ID}:[oca]$"),
        CallbackQueryHandler(stale_button, pattern=r"^mva:"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """/newmovement, /movement and their buttons; the typed answers are states persisted
    across restarts."""
    text = filters.TEXT & ~filters.COMMAND
    buttons_only = [MessageHandler(text, common.says("movement_admin.use_buttons"))]
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[
            CommandHandler("newmovement", new_movement),
            CommandHandler("movement", show_movements),
            *_buttons(),
        ],
        states={
            CHOOSING_OWNER: buttons_only,
            TYPING_NAME: [MessageHandler(text, received_name)],
            CHOOSING_TEMPLATE: buttons_only,
            TYPING_DESCRIPTION: [MessageHandler(text, received_description)],
            TYPING_CRITERIA: [MessageHandler(text, received_criteria)],
            CHOOSING_TITLES: [MessageHandler(text, received_title)],
            CHOOSING_TARGET: buttons_only,
            TYPING_DEADLINE: [MessageHandler(text, received_deadline)],
            TYPING_WINDOW: [MessageHandler(text, received_window)],
            CHOOSING_APPROVAL: buttons_only,
            CONFIRMING: buttons_only,
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CommandHandler("newmovement", new_movement),
            CommandHandler("movement", show_movements),
            *_buttons(),
            common.other_button_leaves("mva:", _forget),
            MessageHandler(
                ~filters.TEXT & ~filters.COMMAND, common.says("movement_admin.type_the_answer")
            ),
            common.other_command_leaves(_forget),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [conversation()]
