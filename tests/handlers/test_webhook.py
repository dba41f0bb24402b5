"""Webhook mode: Telegram posts updates to /telegram with our secret; nothing else gets in."""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest

from tests.botapi.telegram import FakeTelegram
from tests.handlers.helpers import next_sent

SECRET = "s3cret-Token_42"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webhook_bot(start_bot, units):  # type: ignore[no-untyped-def]
    port = _free_port()
    async with start_bot(
        webhook_url=f"http://127.0.0.1:{port}", webhook_secret=SECRET, http_port=port
    ) as runtime:
        yield runtime, f"http://127.0.0.1:{port}"


async def test_a_member_is_served_through_the_webhook(webhook_bot, tg: FakeTelegram) -> None:  # type: ignore[no-untyped-def]
    _, base = webhook_bot
    assert tg.webhook is not None and tg.webhook["url"] == f"{base}/telegram"
    lan = tg.user(first_name="Lan")
    await lan.send("/start")
    welcome = await next_sent(lan)
    await lan.tap(welcome.buttons[0][0])
    assert "Họ và tên" in (await next_sent(lan)).text
    assert tg.webhook_deliveries and all(status == 200 for _, status in tg.webhook_deliveries)
    assert tg.calls_of("getUpdates") == []


def _update(update_id: int, text: str = "/help") -> dict:
    user = {"id": 9001, "is_bot": False, "first_name": "Tú"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 1_700_000_000, "text": text, "from": user,
            "chat": {"id": 9001, "type": "private", "first_name": "Tú"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, json.dumps(_update(1)), 401),
        ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, json.dumps(_update(1)), 401),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, "{not json", 400),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, "[1, 2]", 400),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, '{"message": {}}', 400),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, '{"update_id": "7"}', 400),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, "x" * (1024 * 1024 + 1), 413),
    ],
)
async def test_bad_webhook_calls_are_refused_and_nothing_is_processed(
    webhook_bot, tg: FakeTelegram, headers: dict, body: str, status: int  # type: ignore[no-untyped-def]
) -> None:
    _, base = webhook_bot
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base}/telegram", data=body, headers=headers)
        assert response.status == status
        # A well-formed call afterwards is answered: nothing was stuck or crashed.
        tu = tg.user(first_name="Tú", user_id=9001)
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        response = await http.post(f"{base}/telegram", json=_update(2), headers=good)
        assert response.status == 200
    help_message = await next_sent(tu)
    assert "/profile" in help_message.text
    assert tu.pending() == []


async def test_a_repeated_delivery_is_handled_once(webhook_bot, tg: FakeTelegram) -> None:  # type: ignore[no-untyped-def]
    _, base = webhook_bot
    tu = tg.user(first_name="Tú", user_id=9001)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            assert (await http.post(f"{base}/telegram", json=_update(5), headers=headers)).ok
        cancel = _update(6, "/cancel")
        assert (await http.post(f"{base}/telegram", json=cancel, headers=headers)).ok
    assert "/profile" in (await next_sent(tu)).text
    assert "không có việc gì" in (await next_sent(tu)).text  # the next one, not a second help


async def test_health_check_reports_the_database(webhook_bot) -> None:  # type: ignore[no-untyped-def]
    _, base = webhook_bot
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{base}/healthz")
        assert response.status == 200
        assert (await response.json())["database"] == "ok"
