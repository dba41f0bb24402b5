"""What the PostgreSQL benchmarks share: a scratch database made for one run and dropped after,
and teachers inserted in bulk (a member row and a Telegram account each)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url

from models.members import Identity, Member, MemberStatus
from models.org import OrgUnit


def default_admin_url() -> str:
    """The PostgreSQL server the benchmarks make their scratch databases on, unless told:
    TEST_DATABASE_URL's, else the local one."""
    return (os.environ.get("TEST_DATABASE_URL")
            or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def scratch_databases(admin_url: str, count: int = 1) -> AsyncIterator[list[str]]:
    """`count` new empty databases on the server of `admin_url` (asyncpg URLs), dropped on
    exit whatever happens."""
    import asyncpg

    admin = make_url(admin_url)

    async def execute(sql: str) -> None:
        connection = await asyncpg.connect(
            user=admin.username, password=admin.password, host=admin.host or "127.0.0.1",
            port=admin.port or 5432, database=admin.database or "postgres",
        )
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    names = [f"unionbot_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    try:
        for name in names:
            await execute(f'CREATE DATABASE "{name}"')
        yield [
            admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
            for name in names
        ]
    finally:
        for name in names:
            await execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def insert_teachers(
    connection: Any, units: Sequence[OrgUnit], *, start: int, count: int, now: datetime
) -> list[int]:
    """Teachers number `start` … `start + count − 1`, spread over `units`, active, a third of
    them men, one in ten in English, each with a Telegram account; their member ids."""
    rows = [
        {"full_name": f"Giáo viên {start + n:06d}",
         "full_name_folded": f"giao vien {start + n:06d}",
         "unit_id": units[(start + n) % len(units)].id, "position": "teacher",
         "gender": "female" if n % 3 else "male", "status": MemberStatus.ACTIVE,
         "locale": "en" if n % 10 == 0 else None, "created_at": now, "updated_at": now}
        for n in range(count)
    ]
    ids = [row[0] for row in (await connection.execute(
        insert(Member).returning(Member.id, sort_by_parameter_order=True), rows
    )).all()]
    await connection.execute(insert(Identity), [
        {"channel": "telegram", "external_id": str(2_000_000 + member_id),
         "member_id": member_id, "created_at": now}
        for member_id in ids
    ])
    return ids
