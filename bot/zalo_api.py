"""The Zalo Bot API client: the one module that knows what Zalo's API looks like.

Everything this project assumes about Zalo is written here, so a change on Zalo's side
touches this file only:

* Calls are `POST {ZALO_API_BASE_URL}/bot<token>/<method>` with a JSON body; answers are
  `{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description": …}`.
* `getUpdates` long-polls (`timeout` in seconds) and returns a single update, not a list.
  "No update yet" comes in several shapes, all meaning "poll again": `error_code` 408 as a
  number or a string, with HTTP 408 or 200, or `{"ok": true, "result": {}}`.
* Polling and a webhook exclude each other: delete the webhook before polling.
* Webhook calls carry the secret in `X-Bot-Api-Secret-Token`; the body is the update,
  sometimes wrapped in `{"ok": true, "result": update}`.
* An update has `event_name` (text, image, sticker, unsupported) and a `message` with
  `message_id`, `from` {`id`, `display_name` or `name`}, `chat` {`id`, `chat_type`
  PRIVATE/GROUP}, `date` (milliseconds), and `text` / `photo_url` or `photo` / `caption` /
  `sticker`. Ids are strings. `message.unsupported.received` is a valid event.
* A text is 1–2000 characters. There are no buttons and no message edits.
* A 429 may come back as an HTML page rather than JSON.

Network errors and 5xx answers are retried with exponential backoff; a 429 is retried after
the wait it asks for when that is short (`max_rate_wait`), and raised otherwise. Errors are
logged with the method and Zalo's description, never with the URL (it contains the token).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
TEXT_MAX_CHARS = 2000

EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"

CHAT_ACTIONS = ("typing", "upload_photo")


class ZaloError(Exception):
    """Zalo refused a call; `code` is Zalo's error code (or the HTTP status)."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"{method}: {code} {description}")
        self.method = method
        self.code = code
        self.description = description


class ZaloRateLimited(ZaloError):
    """HTTP 429: wait `retry_after` seconds before the next call."""

    def __init__(self, method: str, retry_after: int) -> None:
        super().__init__(method, 429, "Too Many Requests")
        self.retry_after = retry_after


class ZaloUnavailable(ZaloError):
    """Zalo could not be reached, or answered 5xx, on every attempt."""


@dataclass(frozen=True)
class ZaloEvent:
    """One incoming Zalo update, with Zalo's quirks ironed out."""

    event_name: str
    message_id: str
    user_id: str
    user_name: str
    chat_id: str
    is_group: bool
    date: datetime
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None
    sticker: str | None = None

    @property
    def key(self) -> str:
        """What makes two deliveries the same event (Zalo may deliver one twice)."""
        return f"{self.event_name}:{self.message_id}"


