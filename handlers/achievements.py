"""/record: a member's emulation record (thành tích thi đua) by school year — the titles they
achieved and the initiatives recognised with them as an author — and, for the titles they are
registered for this school year, which requirements are met, missing or still to be decided.

Officials open the same record from a member's card in /members ("ach:m:<member id>"); the id
is authorised again in models/achievements.py (a forged one is refused, logged, and changes
nothing), and the record comes in place of the card, with a button back to it ("dir:m:…",
handled by handlers/directory.py).

The record is one message, newest school year first; older years that would not fit are left
out and counted. Nothing is typed, so there is no conversation.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import UnionContext
from handlers import common
from models import achievements
from models.base import utcnow
from models.errors import DomainError
from models.members import member_of

# A record longer than this leaves its oldest years out (Telegram takes 4,096 characters).
SCREEN_MAX = 3800


def _year_lines(context: UnionContext, year: achievements.YearRecord) -> list[str]:
    lines = ["", context.t("achievements.year", year=year.school_year)]
    for title in year.titles:
        if title.movement is not None:
            lines.append(
                context.t("achievements.title_movement", title=title.name, movement=title.movement)
            )
        elif title.decision:
            lines.append(
                context.t("achievements.title_decision", title=title.name, decision=title.decision)
            )
        else:
            lines.append(context.t("achievements.title_recorded", title=title.name))
    for initiative in year.initiatives:
        lines.append(
            context.t(
                "achievements.initiative_line",
                title=initiative.title,
                level=achievements.level_name(initiative.level, context.t),
                number=initiative.certificate_no,
            )
        )
    return lines


def record_text(context: UnionContext, record: achievements.Record, heading: str) -> str:
    """The record as one message: the titles aimed at this year with their requirements, then
    each school year's titles and recognised initiatives."""
    lines = [heading]
    if record.aims:
        lines += ["", context.t("achievements.aims_title")]
        for aim in record.aims:
            check = aim.check
            lines.append(
                context.t(
                    "achievements.aim_line", title=check.name, movement=aim.movement,
                    year=check.school_year,
                )
            )
            lines.append(context.t(achievements.OUTCOME_KEYS[check.outcome]))
            lines += [
                f"   {achievements.requirement_line(requirement, context.t)}"
                for requirement in check.requirements
            ]
    if not record.years:
        lines += ["", context.t("achievements.empty")]
        return "\n".join(lines)
    size = sum(len(line) + 1 for line in lines)
    shown = 0
    for year in record.years:
        block = _year_lines(context, year)
        grown = size + sum(len(line) + 1 for line in block)
        if grown > SCREEN_MAX:
            if not shown:
                # The newest year alone does not fit (dozens of long titles): what fits of it.
                for line in block:
                    if size + len(line) + 1 > SCREEN_MAX - 2:
                        break
                    lines.append(line)
                    size += len(line) + 1
                lines.append("…")
                shown = 1
            break
        lines += block
        size, shown = grown, shown + 1
    if shown < len(record.years):
        lines += ["", context.t("achievements.more_years", count=len(record.years) - shown)]
    return "\n".join(lines)


async def show_record(update: Update, context: UnionContext) -> None:
    """/record: the member's own record; someone who is not an approved member is told why."""
    async with context.session() as session:
        member = await member_of(session, await context.identity(session, update))
        try:
            record = await achievements.my_record(
                session, member, now=utcnow(), tz=context.services.settings.tz
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    text = record_text(context, record, context.t("achievements.title_mine"))
    if record.is_empty:
        text += "\n" + context.t("achievements.empty_hint")
    await common.reply(update, text)


async def opened_record(update: Update, context: UnionContext) -> None:
    """"Record" on a member's card: their record in place of the card, with the way back."""
    query = update.callback_query
    assert query is not None
    member_id = common.callback_ids(update)[0]
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            record = await achievements.record_for_official(
                session, actor, member_id, now=utcnow(), tz=context.services.settings.tz
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    heading = context.t(
        "achievements.title_of",
        name=record.member.full_name,
        unit=record.unit.name if record.unit is not None else "",
    )
    markup = common.keyboard([[(context.t("achievements.back_to_card"), f"dir:m:{member_id}")]])
    await query.answer()
    await common.show(update, record_text(context, record, heading), markup)


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("record", show_record),
        CallbackQueryHandler(opened_record, pattern=r"^ach:m:\d{1,12}$"),
    ]
