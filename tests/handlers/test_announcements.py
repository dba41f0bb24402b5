"""/announcements, acknowledgements, follow-ups, cancel and /news, played end to end: the official
follows what was sent, members say "Đã nhận" (a button on Telegram, "1" on Zalo) and read what
they received."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from handlers import announcements as view
from models import announcements as ann
from models import outbox
from models.audience import Audience
from models.base import utcnow
from models.channels import int_id_for
from models.members import Member
from models.privacy import render_summary
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import actor_of, make_member, make_official
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said, said_until

HUNG_ID, LAN_ID, MAI_ID, BINH_ID = 9001, 101, 102, 103
# Members of the slow delivery (one a second): a cancel comes while most are still pending.
RECIPIENTS = 8
TEXT = "Họp <b>công đoàn</b> lúc 14:00 thứ Sáu, phòng hội đồng."


async def _announce(
    db: AsyncSession,
    official: Member,
    units: list,
    *,
    text: str = TEXT,
    ack: bool = True,
    send_at=None,  # type: ignore[no-untyped-def]
    as_draft: bool = False,
) -> int:
    """What /announce stores: the official's announcement to `units`, committed."""
    actor = await actor_of(db, official)
    saved = await ann.save(
        db, actor,
        ann.Draft(text=text, ack_requested=ack,
                  audience=Audience(unit_ids=[unit.id for unit in units])),
        now=utcnow(), send_at=send_at, as_draft=as_draft,
    )
    await db.commit()
    return int(saved.id)  # type: ignore[arg-type]


async def _progress(db: AsyncSession, announcement_id: int) -> outbox.Progress:
    db.expire_all()
    return await outbox.progress(db, outbox.Source(ann.SOURCE_TYPE, announcement_id))


async def _settled(db: AsyncSession, announcement_id: int, *, sent: int) -> outbox.Progress:
    """Waits (briefly, polling) until `sent` messages are out and none is in flight."""
    for _ in range(200):
        progress = await _progress(db, announcement_id)
        if progress.sent >= sent and not progress.in_flight:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery did not settle: {progress}")


async def _open_view(hung: TgUser) -> BotMessage:
    """/announcements, then the newest one: its view, in place of the list."""
    await hung.send("/announcements")
    listing = await next_sent(hung)
    assert listing.text.startswith("📋 <b>Thông báo đã soạn và gửi</b>")
    await hung.tap("1. ", message=listing)
    while True:  # (a live view of before may still have been editing its own message)
        opened = await hung.next_message()
        if opened.message_id == listing.message_id:
            assert opened.is_edit
            return opened


async def _answer(user: TgUser, update: dict) -> str | None:
    """The bot's answer to the tap `update` (earlier taps' answers skipped)."""
    while True:
        answer = await user.next_answer()
        if answer["callback_query_id"] == update["callback_query"]["id"]:
            return answer.get("text")


async def _until(user: TgUser, fragment: str) -> BotMessage:
    """The first output (new or edited) that contains `fragment`: a live view may edit the
    screen in between."""
    while True:
        message = await user.next_message()
        if fragment in (message.text or ""):
            return message


async def _tap(user: TgUser, button: str, message: BotMessage) -> BotMessage:
    await user.tap(button, message=message)
    return await user.next_message()