def _str(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_event(body: object) -> ZaloEvent:
    """An update as Zalo sends it (bare or wrapped in {ok, result}); ValueError if it is not
    one."""
    wrapped = isinstance(body, dict) and "event_name" not in body
    if wrapped and isinstance(body.get("result"), dict):  # type: ignore[union-attr]
        body = body["result"]  # type: ignore[index]
    if not isinstance(body, dict):
        raise ValueError("not an object")
    event_name = _str(body.get("event_name"))
    message = body.get("message")
    if event_name is None or not isinstance(message, dict):
        raise ValueError("no event_name or message")
    sender = message.get("from")
    chat = message.get("chat")
    if not isinstance(sender, dict) or not isinstance(chat, dict):
        raise ValueError("no sender or chat")
    message_id, user_id, chat_id = (
        _str(message.get("message_id")),
        _str(sender.get("id")),
        _str(chat.get("id")),
    )
    if message_id is None or user_id is None or chat_id is None:
        raise ValueError("missing ids")
    date_ms = message.get("date")
    try:
        date = datetime.fromtimestamp(int(date_ms) / 1000, tz=UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        date = datetime.now(UTC)
    text = message.get("text")
    return ZaloEvent(
        event_name=event_name,
        message_id=message_id,
        user_id=user_id,
        user_name=_str(sender.get("display_name")) or _str(sender.get("name")) or "",
        chat_id=chat_id,
        is_group=str(chat.get("chat_type", "PRIVATE")).upper() == "GROUP",
        date=date,
        text=text if isinstance(text, str) else None,
        photo_url=_str(message.get("photo_url")) or _str(message.get("photo")),
        caption=_str(message.get("caption")),
        sticker=_str(message.get("sticker")),
    )


def _is_no_update(status: int, payload: object) -> bool:
    if status == 408:
        return True
    if not isinstance(payload, dict):
        return False
    if payload.get("ok") is True:
        return not payload.get("result")
    return str(payload.get("error_code")) == "408"


class ZaloClient:
    """Calls the Zalo Bot API. One instance per bot token; `start()` before use, `close()`
    after."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 30.0,
        max_rate_wait: float = 5.0,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self.max_rate_wait = max_rate_wait
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(
        self, method: str, params: dict[str, Any], seconds: float
    ) -> tuple[int, object]:
        assert self._session is not None, "ZaloClient.start() was not called"
        async with self._session.post(
            self._url + method,
            json=params,
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as response:
            raw = await response.read()
            retry_after = response.headers.get("Retry-After", "")
        try:
            payload: object = json.loads(raw)
        except ValueError:
            payload = None  # an HTML error page, typically with a 429
        if response.status == 429:
            seconds = int(retry_after) if retry_after.isdigit() else 1
            if isinstance(payload, dict):
                parameters = payload.get("parameters") or {}
                if isinstance(parameters, dict) and str(parameters.get("retry_after")).isdigit():
                    seconds = int(parameters["retry_after"])
            raise ZaloRateLimited(method, max(1, seconds))
        return response.status, payload

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, seconds: float | None = None
    ) -> Any:
        """Calls `method`; returns its `result`. Retries network errors and 5xx with backoff."""
        params = params or {}
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                status, payload = await self._post(method, params, seconds or self.timeout)
            except (aiohttp.ClientError, TimeoutError) as error:
                # str(error) may carry the URL, and with it the token: log the kind only.
                reason = f"network error ({type(error).__name__})"
                status, payload = 0, None
            except ZaloRateLimited as limited:
                if limited.retry_after > self.max_rate_wait or attempt == self.attempts:
                    log.warning("Zalo %s rate limited for %d s", method, limited.retry_after)
                    raise
                log.info("Zalo %s rate limited; waiting %d s", method, limited.retry_after)
                await asyncio.sleep(limited.retry_after)
                continue
            else:
                if status < 500 and isinstance(payload, dict) and payload.get("ok") is True:
                    return payload.get("result")
                if status < 500:
                    if method == "getUpdates" and _is_no_update(status, payload):
                        return None
                    description, code = _describe(status, payload)
                    log.warning("Zalo %s refused: %s %s", method, code, description)
                    raise ZaloError(method, code, description)
                reason = f"HTTP {status}"
            if attempt == self.attempts:
                break
            log.info("Zalo %s failed (%s); retrying in %.1f s", method, reason, delay)
            await asyncio.sleep(delay)
            delay *= 2
        log.warning("Zalo %s failed after %d attempts: %s", method, self.attempts, reason)
        raise ZaloUnavailable(method, status or 503, reason)

    # --- the methods ------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return await self.call("getMe")  # type: ignore[no-any-return]

    async def get_updates(self, wait: int = 30) -> ZaloEvent | None:
        """The next update, or None when none came within `wait` seconds (poll again)."""
        result = await self.call(
            "getUpdates", {"timeout": str(wait)}, seconds=wait + self.timeout
        )
        if not result:
            return None
        return parse_event(result)

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        return await self.call("getWebhookInfo") or {}

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text}) or {}

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> dict:
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            params["caption"] = caption
        return await self.call("sendPhoto", params) or {}

    async def send_sticker(self, chat_id: str, sticker: str) -> dict[str, Any]:
        return await self.call("sendSticker", {"chat_id": chat_id, "sticker": sticker}) or {}

    async def send_chat_action(self, chat_id: str, action: str) -> None:
        await self.call(
            "sendChatAction",
            {"chat_id": chat_id, "action": action if action in CHAT_ACTIONS else "typing"},
        )


def _describe(status: int, payload: object) -> tuple[str, int]:
    if isinstance(payload, dict):
        code = payload.get("error_code")
        description = str(payload.get("description") or payload.get("message") or "")
        try:
            return description, int(code) if code is not None else status
        except (TypeError, ValueError):
            return description, status
    return "unreadable answer", status
