"""Translations: gettext catalogues in `locales/<lang>/LC_MESSAGES/*.po`, loaded at start.

Message ids are stable keys (`onboarding.ask_name`), not English sentences, so a missing
translation is detectable (tests/bot/test_i18n.py fails on one) and an English wording can change
without touching Vietnamese. Parameters use `{name}` and are HTML-escaped, because messages are
sent with HTML formatting and names come from members.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from babel.messages.pofile import read_po

from bot.settings import SUPPORTED_LOCALES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"

log = logging.getLogger(__name__)


class Translator:
    def __init__(self, catalogues: dict[str, dict[str, str]], default_locale: str) -> None:
        self.catalogues = catalogues
        self.default_locale = default_locale

    def has(self, locale: str, key: str) -> bool:
        return key in self.catalogues.get(locale, {})

    def t(self, locale: str | None, key: str, /, **params: object) -> str:
        """The text for `key` in `locale` with params escaped and filled in."""
        catalogue = self.catalogues.get(locale or self.default_locale) or self.catalogues.get(
            self.default_locale, {}
        )
        text = catalogue.get(key)
        if text is None:
            # A missing key is a bug caught by the tests; at run time, show something usable.
            log.error("missing translation %r for locale %r", key, locale)
            text = self.catalogues.get(self.default_locale, {}).get(key, key)
        safe = {k: html.escape(v) if isinstance(v, str) else v for k, v in params.items()}
        return text.format(**safe) if safe else text

    def all_locales(self, key: str, /, **params: object) -> list[str]:
        """The text for `key` in every locale (to recognise a typed button label)."""
        return [self.t(locale, key, **params) for locale in self.catalogues]


def load_catalogues(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Every `.po` file of each locale, merged: `unionbot.po` holds the shared messages and each
    larger feature may keep its own file (`units.po`, …). A key defined twice is an error."""
    catalogues: dict[str, dict[str, str]] = {}
    for locale in SUPPORTED_LOCALES:
        merged: dict[str, str] = {}
        for path in sorted((directory / locale / "LC_MESSAGES").glob("*.po")):
            with path.open("rb") as handle:
                catalogue = read_po(handle, locale=locale)
            for message in catalogue:
                if not (message.id and message.string):
                    continue
                key = str(message.id)
                if key in merged:
                    raise ValueError(f"{key!r} is defined twice in the {locale} catalogues")
                merged[key] = str(message.string)
        catalogues[locale] = merged
    return catalogues


def load_translator(default_locale: str) -> Translator:
    return Translator(load_catalogues(), default_locale)
