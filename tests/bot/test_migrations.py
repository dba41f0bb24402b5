"""The migrations build exactly the tables the models describe, and can be undone and redone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot import database


def _differences(connection) -> list:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, SQLModel.metadata)


def _tables(connection) -> set[str]:  # type: ignore[no-untyped-def]
    return set(inspect(connection).get_table_names())


async def test_migrated_database_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_downgrade_then_upgrade_rebuilds_every_table(engine: AsyncEngine) -> None:
    await database.downgrade(engine, "base")
    async with engine.connect() as connection:
        assert await connection.run_sync(_tables) <= {"alembic_version"}
    await database.upgrade(engine)
    async with engine.connect() as connection:
        assert set(SQLModel.metadata.tables) <= await connection.run_sync(_tables)
        assert await connection.run_sync(_differences) == []
