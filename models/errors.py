"""Domain errors. Handlers translate `code` into a localized message: key `error.<code>`."""

from __future__ import annotations


class DomainError(Exception):
    code = "generic"

    def __init__(self, code: str | None = None, **params: object) -> None:
        self.code = code or self.code
        self.params = params
        super().__init__(self.code)


class InvalidInput(DomainError):
    """What the person typed cannot be used; nothing was changed."""


class NotAllowed(DomainError):
    """The person may not do this (yet); nothing was changed."""


class NotFound(DomainError):
    """The thing named (often by a button) no longer exists or never did."""
