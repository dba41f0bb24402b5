"""/review: the council of initiatives in the chat (hội đồng xét sáng kiến).

/review shows an official the queue of their scope (by status, a page at a time) and a reviewer
the initiatives assigned to them (both, for someone who is both). An initiative's card is the
request exactly as the author previewed it (handlers/initiative_text.form_messages), its
attachments on demand, the council with who has scored, and the tally. From the card:

- officials seat a council (tick eligible reviewers, choose the chair, type the deadline,
  confirm), move the deadline while the council works, and forward an accepted initiative to
  the next level's queue;
- a reviewer scores: 0–10 for each criterion in turn, a comment or none, then confirms;
- the chair, once the decision is open, accepts (the certificate number), returns for revision
  (the comments) or rejects (the reason), each typed and confirmed.

Reviewers hear that they were seated, the chair that every score is in, the authors of every
change of state (bot.notify: in their language, on their channel).

Payloads start with "irv:" and carry ids only; every tap asks models/initiative_review.py again,
so a forged or stale one is refused and changes nothing. The export buttons ("inr:xlsx:<unit>",
"inr:doc:<initiative>") belong to handlers/initiative_reports.py.

The flows live in a persistent conversation ("initiative_review") with their answers in
user_data, so a restart resumes at the question. On Zalo a score is typed as a number (a
numbered list of the scores 0–10 would number them 1–11) and the comment is asked without a
list (a comment "1" would be taken for the list's first option; "none" is typed instead);
every other choice is a list.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import CallbackQuery, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import UnionContext
from bot.notify import (
    Localized,
    Notice,
    notify_authors,
    notify_member,
    notify_members,
    queue_notices,
)
from handlers import common
from handlers.initiative_text import LEVEL_KEYS, form_messages
from handlers.initiative_text import level_name as _level
from handlers.initiative_text import status_name as _status
from handlers.reminders import run_lines
from models import initiative_review as model
from models import reminders
from models.access import Actor
from models.base import fold, utcnow
from models.errors import DomainError, InvalidInput, NotAllowed, NotFound
from models.initiative_review import Outcome
from models.initiatives import (
    CERTIFICATE_MAX,
    COMMENT_MAX,
    IN_QUEUE,
    SCORE_MAX,
    Initiative,
    InitiativeAttachment,
    InitiativeStatus,
    ReviewSeat,
)
from models.members import Channel
from models.org import OrgUnit
from models.outbox import Source

log = logging.getLogger(__name__)

# What the bot is waiting for.
CHOOSING_REVIEWERS = "choosing_reviewers"
CHOOSING_CHAIR = "choosing_chair"
TYPING_DEADLINE = "typing_deadline"
CONFIRMING_COUNCIL = "confirming_council"
SCORING = "scoring"
TYPING_COMMENT = "typing_comment"
CONFIRMING_SCORE = "confirming_score"
CHOOSING_DECISION = "choosing_decision"
TYPING_DECISION = "typing_decision"
CONFIRMING_DECISION = "confirming_decision"

END = ConversationHandler.END
CONVERSATION = "initiative_review"
# The flow in progress and what it has gathered (user_data, persisted): its kind ("seat",
# "deadline", "score", "decide"), the initiative, and the answers so far.
FLOW = "initiative_review_flow"
# Each flow started gets the next number (user_data, persisted); the confirm buttons carry it,
# so a confirmation left over from an earlier flow on the same initiative (which showed other
# choices: another council, other scores, another decision) is stale, never taken for the
# flow now in progress.
FLOW_SERIAL = "initiative_review_serial"

ID = r"\d{1,12}"
PAGE = r"\d{1,6}"
# Zalo shows nine options per page: fewer initiatives per page keep a page's buttons on it.
PER_PAGE = {Channel.TELEGRAM: 8, Channel.ZALO: 4}
TITLE_SHOWN = 60
COMMENT_SHOWN = 300
# How far ahead the example deadline in the question lies.
EXAMPLE_DAYS = 14

S = InitiativeStatus
CRITERION_KEYS = {
    "novelty": "initiative_review.criterion.novelty",
    "effectiveness": "initiative_review.criterion.effectiveness",
    "applicability": "initiative_review.criterion.applicability",
}
# The queue's filters: payload letter → the statuses shown (None: all), and the button.
FILTERS: dict[str, set[str] | None] = {
    "a": None,
    "w": set(IN_QUEUE),
    "r": {S.UNDER_REVIEW},
    "c": {S.ACCEPTED},
}
FILTER_KEYS = {
    "a": "initiative_review.filter_all",
    "w": "initiative_review.filter_waiting",
    "r": "initiative_review.filter_reviewing",
    "c": "initiative_review.filter_accepted",
}
OUTCOMES = {"da": Outcome.ACCEPT, "dr": Outcome.RETURN, "dj": Outcome.REJECT}
OUTCOME_QUESTIONS = {
    Outcome.ACCEPT: "initiative_review.ask_certificate",
    Outcome.RETURN: "initiative_review.ask_comments",
    Outcome.REJECT: "initiative_review.ask_reason",
}
OUTCOME_CONFIRMS = {
    Outcome.ACCEPT: "initiative_review.confirm_accept",
    Outcome.RETURN: "initiative_review.confirm_return",
    Outcome.REJECT: "initiative_review.confirm_reject",
}
OUTCOME_DONE = {
    Outcome.ACCEPT: "initiative_review.accepted",
    Outcome.RETURN: "initiative_review.returned",
    Outcome.REJECT: "initiative_review.rejected",
}
PLATFORM_KEYS = {
    Channel.TELEGRAM: "initiative_review.platform_telegram",
    Channel.ZALO: "initiative_review.platform_zalo",
}
# The buttons of a flow: outside their step they are stale, never a reason to leave it.
FLOW_BUTTONS = r"^irv:(?:t|sp|sd|ch|sy|v|cs|ok|da|dr|dj|dy):"

State = str | int | None
Rows = list[list[tuple[str, str]]]
TapStep = Callable[[Update, UnionContext, AsyncSession, Actor, list[str]], Awaitable[Any]]


# --- small helpers -------------------------------------------------------------------------------


def _per_page(context: UnionContext) -> int:
    return PER_PAGE.get(context.channel, 8)


def _date(context: UnionContext, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(context.services.settings.tz).strftime("%d/%m/%Y")


def _deadline(context: UnionContext, moment: datetime | None) -> str:
    return context.local_time(moment) if moment is not None else "—"


def _average(context: UnionContext, value: float | None) -> str:
    """19,5 in Vietnamese, 19.5 in English."""
    if value is None:
        return "—"
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if context.locale == "vi" else text


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pager(
    context: UnionContext,
    page: int,
    total: int,
    data: Callable[[int], str],
    labels: tuple[str, str] = ("common.previous", "common.next"),
) -> Rows:
    """◀ ▶ between pages; `labels` name the list when two lists share a screen (an official
    who is also a reviewer), so their buttons differ on Telegram and when typed on Zalo."""
    per_page = _per_page(context)
    row = []
    if page > 0:
        row.append((context.t(labels[0]), data(page - 1)))
    if (page + 1) * per_page < total:
        row.append((context.t(labels[1]), data(page + 1)))
    return [row] if row else []


def _pages(context: UnionContext, total: int) -> int:
    per_page = _per_page(context)
    return max((total + per_page - 1) // per_page, 1)


def _flow(
    context: UnionContext, kind: str, initiative_id: int, serial: int | None = None
) -> dict[str, Any]:
    """The flow a tap or an answer belongs to; an older flow's button is stale (a confirm
    button names its flow by `serial`)."""
    flow = (context.user_data or {}).get(FLOW)
    if not flow or flow.get("kind") != kind or flow.get("initiative") != initiative_id:
        raise NotFound("review_flow_gone")
    if serial is not None and flow.get("serial") != serial:
        raise NotFound("review_flow_gone")
    return flow  # type: ignore[no-any-return]


def _current_flow(context: UnionContext) -> dict[str, Any]:
    flow = (context.user_data or {}).get(FLOW)
    if not flow:
        raise NotFound("review_flow_gone")
    return flow  # type: ignore[no-any-return]


def _start_flow(context: UnionContext, kind: str, initiative_id: int, **answers: Any) -> dict:  # type: ignore[type-arg]
    assert context.user_data is not None
    serial = context.user_data.get(FLOW_SERIAL, 0) % 1_000_000 + 1
    context.user_data[FLOW_SERIAL] = serial
    flow = {"kind": kind, "initiative": initiative_id, "serial": serial, **answers}
    context.user_data[FLOW] = flow
    return flow


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(FLOW, None)


async def _put(
    update: Update,
    context: UnionContext,
    state: State,
    text: str,
    rows: Rows | None = None,
    *,
    new: bool = False,
) -> State:
    """Shows a question or a screen (in place of the tapped message, or anew), the state it
    expects stored first (a restart then resumes at it)."""
    if state is not None and state != END:
        await context.remember_state(CONVERSATION, update, state)
    markup = common.keyboard(rows) if rows else None
    query = update.callback_query
    if query is not None:
        await query.answer()
    if new or query is None:
        await common.reply(update, text, reply_markup=markup)
    else:
        await common.show(update, text, markup)
    return state


async def _drop_list(query: CallbackQuery | None) -> None:
    """Removes the buttons of the tapped message. On Zalo a numbered list keeps taking numbers
    until it is closed: a score typed as a number must not answer the card's list."""
    if query is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        log.debug("review list could not be closed")


