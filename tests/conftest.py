"""Shared test fixtures: a clean database per test, on SQLite and (when TEST_DATABASE_URL is
set) on PostgreSQL, and factories for the domain objects.

PostgreSQL tests run in a database of their own, created for this test run and dropped after
it, so the server's other databases are never touched.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, text
from sqlmodel.ext.asyncio.session import AsyncSession

import models  # noqa: F401  (registers the tables)
from bot import database
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


async def _admin_execute(sql: str) -> None:
    import asyncpg

    url = make_url(PG_URL)
    connection = await asyncpg.connect(
        user=url.username, password=url.password, host=url.host or "127.0.0.1",
        port=url.port or 5432, database=url.database or "postgres",
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _run_in_thread(make_coroutine) -> None:  # type: ignore[no-untyped-def]
    # The session fixture may be first requested from inside a test's event loop; running the
    # setup on a thread of its own keeps it out of that loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(make_coroutine())).result()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A migrated PostgreSQL database made for this run (dropped at the end)."""
    name = f"unionbot_test_{uuid.uuid4().hex[:10]}"
    _run_in_thread(lambda: _admin_execute(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)

    async def migrate() -> None:
        engine = database.create_engine(rendered)
        await database.upgrade(engine)
        await engine.dispose()

    _run_in_thread(migrate)
    try:
        yield rendered
    finally:
        _run_in_thread(lambda: _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The URL of an empty, migrated database for one test."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'unionbot.db'}"
        engine = database.create_engine(url)
        await database.upgrade(engine)
        await engine.dispose()
        yield url
        return
    url = request.getfixturevalue("pg_database_url")
    engine = database.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = database.create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with database.create_session_factory(engine)() as session:
        yield session


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """The local Telegram Bot API server (tests/botapi/telegram.py)."""
    async with FakeTelegram(token="123456:TEST-TOKEN") as server:
        yield server


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    """The local Zalo Bot API server (tests/botapi/zalo.py)."""
    async with FakeZalo(token="zalo-test-token-1234") as server:
        yield server
