"""End-to-end fixtures: the real bot (`bot.app.running`) against the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from bot.app import Runtime, running
from bot.settings import Settings
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_tree

ADMIN_ID = 555001


@pytest.fixture
def make_settings(
    tg: FakeTelegram, zalo: FakeZalo, database_url: str
) -> Callable[..., Settings]:
    """Settings for the bot under test: Telegram by default; `channels=("zalo",)` or
    `("telegram", "zalo")` for the others."""

    def make(channels: tuple[str, ...] = ("telegram",), **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": tg.token if "telegram" in channels else None,
            "telegram_api_base_url": tg.base_url,
            "zalo_bot_token": zalo.token if "zalo" in channels else None,
            "zalo_api_base_url": zalo.base_url,
            "database_url": database_url,
            "http_host": "127.0.0.1",
            "http_port": 0,
            "admin_telegram_ids": [ADMIN_ID],
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
async def units(database_url: str) -> dict:
    """The sample organisation tree (see tests.factories.make_tree), committed."""
    engine = database.create_engine(database_url)
    async with database.create_session_factory(engine)() as session:
        tree = await make_tree(session)
        await session.commit()
    await engine.dispose()
    return tree


@pytest.fixture
def start_bot(make_settings) -> Callable[..., AbstractAsyncContextManager[Runtime]]:  # type: ignore[no-untyped-def]
    """`async with start_bot(): …` runs the real bot; it may be started again (a restart)."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[Runtime]:
        return running(make_settings(**overrides))

    return start


@pytest.fixture
async def bot(start_bot, units) -> AsyncIterator[Runtime]:  # type: ignore[no-untyped-def]
    async with start_bot() as runtime:
        yield runtime


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session to look at what the bot stored (expire it or open anew to see fresh rows)."""
    engine = database.create_engine(database_url)
    async with database.create_session_factory(engine)() as session:
        yield session
    await engine.dispose()
