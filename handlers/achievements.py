"""Members' records by school year and the requirements of titles (the achievements work)."""

from __future__ import annotations


def handlers() -> list:  # type: ignore[type-arg]
    return []
