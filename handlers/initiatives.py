"""/initiative, /drafts and /myinitiatives: a member writes an initiative (the request for
recognition, part by part, each answer saved as it is typed), previews it as the council will
read it, submits it to their union, and follows it through review; when the council returns it,
the author reads the comments, edits only what is needed and resubmits.

Writing is one persistent conversation ("initiatives"): /initiative asks the parts one by one
(title, field, problem, solution, first applied date, where, benefits, confidential, authors,
attachments), then shows the overview of the draft, from which any part is edited, the whole
text previewed and the draft submitted (after a confirmation), or a draft deleted (after a
confirmation too). /drafts reopens a draft at its overview; after a restart the member is at the
question they were asked. /myinitiatives lists everything they wrote or co-wrote, a page at a
time.

Callback payloads start with "ini:" and carry ids only (the initiative's, then a part's index, a
colleague's or an author's id). Every button of the draft works from any message, at any time:
the models check the member and the initiative's state again each time, so a forged or stale
payload is refused and changes nothing. /myinitiatives and its screens are plain buttons outside
the conversation.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Update
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
from bot.notify import Localized, notify_authors
from handlers import common
from handlers.initiative_text import form_messages
from handlers.initiative_text import level_name as _level
from handlers.initiative_text import status_name as _status
from models import initiative_drafts as drafting
from models.base import utcnow
from models.errors import DomainError, InvalidInput, NotAllowed
from models.initiative_drafts import Draft, Part
from models.initiatives import (
    ATTACHMENT_MAX_BYTES,
    ATTACHMENTS_MAX,
    AUTHOR_NAME_MAX,
    AUTHORS_MAX,
    COMMENT_MAX,
    PLACE_MAX,
    TEXT_MAX,
    TITLE_MAX,
    InitiativeAttachment,
    InitiativeField,
    InitiativeStatus,
)
from models.members import Channel, Member, member_of

log = logging.getLogger(__name__)

# What the bot is waiting for.
TYPING_TITLE = "typing_title"
CHOOSING_FIELD = "choosing_field"
TYPING_PROBLEM = "typing_problem"
TYPING_SOLUTION = "typing_solution"
TYPING_FIRST_APPLIED = "typing_first_applied"
TYPING_WHERE = "typing_where"
TYPING_BENEFITS = "typing_benefits"
TYPING_CONFIDENTIAL = "typing_confidential"
CHOOSING_AUTHORS = "choosing_authors"
TYPING_SEARCH = "typing_search"
TYPING_AUTHOR_NAME = "typing_author_name"
TYPING_SHARES = "typing_shares"
SENDING_FILES = "sending_files"
REVIEWING = "reviewing"  # the overview, the preview, "submit now?"
TYPING_NOTE = "typing_note"  # what was changed, sent with a resubmission

END = ConversationHandler.END
CONVERSATION = "initiatives"
# The draft being written, in user_data (persisted): {"id": initiative id, "guided": True while
# /initiative asks the parts in order (False when a part is edited from the overview)}.
FLOW = "initiatives_flow"
# Telegram takes 4,096 characters in a message.
SCREEN_MAX = 3900
# /myinitiatives offers a button for this many initiatives at most (the newest).
LIST_BUTTONS = 10
# The last changes of state shown on an initiative's card.
HISTORY_SHOWN = 8

PARTS = list(Part)
FIELDS = list(InitiativeField)
# Short names of the parts: the overview's lines, its buttons and "still missing: …".
PART_KEYS = {
    Part.TITLE: "initiatives.part.title",
    Part.FIELD: "initiatives.part.field",
    Part.PROBLEM: "initiatives.part.problem",
    Part.SOLUTION: "initiatives.part.solution",
    Part.FIRST_APPLIED: "initiatives.part.first_applied",
    Part.WHERE: "initiatives.part.where",
    Part.BENEFITS: "initiatives.part.benefits",
    Part.CONFIDENTIAL: "initiatives.part.confidential",
    Part.AUTHORS: "initiatives.part.authors",
    Part.ATTACHMENTS: "initiatives.part.attachments",
}
# The parts answered by typing: the state that waits for them and the question.
TYPED = {
    Part.TITLE: (TYPING_TITLE, "initiatives.ask_title"),
    Part.PROBLEM: (TYPING_PROBLEM, "initiatives.ask_problem"),
    Part.SOLUTION: (TYPING_SOLUTION, "initiatives.ask_solution"),
    Part.FIRST_APPLIED: (TYPING_FIRST_APPLIED, "initiatives.ask_first_applied"),
    Part.WHERE: (TYPING_WHERE, "initiatives.ask_where"),
    Part.BENEFITS: (TYPING_BENEFITS, "initiatives.ask_benefits"),
    Part.CONFIDENTIAL: (TYPING_CONFIDENTIAL, "initiatives.ask_confidential"),
}
ID = r"\d{1,12}"
N = r"\d{1,2}"

State = str | int
Screen = tuple[str, InlineKeyboardMarkup | None]
T = TypeVar("T")


# --- small helpers -------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit <= 80 else text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label(context: UnionContext, key: str, **params: object) -> str:
    """A button's label: buttons are not HTML, so the escaped params are turned back."""
    return html.unescape(context.t(key, **params))


def _title(context: UnionContext, title: str) -> str:
    return title or context.t("initiatives.untitled")


def _part_names(context: UnionContext, parts: object) -> str:
    """The parts (as the models name them) in the person's words, in order."""
    given = parts if isinstance(parts, list) else []
    return ", ".join(context.t(PART_KEYS[Part(part)]) for part in given if part in set(Part))


def _flow(context: UnionContext) -> dict[str, Any]:
    return dict((context.user_data or {}).get(FLOW) or {})


def _keep_flow(context: UnionContext, initiative_id: int, guided: bool) -> None:
    context.user_data[FLOW] = {"id": initiative_id, "guided": guided}  # type: ignore[index]


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(FLOW, None)


def _guided(context: UnionContext, initiative_id: int) -> bool:
    """Whether /initiative is asking the parts of this draft in order."""
    flow = _flow(context)
    return bool(flow.get("guided")) and flow.get("id") == initiative_id


async def _member(session: AsyncSession, context: UnionContext, update: Update) -> Member | None:
    return await member_of(session, await context.identity(session, update))


async def _refuse(update: Update, context: UnionContext, error: DomainError) -> None:
    """Says why, with a status and the missing parts named in the person's words."""
    if error.code == "initiative_state":
        error = NotAllowed(error.code, status=_status(context, str(error.params.get("status"))))
    elif error.code == "ini_incomplete":
        error = InvalidInput(error.code, parts=_part_names(context, error.params.get("parts")))
    await common.refuse(update, context, error)


