"""Configuration: a bad or missing value stops start-up with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in list(os.environ):
        prefixes = ("TELEGRAM_", "ZALO_", "WEBHOOK_", "DATABASE_", "ADMIN_", "HTTP_", "LOG_",
                    "DELIVERY_")
        if name.startswith(prefixes):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_need_only_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABC-def_1")
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./unionbot.db"
    assert settings.default_locale == "vi" and settings.timezone == "Asia/Ho_Chi_Minh"
    assert not settings.webhook_mode
    assert "ABC" not in repr(settings)  # the token is a secret, never printed


def test_empty_values_mean_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "DATABASE_URL"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("LOG_LEVEL", "info")
    settings = load_settings()
    assert settings.telegram_bot_token is None and not settings.webhook_mode
    assert settings.log_level == "INFO"


def test_admin_ids_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", "111, 222;333")
    assert load_settings().admin_telegram_ids == [111, 222, 333]


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("TELEGRAM_BOT_TOKEN", "not a token", "TELEGRAM_BOT_TOKEN must look like"),
        ("ZALO_BOT_TOKEN", "https://x/y z", "ZALO_BOT_TOKEN must be the token"),
        ("ZALO_API_BASE_URL", "nowhere", "ZALO_API_BASE_URL"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must start with"),
        ("HTTP_PORT", "eighty", "HTTP_PORT"),
        ("ADMIN_TELEGRAM_IDS", "12,abc", "ADMIN_TELEGRAM_IDS"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE is not a known"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE"),
        ("WEBHOOK_URL", "not a url", "WEBHOOK_URL"),
    ],
)
def test_a_malformed_value_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert said in str(error.value)
    assert "\n" not in str(error.value)


def test_a_webhook_needs_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is not set"):
        load_settings()
    monkeypatch.setenv("WEBHOOK_SECRET", "has spaces in it")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET must be"):
        load_settings()


def test_zalo_alone_is_enough_and_its_webhook_needs_its_own_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZALO_BOT_TOKEN", "1234567890:zalo-Token_x")
    settings = load_settings()
    assert settings.channels == ["zalo"]
    assert settings.zalo_base == "https://bot-api.zaloplatforms.com"
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org")
    with pytest.raises(ConfigError, match=r"^ZALO_WEBHOOK_SECRET is not set"):
        load_settings()
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "zalo-secret_1")
    assert load_settings().webhook_mode  # Telegram's WEBHOOK_SECRET is not needed without it
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABC-def_1")
    with pytest.raises(ConfigError, match=r"^WEBHOOK_SECRET is not set"):
        load_settings()


def _unionbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ZALO_"))},
            **env,
        },
        capture_output=True, text=True, timeout=60,
    )


def test_run_without_a_token_says_so_in_one_line_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = _unionbot("run", env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "unionbot: configuration error: "
        "neither TELEGRAM_BOT_TOKEN nor ZALO_BOT_TOKEN is set (set one or both)"
    )


def test_run_with_a_malformed_port_names_it() -> None:
    result = _unionbot("run", env={"TELEGRAM_BOT_TOKEN": "1:A", "HTTP_PORT": "99999"})
    assert result.returncode == 2
    assert "HTTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_delivery_rates_default_to_telegrams_limit_and_refuse_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert (settings.telegram_rate, settings.delivery_concurrency) == (25, 8)
    assert settings.delivery_max_attempts == 5 and settings.delivery_in_run
    monkeypatch.setenv("TELEGRAM_RATE", "1000")  # paid broadcast
    assert load_settings().telegram_rate == 1000
    monkeypatch.setenv("TELEGRAM_RATE", "5000")
    with pytest.raises(ConfigError, match=r"^TELEGRAM_RATE: "):
        load_settings()
    monkeypatch.setenv("TELEGRAM_RATE", "30")
    monkeypatch.setenv("DELIVERY_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match=r"^DELIVERY_CONCURRENCY: "):
        load_settings()
