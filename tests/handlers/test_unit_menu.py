"""Choosing one's union from a level with many units: pages, and the way back up."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from tests.botapi.telegram import FakeTelegram
from tests.factories import make_unit
from tests.handlers.helpers import agree_and_name, next_sent


async def test_a_long_level_is_paged_and_the_member_can_go_back_up(
    start_bot, units, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    for i in range(1, 11):
        await make_unit(db, f"Trường Mầm non Ba Đình số {i:02d}", parent=units["district"])
    await db.commit()
    async with start_bot():
        lan = tg.user(first_name="Lan")
        await agree_and_name(lan, "Nguyễn Thị Lan")
        for level in ("Liên đoàn Lao động", "Công đoàn Giáo dục Hà Nội", "quận Ba Đình"):
            await lan.tap(level)
            menu = await lan.next_message()
        assert menu.method == "editMessageText"  # the same message, edited in place
        schools = [row[0] for row in menu.buttons if not row[0].startswith(("◀", "⬆", "Tiếp"))]
        assert len(schools) == 8
        assert ["Tiếp ▶"] in menu.buttons

        await lan.tap("Tiếp ▶")
        second = await lan.next_message()
        rest = [row[0] for row in second.buttons if not row[0].startswith(("◀", "⬆", "Tiếp"))]
        assert len(rest) == 4 and not set(rest) & set(schools)
        assert ["◀ Trước"] in second.buttons and ["⬆ Cấp trên"] in second.buttons

        await lan.tap("⬆ Cấp trên")
        up = await lan.next_message()
        assert up.buttons[0] == ["📂 Công đoàn Giáo dục quận Ba Đình"]

        await lan.tap("📂 Công đoàn Giáo dục quận Ba Đình")
        await lan.next_message()
        await lan.tap("Tiếp ▶")
        await lan.next_message()
        await lan.tap("Trường Tiểu học Nguyễn Du")
        assert "Chức danh" in (await next_sent(lan)).text
