"""/review end to end, on Telegram and Zalo: a district official seats a council of three for a
teacher's initiative; the three score (one on Zalo); the chair recognises it, and every author
hears of it in their language on their app. A return for revision and a resubmission lead to a
second round; an accepted initiative goes up level by level; every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import initiative_review as review
from models.access import Role, appoint
from models.audit import AuditEntry
from models.base import utcnow
from models.channels import int_id_for
from models.initiative_review import Outcome
from models.initiatives import (
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeStatus,
    Recognition,
    ReviewSeat,
    transition,
)
from models.members import Channel, Member
from models.org import OrgKind
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo, ZaloUser
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_official,
    make_reviewer,
    make_unit,
)
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said, said_until

S = InitiativeStatus
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
HUNG, MAI, BINH, LAN, HOA, KHOA = 8201, 8202, 8203, 8204, 8205, 8206
TITLE = "Dạy học theo trạm với phiếu học tập số"


def _day(days: int) -> str:
    """A date `days` ahead, as an official types it."""
    return (utcnow() + timedelta(days=days)).astimezone(VIETNAM).strftime("%d/%m/%Y")


async def _card(user: TgUser) -> BotMessage:
    """The messages of an initiative's card up to the last (the one with its buttons)."""
    while True:
        message = await next_sent(user)
        if message.buttons:
            return message


async def _zalo_card(user: ZaloUser) -> str:
    """The card on Zalo, up to its numbered list."""
    return (await said_until(user, "1. "))[-1]


async def _fresh(db: AsyncSession, initiative_id: int) -> Initiative:
    db.expire_all()
    initiative = await db.get(Initiative, initiative_id)
    assert initiative is not None
    return initiative


async def _people(db: AsyncSession, units: dict, zalo: FakeZalo) -> dict:
    """A district official and three reviewers (Cúc, of the city's education union, on Zalo);
    a teacher of Nguyễn Trãi whose initiative has three co-authors (one in English, one on
    Zalo, one not in the bot) and three attachments."""
    cuc_chat = zalo.user(display_name="Cúc", known=True)
    tuan_chat = zalo.user(display_name="Tuấn", known=True)
    cuc_id, _ = await int_id_for(db, cuc_chat.id)
    tuan_id, _ = await int_id_for(db, tuan_chat.id)
    people = {
        "hung": await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG),
        "mai": await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI),
        "binh": await make_reviewer(db, units["district"], "Lê Văn Bình", telegram_id=BINH),
        "cuc": await make_reviewer(db, units["edu"], "Đỗ Thị Cúc", zalo_id=cuc_id),
        "lan": await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN),
        "hoa": await make_member(db, units["trai"], "Lê Thị Hoa", telegram_id=HOA, locale="en"),
        "tuan": await make_member(db, units["trai"], "Vũ Văn Tuấn", zalo_id=tuan_id),
        "cuc_chat": cuc_chat,
        "tuan_chat": tuan_chat,
    }
    return people


async def _initiative(db: AsyncSession, people: dict, tg: FakeTelegram) -> Initiative:
    initiative = await make_initiative(
        db, people["lan"], TITLE,
        co_authors=[people["hoa"], people["tuan"], "Cô Trần Thị Hằng (trường khác)"],
        shares=[40, 30, 20, 10],
    )
    for name in ("giao-an-minh-hoa.pdf", "phieu-hoc-tap.docx"):
        record = tg._register_file(b"%PDF-1.4\n000", "document", name, "application/pdf")
        db.add(InitiativeAttachment(
            initiative_id=initiative.id, channel=Channel.TELEGRAM, kind="document",  # type: ignore[arg-type]
            file_id=record.file_id, file_unique_id=record.file_unique_id, file_name=name,
            size=12,
        ))
    db.add(InitiativeAttachment(
        initiative_id=initiative.id, channel=Channel.ZALO, kind="photo",  # type: ignore[arg-type]
        file_id="https://photo.zalo.example/tiet-hoc.jpg", file_unique_id="zalo-photo-1",
    ))
    await db.commit()
    return initiative


async def _seat(hung: TgUser, reviewers: list[str], chair: str | None, deadline: str) -> str:
    """From the card's "seat a council" to the confirmation; returns what the official saw."""
    await hung.tap("Lập hội đồng xét")
    screen = await next_sent(hung)
    for name in reviewers:
        await hung.tap(name, message=screen)
        await hung.next_message()  # the same screen, ticked
    await hung.tap("Xong", message=screen)
    if chair is not None:
        assert "Ai làm chủ tịch" in (await hung.next_message()).text
        await hung.tap(chair, message=screen)
    assert "Hạn chấm điểm" in (await hung.next_message()).text
    await hung.send(deadline)
    confirm = await next_sent(hung)
    await hung.tap("Lập hội đồng", message=confirm)
    return (await hung.next_message()).text or ""


async def _score_on_telegram(
    user: TgUser, scores: tuple[int, int, int], comment: str | None
) -> BotMessage:
    """From the card's Score button to the saved score: taps the three scores, types or skips
    the comment, confirms."""
    await user.tap("Chấm điểm")
    question = await next_sent(user)
    assert "Tiêu chí 1/3" in question.text and question.buttons[0][0] == "0"
    for number, score in enumerate(scores, 2):
        await user.tap(str(score), message=question)
        asked = await user.next_message()
        if number <= 3:
            assert f"Tiêu chí {number}/3" in asked.text
    assert "Nhận xét của bạn" in asked.text
    if comment is None:
        await user.tap("Không nhận xét", message=question)
        summary = await user.next_message()
    else:
        await user.send(comment)
        summary = await next_sent(user)
    await user.tap("Gửi điểm", message=summary)
    return await user.next_message()


