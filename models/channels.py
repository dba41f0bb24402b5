"""What the Zalo channel needs to remember so it can behave like Telegram (bot/zalo_bridge.py).

* `ZaloId`: Zalo's string ids get stable integer ids, so conversation state, persistence and
  every table treat Telegram and Zalo alike (an identity's external_id is that integer).
* `ZaloMenu`: the numbered list last shown in a chat, so "2" (or the option's words) can be
  turned into the tap of option 2 — also after a restart.
* `ZaloSeenEvent`: events already taken, so a redelivered event is processed once.

Plain tables with JSON text; no chat library here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Column, Integer, String, Text, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, utcnow

SEEN_EVENTS_KEPT = timedelta(days=3)


class ZaloId(SQLModel, table=True):
    __tablename__ = "zalo_id"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    zalo_id: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ZaloMenu(SQLModel, table=True):
    __tablename__ = "zalo_menu"

    chat_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # "inline" (a choice: answers become taps) or "reply" (suggested replies: become text).
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    # The question as the person read it, without the list.
    text: str = Field(sa_column=Column(Text, nullable=False))
    # JSON list of [label, callback data or null].
    options: str = Field(sa_column=Column(Text, nullable=False))
    page: int = 0
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ZaloSeenEvent(SQLModel, table=True):
    __tablename__ = "zalo_seen_event"

    key: str = Field(sa_column=Column(String(200), primary_key=True))
    seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


# --- ids -----------------------------------------------------------------------------------


async def _insert_new(session: AsyncSession, table: type[SQLModel], **values: object) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row is new. Safe against a concurrent
    insert of the same key, on SQLite and PostgreSQL alike."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()  # type: ignore[attr-defined]
    result = await session.exec(statement)  # type: ignore[call-overload]
    return bool(result.rowcount)


async def int_id_for(session: AsyncSession, zalo_id: str) -> tuple[int, bool]:
    """The integer id of a Zalo id, and whether it was seen for the first time now."""
    row = (await session.exec(select(ZaloId).where(ZaloId.zalo_id == zalo_id))).first()
    if row is not None:
        return row.id, False  # type: ignore[return-value]
    created = await _insert_new(session, ZaloId, zalo_id=zalo_id, created_at=utcnow())
    row = (await session.exec(select(ZaloId).where(ZaloId.zalo_id == zalo_id))).one()
    return row.id, created  # type: ignore[return-value]


async def zalo_id_for(session: AsyncSession, int_id: int) -> str | None:
    row = await session.get(ZaloId, int_id)
    return row.zalo_id if row is not None else None


# --- menus ---------------------------------------------------------------------------------


@dataclass
class Menu:
    message_id: int
    kind: str
    text: str
    options: list[tuple[str, str | None]]
    page: int = 0


async def get_menu(session: AsyncSession, chat_id: int) -> Menu | None:
    row = await session.get(ZaloMenu, chat_id)
    if row is None:
        return None
    options = [(str(label), data) for label, data in json.loads(row.options)]
    return Menu(row.message_id, row.kind, row.text, options, row.page)


async def save_menu(session: AsyncSession, chat_id: int, menu: Menu) -> None:
    row = await session.get(ZaloMenu, chat_id)
    if row is None:
        row = ZaloMenu(chat_id=chat_id, message_id=menu.message_id, kind=menu.kind, text="",
                       options="[]")
    row.message_id = menu.message_id
    row.kind = menu.kind
    row.text = menu.text
    row.options = json.dumps(menu.options, ensure_ascii=False)
    row.page = menu.page
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()


async def drop_menu(session: AsyncSession, chat_id: int) -> None:
    await session.exec(delete(ZaloMenu).where(ZaloMenu.chat_id == chat_id))  # type: ignore[call-overload]


# --- duplicate deliveries ---------------------------------------------------------------------


async def first_delivery(session: AsyncSession, key: str) -> bool:
    """Records the event `key`; False when it was already recorded (a redelivery)."""
    return await _insert_new(session, ZaloSeenEvent, key=key, seen_at=utcnow())


async def forget_old_events(session: AsyncSession, *, now: datetime | None = None) -> None:
    cutoff = (now or utcnow()) - SEEN_EVENTS_KEPT
    await session.exec(delete(ZaloSeenEvent).where(ZaloSeenEvent.seen_at < cutoff))  # type: ignore[call-overload,arg-type]