def _in_words(context: UnionContext, error: DomainError) -> DomainError:
    """The refusal with a status named in the person's words ("under review", not
    "under_review")."""
    if error.code == "initiative_state":
        return NotAllowed(error.code, status=_status(context, str(error.params.get("status"))))
    return error


def _tap(step: TapStep) -> Callable[[Update, UnionContext], Awaitable[Any]]:
    """A reviewer's button (they need not be an official, so common.official_tap does not
    fit): one session, the actor, the payload's parts; a refusal is an alert, the step stays."""

    async def run(update: Update, context: UnionContext) -> Any:
        query = update.callback_query
        assert query is not None and query.data is not None
        parts = query.data.split(":")[2:]
        async with context.session() as session:
            try:
                actor = await context.actor(session, update)
                return await step(update, context, session, actor, parts)
            except DomainError as error:
                await session.rollback()
                await common.refuse_tap(update, context, _in_words(context, error))
                return None

    run.__name__ = run.__qualname__ = step.__name__
    run.__doc__ = step.__doc__
    return run


def _official(step: TapStep) -> Callable[[Update, UnionContext], Awaitable[Any]]:
    """An officials' button (common.official_tap), its refusals in the person's words."""

    async def translated(
        update: Update, context: UnionContext, session: AsyncSession, actor: Actor,
        parts: list[str],
    ) -> Any:
        try:
            return await step(update, context, session, actor, parts)
        except DomainError as error:
            raise _in_words(context, error) from None

    translated.__name__ = translated.__qualname__ = step.__name__
    translated.__doc__ = step.__doc__
    return common.official_tap(translated)


async def _typed(
    update: Update,
    context: UnionContext,
    step: Callable[[AsyncSession, Actor, str], Awaitable[State]],
) -> State:
    """A typed answer: one session and the actor; a refusal says why, and the question stays
    when typing it again can help."""
    assert update.effective_message is not None
    text = update.effective_message.text or ""
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            return await step(session, actor, text)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, _in_words(context, error))
            if not isinstance(error, InvalidInput):
                # Gone, or no longer allowed (decided, closed, rights removed): typing again
                # cannot help, so the question is closed rather than left waiting.
                _forget(context)
                return END
            return None


# --- /review: the lists --------------------------------------------------------------------------


async def _queue_part(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    letter: str,
    page: int,
    *,
    combined: bool = False,
) -> tuple[list[str], Rows]:
    """A page of the official's queue: each initiative with its status, unit, level and the
    date it was submitted; the filters, the pages and the exports of the units they run. Alone
    on its screen (not `combined` with the reviewer's list), it offers that list when the
    official also sits on councils."""
    per_page = _per_page(context)
    statuses = FILTERS[letter]
    rows, total = await model.queue(
        session, actor, statuses=statuses, offset=page * per_page, limit=per_page
    )
    if page > 0 and not rows and total:
        page = _pages(context, total) - 1
        rows, total = await model.queue(
            session, actor, statuses=statuses, offset=page * per_page, limit=per_page
        )
    lines = [
        context.t(
            "initiative_review.queue_title", filter=context.t(FILTER_KEYS[letter]), count=total
        )
    ]
    if total > per_page:
        lines.append(
            context.t("initiative_review.page", page=page + 1, pages=_pages(context, total))
        )
    if not rows:
        lines.append(context.t("initiative_review.queue_empty"))
    buttons: Rows = []
    for number, row in enumerate(rows, start=page * per_page + 1):
        initiative = row.initiative
        lines.append(
            context.t(
                "initiative_review.queue_line", number=number,
                title=_short(initiative.title, TITLE_SHOWN),
                status=_status(context, initiative.status), unit=row.unit.name,
                level=_level(context, initiative.level),
                date=_date(context, initiative.submitted_at),
            )
        )
        buttons.append([
            (_short(initiative.title, 40), f"irv:o:{initiative.id}")
        ])
    buttons += _pager(
        context, page, total, lambda to: f"irv:q:{letter}:{to}",
        ("initiative_review.queue_previous", "initiative_review.queue_next") if combined
        else ("common.previous", "common.next"),
    )
    buttons.append([
        (("• " if code == letter else "") + context.t(FILTER_KEYS[code]), f"irv:q:{code}:0")
        for code in FILTERS
    ])
    for scope in actor.official_of:
        unit = await session.get(OrgUnit, scope.unit_id)
        if unit is not None:
            buttons.append([
                (context.t("initiative_review.export_button", unit=unit.name),
                 f"inr:xlsx:{unit.id}")
            ])
    if actor.is_admin and not actor.official_of:
        for unit_id, name in dict.fromkeys((r.unit.id, r.unit.name) for r in rows):
            buttons.append([
                (context.t("initiative_review.export_button", unit=name), f"inr:xlsx:{unit_id}")
            ])
    if not combined:
        _, assigned = await model.assignments(session, actor, limit=1)
        if actor.reviewer_of or assigned:
            buttons.append([(context.t("initiative_review.back_to_assigned"), "irv:m:0")])
    return lines, buttons