async def test_a_council_of_three_scores_on_both_apps_and_the_chair_recognises_it(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession,
) -> None:
    people = await _people(db, units, zalo)
    initiative = await _initiative(db, people, tg)
    initiative_id = initiative.id
    hung, mai, binh = (tg.user(first_name=n, user_id=i) for n, i in
                       (("Hùng", HUNG), ("Mai", MAI), ("Bình", BINH)))
    lan, hoa = tg.user(first_name="Lan", user_id=LAN), tg.user(first_name="Hoa", user_id=HOA)
    cuc, tuan = people["cuc_chat"], people["tuan_chat"]

    async with start_bot(channels=("telegram", "zalo")):
        # The official's queue: the initiative with its status, school, level and date.
        await hung.send("/review")
        queue = await next_sent(hung)
        assert "Hàng chờ xét sáng kiến" in queue.text and TITLE in queue.text
        assert "đã nộp, chờ xét · Trường THCS Nguyễn Trãi · cấp trường · nộp ngày" in queue.text
        assert [f"inr:xlsx:{units['district'].id}"] in queue.button_data
        await hung.tap(TITLE)
        card = await _card(hung)
        assert "Sáng kiến số" in card.text and "Chia lớp thành 4 trạm" in card.text
        assert "Cô Trần Thị Hằng (trường khác) — 10%" in card.text
        assert card.buttons == [
            ["👥 Lập hội đồng xét"], ["📎 Xem tài liệu kèm theo (3)"],
            ["📝 Tải bản Word của sáng kiến"], ["◀ Hàng chờ xét"],
        ]
        assert card.button_data[2] == [f"inr:doc:{initiative_id}"]
        await hung.tap("Xem tài liệu kèm theo", message=card)
        sent = [await next_sent(hung) for _ in range(3)]
        assert [m.method for m in sent] == ["sendDocument", "sendDocument", "sendPhoto"]
        assert "giao-an-minh-hoa.pdf" in sent[0].text

        # The council: three reviewers ticked, Mai chairs, the deadline typed.
        await hung.tap("Lập hội đồng xét", message=card)
        screen = await next_sent(hung)
        assert screen.buttons[:3] == [["▫️ Đỗ Thị Cúc"], ["▫️ Lê Văn Bình"], ["▫️ Phạm Thị Mai"]]
        for name in ("Phạm Thị Mai", "Lê Văn Bình", "Đỗ Thị Cúc"):
            await hung.tap(name, message=screen)
            screen = await hung.next_message()
        assert "Đã chọn: 3" in screen.text and screen.buttons[0] == ["✅ Đỗ Thị Cúc"]
        await hung.tap("Xong (3 người)", message=screen)
        assert "Ai làm chủ tịch" in (await hung.next_message()).text
        await hung.tap("Phạm Thị Mai", message=screen)
        assert "23:59" in (await hung.next_message()).text
        await hung.send("hôm nay")
        assert "Chưa đúng định dạng ngày" in (await next_sent(hung)).text
        deadline = _day(10)
        await hung.send(deadline)
        confirm = await next_sent(hung)
        assert "Phạm Thị Mai (chủ tịch hội đồng)" in confirm.text
        assert f"Hạn chấm điểm: {deadline} 23:59" in confirm.text
        await hung.tap("Lập hội đồng", message=confirm)
        assert "Đã lập hội đồng 3 người" in (await hung.next_message()).text

        stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
        assert (stored.status, stored.round) == (S.UNDER_REVIEW, 1)
        assert "chủ tịch hội đồng xét sáng kiến" in (await next_sent(mai)).text
        assert "Chủ tịch hội đồng: Phạm Thị Mai" in (await next_sent(binh)).text
        assert "Bạn được phân công vào hội đồng" in await said(cuc)
        assert "đang được hội đồng của Trường THCS Nguyễn Trãi xem xét" in (
            await next_sent(lan)
        ).text
        assert "is being reviewed by the council" in (await next_sent(hoa)).text
        assert "đang được hội đồng" in await said(tuan)

        # Bình scores on Telegram with a comment, typing his last score.
        await binh.send("/review")
        assigned = await next_sent(binh)
        assert "Sáng kiến được giao cho bạn chấm" in assigned.text and "chưa chấm" in assigned.text
        await binh.tap(TITLE)
        card = await _card(binh)
        assert card.buttons[0] == ["✍️ Chấm điểm"]
        await binh.tap("Chấm điểm", message=card)
        question = await next_sent(binh)
        await binh.tap("8", message=question)
        await binh.next_message()
        await binh.tap("7", message=question)
        assert "Khả năng áp dụng" in (await binh.next_message()).text
        await binh.send("11")
        assert "số nguyên từ 0 đến 10" in (await next_sent(binh)).text
        await binh.send("9")
        assert "Nhận xét của bạn" in (await next_sent(binh)).text
        await binh.send("Cần bổ sung số liệu đối chứng <lớp 7A>.")
        summary = await next_sent(binh)
        assert "24/30" in summary.text and "<lớp 7A>" in summary.plain_text
        await binh.tap("Gửi điểm", message=summary)
        assert "Đã lưu điểm" in (await binh.next_message()).text

        # Cúc scores on Zalo: numbers for the choices, the scores typed.
        await cuc.send("/review")
        listing = await said(cuc)
        assert "Sáng kiến được giao cho bạn chấm" in listing and f"1. {TITLE}" in listing
        await cuc.send("1")
        zalo_card = await _zalo_card(cuc)
        assert "1. ✍️ Chấm điểm" in zalo_card and "2. 📎 Xem tài liệu kèm theo (3)" in zalo_card
        await cuc.send("2")
        photo = await cuc.next_message()
        assert photo.photo == "https://photo.zalo.example/tiet-hoc.jpg"
        elsewhere = await said(cuc)
        assert "gửi qua Telegram" in elsewhere and "phieu-hoc-tap.docx" in elsewhere
        await cuc.send("1")
        assert "Tiêu chí 1/3" in (await said_until(cuc, "Tiêu chí 1/3"))[-1]
        for score, next_question in (("9", "Tiêu chí 2/3"), ("8", "Tiêu chí 3/3"),
                                     ("10", "Nhận xét của bạn")):
            await cuc.send(score)
            asked = await said(cuc)
            assert next_question in asked
        # The comment is free text: no numbered list to take a short comment for an option.
        assert "gõ “không” nếu bạn không có nhận xét" in asked and "1. " not in asked
        await cuc.send("1")  # a comment, however short, is what she typed
        summary_text = await said(cuc)
        assert "27/30" in summary_text and "Nhận xét: 1" in summary_text
        assert "1. ✅ Gửi điểm" in summary_text
        await cuc.send("1")  # send
        assert "Đã lưu điểm" in await said(cuc)

        # Mai scores last: every score is in, and she decides.
        await mai.send("/review")
        await next_sent(mai)
        await mai.tap(TITLE)
        card = await _card(mai)
        assert "Lê Văn Bình: đã chấm" in card.text and "24/30" not in card.text  # not yet
        saved = await _score_on_telegram(mai, (6, 7, 8), None)
        assert "mời chủ tịch ra quyết định" in saved.text
        await mai.tap("Mở sáng kiến", message=saved)
        card = await _card(mai)  # now the chair sees every score and comment
        assert "Lê Văn Bình: 24/30 điểm" in card.text and "Cần bổ sung số liệu" in card.text
        assert card.buttons[:2] == [["✍️ Chấm lại"], ["⚖️ Ra quyết định"]]
        await mai.tap("Ra quyết định", message=saved)
        decision = await next_sent(mai)
        assert "3/3 thành viên đã chấm" in decision.text
        assert "Điểm trung bình: <b>24/30</b>" in decision.text
        assert "Độ chênh lệch giữa các thành viên: 6 điểm" in decision.text
        await mai.tap("Công nhận", message=decision)
        assert "số giấy chứng nhận" in (await mai.next_message()).text
        await mai.send("15/QĐ-CĐGD")
        confirm = await next_sent(mai)
        assert "giấy chứng nhận số <b>15/QĐ-CĐGD</b>" in confirm.text
        await mai.tap("Xác nhận", message=confirm)
        assert "Đã công nhận sáng kiến" in (await mai.next_message()).text

        assert "giấy chứng nhận số 15/QĐ-CĐGD" in (await next_sent(lan)).text
        english = (await next_sent(hoa)).text
        assert "is recognised at school level by Trường THCS Nguyễn Trãi" in english
        assert "Chúc mừng" in await said(tuan)

    stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
    assert stored.status == S.ACCEPTED
    [recognition] = (await db.exec(select(Recognition))).all()
    assert (recognition.certificate_no, recognition.level, recognition.unit_id) == (
        "15/QĐ-CĐGD", "school", units["trai"].id
    )
    seats = (await db.exec(select(ReviewSeat).order_by(ReviewSeat.id))).all()  # type: ignore[arg-type]
    assert [(s.total, s.comment) for s in seats] == [
        (21, None), (24, "Cần bổ sung số liệu đối chứng <lớp 7A>."), (27, "1")
    ]


