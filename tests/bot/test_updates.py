"""Updates of different people run side by side; one person's updates keep their order."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from bot.updates import PerChatUpdateProcessor


def _update(update_id: int, chat_id: int) -> Update:
    user = User(id=chat_id, is_bot=False, first_name="T")
    chat = Chat(id=chat_id, type="private")
    message = Message(message_id=update_id, date=None, chat=chat, from_user=user, text="x")  # type: ignore[arg-type]
    return Update(update_id=update_id, message=message)


async def test_one_chats_updates_run_in_order_while_another_chat_is_not_held_up() -> None:
    processor = PerChatUpdateProcessor(max_concurrent_updates=8)
    log: list[str] = []
    first_may_finish = asyncio.Event()

    async def work(name: str, wait: asyncio.Event | None = None) -> None:
        log.append(f"start {name}")
        if wait is not None:
            await wait.wait()
        log.append(f"end {name}")

    async with processor:
        a1 = asyncio.create_task(
            processor.process_update(_update(1, 100), work("a1", first_may_finish))
        )
        a2 = asyncio.create_task(processor.process_update(_update(2, 100), work("a2")))
        b1 = asyncio.create_task(processor.process_update(_update(3, 200), work("b1")))
        await b1  # chat 200 finishes while chat 100's first update is still running
        assert log == ["start a1", "start b1", "end b1"]
        first_may_finish.set()
        await asyncio.gather(a1, a2)
    assert log[3:] == ["end a1", "start a2", "end a2"]
    assert processor._locks == {}  # nothing kept once a chat is quiet