async def _assigned_part(
    session: AsyncSession, context: UnionContext, actor: Actor, page: int, *,
    combined: bool = False,
) -> tuple[list[str], Rows]:
    """A page of the initiatives the reviewer is seated on: the deadline and whether they have
    scored; alone on its screen, the way to the queue for a reviewer who is also an official."""
    per_page = _per_page(context)
    rows, total = await model.assignments(
        session, actor, offset=page * per_page, limit=per_page
    )
    if page > 0 and not rows and total:
        page = _pages(context, total) - 1
        rows, total = await model.assignments(
            session, actor, offset=page * per_page, limit=per_page
        )
    lines = [context.t("initiative_review.assigned_title", count=total)]
    if total > per_page:
        lines.append(
            context.t("initiative_review.page", page=page + 1, pages=_pages(context, total))
        )
    if not rows:
        lines.append(context.t("initiative_review.assigned_empty"))
    buttons: Rows = []
    for number, row in enumerate(rows, start=page * per_page + 1):
        seat = row.seat
        state = context.t(
            "initiative_review.assigned_scored" if seat.scored_at is not None
            else "initiative_review.assigned_to_score"
        )
        key = "initiative_review.assigned_line_chair" if seat.is_chair else (
            "initiative_review.assigned_line"
        )
        lines.append(
            context.t(
                key, number=number, title=_short(row.initiative.title, TITLE_SHOWN),
                unit=row.unit.name, deadline=_deadline(context, row.initiative.scoring_deadline),
                state=state,
            )
        )
        # Marked, so that an initiative in both lists (an official seated on its council) has
        # two buttons one can tell apart: this one opens it to score.
        mark = "✅ " if seat.scored_at is not None else "✍️ "
        buttons.append([(mark + _short(row.initiative.title, 40), f"irv:a:{row.initiative.id}")])
    buttons += _pager(
        context, page, total, lambda to: f"irv:m:{to}",
        ("initiative_review.assigned_previous", "initiative_review.assigned_next") if combined
        else ("common.previous", "common.next"),
    )
    if not combined and actor.is_official:
        buttons.append([(context.t("initiative_review.back_to_queue"), "irv:q:a:0")])
    return lines, buttons


async def show_review(update: Update, context: UnionContext) -> None:
    """/review: the queue (officials), the initiatives to score (reviewers), or both in one
    screen (on Zalo only the latest list takes answers); anyone else is told who it is for."""
    _forget(context)
    async with context.session() as session:
        actor = await context.actor(session, update)
        lines: list[str] = []
        buttons: Rows = []
        _, assigned = await model.assignments(session, actor, limit=1)
        both = actor.is_official and bool(actor.reviewer_of or assigned)
        if actor.is_official:
            lines, buttons = await _queue_part(session, context, actor, "a", 0, combined=both)
        if actor.reviewer_of or assigned:
            assigned_lines, assigned_buttons = await _assigned_part(
                session, context, actor, 0, combined=both
            )
            lines += ([""] if lines else []) + assigned_lines
            buttons += assigned_buttons
        await session.commit()
    if not lines:
        await common.reply(update, context.t("initiative_review.not_for_you"))
        return
    markup = common.keyboard(buttons) if buttons else None
    await common.reply(update, "\n".join(lines), reply_markup=markup)


