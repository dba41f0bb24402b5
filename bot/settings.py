"""Configuration: one typed place, read from the environment or a `.env` file.

Every variable is documented in README.md and `.env.example`. A bad or missing value stops
start-up with one line naming the variable (see `load_settings`), never a traceback.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SUPPORTED_LOCALES = ("vi", "en")

# Telegram accepts 1-256 characters from this set for the webhook secret header.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the variable and the problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `WEBHOOK_URL=` in a copied .env.example means "not set", not "an empty URL".
        env_ignore_empty=True,
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    zalo_bot_token: SecretStr | None = None
    zalo_api_base_url: AnyHttpUrl = AnyHttpUrl("https://bot-api.zaloplatforms.com")
    zalo_webhook_secret: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///./unionbot.db"
    default_locale: Literal["vi", "en"] = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Delivery outbox (bot/delivery.py). Rates are messages per second per bot, held across
    # every worker on the database: Telegram allows about 30/s (up to 1000/s with paid
    # broadcast enabled for the bot).
    telegram_rate: float = Field(default=25, gt=0, le=1000)
    zalo_rate: float = Field(default=10, gt=0, le=1000)
    delivery_concurrency: int = Field(default=8, ge=1, le=512)
    delivery_max_attempts: int = Field(default=5, ge=1, le=100)
    delivery_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    delivery_lease_seconds: float = Field(default=300, ge=1, le=86400)
    # false: `unionbot run` leaves delivery to separate `unionbot worker` processes.
    delivery_in_run: bool = True
    # How often the scheduler looks for scheduled announcements that are due (bot/scheduler.py).
    scheduler_tick_seconds: float = Field(default=15, ge=1, le=3600)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        # BotFather tokens look like "123456789:AA…"; catching a pasted URL or an empty value
        # here is kinder than a 401 from Telegram later.
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", value.get_secret_value().strip()):
            raise ValueError("must look like 123456789:ABC… (the token BotFather gave you)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a known IANA time zone such as Asia/Ho_Chi_Minh") from exc
        return value

    @field_validator("zalo_bot_token")
    @classmethod
    def _zalo_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not re.fullmatch(r"[A-Za-z0-9:_.-]{8,512}", token):
            raise ValueError("must be the token Zalo Bot Manager gave you (no spaces or URL)")
        return SecretStr(token)

    @field_validator("webhook_secret", "zalo_webhook_secret")
    @classmethod
    def _secret_chars(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters: letters, digits, _ and -")
        return value

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return [p for p in parts if p]
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def webhook_mode(self) -> bool:
        return self.webhook_url is not None

    @property
    def telegram_base(self) -> str:
        return str(self.telegram_api_base_url).rstrip("/")

    @property
    def zalo_base(self) -> str:
        return str(self.zalo_api_base_url).rstrip("/")

    @property
    def channels(self) -> list[str]:
        """The chat channels configured (by their token), Telegram first."""
        configured = []
        if self.telegram_bot_token is not None:
            configured.append("telegram")
        if self.zalo_bot_token is not None:
            configured.append("zalo")
        return configured


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise ConfigError with one readable line per bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
            if error["type"] == "missing":
                lines.append(f"{name} is not set")
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                lines.append(f"{name} {message}" if error["type"] == "value_error"
                             else f"{name}: {message}")
        raise ConfigError("; ".join(lines)) from None
    if settings.webhook_mode:
        # Telegram's secret, unless only Zalo is configured; Zalo's, when Zalo is.
        zalo_only = settings.zalo_bot_token is not None and settings.telegram_bot_token is None
        if settings.webhook_secret is None and not zalo_only:
            raise ConfigError(
                "WEBHOOK_SECRET is not set (it is required when WEBHOOK_URL is set)"
            )
        if settings.zalo_bot_token is not None and settings.zalo_webhook_secret is None:
            raise ConfigError(
                "ZALO_WEBHOOK_SECRET is not set (it is required when WEBHOOK_URL is set)"
            )
    return settings


def require_a_channel(settings: Settings) -> None:
    """`unionbot run` needs at least one chat channel; the other commands need none."""
    if not settings.channels:
        raise ConfigError(
            "neither TELEGRAM_BOT_TOKEN nor ZALO_BOT_TOKEN is set (set one or both)"
        )