# --- every refusal -------------------------------------------------------------------------------

NAM, PHUC, NGA = 8211, 8212, 8213


async def test_every_refusal_is_explained_and_changes_nothing(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    other_district = await make_unit(
        db, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION, parent=units["edu"]
    )
    await make_official(db, other_district, "Kiều Văn Phúc", telegram_id=PHUC)
    await make_member(db, units["trai"], "Đỗ Văn Nam", telegram_id=NAM)
    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    mai_member = await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI)
    nga = await make_reviewer(db, units["district"], "Hà Thị Nga", telegram_id=NGA)
    khoa = await make_official(db, units["trai"], "Cao Văn Khoa", telegram_id=KHOA)
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    ours = await make_initiative(db, lan, TITLE, co_authors=[nga])
    other = await make_initiative(db, lan, "Sổ tay chủ nhiệm số")
    his = await make_initiative(db, khoa, "Quản lý hồ sơ bằng mã QR")
    await db.commit()
    mai_id, ours_id, other_id, his_id = mai_member.id, ours.id, other.id, his.id
    nam, phuc = tg.user(first_name="Nam", user_id=NAM), tg.user(first_name="Phúc", user_id=PHUC)
    hung, mai = tg.user(first_name="Hùng", user_id=HUNG), tg.user(first_name="Mai", user_id=MAI)
    khoa_chat = tg.user(first_name="Khoa", user_id=KHOA)

    async with start_bot():
        # A member without a role.
        await nam.send("/review")
        told = await next_sent(nam)
        assert "dành cho cán bộ công đoàn phụ trách xét sáng kiến" in told.text
        for data, text in ((f"irv:o:{ours.id}", "Lệnh này dành cho cán bộ công đoàn"),
                           (f"irv:s:{ours.id}", "Lệnh này dành cho cán bộ công đoàn"),
                           (f"irv:a:{ours.id}", "Bạn không có trong hội đồng"),
                           (f"irv:sc:{ours.id}", "Bạn không có trong hội đồng")):
            answer = await alert_for(nam, data, message=told)
            assert answer["show_alert"] and text in answer["text"], data

        # An official of another district.
        await phuc.send("/review")
        queue = await next_sent(phuc)
        assert "Không có sáng kiến nào ở đây" in queue.text and TITLE not in queue.text
        trai_id = units["trai"].id
        for data in (f"irv:o:{ours.id}", f"irv:s:{ours.id}", f"irv:fw:{ours.id}:{trai_id}"):
            answer = await alert_for(phuc, data, message=queue)
            assert "Bạn không có quyền" in answer["text"], data

        # The district's official: the co-author is not offered, and a forged tick is refused.
        await hung.send("/review")
        await next_sent(hung)
        await hung.tap(TITLE)
        await _card(hung)
        await hung.tap("Lập hội đồng xét")
        screen = await next_sent(hung)
        assert screen.buttons[:1] == [["▫️ Phạm Thị Mai"]] and "Hà Thị Nga" not in screen.text
        answer = await alert_for(hung, f"irv:t:{ours.id}:{nga.id}:0", message=screen)
        assert "tác giả hoặc đồng tác giả" in answer["text"]
        answer = await alert_for(hung, f"irv:sd:{ours.id}", message=screen)
        assert "Hội đồng cần từ 1 đến 9 thành viên" in answer["text"]
        await hung.tap("Phạm Thị Mai", message=screen)
        await hung.next_message()
        await hung.tap("Xong", message=screen)
        assert "Hạn chấm điểm" in (await hung.next_message()).text  # one member chairs
        await hung.send(_day(200))
        assert "trong vòng 90 ngày" in (await next_sent(hung)).text
        await hung.send(_day(7))
        confirm = await next_sent(hung)
        await hung.tap("Lập hội đồng", message=confirm)
        assert "Đã lập hội đồng 1 người" in (await hung.next_message()).text
        answer = await alert_for(hung, confirm.button_data[0][0], message=confirm)  # again
        assert "Nút này không còn dùng được" in answer["text"]
        # The card's button, now that a council sits: the state in words, not a code.
        answer = await alert_for(hung, f"irv:s:{ours.id}", message=confirm)
        assert "đang ở trạng thái «hội đồng đang xét»" in answer["text"]

        # An official who wrote an initiative sees it, but cannot seat its council.
        await khoa_chat.send("/review")
        await next_sent(khoa_chat)
        await khoa_chat.tap("Quản lý hồ sơ bằng mã QR")
        card = await _card(khoa_chat)
        assert ["👥 Lập hội đồng xét"] not in card.buttons
        answer = await alert_for(khoa_chat, f"irv:s:{his.id}", message=card)
        assert "Bạn là tác giả hoặc đồng tác giả" in answer["text"]

        # The reviewer: only what she sits on.
        assert "chủ tịch hội đồng" in (await next_sent(mai)).text  # told she was seated
        await mai.send("/review")
        assigned = await next_sent(mai)
        assert TITLE in assigned.text and "Sổ tay chủ nhiệm số" not in assigned.text
        for data in (f"irv:a:{other.id}", f"irv:sc:{other.id}", f"irv:d:{other.id}",
                     f"irv:f:{other.id}"):
            answer = await alert_for(mai, data, message=assigned)
            assert "Bạn không có trong hội đồng xét sáng kiến này" in answer["text"], data
        await mai.tap(TITLE, message=assigned)
        card = await _card(mai)
        answer = await alert_for(mai, f"irv:d:{ours.id}", message=card)
        assert "Chưa thể ra quyết định" in answer["text"]

        # Became a co-author meanwhile: she may not score her own.
        db.add(InitiativeAuthor(initiative_id=ours.id, member_id=mai_member.id,  # type: ignore[arg-type]
                                name="Phạm Thị Mai", share=0, position=2))
        await db.commit()
        answer = await alert_for(mai, f"irv:sc:{ours.id}", message=card)
        assert "Bạn là tác giả hoặc đồng tác giả" in answer["text"]
        row = (await db.exec(select(InitiativeAuthor).where(
            InitiativeAuthor.member_id == mai_member.id))).one()
        await db.delete(row)
        await db.commit()

        # A question left with /cancel: its buttons are stale.
        await mai.tap("Chấm điểm", message=card)
        question = await next_sent(mai)
        await mai.send("/cancel")
        assert "Đã huỷ" in (await next_sent(mai)).text
        answer = await alert_for(mai, question.button_data[1][2], message=question)  # "8"
        assert "Nút này không còn dùng được" in answer["text"]
        await mai.send("8")
        assert "Mình chưa hiểu ý bạn" in (await next_sent(mai)).text

        # The deadline passes: no score, and the chair cannot decide without one.
        stored = await _fresh(db, ours.id)  # type: ignore[arg-type]
        stored.scoring_deadline = utcnow() - timedelta(minutes=5)
        db.add(stored)
        await db.commit()
        closed = stored.scoring_deadline.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
        answer = await alert_for(mai, f"irv:sc:{ours.id}", message=card)
        assert f"Đã hết hạn chấm điểm ({closed})" in answer["text"]
        answer = await alert_for(mai, f"irv:d:{ours.id}", message=card)
        assert "chưa thành viên nào chấm điểm" in answer["text"]

    stored = await _fresh(db, ours_id)  # type: ignore[arg-type]
    assert (stored.status, stored.round) == (S.UNDER_REVIEW, 1)
    seats = (await db.exec(select(ReviewSeat))).all()
    assert [(s.reviewer_member_id, s.scored_at) for s in seats] == [(mai_id, None)]
    for untouched in (other_id, his_id):
        assert (await _fresh(db, untouched)).status == S.SUBMITTED  # type: ignore[arg-type]


