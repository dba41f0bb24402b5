"""/review: the council of initiatives (filled in by the review work)."""

from __future__ import annotations


def handlers() -> list:  # type: ignore[type-arg]
    return []
