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


async def test_units_created_before_roles_get_their_tree_paths(engine: AsyncEngine) -> None:
    await database.downgrade(engine, "0002")
    async with engine.begin() as connection:
        for unit_id, parent in ((1, None), (2, 1), (3, 2), (4, 1)):
            await connection.exec_driver_sql(
                "INSERT INTO org_unit (id, code, name, name_folded, kind, parent_id, is_active,"
                " created_at) VALUES (?, ?, 'u', 'u', 'grassroots', ?, true, '2026-01-01')"
                if engine.dialect.name == "sqlite"
                else "INSERT INTO org_unit (id, code, name, name_folded, kind, parent_id,"
                " is_active, created_at) VALUES ($1, $2, 'u', 'u', 'grassroots', $3, true,"
                " '2026-01-01')",
                (unit_id, f"C{unit_id}", parent),
            )
    await database.upgrade(engine)
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT id, path FROM org_unit ORDER BY id")
        assert [tuple(row) for row in rows] == [
            (1, "/1/"), (2, "/1/2/"), (3, "/1/2/3/"), (4, "/1/4/")
        ]
