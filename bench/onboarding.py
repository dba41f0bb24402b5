"""How many members can join at once: N simulated teachers go through the whole onboarding
flow concurrently, against the real bot and the local Bot API server (tests/botapi), on SQLite
by default or on the database named by --database-url.

    python bench/onboarding.py --members 300
    python bench/onboarding.py --members 300 --database-url postgresql+asyncpg://…/bench

Prints the wall time, members and updates per second, the latency a member waits for each
reply (p50, p95, max) and the process's peak memory. Figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import database
from bot.app import running
from bot.demo import load_demo_data
from bot.settings import Settings
from tests.botapi.telegram import FakeTelegram, TgUser

WAIT = 120.0


async def _timed(latencies: list[float], user: TgUser, action) -> object:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    await action
    while True:
        message = await user.next_message(timeout=WAIT)
        if message.method == "sendMessage":
            latencies.append(time.perf_counter() - started)
            return message


async def _join(user: TgUser, latencies: list[float], index: int) -> None:
    await _timed(latencies, user, user.send("/start"))
    await _timed(latencies, user, user.tap("Tôi đồng ý"))
    await _timed(latencies, user, user.send(f"Nguyễn Thị {'ABCDEGHKLMNPQRSTUVXY'[index % 20]}an"))
    results = await _timed(latencies, user, user.send("nguyen trai"))
    await _timed(latencies, user, user.tap(results.buttons[0][0]))  # type: ignore[attr-defined]
    await _timed(latencies, user, user.tap("Giáo viên"))
    await _timed(latencies, user, user.tap("Nữ"))
    await _timed(latencies, user, user.send(f"09{index:08d}"))
    await user.next_message(timeout=WAIT)  # the summary follows the "thank you"
    await _timed(latencies, user, user.tap("Xác nhận"))


async def main(members: int, database_url: str | None) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        engine = database.create_engine(url)
        await database.upgrade(engine)
        await load_demo_data(database.create_session_factory(engine))
        await engine.dispose()
        async with FakeTelegram(token="123456:BENCH") as tg:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, telegram_bot_token=tg.token,
                telegram_api_base_url=tg.base_url, database_url=url,
                http_host="127.0.0.1", http_port=0,
            )
            async with running(settings):
                users = [tg.user(first_name=f"GV{i}") for i in range(members)]
                latencies: list[float] = []
                started = time.perf_counter()
                await asyncio.gather(*(_join(u, latencies, i) for i, u in enumerate(users)))
                elapsed = time.perf_counter() - started
    latencies.sort()
    updates = len(latencies)
    print(f"database            {'sqlite' if database_url is None else url.split('://')[0]}")
    print(f"members joined      {members}")
    print(f"wall time           {elapsed:.2f} s")
    print(f"members per second  {members / elapsed:.1f}")
    print(f"updates per second  {updates / elapsed:.1f}")
    print(f"reply latency p50   {statistics.median(latencies) * 1000:.0f} ms")
    print(f"reply latency p95   {latencies[int(updates * 0.95) - 1] * 1000:.0f} ms")
    print(f"reply latency max   {latencies[-1] * 1000:.0f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory         {peak:.0f} MiB (bot and fake server in one process)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.members, args.database_url))