# --- a second round ------------------------------------------------------------------------------


async def test_a_return_for_revision_and_a_resubmission_lead_to_a_second_council(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI)
    await make_reviewer(db, units["district"], "Lê Văn Bình", telegram_id=BINH)
    lan_member = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    initiative = await make_initiative(db, lan_member, TITLE)
    await db.commit()
    initiative_id, lan_id = initiative.id, lan_member.id
    hung, mai, binh = (tg.user(first_name=n, user_id=i) for n, i in
                       (("Hùng", HUNG), ("Mai", MAI), ("Bình", BINH)))
    lan = tg.user(first_name="Lan", user_id=LAN)

    async with start_bot():
        await hung.send("/review")
        await next_sent(hung)
        await hung.tap(TITLE)
        await _card(hung)
        seated = await _seat(hung, ["Phạm Thị Mai", "Lê Văn Bình"], "Lê Văn Bình", _day(5))
        assert "Đã lập hội đồng 2 người" in seated
        assert "đang được hội đồng" in (await next_sent(lan)).text
        for user, scores in ((mai, (5, 4, 6)), (binh, (6, 5, 5))):
            await next_sent(user)  # told they were seated
            await user.send("/review")
            await next_sent(user)
            await user.tap(TITLE)
            await _card(user)
            saved = await _score_on_telegram(user, scores, "Cần số liệu đối chứng.")
        assert "mời chủ tịch ra quyết định" in saved.text
        # He starts to accept it, then thinks again: that confirmation no longer counts.
        await binh.tap("Ra quyết định", message=saved)
        decision = await next_sent(binh)
        await binh.tap("Công nhận", message=decision)
        await binh.next_message()
        await binh.send("16/QĐ-CĐGD")
        first_thought = await next_sent(binh)
        assert "giấy chứng nhận số <b>16/QĐ-CĐGD</b>" in first_thought.text
        await binh.tap("Ra quyết định", message=saved)
        decision = await next_sent(binh)
        await binh.tap("Trả lại để chỉnh sửa", message=decision)
        assert "Gõ ý kiến của hội đồng" in (await binh.next_message()).text
        await binh.send("   ")
        assert "Hãy gõ ý kiến của hội đồng" in (await next_sent(binh)).text
        await binh.send("Bổ sung kết quả khảo sát học sinh trước và sau khi áp dụng.")
        confirm = await next_sent(binh)
        answer = await alert_for(binh, first_thought.button_data[0][0], message=first_thought)
        assert "Nút này không còn dùng được" in answer["text"]
        assert (await _fresh(db, initiative_id)).status == S.UNDER_REVIEW  # type: ignore[arg-type]
        await binh.tap("Xác nhận", message=confirm)
        assert "Đã trả lại sáng kiến" in (await binh.next_message()).text
        returned = (await next_sent(lan)).text
        assert "trả lại sáng kiến «Dạy học theo trạm" in returned
        assert "Bổ sung kết quả khảo sát" in returned and "/myinitiatives" in returned

        # The author revises and resubmits (the drafting flow's part, done here directly).
        stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
        assert stored.status == S.RETURNED
        await transition(db, stored, S.RESUBMITTED, actor_member_id=lan_id)
        await db.commit()

        await hung.send("/review")
        queue = await next_sent(hung)
        await hung.tap("Chờ lập hội đồng", message=queue)
        waiting = await hung.next_message()
        assert "đã nộp lại, chờ xét" in waiting.text
        await hung.tap(TITLE, message=waiting)
        card = await _card(hung)
        assert "Ý kiến của hội đồng lần xét trước: Bổ sung kết quả khảo sát" in card.text
        assert "Hội đồng xét sáng kiến (lần xét" not in card.text  # no council yet
        assert "Đã lập hội đồng 1 người" in await _seat(hung, ["Phạm Thị Mai"], None, _day(5))
        assert "đang được hội đồng" in (await next_sent(lan)).text

        # Bình sat on the first round only.
        await binh.send("/review")
        listing = await next_sent(binh)
        assert "Hiện chưa có sáng kiến nào được giao cho bạn" in listing.text
        answer = await alert_for(binh, f"irv:a:{initiative_id}", message=listing)
        assert "Bạn không có trong hội đồng" in answer["text"]

        assert "chủ tịch hội đồng" in (await next_sent(mai)).text
        await mai.send("/review")
        await next_sent(mai)
        await mai.tap(TITLE)
        card = await _card(mai)
        assert "lần xét thứ 2" in card.text
        saved = await _score_on_telegram(mai, (3, 3, 4), "Không")  # typed: no comment
        await mai.tap("Ra quyết định", message=saved)
        decision = await next_sent(mai)
        await mai.tap("Không công nhận", message=decision)
        await mai.next_message()
        await mai.send("Giải pháp đã được áp dụng rộng rãi, không còn tính mới.")
        confirm = await next_sent(mai)
        await mai.tap("Xác nhận", message=confirm)
        assert "không được công nhận" in (await mai.next_message()).text
        rejected = (await next_sent(lan)).text
        assert "không được Trường THCS Nguyễn Trãi công nhận cấp trường" in rejected
        assert "Lý do: Giải pháp đã được áp dụng rộng rãi" in rejected

    stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
    assert (stored.status, stored.round) == (S.REJECTED, 2)
    assert stored.council_comment == "Giải pháp đã được áp dụng rộng rãi, không còn tính mới."
    seats = (await db.exec(select(ReviewSeat).order_by(ReviewSeat.id))).all()  # type: ignore[arg-type]
    assert [(s.round, s.total, s.comment) for s in seats] == [
        (1, 15, "Cần số liệu đối chứng."), (1, 16, "Cần số liệu đối chứng."), (2, 10, None)
    ]


