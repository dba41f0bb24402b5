"""The delivery worker's lean way to Telegram: one aiohttp session that POSTs JSON to
`sendMessage`, `sendPhoto` and `sendDocument`, and nothing else.

Why not the python-telegram-bot bot object the handlers use: building its request, its httpx
connection pool and parsing every answer into a `Message` cost about 2.3 ms of CPU per send,
which caps one worker process near 400 messages/s (docs/benchmarks.md). This sender builds
the JSON body from the outbox row, reads back only `message_id`, and keeps one keep-alive
connection per send in flight.

Answers map to the same python-telegram-bot error classes, with the same wording, as the bot
object raises (telegram/request/_baserequest.py), so the worker treats both alike:

* `parameters.retry_after` (429) -> RetryAfter; `parameters.migrate_to_chat_id` -> ChatMigrated;
* 403 -> Forbidden; 400 -> BadRequest; 401 and 404 -> InvalidToken; 409 -> Conflict;
* any other status (5xx …), a connection error or a timeout -> NetworkError (TimedOut).

The token is part of every URL, so URLs are never logged and errors never repeat them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

if TYPE_CHECKING:
    from models.outbox import Claimed, OutboxMessage

_HEADERS = {"Content-Type": "application/json"}
_MEDIA = {"photo": "sendPhoto", "document": "sendDocument"}


def _chat_id(value: str) -> int | str:
    """A numeric chat id as a number; "@channelname" stays text."""
    try:
        return int(value)
    except ValueError:
        return value


def request_for(
    row: Claimed | OutboxMessage, parse_mode: str = ParseMode.HTML
) -> tuple[str, dict[str, Any]]:
    """The Bot API method and JSON body that deliver `row`."""
    body: dict[str, Any] = {"chat_id": _chat_id(row.chat_id)}
    media = row.media or {}
    source = media.get("file_id") or media.get("url")
    method = _MEDIA.get(media.get("kind") or "") if source else None
    if method is not None:
        body[media["kind"]] = source
        if row.text:
            body["caption"] = row.text
            body["parse_mode"] = parse_mode
    else:
        method = "sendMessage"
        body["text"] = row.text
        body["parse_mode"] = parse_mode
    if row.buttons:
        body["reply_markup"] = {"inline_keyboard": [
            [{key: value for key, value in button.items() if value is not None}
             for button in line]
            for line in row.buttons
        ]}
    return method, body


def error_for(status: int, payload: bytes) -> TelegramError:
    """The exception python-telegram-bot raises for this answer (same class, same text)."""
    try:
        message = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        message = f"Unknown HTTPError ({status})"
    try:
        data = orjson.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        data = None
        message += ". The server's answer could not be read"
    if data is not None:
        message = data.get("description") or message
        parameters = data.get("parameters")
        if isinstance(parameters, dict) and parameters:
            if parameters.get("migrate_to_chat_id"):
                return ChatMigrated(parameters["migrate_to_chat_id"])
            if parameters.get("retry_after"):
                return RetryAfter(parameters["retry_after"])
    if status == HTTPStatus.FORBIDDEN:
        return Forbidden(message)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        return InvalidToken(message)
    if status == HTTPStatus.BAD_REQUEST:
        return BadRequest(message)
    if status == HTTPStatus.CONFLICT:
        return Conflict(message)
    return NetworkError(message)


class TelegramSender:
    """`await sender.send(row)` delivers one outbox row and returns Telegram's message id.

    Use as `async with TelegramSender(token, base_url, connections=n) as sender:`; `start()`
    checks the token with getMe (InvalidToken when Telegram refuses it)."""

    def __init__(
        self,
        token: str,
        base_url: str = "https://api.telegram.org",
        *,
        connections: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        parse_mode: str = ParseMode.HTML,
    ) -> None:
        self._api = f"{base_url.rstrip('/')}/bot{token}/"
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._parse_mode = parse_mode
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the token
        return f"<TelegramSender connections={self._connections}>"

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._connections, keepalive_timeout=60, ttl_dns_cache=300
                ),
                timeout=self._timeout,
                # The answers are read as bytes and parsed here; no cookies to keep.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        try:
            await self.call("getMe", {})
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> TelegramSender:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, row: Claimed | OutboxMessage) -> str | None:
        method, body = request_for(row, self._parse_mode)
        result = await self.call(method, body)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return None if message_id is None else str(message_id)

    async def call(self, method: str, body: dict[str, Any]) -> Any:
        """POSTs `body` as JSON to `method`; returns the answer's `result` or raises the
        python-telegram-bot error for it."""
        if self._session is None:
            raise RuntimeError("TelegramSender is not started")
        data = orjson.dumps(body)  # UTF-8 as it is (orjson saves about a tenth of the CPU)
        try:
            async with self._session.post(
                self._api + method, data=data, headers=_HEADERS
            ) as response:
                status = response.status
                payload = await response.read()
        except TimeoutError:
            raise TimedOut() from None  # (the chain could name the URL)
        except aiohttp.ClientError as error:
            # The class only: aiohttp's messages may carry the URL, and with it the token.
            raise NetworkError(f"{type(error).__name__} talking to Telegram") from None
        if not 200 <= status <= 299:
            raise error_for(status, payload)
        try:
            answer = orjson.loads(payload)
        except ValueError:
            raise NetworkError("Telegram's answer could not be read") from None
        if not isinstance(answer, dict) or not answer.get("ok", False):
            raise error_for(status if status != 200 else 500, payload)
        return answer.get("result")