async def listed_queue(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """A page of the queue, filtered by status."""
    letter, page = parts[0], int(parts[1])
    lines, buttons = await _queue_part(session, context, actor, letter, page)
    await session.commit()
    await _put(update, context, None, "\n".join(lines), buttons)


async def listed_assigned(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """A page of the initiatives assigned to the reviewer."""
    lines, buttons = await _assigned_part(session, context, actor, int(parts[0]))
    await session.commit()
    await _put(update, context, None, "\n".join(lines), buttons)


# --- the card ------------------------------------------------------------------------------------


def _heading(context: UnionContext, card: model.Card) -> str:
    initiative = card.initiative
    lines = [
        context.t("initiative_review.card_title", id=initiative.id),
        context.t("initiative_review.card_status", status=_status(context, initiative.status)),
        context.t(
            "initiative_review.card_unit", unit=card.unit.name,
            level=_level(context, initiative.level),
        ),
        context.t(
            "initiative_review.card_submitted", date=_date(context, initiative.submitted_at),
            school_year=initiative.school_year or "—",
        ),
    ]
    for recognition in card.recognitions:
        lines.append(
            context.t(
                "initiative_review.card_recognition", level=_level(context, recognition.level),
                number=recognition.certificate_no, school_year=recognition.school_year,
            )
        )
    comment = initiative.council_comment
    if comment and initiative.status in (S.RETURNED, S.REJECTED):
        lines.append(context.t("initiative_review.card_council_comment", comment=comment))
    elif comment and initiative.status in (S.RESUBMITTED, S.UNDER_REVIEW) and initiative.round:
        # What the authors were asked to revise: the next council checks it was done.
        lines.append(context.t("initiative_review.card_earlier_comment", comment=comment))
    return "\n".join(lines)


def _score_text(context: UnionContext, seat: ReviewSeat) -> str:
    return context.t(
        "initiative_review.seat_score", total=seat.total, max=model.TOTAL_MAX,
        novelty=seat.novelty, effectiveness=seat.effectiveness,
        applicability=seat.applicability,
    )


def _tally_lines(context: UnionContext, tally: model.Tally) -> list[str]:
    lines = [context.t("initiative_review.tally_scored", scored=tally.scored, seats=tally.seats)]
    if tally.scored:
        lines.append(
            context.t(
                "initiative_review.tally_average", total=_average(context, tally.total),
                max=model.TOTAL_MAX, novelty=_average(context, tally.novelty),
                effectiveness=_average(context, tally.effectiveness),
                applicability=_average(context, tally.applicability),
            )
        )
        lines.append(context.t("initiative_review.tally_spread", spread=tally.spread))
    return lines


def _footer(context: UnionContext, card: model.Card, *, as_official: bool) -> str:
    """The attachments, the council with who has scored (the scores and comments for officials,
    and for the chair once the decision is open; a reviewer sees only their own), the tally."""
    initiative = card.initiative
    lines = [context.t("initiative.form.attachments", count=card.attachments)]
    if not card.council:
        return "\n".join(lines)
    own = card.seat
    # The chair sees the others' scores once the decision is open, not while still scoring.
    decision_time = card.tally is not None and (
        card.tally.decision_open or initiative.status != S.UNDER_REVIEW
    )
    sees_all = as_official or (own is not None and own.is_chair and decision_time)
    lines += [
        "",
        context.t(
            "initiative_review.council_title", round=initiative.round,
            deadline=_deadline(context, initiative.scoring_deadline),
        ),
    ]
    for seat, name in card.council:
        if seat.scored_at is None:
            state = context.t("initiative_review.seat_not_scored")
        elif sees_all or (own is not None and seat.id == own.id):
            state = _score_text(context, seat)
        else:
            state = context.t("initiative_review.seat_scored")
        key = "initiative_review.seat_line_chair" if seat.is_chair else (
            "initiative_review.seat_line"
        )
        lines.append(context.t(key, name=name, state=state))
        if seat.comment and (sees_all or (own is not None and seat.id == own.id)):
            lines.append(
                context.t("initiative_review.seat_comment",
                          comment=_short(seat.comment, COMMENT_SHOWN))
            )
    if card.tally is not None and sees_all:
        lines += ["", *_tally_lines(context, card.tally)]
        if initiative.status == S.UNDER_REVIEW and card.tally.decision_open:
            lines.append(context.t("initiative_review.decision_open"))
    return "\n".join(lines)


async def _send_card(
    update: Update, context: UnionContext, card: model.Card, rows: Rows, *, as_official: bool,
    figures: list[reminders.RunStats] | None = None,
) -> None:
    """The whole request as the author previewed it, in as many messages as it takes, the
    buttons under the last."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    footer = _footer(context, card, as_official=as_official)
    if figures:
        footer += "\n\n" + "\n".join(run_lines(context, stats) for stats in figures)
    messages = form_messages(
        context, card.initiative, card.authors, heading=_heading(context, card), footer=footer,
    )
    for text in messages[:-1]:
        await common.reply(update, text)
    await common.reply(update, messages[-1], reply_markup=common.keyboard(rows))


def _common_buttons(context: UnionContext, card: model.Card) -> Rows:
    initiative_id = card.initiative.id
    rows: Rows = []
    if card.attachments:
        rows.append([
            (context.t("initiative_review.attachments_button", count=card.attachments),
             f"irv:f:{initiative_id}")
        ])
    rows.append([(context.t("initiative_review.doc_button"), f"inr:doc:{initiative_id}")])
    return rows


async def opened_as_official(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """An initiative of the queue, with what the official may do with it now."""
    card = await model.card_for_official(
        session, actor, initiative_id=int(parts[0]), now=utcnow()
    )
    # What the scoring reminders reached, and how many reviewers then scored.
    figures = await reminders.latest_figures(session, "initiative", card.initiative.id)  # type: ignore[arg-type]
    await session.commit()
    initiative = card.initiative
    rows: Rows = []
    if not card.is_author:
        if initiative.status in IN_QUEUE:
            rows.append([(context.t("initiative_review.seat_button"), f"irv:s:{initiative.id}")])
        if initiative.status == S.UNDER_REVIEW:
            rows.append([
                (context.t("initiative_review.deadline_button"), f"irv:dl:{initiative.id}")
            ])
            rows.append([
                (context.t("initiative_review.chair_button"), f"irv:cc:{initiative.id}")
            ])
        if initiative.status == S.ACCEPTED and card.forward_to is not None:
            rows.append([
                (context.t("initiative_review.forward_button", unit=card.forward_to[0].name),
                 f"irv:fw:{initiative.id}:{card.unit.id}")
            ])
    rows += _common_buttons(context, card)
    rows.append([(context.t("initiative_review.back_to_queue"), "irv:q:a:0")])
    await _send_card(update, context, card, rows, as_official=True, figures=figures)


async def opened_as_reviewer(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """An initiative the reviewer is seated on: score it (again) before the deadline; the
    chair decides once the decision is open."""
    card = await model.card_for_reviewer(
        session, actor, initiative_id=int(parts[0]), now=utcnow()
    )
    await session.commit()
    await _send_card(update, context, card, _reviewer_buttons(context, card), as_official=False)


def _reviewer_buttons(context: UnionContext, card: model.Card) -> Rows:
    initiative, seat, tally = card.initiative, card.seat, card.tally
    rows: Rows = []
    if initiative.status == S.UNDER_REVIEW and tally is not None and seat is not None:
        if not tally.deadline_passed:
            key = "initiative_review.rescore_button" if seat.scored_at else (
                "initiative_review.score_button"
            )
            rows.append([(context.t(key), f"irv:sc:{initiative.id}")])
        if seat.is_chair and tally.decision_open:
            rows.append([(context.t("initiative_review.decide_button"), f"irv:d:{initiative.id}")])
    rows += _common_buttons(context, card)
    rows.append([(context.t("initiative_review.back_to_assigned"), "irv:m:0")])
    return rows


def _sendable(attachment: InitiativeAttachment, channel: str) -> bool:
    """Whether the file can be shown here: one kept on this platform (by its file id), or a
    photo kept by its address (Zalo's), which both platforms show."""
    return attachment.channel == channel or (
        attachment.kind == "photo" and attachment.file_id.startswith("https://")
    )


async def sent_attachments(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """Sends the attachments one by one; those kept on the other platform are named, with
    where to find them; one the platform no longer has is named as such."""
    initiative, files = await model.attachments_for(
        session, actor, initiative_id=int(parts[0])
    )
    await session.commit()
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    if not files:
        await query.answer(context.t("initiative_review.no_attachments"), show_alert=True)
        return
    await query.answer()
    elsewhere: dict[str, list[str]] = {}
    unavailable: list[str] = []
    for number, attachment in enumerate(files, 1):
        name = attachment.file_name or context.t(
            "initiative_review.photo_name" if attachment.kind == "photo"
            else "initiative_review.file_name", number=number,
        )
        if not _sendable(attachment, context.channel):
            elsewhere.setdefault(attachment.channel, []).append(name)
            continue
        caption = context.t(
            "initiative_review.attachment_caption", number=number, count=len(files),
            name=name, title=_short(initiative.title, TITLE_SHOWN),
        )
        try:
            if attachment.kind == "photo":
                await chat.send_photo(photo=attachment.file_id, caption=caption)
            else:
                await chat.send_document(document=attachment.file_id, caption=caption)
        except TelegramError as error:
            log.warning("attachment %s of initiative %s not sent: %s",
                        attachment.id, initiative.id, error)
            unavailable.append(name)
    lines: list[str] = []
    for channel, names in elsewhere.items():
        platform = context.t(PLATFORM_KEYS[channel]) if channel in PLATFORM_KEYS else channel
        lines.append(context.t("initiative_review.attachments_elsewhere", platform=platform))
        lines += [context.t("initiative_review.attachment_item", name=name) for name in names]
    if unavailable:
        lines.append(context.t("initiative_review.attachments_unavailable"))
        lines += [
            context.t("initiative_review.attachment_item", name=name) for name in unavailable
        ]
    if lines:
        await common.reply(update, "\n".join(lines))


# --- seating a council ---------------------------------------------------------------------------


async def _reviewers_screen(
    session: AsyncSession,
    context: UnionContext,
    initiative: Initiative,
    flow: dict[str, Any],
    page: int,
) -> tuple[str, Rows] | None:
    """A page of the eligible reviewers, ticked when chosen; None when there is nobody."""
    per_page = _per_page(context)
    members, total = await model.eligible_reviewers(
        session, initiative, offset=page * per_page, limit=per_page
    )
    if not total:
        return None
    if page > 0 and not members:
        page = _pages(context, total) - 1
        members, total = await model.eligible_reviewers(
            session, initiative, offset=page * per_page, limit=per_page
        )
    chosen: list[int] = flow["reviewers"]
    names = await model.members_by_ids(session, chosen)
    lines = [
        context.t(
            "initiative_review.choose_reviewers", title=_short(initiative.title, TITLE_SHOWN),
            min=model.COUNCIL_MIN, max=model.COUNCIL_MAX, count=total,
        ),
        context.t("initiative_review.chosen_count", count=len(chosen)),
    ]
    lines += [
        context.t("initiative_review.chosen_line", name=names[member_id].full_name)
        for member_id in chosen if member_id in names
    ]
    if total > per_page:
        lines.append(
            context.t("initiative_review.page", page=page + 1, pages=_pages(context, total))
        )
    rows: Rows = [
        [(("✅ " if member.id in chosen else "▫️ ") + member.full_name,
          f"irv:t:{initiative.id}:{member.id}:{page}")]
        for member in members
    ]
    rows += _pager(context, page, total, lambda to: f"irv:sp:{initiative.id}:{to}")
    rows.append([
        (context.t("initiative_review.reviewers_done", count=len(chosen)),
         f"irv:sd:{initiative.id}")
    ])
    rows.append([(context.t("common.cancel"), "irv:x")])
    return "\n".join(lines), rows


async def asked_council(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Seat a council: checks the official may; asks for the reviewers."""
    initiative, _ = await model.check_seating(session, actor, initiative_id=int(parts[0]))
    flow = _start_flow(context, "seat", initiative.id, reviewers=[], chair=None, deadline=None)
    screen = await _reviewers_screen(session, context, initiative, flow, 0)
    await session.commit()
    if screen is None:
        _forget(context)
        return await _put(
            update, context, END, context.t("initiative_review.no_reviewers"), new=True
        )
    return await _put(update, context, CHOOSING_REVIEWERS, *screen, new=True)


async def toggled_reviewer(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Ticks or unticks a reviewer (each checked: eligible, not an author, at most nine)."""
    initiative_id, member_id, page = (int(part) for part in parts)
    flow = _flow(context, "seat", initiative_id)
    initiative, _ = await model.check_seating(session, actor, initiative_id=initiative_id)
    flow["reviewers"] = await model.toggle_reviewer(
        session, initiative, flow["reviewers"], member_id
    )
    if flow.get("chair") not in flow["reviewers"]:
        flow["chair"] = None
    screen = await _reviewers_screen(session, context, initiative, flow, page)
    await session.commit()
    assert screen is not None
    return await _put(update, context, CHOOSING_REVIEWERS, *screen)


async def paged_reviewers(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Another page of reviewers (or back to them from the chair's question)."""
    initiative_id, page = int(parts[0]), int(parts[1])
    flow = _flow(context, "seat", initiative_id)
    initiative, _ = await model.check_seating(session, actor, initiative_id=initiative_id)
    screen = await _reviewers_screen(session, context, initiative, flow, page)
    await session.commit()
    if screen is None:
        raise NotFound("review_flow_gone")
    return await _put(update, context, CHOOSING_REVIEWERS, *screen)


async def chose_reviewers(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Done choosing: asks who chairs (one reviewer chairs without being asked)."""
    initiative_id = int(parts[0])
    flow = _flow(context, "seat", initiative_id)
    initiative, _ = await model.check_seating(session, actor, initiative_id=initiative_id)
    chosen = model.check_council_size(flow["reviewers"])
    await session.commit()
    if len(chosen) == 1:
        flow["chair"] = chosen[0]
        return await _ask_deadline(update, context, initiative)
    names = await model.members_by_ids(session, chosen)
    rows: Rows = [
        [(names[member_id].full_name, f"irv:ch:{initiative_id}:{member_id}")]
        for member_id in chosen if member_id in names
    ]
    rows.append([(context.t("initiative_review.back_to_reviewers"), f"irv:sp:{initiative_id}:0")])
    rows.append([(context.t("common.cancel"), "irv:x")])
    text = context.t(
        "initiative_review.choose_chair", title=_short(initiative.title, TITLE_SHOWN)
    )
    return await _put(update, context, CHOOSING_CHAIR, text, rows)


async def chose_chair(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """The chair (one of the chosen): asks for the scoring deadline."""
    initiative_id, member_id = int(parts[0]), int(parts[1])
    flow = _flow(context, "seat", initiative_id)
    initiative, _ = await model.check_seating(session, actor, initiative_id=initiative_id)
    await session.commit()
    model.check_chair(flow["reviewers"], member_id)
    flow["chair"] = member_id
    return await _ask_deadline(update, context, initiative)


async def _ask_deadline(
    update: Update, context: UnionContext, initiative: Initiative, *, new: bool = False
) -> State:
    tz = context.services.settings.tz
    example = (utcnow() + timedelta(days=EXAMPLE_DAYS)).astimezone(tz).strftime("%d/%m/%Y")
    text = context.t(
        "initiative_review.ask_deadline", title=_short(initiative.title, TITLE_SHOWN),
        example=example, days=model.DEADLINE_MAX_DAYS,
    )
    if initiative.scoring_deadline is not None and initiative.status == S.UNDER_REVIEW:
        current = context.t(
            "initiative_review.current_deadline",
            deadline=context.local_time(initiative.scoring_deadline),
        )
        text = f"{current}\n{text}"
    return await _put(update, context, TYPING_DEADLINE, text, new=new)


async def asked_deadline(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Move the deadline of the council at work: asks for the new one."""
    initiative, _ = await model.check_deadline_change(
        session, actor, initiative_id=int(parts[0])
    )
    await session.commit()
    _start_flow(context, "deadline", initiative.id)
    return await _ask_deadline(update, context, initiative, new=True)


async def received_deadline(update: Update, context: UnionContext) -> State:
    """The deadline typed in local time: for a new council, shows the council to confirm; for
    the council at work, moves it and tells the reviewers."""

    async def step(session: AsyncSession, actor: Actor, text: str) -> State:
        flow = _current_flow(context)
        now = utcnow()
        deadline = model.parse_deadline(text, context.services.settings.tz)
        model.check_deadline(deadline, now)
        if flow["kind"] == "deadline":
            initiative = await model.change_deadline(
                session, actor, initiative_id=flow["initiative"], deadline=deadline, now=now
            )
            await notify_members(
                context.services, session, await model.reviewers_to_notify(session, initiative),
                "initiative_review.notice.deadline_changed",
                about=Source("initiative", initiative.id), title=initiative.title,
                deadline=context.local_time(deadline),
            )
            await session.commit()
            context.services.wake_up()
            _forget(context)
            await common.reply(
                update,
                context.t(
                    "initiative_review.deadline_changed", title=initiative.title,
                    deadline=context.local_time(deadline),
                ),
                reply_markup=common.keyboard([
                    [(context.t("initiative_review.open_button"), f"irv:o:{initiative.id}")]
                ]),
            )
            return END
        if flow["kind"] != "seat":
            raise NotFound("review_flow_gone")
        initiative, unit = await model.check_seating(
            session, actor, initiative_id=flow["initiative"]
        )
        flow["deadline"] = deadline.isoformat()
        names = await model.members_by_ids(session, flow["reviewers"])
        await session.commit()
        lines = [
            context.t(
                "initiative_review.confirm_council", title=initiative.title, unit=unit.name,
                level=_level(context, initiative.level),
            )
        ]
        for member_id in flow["reviewers"]:
            key = "initiative_review.chosen_line_chair" if member_id == flow["chair"] else (
                "initiative_review.chosen_line"
            )
            if member_id in names:
                lines.append(context.t(key, name=names[member_id].full_name))
        lines.append(
            context.t("initiative_review.confirm_deadline", deadline=context.local_time(deadline))
        )
        rows = [
            [(context.t("initiative_review.seat_confirm"),
              f"irv:sy:{initiative.id}:{flow['serial']}")],
            [(context.t("common.cancel"), "irv:x")],
        ]
        return await _put(update, context, CONFIRMING_COUNCIL, "\n".join(lines), rows)

    return await _typed(update, context, step)


async def seated(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Seats the council (every rule checked again); tells the reviewers and the authors."""
    initiative_id = int(parts[0])
    flow = _flow(context, "seat", initiative_id, serial=int(parts[1]))
    if not flow.get("deadline") or flow.get("chair") is None:
        raise NotFound("review_flow_gone")
    deadline = datetime.fromisoformat(flow["deadline"])
    await model.seat_council(
        session, actor, initiative_id=initiative_id, reviewer_ids=flow["reviewers"],
        chair_id=flow["chair"], deadline=deadline, now=utcnow(),
    )
    initiative, unit = await model.initiative_to_run(session, actor, initiative_id=initiative_id)
    when = context.local_time(deadline)
    # The reviewers' and the authors' notices are saved with the council.
    chair = await model.chair_of(session, initiative)
    about = Source("initiative", initiative.id)
    params = {
        "title": initiative.title, "unit": unit.name, "deadline": when,
        "level": Localized(LEVEL_KEYS.get(initiative.level or "", "initiative.level.school")),
        "chair": chair.full_name if chair is not None else "—",
    }
    await queue_notices(context.services, session, [
        Notice(
            member,
            "initiative_review.notice.seated_chair" if member.id == flow["chair"]
            else "initiative_review.notice.seated",
            params, about,
        )
        for member in await model.reviewers_to_notify(session, initiative)
    ])
    await notify_authors(
        context.services, session, initiative, "initiative_review.notice.under_review",
        title=initiative.title, unit=unit.name, deadline=when,
    )
    await session.commit()
    context.services.wake_up()
    _forget(context)
    await _put(
        update, context, END,
        context.t(
            "initiative_review.council_seated", title=initiative.title,
            count=len(flow["reviewers"]), deadline=when,
        ),
        [[(context.t("initiative_review.open_button"), f"irv:o:{initiative_id}")]],
    )
    return END


# --- scoring -------------------------------------------------------------------------------------


def _score_question(
    context: UnionContext, initiative_id: int, title: str, scores: list[int]
) -> tuple[str, Rows | None]:
    """The question for the next criterion: buttons 0–10 on Telegram; on Zalo the number is
    typed (see the module's docstring)."""
    index = len(scores)
    criterion = model.CRITERIA[index]
    zalo = context.channel == Channel.ZALO
    lines = [
        context.t("initiative_review.score_title", title=_short(title, TITLE_SHOWN)),
        context.t(
            "initiative_review.score_question_zalo" if zalo
            else "initiative_review.score_question",
            number=index + 1, count=len(model.CRITERIA),
            criterion=context.t(CRITERION_KEYS[criterion]), max=SCORE_MAX,
        ),
    ]
    if zalo:
        return "\n".join(lines), None
    values = [
        (str(value), f"irv:v:{initiative_id}:{index}:{value}") for value in range(SCORE_MAX + 1)
    ]
    return "\n".join(lines), [values[:6], values[6:], [(context.t("common.cancel"), "irv:x")]]


async def _after_score(
    update: Update, context: UnionContext, flow: dict[str, Any], title: str, *, new: bool
) -> State:
    """The next criterion, or the comment once the three are scored. On Zalo the comment is
    asked without a numbered list: a comment is free text, and a list would take a comment
    such as "1" for its first option; "none" is typed instead (see _no_comment)."""
    if len(flow["scores"]) < len(model.CRITERIA):
        text, rows = _score_question(context, flow["initiative"], title, flow["scores"])
        return await _put(update, context, SCORING, text, rows, new=new)
    if context.channel == Channel.ZALO:
        text = context.t(
            "initiative_review.ask_score_comment_zalo", max=COMMENT_MAX,
            none=context.t("initiative_review.no_comment_word"),
        )
        return await _put(update, context, TYPING_COMMENT, text, new=new)
    rows = [
        [(context.t("initiative_review.no_comment"), f"irv:cs:{flow['initiative']}")],
        [(context.t("common.cancel"), "irv:x")],
    ]
    text = context.t("initiative_review.ask_score_comment", max=COMMENT_MAX)
    return await _put(update, context, TYPING_COMMENT, text, rows, new=new)


def _no_comment(context: UnionContext, text: str) -> bool:
    """Whether the typed comment says there is none: the word the question names ("không",
    "none") or the button's label, in any language, with or without diacritics."""
    translator = context.services.translator
    words = {
        fold(word) for key in ("initiative_review.no_comment_word", "initiative_review.no_comment")
        for word in translator.all_locales(key)
    }
    return fold(text).strip(" .!") in words


async def asked_score(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Score: checks the seat and the deadline; asks the first criterion."""
    initiative, seat = await model.seat_to_score(
        session, actor, initiative_id=int(parts[0]), now=utcnow()
    )
    await session.commit()
    _start_flow(context, "score", initiative.id, title=initiative.title, scores=[], comment=None)
    if context.channel == Channel.ZALO:
        await _drop_list(update.callback_query)
    text, rows = _score_question(context, initiative.id, initiative.title, [])  # type: ignore[arg-type]
    deadline = _deadline(context, initiative.scoring_deadline)
    intro = [context.t("initiative_review.score_intro", deadline=deadline)]
    if seat.scored_at is not None:
        intro.append(context.t("initiative_review.score_again", score=_score_text(context, seat)))
    return await _put(update, context, SCORING, "\n".join([*intro, "", text]), rows, new=True)


async def chose_score(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """A score tapped for the criterion asked (a tap for another one is stale)."""
    initiative_id, index, value = (int(part) for part in parts)
    flow = _flow(context, "score", initiative_id)
    if index != len(flow["scores"]):
        raise NotFound("review_flow_gone")
    await model.seat_to_score(session, actor, initiative_id=initiative_id, now=utcnow())
    await session.commit()
    flow["scores"].append(model.check_score(value))
    return await _after_score(update, context, flow, flow["title"], new=False)


async def received_score(update: Update, context: UnionContext) -> State:
    """A score typed as a number (Zalo's way; Telegram takes it too)."""

    async def step(session: AsyncSession, actor: Actor, text: str) -> State:
        flow = _current_flow(context)
        if flow["kind"] != "score":
            raise NotFound("review_flow_gone")
        value = model.parse_score(text)
        await model.seat_to_score(session, actor, initiative_id=flow["initiative"], now=utcnow())
        await session.commit()
        flow["scores"].append(value)
        return await _after_score(update, context, flow, flow["title"], new=True)

    return await _typed(update, context, step)


async def _score_summary(update: Update, context: UnionContext, flow: dict[str, Any]) -> State:
    novelty, effectiveness, applicability = flow["scores"]
    lines = [
        context.t("initiative_review.score_summary", title=flow["title"]),
        context.t(
            "initiative_review.seat_score", total=novelty + effectiveness + applicability,
            max=model.TOTAL_MAX, novelty=novelty, effectiveness=effectiveness,
            applicability=applicability,
        ),
        context.t("initiative_review.score_summary_comment", comment=flow["comment"])
        if flow.get("comment") else context.t("initiative_review.score_summary_no_comment"),
    ]
    rows = [
        [(context.t("initiative_review.score_confirm"),
          f"irv:ok:{flow['initiative']}:{flow['serial']}")],
        [(context.t("common.cancel"), "irv:x")],
    ]
    return await _put(
        update, context, CONFIRMING_SCORE, "\n".join(lines), rows,
        new=update.callback_query is None,
    )


async def received_comment(update: Update, context: UnionContext) -> State:
    """The reviewer's comment: shows the score to confirm."""

    async def step(session: AsyncSession, actor: Actor, text: str) -> State:
        flow = _current_flow(context)
        if flow["kind"] != "score":
            raise NotFound("review_flow_gone")
        flow["comment"] = None if _no_comment(context, text) else model.clean_comment(text)
        return await _score_summary(update, context, flow)

    return await _typed(update, context, step)


async def skipped_comment(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """No comment: shows the score to confirm."""
    flow = _flow(context, "score", int(parts[0]))
    flow["comment"] = None
    return await _score_summary(update, context, flow)


async def confirmed_score(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Saves the score (the seat and the deadline checked again); the chair hears when every
    score is in."""
    initiative_id = int(parts[0])
    flow = _flow(context, "score", initiative_id, serial=int(parts[1]))
    novelty, effectiveness, applicability = flow["scores"]
    now = utcnow()
    seat = await model.score(
        session, actor, initiative_id=initiative_id, novelty=novelty,
        effectiveness=effectiveness, applicability=applicability, comment=flow.get("comment"),
        now=now,
    )
    initiative, _ = await model.seat_of(session, actor, initiative_id=initiative_id)
    tally = await model.tally(session, initiative, now)
    if tally.all_scored and not seat.is_chair:
        chair = await model.chair_of(session, initiative)
        if chair is not None:
            await notify_member(
                context.services, session, chair, "initiative_review.notice.all_scored",
                about=Source("initiative", initiative.id), title=initiative.title,
            )
    await session.commit()
    context.services.wake_up()
    _forget(context)
    lines = [context.t("initiative_review.score_saved", title=initiative.title,
                       score=_score_text(context, seat))]
    rows: Rows = [[(context.t("initiative_review.open_button"), f"irv:a:{initiative_id}")]]
    if tally.all_scored and seat.is_chair:
        lines.append(context.t("initiative_review.all_scored_you_decide"))
        rows.insert(0, [(context.t("initiative_review.decide_button"), f"irv:d:{initiative_id}")])
    await _put(update, context, END, "\n".join(lines), rows)
    return END


# --- the chair's decision ------------------------------------------------------------------------


async def asked_decision(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Decide: checks the actor chairs and the decision is open; shows the tally and the
    three decisions."""
    initiative, tally = await model.check_decision(
        session, actor, initiative_id=int(parts[0]), now=utcnow()
    )
    await session.commit()
    _start_flow(context, "decide", initiative.id, title=initiative.title, outcome=None,
                text=None)
    lines = [
        context.t("initiative_review.decide_title", title=initiative.title,
                  level=_level(context, initiative.level)),
        *_tally_lines(context, tally),
        "",
        context.t("initiative_review.decide_question"),
    ]
    rows = [
        [(context.t("initiative_review.accept_button"), f"irv:da:{initiative.id}")],
        [(context.t("initiative_review.return_button"), f"irv:dr:{initiative.id}")],
        [(context.t("initiative_review.reject_button"), f"irv:dj:{initiative.id}")],
        [(context.t("common.cancel"), "irv:x")],
    ]
    return await _put(update, context, CHOOSING_DECISION, "\n".join(lines), rows, new=True)


async def chose_outcome(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Accept, return or reject: asks for the certificate number, the comments or the
    reason (typed; /cancel leaves)."""
    assert update.callback_query is not None and update.callback_query.data is not None
    outcome = OUTCOMES[update.callback_query.data.split(":")[1]]
    initiative_id = int(parts[0])
    flow = _flow(context, "decide", initiative_id)
    initiative, _ = await model.check_decision(
        session, actor, initiative_id=initiative_id, now=utcnow()
    )
    await session.commit()
    flow["outcome"] = outcome.value
    limit = CERTIFICATE_MAX if outcome is Outcome.ACCEPT else COMMENT_MAX
    text = context.t(
        OUTCOME_QUESTIONS[outcome], title=_short(initiative.title, TITLE_SHOWN),
        level=_level(context, initiative.level), max=limit,
    )
    return await _put(update, context, TYPING_DECISION, text)


async def received_decision_text(update: Update, context: UnionContext) -> State:
    """The certificate number, the comments or the reason: shows the decision to confirm."""

    async def step(session: AsyncSession, actor: Actor, text: str) -> State:
        flow = _current_flow(context)
        if flow["kind"] != "decide" or not flow.get("outcome"):
            raise NotFound("review_flow_gone")
        outcome = Outcome(flow["outcome"])
        initiative, _ = await model.check_decision(
            session, actor, initiative_id=flow["initiative"], now=utcnow()
        )
        cleaned = await model.check_decision_text(session, initiative, outcome, text)
        await session.commit()
        flow["text"] = cleaned
        message = context.t(
            OUTCOME_CONFIRMS[outcome], title=initiative.title,
            level=_level(context, initiative.level), text=cleaned,
        )
        rows = [
            [(context.t("initiative_review.decision_confirm"),
              f"irv:dy:{initiative.id}:{flow['serial']}")],
            [(context.t("common.cancel"), "irv:x")],
        ]
        return await _put(update, context, CONFIRMING_DECISION, message, rows)

    return await _typed(update, context, step)


async def decided(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Records the decision (every rule checked again); tells every author."""
    initiative_id = int(parts[0])
    flow = _flow(context, "decide", initiative_id, serial=int(parts[1]))
    if not flow.get("outcome") or not flow.get("text"):
        raise NotFound("review_flow_gone")
    outcome = Outcome(flow["outcome"])
    initiative = await model.decide(
        session, actor, initiative_id=initiative_id, outcome=outcome, text=flow["text"],
        now=utcnow(), tz=context.services.settings.tz,
    )
    unit = await session.get(OrgUnit, initiative.unit_id)
    params: dict[str, Any] = {
        "title": initiative.title, "unit": unit.name if unit is not None else "—",
        "level": Localized(LEVEL_KEYS.get(initiative.level or "", "initiative.level.school")),
    }
    if outcome is Outcome.ACCEPT:
        key, params["number"] = "initiative_review.notice.accepted", flow["text"]
    elif outcome is Outcome.RETURN:
        key, params["comments"] = "initiative_review.notice.returned", flow["text"]
    else:
        key, params["reason"] = "initiative_review.notice.rejected", flow["text"]
    await notify_authors(context.services, session, initiative, key, **params)
    await session.commit()
    context.services.wake_up()
    _forget(context)
    level = _level(context, initiative.level)
    await _put(
        update, context, END,
        context.t(OUTCOME_DONE[outcome], title=initiative.title, level=level, text=flow["text"]),
        [[(context.t("initiative_review.open_button"), f"irv:a:{initiative_id}")]],
    )
    return END


# --- forwarding ----------------------------------------------------------------------------------


async def asked_forward(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """Forward: says where it would go and asks to confirm (the buttons carry the unit it
    leaves: see model.check_forward)."""
    initiative, unit, target, level = await model.check_forward(
        session, actor, initiative_id=int(parts[0]), from_unit_id=int(parts[1])
    )
    await session.commit()
    text = context.t(
        "initiative_review.confirm_forward", title=initiative.title, unit=target.name,
        level=_level(context, level),
    )
    rows = [
        [(context.t("initiative_review.forward_confirm"), f"irv:fy:{initiative.id}:{unit.id}")],
        [(context.t("common.cancel"), "irv:x")],
    ]
    await _put(update, context, None, text, rows, new=True)


async def forwarded(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """Sends the initiative up a level (checked again); tells every author."""
    initiative, target = await model.forward(
        session, actor, initiative_id=int(parts[0]), now=utcnow(), from_unit_id=int(parts[1])
    )
    await notify_authors(
        context.services, session, initiative, "initiative_review.notice.forwarded",
        title=initiative.title, unit=target.name,
        level=Localized(LEVEL_KEYS.get(initiative.level or "", "initiative.level.city")),
    )
    await session.commit()
    context.services.wake_up()
    await _put(
        update, context, None,
        context.t(
            "initiative_review.forwarded", title=initiative.title, unit=target.name,
            level=_level(context, initiative.level),
        ),
    )


async def asked_chair(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """Another chair (the chair left or cannot sit): the council at work, one button each."""
    card = await model.card_for_official(
        session, actor, initiative_id=int(parts[0]), now=utcnow()
    )
    await model.check_deadline_change(session, actor, initiative_id=card.initiative.id)  # type: ignore[arg-type]
    await session.commit()
    rows: Rows = [
        [(("👤 " if seat.is_chair else "") + _short(name, 40),
          f"irv:cy:{card.initiative.id}:{seat.reviewer_member_id}")]
        for seat, name in card.council
    ]
    rows.append([(context.t("common.cancel"), "irv:x")])
    text = context.t("initiative_review.ask_chair", title=card.initiative.title)
    await _put(update, context, None, text, rows, new=True)


async def chose_new_chair(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> None:
    """Makes the chosen member of the council its chair; tells them."""
    initiative, chair = await model.change_chair(
        session, actor, initiative_id=int(parts[0]), chair_id=int(parts[1]), now=utcnow()
    )
    await notify_member(
        context.services, session, chair, "initiative_review.notice.now_chair",
        about=Source("initiative", initiative.id), title=initiative.title,
        deadline=_deadline(context, initiative.scoring_deadline),
    )
    await session.commit()
    context.services.wake_up()
    await _put(
        update, context, None,
        context.t("initiative_review.chair_changed", title=initiative.title,
                  name=chair.full_name),
    )


# --- leaving -------------------------------------------------------------------------------------


async def cancelled(update: Update, context: UnionContext) -> State:
    """Cancel: the flow in progress is dropped (nothing was saved); a question outside one
    (a forward) is closed."""
    query = update.callback_query
    assert query is not None
    _forget(context)
    await query.answer()
    await common.show(update, context.t("initiative_review.cancelled"))
    return END


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel in a flow: dropped, nothing was saved."""
    _forget(context)
    await common.reply(update, context.t("initiative_review.cancelled"))
    return END


async def stale_button(update: Update, context: UnionContext) -> None:
    """An "irv:" payload that fits no step in progress (an old question, or forged): refused."""
    assert update.callback_query is not None
    log.info("stale initiative_review button from user %s",
             update.effective_user.id if update.effective_user else None)
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)


# --- assembly ------------------------------------------------------------------------------------


def _entry_points() -> list[BaseHandler]:  # type: ignore[type-arg]
    official = _official
    return [
        CallbackQueryHandler(official(asked_council), pattern=rf"^irv:s:{ID}$"),
        CallbackQueryHandler(official(asked_deadline), pattern=rf"^irv:dl:{ID}$"),
        CallbackQueryHandler(_tap(asked_score), pattern=rf"^irv:sc:{ID}$"),
        CallbackQueryHandler(_tap(asked_decision), pattern=rf"^irv:d:{ID}$"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """The flows (seating, a new deadline, scoring, deciding), persisted across restarts."""
    official = _official
    text = filters.TEXT & ~filters.COMMAND
    buttons_only = MessageHandler(text, common.says("initiative_review.use_buttons"))
    reviewers_page = CallbackQueryHandler(
        official(paged_reviewers), pattern=rf"^irv:sp:{ID}:{PAGE}$"
    )
    return common.persistent_conversation(
        CONVERSATION,
        allow_reentry=True,
        entry_points=_entry_points(),
        states={
            CHOOSING_REVIEWERS: [
                CallbackQueryHandler(
                    official(toggled_reviewer), pattern=rf"^irv:t:{ID}:{ID}:{PAGE}$"
                ),
                reviewers_page,
                CallbackQueryHandler(official(chose_reviewers), pattern=rf"^irv:sd:{ID}$"),
                buttons_only,
            ],
            CHOOSING_CHAIR: [
                CallbackQueryHandler(official(chose_chair), pattern=rf"^irv:ch:{ID}:{ID}$"),
                reviewers_page,
                buttons_only,
            ],
            TYPING_DEADLINE: [MessageHandler(text, received_deadline)],
            CONFIRMING_COUNCIL: [
                CallbackQueryHandler(official(seated), pattern=rf"^irv:sy:{ID}:{PAGE}$"),
                buttons_only,
            ],
            SCORING: [
                CallbackQueryHandler(
                    _tap(chose_score), pattern=rf"^irv:v:{ID}:[0-2]:(?:[0-9]|10)$"
                ),
                MessageHandler(text, received_score),
            ],
            TYPING_COMMENT: [
                CallbackQueryHandler(_tap(skipped_comment), pattern=rf"^irv:cs:{ID}$"),
                MessageHandler(text, received_comment),
            ],
            CONFIRMING_SCORE: [
                CallbackQueryHandler(_tap(confirmed_score), pattern=rf"^irv:ok:{ID}:{PAGE}$"),
                buttons_only,
            ],
            CHOOSING_DECISION: [
                CallbackQueryHandler(_tap(chose_outcome), pattern=rf"^irv:(?:da|dr|dj):{ID}$"),
                buttons_only,
            ],
            TYPING_DECISION: [MessageHandler(text, received_decision_text)],
            CONFIRMING_DECISION: [
                CallbackQueryHandler(_tap(decided), pattern=rf"^irv:dy:{ID}:{PAGE}$"),
                buttons_only,
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancelled, pattern=r"^irv:x$"),
            CallbackQueryHandler(stale_button, pattern=FLOW_BUTTONS),
            common.other_button_leaves("irv:", _forget),
            MessageHandler(
                ~filters.TEXT & ~filters.COMMAND, common.says("initiative_review.type_the_answer")
            ),
            common.other_command_leaves(_forget),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    official = _official
    return [
        conversation(),
        CommandHandler("review", show_review),
        CallbackQueryHandler(official(listed_queue), pattern=rf"^irv:q:[awrc]:{PAGE}$"),
        CallbackQueryHandler(_tap(listed_assigned), pattern=rf"^irv:m:{PAGE}$"),
        CallbackQueryHandler(official(opened_as_official), pattern=rf"^irv:o:{ID}$"),
        CallbackQueryHandler(_tap(opened_as_reviewer), pattern=rf"^irv:a:{ID}$"),
        CallbackQueryHandler(_tap(sent_attachments), pattern=rf"^irv:f:{ID}$"),
        CallbackQueryHandler(official(asked_forward), pattern=rf"^irv:fw:{ID}:{ID}$"),
        CallbackQueryHandler(official(forwarded), pattern=rf"^irv:fy:{ID}:{ID}$"),
        CallbackQueryHandler(official(asked_chair), pattern=rf"^irv:cc:{ID}$"),
        CallbackQueryHandler(official(chose_new_chair), pattern=rf"^irv:cy:{ID}:{ID}$"),
        CallbackQueryHandler(cancelled, pattern=r"^irv:x$"),
        CallbackQueryHandler(stale_button, pattern=r"^irv:"),
    ]