# --- up the levels -------------------------------------------------------------------------------

SON, AN = 8221, 8222


async def _accept_directly(
    db: AsyncSession, initiative_id: int, official: Member, chair: Member, number: str
) -> None:
    """A council's whole work at one level, through the models (the chat's part is above)."""
    db.expire_all()  # the bot changed it meanwhile
    for person in (official, chair):
        await db.refresh(person)
    now = utcnow()
    await review.seat_council(
        db, await actor_of(db, official), initiative_id=initiative_id,
        reviewer_ids=[chair.id], chair_id=chair.id, deadline=now + timedelta(days=3), now=now,  # type: ignore[list-item,arg-type]
    )
    chair_actor = await actor_of(db, chair)
    await review.score(db, chair_actor, initiative_id=initiative_id, novelty=9,
                       effectiveness=9, applicability=9, comment=None, now=now)
    await review.decide(db, chair_actor, initiative_id=initiative_id, outcome=Outcome.ACCEPT,
                        text=number, now=now)
    await db.commit()


async def test_an_accepted_initiative_is_forwarded_up_to_the_city_and_no_further(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    khoa = await make_official(db, units["trai"], "Cao Văn Khoa", telegram_id=KHOA)
    an = await make_reviewer(db, units["trai"], "Bùi Thị An", telegram_id=AN)
    hung = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    mai = await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI)
    son = await make_official(db, units["edu"], "Hồ Văn Sơn", telegram_id=SON)
    cuc = await make_reviewer(db, units["edu"], "Đỗ Thị Cúc")
    lan_member = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    hoa = await make_member(db, units["trai"], "Lê Thị Hoa", telegram_id=HOA, locale="en")
    initiative = await make_initiative(db, lan_member, TITLE, co_authors=[hoa])
    await db.commit()
    initiative_id = initiative.id
    await _accept_directly(db, initiative_id, khoa, an, "01/QĐ-THCS")  # type: ignore[arg-type]
    khoa_chat = tg.user(first_name="Khoa", user_id=KHOA)
    hung_chat = tg.user(first_name="Hùng", user_id=HUNG)
    son_chat = tg.user(first_name="Sơn", user_id=SON)
    lan, hoa_chat = tg.user(first_name="Lan", user_id=LAN), tg.user(first_name="Hoa", user_id=HOA)

    async with start_bot():
        await khoa_chat.send("/review")
        queue = await next_sent(khoa_chat)
        assert "được công nhận · Trường THCS Nguyễn Trãi · cấp trường" in queue.text
        await khoa_chat.tap(TITLE)
        card = await _card(khoa_chat)
        assert "Đã được công nhận cấp trường, giấy chứng nhận số 01/QĐ-THCS" in card.text
        await khoa_chat.tap("Chuyển lên Công đoàn Giáo dục quận Ba Đình", message=card)
        ask = await next_sent(khoa_chat)
        assert "để xét công nhận cấp quận/huyện?" in ask.text
        await khoa_chat.tap("Chuyển lên", message=ask)
        assert "Đã chuyển sáng kiến" in (await khoa_chat.next_message()).text
        for data in (ask.button_data[0][0], card.button_data[0][0]):  # tapped again: stale
            answer = await alert_for(khoa_chat, data, message=ask)
            assert "đã được chuyển lên cấp trên rồi" in answer["text"], data

        assert "chuyển lên Công đoàn Giáo dục quận Ba Đình" in (await next_sent(lan)).text
        english = (await next_sent(hoa_chat)).text
        assert "forwarded to Công đoàn Giáo dục quận Ba Đình for recognition" in english

        await hung_chat.send("/review")
        queue = await next_sent(hung_chat)
        assert "đã nộp, chờ xét · Công đoàn Giáo dục quận Ba Đình · cấp quận/huyện" in queue.text
        await _accept_directly(db, initiative_id, hung, mai, "07/QĐ-CĐGD")  # type: ignore[arg-type]
        await hung_chat.send("/review")
        await next_sent(hung_chat)
        await hung_chat.tap(TITLE)
        card = await _card(hung_chat)
        await hung_chat.tap("Chuyển lên Công đoàn Giáo dục Hà Nội", message=card)
        ask = await next_sent(hung_chat)
        assert "để xét công nhận cấp thành phố?" in ask.text
        await hung_chat.tap("Chuyển lên", message=ask)
        assert "Đã chuyển sáng kiến" in (await hung_chat.next_message()).text
        assert "cấp thành phố" in (await next_sent(lan)).text

        # Recognised by the city: the top. Nothing is left to forward.
        await _accept_directly(db, initiative_id, son, cuc, "03/QĐ-CĐGDHN")  # type: ignore[arg-type]
        await son_chat.send("/review")
        queue = await next_sent(son_chat)
        assert TITLE not in queue.text
        await son_chat.tap_data(f"irv:o:{initiative_id}", message=queue)
        card = await _card(son_chat)
        assert "Đơn vị xét: Công đoàn Giáo dục Hà Nội (cấp thành phố)" in card.text
        assert not [label for row in card.buttons for label in row if "Chuyển lên" in label]
        answer = await alert_for(
            son_chat, f"irv:fw:{initiative_id}:{units['edu'].id}", message=card
        )
        assert "đã ở cấp xét cao nhất" in answer["text"]
        # A forged "from" unit where it never was: a stale button, nothing sent anywhere.
        answer = await alert_for(
            son_chat, f"irv:fy:{initiative_id}:{units['du'].id}", message=card
        )
        assert "Nút này không còn dùng được" in answer["text"]

    recognitions = (await db.exec(select(Recognition).order_by(Recognition.id))).all()  # type: ignore[arg-type]
    assert [(r.level, r.certificate_no) for r in recognitions] == [
        ("school", "01/QĐ-THCS"), ("district", "07/QĐ-CĐGD"), ("city", "03/QĐ-CĐGDHN")
    ]
    stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
    assert (stored.status, stored.unit_id, stored.origin_unit_id) == (
        S.ACCEPTED, units["edu"].id, units["trai"].id
    )


