"""Every message the code asks for exists in both catalogues, with the same placeholders."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from bot.i18n import load_catalogues
from bot.settings import SUPPORTED_LOCALES
from handlers.help import COMMANDS
from models.members import ConsentPurpose, Gender, MemberStatus, Position
from models.onboarding import EDITABLE_STEPS

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = load_catalogues()
KEY = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")
PREFIXES = {key.split(".")[0] for key in CATALOGUES["vi"]}


def _keys_in_code() -> set[str]:
    """String literals passed first to t(...) / translator.t(locale, ...) anywhere in the code,
    and the literal keys in tuples such as handlers.help.COMMANDS."""
    keys: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        if "migrations" in path.parts:  # table names such as "initiative.id", not keys
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and KEY.match(node.value)
                and node.value.split(".")[0] in PREFIXES
            ):
                keys.add(node.value)
    return keys


def _dynamic_keys() -> set[str]:
    """Keys built from values at run time (f"position.{p}" …)."""
    return (
        {f"position.{p}" for p in Position}
        | {f"gender.{g}" for g in Gender}
        | {f"status.{s}" for s in MemberStatus}
        | {f"consent.purpose.{p}" for p in ConsentPurpose}
        | {f"onboarding.field.{s}" for s in EDITABLE_STEPS}
        | {f"language.name.{c}" for c in SUPPORTED_LOCALES}
        | {f"language.switch_to.{c}" for c in SUPPORTED_LOCALES}
        | {key for _, key in COMMANDS}
        | {f"error.{code}" for code in _error_codes()}
    )


def _error_codes() -> set[str]:
    codes: set[str] = set()
    for path in ROOT.glob("models/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"InvalidInput", "NotAllowed", "NotFound", "DomainError"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                codes.add(node.args[0].value)
    for path in ROOT.glob("handlers/**/*.py"):
        codes |= set(re.findall(r'InvalidInput\("([a-z_]+)"', path.read_text(encoding="utf-8")))
    return codes


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_key_the_code_uses_is_translated(locale: str) -> None:
    missing = sorted((_keys_in_code() | _dynamic_keys()) - set(CATALOGUES[locale]))
    assert missing == [], f"missing from locales/{locale}: {missing}"


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    vi, en = CATALOGUES["vi"], CATALOGUES["en"]
    assert set(vi) == set(en)
    different = [k for k in vi if _placeholders(vi[k]) != _placeholders(en[k])]
    assert different == []


def test_no_catalogue_entry_is_left_empty() -> None:
    for locale, catalogue in CATALOGUES.items():
        assert all(text.strip() for text in catalogue.values()), locale


def test_command_descriptions_fit_telegram_limits() -> None:
    for catalogue in CATALOGUES.values():
        for _, key in COMMANDS:
            assert 1 <= len(catalogue[key]) <= 256 and "<" not in catalogue[key]
