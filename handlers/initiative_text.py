"""An initiative's request for recognition as chat messages: the same text for the author's
preview, the council's reading and the review screens (models.initiatives.form_sections gives
the parts; this module lays them out and cuts them to fit a message)."""

from __future__ import annotations

import html

from bot.context import UnionContext
from models.initiatives import Initiative, InitiativeAuthor, form_sections

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
    `footer` (HTML) closes the last. A part longer than a message (at most 3,000 characters
    are typed per part, so only with a long heading) is cut between lines."""
    blocks = [block for block in [heading, *form_blocks(context, initiative, authors), footer]
              if block]
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
            cut = block.rfind("\n", 0, MESSAGE_MAX)
            cut = cut if cut > 0 else MESSAGE_MAX
            messages.append(block[:cut])
            block = block[cut:].lstrip("\n")
        current = block
    if current:
        messages.append(current)
    return messages
