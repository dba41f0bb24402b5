"""A local, in-process Zalo Bot API server for end-to-end tests of UnionBot.

The Zalo twin of :mod:`tests.botapi.telegram`: :class:`FakeZalo` is a real HTTP server
(aiohttp) that speaks the Zalo Bot API of ``https://bot-api.zaloplatforms.com``, so the bot's
own HTTP client talks to it exactly as in production (``ZALO_API_BASE_URL`` = ``base_url``).
Tests drive it from the other side as Zalo users (:class:`ZaloUser`) who write to the bot,
and read back what the bot sent (:class:`ZaloMessage`).

What is modelled
----------------
* ``POST`` (or ``GET``) ``/bot<token>/<method>`` with a JSON object body (empty = no params).
  Answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": <int>,
  "description": ...}`` with the same HTTP status: wrong token 401, unknown method 404 (names
  are case-sensitive), body not a JSON object 400. Every call is recorded as a
  :class:`ZaloCall` in ``zalo.calls``. Ids are strings; dates are milliseconds since epoch.
* Methods: ``getMe``, ``getUpdates``, ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``,
  ``sendMessage``, ``sendPhoto``, ``sendSticker``, ``sendChatAction``. The bot may only
  write to a *known* chat (one somebody wrote in, or a user made with ``known=True``): else
  400 "chat not found". Texts and captions are 1-2000 characters (code points). Sending to a
  user who :meth:`~ZaloUser.block`-ed the bot is 403 "User has blocked the bot".
* Updates are ``{"event_name": "message.text.received" | "message.image.received" |
  "message.sticker.received" | "message.unsupported.received", "message": {...}}`` in one
  global queue. ``getUpdates`` is a long poll returning ONE update (not a list), removed
  from the queue as it is returned (no offsets). With nothing to return it answers "no
  update" in three shapes, in turn, call after call, because real Zalo does all three:
  HTTP 408 ``error_code: 408``; HTTP 200 ``ok: false, error_code: "408"`` (a string); HTTP
  200 ``{"ok": true, "result": {}}``. The wait is capped at ``poll_cap`` seconds.
* A user's name is under ``display_name`` in ``from``, or under ``name`` for a user made
  with ``name_key="name"``; an image comes as ``photo_url`` or ``photo`` (per call). Real
  Zalo has been seen doing both, so the bot must read both.
* Webhook: while one is set, ``getUpdates`` is 409 (polling and webhook exclude each other)
  and a background task POSTs queued updates one at a time, in order, to its URL with the
  header ``X-Bot-Api-Secret-Token``; the bare update, or ``{"ok": true, "result": update}``
  with ``wrap_webhook_body=True``. A non-2xx answer (or a connection error, recorded with
  status ``None``) is retried ``webhook_retries`` times, ``webhook_retry_delay`` s apart,
  then the update is dropped. Each attempt is recorded in ``webhook_deliveries``.
* Failure injection: :meth:`FakeZalo.fail_next` (HTTP 500 JSON) and
  :meth:`FakeZalo.rate_limit_next` (HTTP 429 with an *HTML* body, as a proxy answers).

Waiting never sleeps in a loop: long polls, ``next_message``, ``wait_idle`` and the webhook
worker block on one :class:`_Signal`, poked whenever the server's state changes.

Not modelled: files the bot uploads, groups' member lists, message edits or deletions, any
rate limit besides the injected one.

Safety: the server binds to 127.0.0.1 and never contacts the internet. Webhook deliveries go
only to loopback hosts; a bot that registers its public URL gets its updates delivered to the
local endpoint set with :meth:`FakeZalo.redirect_webhook` (or not at all). Photo and sticker
URLs are recorded, never fetched.

Minimal use::

    async with FakeZalo(token="zalo-test-token") as zalo:
        lan = zalo.user(display_name="Lan")
        # ... start the bot with ZALO_API_BASE_URL=zalo.base_url and the token ...
        await lan.send("xin chào")
        msg = await lan.next_message()
        assert msg.text == "Chào Lan!"
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import hashlib
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "FakeZalo", "ZaloApiError", "ZaloCall", "ZaloChat", "ZaloGroup", "ZaloMessage", "ZaloUser",
]  # fmt: skip

JSON = dict[str, Any]
ChatT = TypeVar("ChatT", bound="ZaloChat")

MAX_TEXT_LENGTH = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})
EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"

ERR_CHAT_NOT_FOUND = "chat not found"
ERR_TEXT_EMPTY = "text is empty"
ERR_TEXT_TOO_LONG = "text is too long"
ERR_CAPTION_TOO_LONG = "caption is too long"
ERR_BLOCKED = "User has blocked the bot"
ERR_WEBHOOK_ACTIVE = "Conflict: webhook is active"
ERR_TIMEOUT = "Request timeout"
RATE_LIMIT_HTML = "<html><body><h1>429 Too Many Requests</h1></body></html>"


def now_ms() -> int:
    return int(time.time() * 1000)


class ZaloApiError(Exception):
    """An error answer, raised inside method handlers. ``status`` is the HTTP status;
    ``error_code`` defaults to it (Zalo sometimes sends it as a string)."""

    def __init__(self, status: int, description: str, error_code: int | str | None = None):
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.error_code = status if error_code is None else error_code

    def payload(self) -> JSON:
        return {"ok": False, "error_code": self.error_code, "description": self.description}


class _Signal:
    """A broadcast "something changed" notification usable from sync code (as in
    telegram.py): waiters wait on the current event; ``notify()`` sets it and installs a
    fresh one, so every waiter re-checks its predicate."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], Any], within: float | None) -> None:
        """Return once ``predicate()`` is truthy; raise ``TimeoutError`` after ``within`` s."""
        async with asyncio.timeout(within):
            while not predicate():
                await self._event.wait()


