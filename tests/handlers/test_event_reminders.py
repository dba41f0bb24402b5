"""Event reminders end to end: an official turns what they wrote in /announce into a reminder
sent once or by a rule ("every Monday 07:00"), to an audience chosen like an announcement's;
the scheduler sends it when its time comes (the clock is moved, never waited for); the
official follows how many each sending reached in /announcements and cancels it. A member
cannot create one, and forged buttons are refused."""

from __future__ import annotations

import asyncio
import time as wall
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from bot.scheduler import Scheduler
from models import outbox
from models.channels import ZaloId
from models.org import OrgKind
from models.reminders import EventReminder, EventStatus, ReminderRun, RunStatus
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official, make_unit
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
HUNG_ID, MINH_ID, LAN_ID, LONG_ID = 8301, 8302, 8303, 8304
TEXT = "Họp giao ban lúc 07:30 tại phòng hội đồng, mang theo sổ công tác."
DELIVERY_WAIT = 20


@pytest.fixture
async def people(units: dict, db: AsyncSession) -> dict:
    """The district's official Hùng, the chair Minh and the teacher Lan of Nguyễn Trãi (all on
    Telegram), a teacher of Nguyễn Du with no chat account; another district's official Long."""
    other = await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm",
                            kind=OrgKind.INDUSTRY_UNION, parent=units["edu"])
    extra = {
        "other_district": other,
        "other_school": await make_unit(db, "Trường THCS Trưng Vương", parent=other),
        "hung": await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID),
        "minh": await make_official(db, units["trai"], "Lê Văn Minh", telegram_id=MINH_ID),
        "lan": await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID),
        "nam": await make_member(db, units["du"], "Phạm Văn Nam"),
    }
    extra["long"] = await make_official(db, other, "Đỗ Văn Long", telegram_id=LONG_ID)
    await db.commit()
    return {**units, **extra}


# --- small steps ---------------------------------------------------------------------------------


async def tapped(user: TgUser, label: str, message: BotMessage | None = None) -> BotMessage:
    """Taps a button; returns the screen that replaced the message."""
    await user.tap(label, message=message)
    return await user.next_message()


async def answered(user: TgUser, text: str) -> BotMessage:
    await user.send(text)
    return await next_sent(user)


async def until(user: TgUser, fragment: str) -> BotMessage:
    """The first output (new or edited) containing `fragment` in its text or a button: a
    reminder to the official himself may arrive in between."""
    while True:
        message = await user.next_message(timeout=DELIVERY_WAIT)
        labels = [label for row in message.buttons for label in row]
        if fragment in (message.text or "") or any(fragment in label for label in labels):
            return message


async def to_reminder(user: TgUser, text: str = TEXT) -> BotMessage:
    """/announce, the text, "Hẹn giờ gửi", "Nhắc lịch (lặp lại)"; returns the name question."""
    await user.send("/announce")
    await next_sent(user)
    await answered(user, text)
    question = await tapped(user, "Hẹn giờ gửi")
    assert "Gửi vào lúc nào?" in question.text
    asked = await tapped(user, "🔔 Nhắc lịch (lặp lại)")
    assert "Gõ tên lời nhắc" in asked.text
    return asked


def travel(bot: Runtime, to: datetime) -> None:
    """Moves the scheduler's and the delivery worker's clocks so that now is `to` (and goes on
    running from there)."""
    assert bot.scheduler is not None and bot.delivery is not None
    offset = to - datetime.now(UTC)
    bot.scheduler.clock = lambda: datetime.now(UTC) + offset
    bot.delivery.clock = lambda: wall.time() + offset.total_seconds()


async def full_tick(scheduler: Scheduler) -> None:
    """A whole tick with the clock as it is now (the periodic one may be under way: a tick
    called meanwhile would only ask it to run again)."""
    async with scheduler._lock:
        pass
    await scheduler.tick()


def next_monday_seven() -> datetime:
    local = datetime.now(HCM)
    day = local.date() + timedelta(days=(0 - local.weekday()) % 7)
    moment = datetime.combine(day, time(7, 0), tzinfo=HCM)
    return moment if moment > local else moment + timedelta(days=7)


def month_ends_at_four() -> list[datetime]:
    """The next three last days of a month at 16:00 in Hà Nội."""
    local = datetime.now(HCM)
    found: list[datetime] = []
    first = local.date().replace(day=1)
    while len(found) < 3:
        following = (first + timedelta(days=32)).replace(day=1)
        moment = datetime.combine(following - timedelta(days=1), time(16, 0), tzinfo=HCM)
        if moment > local:
            found.append(moment)
        first = following
    return found


