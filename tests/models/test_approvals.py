"""The approval queue: officials see who waits in their scope, oldest first, and approve or
reject them (with a reason), one by one or all at once; every decision is audited, and a
decision outside the scope, or on someone no longer waiting, is refused and changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Role
from models.approvals import (
    REASON_MAX,
    approve,
    approve_all,
    count_pending,
    member_to_decide,
    pending_in_scope,
    reject,
)
from models.audit import entries_about
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import MemberStatus
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
