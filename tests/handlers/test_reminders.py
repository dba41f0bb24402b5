"""/reminders end to end: a member sees what reminders are coming, mutes a kind (then a tick
sends her nothing of it while a colleague gets it), types her quiet hours; a district official
changes a movement's reminder days (the reminders move with them) and sees what its reminders
reached and how many then registered; nobody else can, even with forged buttons.

Time is driven: the scheduler's clock is set to the moment under test and ticked; the delivery
worker's clock is moved as far, so what the tick queued leaves at once."""

from __future__ import annotations

import asyncio
import time as wall
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.audience import Audience
from models.audit import AuditEntry
from models.initiatives import InitiativeStatus, ReviewSeat
from models.members import Member
from models.movements import Movement, Registration, register
from models.outbox import OutboxMessage, Status
from models.reminders import ReminderPreference, create_event_reminder
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_movement,
    make_official,
    make_unit,
)
from tests.handlers.helpers import alert_for, next_sent

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
LAN_ID, NAM_ID, HUNG_ID, OUTSIDER_ID = 7601, 7602, 7610, 7611
NAME = "Giỏi việc trường, đảm việc nhà"


def the_deadline() -> datetime:
    """23:59:59 local, ten days from now: no reminder is due yet in real time."""
    day = datetime.now(HCM).date() + timedelta(days=10)
    return datetime.combine(day, time(23, 59, 59), tzinfo=HCM).astimezone(UTC)


def days_before(deadline: datetime, days: int, hour: int = 8) -> datetime:
    """`hour`:00 local, `days` days before the deadline's day."""
    day = deadline.astimezone(HCM).date() - timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=HCM).astimezone(UTC)


def local(moment: datetime) -> str:
    return moment.astimezone(HCM).strftime("%d/%m/%Y %H:%M")


async def tick_at(runtime: Runtime, moment: datetime) -> int:
    """The scheduler ticks at `moment`; the delivery worker's clock is moved as far ahead."""
    assert runtime.scheduler is not None and runtime.delivery is not None
    shift = (moment - datetime.now(UTC)).total_seconds()
    runtime.delivery.clock = lambda: wall.time() + shift
    runtime.scheduler.clock = lambda: moment
    return await runtime.scheduler.tick()


async def outbox_of(db: AsyncSession, member_id: int) -> list[OutboxMessage]:
    db.expire_all()
    rows = await db.exec(select(OutboxMessage).where(col(OutboxMessage.member_id) == member_id))
    return list(rows.all())


async def delivered(db: AsyncSession, count: int) -> None:
    """Waits (briefly) until `count` messages are recorded as sent."""
    for _ in range(200):
        db.expire_all()
        rows = await db.exec(select(OutboxMessage).where(col(OutboxMessage.status) == Status.SENT))
        if len(rows.all()) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} messages recorded as sent")


async def tapped(user: TgUser, label: str, message: BotMessage | None = None) -> BotMessage:
    await user.tap(label, message=message)
    return await user.next_message()


async def answered(user: TgUser, text: str) -> BotMessage:
    await user.send(text)
    return await next_sent(user)


@pytest.fixture
async def people(units: dict, db: AsyncSession) -> dict:
    """Lan and Nam, teachers at Nguyễn Trãi; Hùng, the district's official; an official of
    another district; and the district's open movement, its deadline ten days ahead."""
    other = await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm", parent=units["edu"])
    found = {
        "lan": await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID),
        "nam": await make_member(db, units["trai"], "Lê Văn Nam", telegram_id=NAM_ID),
        "hung": await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID),
        "outsider": await make_official(db, other, "Đỗ Văn Long", telegram_id=OUTSIDER_ID),
    }
    deadline = the_deadline()
    found["movement"] = await make_movement(
        db, units["district"], NAME, registration_deadline=deadline,
        assessment_opens=deadline + timedelta(days=60),
        assessment_closes=deadline + timedelta(days=70),
    )
    found["deadline"] = deadline
    await db.commit()
    ids = {f"{key}_id": found[key].id for key in ("lan", "nam", "hung", "movement")}
    return {**units, **found, **ids}