@dataclass
class ZaloCall:
    """One HTTP request the bot made and what the server answered. ``response`` is the JSON
    answer, or the HTML text of an injected 429. ``injected``: answered by ``fail_next`` /
    ``rate_limit_next`` (no state changed). Appended when answered, so a long poll appears
    when it returns."""

    method: str
    params: JSON
    status: int
    response: Any
    injected: bool = False
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and self.response.get("ok") is True

    @property
    def result(self) -> Any:
        return self.response.get("result") if isinstance(self.response, dict) else None

    @property
    def description(self) -> str | None:
        return self.response.get("description") if isinstance(self.response, dict) else None


@dataclass
class ZaloMessage:
    """One thing the bot sent to a chat (sendMessage, sendPhoto or sendSticker)."""

    method: str
    chat_id: str
    message_id: str
    date: int
    text: str | None = None
    photo: str | None = None
    caption: str | None = None
    sticker: str | None = None
    params: JSON = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """One line for assertion messages."""
        content = {"text": self.text, "photo": self.photo, "caption": self.caption,
                   "sticker": self.sticker}  # fmt: skip
        shown = " ".join(f"{k}={v!r}" for k, v in content.items() if v is not None)
        return f"{self.method} {self.message_id}: {shown}"


class ZaloChat:
    """A chat as the test sees it: the bot's outputs there, read in order with
    :meth:`next_message`. :class:`ZaloUser` (private chat) and :class:`ZaloGroup` extend it."""

    def __init__(self, zalo: FakeZalo, chat_id: str, chat_type: str, *, known: bool):
        self._zalo = zalo
        self.id = chat_id
        self.chat_type = chat_type
        self.known = known  # the bot may write here (somebody wrote in this chat)
        self.blocked = False
        self.actions: list[str] = []  # sendChatAction actions, in order
        self._outputs: list[ZaloMessage] = []
        self._cursor = 0

    @property
    def chat(self) -> JSON:
        """The ``chat`` object as it appears in updates."""
        return {"id": self.id, "chat_type": self.chat_type}

    @property
    def messages(self) -> list[ZaloMessage]:
        """Every bot message to this chat so far, consumed or not."""
        return list(self._outputs)

    def pending(self) -> list[ZaloMessage]:
        """Bot messages not yet returned by :meth:`next_message` (does not consume)."""
        return self._outputs[self._cursor :]

    async def next_message(self, timeout: float = 5.0) -> ZaloMessage:  # noqa: ASYNC109 (the spec'd API)
        """The next bot message to this chat not consumed yet, waiting up to ``timeout`` s;
        AssertionError with a report of what happened instead."""
        try:
            await self._zalo._signal.wait_for(lambda: self._cursor < len(self._outputs), timeout)
        except TimeoutError:
            raise AssertionError(self._timeout_report(timeout)) from None
        self._cursor += 1
        return self._outputs[self._cursor - 1]

    def _label(self) -> str:
        return f"chat {self.id}"

    def _timeout_report(self, timeout: float) -> str:
        lines = [f"No new bot message to {self._label()} within {timeout}s."]
        if self._outputs:
            lines.append(f"Sent so far ({len(self._outputs)}, all consumed):")
            lines += [f"  {m.describe()}" for m in self._outputs]
        else:
            lines.append("The bot has sent nothing to this chat.")
        failed = [c for c in self._zalo.calls if not c.ok and c.params.get("chat_id") == self.id]
        if failed:
            lines.append("Failed API calls for this chat:")
            lines += [f"  {c.method} -> {c.status} {c.description}" for c in failed[-5:]]
        if self.blocked:
            lines.append("This user blocked the bot: sending here answers 403.")
        if pending := self._zalo.pending_updates():
            lines.append(f"{len(pending)} update(s) not yet taken by the bot "
                         "(is it polling, or is a webhook set?)")  # fmt: skip
        return "\n".join(lines)


