"""Tests of :class:`FakeZalo` itself, spoken to over plain HTTP (aiohttp), as the bot will.

They pin the Zalo Bot API behaviours the fake reproduces, so the bot's end-to-end tests can
trust it. They wait on events only; none sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.botapi.zalo import SECRET_HEADER, FakeZalo

TOKEN = "zalo-test-token"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    async with FakeZalo(token=TOKEN) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    zalo: FakeZalo,
    method: str,
    body: Any = None,
    *,
    token: str = TOKEN,
) -> tuple[int, Any]:
    """POST ``body`` as JSON to ``method``: (HTTP status, decoded JSON answer)."""
    url = f"{zalo.base_url}/bot{token}/{method}"
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


class Receiver:
    """A local webhook endpoint: records (headers, JSON body), answers queued statuses
    (200 once they run out)."""

    def __init__(self, statuses: list[int] | None = None, secret: str | None = None):
        self.statuses = list(statuses or [])
        self.secret = secret
        self.received: list[tuple[dict[str, str], Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        if self.secret is not None and request.headers.get(SECRET_HEADER) != self.secret:
            return web.json_response({"error": "bad secret"}, status=403)
        return web.json_response(
            {"ok": True}, status=self.statuses.pop(0) if self.statuses else 200
        )

    @property
    def bodies(self) -> list[Any]:
        return [body for _, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/zalo/webhook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/zalo/webhook"
    yield rec
    await runner.cleanup()


# ------------------------------------------------------------------------------------------
# HTTP layer
# ------------------------------------------------------------------------------------------


async def test_get_me(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    assert await call(http, zalo, "getMe") == (200, {"ok": True, "result": {
        "id": zalo.bot_id, "account_name": "bot.unionbot", "account_type": "BASIC",
        "can_join_groups": False, "display_name": "UnionBot",
    }})  # fmt: skip
    async with http.get(f"{zalo.base_url}/bot{TOKEN}/getMe") as resp:  # GET, no body
        assert resp.status == 200 and (await resp.json())["result"]["id"] == zalo.bot_id
    assert [c.method for c in zalo.calls] == ["getMe", "getMe"]


async def test_bad_token_unknown_method_and_bad_body(
    zalo: FakeZalo, http: aiohttp.ClientSession
) -> None:
    assert await call(http, zalo, "getMe", token="wrong") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )  # fmt: skip
    assert await call(http, zalo, "sendVoice") == (
        404, {"ok": False, "error_code": 404, "description": "Not Found"},
    )  # fmt: skip
    status, body = await call(http, zalo, "sendMessage", ["not", "an", "object"])
    assert status == 400 and body["error_code"] == 400 and body["ok"] is False
    async with http.post(f"{zalo.base_url}/bot{TOKEN}/getMe", data=b"{oops") as resp:
        assert resp.status == 400
    assert [c.status for c in zalo.calls] == [401, 404, 400, 400]


# ------------------------------------------------------------------------------------------
# Polling
# ------------------------------------------------------------------------------------------


async def test_get_updates_returns_one_update_then_cycles_idle_shapes(
    zalo: FakeZalo, http: aiohttp.ClientSession
) -> None:
    lan = zalo.user(display_name="Lan")
    sent = await lan.send("xin chào")
    await lan.send("lần hai")
    assert len(zalo.pending_updates()) == 2

    status, body = await call(http, zalo, "getUpdates", {"timeout": "0"})
    assert (status, body) == (200, {"ok": True, "result": sent})
    message = body["result"]["message"]
    assert body["result"]["event_name"] == "message.text.received"
    assert message["from"] == {"id": lan.id, "display_name": "Lan"}
    assert message["chat"] == {"id": lan.id, "chat_type": "PRIVATE"}
    assert message["text"] == "xin chào" and isinstance(message["message_id"], str)
    assert abs(message["date"] - time.time() * 1000) < 60_000  # milliseconds
    assert len(lan.id) == 16 and int(lan.id, 16) >= 0
    status, body = await call(http, zalo, "getUpdates", {"timeout": 0})
    assert body["result"]["message"]["text"] == "lần hai"
    assert zalo.pending_updates() == []

    idle = [await call(http, zalo, "getUpdates", {"timeout": 0}) for _ in range(4)]
    assert idle == [
        (408, {"ok": False, "error_code": 408, "description": "Request timeout"}),
        (200, {"ok": False, "error_code": "408", "description": "Request timeout"}),
        (200, {"ok": True, "result": {}}),
        (408, {"ok": False, "error_code": 408, "description": "Request timeout"}),
    ]


async def test_long_poll_wakes_when_a_user_writes(http: aiohttp.ClientSession) -> None:
    async with FakeZalo(token=TOKEN, poll_cap=30) as zalo:
        lan = zalo.user()
        started = time.monotonic()
        poll = asyncio.create_task(call(http, zalo, "getUpdates", {"timeout": 30}))
        await zalo.wait_polling()
        await lan.send("ping")
        status, body = await asyncio.wait_for(poll, 5)
        assert status == 200 and body["result"]["message"]["text"] == "ping"
        assert time.monotonic() - started < 5


async def test_long_poll_is_capped(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    zalo.poll_cap = 0.05
    status, _ = await asyncio.wait_for(call(http, zalo, "getUpdates", {"timeout": 30}), 5)
    assert status == 408


# ------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------


async def test_send_message_validation_and_recording(
    zalo: FakeZalo, http: aiohttp.ClientSession
) -> None:
    lan = zalo.user(display_name="Lan")
    not_found = (400, {"ok": False, "error_code": 400, "description": "chat not found"})
    assert await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": "hi"}) == not_found
    await lan.send("hello")  # now the bot may write to her
    assert await call(http, zalo, "sendMessage", {"chat_id": "nobody", "text": "x"}) == not_found
    for text, description in [("", "text is empty"), (None, "text is empty"),
                              ("x" * 2001, "text is too long")]:  # fmt: skip
        status, body = await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": text})
        assert (status, body["description"]) == (400, description)
    assert lan.messages == []

    status, body = await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": "Chào"})
    assert status == 200 and set(body["result"]) == {"message_id", "date"}
    await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": "x" * 2000})
    assert len(lan.pending()) == 2
    first = await lan.next_message()
    assert (first.method, first.text, first.chat_id) == ("sendMessage", "Chào", lan.id)
    assert first.message_id == body["result"]["message_id"]
    assert (await lan.next_message()).text == "x" * 2000
    assert lan.pending() == [] and len(lan.messages) == 2
    with pytest.raises(AssertionError, match=r"(?s)within 0.05s.*sendMessage.*'Chào'"):
        await lan.next_message(timeout=0.05)


async def test_next_message_waits_for_the_bot(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    lan = zalo.user(known=True)
    waiting = asyncio.create_task(lan.next_message())
    await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": "later"})
    assert (await waiting).text == "later"


async def test_send_photo_sticker_and_chat_action(
    zalo: FakeZalo, http: aiohttp.ClientSession
) -> None:
    lan = zalo.user(known=True)
    photo = {"chat_id": lan.id, "photo": "https://example.org/card.png", "caption": "Thẻ"}
    assert (await call(http, zalo, "sendPhoto", photo))[0] == 200
    too_long = {**photo, "caption": "x" * 2001}
    assert (await call(http, zalo, "sendPhoto", too_long))[1]["description"] == (
        "caption is too long"
    )
    assert (await call(http, zalo, "sendSticker", {"chat_id": lan.id, "sticker": "s1"}))[0] == 200
    msg = await lan.next_message()
    assert (msg.method, msg.photo, msg.caption, msg.text) == (
        "sendPhoto", "https://example.org/card.png", "Thẻ", None,
    )  # fmt: skip
    assert (await lan.next_message()).sticker == "s1"

    typing = {"chat_id": lan.id, "action": "typing"}
    assert await call(http, zalo, "sendChatAction", typing) == (200, {"ok": True, "result": True})
    status, _ = await call(http, zalo, "sendChatAction", {"chat_id": lan.id, "action": "dance"})
    assert status == 400 and lan.actions == ["typing"]


async def test_blocked_user_gets_403(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    lan = zalo.user(known=True)
    lan.block()
    forbidden = (403, {"ok": False, "error_code": 403, "description": "User has blocked the bot"})
    assert await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": "hi"}) == forbidden
    photo = {"chat_id": lan.id, "photo": "https://example.org/a.jpg"}
    assert await call(http, zalo, "sendPhoto", photo) == forbidden
    typing = {"chat_id": lan.id, "action": "typing"}
    assert await call(http, zalo, "sendChatAction", typing) == forbidden
    with pytest.raises(AssertionError, match="blocked the bot"):
        await lan.next_message(timeout=0.01)
    lan.unblock()
    assert (await call(http, zalo, "sendMessage", {"chat_id": lan.id, "text": "hi"}))[0] == 200


# ------------------------------------------------------------------------------------------
# Webhook
# ------------------------------------------------------------------------------------------


async def test_webhook_delivers_in_order_with_the_secret(
    zalo: FakeZalo, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    lan = zalo.user()
    hook = {"url": receiver.url, "secret_token": "s3cret-token"}
    status, body = await call(http, zalo, "setWebhook", hook)
    assert status == 200 and body["result"]["url"] == receiver.url
    assert zalo.webhook == {"url": receiver.url, "secret_token": "s3cret-token"}
    assert (await call(http, zalo, "getWebhookInfo"))[1]["result"]["url"] == receiver.url
    assert await call(http, zalo, "getUpdates", {"timeout": 0}) == (
        409, {"ok": False, "error_code": 409, "description": "Conflict: webhook is active"},
    )  # fmt: skip
    first, second = await lan.send("một"), await lan.send("hai")
    await zalo.wait_idle()
    assert receiver.bodies == [first, second]
    assert all(h[SECRET_HEADER] == "s3cret-token" for h, _ in receiver.received)
    assert zalo.webhook_deliveries == [(first, 200), (second, 200)]

    status, body = await call(http, zalo, "deleteWebhook")
    assert (status, body["result"]["url"]) == (200, "")
    assert zalo.webhook is None
    await lan.send("ba")
    assert (await call(http, zalo, "getUpdates", {"timeout": 0}))[0] == 200
    assert (await call(http, zalo, "setWebhook", {"secret_token": "x"}))[0] == 400


async def test_set_webhook_interrupts_a_long_poll(
    zalo: FakeZalo, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    zalo.poll_cap = 30
    poll = asyncio.create_task(call(http, zalo, "getUpdates", {"timeout": 30}))
    await zalo.wait_polling()
    await call(http, zalo, "setWebhook", {"url": receiver.url, "secret_token": "abcdefgh"})
    assert (await asyncio.wait_for(poll, 5))[0] == 409


async def test_webhook_retries_then_drops(
    zalo: FakeZalo, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    lan = zalo.user()
    await call(http, zalo, "setWebhook", {"url": receiver.url, "secret_token": "abcdefgh"})
    receiver.statuses = [500, 200]
    retried = await lan.send("retried")
    await zalo.wait_idle()
    assert zalo.webhook_deliveries == [(retried, 500), (retried, 200)]

    receiver.statuses = [500] * 4
    dropped = await lan.send("dropped")
    await zalo.wait_idle()
    assert zalo.webhook_deliveries[2:] == [(dropped, 500)] * 4  # first try + 3 retries
    assert zalo.webhook_dropped == [dropped] and zalo.pending_updates() == []


async def test_public_webhook_url_is_only_reached_through_a_redirect(
    zalo: FakeZalo, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    public = "https://bot.example.org/zalo/webhook"
    await call(http, zalo, "setWebhook", {"url": public, "secret_token": "abcdefgh"})
    update = await zalo.user().send("hi")
    assert zalo.pending_updates() == [update]  # never sent to the internet
    zalo.redirect_webhook(receiver.url)
    await zalo.wait_idle()
    assert receiver.bodies == [update]


async def test_wrapped_webhook_body_and_deliver_with_wrong_secret(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with FakeZalo(token=TOKEN, wrap_webhook_body=True) as zalo:
        lan = zalo.user()
        receiver.secret = "abcdefgh"
        await call(http, zalo, "setWebhook", {"url": receiver.url, "secret_token": "abcdefgh"})
        update = await lan.send("bọc")
        await zalo.wait_idle()
        assert receiver.bodies == [{"ok": True, "result": update}]

        assert await zalo.deliver(update) == (200, {"ok": True})  # a replay, bare body
        assert await zalo.deliver(update, secret="wrong") == (403, {"error": "bad secret"})
        assert receiver.received[-1][0][SECRET_HEADER] == "wrong"
        assert await zalo.deliver(update, secret="") == (403, {"error": "bad secret"})
        assert SECRET_HEADER not in receiver.received[-1][0]
        assert receiver.bodies[1:] == [update] * 3


# ------------------------------------------------------------------------------------------
# Failure injection
# ------------------------------------------------------------------------------------------


async def test_fail_next_then_success(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    lan = zalo.user(known=True)
    zalo.fail_next("sendMessage", times=2)
    params = {"chat_id": lan.id, "text": "hi"}
    failed = (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
    assert [await call(http, zalo, "sendMessage", params) for _ in range(2)] == [failed] * 2
    assert lan.messages == []  # no state changed
    assert (await call(http, zalo, "sendMessage", params))[0] == 200
    assert [(c.status, c.injected) for c in zalo.calls_of("sendMessage")] == [
        (500, True), (500, True), (200, False),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="sendMesage"):
        zalo.fail_next("sendMesage")


async def test_rate_limit_next_answers_html(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    zalo.rate_limit_next("getMe")
    async with http.post(f"{zalo.base_url}/bot{TOKEN}/getMe") as resp:
        assert resp.status == 429 and resp.content_type == "text/html"
        assert "429 Too Many Requests" in await resp.text()
    assert (await call(http, zalo, "getMe"))[0] == 200
    assert zalo.calls[0].injected and not zalo.calls[0].ok


# ------------------------------------------------------------------------------------------
# What users send
# ------------------------------------------------------------------------------------------


async def test_update_shapes(zalo: FakeZalo) -> None:
    minh = zalo.user(display_name="Minh", name_key="name")
    text = (await minh.send("a"))["message"]
    assert text["from"] == {"id": minh.id, "name": "Minh"}

    image = await minh.send_image("https://example.org/a.jpg", caption="ảnh")
    assert image["event_name"] == "message.image.received"
    assert image["message"]["photo_url"] == "https://example.org/a.jpg"
    assert image["message"]["caption"] == "ảnh"
    bare = (await minh.send_image("https://example.org/b.jpg", key="photo"))["message"]
    assert bare["photo"] == "https://example.org/b.jpg"
    assert "photo_url" not in bare and "caption" not in bare

    sticker = await minh.send_sticker()
    assert sticker["event_name"] == "message.sticker.received"
    assert isinstance(sticker["message"]["sticker"], str) and sticker["message"]["url"]
    unsupported = await minh.send_unsupported()
    assert unsupported["event_name"] == "message.unsupported.received"
    assert set(unsupported["message"]) == {"message_id", "from", "chat", "date"}

    ids = [u["message"]["message_id"] for u in zalo.pending_updates()]
    assert len(set(ids)) == len(ids) == 5


async def test_group_chat(zalo: FakeZalo, http: aiohttp.ClientSession) -> None:
    lan, minh = zalo.user(display_name="Lan"), zalo.user(display_name="Minh")
    group = zalo.group(title="Tổ Toán")
    params = {"chat_id": group.id, "text": "Chào tổ"}
    assert (await call(http, zalo, "sendMessage", params))[0] == 400  # nobody wrote there yet
    update = await group.send(lan, "hello")
    assert update["message"]["chat"] == {"id": group.id, "chat_type": "GROUP"}
    assert update["message"]["from"] == {"id": lan.id, "display_name": "Lan"}
    assert (await call(http, zalo, "sendMessage", params))[0] == 200
    assert (await group.next_message()).text == "Chào tổ"
    assert lan.messages == [] and minh.messages == []
    assert zalo.chat(group.id) is group
