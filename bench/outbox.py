"""How fast the delivery outbox sends, against the local fake Telegram server on this machine
(tests/botapi/telegram.py, run in a process of its own so it does not share the worker's
event loop), on PostgreSQL:

1. the ceiling: sendMessage/s of a bare aiohttp client with the same concurrency;
2. the outbox unthrottled, end to end (enqueue then deliver) for --recipients (100,000), with
   one worker process and with --workers;
3. throttled at --rate (30/s) for --throttled-seconds (300), with --throttled-workers (2) worker
   processes: the achieved rate measured on the server's own timestamps, and how many 429s a
   server enforcing that rate (more than --rate in any sliding 1 s window) answered;
4. the worker process's peak RSS at 10,000 and at --recipients.

Where the CPU goes, per message delivered in step 2: the worker process(es) (getrusage), the
fake server (getrusage, asked with SIGUSR1) and PostgreSQL (every `postgres` process in /proc,
so only meaningful when nothing else uses that server meanwhile).

A database of its own is created on the server of --database-url (or TEST_DATABASE_URL) and
dropped at the end.

    python bench/outbox.py
    python bench/outbox.py --recipients 100000 --throttled-seconds 300 --concurrency 128 \
        --workers 2 --throttled-workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = "123456:BENCH-TOKEN"
FIRST_USER = 1_000_000
# Every step sends this text with parse_mode HTML, so the server does the same work for the
# ceiling's requests as for the worker's and the ratio measures the outbox alone.
MESSAGE = "<b>Thông báo</b> họp công đoàn lúc 8 giờ"


# --- the fake server, in a child process ---------------------------------------------------------


async def _serve(users: int, limit: float | None) -> None:
    """The fake Telegram server with `users` started users; with `limit`, a sendMessage beyond
    `limit` in the last second is answered 429 (as Telegram would). Prints its port, then its
    counts on SIGTERM."""
    from tests.botapi.telegram import ApiError, FakeTelegram

    tg = FakeTelegram(token=TOKEN)
    await tg.start()
    for n in range(users):
        tg.user(first_name="U", user_id=FIRST_USER + n)
    recent: collections.deque[float] = collections.deque()
    times: list[float] = []
    refused = 0
    original = tg._m_sendMessage

    async def send_message(params, uploads):  # type: ignore[no-untyped-def]
        nonlocal refused
        now = time.monotonic()
        if limit is not None:
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= limit:
                refused += 1
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            recent.append(now)
        result = await original(params, uploads)
        times.append(now)
        # Keep the server's memory flat: a broadcast test needs no message history. (Kept, the
        # history made each request dearer as it grew, so whichever step ran later paid more.)
        tg.calls.clear()
        chat = tg._chats.get(int(params["chat_id"]))
        if chat is not None:
            chat._messages.clear()
            chat._outputs.clear()
            chat._cursor = 0
        return result

    tg._m_sendMessage = send_message  # type: ignore[method-assign]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(
        signal.SIGUSR1, lambda: print(json.dumps({"cpu": _cpu_seconds()}), flush=True)
    )
    print(tg.port, flush=True)
    await stop.wait()
    window = _most_in_a_window(times)
    print(json.dumps({
        "ok": len(times), "refused": refused, "max_in_1s": window,
        "span": (times[-1] - times[0]) if len(times) > 1 else 0.0,
    }), flush=True)
    await tg.stop()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _postgres_cpu() -> float:
    """CPU seconds used so far by every process named postgres that /proc shows (0 if none),
    ended backends included (they count in the postmaster's children's time)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition(") ")
        if name.endswith("(postgres"):
            fields = rest.split()
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _most_in_a_window(times: list[float]) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class Server:
    def __init__(self, users: int, limit: float | None = None) -> None:
        self.args = ["_serve", "--users", str(users)] + (
            ["--limit", str(limit)] if limit else []
        )

    async def __aenter__(self) -> Server:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, *self.args, stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        port = int((await self.process.stdout.readline()).decode())
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def cpu(self) -> float:
        """CPU seconds the server process has used so far."""
        self.process.send_signal(signal.SIGUSR1)
        assert self.process.stdout is not None
        return float(json.loads(await self.process.stdout.readline())["cpu"])

    async def counts(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        await self.process.wait()
        return json.loads(line)

    async def __aexit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


# --- the worker, in a child process (its RSS is what is measured) --------------------------------


async def _deliver(url: str, base: str, concurrency: int, rate: float | None) -> None:
    from bot import database
    from bot.app import delivery_senders
    from bot.delivery import DeliveryConfig, DeliveryWorker
    from bot.settings import Settings

    engine = database.create_engine(url)
    sessions = database.create_session_factory(engine)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, telegram_bot_token=TOKEN, telegram_api_base_url=base,
        database_url=url, delivery_concurrency=concurrency,
    )
    config = DeliveryConfig(
        rates={"telegram": rate}, concurrency=concurrency, idle_poll=0.01, recover_every=3600,
    )
    async with delivery_senders(settings, sessions) as senders:
        worker = DeliveryWorker(sessions, senders, config)
        started, cpu = time.perf_counter(), _cpu_seconds()
        await worker.drain(timeout=3600)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    await engine.dispose()
    print(json.dumps({
        "sent": worker.stats.sent, "retried": worker.stats.retried,
        "rate_limited": worker.stats.rate_limited, "seconds": seconds,
        "cpu": cpu,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


async def deliver(url: str, base: str, concurrency: int, rate: float | None) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "_deliver", "--url", url, "--base", base,
        "--concurrency", str(concurrency), "--rate", str(rate or 0),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])


# --- the steps -----------------------------------------------------------------------------------


async def ceiling(base: str, count: int, concurrency: int) -> float:
    """sendMessage/s of a bare aiohttp client: what the server and the machine allow. It sends
    what the worker sends: the same text, each message to a chat of its own (the server keeps
    every chat's messages, so a thousand chats cost it less than a hundred thousand)."""
    import aiohttp

    queue = iter(range(count))
    url, headers = f"{base}/bot{TOKEN}/sendMessage", {"Content-Type": "application/json"}

    async def sender(session: aiohttp.ClientSession) -> None:
        for n in queue:
            body = {"chat_id": FIRST_USER + n, "text": MESSAGE, "parse_mode": "HTML"}
            async with session.post(
                url, data=json.dumps(body, ensure_ascii=False).encode(), headers=headers
            ) as response:
                await response.read()

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def ptb_ceiling(base: str, count: int, concurrency: int) -> float:
    """sendMessage/s of a bare ExtBot (no database): what one worker process reached when it
    sent through python-telegram-bot (before bot/telegram_sender.py)."""
    from telegram.ext import Defaults, ExtBot
    from telegram.request import HTTPXRequest

    bot = ExtBot(TOKEN, base_url=f"{base}/bot", defaults=Defaults(parse_mode="HTML"),
                 request=HTTPXRequest(connection_pool_size=concurrency))
    await bot.initialize()
    queue = iter(range(count))

    async def sender() -> None:
        for n in queue:
            await bot.send_message(FIRST_USER + n, MESSAGE)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    await bot.shutdown()
    return count / seconds


async def enqueue(url: str, count: int) -> float:
    from sqlalchemy import text

    from bot import database
    from models import outbox
    from models.base import utcnow
    from models.outbox import Message, Recipient, Source

    engine = database.create_engine(url)
    async with database.create_session_factory(engine)() as session:
        # The previous step's rows go without leaving dead ones for this step to walk past.
        await session.exec(text("TRUNCATE outbox_message, outbox_rate"))  # type: ignore[call-overload]
        await session.commit()
        started = time.perf_counter()
        await outbox.enqueue(session, (
            Recipient(channel="telegram", chat_id=str(FIRST_USER + n), dedupe_key=f"b:{n}",
                      message=Message(MESSAGE))
            for n in range(count)
        ), kind="announcement", source=Source("bench", 1), now=utcnow())
        await session.commit()
        seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds


async def main(args: argparse.Namespace) -> None:
    from bench.scratch import scratch_databases
    from bot import database

    async with scratch_databases(args.database_url) as [url]:
        engine = database.create_engine(url)
        await database.upgrade(engine)
        await engine.dispose()
        n, c = args.recipients, args.concurrency
        print(f"outbox benchmark: PostgreSQL, fake Telegram server in its own process, "
              f"concurrency {c}")

        async with Server(n) as server:
            count = min(n, 20000)
            server_cpu, client_cpu = await server.cpu(), _cpu_seconds()
            top = await ceiling(server.base_url, count, c)
            server_cpu, client_cpu = await server.cpu() - server_cpu, _cpu_seconds() - client_cpu
            print(f"1. ceiling, bare aiohttp client:       {top:8.0f} sendMessage/s "
                  f"(CPU per message: client {client_cpu / count * 1e6:.0f} µs, server "
                  f"{server_cpu / count * 1e6:.0f} µs)")
            ptb = await ptb_ceiling(server.base_url, min(n, 5000), c)
            print(f"   a bare python-telegram-bot ExtBot:  {ptb:8.0f} sendMessage/s "
                  f"(for comparison: the worker sends through bot/telegram_sender.py)")
            small = min(10000, n)
            await enqueue(url, small)
            result = await deliver(url, server.base_url, c, None)
            rss_small = result["max_rss_mb"]
            for workers in sorted({1, args.workers}):
                enqueue_s = await enqueue(url, n)
                server_cpu, pg_cpu = await server.cpu(), _postgres_cpu()
                results = await asyncio.gather(
                    *(deliver(url, server.base_url, c, None) for _ in range(workers))
                )
                server_cpu, pg_cpu = await server.cpu() - server_cpu, _postgres_cpu() - pg_cpu
                seconds = max(r["seconds"] for r in results)
                sent = sum(r["sent"] for r in results)
                total = enqueue_s + seconds
                worker_cpu = sum(r["cpu"] for r in results)
                print(f"2. outbox unthrottled, {n:,} recipients, {workers} worker "
                      f"process(es): enqueue {enqueue_s:.1f} s, deliver {seconds:.1f} s "
                      f"({sent / seconds:.0f}/s, {sent / seconds / top:.0%} of the ceiling); "
                      f"end to end {n / total:.0f}/s")
                print(f"   CPU per message: worker(s) {worker_cpu / sent * 1e6:.0f} µs "
                      f"(while draining), server "
                      f"{server_cpu / sent * 1e6:.0f} µs, PostgreSQL {pg_cpu / sent * 1e6:.0f} µs")
                if workers == 1:
                    rss_large = results[0]["max_rss_mb"]
            counts = await server.counts()
        print(f"   the server received {counts['ok']:,} messages in all (ceiling included)")
        print(f"4. worker peak RSS: {rss_small:.0f} MB at {small:,} recipients, "
              f"{rss_large:.0f} MB at {n:,}")

        if args.throttled_seconds > 0:
            count = int(args.rate * args.throttled_seconds)
            workers = args.throttled_workers
            async with Server(count, limit=args.rate) as server:
                await enqueue(url, count)
                results = await asyncio.gather(
                    *(deliver(url, server.base_url, c, args.rate) for _ in range(workers))
                )
                counts = await server.counts()
            achieved = (counts["ok"] - 1) / counts["span"] if counts["span"] else 0.0
            print(f"3. throttled at {args.rate:g}/s, {count:,} messages, {workers} worker "
                  f"process(es): achieved {achieved:.2f}/s ({achieved / args.rate - 1:+.1%}) "
                  f"over {counts['span']:.0f} s (server clock), most in any 1 s window "
                  f"{counts['max_in_1s']}, 429s answered {counts['refused']} (sent per "
                  f"worker: {', '.join(str(r['sent']) for r in results)})")


if __name__ == "__main__":
    # The bare client and the workers run on the event loop the `unionbot` commands use; the
    # fake server, which stands for Telegram's, stays on asyncio's own as it always has.
    from bot.cli import run_async

    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        parser = argparse.ArgumentParser()
        parser.add_argument("_serve")
        parser.add_argument("--users", type=int)
        parser.add_argument("--limit", type=float)
        a = parser.parse_args()
        asyncio.run(_serve(a.users, a.limit))
    elif len(sys.argv) > 1 and sys.argv[1] == "_deliver":
        parser = argparse.ArgumentParser()
        parser.add_argument("_deliver")
        parser.add_argument("--url")
        parser.add_argument("--base")
        parser.add_argument("--concurrency", type=int)
        parser.add_argument("--rate", type=float)
        a = parser.parse_args()
        run_async(_deliver(a.url, a.base, a.concurrency, a.rate or None))
    else:
        from bench.scratch import default_admin_url

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--recipients", type=int, default=100_000)
        parser.add_argument("--concurrency", type=int, default=128)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--rate", type=float, default=30)
        parser.add_argument("--throttled-seconds", type=float, default=300)
        parser.add_argument("--throttled-workers", type=int, default=2)
        parser.add_argument(
            "--database-url",
            default=default_admin_url(),
        )
        run_async(main(parser.parse_args()))