class ZaloUser(ZaloChat):
    """A Zalo user, who is also her private chat with the bot (same id). Her actions queue
    updates for the bot and return the queued update."""

    def __init__(
        self, zalo: FakeZalo, user_id: str, display_name: str, name_key: str, *, known: bool
    ):
        super().__init__(zalo, user_id, "PRIVATE", known=known)
        if name_key not in ("display_name", "name"):
            raise ValueError(f"name_key must be 'display_name' or 'name', not {name_key!r}")
        self.display_name = display_name
        self.name_key = name_key

    @property
    def sender(self) -> JSON:
        """The ``from`` object as it appears in her updates."""
        return {"id": self.id, self.name_key: self.display_name}

    def _label(self) -> str:
        return f"user {self.id} ({self.display_name})"

    async def send(self, text: str) -> JSON:
        """She writes ``text`` to the bot (``message.text.received``)."""
        return self._zalo._user_event(self, self, EVENT_TEXT, {"text": text})

    async def send_image(
        self,
        url: str = "https://example.org/photo.jpg",
        caption: str | None = None,
        key: str = "photo_url",
    ) -> JSON:
        """She sends a photo; its URL is under ``key`` ("photo_url" or "photo")."""
        if key not in ("photo_url", "photo"):
            raise ValueError(f"key must be 'photo_url' or 'photo', not {key!r}")
        content: JSON = {key: url}
        if caption is not None:
            content["caption"] = caption
        return self._zalo._user_event(self, self, EVENT_IMAGE, content)

    async def send_sticker(
        self, sticker: str = "bfe5c7a1f4c2e9d1", url: str | None = None
    ) -> JSON:
        content = {"sticker": sticker, "url": url or f"https://example.org/sticker/{sticker}"}
        return self._zalo._user_event(self, self, EVENT_STICKER, content)

    async def send_unsupported(self) -> JSON:
        """Something the Bot API does not describe (a voice note, a location ...)."""
        return self._zalo._user_event(self, self, EVENT_UNSUPPORTED, {})

    def block(self) -> None:
        """She blocks the bot: every send* to her now answers 403 (until :meth:`unblock`;
        writing to the bot does not unblock it)."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False


class ZaloGroup(ZaloChat):
    """A group chat (``chat_type`` "GROUP") the bot is in; users write there with
    :meth:`send`."""

    def __init__(self, zalo: FakeZalo, group_id: str, title: str):
        super().__init__(zalo, group_id, "GROUP", known=False)
        self.title = title

    def _label(self) -> str:
        return f"group {self.id} ({self.title})"

    async def send(self, user: ZaloUser, text: str) -> JSON:
        """``user`` writes ``text`` in this group."""
        return self._zalo._user_event(user, self, EVENT_TEXT, {"text": text})


class FakeZalo:
    """The Zalo Bot API server plus the test-side controls. See the module docstring.

    Use as ``async with FakeZalo() as zalo:`` inside the test's event loop; all state lives
    here and is only touched from that loop, so no locking is needed.
    """

    def __init__(
        self,
        token: str = "zalo-test-token",
        *,
        bot_id: str = "2081632405137420168",
        poll_cap: float = 1.0,
        wrap_webhook_body: bool = False,
        webhook_retries: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.token = token
        self.bot_id = bot_id
        self.poll_cap = poll_cap
        self.wrap_webhook_body = wrap_webhook_body
        self.webhook_retries = webhook_retries
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.host = host
        self.port = port
        self.base_url = ""

        self.calls: list[ZaloCall] = []
        self.updates: list[JSON] = []  # every update ever queued, in order
        self.webhook_deliveries: list[tuple[JSON, int | None]] = []  # every attempt
        self.webhook_dropped: list[JSON] = []  # updates given up after the retries
        self.active_polls = 0  # getUpdates requests currently waiting
        self._pending: collections.deque[JSON] = collections.deque()
        self._in_flight: JSON | None = None  # the update the webhook worker is delivering
        self._idle_shape = 0
        self._webhook: JSON | None = None
        self._webhook_updated_at = now_ms()
        self._webhook_redirect: str | None = None
        # method -> statuses of the next injected failures (True: answer in HTML)
        self._injected: dict[str, collections.deque[tuple[int, bool]]] = {}
        self._chats: dict[str, ZaloChat] = {}
        self._seq = 0
        self._signal = _Signal()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._methods = {name[3:] for name in dir(type(self)) if name.startswith("_m_")}

    # ==========================================================================================
    # Lifecycle
    # ==========================================================================================
    async def start(self) -> FakeZalo:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0,
            handler_cancellation=True,
        )  # fmt: skip
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._session = aiohttp.ClientSession(trust_env=False)
        self._worker = asyncio.create_task(self._webhook_worker(), name="fake-zalo-webhook")
        return self

    async def stop(self) -> None:
        self._closing = True
        self._signal.notify()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZalo:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ==========================================================================================
    # Test-side API
    # ==========================================================================================
    def user(
        self,
        display_name: str = "Test",
        *,
        name_key: str = "display_name",
        user_id: str | None = None,
        known: bool = False,
    ) -> ZaloUser:
        """A new user (and her private chat; its id is hers). ``name_key="name"``: her
        updates carry ``from.name`` instead of ``from.display_name``. ``known=True``: she
        wrote to the bot before the test began, so the bot can already write to her."""
        user = ZaloUser(self, user_id or self._new_id(0x5A10), display_name, name_key, known=known)
        return self._register(user)

    def group(self, title: str = "Test group", *, group_id: str | None = None) -> ZaloGroup:
        """A new group chat; the bot can write there once somebody wrote in it."""
        return self._register(ZaloGroup(self, group_id or self._new_id(0x6C20), title))

    def chat(self, chat_id: str) -> ZaloChat:
        """The chat (a ZaloUser for private chats) with this id."""
        try:
            return self._chats[chat_id]
        except KeyError:
            raise AssertionError(f"Unknown chat {chat_id!r}") from None

    def calls_of(self, method: str) -> list[ZaloCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def webhook(self) -> JSON | None:
        """``{"url": ..., "secret_token": ...}`` as set, or None."""
        return dict(self._webhook) if self._webhook else None

    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet taken (by getUpdates or the webhook worker)."""
        return copy.deepcopy(list(self._pending))

    def redirect_webhook(self, url: str | None) -> None:
        """Deliver webhook updates to ``url`` (a local endpoint) whatever URL the bot set."""
        self._webhook_redirect = url
        self._signal.notify()

    def fail_next(self, method: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status`` (JSON error body)."""
        self._inject(method, (status, False), times)

    def rate_limit_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with an HTML body."""
        self._inject(method, (429, True), times)

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (the spec'd API)
        """Wait until no update is queued and no webhook delivery is in flight."""
        try:
            await self._signal.wait_for(
                lambda: not self._pending and self._in_flight is None, timeout
            )
        except TimeoutError:
            raise AssertionError(
                f"{len(self._pending)} update(s) still queued after {timeout}s "
                f"(in flight: {self._in_flight is not None}): {list(self._pending)}"
            ) from None

    async def wait_polling(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (as above)
        """Wait until the bot has a getUpdates long poll waiting on the server."""
        try:
            await self._signal.wait_for(lambda: self.active_polls > 0, timeout)
        except TimeoutError:
            raise AssertionError(f"The bot did not start a long poll within {timeout}s") from None

    async def deliver(self, update: Any, secret: str | None = None) -> tuple[int, Any]:
        """POST ``update`` (any JSON body, sent as is) to the webhook now, outside the queue:
        replays, forged bodies. ``secret`` overrides the header (None: the webhook's secret;
        "": no header). Returns ``(status, answer as JSON or text)``."""
        target = self._webhook_target()
        if target is None or self._webhook is None:
            raise AssertionError("No webhook set (or it is not a loopback URL; redirect it)")
        if secret is None:
            secret = self._webhook["secret_token"]
        return await self._post(target, update, secret)

    # ==========================================================================================
    # HTTP layer
    # ==========================================================================================
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        token, _, method = request.path.removeprefix("/bot").partition("/")
        params: JSON = dict(request.query)
        error: ZaloApiError | None = None
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                params.update(body)
            else:
                error = ZaloApiError(400, "Bad Request: body is not a JSON object")
        injected = self._injected.get(method)
        if not request.path.startswith("/bot") or not method:
            error = ZaloApiError(404, "Not Found")
        elif request.method not in ("GET", "POST"):
            error = ZaloApiError(405, "Method Not Allowed")
        elif token != self.token:
            error = ZaloApiError(401, "Unauthorized")
        elif method not in self._methods:
            error = ZaloApiError(404, "Not Found")
        elif injected:
            status, html = injected.popleft()
            if html:
                self.calls.append(ZaloCall(method, params, status, RATE_LIMIT_HTML, injected=True))
                return web.Response(text=RATE_LIMIT_HTML, status=status, content_type="text/html")
            response = ZaloApiError(status, "Internal Server Error").payload()
            self.calls.append(ZaloCall(method, params, status, response, injected=True))
            return _json_response(response, status)
        if error is None:
            try:
                result = await getattr(self, f"_m_{method}")(params)
            except ZaloApiError as exc:
                error = exc
        if error is not None:
            status, response = error.status, error.payload()
        else:
            status, response = 200, {"ok": True, "result": result}
        self.calls.append(ZaloCall(method, params, status, response))
        return _json_response(response, status)

    def _inject(self, method: str, failure: tuple[int, bool], times: int) -> None:
        if method not in self._methods:
            raise ValueError(f"FakeZalo has no method {method!r}")
        self._injected.setdefault(method, collections.deque()).extend([failure] * times)

    # ==========================================================================================
    # Updates: queue and webhook
    # ==========================================================================================
    def _new_id(self, prefix: int) -> str:
        self._seq += 1
        return f"{prefix:04x}{self._seq * 7919 % 16**12:012x}"

    def _register(self, chat: ChatT) -> ChatT:
        if chat.id in self._chats:
            raise ValueError(f"Chat id {chat.id!r} already exists")
        self._chats[chat.id] = chat
        return chat

    def _message_id(self) -> str:
        self._seq += 1
        return hashlib.md5(f"zalo-message-{self._seq}".encode()).hexdigest()

    def _user_event(self, user: ZaloUser, where: ZaloChat, event: str, content: JSON) -> JSON:
        if isinstance(where, ZaloUser) and where is not user:
            raise AssertionError("A user can only write in her own private chat or a group")
        where.known = True
        message: JSON = {
            "message_id": self._message_id(),
            "from": user.sender,
            "chat": where.chat,
            "date": now_ms(),
            **content,
        }
        update = {"event_name": event, "message": message}
        self._pending.append(update)
        self.updates.append(update)
        self._signal.notify()
        return copy.deepcopy(update)

    def _webhook_target(self) -> str | None:
        if not self._webhook:
            return None
        url = self._webhook_redirect or self._webhook["url"]
        host = urlsplit(url).hostname or ""
        if host == "localhost":
            return url
        try:
            return url if ipaddress.ip_address(host).is_loopback else None
        except ValueError:
            return None

    async def _webhook_worker(self) -> None:
        """Deliver queued updates one at a time, in order, while a webhook is set."""
        while True:
            await self._signal.wait_for(
                lambda: self._closing or (self._pending and self._webhook_target()), None
            )
            if self._closing:
                return
            self._in_flight = self._pending.popleft()
            try:
                await self._deliver_with_retries(self._in_flight)
            finally:
                self._in_flight = None
                self._signal.notify()

    async def _deliver_with_retries(self, update: JSON) -> None:
        for attempt in range(1 + self.webhook_retries):
            target = self._webhook_target()
            if target is None or self._webhook is None:  # webhook deleted meanwhile
                self._pending.appendleft(update)
                return
            body = {"ok": True, "result": update} if self.wrap_webhook_body else update
            status: int | None
            try:
                status, _ = await self._post(target, body, self._webhook["secret_token"])
            except (aiohttp.ClientError, TimeoutError):
                status = None
            self.webhook_deliveries.append((copy.deepcopy(update), status))
            self._signal.notify()
            if status is not None and 200 <= status < 300:
                return
            if attempt < self.webhook_retries:
                await asyncio.sleep(self.webhook_retry_delay)
        self.webhook_dropped.append(update)

    async def _post(self, url: str, body: Any, secret: str | None) -> tuple[int, Any]:
        assert self._session is not None
        headers = {SECRET_HEADER: secret} if secret else {}
        async with self._session.post(
            url, json=body, headers=headers, allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
        ) as resp:  # fmt: skip
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    # ==========================================================================================
    # Validation helpers
    # ==========================================================================================
    def _chat_for(self, params: JSON) -> ZaloChat:
        chat_id = params.get("chat_id")
        chat = self._chats.get(chat_id) if isinstance(chat_id, str) else None
        if chat is None or not chat.known:
            raise ZaloApiError(400, ERR_CHAT_NOT_FOUND)
        return chat

    @staticmethod
    def _check_text(value: Any, name: str, *, required: bool) -> str | None:
        if value is None or value == "":
            if required:
                raise ZaloApiError(400, f"{name} is empty")
            return None
        if not isinstance(value, str):
            raise ZaloApiError(400, f"{name} must be a string")
        if len(value) > MAX_TEXT_LENGTH:
            raise ZaloApiError(400, f"{name} is too long")
        return value

    @staticmethod
    def _check_reachable(chat: ZaloChat) -> None:
        if chat.blocked:
            raise ZaloApiError(403, ERR_BLOCKED)

    def _record(self, chat: ZaloChat, method: str, params: JSON, **content: str | None) -> JSON:
        self._check_reachable(chat)
        message = ZaloMessage(method, chat.id, self._message_id(), now_ms(), params=params,
                              **content)  # fmt: skip
        chat._outputs.append(message)
        self._signal.notify()
        return {"message_id": message.message_id, "date": message.date}

    # ==========================================================================================
    # Bot API methods. Each gets the params and returns the result or raises ZaloApiError.
    # ==========================================================================================
    async def _m_getMe(self, params: JSON) -> Any:
        return {
            "id": self.bot_id,
            "account_name": "bot.unionbot",
            "account_type": "BASIC",
            "can_join_groups": False,
            "display_name": "UnionBot",
        }

    async def _m_getUpdates(self, params: JSON) -> Any:
        if self._webhook:
            raise ZaloApiError(409, ERR_WEBHOOK_ACTIVE)
        try:
            timeout = max(float(params.get("timeout", 30)), 0.0)
        except (TypeError, ValueError):
            raise ZaloApiError(400, "timeout is invalid") from None
        self.active_polls += 1
        self._signal.notify()
        try:
            with contextlib.suppress(TimeoutError):
                await self._signal.wait_for(
                    lambda: self._closing or self._webhook or self._pending,
                    min(timeout, self.poll_cap),
                )
        finally:
            self.active_polls -= 1
        if self._webhook:
            raise ZaloApiError(409, ERR_WEBHOOK_ACTIVE)
        if self._pending:
            update = self._pending.popleft()
            self._signal.notify()
            return copy.deepcopy(update)
        shape, self._idle_shape = self._idle_shape, (self._idle_shape + 1) % 3
        if shape == 0:
            raise ZaloApiError(408, ERR_TIMEOUT)
        if shape == 1:
            raise ZaloApiError(200, ERR_TIMEOUT, error_code="408")  # HTTP 200, string code
        return {}

    async def _m_setWebhook(self, params: JSON) -> Any:
        url = params.get("url")
        if not url or not isinstance(url, str):
            raise ZaloApiError(400, "url is required")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ZaloApiError(400, "url is invalid")
        secret = params.get("secret_token")
        self._webhook = {"url": url, "secret_token": str(secret) if secret else None}
        self._webhook_updated_at = now_ms()
        self._signal.notify()
        return {"url": url, "updated_at": self._webhook_updated_at}

    async def _m_deleteWebhook(self, params: JSON) -> Any:
        self._webhook = None
        self._webhook_updated_at = now_ms()
        self._signal.notify()
        return {"url": "", "updated_at": self._webhook_updated_at}

    async def _m_getWebhookInfo(self, params: JSON) -> Any:
        url = self._webhook["url"] if self._webhook else ""
        return {"url": url, "updated_at": self._webhook_updated_at}

    async def _m_sendMessage(self, params: JSON) -> Any:
        chat = self._chat_for(params)
        text = self._check_text(params.get("text"), "text", required=True)
        return self._record(chat, "sendMessage", params, text=text)

    async def _m_sendPhoto(self, params: JSON) -> Any:
        chat = self._chat_for(params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ZaloApiError(400, "photo must be a URL")
        caption = self._check_text(params.get("caption"), "caption", required=False)
        return self._record(chat, "sendPhoto", params, photo=photo, caption=caption)

    async def _m_sendSticker(self, params: JSON) -> Any:
        chat = self._chat_for(params)
        sticker = params.get("sticker")
        if not isinstance(sticker, str) or not sticker:
            raise ZaloApiError(400, "sticker is required")
        return self._record(chat, "sendSticker", params, sticker=sticker)

    async def _m_sendChatAction(self, params: JSON) -> Any:
        chat = self._chat_for(params)
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise ZaloApiError(400, "action is invalid")
        self._check_reachable(chat)
        chat.actions.append(action)
        return True


def _json_response(payload: JSON, status: int) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False), status=status,
        content_type="application/json",
    )  # fmt: skip