async def _show(update: Update, screen: Screen, *, new: bool = False) -> None:
    """The screen in place of the tapped message (a new message after typed text, or when
    `new`)."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    if new:
        await common.reply(update, screen[0], reply_markup=screen[1])
    else:
        await common.show(update, *screen)


def _file_name(context: UnionContext, attachment: InitiativeAttachment) -> str:
    if attachment.file_name:
        return attachment.file_name
    return context.t(
        "initiatives.photo" if attachment.kind == "photo" else "initiatives.document"
    )


# --- the questions -------------------------------------------------------------------------------


def _current(context: UnionContext, found: Draft, part: Part) -> str:
    """What the part holds now, shown under its question (to keep or to type anew)."""
    initiative = found.initiative
    if part == Part.FIELD and initiative.field:
        return context.t(f"initiative.field.{initiative.field}")
    if part == Part.FIRST_APPLIED and initiative.first_applied_on is not None:
        return initiative.first_applied_on.strftime("%d/%m/%Y")
    if part == Part.CONFIDENTIAL and initiative.confidential == "":
        return context.t("initiative.form.nothing_confidential")
    value = {
        Part.TITLE: initiative.title,
        Part.PROBLEM: initiative.problem,
        Part.SOLUTION: initiative.solution,
        Part.WHERE: initiative.applied_where,
        Part.BENEFITS: initiative.benefits,
        Part.CONFIDENTIAL: initiative.confidential,
    }.get(part)
    return value or ""


def _navigation(
    context: UnionContext, initiative_id: int, part: Part, guided: bool
) -> list[list[tuple[str, str]]]:
    """While /initiative asks in order: skip this part, or leave; else back to the overview."""
    if guided:
        skip = f"ini:skip:{initiative_id}:{PARTS.index(part)}"
        return [[
            (context.t("initiatives.skip_button"), skip),
            (context.t("initiatives.later_button"), "ini:later"),
        ]]
    return [[(context.t("initiatives.overview_button"), f"ini:ov:{initiative_id}")]]


def _heading(context: UnionContext, part: Part, guided: bool) -> list[str]:
    if not guided:
        return []
    return [context.t("initiatives.step", n=PARTS.index(part) + 1, total=len(PARTS))]


def _question_screen(context: UnionContext, found: Draft, part: Part, guided: bool) -> Screen:
    """A part answered by typing (or, for the field, by a button)."""
    initiative_id = found.initiative.id
    assert initiative_id is not None
    lines = _heading(context, part, guided)
    rows: list[list[tuple[str, str]]] = []
    if part == Part.FIELD:
        lines.append(context.t("initiatives.ask_field"))
        rows += [
            [(context.t(f"initiative.field.{field}"), f"ini:field:{initiative_id}:{n}")]
            for n, field in enumerate(FIELDS)
        ]
    else:
        _, key = TYPED[part]
        limits = {
            Part.TITLE: (drafting.TITLE_MIN, TITLE_MAX),
            Part.WHERE: (drafting.PLACE_MIN, PLACE_MAX),
        }.get(part, (drafting.TEXT_MIN, TEXT_MAX))
        lines.append(context.t(key, min=limits[0], max=limits[1]))
        if part == Part.CONFIDENTIAL:
            rows.append([(context.t("initiatives.nothing_button"), f"ini:none:{initiative_id}")])
    current = _current(context, found, part)
    if current:
        lines += ["", context.t("initiatives.current", text=current)]
    rows += _navigation(context, initiative_id, part, guided)
    return "\n".join(lines), common.keyboard(rows)


def _authors_screen(context: UnionContext, found: Draft, guided: bool) -> Screen:
    """The authors with their shares, and what can be done with them."""
    initiative_id = found.initiative.id
    lines = _heading(context, Part.AUTHORS, guided)
    lines.append(context.t("initiatives.authors_title"))
    for n, author in enumerate(found.authors, 1):
        key = (
            "initiatives.author_line_member" if author.member_id is not None
            else "initiatives.author_line_named"
        )
        lines.append(context.t(key, n=n, name=author.name, share=author.share))
    if found.shares_total != 100:
        lines.append(context.t("initiatives.shares_off", total=found.shares_total))
    lines += ["", context.t("initiatives.authors_hint", max=AUTHORS_MAX)]
    rows = [
        [(context.t("initiatives.find_button"), f"ini:find:{initiative_id}")],
        [(context.t("initiatives.type_name_button"), f"ini:name:{initiative_id}")],
    ]
    if len(found.authors) > 1:
        rows.append([(context.t("initiatives.shares_button"), f"ini:shares:{initiative_id}")])
    for author in found.authors[1:]:
        label = _label(context, "initiatives.remove_button", name=_clip(author.name, 40))
        rows.append([(label, f"ini:rm:{initiative_id}:{author.id}")])
    done = (
        "initiatives.only_me_button" if len(found.authors) == 1
        else "initiatives.authors_done_button"
    )
    rows.append([(context.t(done), f"ini:authok:{initiative_id}")])
    if guided:
        rows.append([(context.t("initiatives.later_button"), "ini:later")])
    return "\n".join(lines), common.keyboard(rows)


def _files_screen(context: UnionContext, found: Draft, guided: bool) -> Screen:
    """Asks for documents and photos (photos only on Zalo), with what was received so far."""
    initiative_id = found.initiative.id
    lines = _heading(context, Part.ATTACHMENTS, guided)
    key = (
        "initiatives.ask_files_zalo" if context.channel == Channel.ZALO
        else "initiatives.ask_files"
    )
    lines.append(context.t(
        key, max=ATTACHMENTS_MAX, max_mb=ATTACHMENT_MAX_BYTES // 2**20,
    ))
    if found.attachments:
        lines += ["", context.t("initiatives.files_kept", count=len(found.attachments))]
        lines += [
            context.t("initiatives.file_line", name=_clip(_file_name(context, attachment), 60))
            for attachment in found.attachments
        ]
    rows = [[(context.t("initiatives.files_done_button"), f"ini:ov:{initiative_id}")]]
    if found.attachments:
        rows.append([(context.t("initiatives.clear_files_button"), f"ini:clear:{initiative_id}")])
    if guided:
        rows.append([(context.t("initiatives.later_button"), "ini:later")])
    return "\n".join(lines), common.keyboard(rows)


async def _ask(
    update: Update,
    context: UnionContext,
    found: Draft,
    part: Part,
    *,
    guided: bool,
    new: bool = False,
) -> State:
    """Asks for `part` of the draft (in place of the tapped message unless `new`); the state is
    stored before the question is sent."""
    initiative_id = found.initiative.id
    assert initiative_id is not None
    if part == Part.AUTHORS:
        state, screen = CHOOSING_AUTHORS, _authors_screen(context, found, guided)
    elif part == Part.ATTACHMENTS:
        state, screen = SENDING_FILES, _files_screen(context, found, guided)
    elif part == Part.FIELD:
        state, screen = CHOOSING_FIELD, _question_screen(context, found, part, guided)
    else:
        state, screen = TYPED[part][0], _question_screen(context, found, part, guided)
    _keep_flow(context, initiative_id, guided)
    await context.remember_state(CONVERSATION, update, state)
    await _show(update, screen, new=new)
    return state


async def _after(
    update: Update, context: UnionContext, found: Draft, part: Part, guided: bool
) -> State:
    """What follows an answer: the next part while /initiative asks in order, else the
    overview."""
    index = PARTS.index(part)
    if guided and index + 1 < len(PARTS):
        return await _ask(update, context, found, PARTS[index + 1], guided=True)
    return await _overview(update, context, found)


# --- the overview, the preview, submitting -------------------------------------------------------


def _overview_screen(context: UnionContext, found: Draft) -> Screen:
    """Each part ✓ or missing, with buttons to preview, submit and edit any part."""
    initiative = found.initiative
    initiative_id = initiative.id
    lines = [
        context.t("initiatives.overview_title", title=_title(context, initiative.title)),
        context.t("initiatives.overview_status", status=_status(context, initiative.status)),
    ]
    if initiative.status == InitiativeStatus.RETURNED and initiative.council_comment:
        lines += ["", context.t(
            "initiatives.overview_council", text=_clip(initiative.council_comment, 800)
        )]
    lines.append("")
    missing = found.missing
    for part in PARTS:
        name = context.t(PART_KEYS[part])
        if part == Part.ATTACHMENTS:
            lines.append(context.t("initiatives.overview_files", count=len(found.attachments)))
        elif part in missing:
            lines.append(context.t("initiatives.overview_missing", part=name))
        else:
            lines.append(context.t("initiatives.overview_done", part=name))
    lines.append("")
    if missing:
        lines.append(context.t("initiatives.overview_todo", parts=_part_names(context, missing)))
    elif initiative.status == InitiativeStatus.RETURNED:
        lines.append(context.t("initiatives.overview_ready_returned"))
    else:
        lines.append(context.t("initiatives.overview_ready"))
    rows = [[(context.t("initiatives.preview_button"), f"ini:prev:{initiative_id}")]]
    if initiative.status == InitiativeStatus.RETURNED:
        rows[0].append((context.t("initiatives.resubmit_button"), f"ini:resub:{initiative_id}"))
    else:
        rows[0].append((context.t("initiatives.submit_button"), f"ini:submit:{initiative_id}"))
    edits = [
        (f"✏️ {context.t(PART_KEYS[part])}", f"ini:edit:{initiative_id}:{n}")
        for n, part in enumerate(PARTS)
    ]
    rows += [edits[i:i + 2] for i in range(0, len(edits), 2)]
    last = [(context.t("initiatives.later_button"), "ini:later")]
    if initiative.status == InitiativeStatus.DRAFT:
        last.append((context.t("initiatives.delete_button"), f"ini:del:{initiative_id}"))
    rows.append(last)
    return "\n".join(lines), common.keyboard(rows)


async def _overview(update: Update, context: UnionContext, found: Draft) -> State:
    initiative_id = found.initiative.id
    assert initiative_id is not None
    _keep_flow(context, initiative_id, guided=False)
    await context.remember_state(CONVERSATION, update, REVIEWING)
    await _show(update, _overview_screen(context, found))
    return REVIEWING


Operation = Callable[[AsyncSession, Member | None, list[int]], Awaitable[object]]
Then = Callable[[Draft, bool], Awaitable[State]]


async def _tap(
    update: Update, context: UnionContext, operation: Operation | None, then: Then
) -> State | None:
    """A button of the draft: `operation` with the payload's ids, then the next screen. A
    refusal is an alert and leaves everything (the conversation's state too) as it was."""
    ids = common.callback_ids(update)
    initiative_id = ids[0]
    guided = _guided(context, initiative_id)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            if operation is not None:
                await operation(session, member, ids)
            found = await drafting.draft(session, member, initiative_id)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None
        await session.commit()
    return await then(found, guided)


@dataclass(frozen=True)
class _Stop:
    """What a refused step returns: the state to go to (None: stay at the question)."""

    state: State | None


TypedOperation = Callable[[AsyncSession, Member | None, int, str], Awaitable[object]]
FlowStep = Callable[[AsyncSession, Member | None, int], Awaitable[T]]


async def _on_flow(update: Update, context: UnionContext, step: FlowStep[T]) -> T | _Stop:
    """Runs `step` on the draft being written (its id kept in user_data) in one session. A
    refused answer (InvalidInput) is said and asked again; any other refusal (the draft was
    submitted or deleted meanwhile) is said and ends the flow; no kept draft: start again."""
    flow = _flow(context)
    if flow.get("id") is None:
        return _Stop(await _lost(update, context))
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            result = await step(session, member, int(flow["id"]))
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            if isinstance(error, InvalidInput):
                return _Stop(None)
            _forget(context)
            return _Stop(END)
        await session.commit()
    return result


def _typed_text(update: Update) -> str:
    message = update.effective_message
    return (message.text if message is not None else None) or ""


async def _typed_answer(
    update: Update, context: UnionContext, operation: TypedOperation
) -> Draft | _Stop:
    """Stores the typed text with `operation`; the draft as it is now."""
    text = _typed_text(update)

    async def step(session: AsyncSession, member: Member | None, initiative_id: int) -> Draft:
        await operation(session, member, initiative_id, text)
        return await drafting.draft(session, member, initiative_id)

    return await _on_flow(update, context, step)


async def _typed(
    update: Update, context: UnionContext, part: Part, operation: TypedOperation
) -> State | None:
    """A typed answer for `part`, saved at once; asks what comes next. A refused answer is
    asked again; when the draft cannot be changed any more, the flow ends."""
    found = await _typed_answer(update, context, operation)
    if isinstance(found, _Stop):
        return found.state
    return await _after(update, context, found, part, _guided(context, found.initiative.id))  # type: ignore[arg-type]


# --- starting and resuming -----------------------------------------------------------------------


async def start(update: Update, context: UnionContext) -> State | None:
    """/initiative: a new draft; asks its title (then each part in order)."""
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            initiative = await drafting.start_draft(session, member)
            found = await drafting.draft(session, member, initiative.id)  # type: ignore[arg-type]
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None
        await session.commit()
    # From /drafts' button too: the introduction, then the first question, as new messages.
    await common.reply(update, context.t("initiatives.intro", total=len(PARTS)))
    return await _ask(update, context, found, Part.TITLE, guided=True, new=True)


async def opened(update: Update, context: UnionContext) -> State | None:
    """A draft from /drafts (or a returned initiative to edit): its overview."""
    return await _tap(update, context, None, lambda found, _: _overview(update, context, found))


async def chose_edit(update: Update, context: UnionContext) -> State | None:
    """A part to edit, from the overview: asks it, then back to the overview."""
    index = common.callback_ids(update)[1]
    if index >= len(PARTS):
        return await _stale(update, context)
    return await _tap(
        update, context, None,
        lambda found, _: _ask(update, context, found, PARTS[index], guided=False),
    )


async def skipped(update: Update, context: UnionContext) -> State | None:
    """Leaves a part for later while /initiative asks in order: asks the next one."""
    index = common.callback_ids(update)[1]
    if index >= len(PARTS):
        return await _stale(update, context)
    return await _tap(
        update, context, None,
        lambda found, guided: _after(update, context, found, PARTS[index], guided),
    )


# --- the parts -----------------------------------------------------------------------------------


async def received_title(update: Update, context: UnionContext) -> State | None:
    """Stores the title; asks the field (or back to the overview)."""
    return await _typed(update, context, Part.TITLE, drafting.set_title)


async def chose_field(update: Update, context: UnionContext) -> State | None:
    """Stores the field of application; asks the problem."""
    index = common.callback_ids(update)[1]
    if index >= len(FIELDS):
        return await _stale(update, context)

    async def operation(session: AsyncSession, member: Member | None, ids: list[int]) -> None:
        await drafting.set_field(session, member, ids[0], FIELDS[index])

    return await _tap(
        update, context, operation,
        lambda found, guided: _after(update, context, found, Part.FIELD, guided),
    )


def _text_setter(
    part: Part,
) -> Callable[[AsyncSession, Member | None, int, str], Awaitable[object]]:
    async def operation(
        session: AsyncSession, member: Member | None, initiative_id: int, text: str
    ) -> None:
        await drafting.set_text(session, member, initiative_id, part, text)

    return operation


async def received_problem(update: Update, context: UnionContext) -> State | None:
    """Stores the problem and the current state; asks the solution."""
    return await _typed(update, context, Part.PROBLEM, _text_setter(Part.PROBLEM))


async def received_solution(update: Update, context: UnionContext) -> State | None:
    """Stores the solution's substance; asks when it was first applied."""
    return await _typed(update, context, Part.SOLUTION, _text_setter(Part.SOLUTION))


async def received_first_applied(update: Update, context: UnionContext) -> State | None:
    """Stores the date it was first applied or trialled; asks where."""
    tz = context.services.settings.tz

    async def operation(
        session: AsyncSession, member: Member | None, initiative_id: int, text: str
    ) -> None:
        await drafting.set_first_applied(
            session, member, initiative_id, text, now=utcnow(), tz=tz
        )

    return await _typed(update, context, Part.FIRST_APPLIED, operation)


async def received_where(update: Update, context: UnionContext) -> State | None:
    """Stores where it was applied; asks the benefits."""
    return await _typed(update, context, Part.WHERE, drafting.set_applied_where)


async def received_benefits(update: Update, context: UnionContext) -> State | None:
    """Stores the benefits; asks what is confidential."""
    return await _typed(update, context, Part.BENEFITS, _text_setter(Part.BENEFITS))


async def received_confidential(update: Update, context: UnionContext) -> State | None:
    """Stores what the council should keep confidential; asks the authors."""
    return await _typed(update, context, Part.CONFIDENTIAL, drafting.set_confidential)


async def chose_nothing_confidential(update: Update, context: UnionContext) -> State | None:
    """Nothing to keep confidential; asks the authors."""

    async def operation(session: AsyncSession, member: Member | None, ids: list[int]) -> None:
        await drafting.set_confidential(session, member, ids[0], "")

    return await _tap(
        update, context, operation,
        lambda found, guided: _after(update, context, found, Part.CONFIDENTIAL, guided),
    )


# --- authors -------------------------------------------------------------------------------------


async def _authors(update: Update, context: UnionContext, found: Draft, guided: bool) -> State:
    return await _ask(update, context, found, Part.AUTHORS, guided=guided)


async def chose_authors(update: Update, context: UnionContext) -> State | None:
    """Back to the authors (from a search, a name or the shares)."""
    return await _tap(
        update, context, None, lambda found, guided: _authors(update, context, found, guided)
    )


async def _ask_typed(
    update: Update, context: UnionContext, state: State, screen: Callable[[Draft], Screen]
) -> State | None:
    """A question about the authors that waits for typed text (a name, the shares)."""

    async def then(found: Draft, guided: bool) -> State:
        _keep_flow(context, found.initiative.id, guided)  # type: ignore[arg-type]
        await context.remember_state(CONVERSATION, update, state)
        await _show(update, screen(found))
        return state

    return await _tap(update, context, None, then)


def _back_to_authors(context: UnionContext, found: Draft) -> InlineKeyboardMarkup:
    return common.keyboard([[(context.t("common.back"), f"ini:auth:{found.initiative.id}")]])


async def chose_find(update: Update, context: UnionContext) -> State | None:
    """Asks for a colleague's name to search in the member's union."""
    return await _ask_typed(update, context, TYPING_SEARCH, lambda found: (
        context.t("initiatives.ask_search"), _back_to_authors(context, found)
    ))


async def received_search(update: Update, context: UnionContext) -> State | None:
    """Shows the colleagues whose names match (another name typed searches again)."""
    text = _typed_text(update)

    async def step(
        session: AsyncSession, member: Member | None, initiative_id: int
    ) -> tuple[int, list[Member]]:
        return initiative_id, await drafting.find_colleagues(session, member, initiative_id, text)

    found = await _on_flow(update, context, step)
    if isinstance(found, _Stop):
        return found.state
    initiative_id, hits = found
    key = "initiatives.found" if hits else "initiatives.found_nobody"
    rows = [
        [(_clip(colleague.full_name, 60), f"ini:add:{initiative_id}:{colleague.id}")]
        for colleague in hits
    ]
    rows.append([(context.t("initiatives.type_name_button"), f"ini:name:{initiative_id}")])
    rows.append([(context.t("common.back"), f"ini:auth:{initiative_id}")])
    await context.remember_state(CONVERSATION, update, TYPING_SEARCH)
    await common.reply(update, context.t(key, count=len(hits)), reply_markup=common.keyboard(rows))
    return TYPING_SEARCH


async def chose_colleague(update: Update, context: UnionContext) -> State | None:
    """Adds the colleague as a co-author (shares split evenly again); shows the authors."""

    async def operation(session: AsyncSession, member: Member | None, ids: list[int]) -> None:
        await drafting.add_colleague(session, member, ids[0], ids[1])

    return await _tap(
        update, context, operation, lambda found, guided: _authors(update, context, found, guided)
    )


async def chose_type_name(update: Update, context: UnionContext) -> State | None:
    """Asks the name of a co-author who is not in the bot."""
    return await _ask_typed(update, context, TYPING_AUTHOR_NAME, lambda found: (
        context.t("initiatives.ask_author_name", min=drafting.AUTHOR_NAME_MIN,
                  max=AUTHOR_NAME_MAX),
        _back_to_authors(context, found),
    ))


async def received_author_name(update: Update, context: UnionContext) -> State | None:
    """Adds the named co-author (shares split evenly again); shows the authors."""
    return await _typed_to_authors(update, context, drafting.add_named_author)


def _shares_question(context: UnionContext, found: Draft) -> Screen:
    lines = [context.t("initiatives.ask_shares", count=len(found.authors))]
    lines += [
        context.t("initiatives.author_line_member", n=n, name=author.name, share=author.share)
        for n, author in enumerate(found.authors, 1)
    ]
    example = " ".join(str(share) for share in drafting.even_shares(len(found.authors)))
    lines += ["", context.t("initiatives.shares_example", example=example)]
    return "\n".join(lines), _back_to_authors(context, found)


async def chose_shares(update: Update, context: UnionContext) -> State | None:
    """Asks each author's share, typed in the order of the authors."""
    return await _ask_typed(
        update, context, TYPING_SHARES, lambda found: _shares_question(context, found)
    )


async def received_shares(update: Update, context: UnionContext) -> State | None:
    """Stores the shares (one per author, summing to 100); shows the authors."""
    return await _typed_to_authors(update, context, drafting.set_shares)


async def _typed_to_authors(
    update: Update, context: UnionContext, operation: TypedOperation
) -> State | None:
    found = await _typed_answer(update, context, operation)
    if isinstance(found, _Stop):
        return found.state
    return await _authors(update, context, found, _guided(context, found.initiative.id))  # type: ignore[arg-type]


async def chose_remove(update: Update, context: UnionContext) -> State | None:
    """Removes a co-author (shares split evenly again); shows the authors."""

    async def operation(session: AsyncSession, member: Member | None, ids: list[int]) -> None:
        await drafting.remove_author(session, member, ids[0], ids[1])

    return await _tap(
        update, context, operation, lambda found, guided: _authors(update, context, found, guided)
    )


async def finished_authors(update: Update, context: UnionContext) -> State | None:
    """The authors are done: asks for the attachments (or back to the overview)."""
    return await _tap(
        update, context, None,
        lambda found, guided: _after(update, context, found, Part.AUTHORS, guided),
    )


# --- attachments ---------------------------------------------------------------------------------


async def _keep_file(
    update: Update,
    context: UnionContext,
    *,
    kind: str,
    file_id: str,
    file_unique_id: str,
    name: str | None,
    size: int | None,
) -> State | None:
    """Keeps one file with the draft and says so (each photo of an album comes on its own)."""

    async def step(
        session: AsyncSession, member: Member | None, initiative_id: int
    ) -> tuple[InitiativeAttachment, int]:
        return await drafting.add_attachment(
            session, member, initiative_id, channel=context.channel, kind=kind,
            file_id=file_id, file_unique_id=file_unique_id, file_name=name, size=size,
        )

    kept = await _on_flow(update, context, step)
    if isinstance(kept, _Stop):
        return kept.state
    attachment, count = kept
    initiative_id = attachment.initiative_id
    text = context.t(
        "initiatives.file_received", name=_file_name(context, attachment), count=count,
        max=ATTACHMENTS_MAX,
    )
    done = [(context.t("initiatives.files_done_button"), f"ini:ov:{initiative_id}")]
    await common.reply(update, text, reply_markup=common.keyboard([done]))
    return None


async def received_file(update: Update, context: UnionContext) -> State | None:
    """Keeps a photo (its largest size) or a document as an attachment (a document over the
    Bot API's 20 MB download limit is refused)."""
    sent = common.incoming_file(update)
    return await _keep_file(
        update, context, kind=sent.kind, file_id=sent.file_id,
        file_unique_id=sent.file_unique_id, name=sent.name, size=sent.size,
    )


async def chose_clear_files(update: Update, context: UnionContext) -> State | None:
    """Forgets the files sent so far; asks for them again."""

    async def operation(session: AsyncSession, member: Member | None, ids: list[int]) -> None:
        await drafting.remove_attachments(session, member, ids[0])

    return await _tap(
        update, context, operation,
        lambda found, guided: _ask(update, context, found, Part.ATTACHMENTS, guided=guided),
    )


async def finished_files(update: Update, context: UnionContext) -> State | None:
    """The overview of the draft (also "back to the overview" from any question)."""
    return await _tap(update, context, None, lambda found, _: _overview(update, context, found))


# --- preview and submission ----------------------------------------------------------------------


async def chose_preview(update: Update, context: UnionContext) -> State | None:
    """The whole request exactly as the council will read it, then Submit or back."""

    async def then(found: Draft, _: bool) -> State:
        initiative = found.initiative
        footer = [context.t("initiative.form.attachments", count=len(found.attachments))]
        footer += [
            context.t("initiatives.file_line", name=_clip(_file_name(context, attachment), 80))
            for attachment in found.attachments
        ]
        messages = form_messages(
            context, initiative, found.authors,
            heading=context.t("initiatives.preview_heading"), footer="\n".join(footer),
        )
        if initiative.status == InitiativeStatus.RETURNED:
            submit = (context.t("initiatives.resubmit_button"), f"ini:resub:{initiative.id}")
        else:
            submit = (context.t("initiatives.submit_button"), f"ini:submit:{initiative.id}")
        markup = common.keyboard([
            [submit], [(context.t("initiatives.overview_button"), f"ini:ov:{initiative.id}")],
        ])
        assert update.callback_query is not None
        await update.callback_query.answer()
        for n, text in enumerate(messages, 1):
            await common.reply(update, text, reply_markup=markup if n == len(messages) else None)
        _keep_flow(context, initiative.id, guided=False)  # type: ignore[arg-type]
        await context.remember_state(CONVERSATION, update, REVIEWING)
        return REVIEWING

    return await _tap(update, context, None, then)


async def _destination(
    update: Update, context: UnionContext, to: InitiativeStatus
) -> drafting.Destination | None:
    """Where the tapped initiative would go, or a refusal (the missing parts named)."""
    [initiative_id] = common.callback_ids(update)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            destination = await drafting.submission_check(
                session, member, initiative_id, to=to
            )
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None
        await session.commit()
    return destination


async def chose_submit(update: Update, context: UnionContext) -> State | None:
    """Asks "submit to your union now?" (a complete draft only)."""
    destination = await _destination(update, context, InitiativeStatus.SUBMITTED)
    if destination is None:
        return None
    initiative = destination.draft.initiative
    text = context.t(
        "initiatives.confirm_submit", title=_title(context, initiative.title),
        unit=destination.unit.name, level=_level(context, destination.level),
    )
    markup = common.keyboard([
        [(context.t("initiatives.confirm_button"), f"ini:sure:{initiative.id}")],
        [(context.t("initiatives.overview_button"), f"ini:ov:{initiative.id}")],
    ])
    _keep_flow(context, initiative.id, guided=False)  # type: ignore[arg-type]
    await context.remember_state(CONVERSATION, update, REVIEWING)
    await _show(update, (text, markup))
    return REVIEWING


async def confirmed_submit(update: Update, context: UnionContext) -> State | None:
    """Submits the draft to the member's union and tells the co-authors who are members."""
    [initiative_id] = common.callback_ids(update)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            initiative = await drafting.submit(
                session, member, initiative_id, now=utcnow(), tz=context.services.settings.tz
            )
            destination = await drafting.destination_of(session, initiative)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None
        assert member is not None
        told = await notify_authors(
            context.services, session, initiative, "initiatives.notice_submitted",
            skip_member_id=member.id, title=initiative.title, name=member.full_name,
            unit=destination.name, level=Localized(f"initiative.level.{initiative.level}"),
        )
        await session.commit()
    context.services.wake_up()
    log.info("initiative %s submitted by member %s", initiative.id, member.id)
    return await _finished(update, context, [
        context.t(
            "initiatives.submitted", title=initiative.title, unit=destination.name,
            level=_level(context, initiative.level),
        ),
        context.t("initiatives.coauthors_told", count=told) if told else "",
    ])


async def chose_resubmit(update: Update, context: UnionContext) -> State | None:
    """A returned initiative, edited: asks for an optional note of what was changed."""
    destination = await _destination(update, context, InitiativeStatus.RESUBMITTED)
    if destination is None:
        return None
    initiative = destination.draft.initiative
    text = context.t("initiatives.ask_note", title=initiative.title, max=COMMENT_MAX)
    markup = common.keyboard([
        [(context.t("initiatives.resubmit_no_note_button"), f"ini:resok:{initiative.id}")],
        [(context.t("initiatives.overview_button"), f"ini:ov:{initiative.id}")],
    ])
    _keep_flow(context, initiative.id, guided=False)  # type: ignore[arg-type]
    await context.remember_state(CONVERSATION, update, TYPING_NOTE)
    await _show(update, (text, markup))
    return TYPING_NOTE


async def _resubmit(
    update: Update, context: UnionContext, initiative_id: int, note: str | None
) -> State | None:
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            initiative = await drafting.resubmit(
                session, member, initiative_id, note, now=utcnow()
            )
            destination = await drafting.destination_of(session, initiative)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            if isinstance(error, InvalidInput) and error.code == "ini_note_too_long":
                return None
            return None if update.callback_query is not None else END
        assert member is not None
        told = await notify_authors(
            context.services, session, initiative, "initiatives.notice_resubmitted",
            skip_member_id=member.id, title=initiative.title, name=member.full_name,
            unit=destination.name,
        )
        await session.commit()
    context.services.wake_up()
    log.info("initiative %s resubmitted by member %s", initiative.id, member.id)
    return await _finished(update, context, [
        context.t("initiatives.resubmitted", title=initiative.title, unit=destination.name),
        context.t("initiatives.coauthors_told", count=told) if told else "",
    ])


async def received_note(update: Update, context: UnionContext) -> State | None:
    """Resubmits with the note typed as what was changed."""
    flow = _flow(context)
    if flow.get("id") is None:
        return await _lost(update, context)
    return await _resubmit(update, context, int(flow["id"]), _typed_text(update))


async def confirmed_resubmit(update: Update, context: UnionContext) -> State | None:
    """Resubmits without a note."""
    [initiative_id] = common.callback_ids(update)
    return await _resubmit(update, context, initiative_id, None)


async def chose_delete(update: Update, context: UnionContext) -> State | None:
    """Asks "delete this draft for good?" (a draft only; a returned initiative stays)."""

    async def operation(session: AsyncSession, member: Member | None, ids: list[int]) -> None:
        await drafting.deletable(session, member, ids[0])

    async def then(found: Draft, _: bool) -> State:
        initiative = found.initiative
        text = context.t("initiatives.confirm_delete", title=_title(context, initiative.title))
        markup = common.keyboard([
            [(context.t("initiatives.delete_confirm_button"), f"ini:delok:{initiative.id}")],
            [(context.t("initiatives.overview_button"), f"ini:ov:{initiative.id}")],
        ])
        _keep_flow(context, initiative.id, guided=False)  # type: ignore[arg-type]
        await context.remember_state(CONVERSATION, update, REVIEWING)
        await _show(update, (text, markup))
        return REVIEWING

    return await _tap(update, context, operation, then)


async def confirmed_delete(update: Update, context: UnionContext) -> State | None:
    """Deletes the draft (its authors and files with it); shows what drafts are left."""
    [initiative_id] = common.callback_ids(update)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            title = await drafting.delete_draft(session, member, initiative_id)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None
        await session.commit()
        text, markup = await _drafts_screen(session, context, member)
    log.info("initiative draft %s deleted by member %s", initiative_id, member.id)  # type: ignore[union-attr]
    _forget(context)
    deleted = context.t("initiatives.deleted", title=_title(context, title))
    await _show(update, (f"{deleted}\n\n{text}", markup))
    return END


async def _finished(update: Update, context: UnionContext, lines: list[str]) -> State:
    """The flow is over: the tapped question loses its buttons, the result is said."""
    _forget(context)
    query = update.callback_query
    if query is not None:
        await query.answer()
        await _close(update)
    await common.reply(update, "\n".join(line for line in lines if line))
    return END


async def _close(update: Update) -> None:
    """Removes the buttons of the tapped message, so it cannot be answered twice."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        log.debug("question already closed")


# --- leaving -------------------------------------------------------------------------------------


async def later(update: Update, context: UnionContext) -> State:
    """Leaves the flow; the draft stays as it is (/drafts to go on)."""
    _forget(context)
    if update.callback_query is not None:
        await update.callback_query.answer()
        await _close(update)
    await common.reply(update, context.t("initiatives.saved"))
    return END


async def _lost(update: Update, context: UnionContext) -> State:
    """Typed text while the draft it belongs to is unknown (kept data lost): start again."""
    _forget(context)
    await common.reply(update, context.t("initiatives.lost"))
    return END


async def _stale(update: Update, context: UnionContext) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)
    return None


@common.refuses_text
async def file_expected(update: Update, context: UnionContext) -> None:
    """Something other than a photo or a document while attachments are asked."""
    key = (
        "initiatives.file_expected_zalo" if context.channel == Channel.ZALO
        else "initiatives.file_expected"
    )
    flow = _flow(context)
    markup = None
    if flow.get("id") is not None:
        markup = common.keyboard(
            [[(context.t("initiatives.files_done_button"), f"ini:ov:{flow['id']}")]]
        )
    await common.reply(update, context.t(key), reply_markup=markup)
    return None


# --- /drafts and /myinitiatives ------------------------------------------------------------------


MakeScreen = Callable[[AsyncSession, Member | None], Awaitable[Screen]]


async def _screen(update: Update, context: UnionContext, step: MakeScreen) -> None:
    """Shows the screen `step` makes; a refusal is said (an alert on a tap), nothing changes."""
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            screen = await step(session, member)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return
        await session.commit()
    await _show(update, screen)


async def _drafts_screen(
    session: AsyncSession, context: UnionContext, member: Member | None
) -> Screen:
    drafts = await drafting.drafts_of(session, member)
    new = [(context.t("initiatives.new_button"), "ini:new")]
    if not drafts:
        return context.t("initiatives.drafts_empty"), common.keyboard([new])
    lines = [context.t("initiatives.drafts_title", count=len(drafts))]
    rows = []
    for n, initiative in enumerate(drafts, 1):
        title = _title(context, initiative.title)
        lines.append(context.t(
            "initiatives.drafts_item", n=n, title=_clip(title, 120),
            when=context.local_time(initiative.updated_at),
        ))
        rows.append([(f"{n}. {_clip(title, 50)}", f"ini:open:{initiative.id}")])
    rows.append(new)
    return "\n".join(lines), common.keyboard(rows)


async def show_drafts(update: Update, context: UnionContext) -> None:
    """/drafts: the member's unsubmitted drafts, to go on with one (or start a new one)."""
    await _screen(update, context, lambda s, m: _drafts_screen(s, context, m))


async def _list_screen(
    session: AsyncSession, context: UnionContext, member: Member | None, page: int = 0
) -> Screen:
    """A page of the member's initiatives, newest first, each a button to open it."""
    items = await drafting.initiatives_of(session, member)
    if not items:
        return context.t("initiatives.mine_empty"), None
    pages = (len(items) + LIST_BUTTONS - 1) // LIST_BUTTONS
    page = min(max(page, 0), pages - 1)
    first = page * LIST_BUTTONS
    lines = [context.t("initiatives.mine_title", count=len(items))]
    rows = []
    for n, initiative in enumerate(items[first:first + LIST_BUTTONS], first + 1):
        title = _title(context, initiative.title)
        lines.append(context.t(
            "initiatives.mine_item", n=n, title=_clip(title, 150),
            status=_status(context, initiative.status),
        ))
        rows.append([(f"{n}. {_clip(title, 50)}", f"ini:view:{initiative.id}")])
    if pages > 1:
        lines += ["", context.t("initiatives.mine_page", page=page + 1, pages=pages)]
        pager = []
        if page > 0:
            pager.append((context.t("common.previous"), f"ini:list:{page - 1}"))
        if page + 1 < pages:
            pager.append((context.t("common.next"), f"ini:list:{page + 1}"))
        rows.append(pager)
    return "\n".join(lines), common.keyboard(rows)


async def show_mine(update: Update, context: UnionContext) -> None:
    """/myinitiatives: every initiative the member wrote or co-wrote, with its status."""
    await _screen(update, context, lambda s, m: _list_screen(s, context, m))


def _card_text(context: UnionContext, card: drafting.Card, most: int) -> str:
    """An initiative for one of its authors; the council's words and comments cut to `most`
    characters each (the card is one message)."""
    initiative = card.initiative
    lines = [
        context.t("initiatives.card_title", title=_title(context, initiative.title)),
        context.t("initiatives.card_status", status=_status(context, initiative.status)),
    ]
    if card.unit is not None:
        lines.append(context.t(
            "initiatives.card_unit", unit=card.unit.name, level=_level(context, initiative.level)
        ))
    if initiative.school_year:
        lines.append(context.t("initiatives.card_year", year=initiative.school_year))
    names = ", ".join(f"{author.name} ({author.share}%)" for author in card.authors)
    lines.append(context.t("initiatives.card_authors", names=names))
    if card.council_comment:
        key = (
            "initiatives.card_rejected_reason"
            if initiative.status == InitiativeStatus.REJECTED
            else "initiatives.card_council"
        )
        lines += ["", context.t(key, text=_clip(card.council_comment, most))]
    if card.reviewer_comments:
        lines += ["", context.t("initiatives.card_reviewers")]
        lines += [
            context.t("initiatives.card_reviewer_comment", text=_clip(comment, most))
            for comment in card.reviewer_comments
        ]
    if card.recognitions:
        lines += ["", context.t("initiatives.card_recognitions")]
        lines += [
            context.t(
                "initiatives.card_recognition", level=_level(context, r.level), unit=r.unit,
                number=r.certificate_no, year=r.school_year,
            )
            for r in card.recognitions
        ]
    if card.steps:
        lines += ["", context.t("initiatives.card_history")]
        for step in card.steps[-HISTORY_SHOWN:]:
            lines.append(context.t(
                "initiatives.card_step", when=context.local_time(step.at),
                status=_status(context, step.status), who=step.author or step.unit or "—",
            ))
            # The council's words are shown above; the step of the return need not repeat them.
            if step.comment and step.comment != card.council_comment:
                lines.append(context.t(
                    "initiatives.card_step_comment", text=_clip(step.comment, min(most, 300))
                ))
    return "\n".join(lines)


async def _card_screen(
    session: AsyncSession, context: UnionContext, member: Member | None, initiative_id: int
) -> Screen:
    card = await drafting.card(session, member, initiative_id)
    for most in (1500, 500, 150, 60):
        text = _card_text(context, card, most)
        if len(text) <= SCREEN_MAX:
            break
    initiative_id = card.initiative.id  # type: ignore[assignment]
    rows: list[list[tuple[str, str]]] = []
    if card.can_resubmit:
        rows.append([(context.t("initiatives.edit_returned_button"), f"ini:open:{initiative_id}")])
        rows.append([(context.t("initiatives.resubmit_button"), f"ini:resub:{initiative_id}")])
    elif card.can_edit:
        rows.append([(context.t("initiatives.continue_button"), f"ini:open:{initiative_id}")])
    rows.append([(context.t("initiatives.full_text_button"), f"ini:text:{initiative_id}")])
    rows.append([(context.t("initiatives.back_to_list_button"), "ini:list")])
    return text, common.keyboard(rows)


async def opened_card(update: Update, context: UnionContext) -> None:
    """One initiative: status, history, recognitions; when returned, the council's comments,
    Edit and Resubmit."""
    [initiative_id] = common.callback_ids(update)
    await _screen(update, context, lambda s, m: _card_screen(s, context, m, initiative_id))


async def browsed_list(update: Update, context: UnionContext) -> None:
    """Another page of /myinitiatives (or back to its first), in place."""
    page = (common.callback_ids(update) or [0])[0]
    await _screen(update, context, lambda s, m: _list_screen(s, context, m, page))


async def sent_full_text(update: Update, context: UnionContext) -> None:
    """The whole request as the council reads it (for any of its authors)."""
    [initiative_id] = common.callback_ids(update)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            found = await drafting.read(session, member, initiative_id)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return
        await session.commit()
    assert update.callback_query is not None
    await update.callback_query.answer()
    footer = context.t("initiative.form.attachments", count=len(found.attachments))
    for text in form_messages(context, found.initiative, found.authors, footer=footer):
        await common.reply(update, text)


# --- wiring --------------------------------------------------------------------------------------


def _button(pattern: str, callback: Callable[..., Awaitable[Any]]) -> CallbackQueryHandler:  # type: ignore[type-arg]
    return CallbackQueryHandler(callback, pattern=rf"^ini:{pattern}$")


def _entries() -> list[BaseHandler]:  # type: ignore[type-arg]
    """Every button of a draft, from any message: each is checked again by the models."""
    return [
        CommandHandler(
            "initiative", start, filters=~filters.Regex(r"^/initiative(@\w+)?\s+stats")
        ),
        _button("new", start),
        _button(rf"(open|ov):{ID}", opened),
        _button(rf"edit:{ID}:{N}", chose_edit),
        _button(rf"skip:{ID}:{N}", skipped),
        _button(rf"field:{ID}:{N}", chose_field),
        _button(rf"none:{ID}", chose_nothing_confidential),
        _button(rf"auth:{ID}", chose_authors),
        _button(rf"find:{ID}", chose_find),
        _button(rf"add:{ID}:{ID}", chose_colleague),
        _button(rf"name:{ID}", chose_type_name),
        _button(rf"shares:{ID}", chose_shares),
        _button(rf"rm:{ID}:{ID}", chose_remove),
        _button(rf"authok:{ID}", finished_authors),
        _button(rf"clear:{ID}", chose_clear_files),
        _button(rf"prev:{ID}", chose_preview),
        _button(rf"submit:{ID}", chose_submit),
        _button(rf"sure:{ID}", confirmed_submit),
        _button(rf"resub:{ID}", chose_resubmit),
        _button(rf"resok:{ID}", confirmed_resubmit),
        _button(rf"del:{ID}", chose_delete),
        _button(rf"delok:{ID}", confirmed_delete),
        _button("later", later),
    ]


def _typing(callback: Callable[..., Awaitable[Any]]) -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        MessageHandler(filters.TEXT & ~filters.COMMAND, callback),
        MessageHandler(~filters.COMMAND, common.says("initiatives.text_expected")),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """Writing an initiative, persisted across restarts."""
    buttons_only = [MessageHandler(~filters.COMMAND, common.says("initiatives.button_expected"))]
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=_entries(),
        states={
            TYPING_TITLE: _typing(received_title),
            CHOOSING_FIELD: buttons_only,
            TYPING_PROBLEM: _typing(received_problem),
            TYPING_SOLUTION: _typing(received_solution),
            TYPING_FIRST_APPLIED: _typing(received_first_applied),
            TYPING_WHERE: _typing(received_where),
            TYPING_BENEFITS: _typing(received_benefits),
            TYPING_CONFIDENTIAL: _typing(received_confidential),
            CHOOSING_AUTHORS: buttons_only,
            TYPING_SEARCH: _typing(received_search),
            TYPING_AUTHOR_NAME: _typing(received_author_name),
            TYPING_SHARES: _typing(received_shares),
            SENDING_FILES: [
                MessageHandler(filters.PHOTO | filters.Document.ALL, received_file),
                MessageHandler(~filters.COMMAND, file_expected),
            ],
            REVIEWING: buttons_only,
            TYPING_NOTE: _typing(received_note),
        },
        fallbacks=[
            CommandHandler("cancel", later),
            # /myinitiatives' own buttons show something and leave the question open.
            common.other_button_leaves("ini:", _forget),
            common.other_command_leaves(_forget),
        ],
        allow_reentry=True,
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        conversation(),
        CommandHandler("drafts", show_drafts),
        CommandHandler("myinitiatives", show_mine),
        _button(rf"view:{ID}", opened_card),
        _button(r"list(:\d{1,4})?", browsed_list),
        _button(rf"text:{ID}", sent_full_text),
    ]
