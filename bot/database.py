"""The database: one async engine and session factory per process, and the migrations.

SQLite (aiosqlite) is the zero-setup default; PostgreSQL (asyncpg) is production. Migrations are
Alembic's, kept in `bot/migrations`, and run at start so a fresh deployment needs no manual step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(url: str) -> AsyncEngine:
    """Create the engine, with the SQLite settings that make concurrent access safe.

    `hide_parameters` keeps member data out of error messages, and so out of the logs."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets the web server read while a handler writes; foreign keys are off by
            # default in SQLite and we rely on them.
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts the file and survives a process crash; only an
            # OS crash can lose the last commits. FULL would fsync every commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def _run_upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _run_downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` on this engine's database."""
    await _migrate(engine, _run_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, _run_downgrade, revision)


async def _migrate(
    engine: AsyncEngine, run: Callable[[Connection, str], None], revision: str
) -> None:
    sqlite = engine.dialect.name == "sqlite"
    async with engine.begin() as connection:
        if sqlite:
            # SQLite changes a table in a migration by copying it and dropping the original,
            # which it refuses while foreign keys are enforced and other rows point at it. The
            # pragma only takes effect outside a transaction: it is the first statement here.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.run_sync(run, revision)
    if sqlite:
        # Fresh connections get foreign keys back on (see create_engine's connect hook).
        await engine.dispose()


async def is_reachable(engine: AsyncEngine) -> bool:
    """True when a trivial query succeeds; used by /healthz."""
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    except Exception:  # any driver error means "not reachable" to a health check
        return False
    return True
