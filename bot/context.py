"""What every handler can reach: the services built once at start, and the per-update locale.

Handlers receive a `UnionContext`; `context.t("key")` is the localized text for the person this
update came from, `context.session()` opens a database session, `context.channel` names the
chat platform ("telegram" or "zalo"), so handlers never branch on a platform's specifics.

Each channel has its own Application and its own `Services` (they differ only in `channel`);
`services.bots` is shared (the delivery worker sends on any channel). A handler never sends to
anyone but the person it answers: a message to someone else is queued in the outbox
(bot/notify.py for notices) and `services.wake_up()` has it sent at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.database import SessionFactory
from bot.i18n import Translator
from bot.settings import Settings
from models.access import Actor, actor_for
from models.members import Identity, ensure_identity


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    translator: Translator
    channel: str
    # channel → that channel's Bot, filled in at start (bot.app.running).
    bots: dict[str, Any] = field(default_factory=dict)
    # Called when something was queued for delivery or scheduling (the delivery worker and the
    # scheduler in this process look at once instead of at their next poll). Shared like `bots`.
    wakers: list[Callable[[], None]] = field(default_factory=list)

    def wake_up(self) -> None:
        """Tells this process's delivery worker and scheduler that new work was committed."""
        for wake in self.wakers:
            wake()


class UnionApplication(Application):  # type: ignore[type-arg]
    """An Application that carries the services (see ApplicationBuilder.application_class)."""

    def __init__(self, *, services: Services, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services


class UnionContext(CallbackContext[ExtBot, dict, dict, dict]):  # type: ignore[type-arg]
    _locale: str | None = None

    @property
    def services(self) -> Services:
        return self.application.services  # type: ignore[attr-defined,no-any-return]

    @property
    def channel(self) -> str:
        return self.services.channel

    @property
    def locale(self) -> str:
        return self._locale or self.services.settings.default_locale

    @locale.setter
    def locale(self, value: str | None) -> None:
        self._locale = value

    def t(self, key: str, /, **params: object) -> str:
        return self.services.translator.t(self.locale, key, **params)

    def local_time(self, moment: datetime) -> str:
        """A stored UTC time as the person reads it: Asia/Ho_Chi_Minh (TIMEZONE), dd/mm/yyyy."""
        return moment.astimezone(self.services.settings.tz).strftime("%d/%m/%Y %H:%M")

    def session(self) -> AsyncSession:
        return self.services.sessions()

    async def remember_state(self, conversation: str, update: Update, state: object) -> None:
        """Stores the conversation's next state *before* its question is sent.

        The library writes states after the handler returns; a process killed between sending
        the question and that write would leave the person a step behind. Writing first means
        whoever saw a question is, after any restart, at that question. The key is the one a
        per-chat, per-user ConversationHandler uses."""
        persistence = self.application.persistence
        if persistence is None or update.effective_chat is None or update.effective_user is None:
            return
        key = (update.effective_chat.id, update.effective_user.id)
        await persistence.update_conversation(conversation, key, state)

    async def identity(self, session: AsyncSession, update: Update) -> Identity:
        """The chat identity of the person behind `update` (created on first contact)."""
        user = update.effective_user
        assert user is not None, "identity() needs an update with a user"
        return await ensure_identity(session, channel=self.channel, external_id=str(user.id))

    async def actor(self, session: AsyncSession, update: Update) -> Actor:
        """The person behind `update` with their roles: what models.access.authorize asks."""
        return await actor_for(
            session,
            await self.identity(session, update),
            admin_telegram_ids=self.services.settings.admin_telegram_ids,
        )
