"""The author's side of initiatives, without a chat: a draft written part by part, its authors
and shares, its files, what is missing, the submission to the author's union, the return for
revision and the resubmission, and what the authors see of it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from models import initiative_drafts as drafting
from models.base import utcnow
from models.errors import DomainError, InvalidInput, NotAllowed, NotFound
from models.initiative_drafts import Part
from models.initiatives import (
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeStatus,
    Recognition,
    ReviewSeat,
    attachments_of,
    authors_of,
    history,
    transition,
)
from models.members import Member, MemberStatus
from models.org import OrgUnit
from tests.factories import make_initiative, make_member, make_reviewer, make_tree

S = InitiativeStatus
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MB = 2**20


async def _refused(code: str, operation) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as refused:
        await operation
    assert refused.value.code == code, refused.value.code
    return refused.value


async def _complete(session: AsyncSession, member: Member) -> Initiative:
    """A draft of `member` with every part answered."""
    initiative = await drafting.start_draft(session, member)
    ini = initiative.id
    assert ini is not None
    await drafting.set_title(session, member, ini, "Dạy học theo trạm")
    await drafting.set_field(session, member, ini, "teaching")
    for part in (Part.PROBLEM, Part.SOLUTION, Part.BENEFITS):
        await drafting.set_text(session, member, ini, part, f"Nội dung phần {part} đủ dài.")
    await drafting.set_first_applied(session, member, ini, "15/9/2025", now=utcnow(), tz=TZ)
    await drafting.set_applied_where(session, member, ini, "Trường THCS Nguyễn Trãi")
    await drafting.set_confidential(session, member, ini, "")
    return initiative


# --- drafts --------------------------------------------------------------------------------------


async def test_a_draft_starts_with_its_writer_as_the_only_author(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    initiative = await drafting.start_draft(session, lan)
    assert (initiative.status, initiative.submitter_member_id, initiative.title) == (
        S.DRAFT, lan.id, ""
    )
    assert (initiative.unit_id, initiative.level, initiative.school_year) == (None, None, None)
    [author] = await authors_of(session, initiative)
    assert (author.member_id, author.name, author.share, author.position) == (
        lan.id, "Nguyễn Thị Lan", 100, 0
    )


async def test_only_approved_members_write_and_at_most_twenty_drafts_each(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    pending = await make_member(session, units["trai"], "Lê Chờ", status=MemberStatus.PENDING)
    rejected = await make_member(session, units["trai"], "Lê Từ", status=MemberStatus.REJECTED)
    erased = await make_member(session, units["trai"], "—")
    erased.erased_at = utcnow()
    await _refused("ini_not_member", drafting.start_draft(session, None))
    await _refused("ini_member_pending", drafting.start_draft(session, pending))
    await _refused("ini_members_only", drafting.start_draft(session, rejected))
    await _refused("ini_members_only", drafting.start_draft(session, erased))

    lan = await make_member(session, units["trai"])
    for _ in range(drafting.DRAFTS_MAX):
        await drafting.start_draft(session, lan)
    error = await _refused("ini_too_many_drafts", drafting.start_draft(session, lan))
    assert error.params == {"max": 20}
    await make_initiative(session, lan)  # a submitted one does not count
    assert len(await drafting.drafts_of(session, lan)) == 20


async def test_a_member_sees_their_drafts_and_everything_they_wrote_or_co_wrote(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    binh = await make_member(session, units["trai"], "Trần Văn Bình")
    hers = await drafting.start_draft(session, lan)
    co_written = await make_initiative(session, binh, "Của Bình, có Lan", co_authors=[lan])
    binh_draft = await make_initiative(session, binh, "Nháp của Bình", status=S.DRAFT,
                                       co_authors=[lan])
    await make_initiative(session, binh, "Chỉ của Bình")
    co_written.created_at = utcnow() + timedelta(minutes=1)

    assert [i.id for i in await drafting.drafts_of(session, lan)] == [hers.id]
    assert [i.id for i in await drafting.initiatives_of(session, lan)] == [
        co_written.id, hers.id
    ]
    # A co-author never sees another person's draft, even by its id.
    await _refused("ini_not_yours", drafting.read(session, lan, binh_draft.id))  # type: ignore[arg-type]
    found = await drafting.read(session, lan, co_written.id)  # type: ignore[arg-type]
    assert [a.name for a in found.authors] == ["Trần Văn Bình", "Nguyễn Thị Lan"]
    await _refused("initiative_gone", drafting.read(session, lan, 999_999))


async def test_a_draft_is_deleted_by_its_writer_only_and_only_while_unsubmitted(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    binh = await make_member(session, units["trai"], "Trần Văn Bình")
    mistake = await make_initiative(session, lan, "Bản viết nhầm", status=S.DRAFT,
                                    co_authors=[binh, "Đỗ Văn Nam"], attachments=2)
    kept = await drafting.start_draft(session, lan)
    submitted = await make_initiative(session, lan, "Đã nộp", co_authors=[binh])
    binhs = await make_initiative(session, binh, "Nháp của Bình", status=S.DRAFT)
    ids = (mistake.id, submitted.id, binhs.id)
    assert None not in ids

    await _refused("ini_not_yours", drafting.delete_draft(session, binh, mistake.id))  # type: ignore[arg-type]
    await _refused("ini_not_yours", drafting.delete_draft(session, lan, binhs.id))  # type: ignore[arg-type]
    await _refused("initiative_state", drafting.delete_draft(session, lan, submitted.id))  # type: ignore[arg-type]
    await transition(session, submitted, S.UNDER_REVIEW, actor_member_id=None)
    await transition(session, submitted, S.RETURNED, actor_member_id=None)
    # Returned for revision: still editable, but part of the union's records.
    await _refused("initiative_state", drafting.deletable(session, lan, submitted.id))  # type: ignore[arg-type]

    assert await drafting.delete_draft(session, lan, mistake.id) == "Bản viết nhầm"  # type: ignore[arg-type]
    await session.commit()
    assert await session.get(Initiative, ids[0]) is None
    for table in (InitiativeAuthor, InitiativeAttachment):
        rows = await session.exec(select(table).where(table.initiative_id == ids[0]))  # type: ignore[attr-defined]
        assert rows.all() == [], table
    assert [i.id for i in await drafting.drafts_of(session, lan)] == [kept.id]
    for initiative_id in ids[1:]:
        assert await session.get(Initiative, initiative_id) is not None
    await _refused("initiative_gone", drafting.delete_draft(session, lan, ids[0]))  # type: ignore[arg-type]


# --- the parts -----------------------------------------------------------------------------------


async def test_each_part_is_checked_and_saved_as_typed(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    initiative = await drafting.start_draft(session, lan)
    ini = initiative.id
    assert ini is not None

    await drafting.set_title(session, lan, ini, "  Dạy học   theo\ntrạm  ")
    assert initiative.title == "Dạy học theo trạm"
    for bad in ("ab", "x" * 301, "   "):
        error = await _refused("ini_title_length", drafting.set_title(session, lan, ini, bad))
        assert (error.params["min"], error.params["max"]) == (3, 300)
    assert initiative.title == "Dạy học theo trạm"  # nothing changed

    await drafting.set_field(session, lan, ini, "digital")
    await _refused("choice_invalid", drafting.set_field(session, lan, ini, "sports"))
    assert initiative.field == "digital"

    text = "  Dòng một của vấn đề.   \n\nDòng hai: 40% học sinh chưa tương tác.  "
    await drafting.set_text(session, lan, ini, Part.PROBLEM, text)
    assert initiative.problem == "Dòng một của vấn đề.\n\nDòng hai: 40% học sinh chưa tương tác."
    for bad in ("quá ngắn", "x" * 3001):
        error = await _refused(
            "ini_text_length", drafting.set_text(session, lan, ini, Part.PROBLEM, bad)
        )
        assert (error.params["min"], error.params["max"]) == (10, 3000)
    assert error.params["length"] == 3001
    assert initiative.problem.startswith("Dòng một")  # type: ignore[union-attr]
    await drafting.set_text(session, lan, ini, Part.SOLUTION, "Giải pháp " * 300)
    assert len(initiative.solution or "") == 2999  # the last space trimmed
    await drafting.set_text(session, lan, ini, Part.BENEFITS, "Tỉ lệ tăng từ 60% lên 92%.")
    await _refused("choice_invalid", drafting.set_text(session, lan, ini, Part.TITLE, "x" * 20))

    await drafting.set_applied_where(session, lan, ini, "Lớp 7A, 7B")
    await _refused("ini_text_length",
                   drafting.set_applied_where(session, lan, ini, "x" * 501))
    assert initiative.applied_where == "Lớp 7A, 7B"

    assert initiative.confidential is None  # not answered yet
    await drafting.set_confidential(session, lan, ini, "Mã nguồn phần mềm chấm bài")
    assert initiative.confidential == "Mã nguồn phần mềm chấm bài"
    await drafting.set_confidential(session, lan, ini, "")  # "Nothing"
    assert initiative.confidential == ""
    await _refused("ini_text_length",
                   drafting.set_confidential(session, lan, ini, "x" * 3001))
    assert initiative.confidential == ""


async def test_the_first_applied_date_is_a_real_past_date_typed_day_first(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    ini = (await drafting.start_draft(session, lan)).id
    assert ini is not None
    # 00:30 on 1 January 2026 in Hanoi is still 31 December 2025 in UTC.
    now = datetime(2025, 12, 31, 17, 30, tzinfo=UTC)

    for typed, expected in (
        ("15/09/2025", date(2025, 9, 15)), ("5/9/2025", date(2025, 9, 5)),
        ("05-09-2025", date(2025, 9, 5)), (" 1.1.2026 ", date(2026, 1, 1)),  # today in Hanoi
        ("01/01/1975", date(1975, 1, 1)),
    ):
        initiative = await drafting.set_first_applied(session, lan, ini, typed, now=now, tz=TZ)
        assert initiative.first_applied_on == expected, typed
    for typed, code in (
        ("2025-09-15", "ini_date_format"), ("31/02/2025", "ini_date_format"),
        ("tháng 9", "ini_date_format"), ("15/13/2025", "ini_date_format"),
        ("02/01/2026", "ini_date_future"), ("31/12/1974", "ini_date_too_old"),
    ):
        await _refused(code, drafting.set_first_applied(session, lan, ini, typed, now=now, tz=TZ))
    assert initiative.first_applied_on == date(1975, 1, 1)


async def test_only_the_submitter_changes_it_and_only_while_draft_or_returned(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    binh = await make_member(session, units["trai"], "Trần Văn Bình")
    stranger = await make_member(session, units["du"], "Lê Văn Khách")
    draft = await drafting.start_draft(session, lan)
    submitted = await make_initiative(session, lan, co_authors=[binh])

    await _refused("ini_not_yours", drafting.set_title(session, stranger, draft.id, "Của tôi"))  # type: ignore[arg-type]
    await _refused("ini_not_yours", drafting.set_title(session, binh, draft.id, "Của tôi"))  # type: ignore[arg-type]
    await _refused("ini_submitter_only",
                   drafting.set_title(session, binh, submitted.id, "Của tôi"))  # type: ignore[arg-type]
    error = await _refused("initiative_state",
                           drafting.set_title(session, lan, submitted.id, "Tên mới"))  # type: ignore[arg-type]
    assert error.params == {"status": "submitted"}
    await _refused("initiative_state", drafting.remove_attachments(session, lan, submitted.id))  # type: ignore[arg-type]

    await transition(session, submitted, S.UNDER_REVIEW, actor_member_id=None)
    await transition(session, submitted, S.RETURNED, actor_member_id=None)
    await drafting.set_title(session, lan, submitted.id, "Tên đã sửa")  # type: ignore[arg-type]
    assert submitted.title == "Tên đã sửa"


# --- authors -------------------------------------------------------------------------------------


async def test_colleagues_are_found_by_name_without_diacritics_in_the_writers_union(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    ini = (await drafting.start_draft(session, lan)).id
    assert ini is not None
    hoa = await make_member(session, units["trai"], "Nguyễn Thị Hoà")
    await make_member(session, units["du"], "Nguyễn Thị Hằng")  # another union
    await make_member(session, units["trai"], "Nguyễn Thị Chờ", status=MemberStatus.PENDING)
    gone = await make_member(session, units["trai"], "Nguyễn Thị Xoá")
    gone.erased_at = utcnow()
    minh = await make_member(session, units["trai"], "Phạm Văn Minh")

    hits = await drafting.find_colleagues(session, lan, ini, "nguyen thi")
    assert [m.id for m in hits] == [hoa.id]  # not herself, nor anyone outside, pending, erased
    assert [m.id for m in await drafting.find_colleagues(session, lan, ini, "MINH phạm")] == [
        minh.id
    ]
    await drafting.add_colleague(session, lan, ini, hoa.id)  # type: ignore[arg-type]
    assert await drafting.find_colleagues(session, lan, ini, "Hoà") == []  # already an author
    assert await drafting.find_colleagues(session, lan, ini, "100%") == []
    for bad in ("   ", "x" * 101):
        await _refused("ini_search_invalid", drafting.find_colleagues(session, lan, ini, bad))

    for n in range(10):
        await make_member(session, units["trai"], f"Trần Thị Giáo {n}")
    assert len(await drafting.find_colleagues(session, lan, ini, "tran")) == 8


async def test_adding_and_removing_authors_splits_the_shares_evenly_again(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    binh = await make_member(session, units["trai"], "Trần Văn Bình")
    outside = await make_member(session, units["du"], "Lê Văn Ngoài")
    initiative = await drafting.start_draft(session, lan)
    ini = initiative.id
    assert ini is not None

    async def shares() -> list[tuple[str, int]]:
        return [(a.name, a.share) for a in await authors_of(session, initiative)]

    binh_row = await drafting.add_colleague(session, lan, ini, binh.id)  # type: ignore[arg-type]
    assert await shares() == [("Nguyễn Thị Lan", 50), ("Trần Văn Bình", 50)]
    await drafting.add_named_author(session, lan, ini, "  Đỗ   Văn Nam ")
    assert await shares() == [("Nguyễn Thị Lan", 34), ("Trần Văn Bình", 33), ("Đỗ Văn Nam", 33)]
    await drafting.remove_author(session, lan, ini, binh_row.id)  # type: ignore[arg-type]
    assert await shares() == [("Nguyễn Thị Lan", 50), ("Đỗ Văn Nam", 50)]

    [submitter, _] = await authors_of(session, initiative)
    await _refused("ini_author_submitter",
                   drafting.remove_author(session, lan, ini, submitter.id))  # type: ignore[arg-type]
    other = await make_initiative(session, binh, co_authors=["Người Khác"])
    [_, elsewhere] = await authors_of(session, other)
    await _refused("ini_author_gone",
                   drafting.remove_author(session, lan, ini, elsewhere.id))  # type: ignore[arg-type]
    await _refused("ini_colleague_invalid",
                   drafting.add_colleague(session, lan, ini, outside.id))  # type: ignore[arg-type]
    await _refused("ini_colleague_invalid", drafting.add_colleague(session, lan, ini, 999_999))
    await _refused("ini_author_already", drafting.add_colleague(session, lan, ini, lan.id))  # type: ignore[arg-type]
    for bad in ("Ab", "x" * 121, "12345"):
        await _refused("ini_author_name_length",
                       drafting.add_named_author(session, lan, ini, bad))
    assert len(await authors_of(session, initiative)) == 2

    for n in range(8):
        await drafting.add_named_author(session, lan, ini, f"Đồng tác giả {n}")
    assert sum(share for _, share in await shares()) == 100
    assert [share for _, share in await shares()] == [10] * 10
    await _refused("ini_too_many_authors",
                   drafting.add_named_author(session, lan, ini, "Người thứ mười một"))


async def test_shares_are_typed_in_order_and_must_sum_to_exactly_100(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    initiative = await drafting.start_draft(session, lan)
    ini = initiative.id
    assert ini is not None
    await drafting.add_named_author(session, lan, ini, "Trần Văn Bình")
    await drafting.add_named_author(session, lan, ini, "Đỗ Văn Nam")

    await drafting.set_shares(session, lan, ini, "50 30 20")
    assert [a.share for a in await authors_of(session, initiative)] == [50, 30, 20]
    await drafting.set_shares(session, lan, ini, "60%, 25%; 15%")
    assert [a.share for a in await authors_of(session, initiative)] == [60, 25, 15]
    for typed, code, params in (
        ("50 30 10", "ini_shares_sum", {"sum": 90}),
        ("50 50", "ini_shares_count", {"count": 3, "typed": 2}),
        ("50 30 20 0", "ini_shares_count", {"count": 3, "typed": 4}),
        ("100 0 0", "ini_shares_range", {}),
        ("năm mươi", "ini_shares_format", {"count": 3}),
        ("50.5 29.5 20", "ini_shares_format", {"count": 3}),
        ("", "ini_shares_format", {"count": 3}),
    ):
        error = await _refused(code, drafting.set_shares(session, lan, ini, typed))
        assert error.params == params, typed
    assert [a.share for a in await authors_of(session, initiative)] == [60, 25, 15]
    assert drafting.even_shares(3) == [34, 33, 33] and drafting.even_shares(1) == [100]


# --- attachments ---------------------------------------------------------------------------------


async def test_documents_and_photos_are_kept_within_the_limits(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    initiative = await drafting.start_draft(session, lan)
    ini = initiative.id
    assert ini is not None

    async def add(unique: str, **kw):  # type: ignore[no-untyped-def]
        values = {"channel": "telegram", "kind": "document", "file_id": f"F-{unique}",
                  "file_unique_id": unique, "file_name": "bao-cao.pdf", "size": 1000}
        return await drafting.add_attachment(session, lan, ini, **{**values, **kw})

    _, count = await add("U1")
    assert count == 1
    _, count = await add("U2", kind="photo", file_name=None, size=None)
    assert count == 2
    await _refused("ini_file_duplicate", add("U1"))
    error = await _refused("ini_file_too_large", add("U3", size=20 * MB + 1))
    assert error.params == {"max_mb": 20}
    await add("U4", size=20 * MB)  # exactly the limit is fine
    await _refused("ini_file_kind", add("U5", kind="video"))
    await _refused("ini_zalo_photos_only", add("U6", channel="zalo"))
    _, count = await add("U7", channel="zalo", kind="photo",
                         file_id="https://photo.zalo.example/a.jpg")
    assert count == 4
    for n in range(6):
        await add(f"M{n}")
    await _refused("ini_too_many_files", add("U8"))
    assert len(await attachments_of(session, initiative)) == 10

    await drafting.remove_attachments(session, lan, ini)
    assert await attachments_of(session, initiative) == []
    _, count = await add("U1")  # may be sent again
    assert count == 1


# --- submitting ----------------------------------------------------------------------------------


async def test_a_draft_is_submitted_only_when_complete_to_the_writers_union(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    initiative = await drafting.start_draft(session, lan)
    ini = initiative.id
    assert ini is not None
    now = datetime(2026, 9, 10, 3, 0, tzinfo=UTC)

    error = await _refused("ini_incomplete", drafting.submit(session, lan, ini, now=now, tz=TZ))
    assert error.params == {"parts": [
        "title", "field", "problem", "solution", "first_applied", "where", "benefits",
        "confidential",
    ]}
    await drafting.set_title(session, lan, ini, "Dạy học theo trạm")
    await drafting.add_named_author(session, lan, ini, "Trần Văn Bình")
    await drafting.set_shares(session, lan, ini, "70 30")
    found = await drafting.draft(session, lan, ini)
    assert found.missing[0] == Part.FIELD and Part.AUTHORS not in found.missing

    complete = await _complete(session, lan)
    ready = await drafting.submission_check(session, lan, complete.id)  # type: ignore[arg-type]
    assert (ready.unit.id, ready.level) == (units["trai"].id, "school")
    # Shares that do not sum to 100 make the authors a missing part.
    [author] = await authors_of(session, complete)
    author.share = 90
    session.add(author)
    error = await _refused("ini_incomplete",
                           drafting.submit(session, lan, complete.id, now=now, tz=TZ))  # type: ignore[arg-type]
    assert error.params == {"parts": ["authors"]}
    author.share = 100
    session.add(author)
    assert complete.status == S.DRAFT

    lan.full_name = "Nguyễn Thị Lan (Tổ Văn)"  # renamed in her profile since
    submitted = await drafting.submit(session, lan, complete.id, now=now, tz=TZ)  # type: ignore[arg-type]
    assert submitted.status == S.SUBMITTED
    assert (submitted.unit_id, submitted.origin_unit_id, submitted.level) == (
        units["trai"].id, units["trai"].id, "school"
    )
    assert (submitted.school_year, submitted.submitted_at) == ("2026-2027", now)
    assert (await authors_of(session, submitted))[0].name == "Nguyễn Thị Lan (Tổ Văn)"
    [event] = await history(session, submitted)
    assert (event.from_status, event.to_status, event.actor_member_id, event.unit_id) == (
        S.DRAFT, S.SUBMITTED, lan.id, units["trai"].id
    )
    await _refused("initiative_state",
                   drafting.submit(session, lan, complete.id, now=now, tz=TZ))  # type: ignore[arg-type]
    await _refused("initiative_state",
                   drafting.resubmit(session, lan, complete.id, now=now))  # type: ignore[arg-type]


async def test_the_same_draft_submitted_twice_at_once_is_submitted_once(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    """Her Telegram and her Zalo tap Submit (or Delete) at the same moment: two chats, so two
    sessions run side by side, and both read a draft. SQLite has no FOR UPDATE: the second is
    refused by the conditional write, and changes nothing."""
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    first, second = await _complete(session, lan), await _complete(session, lan)
    ids = (first.id, second.id)
    await session.commit()
    factory = database.create_session_factory(engine)
    for initiative_id, again in zip(ids, ("submit", "delete"), strict=True):
        async with factory() as other:
            seen = await other.get(Initiative, initiative_id)  # the other chat's read
            her = await other.get(Member, lan.id)
            assert seen is not None and seen.status == S.DRAFT
            await drafting.submit(session, lan, initiative_id, now=utcnow(), tz=TZ)  # type: ignore[arg-type]
            await session.commit()
            late = (
                drafting.submit(other, her, initiative_id, now=utcnow(), tz=TZ)  # type: ignore[arg-type]
                if again == "submit" else drafting.delete_draft(other, her, initiative_id)  # type: ignore[arg-type]
            )
            error = await _refused("initiative_state", late)
            assert error.params["status"] == "submitted"
            await other.rollback()
    session.expire_all()
    for initiative_id in ids:
        submitted = await session.get(Initiative, initiative_id)
        assert submitted is not None and submitted.status == S.SUBMITTED
        assert [e.to_status for e in await history(session, submitted)] == [S.SUBMITTED]
        assert len(await authors_of(session, submitted)) == 1


async def test_a_draft_cannot_be_resubmitted_nor_a_returned_one_submitted(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan, _, returned = await _returned(session, units)
    draft = await _complete(session, lan)
    await _refused("initiative_state", drafting.submission_check(
        session, lan, draft.id, to=S.RESUBMITTED,  # type: ignore[arg-type]
    ))
    await _refused("initiative_state", drafting.resubmit(session, lan, draft.id, now=utcnow()))  # type: ignore[arg-type]
    await _refused("initiative_state", drafting.submission_check(
        session, lan, returned.id, to=S.SUBMITTED,  # type: ignore[arg-type]
    ))
    await _refused("initiative_state",
                   drafting.submit(session, lan, returned.id, now=utcnow(), tz=TZ))  # type: ignore[arg-type]
    assert (draft.status, returned.status) == (S.DRAFT, S.RETURNED)


async def test_a_union_that_is_no_longer_active_receives_nothing(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    complete = await _complete(session, lan)
    trai = await session.get(OrgUnit, units["trai"].id)
    assert trai is not None
    trai.is_active = False
    session.add(trai)
    await _refused("ini_unit_inactive",
                   drafting.submit(session, lan, complete.id, now=utcnow(), tz=TZ))  # type: ignore[arg-type]


async def _returned(session: AsyncSession, units: dict) -> tuple[Member, Member, Initiative]:
    """Lan's initiative (with Bình) returned by a council of two: Mai (chair) and Hùng."""
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    binh = await make_member(session, units["trai"], "Trần Văn Bình")
    mai = await make_reviewer(session, units["trai"], "Phạm Thị Mai")
    hung = await make_reviewer(session, units["trai"], "Vũ Văn Hùng")
    initiative = await make_initiative(session, lan, co_authors=[binh])
    await transition(session, initiative, S.UNDER_REVIEW, actor_member_id=None)
    initiative.round = 1
    scored = utcnow()
    session.add_all([
        ReviewSeat(initiative_id=initiative.id, round=1, reviewer_member_id=mai.id,  # type: ignore[arg-type]
                   is_chair=True, novelty=6, effectiveness=5, applicability=7,
                   comment="Cần số liệu đối chứng.", scored_at=scored),
        ReviewSeat(initiative_id=initiative.id, round=1, reviewer_member_id=hung.id,  # type: ignore[arg-type]
                   novelty=7, effectiveness=6, applicability=6, comment="  ", scored_at=scored),
    ])
    initiative.council_comment = "Bổ sung số liệu hai học kỳ."
    await transition(session, initiative, S.RETURNED, actor_member_id=mai.id,
                     comment="Trả lại để bổ sung")
    return lan, binh, initiative


