"""python-telegram-bot persistence stored through SQLModel, in the bot's own database.

Conversation states survive a restart, so a member resumes at the step they were on. The
library batches writes every `update_interval` seconds; `bot.app` also flushes after each
update (see `flush_after_update`), so a killed process loses at most the update in flight.

Each channel's Application has its own persistence, told apart by a `namespace` prefixed to
conversation names and data owners ("" for Telegram, "zalo:" for Zalo): chat and user ids of
two platforms may coincide.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from copy import deepcopy
from typing import Any

from sqlmodel import col, delete, select
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import ConversationDict, ConversationKey

from bot.database import SessionFactory
from models.base import utcnow
from models.persistence import ConversationState, StoredData

_USER, _CHAT = "user", "chat"


def _key_text(key: ConversationKey) -> str:
    return json.dumps(list(key), separators=(",", ":"))


class SQLModelPersistence(BasePersistence[dict[str, Any], dict[str, Any], dict[str, Any]]):
    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        namespace: str = "",
        update_interval: float = 1.0,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self._sessions = session_factory
        self._namespace = namespace
        # What each row last held, as written by this process: most updates change nothing
        # (the same state, empty user data), and a skipped write is a skipped commit.
        self._written: dict[tuple[str, str, str], str | None] = {}

    def _unchanged(self, table: str, owner: str, key: str, text: str | None) -> bool:
        slot = (table, owner, key)
        if slot in self._written and self._written[slot] == text:
            return True
        self._written[slot] = text
        return False

    # --- conversations --------------------------------------------------------------------------

    async def get_conversations(self, name: str) -> ConversationDict:
        name = self._namespace + name
        async with self._sessions() as session:
            rows = await session.exec(
                select(ConversationState).where(ConversationState.name == name)
            )
            return {
                tuple(json.loads(row.key)): json.loads(row.state) for row in rows.all()
            }

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        name = self._namespace + name
        text = None if new_state is None else json.dumps(new_state)
        if self._unchanged("conversation", name, _key_text(key), text):
            return
        async with self._sessions() as session:
            row = await session.get(ConversationState, (name, _key_text(key)))
            if new_state is None:
                if row is not None:
                    await session.delete(row)
            elif row is None:
                session.add(
                    ConversationState(name=name, key=_key_text(key), state=text)
                )
            else:
                row.state = text  # type: ignore[assignment]
                row.updated_at = utcnow()
                session.add(row)
            await session.commit()

    # --- user and chat data -------------------------------------------------------------------

    async def _load(self, kind: str) -> dict[int, dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.exec(
                select(StoredData).where(
                    StoredData.kind == kind,
                    col(StoredData.owner).startswith(self._namespace, autoescape=True),
                )
            )
            data = {}
            for row in rows.all():
                owner = row.owner.removeprefix(self._namespace)
                if owner.lstrip("-").isdigit():  # not another channel's row
                    data[int(owner)] = json.loads(row.data)
            return data

    def _owner(self, owner: int) -> str:
        return f"{self._namespace}{owner}"

    async def _store(self, kind: str, owner: int, data: dict[str, Any]) -> None:
        text = json.dumps(data, sort_keys=True) if data else None
        if self._unchanged("data", kind, self._owner(owner), text):
            return
        async with self._sessions() as session:
            row = await session.get(StoredData, (kind, self._owner(owner)))
            if not data:
                if row is not None:
                    await session.delete(row)
            elif row is None:
                session.add(
                    StoredData(kind=kind, owner=self._owner(owner), data=json.dumps(data))
                )
            else:
                row.data = json.dumps(data)
                row.updated_at = utcnow()
                session.add(row)
            await session.commit()

    async def _drop(self, kind: str, owners: Iterable[int]) -> None:
        async with self._sessions() as session:
            for owner in owners:
                self._written[("data", kind, self._owner(owner))] = None
                await session.exec(
                    delete(StoredData).where(
                        StoredData.kind == kind, StoredData.owner == self._owner(owner)
                    )
                )
            await session.commit()

    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        return await self._load(_USER)

    async def get_chat_data(self) -> dict[int, dict[str, Any]]:
        return await self._load(_CHAT)

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        await self._store(_USER, user_id, deepcopy(data))

    async def update_chat_data(self, chat_id: int, data: dict[str, Any]) -> None:
        await self._store(_CHAT, chat_id, deepcopy(data))

    async def drop_user_data(self, user_id: int) -> None:
        await self._drop(_USER, [user_id])

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._drop(_CHAT, [chat_id])

    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None:
        """Nothing to do: this process is the only writer of a member's data."""

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[str, Any]) -> None:
        """Nothing to do: this process is the only writer of a chat's data."""

    # --- not stored ------------------------------------------------------------------------------

    async def get_bot_data(self) -> dict[str, Any]:
        return {}

    async def update_bot_data(self, data: dict[str, Any]) -> None:
        """bot_data is not persisted (store_data.bot_data is False)."""

    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None:
        """bot_data is not persisted."""

    async def get_callback_data(self) -> None:
        return None

    async def update_callback_data(self, data: object) -> None:
        """Arbitrary callback data is not used: callback payloads are short strings."""

    async def flush(self) -> None:
        """Every update is written when it is made; nothing is buffered here."""