async def events(db: AsyncSession) -> list[EventReminder]:
    query = select(EventReminder).order_by(col(EventReminder.id))
    return list((await db.exec(query.execution_options(populate_existing=True))).all())


async def runs(db: AsyncSession, event: EventReminder) -> list[ReminderRun]:
    query = select(ReminderRun).where(
        ReminderRun.source_type == "event_reminder", ReminderRun.source_id == event.id
    ).order_by(col(ReminderRun.id))
    return list((await db.exec(query.execution_options(populate_existing=True))).all())


async def delivered(db: AsyncSession, run: ReminderRun) -> None:
    """Waits (briefly, polling) until every message of the run is recorded as sent."""
    run_id = int(run.id)  # type: ignore[arg-type]
    for _ in range(200):
        db.expire_all()
        progress = await outbox.progress(db, outbox.Source("reminder_run", run_id))
        if progress.total and progress.sent == progress.total:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"reminder run {run_id} was not delivered")


# --- the scenarios -------------------------------------------------------------------------------


async def test_a_weekly_reminder_reaches_the_scope_every_monday_until_cancelled(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    minh = tg.user(first_name="Minh", user_id=MINH_ID)
    await to_reminder(hung)
    too_short = await answered(hung, "Họ")
    assert "từ 3 đến 200 ký tự" in too_short.text and "Gõ tên lời nhắc" in too_short.text
    rules = await answered(hung, "Họp giao ban đầu tuần")
    assert "Nhắc theo lịch nào?" in rules.text
    weekdays = await tapped(hung, "Hằng tuần")
    assert "Thứ Hai" in [label for row in weekdays.buttons for label in row]
    await tapped(hung, "Thứ Hai")
    wrong = await answered(hung, "25:00")
    assert "chưa hiểu giờ này" in wrong.text and "Nhắc lúc mấy giờ?" in wrong.text
    summary = await answered(hung, "07:00")
    monday = next_monday_seven()
    assert "Lịch: Thứ Hai hằng tuần lúc 07:00" in summary.text
    for week in range(3):
        assert f"• {monday + timedelta(weeks=week):%d/%m/%Y} 07:00" in summary.text
    assert "Gửi tới: toàn bộ Công đoàn Giáo dục quận Ba Đình" in summary.text
    assert "Số người nhận: <b>4</b>" in summary.text  # Hùng, Minh, Lan, Nam
    assert "đính kèm" not in summary.text
    assert await events(db) == []  # nothing stored before it is confirmed
    done = await tapped(hung, "Tạo lời nhắc (4 người)")
    assert "Đã tạo lời nhắc «Họp giao ban đầu tuần»: Thứ Hai hằng tuần lúc 07:00" in done.text
    assert f"Lần nhắc tới: {monday:%d/%m/%Y} 07:00, tới 4 người" in done.text

    [event] = await events(db)
    assert event.rule == "0 7 * * mon" and event.status == EventStatus.ACTIVE
    assert event.next_run_at == monday and event.audience["whole_scope"] is True
    assert event.text == TEXT

    # Monday 07:00 in Hà Nội: the members receive it, once.
    travel(bot, monday)
    await full_tick(bot.scheduler)  # type: ignore[arg-type]
    for member in (lan, minh):
        received = await next_sent(member, wait=DELIVERY_WAIT)
        assert "Nhắc lịch: Họp giao ban đầu tuần" in received.text
        assert TEXT in received.text and "Công đoàn Giáo dục quận Ba Đình" in received.text
    await until(hung, "Nhắc lịch: Họp giao ban đầu tuần")  # Hùng is in his scope too
    await full_tick(bot.scheduler)  # type: ignore[arg-type]
    [event] = await events(db)
    assert event.next_run_at == monday + timedelta(weeks=1)
    [run] = await runs(db, event)
    assert run.status == RunStatus.SENT and run.queued == 3  # Nam has no chat account
    await delivered(db, run)

    # The official sees how many it reached.
    await hung.send("/announcements")
    listing = await until(hung, "Lời nhắc định kỳ")
    reminders = await tapped(hung, "🔔 Lời nhắc định kỳ", listing)
    assert "1. <b>Họp giao ban đầu tuần</b>" in reminders.text
    assert "Thứ Hai hằng tuần lúc 07:00" in reminders.text
    assert f"Lần tới: {monday + timedelta(weeks=1):%d/%m/%Y} 07:00" in reminders.text
    assert f"{monday:%d/%m/%Y} 07:00: đã tới 3/3 người" in reminders.text
    view = await tapped(hung, "1. Họp giao ban đầu tuần")
    assert "Hiện có <b>4</b> người nhận" in view.text and "đã tới 3/3 người" in view.text

    # Cancelled: the next Monday sends nothing.
    asked = await tapped(hung, "Hủy lời nhắc", view)
    assert "Các lần nhắc sau sẽ không gửi nữa" in asked.text
    tap = await hung.tap("Hủy lời nhắc", message=asked)
    while (answer := await hung.next_answer())["callback_query_id"] != tap["callback_query"]["id"]:
        pass
    assert answer["text"] == "Đã hủy lời nhắc «Họp giao ban đầu tuần»."
    assert "Chưa có lời nhắc nào đang chạy" in (await hung.next_message()).text
    [event] = await events(db)
    assert event.status == EventStatus.CANCELLED
    travel(bot, monday + timedelta(weeks=1, minutes=1))
    await full_tick(bot.scheduler)  # type: ignore[arg-type]
    assert len(await runs(db, event)) == 1
    lan_messages = [m for m in lan.messages if "Nhắc lịch" in (m.text or "")]
    assert len(lan_messages) == 1


async def test_a_one_off_reminder_is_sent_once_as_text_and_ends(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    await hung.send("/announce")
    await next_sent(hung)
    await hung.send_photo(caption="Tập huấn chuyên đề chuyển đổi số")
    await next_sent(hung)  # the menu: a photo attached
    await tapped(hung, "Hẹn giờ gửi")
    await tapped(hung, "🔔 Nhắc lịch (lặp lại)")
    await answered(hung, "Tập huấn chuyển đổi số")
    await tapped(hung, "Một lần")
    day = (datetime.now(HCM) + timedelta(days=2)).date()
    past = await answered(hung, "01/01/2021 07:30")
    assert "phải sau bây giờ" in past.text and "Nhắc vào lúc nào?" in past.text
    summary = await answered(hung, f"{day:%d/%m/%Y} 07:30")
    assert f"Lịch: Một lần lúc 07:30 {day:%d/%m/%Y}" in summary.text
    assert "Ảnh hoặc tệp đính kèm không được gửi cùng lời nhắc" in summary.text
    done = await tapped(hung, "Tạo lời nhắc")
    assert "Một lần lúc 07:30" in done.text

    [event] = await events(db)
    at = datetime.combine(day, time(7, 30), tzinfo=HCM)
    assert event.rule == "once" and event.next_run_at == at
    travel(bot, at)
    await full_tick(bot.scheduler)  # type: ignore[arg-type]
    received = await next_sent(lan, wait=DELIVERY_WAIT)
    assert received.method == "sendMessage"  # the text only, no photo
    assert "Nhắc lịch: Tập huấn chuyển đổi số" in received.text
    assert "Tập huấn chuyên đề chuyển đổi số" in received.text
    [event] = await events(db)
    assert event.status == EventStatus.ENDED and event.next_run_at is None
    travel(bot, at + timedelta(days=7))
    await full_tick(bot.scheduler)  # type: ignore[arg-type]
    assert len(await runs(db, event)) == 1


async def test_monthly_and_daily_rules_are_chosen_with_buttons_and_said_in_words(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    await to_reminder(hung)
    await answered(hung, "Nộp báo cáo tháng")
    days = await tapped(hung, "Hằng tháng")
    assert [label for row in days.buttons for label in row][:3] == [
        "Ngày 1", "Ngày 15", "Ngày cuối tháng",
    ]
    asked = await tapped(hung, "Ngày khác (gõ số)")
    assert asked.buttons == []  # typed: on Zalo a number would pick a listed option
    refused = await answered(hung, "31")
    assert "từ 1 đến 28" in refused.text
    await answered(hung, "cuối")
    summary = await answered(hung, "16h")
    assert "Lịch: Ngày cuối tháng lúc 16:00" in summary.text
    for month_end in month_ends_at_four():
        assert f"• {month_end:%d/%m/%Y} 16:00" in summary.text  # 28, 29, 30 or 31

    rules = await tapped(hung, "Đổi lịch")
    assert "Nhắc theo lịch nào?" in rules.text
    await tapped(hung, "Hằng tháng")
    await tapped(hung, "Ngày 1")
    summary = await answered(hung, "08:00")
    assert "Lịch: Ngày 1 hằng tháng lúc 08:00" in summary.text
    await tapped(hung, "Đổi lịch")
    await tapped(hung, "Hằng ngày")
    summary = await answered(hung, "6:45")
    assert "Lịch: Hằng ngày lúc 06:45" in summary.text
    await tapped(hung, "Tạo lời nhắc")
    [event] = await events(db)
    assert event.rule == "45 6 * * *" and event.title == "Nộp báo cáo tháng"


async def test_a_member_cannot_create_a_reminder_even_with_forged_buttons(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    refusal = await answered(lan, "/announce")
    assert "Lệnh này dành cho cán bộ công đoàn" in refusal.text
    for data in ("anw:ev", "anw:ek:weekly", "anw:ew:0", "anw:ey"):
        answer = await alert_for(lan, data, message=refusal)
        assert "dành cho cán bộ công đoàn" in answer["text"], data
    await lan.send("Họp giao ban đầu tuần")
    assert "Nhắc lịch" not in (await next_sent(lan)).text
    assert await events(db) == []


async def test_forged_audience_rule_and_cancel_buttons_are_refused(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    long = tg.user(first_name="Long", user_id=LONG_ID)
    asked = await to_reminder(hung)
    # A unit of another district, slipped into the audience while the reminder is set up.
    answer = await alert_for(hung, f"anw:tu:{people['other_school'].id}:0:0", message=asked)
    assert "không có quyền" in answer["text"]
    await answered(hung, "Họp giao ban đầu tuần")
    weekdays = await tapped(hung, "Hằng tuần")
    answer = await alert_for(hung, "anw:ew:9", message=weekdays)
    assert "Không hiểu lịch lặp lại này" in answer["text"]
    await tapped(hung, "Thứ Sáu", weekdays)
    summary = await answered(hung, "15:00")
    answer = await alert_for(hung, "anw:ed:31", message=summary)
    assert "từ 1 đến 28" in answer["text"]
    assert "Thứ Sáu hằng tuần lúc 15:00" in summary.text
    assert "Số người nhận: <b>4</b>" in summary.text
    await tapped(hung, "Tạo lời nhắc", summary)
    [event] = await events(db)
    assert event.rule == "0 15 * * fri"
    assert event.audience["whole_scope"] is True and event.audience["unit_ids"] == []

    # Another district's official cannot see or cancel it, even with forged buttons.
    await long.send("/announcements")
    listing = await next_sent(long)
    for data in (f"ann:ev:{event.id}", f"ann:ec:{event.id}", f"ann:ecy:{event.id}",
                 "ann:ecy:999999"):
        answer = await alert_for(long, data, message=listing)
        assert "Không tìm thấy lời nhắc này" in answer["text"], data
    reminders = await tapped(long, "🔔 Lời nhắc định kỳ", listing)
    assert "Chưa có lời nhắc nào đang chạy" in reminders.text
    # Nor can a member.
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    await lan.send("/help")
    help_message = await next_sent(lan)
    answer = await alert_for(lan, f"ann:ecy:{event.id}", message=help_message)
    assert "cán bộ" in answer["text"]
    [event] = await events(db)
    assert event.status == EventStatus.ACTIVE


async def test_on_zalo_a_day_of_the_month_is_typed_not_taken_for_a_listed_option(
    start_bot, people: dict, zalo: FakeZalo, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, people["district"], "Trần Văn Hùng Zalo", zalo_id=mapped.id)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/announce")
        await said(hung)
        await hung.send("Nộp báo cáo công đoàn tháng.")
        menu = await said(hung)
        assert "5. 👁 Xem trước" in menu and "9. ✖ Huỷ" in menu  # still one page of nine
        await hung.send("Hẹn giờ gửi")
        assert "1. 🔔 Nhắc lịch (lặp lại)" in await said(hung)
        await hung.send("1")
        assert "Gõ tên lời nhắc" in await said(hung)
        await hung.send("Báo cáo tháng")
        assert "Nhắc theo lịch nào?" in await said(hung)
        await hung.send("4")  # every month
        assert "4. Ngày khác (gõ số)" in await said(hung)
        await hung.send("4")
        assert "Gõ ngày trong tháng" in await said(hung)
        await hung.send("2")  # the 2nd, not the second option of the list before
        assert "Nhắc lúc mấy giờ?" in await said(hung)
        await hung.send("08:00")
        summary = await said(hung)
        assert "Lịch: Ngày 2 hằng tháng lúc 08:00" in summary
        await hung.send("1")
        assert "Đã tạo lời nhắc «Báo cáo tháng»" in await said(hung)
    [event] = await events(db)
    assert event.rule == "0 8 2 * *"