async def test_a_returned_initiative_shows_the_councils_words_and_is_resubmitted(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan, binh, initiative = await _returned(session, units)
    ini = initiative.id
    assert ini is not None

    card = await drafting.card(session, lan, ini)
    assert card.council_comment == "Bổ sung số liệu hai học kỳ."
    assert card.reviewer_comments == ["Cần số liệu đối chứng."]  # no names, no empty ones
    assert card.can_edit and card.can_resubmit
    assert [(s.status, s.author, s.unit, s.comment) for s in card.steps] == [
        (S.UNDER_REVIEW, None, "Trường THCS Nguyễn Trãi", None),
        (S.RETURNED, None, "Trường THCS Nguyễn Trãi", "Trả lại để bổ sung"),
    ]
    co = await drafting.card(session, binh, ini)
    assert co.reviewer_comments == card.reviewer_comments
    assert not co.can_edit and not co.can_resubmit

    await drafting.set_text(session, lan, ini, Part.BENEFITS, "Tăng từ 60% lên 92% (2 học kỳ).")
    await _refused("ini_submitter_only", drafting.resubmit(session, binh, ini, now=utcnow()))
    await _refused("ini_note_too_long",
                   drafting.resubmit(session, lan, ini, "x" * 2001, now=utcnow()))
    resubmitted = await drafting.resubmit(session, lan, ini, "  Đã bổ sung số liệu.  ",
                                          now=utcnow())
    assert (resubmitted.status, resubmitted.unit_id) == (S.RESUBMITTED, units["trai"].id)
    last = (await history(session, resubmitted))[-1]
    assert (last.from_status, last.to_status, last.actor_member_id, last.comment) == (
        S.RETURNED, S.RESUBMITTED, lan.id, "Đã bổ sung số liệu."
    )
    card = await drafting.card(session, lan, ini)
    assert card.council_comment is None and card.reviewer_comments == []  # back in the queue
    assert card.steps[-1].author == "Nguyễn Thị Lan"
    await _refused("initiative_state", drafting.set_title(session, lan, ini, "Sửa nữa"))


async def test_the_card_names_the_recognitions_and_a_rejections_reason(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    accepted = await make_initiative(session, lan, "Được công nhận")
    for status in (S.UNDER_REVIEW, S.ACCEPTED):
        await transition(session, accepted, status, actor_member_id=None)
    session.add(Recognition(initiative_id=accepted.id, level="school",  # type: ignore[arg-type]
                            unit_id=units["trai"].id, certificate_no="12/QĐ-CĐCS",  # type: ignore[arg-type]
                            school_year="2026-2027"))
    rejected = await make_initiative(session, lan, "Không được công nhận")
    rejected.council_comment = "Trùng với sáng kiến đã công nhận năm trước."
    for status in (S.UNDER_REVIEW, S.REJECTED):
        await transition(session, rejected, status, actor_member_id=None)

    card = await drafting.card(session, lan, accepted.id)  # type: ignore[arg-type]
    assert [(r.level, r.unit, r.certificate_no, r.school_year) for r in card.recognitions] == [
        ("school", "Trường THCS Nguyễn Trãi", "12/QĐ-CĐCS", "2026-2027")
    ]
    assert card.council_comment is None and not card.can_edit
    card = await drafting.card(session, lan, rejected.id)  # type: ignore[arg-type]
    assert card.council_comment == "Trùng với sáng kiến đã công nhận năm trước."
    assert card.reviewer_comments == [] and card.recognitions == []


async def test_refusals_are_domain_errors_of_the_right_kind(session: AsyncSession) -> None:
    """Handlers show a refused answer again (InvalidInput) but end the flow otherwise."""
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    binh = await make_member(session, units["trai"], "Trần Văn Bình")
    ini = (await drafting.start_draft(session, lan)).id
    with pytest.raises(InvalidInput):
        await drafting.set_title(session, lan, ini, "x")  # type: ignore[arg-type]
    with pytest.raises(NotAllowed):
        await drafting.set_title(session, binh, ini, "Tên hợp lệ")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await drafting.set_title(session, lan, 999_999, "Tên hợp lệ")
