"""/initiative, /drafts and /myinitiatives: a member writes an initiative, saved as typed, and
follows it through review (filled in by the initiatives drafting work)."""

from __future__ import annotations


def handlers() -> list:  # type: ignore[type-arg]
    return []