# --- a restart, a new deadline -------------------------------------------------------------------


async def _seat_directly(
    db: AsyncSession, initiative_id: int, official: Member, reviewers: list[Member], days: int
) -> None:
    now = utcnow()
    await review.seat_council(
        db, await actor_of(db, official), initiative_id=initiative_id,
        reviewer_ids=[r.id for r in reviewers], chair_id=reviewers[0].id,  # type: ignore[misc]
        deadline=now + timedelta(days=days), now=now,  # type: ignore[arg-type]
    )
    await db.commit()


async def test_a_restart_resumes_the_reviewer_and_the_official_at_their_question(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    official = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    reviewer = await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI)
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan")
    scored = await make_initiative(db, author, TITLE)
    waiting = await make_initiative(db, author, "Sổ tay chủ nhiệm số")
    await db.commit()
    scored_id, waiting_id = scored.id, waiting.id
    await _seat_directly(db, scored_id, official, [reviewer], 5)  # type: ignore[arg-type]
    hung, mai = tg.user(first_name="Hùng", user_id=HUNG), tg.user(first_name="Mai", user_id=MAI)

    async with start_bot():
        await mai.send("/review")
        await next_sent(mai)
        await mai.tap(TITLE)
        await mai.tap("Chấm điểm", message=await _card(mai))
        question = await next_sent(mai)
        await mai.tap("8", message=question)
        assert "Tiêu chí 2/3" in (await mai.next_message()).text
        await hung.send("/review")
        await next_sent(hung)
        await hung.tap("Sổ tay chủ nhiệm số")
        await hung.tap("Lập hội đồng xét", message=await _card(hung))
        screen = await next_sent(hung)
        await hung.tap("Phạm Thị Mai", message=screen)
        await hung.next_message()
        await hung.tap("Xong", message=screen)
        assert "Hạn chấm điểm" in (await hung.next_message()).text

    async with start_bot():
        await mai.send("7")  # still the second criterion
        assert "Tiêu chí 3/3" in (await next_sent(mai)).text
        await mai.send("9")
        assert "Nhận xét của bạn" in (await next_sent(mai)).text
        await mai.send("Dễ nhân rộng ở các trường trong quận.")
        summary = await next_sent(mai)
        assert "24/30" in summary.text
        await mai.tap("Gửi điểm", message=summary)
        assert "Đã lưu điểm" in (await mai.next_message()).text
        await hung.send(_day(4))  # still the deadline question
        confirm = await next_sent(hung)
        await hung.tap("Lập hội đồng", message=confirm)
        assert "Đã lập hội đồng 1 người" in (await hung.next_message()).text

    seats = (await db.exec(select(ReviewSeat).order_by(ReviewSeat.id))).all()  # type: ignore[arg-type]
    assert [(s.initiative_id, s.novelty, s.effectiveness, s.applicability, s.comment)
            for s in seats] == [
        (scored_id, 8, 7, 9, "Dễ nhân rộng ở các trường trong quận."),
        (waiting_id, None, None, None, None),
    ]


