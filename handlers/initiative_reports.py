"""/initiative stats and the council exports (filled in by the reports work)."""

from __future__ import annotations


def handlers() -> list:  # type: ignore[type-arg]
    return []
