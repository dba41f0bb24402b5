"""The HTTP side: one aiohttp app with `/healthz` and, in webhook mode, `POST /telegram`.

Telegram's webhook calls carry our secret in `X-Telegram-Bot-Api-Secret-Token`; anything else
is refused before the body is read. Accepted updates go onto the Application's update queue,
the same path polling uses, so handlers cannot tell the two apart.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections import OrderedDict

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update
from telegram.ext import Application

from bot.database import is_reachable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram re-sends an update it did not see acknowledged; remember recent ids to run it once.
RECENT_UPDATES = 2048

ENGINE_KEY = web.AppKey("engine", AsyncEngine)


class TelegramWebhook:
    def __init__(self, application: Application, secret: str) -> None:  # type: ignore[type-arg]
        self.application = application
        self.secret = secret.encode()
        self.recent: OrderedDict[int, None] = OrderedDict()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(TELEGRAM_SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, self.application.bot)
        except Exception:  # anything the body can be is answered, never raised
            log.info("refused a malformed webhook body of %d bytes", len(body))
            return web.json_response({"ok": False, "error": "malformed update"}, status=400)
        if update.update_id in self.recent:
            return web.json_response({"ok": True, "duplicate": True})
        self.recent[update.update_id] = None
        if len(self.recent) > RECENT_UPDATES:
            self.recent.popitem(last=False)
        await self.application.update_queue.put(update)
        return web.json_response({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    if await is_reachable(request.app[ENGINE_KEY]):
        return web.json_response({"status": "ok", "database": "ok"})
    return web.json_response({"status": "error", "database": "unreachable"}, status=503)


def create_web_app(
    *, engine: AsyncEngine, telegram: TelegramWebhook | None = None
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ENGINE_KEY] = engine
    app.router.add_get("/healthz", healthz)
    if telegram is not None:
        app.router.add_post("/telegram", telegram.handle)
    return app
