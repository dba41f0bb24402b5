"""The member's side of movements without a chat: what a member sees (her union's movements,
her colleagues' count), registering, changing, withdrawing and registering again until the
deadline, where her registrations stand by school year, and the self-assessment in its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import movement_members as mm
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import MemberStatus
from models.movements import (
    Evidence,
    Movement,
    MovementStatus,
    Registration,
    RegistrationStatus,
    register,
    register_unit,
    withdraw,
)
from models.org import OrgUnit
from tests.factories import (
    actor_of,
    make_member,
    make_movement,
    make_official,
    make_tree,
    make_unit,
)

NOW = datetime(2026, 10, 15, 3, 0, tzinfo=UTC)
MB = 2**20


async def _assessing(session: AsyncSession, owner: OrgUnit, **options: object) -> Movement:
    """A movement whose registration closed yesterday and whose self-assessment is open now."""
    return await make_movement(
        session, owner, "Dạy tốt – học tốt",
        registration_deadline=NOW - timedelta(days=1),
        assessment_opens=NOW - timedelta(days=1),
        assessment_closes=NOW + timedelta(days=10),
        **options,  # type: ignore[arg-type]
    )


EARLIER = NOW - timedelta(days=5)  # before the deadline of `_assessing` movements


# --- what a member sees --------------------------------------------------------------------------


async def test_the_list_holds_her_unions_open_and_closed_movements_with_her_registration(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    other_district = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                     parent=tree["edu"])
    lan = await make_member(session, tree["trai"])
    older = await make_movement(session, tree["edu"], "Lao động sáng tạo")
    closed = await make_movement(session, tree["district"], "Trường học hạnh phúc",
                                 status=MovementStatus.CLOSED)
    newest = await make_movement(session, tree["district"], "Giỏi việc trường")
    await make_movement(session, other_district, "Of another district")
    await make_movement(session, tree["district"], "Draft", status=MovementStatus.DRAFT)
    await make_movement(session, tree["district"], "Archived", status=MovementStatus.ARCHIVED)
    await register(session, member=lan, movement=newest, title_code="LDTT",
                   now=datetime.now(UTC))

    first, total = await mm.list_movements(session, lan, offset=0, limit=2)
    second, _ = await mm.list_movements(session, lan, offset=2, limit=2)

    assert total == 3
    assert [item.movement.id for item in first + second] == [newest.id, closed.id, older.id]
    assert first[0].registration is not None and first[0].registration.title_code == "LDTT"
    assert first[1].registration is None and second[0].registration is None


async def test_non_members_pending_and_rejected_members_are_told_why(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    pending = await make_member(session, tree["trai"], status=MemberStatus.PENDING)
    rejected = await make_member(session, tree["trai"], "Bị từ chối",
                                 status=MemberStatus.REJECTED)
    with pytest.raises(NotFound, match="movement_not_member"):
        await mm.list_movements(session, None)
    with pytest.raises(NotAllowed, match="movement_member_pending"):
        await mm.list_movements(session, pending)
    with pytest.raises(NotAllowed, match="movement_members_only"):
        await mm.card(session, rejected, movement.id, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="movement_member_pending"):
        await mm.registration_choice(session, pending, movement.id, now=NOW)  # type: ignore[arg-type]


async def test_the_colleagues_count_is_her_unions_registrations_without_the_withdrawn(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    now = datetime.now(UTC)
    trai = [await make_member(session, tree["trai"], f"Giáo viên {n}") for n in range(4)]
    for member in trai[:3]:
        await register(session, member=member, movement=movement, title_code="LDTT", now=now)
    await withdraw(session, member=trai[2], movement=movement, now=now)
    du = await make_member(session, tree["du"], "Ở trường khác")
    await register(session, member=du, movement=movement, title_code="LDTT", now=now)
    chair = await make_official(session, tree["trai"], "Chủ tịch")
    await register_unit(session, await actor_of(session, chair), unit=tree["trai"],
                        movement=movement, title_code="TTLDXS", now=now)

    assert await mm.colleagues_registered(session, movement, tree["trai"].id) == 2  # type: ignore[arg-type]
    card = await mm.card(session, trai[3], movement.id, now=now)  # type: ignore[arg-type]
    assert card.colleagues == 2 and card.registration is None and card.can_register
    assert [t["code"] for t in card.titles] == ["GVTDVN", "LDTT", "CSTDCS"]  # no collective


# --- registering ---------------------------------------------------------------------------------


async def test_register_change_the_title_withdraw_and_register_again_keep_one_row(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    now = datetime.now(UTC)

    choice = await mm.registration_choice(session, lan, movement.id, now=now)  # type: ignore[arg-type]
    assert choice.current is None and next(t["code"] for t in choice.titles) == "GVTDVN"
    first = await register(session, member=lan, movement=movement, title_code="GVTDVN",
                           commitment="  Hoàn thành xuất sắc nhiệm vụ  ", now=now)
    assert first.commitment == "Hoàn thành xuất sắc nhiệm vụ"
    card = await mm.card(session, lan, movement.id, now=now)  # type: ignore[arg-type]
    assert card.stage is mm.Stage.REGISTERED and card.can_change and not card.can_register
    assert card.colleagues == 1

    changing = await mm.registration_choice(session, lan, movement.id, now=now)  # type: ignore[arg-type]
    assert changing.current is not None and changing.current.id == first.id
    await register(session, member=lan, movement=movement, title_code="CSTDCS", now=now)
    assert (await mm.withdrawal_check(session, lan, movement.id, now=now)).id == first.id  # type: ignore[arg-type]
    await withdraw(session, member=lan, movement=movement, now=now)
    card = await mm.card(session, lan, movement.id, now=now)  # type: ignore[arg-type]
    assert card.stage is mm.Stage.WITHDRAWN and card.can_register and not card.can_change
    assert card.colleagues == 0
    with pytest.raises(NotFound, match="registration_gone"):
        await mm.withdrawal_check(session, lan, movement.id, now=now)  # type: ignore[arg-type]

    again = await mm.registration_choice(session, lan, movement.id, now=now)  # type: ignore[arg-type]
    assert again.current is None  # registering anew, not changing
    await register(session, member=lan, movement=movement, title_code="LDTT", now=now)
    rows = (await session.exec(select(Registration))).all()
    assert [(r.id, r.title_code, r.status) for r in rows] == [
        (first.id, "LDTT", RegistrationStatus.REGISTERED)
    ]


async def test_after_the_deadline_registering_changing_and_withdrawing_are_refused(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    deadline = NOW
    movement = await make_movement(session, tree["district"], registration_deadline=deadline)
    lan = await make_member(session, tree["trai"])
    binh = await make_member(session, tree["trai"], "Trần Thị Bình")
    await register(session, member=lan, movement=movement, title_code="LDTT",
                   now=deadline - timedelta(minutes=1))
    after = deadline + timedelta(minutes=1)

    for who in (lan, binh):
        with pytest.raises(NotAllowed, match="registration_closed"):
            await mm.registration_choice(session, who, movement.id, now=after)  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="registration_closed"):
        await mm.withdrawal_check(session, lan, movement.id, now=after)  # type: ignore[arg-type]
    card = await mm.card(session, lan, movement.id, now=after)  # type: ignore[arg-type]
    assert not card.registration_open and not card.can_change and not card.can_register
    assert card.registration is not None  # her registration stands
    assert card.registration.status == RegistrationStatus.REGISTERED


async def test_a_movement_outside_her_union_is_refused_even_named_by_a_forged_button(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    other_district = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                     parent=tree["edu"])
    elsewhere = await make_movement(session, other_district, "Of another district")
    draft = await make_movement(session, tree["district"], "Draft", status=MovementStatus.DRAFT)
    lan = await make_member(session, tree["trai"])
    now = datetime.now(UTC)

    with pytest.raises(NotAllowed, match="movement_not_for_you"):
        await mm.card(session, lan, elsewhere.id, now=now)  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="movement_not_for_you"):
        await mm.registration_choice(session, lan, elsewhere.id, now=now)  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="movement_not_for_you"):
        await register(session, member=lan, movement=elsewhere, title_code="LDTT", now=now)
    for gone in (draft.id, 999999):
        with pytest.raises(NotFound, match="movement_gone"):
            await mm.registration_choice(session, lan, gone, now=now)  # type: ignore[arg-type]
    assert (await session.exec(select(Registration))).all() == []


# --- where her registrations stand ---------------------------------------------------------------


async def test_my_registrations_are_grouped_by_school_year_with_where_each_stands(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    last_year = await make_movement(session, tree["district"], "Năm trước",
                                    school_year="2025-2026",
                                    registration_deadline=NOW - timedelta(days=300),
                                    assessment_opens=NOW - timedelta(days=200),
                                    assessment_closes=NOW - timedelta(days=100))
    assessing = await _assessing(session, tree["district"])
    approving = await make_movement(session, tree["district"], "Cần duyệt",
                                    requires_approval=True, registration_deadline=NOW
                                    + timedelta(days=3))
    await register(session, member=lan, movement=last_year, title_code="CSTDCS",
                   now=NOW - timedelta(days=400))
    old = (await session.exec(select(Registration))).one()
    old.status, old.result_note = RegistrationStatus.ACHIEVED, "Đạt, có sáng kiến tốt"
    await register(session, member=lan, movement=assessing, title_code="LDTT", now=EARLIER)
    await register(session, member=lan, movement=approving, title_code="LDTT", now=NOW)

    years = await mm.my_registrations(session, lan, now=NOW)

    assert [year.year for year in years] == ["2026-2027", "2025-2026"]
    stages = {m.movement.name: m.stage for year in years for m in year.registrations}
    assert stages == {
        "Năm trước": mm.Stage.ACHIEVED,
        "Dạy tốt – học tốt": mm.Stage.ASSESSMENT_DUE,
        "Cần duyệt": mm.Stage.AWAITING_APPROVAL,
    }
    assert years[1].registrations[0].registration.result_note == "Đạt, có sáng kiến tốt"
    # Before the window opens the same registration is simply "registered".
    before = await mm.my_registrations(session, lan, now=NOW - timedelta(days=2))
    assert mm.Stage.REGISTERED in {m.stage for m in before[0].registrations}
    with pytest.raises(NotFound, match="movement_not_member"):
        await mm.my_registrations(session, None, now=NOW)


# --- the self-assessment -------------------------------------------------------------------------


async def test_the_self_assessment_is_refused_outside_its_window(session: AsyncSession) -> None:
    tree = await make_tree(session)
    movement = await _assessing(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    await register(session, member=lan, movement=movement, title_code="LDTT", now=EARLIER)

    for moment in (movement.assessment_opens - timedelta(minutes=1), movement.assessment_closes):
        with pytest.raises(NotAllowed, match="assessment_closed"):
            await mm.start_assessment(session, lan, movement.id, now=moment)  # type: ignore[arg-type]
        with pytest.raises(NotAllowed, match="assessment_closed"):
            await mm.answer_criterion(session, lan, movement.id, "Đã làm", now=moment)  # type: ignore[arg-type]
    draft = await mm.start_assessment(session, lan, movement.id, now=NOW)  # type: ignore[arg-type]
    assert draft.next_criterion == 0


async def test_texts_are_saved_one_criterion_at_a_time_so_leaving_resumes(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await _assessing(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    await register(session, member=lan, movement=movement, title_code="LDTT", now=EARLIER)
    mid: int = movement.id  # type: ignore[assignment]

    draft = await mm.answer_criterion(session, lan, mid, "  Dạy đủ, đúng chương trình  ",
                                      now=NOW)
    assert draft.next_criterion == 1 and draft.texts == ["Dạy đủ, đúng chương trình"]
    for wrong in ("   ", "x" * 1001):
        with pytest.raises(InvalidInput, match="assessment_text_length"):
            await mm.answer_criterion(session, lan, mid, wrong, now=NOW)
    await session.commit()
    session.expire_all()
    await session.refresh(lan)

    resumed = await mm.start_assessment(session, lan, mid, now=NOW)  # she came back
    assert resumed.next_criterion == 1 and resumed.texts == ["Dạy đủ, đúng chương trình"]
    done = await mm.answer_criterion(session, lan, mid, "x" * 1000, now=NOW)
    assert done.next_criterion is None and len(done.texts) == 2
    with pytest.raises(NotAllowed, match="assessment_texts_done"):
        await mm.answer_criterion(session, lan, mid, "Thêm", now=NOW)
    restarted = await mm.restart_assessment(session, lan, mid, now=NOW)
    assert restarted.next_criterion == 0 and restarted.texts == []


async def test_evidence_keeps_each_files_ids_and_refuses_big_repeated_and_too_many_files(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await _assessing(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    await register(session, member=lan, movement=movement, title_code="LDTT", now=EARLIER)
    mid: int = movement.id  # type: ignore[assignment]

    evidence, count = await mm.add_evidence(
        session, lan, mid, channel="telegram", kind="document", file_id="BQAC-1",
        file_unique_id="AQAD1", file_name="giao-an.pdf", size=20 * MB, now=NOW,
    )
    assert count == 1
    assert (evidence.kind, evidence.file_id, evidence.file_unique_id, evidence.file_name,
            evidence.size, evidence.channel) == (
        "document", "BQAC-1", "AQAD1", "giao-an.pdf", 20 * MB, "telegram"
    )
    with pytest.raises(InvalidInput, match="evidence_too_large"):
        await mm.add_evidence(session, lan, mid, channel="telegram", kind="document",
                              file_id="BQAC-2", file_unique_id="AQAD2", file_name="video.mp4",
                              size=20 * MB + 1, now=NOW)
    with pytest.raises(InvalidInput, match="evidence_duplicate"):
        await mm.add_evidence(session, lan, mid, channel="telegram", kind="document",
                              file_id="BQAC-1-again", file_unique_id="AQAD1", now=NOW)
    with pytest.raises(InvalidInput, match="evidence_kind"):
        await mm.add_evidence(session, lan, mid, channel="telegram", kind="video",
                              file_id="V", file_unique_id="V", now=NOW)
    # A Zalo photo is its address; it has no size.
    url = "https://photo.zalo.example/" + "a" * 300
    await mm.add_evidence(session, lan, mid, channel="zalo", kind="photo", file_id=url,
                          file_unique_id="f00d", now=NOW)
    for n in range(3, mm.EVIDENCE_MAX_FILES + 1):
        _, count = await mm.add_evidence(session, lan, mid, channel="telegram", kind="photo",
                                         file_id=f"AgAC-{n}", file_unique_id=f"P{n}",
                                         size=100_000, now=NOW)
    assert count == mm.EVIDENCE_MAX_FILES
    with pytest.raises(InvalidInput, match="evidence_too_many"):
        await mm.add_evidence(session, lan, mid, channel="telegram", kind="photo",
                              file_id="AgAC-11", file_unique_id="P11", now=NOW)
    await session.commit()
    kept = (await session.exec(select(Evidence).order_by(Evidence.id))).all()  # type: ignore[arg-type]
    assert len(kept) == mm.EVIDENCE_MAX_FILES and kept[1].file_id == url


async def test_submitting_needs_every_text_and_moves_only_a_registered_registration(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await _assessing(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    await register(session, member=lan, movement=movement, title_code="LDTT", now=EARLIER)
    mid: int = movement.id  # type: ignore[assignment]

    await mm.answer_criterion(session, lan, mid, "Một", now=NOW)
    with pytest.raises(InvalidInput, match="assessment_incomplete"):
        await mm.submit_assessment(session, lan, mid, now=NOW)
    await mm.answer_criterion(session, lan, mid, "Hai", now=NOW)
    registration = await mm.submit_assessment(session, lan, mid, now=NOW)
    assert registration.status == RegistrationStatus.SUBMITTED
    assert registration.submitted_at == NOW and registration.assessment == ["Một", "Hai"]
    for step in (mm.start_assessment, mm.submit_assessment, mm.restart_assessment):
        with pytest.raises(NotAllowed, match="assessment_already_submitted"):
            await step(session, lan, mid, now=NOW)
    (years,) = await mm.my_registrations(session, lan, now=NOW)
    assert years.registrations[0].stage is mm.Stage.SUBMITTED

    # Awaiting approval, withdrawn, or never registered: no self-assessment.
    approving = await _assessing(session, tree["district"], requires_approval=True)
    binh = await make_member(session, tree["trai"], "Trần Thị Bình")
    await register(session, member=binh, movement=approving, title_code="LDTT", now=EARLIER)
    with pytest.raises(NotAllowed, match="assessment_awaiting_approval"):
        await mm.start_assessment(session, binh, approving.id, now=NOW)  # type: ignore[arg-type]
    other = await _assessing(session, tree["district"])
    await register(session, member=binh, movement=other, title_code="LDTT", now=EARLIER)
    await withdraw(session, member=binh, movement=other, now=EARLIER)
    for movement_id in (other.id, mid):
        with pytest.raises(NotFound, match="registration_gone"):
            await mm.start_assessment(session, binh, movement_id, now=NOW)  # type: ignore[arg-type]
