"""An initiative's request for recognition as chat messages: the same text for the author's
preview, the council's reading and the review screens (models.initiatives.form_sections gives
the parts; this module lays them out and cuts them to fit a message)."""

from __future__ import annotations

import html

from bot.context import UnionContext
from models.initiatives import (
    Initiative,
    InitiativeAuthor,
    InitiativeStatus,
    RecognitionLevel,
    form_sections,
)

# The catalogue keys of the statuses and levels (literal, so the i18n test sees them).
STATUS_KEYS = {
    InitiativeStatus.DRAFT: "initiative.status.draft",
    InitiativeStatus.SUBMITTED: "initiative.status.submitted",
    InitiativeStatus.UNDER_REVIEW: "initiative.status.under_review",
    InitiativeStatus.RETURNED: "initiative.status.returned",
    InitiativeStatus.RESUBMITTED: "initiative.status.resubmitted",
    InitiativeStatus.ACCEPTED: "initiative.status.accepted",
    InitiativeStatus.REJECTED: "initiative.status.rejected",
}
LEVEL_KEYS = {
    RecognitionLevel.SCHOOL: "initiative.level.school",
    RecognitionLevel.DISTRICT: "initiative.level.district",
    RecognitionLevel.CITY: "initiative.level.city",
}


def status_name(context: UnionContext, status: str) -> str:
    """A status in the person's words ("hội đồng đang xét", not "under_review")."""
    return context.t(STATUS_KEYS[status]) if status in STATUS_KEYS else status  # type: ignore[index]


def level_name(context: UnionContext, level: str | None) -> str:
    """A recognition level in the person's words; "—" when there is none yet."""
    return context.t(LEVEL_KEYS[level]) if level in LEVEL_KEYS else "—"  # type: ignore[index]


# Telegram takes 4,096 characters in a message; the rest is room for a heading.
MESSAGE_MAX = 3900


def form_blocks(
    context: UnionContext, initiative: Initiative, authors: list[InitiativeAuthor]
) -> list[str]:
    """Each part of the form as "<b>label</b>\\ntext" (HTML-escaped; missing parts marked)."""
    blocks = []
    for section in form_sections(initiative, authors):
        if section.value_key is not None:
            value = html.escape(context.t(section.value_key))
        elif section.text:
            value = html.escape(section.text)
        else:
            value = f"<i>{html.escape(context.t('initiative.form.missing'))}</i>"
        blocks.append(f"<b>{html.escape(context.t(section.label_key))}</b>\n{value}")
    return blocks


def form_messages(
    context: UnionContext,
    initiative: Initiative,
    authors: list[InitiativeAuthor],
    *,
    heading: str = "",
    footer: str = "",
) -> list[str]:
    """The whole form in as few messages as fit, in order: `heading` (HTML) opens the first,
    `footer` (HTML) closes the last. A part longer than a message (3,000 characters typed
    can grow past it once escaped: a quote is six characters) is cut between lines, else
    between words, and goes on in the next message marked "(continued)"."""
    blocks = [block for block in [heading, *form_blocks(context, initiative, authors), footer]
              if block]
    continued = f"<i>{html.escape(context.t('initiative.form.continued'))}</i>\n"
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate) <= MESSAGE_MAX:
            current = candidate
            continue
        if current:
            messages.append(current)
        while len(block) > MESSAGE_MAX:
            cut = _cut(block)
            messages.append(block[:cut])
            block = continued + block[cut:].lstrip()
        current = block
    if current:
        messages.append(current)
    return messages


def _cut(text: str) -> int:
    """Where to cut an escaped text longer than a message: at the last line break, else the
    last space, in the second half of a message; else at the limit, never inside an entity
    ("&quot;"), whose halves Telegram would refuse to parse. Tags only open a part's label,
    at its start, so they are never cut."""
    for separator in ("\n", " "):
        cut = text.rfind(separator, 0, MESSAGE_MAX)
        if cut >= MESSAGE_MAX // 2:
            return cut
    cut = MESSAGE_MAX
    entity = text.rfind("&", cut - 8, cut)
    if entity != -1 and ";" not in text[entity:cut]:
        return entity
    return cut