async def test_members_acknowledge_the_official_follows_and_reminds_only_the_others(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession,
) -> None:
    hung_user = tg.user(first_name="Hùng", user_id=HUNG_ID)
    lan, mai, binh = (tg.user(first_name=n, user_id=i) for n, i in
                      (("Lan", LAN_ID), ("Mai", MAI_ID), ("Bình", BINH_ID)))
    nam = zalo.user(display_name="Nam", known=True)
    nam_number, _ = await int_id_for(db, nam.id)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    await make_member(db, units["trai"], "Phạm Thị Mai", telegram_id=MAI_ID)
    await make_member(db, units["trai"], "Lê Văn Bình", telegram_id=BINH_ID)
    await make_member(db, units["du"], "Đỗ Văn Nam", zalo_id=nam_number)
    await db.commit()

    async with start_bot(channels=("telegram", "zalo")) as runtime:
        announcement_id = await _announce(db, hung, [units["trai"], units["du"]])
        runtime.services.wake_up()
        received = {}
        for member in (lan, mai, binh):
            received[member.id] = await member.next_message()
            assert "Họp <b>công đoàn</b>" in received[member.id].text
            assert received[member.id].buttons == [["✅ Đã nhận"]]
        on_zalo = await said(nam)
        assert "Họp công đoàn lúc 14:00" in on_zalo and "1. ✅ Đã nhận" in on_zalo

        # Lan taps the button: thanked, and her copy loses the button and says when.
        tap = await lan.tap("✅ Đã nhận", message=received[lan.id])
        assert await _answer(lan, tap) == "Cảm ơn bạn, đã ghi nhận."
        edited = await lan.next_message()
        assert edited.is_edit and edited.message_id == received[lan.id].message_id
        assert edited.buttons == [] and "✅ Đã nhận lúc " in edited.text
        assert "Họp <b>công đoàn</b>" in edited.text  # the text as it was, formatting kept
        # A second tap (an old copy) is recorded once only.
        answer = await alert_for(lan, f"ann:ack:{announcement_id}", message=received[lan.id])
        assert answer["text"] == "Bạn đã xác nhận thông báo này rồi."
        # Nam replies "1" on Zalo.
        await nam.send("1")
        assert "Cảm ơn bạn, đã ghi nhận lúc" in await said(nam)

        # The official's view: counts, acknowledgements, and the honest note.
        screen = await _open_view(hung_user)
        assert "Thông báo #" in screen.text and "✅ Đã gửi" in screen.text
        assert "✅ Đã gửi: 4" in screen.text
        assert "Đã xác nhận «Đã nhận»: <b>2/4</b>" in screen.text
        assert "không cho bot biết ai đã đọc" in screen.text
        assert "Trường THCS Nguyễn Trãi, Trường Tiểu học Nguyễn Du" in screen.text
        assert ["✖ Hủy gửi"] not in screen.buttons  # everything delivered: nothing to cancel

        # Who has not acknowledged: the names in the chat and the .xlsx, exactly Mai and Bình.
        await hung_user.tap("📋 Người chưa xác nhận", message=screen)
        listing = await next_sent(hung_user)
        assert "<b>2</b> người chưa xác nhận" in listing.text
        assert "Phạm Thị Mai" in listing.text and "Lê Văn Bình" in listing.text
        assert "Nguyễn Thị Lan" not in listing.text and "Đỗ Văn Nam" not in listing.text
        file = await next_sent(hung_user)
        assert file.document is not None
        name, content = file.document
        assert name.endswith(".xlsx")
        sheet = load_workbook(io.BytesIO(content)).active
        rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
        assert rows[0] == ("Họ và tên", "Đơn vị", "Kênh", "Tình trạng gửi", "Gửi lúc")
        assert sorted((r[0], r[1], r[2], r[3]) for r in rows[1:]) == [
            ("Lê Văn Bình", "Trường THCS Nguyễn Trãi", "Telegram", "đã gửi"),
            ("Phạm Thị Mai", "Trường THCS Nguyễn Trãi", "Telegram", "đã gửi"),
        ]
        assert all(r[4] for r in rows[1:])  # when each was sent, local time

        # A follow-up, confirmed first, reaches only those two.
        screen = hung_user.current(screen)
        asked = await _tap(hung_user, "🔔 Nhắc người chưa xác nhận", screen)
        assert "tới <b>2</b> người chưa xác nhận" in asked.text
        await _tap(hung_user, "🔔 Gửi nhắc lại", asked)
        reminders = {m.id: await m.next_message() for m in (mai, binh)}
        for reminder in reminders.values():
            assert "Nhắc lại thông báo" in reminder.text and reminder.buttons == [["✅ Đã nhận"]]
        [follow_up] = (await db.exec(
            select(ann.Announcement).where(col(ann.Announcement.follow_up_of) == announcement_id)
        )).all()
        follow_up_id = int(follow_up.id)  # type: ignore[arg-type]
        follow_up_progress = await _settled(db, follow_up_id, sent=2)
        assert follow_up_progress.total == 2  # not Lan, not Nam
        assert not lan.pending()

        # The reminder's button acknowledges the original.
        tap = await mai.tap("✅ Đã nhận", message=reminders[mai.id])
        assert await _answer(mai, tap) == "Cảm ơn bạn, đã ghi nhận."
        db.expire_all()
        acked = (await db.exec(select(ann.AnnouncementAck))).all()
        assert sorted(a.announcement_id for a in acked) == [announcement_id] * 3
        await hung_user.tap("🔄 Cập nhật", message=hung_user.current(screen))
        refreshed = await _until(hung_user, "<b>3/4</b>")
        assert f"🔔 #{follow_up_id}" in refreshed.text and "đã gửi 2/2" in refreshed.text


