"""Small steps a test member takes, so scenarios read like what the person does."""

from __future__ import annotations

from tests.botapi.telegram import BotMessage, TgUser


async def next_sent(user: TgUser, wait: float = 5) -> BotMessage:
    """The next new message to the person, skipping edits of earlier ones."""
    while True:
        message = await user.next_message(timeout=wait)
        if message.method != "editMessageText" and message.method != "editMessageReplyMarkup":
            return message


async def choose(user: TgUser, button: str) -> BotMessage:
    """Taps `button` on the latest question and returns the next question."""
    await user.tap(button)
    return await next_sent(user)


async def agree_and_name(user: TgUser, name: str = "Nguyễn Thị Lan") -> BotMessage:
    """From /start to the union question: agrees to the terms and types the name."""
    await user.send("/start")
    welcome = await next_sent(user)
    await user.tap(welcome.buttons[0][0])
    await next_sent(user)  # the name question
    await user.send(name)
    return await next_sent(user)


async def pick_school_by_browsing(user: TgUser) -> BotMessage:
    """Walks the sample tree down to Trường THCS Nguyễn Trãi; returns the position question."""
    for level in ("Liên đoàn Lao động", "Công đoàn Giáo dục Hà Nội", "quận Ba Đình"):
        await user.tap(level)
        await user.next_message()  # the menu, edited in place
    return await choose(user, "Trường THCS Nguyễn Trãi")


async def to_summary(user: TgUser, *, position: str, gender: str, phone: str | None) -> BotMessage:
    """From the position question to the summary: position, gender, phone (typed or skipped)."""
    await choose(user, position)
    await choose(user, gender)
    await user.send(phone if phone is not None else "Bỏ qua")
    await next_sent(user)  # "thank you", which also removes the phone keyboard
    return await next_sent(user)


async def alert_for(user: TgUser, data: str, *, message: BotMessage) -> dict:
    """Sends a (stale or forged) callback `data` on `message`; returns the bot's answer to it."""
    update = await user.tap_data(data, message=message)
    query_id = update["callback_query"]["id"]
    while True:
        answer = await user.next_answer()
        if answer["callback_query_id"] == query_id:
            return answer
