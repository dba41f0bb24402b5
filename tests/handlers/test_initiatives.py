"""/initiative, /drafts and /myinitiatives end to end: a teacher writes her request for
recognition part by part (each answer saved as typed, bad answers refused), adds colleagues and
named co-authors with their shares, sends documents and photos, previews exactly what the council
will read and submits; her co-authors hear of it in their own language on their own channel. A
draft survives a restart; on Zalo the same is done by numbers, with photos. When the council
returns it, she reads the comments, edits one part and resubmits. Forged buttons change
nothing."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from bot.i18n import load_translator
from handlers.initiative_text import form_messages
from models.base import utcnow
from models.channels import int_id_for
from models.initiatives import (
    Initiative,
    InitiativeAttachment,
    InitiativeField,
    InitiativeStatus,
    ReviewSeat,
    attachments_of,
    authors_of,
    history,
    transition,
)
from models.members import MemberStatus
from tests.botapi.formatting import parse_text
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_initiative, make_member, make_reviewer
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said, said_until

LAN = 8601
HOA = 8602
BINH = 8603
MB = 2**20
S = InitiativeStatus

PROBLEM = "Học sinh lớp 7 ít tương tác trong giờ Ngữ văn.\n40% không hoàn thành bài tập."
SOLUTION = "Chia lớp thành 4 trạm, mỗi trạm một phiếu học tập số trên máy tính bảng."
BENEFITS = "Tỉ lệ hoàn thành bài tập tăng từ 60% lên 92% sau một học kỳ."


class _Reader:
    """What form_messages needs of a chat context: the catalogue, in Vietnamese."""

    def __init__(self) -> None:
        self.translator = load_translator("vi")

    def t(self, key: str, /, **params: object) -> str:
        return self.translator.t("vi", key, **params)


async def _initiatives(db: AsyncSession) -> list[Initiative]:
    db.expire_all()
    return list((await db.exec(select(Initiative).order_by(Initiative.id))).all())  # type: ignore[arg-type]


async def _answer(user: TgUser, text: str) -> BotMessage:
    await user.send(text)
    return await next_sent(user)


async def _tap(user: TgUser, button: str, **kw) -> BotMessage:  # type: ignore[no-untyped-def]
    """Taps a button; the next screen (in place of the tapped message, or a new one)."""
    await user.tap(button, **kw)
    return await user.next_message()


async def test_a_teacher_writes_her_initiative_part_by_part_and_submits_it_with_three_files(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    await make_member(db, units["trai"], "Nguyễn Thị Hoà", telegram_id=HOA, locale="en")
    await make_member(db, units["du"], "Nguyễn Thị Hoa")  # another school: not offered
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    hoa = tg.user(first_name="Hoà", user_id=HOA)

    await lan.send("/initiative")
    assert "lưu ngay khi bạn gửi" in (await next_sent(lan)).text
    title = await next_sent(lan)
    assert "Phần 1/10" in title.text and "Tên sáng kiến" in title.text
    assert title.buttons == [["⏭ Bỏ qua", "💾 Để sau"]]
    refused = await _answer(lan, "ab")
    assert refused.text == "Tên sáng kiến cần từ 3 đến 300 ký tự (bạn đã gõ 2). Bạn hãy gõ lại."
    [draft] = await _initiatives(db)
    assert (draft.status, draft.title) == (S.DRAFT, "")  # nothing changed
    field = await _answer(lan, "Dạy học  theo trạm với phiếu học tập số")
    assert "Phần 2/10" in field.text and field.buttons[0] == ["Phương pháp giảng dạy"]
    [draft] = await _initiatives(db)
    assert draft.title == "Dạy học theo trạm với phiếu học tập số"  # saved as typed

    problem = await _tap(lan, "Phương pháp giảng dạy")
    assert problem.is_edit and "Vấn đề và thực trạng" in problem.text
    refused = await _answer(lan, "Dài " * 1000)
    assert "từ 10 đến 3000 ký tự (bạn đã gõ 3999)" in refused.text
    await lan.send_photo()  # a photo where text is asked
    assert "gõ câu trả lời bằng chữ" in (await next_sent(lan)).text
    [draft] = await _initiatives(db)
    assert draft.problem is None
    assert "Nội dung, bản chất của giải pháp" in (await _answer(lan, PROBLEM)).text
    assert "Ngày áp dụng lần đầu" in (await _answer(lan, SOLUTION)).text
    assert "Ngày chưa đúng" in (await _answer(lan, "31/02/2025")).text
    assert "Nơi áp dụng" in (await _answer(lan, "15/9/2025")).text
    assert "Lợi ích thu được" in (await _answer(lan, "Lớp 7A, 7B Trường THCS Nguyễn Trãi")).text
    confidential = await _answer(lan, BENEFITS)
    assert "Thông tin cần bảo mật" in confidential.text
    assert confidential.buttons[0] == ["Không có"]

    authors = await _tap(lan, "Không có")
    assert "Phần 9/10" in authors.text and "1. Nguyễn Thị Lan — 100%" in authors.text
    assert authors.buttons[-2] == ["✅ Chỉ mình tôi"]
    await _tap(lan, "Tìm đồng nghiệp")
    found = await _answer(lan, "thi hoa")  # without diacritics
    assert found.buttons[0] == ["Nguyễn Thị Hoà"]  # her own union only
    authors = await _tap(lan, "Nguyễn Thị Hoà")
    assert "1. Nguyễn Thị Lan — 50%" in authors.text and "2. Nguyễn Thị Hoà — 50%" in authors.text
    await _tap(lan, "Gõ tên người chưa dùng bot")
    authors = await _answer(lan, "Đỗ Văn Nam")
    assert "3. Đỗ Văn Nam — 33% <i>(chưa dùng bot)</i>" in authors.text
    assert "1. Nguyễn Thị Lan — 34%" in authors.text
    ask = await _tap(lan, "Chia tỉ lệ đóng góp")
    assert "Ví dụ: 34 33 33" in ask.text
    refused = await _answer(lan, "50 30 10")
    assert refused.text == "Tổng tỉ lệ bạn gõ là 90%, cần đúng 100%. Bạn hãy gõ lại."
    assert "có 3 tác giả nhưng bạn gõ 2 số" in (await _answer(lan, "50 50")).text.lower()
    authors = await _answer(lan, "50 30 20")
    assert "2. Nguyễn Thị Hoà — 30%" in authors.text and "3. Đỗ Văn Nam — 20%" in authors.text

    files = await _tap(lan, "Xong phần tác giả")
    assert "Phần 10/10" in files.text and "20 MB" in files.text
    await lan.send_document("giao-an-tram.pdf", file_size=300_000)
    await lan.send_photo()
    await lan.send_document("phieu-hoc-tap.docx", "application/msword", file_size=50_000)
    receipts = [await next_sent(lan) for _ in range(3)]
    assert [r.text for r in receipts] == [
        "📎 Đã nhận giao-an-tram.pdf (1/10).", "📎 Đã nhận ảnh (2/10).",
        "📎 Đã nhận phieu-hoc-tap.docx (3/10).",
    ]
    await lan.send_document("video-tiet-day.mp4", "video/mp4", file_size=21 * MB)
    assert "lớn hơn 20 MB" in (await next_sent(lan)).text
    overview = await _tap(lan, "Xong")
    for part in ("✅ Tên sáng kiến", "✅ Lĩnh vực", "✅ Tác giả và tỉ lệ", "✅ Giải pháp",
                 "✅ Thông tin bảo mật", "📎 Tệp kèm theo: 3", "Đã đủ các phần"):
        assert part in overview.text, part
    assert overview.buttons[0] == ["👁 Xem trước", "📤 Nộp"]

    # The preview is exactly the stored text, as the council's screens render it.
    await lan.tap("Xem trước")
    [initiative] = await _initiatives(db)
    stored_authors = await authors_of(db, initiative)
    files_kept = await attachments_of(db, initiative)
    reader = _Reader()
    footer = "\n".join([
        reader.t("initiative.form.attachments", count=3),
        *(reader.t("initiatives.file_line", name=f.file_name or "ảnh") for f in files_kept),
    ])
    expected = form_messages(
        reader, initiative, stored_authors,  # type: ignore[arg-type]
        heading=reader.t("initiatives.preview_heading"), footer=footer,
    )
    preview = [await next_sent(lan) for _ in expected]
    assert [message.text for message in preview] == expected
    text = preview[0].plain_text or ""
    for fact in ("Dạy học theo trạm với phiếu học tập số", "Phương pháp giảng dạy",
                 "Nguyễn Thị Lan — 50%", "Đỗ Văn Nam — 20%", PROBLEM, SOLUTION,
                 "15/09/2025 — Lớp 7A, 7B", BENEFITS, "Không có", "giao-an-tram.pdf"):
        assert fact in text, fact

    confirm = await _tap(lan, "Nộp", message=preview[-1])
    assert "Nộp sáng kiến «Dạy học theo trạm với phiếu học tập số» cho Trường THCS Nguyễn " \
        "Trãi để xét công nhận cấp trường?" in confirm.text
    await lan.tap("Nộp sáng kiến")
    done = await next_sent(lan)
    assert "Đã nộp sáng kiến «Dạy học theo trạm với phiếu học tập số»" in done.text
    assert "Đã báo cho 1 đồng tác giả." in done.text
    notice = await next_sent(hoa)
    assert notice.text.startswith("📤 Nguyễn Thị Lan has submitted the initiative")

    [initiative] = await _initiatives(db)
    assert (initiative.status, initiative.unit_id, initiative.origin_unit_id) == (
        S.SUBMITTED, units["trai"].id, units["trai"].id
    )
    assert initiative.level == "school" and initiative.school_year is not None
    assert initiative.field == InitiativeField.TEACHING and initiative.confidential == ""
    kept = (await db.exec(select(InitiativeAttachment).order_by(InitiativeAttachment.id))).all()  # type: ignore[arg-type]
    assert [(f.kind, f.file_name, f.channel) for f in kept] == [
        ("document", "giao-an-tram.pdf", "telegram"), ("photo", None, "telegram"),
        ("document", "phieu-hoc-tap.docx", "telegram"),
    ]
    assert all(tg.file_content(f.file_id) for f in kept)  # the council can open them

    await lan.send("/myinitiatives")
    mine = await next_sent(lan)
    assert "1. Dạy học theo trạm với phiếu học tập số — <i>đã nộp, chờ xét</i>" in mine.text
    await hoa.send("/myinitiatives")
    assert "submitted, awaiting review" in (await next_sent(hoa)).text
    await lan.send("/drafts")
    assert "không có bản nháp nào" in (await next_sent(lan)).text


async def test_a_draft_survives_a_restart_at_the_question_she_was_asked(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    await make_member(db, units["trai"], telegram_id=LAN)
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    async with start_bot():
        await lan.send("/initiative")
        await next_sent(lan)
        await next_sent(lan)
        await _answer(lan, "Dạy học theo trạm")
        await _tap(lan, "Chuyển đổi số")
        assert "Nội dung, bản chất" in (await _answer(lan, PROBLEM)).text
    async with start_bot():
        # Still the solution question: her answer is taken as the solution.
        assert "Ngày áp dụng lần đầu" in (await _answer(lan, SOLUTION)).text
    [draft] = await _initiatives(db)
    assert (draft.title, draft.field, draft.problem, draft.solution) == (
        "Dạy học theo trạm", "digital", PROBLEM, SOLUTION
    )
    async with start_bot():
        await lan.tap("Để sau")
        assert "Bản nháp đã được lưu" in (await next_sent(lan)).text
        await lan.send("/drafts")
        drafts = await next_sent(lan)
        assert "1. Dạy học theo trạm" in drafts.text
        overview = await _tap(lan, "1. Dạy học theo trạm")
        assert "✅ Giải pháp" in overview.text and "⬜ Ngày áp dụng — <i>chưa xong</i>" in (
            overview.text
        )
        assert "Còn thiếu: Ngày áp dụng, Nơi áp dụng, Lợi ích, Thông tin bảo mật." in (
            overview.text
        )
        # Submitting an incomplete draft is refused with what is missing.
        answer = await alert_for(lan, f"ini:submit:{draft.id}", message=overview)
        assert answer["text"] == (
            "Chưa nộp được, còn thiếu: Ngày áp dụng, Nơi áp dụng, Lợi ích, Thông tin bảo mật."
        )
        question = await _tap(lan, "✏️ Giải pháp", message=overview)
        assert SOLUTION in question.plain_text  # what she wrote, to keep or replace
        overview = await _answer(lan, "Giải pháp viết lại, đủ dài.")
        assert "Trạng thái: <i>đang viết</i>" in overview.text  # back to the overview
        # A second draft, from /drafts' button; /cancel leaves it, kept.
        await lan.send("/drafts")
        await next_sent(lan)
        await lan.tap("Viết sáng kiến mới")
        assert "lưu ngay khi bạn gửi" in (await next_sent(lan)).text
        assert "Phần 1/10" in (await next_sent(lan)).text
        await _answer(lan, "Câu lạc bộ đọc sách")
        assert "Bản nháp đã được lưu" in (await _answer(lan, "/cancel")).text
        # What she types now is not taken as an answer any more.
        assert "Mình chưa hiểu ý bạn" in (await _answer(lan, "Chữ gõ thêm")).text
        await lan.send("/drafts")
        drafts = await next_sent(lan)
        assert "1. Câu lạc bộ đọc sách" in drafts.text and "2. Dạy học theo trạm" in drafts.text
    first, second = await _initiatives(db)
    assert first.solution == "Giải pháp viết lại, đủ dài." and first.status == S.DRAFT
    assert (second.title, second.field) == ("Câu lạc bộ đọc sách", None)


async def test_on_zalo_she_writes_by_numbers_and_attaches_photos(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo, db: AsyncSession,
) -> None:
    lan = zalo.user(display_name="Lan")
    number, _ = await int_id_for(db, lan.id)
    await make_member(db, units["trai"], zalo_id=number)
    await db.commit()

    async with start_bot(channels=("zalo",)):
        await lan.send("/initiative")
        title = (await said_until(lan, "Tên sáng kiến"))[-1]
        assert "1. ⏭ Bỏ qua" in title and "2. 💾 Để sau" in title
        await lan.send("Sổ chủ nhiệm điện tử")
        field = await said(lan)
        assert "4. Chuyển đổi số, công nghệ thông tin" in field
        await lan.send("4")
        await said_until(lan, "Vấn đề và thực trạng")
        for text, next_question in (
            (PROBLEM, "bản chất của giải pháp"), (SOLUTION, "Ngày áp dụng"),
            ("01/10/2025", "Nơi áp dụng"), ("Trường THCS Nguyễn Trãi", "Lợi ích"),
            (BENEFITS, "cần bảo mật"),
        ):
            await lan.send(text)
            await said_until(lan, next_question)
        await lan.send("khong co")  # the button's words, without diacritics
        authors = (await said_until(lan, "Tác giả, đồng tác giả"))[-1]
        assert "Chỉ mình tôi" in authors
        await lan.send("chi minh toi")
        files = (await said_until(lan, "Hình ảnh kèm theo"))[-1]
        assert "Telegram" in files  # documents cannot come through Zalo
        await lan.send_image("https://photo.zalo.example/so-chu-nhiem-1.jpg")
        assert "Đã nhận ảnh (1/10)" in await said(lan)
        await lan.send_image("https://photo.zalo.example/so-chu-nhiem-2.jpg")
        assert "Đã nhận ảnh (2/10)" in await said(lan)
        await lan.send("Xong")
        overview = (await said_until(lan, "Đã đủ các phần"))[-1]
        assert "1. 👁 Xem trước" in overview and "2. 📤 Nộp" in overview
        await lan.send("2")
        assert "cho Trường THCS Nguyễn Trãi" in (await said_until(lan, "Nộp sáng kiến «"))[-1]
        await lan.send("1")
        assert "Đã nộp sáng kiến «Sổ chủ nhiệm điện tử»" in (await said_until(lan, "Đã nộp"))[-1]

    [initiative] = await _initiatives(db)
    assert (initiative.status, initiative.field) == (S.SUBMITTED, "digital")
    photos = await attachments_of(db, initiative)
    assert [(p.channel, p.kind, p.file_id) for p in photos] == [
        ("zalo", "photo", "https://photo.zalo.example/so-chu-nhiem-1.jpg"),
        ("zalo", "photo", "https://photo.zalo.example/so-chu-nhiem-2.jpg"),
    ]


async def test_co_authors_hear_of_the_submission_in_their_language_on_their_channel(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession,
) -> None:
    lan = tg.user(first_name="Lan", user_id=LAN)
    hoa = tg.user(first_name="Hoà", user_id=HOA)
    binh = zalo.user(display_name="Bình", known=True)
    binh_number, _ = await int_id_for(db, binh.id)
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    co_en = await make_member(db, units["trai"], "Nguyễn Thị Hoà", telegram_id=HOA, locale="en")
    co_vi = await make_member(db, units["trai"], "Trần Văn Bình", zalo_id=binh_number,
                              locale="vi")
    draft = await make_initiative(db, author, "Câu lạc bộ đọc sách", status=S.DRAFT,
                                  co_authors=[co_en, co_vi, "Đỗ Văn Nam"])
    await db.commit()

    async with start_bot(channels=("telegram", "zalo")):
        await lan.send("/drafts")
        await next_sent(lan)
        overview = await _tap(lan, "Câu lạc bộ đọc sách")
        assert "Đã đủ các phần" in overview.text
        await _tap(lan, "📤 Nộp")
        await lan.tap("Nộp sáng kiến")
        assert "Đã báo cho 2 đồng tác giả." in (await next_sent(lan)).text
        english = await next_sent(hoa)
        assert english.text == (
            "📤 Nguyễn Thị Lan has submitted the initiative “Câu lạc bộ đọc sách”, of which "
            "you are a co-author, to Trường THCS Nguyễn Trãi (recognition at the school "
            "level). See it with /myinitiatives."
        )
        vietnamese = await said(binh)
        assert vietnamese == (
            "📤 Nguyễn Thị Lan đã nộp sáng kiến «Câu lạc bộ đọc sách», trong đó bạn là đồng "
            "tác giả, cho Trường THCS Nguyễn Trãi (xét công nhận cấp trường). Xem bằng lệnh "
            "/myinitiatives."
        )
        assert lan.pending() == []  # the submitter is answered, not notified
    [initiative] = await _initiatives(db)
    assert initiative.id == draft.id and initiative.status == S.SUBMITTED


async def _return_for_revision(db: AsyncSession, units: dict, initiative: Initiative) -> None:
    """The council (as the review module does it) seats two reviewers, scores and returns."""
    mai = await make_reviewer(db, units["trai"], "Phạm Thị Mai")
    hung = await make_reviewer(db, units["trai"], "Vũ Văn Hùng")
    initiative.round = 1
    await transition(db, initiative, S.UNDER_REVIEW, actor_member_id=None)
    for reviewer, comment in ((mai, "Cần số liệu đối chứng với lớp không áp dụng."),
                              (hung, "Nên mô tả rõ cách chia nhóm.")):
        db.add(ReviewSeat(initiative_id=initiative.id, round=1, reviewer_member_id=reviewer.id,  # type: ignore[arg-type]
                          is_chair=reviewer is mai, novelty=6, effectiveness=6,
                          applicability=6, comment=comment, scored_at=utcnow()))
    initiative.council_comment = "Bổ sung số liệu của hai học kỳ."
    await transition(db, initiative, S.RETURNED, actor_member_id=mai.id,
                     comment=initiative.council_comment)
    await db.commit()


async def test_a_returned_initiative_is_revised_where_needed_and_resubmitted(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    co = await make_member(db, units["trai"], "Trần Văn Bình", telegram_id=BINH)
    initiative = await make_initiative(db, author, "Dạy học theo trạm", co_authors=[co])
    author_id, problem = author.id, initiative.problem
    await _return_for_revision(db, units, initiative)
    lan = tg.user(first_name="Lan", user_id=LAN)
    binh = tg.user(first_name="Bình", user_id=BINH)

    await lan.send("/myinitiatives")
    mine = await next_sent(lan)
    assert "Dạy học theo trạm — <i>trả lại để chỉnh sửa</i>" in mine.text
    card = await _tap(lan, "1. Dạy học theo trạm")
    for fact in ("Bổ sung số liệu của hai học kỳ.", "Cần số liệu đối chứng",
                 "Nên mô tả rõ cách chia nhóm.", "Nơi xét: Trường THCS Nguyễn Trãi (cấp trường)",
                 "trả lại để chỉnh sửa (Trường THCS Nguyễn Trãi)"):
        assert fact in card.text, fact
    assert "Phạm Thị Mai" not in card.text and "Vũ Văn Hùng" not in card.text
    assert card.text.count("Bổ sung số liệu của hai học kỳ.") == 1  # not again in the history
    assert card.buttons[:2] == [["✏️ Sửa theo góp ý"], ["📤 Nộp lại"]]

    overview = await _tap(lan, "Sửa theo góp ý")
    assert "Hội đồng đề nghị chỉnh sửa" in overview.text
    assert overview.buttons[0] == ["👁 Xem trước", "📤 Nộp lại"]
    await _tap(lan, "✏️ Lợi ích")
    overview = await _answer(lan, "Lớp áp dụng: 92% hoàn thành; lớp đối chứng: 61% (2 học kỳ).")
    assert "✅ Lợi ích" in overview.text
    note = await _tap(lan, "Nộp lại", message=overview)
    assert "ghi ngắn gọn những gì đã chỉnh sửa" in note.text
    done = await _answer(lan, "Đã bổ sung số liệu đối chứng hai học kỳ.")
    assert "Đã nộp lại sáng kiến «Dạy học theo trạm» cho Trường THCS Nguyễn Trãi" in done.text
    assert "đã chỉnh sửa và nộp lại sáng kiến «Dạy học theo trạm»" in (await next_sent(binh)).text

    [kept] = await _initiatives(db)
    assert kept.status == S.RESUBMITTED and kept.benefits.startswith("Lớp áp dụng")  # type: ignore[union-attr]
    assert kept.problem == problem  # only what was needed changed
    last = (await history(db, kept))[-1]
    assert (last.to_status, last.actor_member_id, last.comment) == (
        S.RESUBMITTED, author_id, "Đã bổ sung số liệu đối chứng hai học kỳ."
    )
    await lan.send("/myinitiatives")
    await next_sent(lan)
    card = await _tap(lan, "1. Dạy học theo trạm")
    assert "đã nộp lại, chờ xét (Nguyễn Thị Lan)" in card.text
    assert "Đã bổ sung số liệu đối chứng" in card.text
    assert card.buttons[0] == ["📄 Xem toàn văn"]  # nothing to edit now


async def test_forged_and_stale_buttons_change_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    other = await make_member(db, units["du"], "Lê Văn Khách")
    colleague = await make_member(db, units["trai"], "Trần Văn Bình", telegram_id=BINH)
    theirs = await make_initiative(db, other, "Sáng kiến của người khác", status=S.DRAFT,
                                   co_authors=["Đỗ Văn Nam"])
    submitted = await make_initiative(db, other, "Đã nộp của người khác")
    co_written = await make_initiative(db, other, "Có Bình", co_authors=[colleague])
    [_, named] = await authors_of(db, theirs)
    other_id, theirs_id, named_id = other.id, theirs.id, named.id
    submitted_id, co_written_id = submitted.id, co_written.id
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    binh = tg.user(first_name="Bình", user_id=BINH)

    await lan.send("/initiative")
    await next_sent(lan)
    question = await next_sent(lan)
    mine = next(i.id for i in await _initiatives(db) if i.submitter_member_id != other_id)
    for data in (
        f"ini:open:{theirs_id}", f"ini:edit:{theirs_id}:0", f"ini:field:{theirs_id}:1",
        f"ini:none:{theirs_id}", f"ini:rm:{theirs_id}:{named_id}", f"ini:clear:{theirs_id}",
        f"ini:sure:{theirs_id}", f"ini:prev:{theirs_id}", f"ini:view:{theirs_id}",
        f"ini:text:{submitted_id}", f"ini:resok:{submitted_id}", f"ini:view:{submitted_id}",
        f"ini:add:{mine}:{other_id}",  # someone of another union as her co-author
    ):
        answer = await alert_for(lan, data, message=question)
        assert answer["show_alert"], data
        assert answer["text"] in (
            "Sáng kiến này không phải của bạn.",
            "Người này không thể là đồng tác giả (không phải đoàn viên đang sinh hoạt ở công "
            "đoàn của bạn).",
        ), data
    answer = await alert_for(lan, f"ini:rm:{mine}:{named_id}", message=question)
    assert answer["text"] == "Đồng tác giả này không còn trong danh sách."
    answer = await alert_for(lan, "ini:open:999999", message=question)
    assert answer["text"] == "Không tìm thấy sáng kiến này (có thể đã bị xoá)."
    # A co-author sees, but never changes, what was submitted with her.
    await binh.send("/myinitiatives")
    listing = await next_sent(binh)
    assert "Có Bình" in listing.text and "Sáng kiến của người khác" not in listing.text
    answer = await alert_for(binh, f"ini:edit:{co_written_id}:0", message=listing)
    assert answer["text"] == "Chỉ người nộp sáng kiến mới sửa và nộp được."

    # Her own question is still open: the next text is still her title.
    assert "Lĩnh vực áp dụng" in (await _answer(lan, "Tên của tôi")).text
    db.expire_all()
    kept = await db.get(Initiative, theirs_id)
    assert kept is not None and kept.title == "Sáng kiến của người khác"
    assert kept.field == InitiativeField.TEACHING and kept.status == S.DRAFT
    assert len(await authors_of(db, kept)) == 2
    hers = await db.get(Initiative, mine)
    assert hers is not None and hers.title == "Tên của tôi"
    assert len(await authors_of(db, hers)) == 1


async def test_people_who_are_not_approved_members_are_told_why_and_stats_is_not_a_draft(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], telegram_id=LAN, status=MemberStatus.PENDING)
    await make_member(db, units["trai"], telegram_id=BINH)
    await db.commit()
    pending = tg.user(first_name="Lan", user_id=LAN)
    stranger = tg.user(first_name="Khách")
    member = tg.user(first_name="Bình", user_id=BINH)

    await pending.send("/initiative")
    assert "đang chờ cán bộ công đoàn duyệt" in (await next_sent(pending)).text
    for command in ("/initiative", "/drafts", "/myinitiatives"):
        await stranger.send(command)
        assert "/start" in (await next_sent(stranger)).text, command
    await member.send("/initiative stats")  # the officials' statistics, not a new draft
    await next_sent(member)
    assert await _initiatives(db) == []


async def test_a_draft_started_by_mistake_is_deleted_after_a_confirmation(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    kept = await make_initiative(db, author, "Câu lạc bộ đọc sách", status=S.DRAFT)
    await make_initiative(db, author, "Bản viết nhầm", status=S.DRAFT, co_authors=["Đỗ Văn Nam"],
                          attachments=1)
    returned = await make_initiative(db, author, "Dạy học theo trạm")
    kept_id, returned_id = kept.id, returned.id
    await _return_for_revision(db, units, returned)
    lan = tg.user(first_name="Lan", user_id=LAN)

    await lan.send("/drafts")
    await next_sent(lan)
    overview = await _tap(lan, "Bản viết nhầm")
    assert overview.buttons[-1] == ["💾 Để sau", "🗑 Xoá bản nháp"]
    confirm = await _tap(lan, "🗑 Xoá bản nháp")
    assert "Xoá hẳn bản nháp «Bản viết nhầm»?" in confirm.text
    assert confirm.buttons == [["🗑 Xoá hẳn"], ["◀ Xem tổng quan"]]
    done = await _tap(lan, "🗑 Xoá hẳn")
    said_deleted, drafts_left = done.text.split("\n", 1)
    assert said_deleted == "🗑 Đã xoá bản nháp «Bản viết nhầm»."
    assert "1. Câu lạc bộ đọc sách" in drafts_left and "Bản viết nhầm" not in drafts_left
    assert [i.id for i in await _initiatives(db)] == [kept_id, returned_id]
    # A returned initiative is the union's record: no delete button, a forged one refused.
    answer = await alert_for(lan, f"ini:delok:{returned_id}", message=done)
    assert answer["text"] == (
        "Sáng kiến đang ở trạng thái «trả lại để chỉnh sửa», không thể làm việc này."
    )
    await lan.send("/myinitiatives")
    await next_sent(lan)
    await _tap(lan, "Dạy học theo trạm")
    overview = await _tap(lan, "Sửa theo góp ý")
    assert all("Xoá bản nháp" not in label for row in overview.buttons for label in row)
    assert [i.id for i in await _initiatives(db)] == [kept_id, returned_id]


async def test_myinitiatives_pages_through_a_long_list(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN)
    for n in range(1, 13):
        await make_initiative(db, author, f"Sáng kiến số {n:02d}")
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)

    await lan.send("/myinitiatives")
    first = await next_sent(lan)
    assert "(12)" in first.text and "1. Sáng kiến số 12" in first.text
    assert "10. Sáng kiến số 03" in first.text and "Trang 1/2" in first.text
    assert "Sáng kiến số 02" not in first.text
    assert first.buttons[-1] == ["Tiếp ▶"]
    second = await _tap(lan, "Tiếp ▶")
    assert second.is_edit and "11. Sáng kiến số 02" in second.text
    assert "12. Sáng kiến số 01" in second.text and "Trang 2/2" in second.text
    assert second.buttons[-1] == ["◀ Trước"]
    card = await _tap(lan, "12. Sáng kiến số 01")
    assert "Sáng kiến số 01" in card.text
    back = await _tap(lan, "◀ Sáng kiến của tôi")
    assert "1. Sáng kiến số 12" in back.text


def test_a_long_part_full_of_quotes_is_split_into_messages_that_read_whole() -> None:
    """3,000 typed characters can grow past a message once escaped (a quote is six): the
    part is cut between words or, without any, never inside an entity ("&quo" + "t;" would
    show the council garbage), and goes on marked "(continued)"."""
    reader = _Reader()
    for solution in ('"Trạm" ' * 428, '"a"' * 1000, "<b>&" * 750, '"ab"' * 750):
        solution = solution.strip()[:3000]
        initiative = Initiative(title="Dạy học theo trạm", field="teaching", problem=PROBLEM,
                                solution=solution, benefits=BENEFITS, confidential="")
        messages = form_messages(reader, initiative, [],  # type: ignore[arg-type]
                                 heading=reader.t("initiatives.preview_heading"))
        assert len(messages) >= 2
        shown = []
        for text in messages:
            assert len(text) <= 4096
            plain, _ = parse_text(text, "HTML")
            shown.append(plain)
        assert shown[-1].startswith("(tiếp theo)\n")  # the solution goes on
        shown = [plain.removeprefix("(tiếp theo)\n") for plain in shown]
        whole = "".join(shown).replace(" ", "").replace("\n", "")
        assert solution.replace(" ", "") in whole