async def test_a_scheduled_announcement_cancelled_is_never_sent(  # type: ignore[no-untyped-def]
    bot: Runtime, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    hung_user, lan = tg.user(first_name="Hùng", user_id=HUNG_ID), tg.user(user_id=LAN_ID)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    await db.commit()
    due = utcnow() + timedelta(minutes=2)
    announcement_id = await _announce(db, hung, [units["trai"]], send_at=due)

    screen = await _open_view(hung_user)
    assert "⏰ Hẹn giờ" in screen.text and "Hẹn gửi lúc" in screen.text
    assert "Hiện có <b>1</b> người nhận" in screen.text
    asked = await _tap(hung_user, "✖ Hủy gửi", screen)
    assert "Tin đã gửi vẫn giữ nguyên" in asked.text
    tap = await hung_user.tap("✖ Hủy gửi", message=asked)
    assert await _answer(hung_user, tap) == "Đã hủy: 0 tin sẽ không gửi."
    cancelled = await hung_user.next_message()
    assert "✖ Đã hủy" in cancelled.text and "Đã hủy lúc" in cancelled.text
    assert ["✖ Hủy gửi"] not in cancelled.buttons

    # Its time comes: the scheduler queues nothing.
    assert bot.scheduler is not None
    bot.scheduler.clock = lambda: due + timedelta(minutes=1)
    assert await bot.scheduler.tick() == 0
    assert (await _progress(db, announcement_id)).total == 0
    assert not lan.messages


async def test_the_live_view_follows_a_slow_delivery_and_cancel_stops_the_rest(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(view, "LIVE_INTERVAL", 0.2)
    hung_user = tg.user(first_name="Hùng", user_id=HUNG_ID)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    members = []
    for number in range(RECIPIENTS):
        members.append(tg.user(first_name=f"GV{number}", user_id=200 + number))
        await make_member(db, units["trai"], f"Giáo viên {number}", telegram_id=200 + number)
    await db.commit()

    # One message a second, one in flight at a time: a cancel finds most of them still pending
    # (those a worker holds in flight are sent: at most its concurrency).
    async with start_bot(telegram_rate=1, delivery_concurrency=1) as runtime:
        announcement_id = await _announce(db, hung, [units["trai"]], ack=False)
        runtime.services.wake_up()
        await members[0].next_message()
        screen = await _open_view(hung_user)
        assert "📤 Đang gửi" in screen.text or "✅ Đã gửi" in screen.text
        first_sent = screen.text.split("✅ Đã gửi: ")[1].split("\n")[0]

        # The same message is edited as the counts change.
        live = await hung_user.next_message(timeout=5)
        assert live.is_edit and live.message_id == screen.message_id
        assert live.text.split("✅ Đã gửi: ")[1].split("\n")[0] != first_sent
        assert "Đã xác nhận" not in live.text  # no acknowledgement asked, no figure shown

        # Cancel while it runs: what was sent stays, the rest is not sent.
        await hung_user.tap("✖ Hủy gửi", message=hung_user.current(screen))
        asked = await _until(hung_user, "Tin đã gửi vẫn giữ nguyên")
        tap = await hung_user.tap("✖ Hủy gửi", message=asked)
        answer = await _answer(hung_user, tap) or ""
        assert answer.startswith("Đã hủy: ")
        done = await _until(hung_user, "✖ Đã hủy lúc")
        progress = await _settled(db, announcement_id, sent=0)
        assert progress.sent + progress.cancelled == RECIPIENTS and progress.cancelled >= 1
        await hung_user.tap("🔄 Cập nhật", message=hung_user.current(done))
        await _until(hung_user, f"✖ Đã hủy: {progress.cancelled}")
        received = sum(len(m.messages) for m in members)
        assert received == progress.sent
        # Nothing else leaves, and the live view stopped with the old screen.
        assert not runtime.delivery or not (await _progress(db, announcement_id)).pending


async def test_forged_and_foreign_taps_are_refused_and_change_nothing(  # type: ignore[no-untyped-def]
    bot: Runtime, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    school_official = tg.user(first_name="Hoa", user_id=HUNG_ID)
    other_official = tg.user(first_name="Tâm", user_id=9002)
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    await make_official(db, units["trai"], "Vũ Thị Hoa", telegram_id=HUNG_ID)
    tam = await make_official(db, units["du"], "Ngô Văn Tâm", telegram_id=9002)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    await db.commit()
    due = utcnow() + timedelta(hours=3)
    foreign = await _announce(db, tam, [units["du"]], send_at=due)

    # A member without the right cannot open /announcements.
    await lan.send("/announcements")
    refusal = await next_sent(lan)
    assert "cán bộ" in refusal.text and not refusal.buttons

    # The school official sees none of another school's, even with forged buttons.
    await school_official.send("/announcements")
    empty = await next_sent(school_official)
    assert "Chưa có thông báo nào" in empty.text
    for data in (f"ann:v:{foreign}", f"ann:cy:{foreign}", f"ann:x:{foreign}",
                 f"ann:fy:{foreign}", "ann:v:999999"):
        answer = await alert_for(school_official, data, message=empty)
        assert answer["show_alert"] and "Không tìm thấy thông báo này" in answer["text"], data
    answer = await alert_for(school_official, "ann:v:abc", message=empty)
    assert answer["show_alert"] and answer["text"]
    db.expire_all()
    stored = await db.get(ann.Announcement, foreign)
    assert stored is not None and stored.status == ann.AnnouncementStatus.SCHEDULED

    # A member's acknowledgement of something not sent to her is refused and not stored.
    answer = await alert_for(lan, f"ann:ack:{foreign}", message=refusal)
    assert answer["show_alert"] and "không gửi tới bạn" in answer["text"]
    answer = await alert_for(lan, "ann:ack:0", message=refusal)  # the preview's button
    assert answer["show_alert"] and "không gửi tới bạn" in answer["text"]
    assert (await db.exec(select(ann.AnnouncementAck))).all() == []

    # Its own official follows it.
    await other_official.send("/announcements")
    assert "1. ⏰ Hẹn giờ" in (await next_sent(other_official)).text


async def test_news_lists_what_reached_the_member_newest_first(  # type: ignore[no-untyped-def]
    bot: Runtime, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    stranger = tg.user(first_name="Khách", user_id=777)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    await db.commit()
    first = await _announce(db, hung, [units["trai"]], text="Thông báo thứ nhất về hội thao.",
                            ack=False)
    bot.services.wake_up()
    await lan.next_message()
    await _announce(db, hung, [units["du"]], text="Chỉ cho trường Nguyễn Du.", ack=False)
    second = await _announce(db, hung, [units["trai"]], text="Thông báo thứ hai: nộp sáng kiến.")
    bot.services.wake_up()
    original = await lan.next_message()
    assert "thứ hai" in original.text
    await _settled(db, second, sent=1)

    await lan.send("/news")
    news = await next_sent(lan)
    assert "(2)" in news.text
    assert news.text.index("thứ hai") < news.text.index("thứ nhất")
    assert "Nguyễn Du" not in news.text
    assert "⏳ chờ bạn xác nhận" in news.text.split("thứ nhất")[0]
    assert "Công đoàn Giáo dục quận Ba Đình" in news.text

    # The full text as it was received, with the button again; acknowledged, it says when.
    await lan.tap("1. ", message=news)
    again = await next_sent(lan)
    assert again.text == original.text and again.buttons == [["✅ Đã nhận"]]
    await lan.tap("✅ Đã nhận", message=again)
    await lan.next_answer()
    await lan.next_message()  # her copy, edited
    await lan.tap("1. ", message=news)
    read = await next_sent(lan)
    assert read.buttons == [] and "Bạn đã xác nhận đã nhận lúc" in read.text
    await lan.tap("2. ", message=news)
    assert "thứ nhất" in (await next_sent(lan)).text
    assert first

    # Someone who has not joined is told to join first.
    await stranger.send("/news")
    assert "/start" in (await next_sent(stranger)).text


async def test_a_draft_is_sent_now_or_deleted_from_its_view(  # type: ignore[no-untyped-def]
    bot: Runtime, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    hung_user, lan = tg.user(first_name="Hùng", user_id=HUNG_ID), tg.user(user_id=LAN_ID)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    await db.commit()
    draft = await _announce(db, hung, [units["trai"]], as_draft=True)

    screen = await _open_view(hung_user)
    assert "📝 Bản nháp" in screen.text and "Tiến độ" not in screen.text
    assert screen.button_data[0] == [f"ann:s:{draft}", f"anw:edit:{draft}"]
    asked = await _tap(hung_user, "🚀 Gửi ngay", screen)
    assert "tới <b>1</b> người" in asked.text
    await _tap(hung_user, "🚀 Gửi ngay", asked)
    assert "Họp <b>công đoàn</b>" in (await lan.next_message()).text

    other = await _announce(db, hung, [units["trai"]], text="Bản nháp sẽ xóa.", as_draft=True)
    screen = await _open_view(hung_user)
    asked = await _tap(hung_user, "🗑 Xóa bản nháp", screen)
    deleted = await _tap(hung_user, "🗑 Xóa", asked)
    assert f"Đã xóa bản nháp #{other}" in deleted.text
    db.expire_all()
    assert await db.get(ann.Announcement, other) is None


async def test_on_zalo_the_official_is_shown_once_and_told_files_go_by_telegram(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo, db: AsyncSession,
) -> None:
    hung_zalo = zalo.user(display_name="Hùng", known=True)
    lan = zalo.user(display_name="Lan", known=True)
    hung_number, _ = await int_id_for(db, hung_zalo.id)
    lan_number, _ = await int_id_for(db, lan.id)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", zalo_id=hung_number)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", zalo_id=lan_number)
    await db.commit()
    async with start_bot(channels=("zalo",)) as runtime:
        announcement_id = await _announce(db, hung, [units["trai"]])
        runtime.services.wake_up()
        assert "Họp công đoàn" in await said(lan)
        await _settled(db, announcement_id, sent=1)
        await hung_zalo.send("/announcements")
        listing = await said(hung_zalo)
        assert "Họp công đoàn" in listing
        await hung_zalo.send("1")
        screen = await said(hung_zalo)
        assert f"Thông báo #{announcement_id}" in screen and "Đã gửi: 1" in screen
        assert "2. 📋 Người chưa xác nhận (.xlsx)" in screen
        await hung_zalo.send("2")
        texts = await said_until(hung_zalo, "qua Telegram")
        assert any("Nguyễn Thị Lan" in text for text in texts)
        assert not zalo.calls_of("sendDocument")


def test_mydata_names_the_announcements_written_and_acknowledged() -> None:
    from bot.i18n import load_translator

    translator = load_translator("vi")
    data = {
        "accounts": [],
        "announcements_you_wrote": [
            {"id": n, "status": "sent", "text": f"<b>Họp</b> số {n} &amp; bàn việc",
             "created_at": "2026-11-24T01:00:00+00:00", "scheduled_at": None}
            for n in range(1, 8)
        ],
        "announcements_you_acknowledged": [
            {"announcement_id": 3, "channel": "telegram", "at": "2026-11-24T02:00:00+00:00"}
        ],
    }
    text = "\n".join(render_summary(data, lambda k, **p: translator.t("vi", k, **p)))
    assert "• Bạn soạn #7 (✅ Đã gửi, 24/11/2026 01:00): «Họp số 7 &amp; bàn việc»" in text
    assert "#2 " not in text and "… và 2 thông báo khác" in text
    assert "Số thông báo bạn đã xác nhận «Đã nhận»: 1" in text


async def test_a_member_in_the_middle_of_another_flow_can_still_acknowledge(  # type: ignore[no-untyped-def]
    bot: Runtime, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    await db.commit()
    await lan.send("/initiative")
    await next_sent(lan)
    assert "Tên sáng kiến" in (await next_sent(lan)).text  # she is asked for a title

    announcement_id = await _announce(db, hung, [units["trai"]])
    bot.services.wake_up()
    received = await next_sent(lan)
    tap = await lan.tap("✅ Đã nhận", message=received)
    assert await _answer(lan, tap) == "Cảm ơn bạn, đã ghi nhận."
    db.expire_all()
    [ack] = (await db.exec(select(ann.AnnouncementAck))).all()
    assert ack.announcement_id == announcement_id
    # …and her /initiative goes on where she was: the title she types is taken.
    await lan.send("Dạy học theo trạm với phiếu học tập số trong môn Ngữ văn lớp 7")
    assert "Lĩnh vực áp dụng" in (await next_sent(lan)).text
