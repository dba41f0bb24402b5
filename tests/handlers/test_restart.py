"""A restart, graceful or a SIGKILL, never loses a member's place in the onboarding flow."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from bot.app import Runtime  # noqa: F401  (fixtures' type)
from tests.botapi.telegram import FakeTelegram
from tests.handlers.helpers import agree_and_name, next_sent


async def test_a_graceful_restart_resumes_at_the_same_question(
    start_bot, units, tg: FakeTelegram  # type: ignore[no-untyped-def]
) -> None:
    lan = tg.user(first_name="Lan")
    async with start_bot():
        ask_unit = await agree_and_name(lan, "Nguyễn Thị Lan")
        assert "công đoàn cơ sở" in ask_unit.text
    async with start_bot():
        await lan.send("nguyen trai")  # still the union question: this is a search
        results = await next_sent(lan)
        assert results.buttons[0][0].startswith("Trường THCS Nguyễn Trãi")
        await lan.tap("Trường THCS Nguyễn Trãi")
        assert "Chức danh" in (await next_sent(lan)).text


async def _spawn(tg: FakeTelegram, database_url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_BASE_URL": tg.base_url,
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        "WEBHOOK_URL": "",
    }
    env.pop("WEBHOOK_URL")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def test_a_killed_bot_resumes_each_member_where_they_were(
    units, tg: FakeTelegram, database_url: str  # type: ignore[no-untyped-def]
) -> None:
    lan, minh = tg.user(first_name="Lan"), tg.user(first_name="Minh")
    process = await _spawn(tg, database_url)
    try:
        await agree_and_name(lan, "Nguyễn Thị Lan")
        await minh.send("/start")
        await minh.tap((await next_sent(minh, wait=30)).buttons[0][0])
        assert "Họ và tên" in (await next_sent(minh)).text
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL

    process = await _spawn(tg, database_url)
    try:
        await minh.send("Lê Quang Minh")  # Minh was asked his name
        assert "công đoàn cơ sở" in (await next_sent(minh, wait=30)).text
        await lan.send("nguyen trai")  # Lan was asked her union
        assert (await next_sent(lan)).buttons[0][0].startswith("Trường THCS Nguyễn Trãi")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert b"Nguy" not in stderr and b"Minh" not in stderr  # no personal data in the logs
