"""The HTTP side: one aiohttp app with `/healthz` and, in webhook mode, `POST /telegram` and
`POST /zalo`.

Webhook calls carry our secret in a header (`X-Telegram-Bot-Api-Secret-Token`,
`X-Bot-Api-Secret-Token`), compared in constant time; anything else is refused before the body
is read. Accepted updates go onto the Application's update queue, the same path polling uses,
so handlers cannot tell the two apart. A redelivered update is processed once.
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
from bot.zalo_api import SECRET_HEADER as ZALO_SECRET_HEADER
from bot.zalo_api import parse_event
from bot.zalo_bridge import ZaloBridge

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram re-sends an update it did not see acknowledged; remember recent ids to run it once.
RECENT_UPDATES = 2048

ENGINE_KEY = web.AppKey("engine", AsyncEngine)


async def _read_checked(
    request: web.Request, header: str, secret: bytes
) -> bytes | web.Response:
    """The body of a webhook call whose secret header is right; otherwise the refusal."""
    given = request.headers.get(header, "").encode()
    if not hmac.compare_digest(given, secret):
        return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return web.json_response({"ok": False, "error": "too large"}, status=413)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"ok": False, "error": "too large"}, status=413)


class TelegramWebhook:
    def __init__(self, application: Application, secret: str) -> None:  # type: ignore[type-arg]
        self.application = application
        self.secret = secret.encode()
        self.recent: OrderedDict[int, None] = OrderedDict()

    async def handle(self, request: web.Request) -> web.Response:
        body = await _read_checked(request, TELEGRAM_SECRET_HEADER, self.secret)
        if isinstance(body, web.Response):
            return body
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


class ZaloWebhook:
    """`POST /zalo`: a Zalo event, translated by the bridge; redeliveries are taken once (the
    bridge remembers events in the database, so also across restarts)."""

    def __init__(self, application: Application, bridge: ZaloBridge, secret: str) -> None:  # type: ignore[type-arg]
        self.application = application
        self.bridge = bridge
        self.secret = secret.encode()

    async def handle(self, request: web.Request) -> web.Response:
        body = await _read_checked(request, ZALO_SECRET_HEADER, self.secret)
        if isinstance(body, web.Response):
            return body
        try:
            event = parse_event(json.loads(body))
        except ValueError:  # also JSON errors: anything the body can be is answered
            log.info("refused a malformed Zalo webhook body of %d bytes", len(body))
            return web.json_response({"ok": False, "error": "malformed update"}, status=400)
        data = await self.bridge.to_update(event)
        if data is not None:
            await self.application.update_queue.put(Update.de_json(data, self.application.bot))
        return web.json_response({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    if await is_reachable(request.app[ENGINE_KEY]):
        return web.json_response({"status": "ok", "database": "ok"})
    return web.json_response({"status": "error", "database": "unreachable"}, status=503)


def create_web_app(
    *,
    engine: AsyncEngine,
    telegram: TelegramWebhook | None = None,
    zalo: ZaloWebhook | None = None,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[ENGINE_KEY] = engine
    app.router.add_get("/healthz", healthz)
    if telegram is not None:
        app.router.add_post("/telegram", telegram.handle)
    if zalo is not None:
        app.router.add_post("/zalo", zalo.handle)
    return app
