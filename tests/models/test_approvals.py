"""The approval queue: officials see who waits in their scope, oldest first, and approve or
reject them (with a reason), one by one or all at once; every decision is audited, and a
decision outside the scope, or on someone no longer waiting, is refused and changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from models.access import Role, RoleAssignment
from models.approvals import (
    REASON_MAX,
    approve,
    approve_all,
    count_pending,
    member_to_decide,
    pending_in_scope,
    reject,
)
from models.audit import ERASED, entries_about, forget_member_data, snapshot
from models.audit import record as record_entry
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.linking import issue_link_code
from models.members import Gender, Identity, Member, MemberStatus, Position, identities_of
from models.org import OrgKind
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit

PENDING = MemberStatus.PENDING


@pytest.fixture
async def world(session: AsyncSession) -> dict:
    """The sample tree, a second district with a school, an official at the district and at
    each school, and people waiting in three schools."""
    units = await make_tree(session)
    other = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm", parent=units["edu"],
                            kind=OrgKind.INDUSTRY_UNION)
    units["other_school"] = await make_unit(session, "Trường THCS Trưng Vương", parent=other)
    officials = {
        "district": await make_official(session, units["district"], "Cán bộ Quận"),
        "trai": await make_official(session, units["trai"], "Chủ tịch CĐ Trãi"),
        "other": await make_official(session, units["other_school"], "Chủ tịch CĐ TV"),
        "admin": await make_official(session, units["edu"], "Quản trị", role=Role.ADMIN),
    }
    waiting = {
        "lan": await make_member(session, units["trai"], "Nguyễn Thị Lan", status=PENDING),
        "hoa": await make_member(session, units["du"], "Lê Thị Hoa", status=PENDING),
        "tam": await make_member(session, units["trai"], "Lê Văn Tám", status=PENDING),
        "minh": await make_member(session, units["other_school"], "Phạm Minh", status=PENDING),
    }
    await make_member(session, units["trai"], "Đã duyệt")  # active: not in the queue
    actors = {name: await actor_of(session, person) for name, person in officials.items()}
    return {"units": units, "actors": actors, "waiting": waiting, "officials": officials}


async def test_each_official_sees_the_queue_of_their_scope_oldest_first(
    session: AsyncSession, world: dict
) -> None:
    actors, waiting = world["actors"], world["waiting"]
    page = await pending_in_scope(session, actors["district"], offset=0, limit=10)
    assert [m.full_name for m, _ in page.members] == ["Nguyễn Thị Lan", "Lê Thị Hoa",
                                                      "Lê Văn Tám"]
    assert page.total == 3 and page.newest_id == waiting["tam"].id
    assert page.members[0][1].name == "Trường THCS Nguyễn Trãi"

    second = await pending_in_scope(session, actors["district"], offset=2, limit=2)
    assert [m.id for m, _ in second.members] == [waiting["tam"].id] and second.total == 3
    trai = await pending_in_scope(session, actors["trai"], offset=0, limit=10)
    assert [m.id for m, _ in trai.members] == [waiting["lan"].id, waiting["tam"].id]
    assert (await pending_in_scope(session, actors["admin"], offset=0, limit=10)).total == 4
    assert await count_pending(session, actors["other"]) == 1

    teacher = await actor_of(session, await make_member(session, world["units"]["du"]))
    with pytest.raises(NotAllowed) as refused:
        await pending_in_scope(session, teacher, offset=0, limit=10)
    assert refused.value.code == "officials_only"


async def test_approving_activates_the_member_and_is_audited(
    session: AsyncSession, world: dict
) -> None:
    lan = world["waiting"]["lan"]
    actor = world["actors"]["trai"]
    await approve(session, actor, member=lan)
    assert lan.status == MemberStatus.ACTIVE
    [entry] = await entries_about(session, target_type="member", target_id=lan.id)
    assert entry.action == "member.approve" and entry.actor_member_id == world["officials"][
        "trai"
    ].id
    assert entry.before["status"] == "pending" and entry.after["status"] == "active"

    with pytest.raises(NotAllowed) as stale:  # an old button, or a second official
        await approve(session, world["actors"]["district"], member=lan)
    assert stale.value.code == "not_pending"
    with pytest.raises(NotAllowed):
        await reject(session, actor, member=lan, reason="Sai trường")
    assert lan.status == MemberStatus.ACTIVE
    assert len(await entries_about(session, target_type="member", target_id=lan.id)) == 1


async def test_rejecting_needs_a_reason_that_the_member_keeps(
    session: AsyncSession, world: dict
) -> None:
    hoa = world["waiting"]["hoa"]
    actor = world["actors"]["district"]
    for reason in ("", "   ", "x" * (REASON_MAX + 1)):
        with pytest.raises(InvalidInput) as refused:
            await reject(session, actor, member=hoa, reason=reason)
        assert refused.value.code == "reject_reason_invalid"
    assert hoa.status == PENDING
    assert await entries_about(session, target_type="member", target_id=hoa.id) == []

    await reject(session, actor, member=hoa, reason="  Không phải giáo viên của trường  ")
    assert hoa.status == MemberStatus.REJECTED
    assert hoa.status_reason == "Không phải giáo viên của trường"
    [entry] = await entries_about(session, target_type="member", target_id=hoa.id)
    assert entry.action == "member.reject"
    assert entry.after["status_reason"] == "Không phải giáo viên của trường"
    assert entry.before["status"] == "pending"


async def test_decisions_outside_the_scope_are_refused_and_change_nothing(
    session: AsyncSession, world: dict
) -> None:
    waiting, actors = world["waiting"], world["actors"]
    for actor, member in (
        (actors["trai"], waiting["hoa"]),  # the sibling school's teacher
        (actors["district"], waiting["minh"]),  # another district's
        (actors["other"], waiting["lan"]),
    ):
        with pytest.raises(NotAllowed) as refused:
            await approve(session, actor, member=member)
        assert refused.value.code == "not_allowed"
        with pytest.raises(NotAllowed):
            await reject(session, actor, member=member, reason="Không rõ")
        with pytest.raises(NotAllowed):
            await member_to_decide(session, actor, member_id=member.id)
        assert member.status == PENDING
        assert await entries_about(session, target_type="member", target_id=member.id) == []
    with pytest.raises(NotFound):
        await member_to_decide(session, actors["admin"], member_id=10**9)
    assert (await member_to_decide(session, actors["admin"], member_id=waiting["minh"].id)).id == (
        waiting["minh"].id
    )


async def test_approve_all_takes_the_whole_scope_and_nobody_else(
    session: AsyncSession, world: dict
) -> None:
    waiting = world["waiting"]
    approved = await approve_all(session, world["actors"]["district"])
    assert [m.id for m in approved] == [waiting["lan"].id, waiting["hoa"].id, waiting["tam"].id]
    assert all(m.status == MemberStatus.ACTIVE for m in approved)
    assert waiting["minh"].status == PENDING
    for member in approved:
        [entry] = await entries_about(session, target_type="member", target_id=member.id)
        assert entry.action == "member.approve"
    assert await approve_all(session, world["actors"]["district"]) == []


async def test_approve_all_leaves_whoever_asked_after_the_list_was_shown(
    session: AsyncSession, world: dict
) -> None:
    actor = world["actors"]["trai"]
    shown = await pending_in_scope(session, actor, offset=0, limit=5)
    late = await make_member(session, world["units"]["trai"], "Người đến sau", status=PENDING)
    approved = await approve_all(session, actor, up_to_member_id=shown.newest_id)
    assert [m.id for m in approved] == [m.id for m, _ in shown.members]
    assert late.status == PENDING


# --- roster claims: a typed phone and name, checked by an official -----------------------------


async def _claim(session: AsyncSession, units: dict, *, record_unit: str = "trai") -> tuple:  # type: ignore[type-arg]
    """A roster record (gaps left empty) and a pending person on Zalo who claims it, as
    onboarding leaves them (models/onboarding.py)."""
    record = await make_member(
        session, units[record_unit], "Nguyễn Thị Lan", phone="+84912345678", member_code="DV001",
        position=Position.OTHER, gender=None,
    )
    record.date_of_birth = date(1985, 3, 2)
    claim = await make_member(
        session, units[record_unit], "Nguyen Thi Lan", zalo_id=501, status=PENDING,
        phone="+84912345678", position=Position.TEACHER, gender=Gender.FEMALE, locale="en",
    )
    claim.claims_member_id = record.id
    session.add_all([record, claim])
    await session.flush()
    return record, claim


def _kept(record: Member) -> tuple:  # type: ignore[type-arg]
    return (record.full_name, record.unit_id, record.position, record.gender, record.status,
            record.member_code, record.date_of_birth, record.locale, record.phone)


async def _accounts(session: AsyncSession, member_id: int) -> list[str]:
    rows = await session.exec(select(Identity).where(Identity.member_id == member_id))
    return sorted(f"{i.channel}:{i.external_id}" for i in rows.all())


async def test_the_queue_names_the_roster_record_a_person_claims(
    session: AsyncSession, world: dict
) -> None:
    record, claim = await _claim(session, world["units"])
    page = await pending_in_scope(session, world["actors"]["trai"], offset=0, limit=10)
    assert claim.id in [m.id for m, _ in page.members]
    assert page.claims == {claim.id: record}

    record.erased_at = utcnow()  # /deleteme meanwhile: the queue shows nothing of the record
    session.add(record)
    await session.flush()
    page = await pending_in_scope(session, world["actors"]["trai"], offset=0, limit=10)
    assert claim.id in [m.id for m, _ in page.members] and page.claims == {}


async def test_approving_a_claim_links_the_person_to_the_roster_record(
    session: AsyncSession, world: dict
) -> None:
    record, claim = await _claim(session, world["units"])
    claim_id = claim.id
    code = await issue_link_code(session, identity=(await identities_of(session, claim_id))[0])
    linked = await approve(session, world["actors"]["trai"], member=claim)

    # One member: the record, with the person's account; the pending row is gone.
    assert linked.id == record.id
    assert await _accounts(session, record.id) == ["zalo:501"]
    assert await session.get(Member, claim_id) is None
    assert code.member_id == record.id  # a /link code from the waiting days still works
    # The roster keeps its name, union, code and date of birth; the answers fill its gaps.
    assert _kept(record) == ("Nguyễn Thị Lan", world["units"]["trai"].id, "teacher", "female",
                             "active", "DV001", date(1985, 3, 2), "en", "+84912345678")
    [entry] = await entries_about(session, target_type="member", target_id=record.id)
    assert entry.action == "member.roster_claim_approved"
    assert entry.actor_member_id == world["officials"]["trai"].id
    assert (entry.before["position"], entry.before["gender"]) == ("other", None)
    assert (entry.after["position"], entry.after["merged_member_id"]) == ("teacher", claim_id)
    with pytest.raises(NotFound):  # a second official's button: nobody left to decide on
        await member_to_decide(session, world["actors"]["district"], member_id=claim_id)


@pytest.mark.parametrize("change", ["joined", "erased", "moved_away", "role"])
async def test_a_claim_on_a_record_no_longer_free_is_approved_as_a_new_member(
    session: AsyncSession, world: dict, change: str
) -> None:
    units = world["units"]
    record, claim = await _claim(session, units)
    if change == "joined":  # someone shared the record's own phone from Telegram meanwhile
        session.add(Identity(channel="telegram", external_id="9", member_id=record.id))
    elif change == "erased":
        record.erased_at = utcnow()
    elif change == "moved_away":  # outside this official's scope now
        record.unit_id = units["other_school"].id
    else:  # something else points at the pending row: it is kept
        session.add(
            RoleAssignment(member_id=claim.id, role=Role.REVIEWER, unit_id=units["trai"].id)
        )
    session.add(record)
    await session.flush()
    before = _kept(record)

    approved = await approve(session, world["actors"]["trai"], member=claim)
    assert approved.id == claim.id and approved.status == MemberStatus.ACTIVE
    assert approved.claims_member_id is None and approved.full_name == "Nguyen Thi Lan"
    assert await _accounts(session, claim.id) == ["zalo:501"]
    assert _kept(record) == before
    assert "zalo:501" not in await _accounts(session, record.id)
    [entry] = await entries_about(session, target_type="member", target_id=claim.id)
    assert entry.action == "member.approve" and entry.after["roster_claim_not_linked"] == record.id


async def test_rejecting_a_claim_leaves_the_roster_record_alone(
    session: AsyncSession, world: dict
) -> None:
    record, claim = await _claim(session, world["units"])
    before = _kept(record)
    await reject(session, world["actors"]["trai"], member=claim, reason="Không phải cô Lan")
    assert claim.status == MemberStatus.REJECTED
    assert _kept(record) == before and await _accounts(session, record.id) == []
    assert await entries_about(session, target_type="member", target_id=record.id) == []


async def test_approve_all_links_claims_like_one_by_one(
    session: AsyncSession, world: dict
) -> None:
    record, claim = await _claim(session, world["units"])
    claim_id = claim.id
    approved = await approve_all(session, world["actors"]["trai"])
    waiting = world["waiting"]
    assert [m.id for m in approved] == [waiting["lan"].id, waiting["tam"].id, record.id]
    assert await _accounts(session, record.id) == ["zalo:501"]
    assert await session.get(Member, claim_id) is None


async def test_a_second_official_who_saw_the_member_pending_is_refused_and_changes_nothing(
    engine: AsyncEngine, session: AsyncSession, world: dict
) -> None:
    """Two officials tap at once. SQLite has no FOR UPDATE, so both may read "pending": the one
    who writes second is refused instead of overwriting the first decision."""
    lan_id = world["waiting"]["lan"].id
    await session.commit()
    async with database.create_session_factory(engine)() as other:
        seen = await other.get(Member, lan_id)  # the second official's read: still pending
        assert seen is not None and seen.status == PENDING
        await approve(session, world["actors"]["trai"], member=world["waiting"]["lan"])
        await session.commit()
        with pytest.raises(NotAllowed) as refused:
            await reject(other, world["actors"]["district"], member=seen, reason="Sai trường")
        assert refused.value.code == "not_pending"
        await other.rollback()
    session.expire_all()
    lan = await session.get(Member, lan_id)
    assert lan is not None and lan.status == MemberStatus.ACTIVE and lan.status_reason is None
    [entry] = await entries_about(session, target_type="member", target_id=lan_id)
    assert entry.action == "member.approve"


async def test_erasing_a_linked_member_forgets_what_they_typed_when_they_claimed(
    session: AsyncSession, world: dict
) -> None:
    record, claim = await _claim(session, world["units"])
    claim_id = claim.id
    await record_entry(session, None, "member.roster_claim_requested", target_type="member",
                       target_id=claim_id, after=snapshot(claim))
    await approve(session, world["actors"]["trai"], member=claim)

    assert await forget_member_data(session, member_id=record.id) == 2
    session.expire_all()
    [requested] = await entries_about(session, target_type="member", target_id=claim_id)
    assert requested.action == "member.roster_claim_requested" and requested.after == ERASED