async def test_an_official_on_zalo_seats_a_council_and_moves_its_deadline(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession,
) -> None:
    hung = zalo.user(display_name="Hùng", known=True)
    hung_id, _ = await int_id_for(db, hung.id)
    await make_official(db, units["district"], "Trần Văn Hùng", zalo_id=hung_id)
    await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI)
    await make_reviewer(db, units["district"], "Lê Văn Bình", telegram_id=BINH)
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan")
    initiative = await make_initiative(db, author, TITLE)
    await db.commit()
    initiative_id = initiative.id
    mai = tg.user(first_name="Mai", user_id=MAI)
    first_day, new_day = _day(3), _day(20)

    async with start_bot(channels=("telegram", "zalo")):
        await hung.send("/review")
        queue = await said(hung)
        assert f"1. {TITLE}" in queue and "đã nộp, chờ xét" in queue
        await hung.send("1")
        assert "1. 👥 Lập hội đồng xét" in await _zalo_card(hung)
        await hung.send("1")
        choices = await said(hung)
        assert "1. ▫️ Lê Văn Bình" in choices and "2. ▫️ Phạm Thị Mai" in choices
        await hung.send("pham thi mai")  # a name, without diacritics
        assert "2. ✅ Phạm Thị Mai" in await said(hung)
        await hung.send("1")
        assert "3. ✅ Xong (2 người)" in await said(hung)
        await hung.send("3")
        assert "Ai làm chủ tịch" in await said(hung)
        await hung.send("1")  # Mai: the members in the order chosen
        assert "Hạn chấm điểm" in (await said_until(hung, "Hạn chấm điểm"))[-1]
        await hung.send(first_day)
        confirm = await said(hung)
        assert "• Phạm Thị Mai (chủ tịch hội đồng)" in confirm and "1. ✅ Lập hội đồng" in confirm
        await hung.send("1")
        assert "Đã lập hội đồng 2 người" in await said(hung)
        assert "chủ tịch hội đồng" in (await next_sent(mai)).text

        await hung.send("/review")
        await said(hung)
        await hung.send("1")
        card = await _zalo_card(hung)
        assert "Phạm Thị Mai (chủ tịch hội đồng): chưa chấm" in card
        assert "1. ⏰ Đổi hạn chấm" in card
        await hung.send("doi han cham")  # the option's words, without diacritics
        assert "Hạn chấm hiện tại" in await said(hung)
        await hung.send("01/01/2020")
        assert "Hạn chấm phải sau thời điểm hiện tại" in await said(hung)
        await hung.send(f"{new_day} 17:00")
        assert f"Đã đổi hạn chấm sáng kiến «{TITLE}» thành {new_day} 17:00" in await said(hung)
        assert f"đã đổi thành {new_day} 17:00" in (await next_sent(mai)).text

    stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
    assert (stored.status, stored.round) == (S.UNDER_REVIEW, 1)
    assert stored.scoring_deadline is not None
    assert stored.scoring_deadline.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M") == (
        f"{new_day} 17:00"
    )
    seats = (await db.exec(select(ReviewSeat).order_by(ReviewSeat.id))).all()  # type: ignore[arg-type]
    assert [s.is_chair for s in seats] == [True, False]  # Mai (chosen first) chairs
    entries = (await db.exec(select(AuditEntry.action).where(
        AuditEntry.target_type == "initiative"))).all()
    assert entries == ["seat_council", "review_deadline"]


