"""The Zalo Bot API client (bot/zalo_api.py) against the local fake Zalo server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.zalo_api import (
    EVENT_IMAGE,
    EVENT_TEXT,
    ZaloClient,
    ZaloError,
    ZaloRateLimited,
    ZaloUnavailable,
    parse_event,
)
from tests.botapi.zalo import FakeZalo

TOKEN = "zalo-test-token-1234"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    async with FakeZalo(token=TOKEN, poll_cap=0.2) as server:
        yield server


@pytest.fixture
async def client(zalo: FakeZalo) -> AsyncIterator[ZaloClient]:
    zalo_client = ZaloClient(zalo.token, zalo.base_url, backoff=0.01)
    await zalo_client.start()
    yield zalo_client
    await zalo_client.close()


async def test_get_updates_returns_a_text_event_then_none_for_each_idle_shape(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    """A queued text becomes a ZaloEvent; the three "no update" shapes all become None."""
    lan = zalo.user("Lan")
    sent = await lan.send("xin chào")
    event = await client.get_updates(wait=1)
    assert event is not None
    assert event.event_name == EVENT_TEXT
    assert event.text == "xin chào"
    assert event.message_id == sent["message"]["message_id"]
    assert (event.user_id, event.chat_id) == (lan.id, lan.id)
    assert all(isinstance(i, str) for i in (event.message_id, event.user_id, event.chat_id))
    assert event.user_name == "Lan"
    assert not event.is_group
    assert event.date.tzinfo is UTC
    assert event.date == datetime.fromtimestamp(sent["message"]["date"] / 1000, tz=UTC)
    assert event.key == f"{EVENT_TEXT}:{event.message_id}"

    assert [await client.get_updates(wait=1) for _ in range(3)] == [None, None, None]
    idle = zalo.calls_of("getUpdates")[1:]
    assert [call.status for call in idle] == [408, 200, 200]  # all three shapes were served


async def test_image_under_photo_from_a_user_with_name(zalo: FakeZalo, client: ZaloClient) -> None:
    """Zalo's alternative keys (`photo`, `from.name`) are read too."""
    hoa = zalo.user("Hoa", name_key="name")
    await hoa.send_image("https://example.org/a.jpg", caption="ảnh", key="photo")
    event = await client.get_updates(wait=1)
    assert event is not None
    assert event.event_name == EVENT_IMAGE
    assert event.photo_url == "https://example.org/a.jpg"
    assert event.caption == "ảnh"
    assert event.user_name == "Hoa"


def _update() -> dict[str, object]:
    message = {
        "message_id": "m1",
        "from": {"id": "u1", "display_name": "Lan"},
        "chat": {"id": "u1", "chat_type": "PRIVATE"},
        "date": 1_700_000_000_000,
        "text": "hi",
    }
    return {"event_name": EVENT_TEXT, "message": message}


def test_parse_event_accepts_the_wrapped_form() -> None:
    event = parse_event({"ok": True, "result": _update()})
    assert (event.message_id, event.user_id, event.text) == ("m1", "u1", "hi")
    assert event.date == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        [_update()],
        {"event_name": EVENT_TEXT, "message": {"from": {"id": "u1"}, "chat": {"id": "u1"}}},
        {"event_name": EVENT_TEXT},
        {"ok": True, "result": {"event_name": EVENT_TEXT}},
    ],
    ids=["list", "missing-ids", "missing-message", "wrapped-missing-message"],
)
def test_parse_event_rejects_junk(body: object) -> None:
    with pytest.raises(ValueError):
        parse_event(body)


async def test_unknown_chat_is_a_400_logged_without_the_token(
    client: ZaloClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.zalo_api")
    with pytest.raises(ZaloError) as error:
        await client.send_message("no-such-chat", "hello")
    assert (error.value.code, error.value.description) == (400, "chat not found")
    assert "sendMessage" in caplog.text
    assert "chat not found" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in str(error.value)


async def test_a_500_is_retried_and_four_in_a_row_are_unavailable(
    zalo: FakeZalo, client: ZaloClient
) -> None:
    lan = zalo.user("Lan", known=True)
    zalo.fail_next("sendMessage", 500)
    await client.send_message(lan.id, "hello")
    assert [call.status for call in zalo.calls_of("sendMessage")] == [500, 200]
    assert [m.text for m in lan.messages] == ["hello"]  # sent once

    zalo.fail_next("sendMessage", 500, times=4)
    with pytest.raises(ZaloUnavailable) as error:
        await client.send_message(lan.id, "again")
    assert error.value.code == 500
    assert len(zalo.calls_of("sendMessage")) == 2 + 4
    assert [m.text for m in lan.messages] == ["hello"]


async def test_an_html_429_is_waited_out_once(zalo: FakeZalo, client: ZaloClient) -> None:
    """No Retry-After: the client waits 1 s (within max_rate_wait) and tries again."""
    lan = zalo.user("Lan", known=True)
    zalo.rate_limit_next("sendMessage")
    await client.send_message(lan.id, "hello")
    assert [call.status for call in zalo.calls_of("sendMessage")] == [429, 200]
    assert [m.text for m in lan.messages] == ["hello"]


async def test_a_429_longer_than_max_rate_wait_is_raised(zalo: FakeZalo) -> None:
    lan = zalo.user("Lan", known=True)
    impatient = ZaloClient(zalo.token, zalo.base_url, backoff=0.01, max_rate_wait=0)
    await impatient.start()
    try:
        zalo.rate_limit_next("sendMessage")
        with pytest.raises(ZaloRateLimited) as error:
            await impatient.send_message(lan.id, "hello")
    finally:
        await impatient.close()
    assert error.value.retry_after >= 1
    assert error.value.code == 429
    assert len(zalo.calls_of("sendMessage")) == 1
    assert lan.messages == []


async def test_a_wrong_token_is_a_401(zalo: FakeZalo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.zalo_api")
    wrong = ZaloClient("wrong-token-5678", zalo.base_url, backoff=0.01)
    await wrong.start()
    try:
        with pytest.raises(ZaloError) as error:
            await wrong.get_me()
    finally:
        await wrong.close()
    assert error.value.code == 401
    assert "wrong-token-5678" not in caplog.text


async def test_webhook_round_trip(zalo: FakeZalo, client: ZaloClient) -> None:
    """set, read back, poll refused while set (409), delete."""
    url = "https://unionbot.example.org/zalo/webhook"
    await client.set_webhook(url, "s3cret")
    assert zalo.webhook == {"url": url, "secret_token": "s3cret"}
    assert (await client.get_webhook_info())["url"] == url
    with pytest.raises(ZaloError) as error:
        await client.get_updates(wait=1)
    assert error.value.code == 409
    await client.delete_webhook()
    assert zalo.webhook is None
    assert (await client.get_webhook_info())["url"] == ""


async def test_a_network_error_is_unavailable_and_the_log_hides_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.zalo_api")
    offline = ZaloClient(TOKEN, "http://127.0.0.1:9", attempts=2, backoff=0.01)
    await offline.start()
    try:
        with pytest.raises(ZaloUnavailable) as error:
            await offline.send_message("u1", "hello")
    finally:
        await offline.close()
    assert "network error" in error.value.description
    assert any("failed after 2 attempts" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    assert TOKEN not in str(error.value)