async def test_reminders_lists_what_is_coming_and_a_kind_is_muted_with_a_tap(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    deadline = people["deadline"]
    now = datetime.now(UTC)
    # Lan registered for another movement, whose self-assessment window closes in 20 days.
    other = await make_movement(
        db, people["district"], "Dạy tốt, học tốt", registration_deadline=now + timedelta(days=5),
        assessment_opens=now + timedelta(days=6), assessment_closes=now + timedelta(days=20),
    )
    await register(db, member=people["lan"], movement=other, title_code="LDTT", now=now)
    # A meeting reminder for the district's members, and one for another district's.
    hung = await actor_of(db, people["hung"])
    meeting = await create_event_reminder(
        db, hung, title="Họp công đoàn quận", text="Họp lúc 14:00 tại hội trường.",
        audience=Audience(whole_scope=True), rule="once", first_at=now + timedelta(days=2),
        now=now, tz=HCM,
    )
    outsider = await actor_of(db, people["outsider"])
    await create_event_reminder(
        db, outsider, title="Hội thao quận Hoàn Kiếm", text="Đăng ký thi đấu.",
        audience=Audience(whole_scope=True), rule="once", first_at=now + timedelta(days=1),
        now=now, tz=HCM,
    )
    # Lan sits on the council of Nam's initiative, not scored yet.
    initiative = await make_initiative(db, people["nam"], "Dạy học theo trạm",
                                       status=InitiativeStatus.UNDER_REVIEW)
    initiative.round, initiative.scoring_deadline = 1, now + timedelta(days=12)
    db.add(ReviewSeat(initiative_id=initiative.id, round=1,
                      reviewer_member_id=people["lan_id"]))
    await db.commit()

    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    await lan.send("/reminders")
    screen = await next_sent(lan)
    assert "Lời nhắc của bạn" in screen.text
    assert f"📝 Đăng ký «{NAME}» — hạn {local(deadline)}" in screen.text
    assert f"nhắc lúc {local(days_before(deadline, 7))}" in screen.text
    assert "✍️ Tự đánh giá «Dạy tốt, học tốt»" in screen.text
    assert "📝 Đăng ký «Dạy tốt, học tốt»" not in screen.text  # she registered
    assert "⚖️ Chấm sáng kiến «Dạy học theo trạm»" in screen.text
    assert f"🔔 Họp công đoàn quận\n    nhắc lúc {local(meeting.next_run_at)}" in screen.text
    assert "Hoàn Kiếm" not in screen.text  # not for her
    # The soonest first: the meeting, then the registration, then the self-assessment.
    assert screen.text.index("Họp công đoàn") < screen.text.index("📝") < screen.text.index("✍️")
    assert "🌙 Giờ yên lặng: 21:00–06:30" in screen.text

    muted = await tapped(lan, "🔔 Hạn đăng ký thi đua: đang bật", screen)
    assert "Đã tắt nhắc «Hạn đăng ký thi đua»." in muted.text
    assert f"«{NAME}» — hạn {local(deadline)}\n    🔕 bạn đã tắt loại nhắc này" in muted.text
    assert ["🔕 Hạn đăng ký thi đua: đã tắt"] in muted.buttons
    unmuted = await tapped(lan, "🔕 Hạn đăng ký thi đua: đã tắt", muted)
    assert "Đã bật lại nhắc" in unmuted.text and "🔕 bạn đã tắt" not in unmuted.text


async def test_someone_not_a_member_is_told_to_join_first(
    bot: Runtime, people: dict, tg: FakeTelegram
) -> None:
    stranger = tg.user(first_name="Khách", user_id=7699)
    await stranger.send("/reminders")
    refusal = await next_sent(stranger)
    assert "/start" in refusal.text and not refusal.buttons


async def test_a_muted_kind_is_not_sent_to_her_while_her_colleague_gets_it(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan, nam = tg.user(first_name="Lan", user_id=LAN_ID), tg.user(first_name="Nam", user_id=NAM_ID)
    await lan.send("/reminders")
    await tapped(lan, "🔔 Hạn đăng ký thi đua: đang bật", await next_sent(lan))

    tg.user(first_name="Hùng", user_id=HUNG_ID)  # the official is a member of the district too
    assert await tick_at(bot, days_before(people["deadline"], 7)) == 2
    reminder = await nam.next_message()
    assert "Sắp hết hạn đăng ký" in reminder.text and "còn 7 ngày" in reminder.text
    assert await outbox_of(db, people["lan_id"]) == []
    assert len(await outbox_of(db, people["nam_id"])) == 1


async def test_quiet_hours_are_typed_a_bad_value_is_refused_and_a_reminder_waits_for_them(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    await lan.send("/reminders")
    question = await tapped(lan, "🌙 Đổi giờ yên lặng", await next_sent(lan))
    assert "Giờ yên lặng hiện tại: <b>21:00–06:30</b>" in question.text

    wrong = await answered(lan, "25:00-6")
    assert "Gõ giờ yên lặng dạng «21:00-06:30», hoặc 0 để tắt." in wrong.text
    assert "Giờ yên lặng hiện tại" in wrong.text  # asked again
    assert await db.get(ReminderPreference, people["lan_id"]) is None  # nothing changed

    saved = await answered(lan, "7h-9h30")
    assert "✅ Đã lưu giờ yên lặng: 07:00–09:30." in saved.text
    assert "🌙 Giờ yên lặng: 07:00–09:30" in saved.text
    seven = days_before(people["deadline"], 7)
    assert (f"nhắc lúc {local(seven)}, trong giờ yên lặng của bạn: sẽ tới lúc "
            f"{local(seven + timedelta(minutes=90))}") in saved.text
    db.expire_all()
    preference = await db.get(ReminderPreference, people["lan_id"])
    assert preference is not None
    assert (preference.quiet_start, preference.quiet_end) == ("07:00", "09:30")

    # The 08:00 reminder reaches Nam at once; Lan's waits until 09:30.
    moment = days_before(people["deadline"], 7)
    tg.user(first_name="Hùng", user_id=HUNG_ID)  # the official is a member of the district too
    assert await tick_at(bot, moment) == 3
    [held] = await outbox_of(db, people["lan_id"])
    assert held.next_attempt_at == days_before(people["deadline"], 7, 9) + timedelta(minutes=30)
    [at_once] = await outbox_of(db, people["nam_id"])
    assert at_once.next_attempt_at == moment


async def test_the_official_moves_the_reminder_days_and_the_reminders_move_with_them(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    hung, lan = tg.user(first_name="Hùng", user_id=HUNG_ID), tg.user(user_id=LAN_ID)
    movement_id = people["movement_id"]
    await hung.send("/movement")
    await next_sent(hung)
    await tapped(hung, NAME)
    fields = await tapped(hung, "✏️ Sửa")
    assert ["⏰ Nhắc hạn: 7, 3, 1 ngày trước hạn"] in fields.buttons
    question = await tapped(hung, "⏰ Nhắc hạn", fields)
    assert "Hiện tại: 7, 3, 1 ngày trước hạn" in question.text

    wrong = await answered(hung, "ngày mai")
    assert "ví dụ «7 3 1»" in wrong.text and "Hiện tại: 7, 3, 1 ngày" in wrong.text
    card = await answered(hung, "5, 2")
    assert "✅ Đã lưu lịch nhắc hạn: 5, 2 ngày trước hạn." in card.text
    assert NAME in card.text and ["⏰ Lời nhắc"] in card.buttons
    db.expire_all()
    movement = await db.get(Movement, movement_id)
    assert movement is not None and movement.reminder_offsets == [5, 2]
    audit = (await db.exec(select(AuditEntry).where(
        col(AuditEntry.action) == "reminder_offsets_changed"))).all()
    assert len(audit) == 1

    # 7 days before: nothing any more; 5 days before: the reminder goes.
    assert await tick_at(bot, days_before(people["deadline"], 7)) == 0
    assert await outbox_of(db, people["lan_id"]) == []
    assert await tick_at(bot, days_before(people["deadline"], 5)) == 3  # Hùng is one too
    for person in (lan, hung):
        assert "còn 5 ngày" in (await person.next_message()).text

    # "0": no reminders at all.
    await hung.tap("✏️ Sửa", message=hung.current(card))
    await hung.next_message()
    await tapped(hung, "⏰ Nhắc hạn")
    card = await answered(hung, "0")
    assert "✅ Đã lưu lịch nhắc hạn: không nhắc." in card.text
    assert await tick_at(bot, days_before(people["deadline"], 2)) == 0


async def test_the_figures_show_how_many_a_reminder_reached_and_how_many_then_registered(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    lan, nam = tg.user(user_id=LAN_ID), tg.user(user_id=NAM_ID)
    moment = days_before(people["deadline"], 7)
    assert await tick_at(bot, moment) == 3  # Lan, Nam, and Hùng, a member of the district
    for person in (lan, nam, hung):
        assert "còn 7 ngày" in (await person.next_message()).text
    await delivered(db, 3)
    # Lan registers that afternoon.
    movement = await db.get(Movement, people["movement_id"])
    member = await db.get(Member, people["lan_id"])
    assert movement is not None and member is not None
    registration = await register(db, member=member, movement=movement,
                                  title_code="LDTT", now=moment + timedelta(hours=6))
    registration.created_at = moment + timedelta(hours=6)
    await db.commit()

    await hung.send("/movement")
    await next_sent(hung)
    await tapped(hung, NAME)
    figures = await tapped(hung, "⏰ Lời nhắc")
    assert f"Lời nhắc của phong trào «{NAME}»" in figures.text
    assert f"• <b>{local(moment)}</b> · Hạn đăng ký thi đua" in figures.text
    assert "✅ đã gửi 3 tin · tới 3 người" in figures.text
    assert "👉 1/3 đã đăng ký sau khi được nhắc" in figures.text

    # Three days before, Lan is no longer reminded.
    assert await tick_at(bot, days_before(people["deadline"], 3)) == 2
    for person in (nam, hung):
        assert "còn 3 ngày" in (await person.next_message()).text
    await delivered(db, 5)
    assert len(await outbox_of(db, people["lan_id"])) == 1
    refreshed = await tapped(hung, "🔄 Cập nhật", figures)
    assert refreshed.text.index(local(days_before(people["deadline"], 3))) < (
        refreshed.text.index(local(moment))
    )
    assert "✅ đã gửi 2 tin · tới 2 người" in refreshed.text
    assert "👉 0/2 đã đăng ký sau khi được nhắc" in refreshed.text
    regs = (await db.exec(select(Registration))).all()
    assert len(regs) == 1


async def test_forged_reminder_buttons_are_refused_and_change_nothing(
    bot: Runtime, people: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    movement_id = people["movement_id"]
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    outsider = tg.user(first_name="Long", user_id=OUTSIDER_ID)
    await lan.send("/reminders")
    screen = await next_sent(lan)

    # A member is not an official: no reminder days, no figures.
    for data in (f"rmd:o:{movement_id}", f"rmd:f:{movement_id}"):
        answer = await alert_for(lan, data, message=screen)
        assert "dành cho cán bộ công đoàn" in answer["text"]
    # Unknown kinds and payloads are stale buttons.
    for data in ("rmd:t:birthday", "rmd:zz", "rmd:o:abc"):
        answer = await alert_for(lan, data, message=screen)
        assert "không còn dùng được" in answer["text"]
    # Another district's official cannot touch this movement.
    await outsider.send("/reminders")
    theirs = await next_sent(outsider)
    for data in (f"rmd:o:{movement_id}", f"rmd:f:{movement_id}", "rmd:f:999999"):
        answer = await alert_for(outsider, data, message=theirs)
        assert answer["show_alert"]
    # And typed text after a refused tap is not taken as reminder days.
    await outsider.send("1")
    await next_sent(outsider)
    db.expire_all()
    movement = await db.get(Movement, movement_id)
    assert movement is not None and movement.reminder_offsets is None
    assert await db.get(ReminderPreference, people["lan_id"]) is None