async def test_a_long_queue_is_paged_oldest_first_and_filtered_by_status(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    author = await make_member(db, units["du"], "Nguyễn Thị Lan")
    now = utcnow()
    for n in range(10):
        initiative = await make_initiative(
            db, author, f"Sáng kiến số {n:02}",
            status=S.UNDER_REVIEW if n % 3 == 0 else S.SUBMITTED,
        )
        initiative.submitted_at = now - timedelta(days=20 - n)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=HUNG)

    async with start_bot():
        await hung.send("/review")
        first = await next_sent(hung)
        assert "(Tất cả): 10" in first.text and "Trang 1/2" in first.text
        assert [row[0] for row in first.buttons[:8]] == [f"Sáng kiến số {n:02}" for n in range(8)]
        await hung.tap("Tiếp ▶", message=first)
        second = await hung.next_message()
        assert "Trang 2/2" in second.text
        assert [row[0] for row in second.buttons[:2]] == ["Sáng kiến số 08", "Sáng kiến số 09"]
        await hung.tap("Đang chấm", message=first)
        reviewing = await hung.next_message()
        assert "(Đang chấm): 4" in reviewing.text
        assert "Sáng kiến số 03" in reviewing.text and "Sáng kiến số 01" not in reviewing.text
        assert ["Tất cả", "Chờ lập hội đồng", "• Đang chấm", "Đã công nhận"] in reviewing.buttons


async def test_an_official_who_also_reviews_tells_the_two_lists_apart(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    hung_member = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    await appoint(db, None, member=hung_member, role=Role.REVIEWER, unit=units["district"])
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan")
    now = utcnow()
    ids = []
    for n in range(18):
        initiative = await make_initiative(db, author, f"Sáng kiến số {n:02}")
        initiative.submitted_at = now - timedelta(days=30 - n)
        ids.append(initiative.id)
    await db.commit()
    for initiative_id in ids[:9]:  # he sits on nine councils (and they stay in his queue)
        await _seat_directly(db, initiative_id, hung_member, [hung_member], 5)  # type: ignore[arg-type]
    hung = tg.user(first_name="Hùng", user_id=HUNG)

    async with start_bot():
        await hung.send("/review")
        both = await next_sent(hung)
        assert "(Tất cả): 18" in both.text
        assert "Sáng kiến được giao cho bạn chấm</b>: 9" in both.text
        labels = [label for row in both.buttons for label in row]
        # Each list's pages have buttons of their own, and one initiative in both lists has
        # two buttons one can tell apart.
        assert "Hàng chờ: trang sau ▶" in labels and "Được giao chấm: trang sau ▶" in labels
        assert "Tiếp ▶" not in labels
        assert labels.count("Sáng kiến số 00") == 1 and "✍️ Sáng kiến số 00" in labels
        await hung.tap("Được giao chấm: trang sau ▶", message=both)
        assigned = await hung.next_message()
        assert "Trang 2/2" in assigned.text and "Hàng chờ xét sáng kiến" not in assigned.text
        assert ["◀ Hàng chờ xét"] in assigned.buttons and ["◀ Trước"] in assigned.buttons
        await hung.tap("◀ Hàng chờ xét", message=assigned)
        queue = await hung.next_message()
        assert "(Tất cả): 18" in queue.text and ["Tiếp ▶"] in queue.buttons
        assert ["◀ Sáng kiến được giao chấm"] in queue.buttons
        await hung.tap("◀ Sáng kiến được giao chấm", message=queue)
        assert "Trang 1/2" in (await hung.next_message()).text


async def test_when_the_chair_cannot_sit_the_official_names_another(  # type: ignore[no-untyped-def]
    bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    official = await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG)
    mai = await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=MAI)
    binh = await make_reviewer(db, units["district"], "Lê Văn Bình", telegram_id=BINH)
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan")
    initiative = await make_initiative(db, author, TITLE)
    await review.seat_council(
        db, await actor_of(db, official), initiative_id=initiative.id,  # type: ignore[arg-type]
        reviewer_ids=[mai.id, binh.id], chair_id=mai.id,  # type: ignore[list-item,arg-type]
        deadline=utcnow() + timedelta(days=7), now=utcnow(),
    )
    await db.commit()
    initiative_id, mai_id, binh_id, author_id = initiative.id, mai.id, binh.id, author.id
    hung, binh_chat = tg.user(first_name="Hùng", user_id=HUNG), tg.user(user_id=BINH)

    await hung.send("/review")
    await next_sent(hung)
    await hung.tap(TITLE)
    await _card(hung)
    await hung.tap("👤 Đổi chủ tịch hội đồng")
    question = await next_sent(hung)
    assert "chủ tịch hiện tại có dấu 👤" in question.text
    assert question.buttons[:2] == [["👤 Phạm Thị Mai"], ["Lê Văn Bình"]]
    await hung.tap("Lê Văn Bình")
    done = await hung.next_message()  # in place of the question
    assert done.method == "editMessageText" and "Đã giao Lê Văn Bình làm chủ tịch" in done.text
    assert "Bạn được giao làm chủ tịch hội đồng" in (await next_sent(binh_chat)).text

    stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
    seats = {s.reviewer_member_id: s.is_chair for s in await review.seats_of(db, stored)}
    assert seats == {mai_id: False, binh_id: True}
    # Someone who is not on the council cannot be made chair, even by a forged button.
    await hung.send("/review")
    await next_sent(hung)
    await hung.tap(TITLE)
    await _card(hung)
    await hung.tap("👤 Đổi chủ tịch hội đồng")
    question = await next_sent(hung)
    answer = await alert_for(hung, f"irv:cy:{initiative_id}:{author_id}", message=question)
    assert answer["text"] == "Chủ tịch hội đồng phải là một trong các thành viên đã chọn."
    stored = await _fresh(db, initiative_id)  # type: ignore[arg-type]
    assert {s.reviewer_member_id: s.is_chair for s in await review.seats_of(db, stored)} == seats
