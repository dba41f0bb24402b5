"""Invite codes: made by officials for the grassroots unions in their scope, expiring or not,
revocable, every step audited; a code works with /start until it expires or is revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Role
from models.audit import entries_about
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.invites import (
    CODE_ALPHABET,
    CODE_LENGTH,
    browse_scope,
    get_invite,
    grassroots_in_scope,
    invite_unit,
    invites_of_unit,
    new_invite,
    revoke_invite,
    search_in_scope,
)
from models.members import resolve_invite
from models.org import OrgKind
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit


@pytest.fixture
async def tree(session: AsyncSession) -> dict:
    units = await make_tree(session)
    other = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm", parent=units["edu"],
                            kind=OrgKind.INDUSTRY_UNION)
    units["other_school"] = await make_unit(session, "Trường THCS Trưng Vương", parent=other)
    return units


async def test_a_school_chair_makes_an_invite_that_works_with_start(
    session: AsyncSession, tree: dict
) -> None:
    chair = await make_official(session, tree["trai"])
    actor = await actor_of(session, chair)

    invite = await new_invite(
        session, actor, unit=tree["trai"], expires_in=timedelta(days=7), auto_approve=True
    )

    assert len(invite.code) == CODE_LENGTH and set(invite.code) <= set(CODE_ALPHABET)
    assert invite.unit_id == tree["trai"].id and invite.auto_approve
    assert invite.created_by_member_id == chair.id
    assert invite.expires_at is not None
    assert timedelta(days=6, hours=23) < invite.expires_at - utcnow() <= timedelta(days=7)
    assert (await resolve_invite(session, invite.code)).id == invite.id
    assert (await resolve_invite(session, invite.code.lower())).id == invite.id  # typed
    [entry] = await entries_about(session, target_type="invite", target_id=invite.id)
    assert entry.action == "invite.create" and entry.actor_member_id == chair.id
    assert entry.after["code"] == invite.code and entry.after["auto_approve"] is True


async def test_codes_are_different_each_time(session: AsyncSession, tree: dict) -> None:
    actor = await actor_of(session, await make_official(session, tree["trai"]))
    codes = {
        (await new_invite(session, actor, unit=tree["trai"], expires_in=None,
                          auto_approve=False)).code
        for _ in range(20)
    }
    assert len(codes) == 20


async def test_an_invite_without_expiry_works_until_revoked(
    session: AsyncSession, tree: dict
) -> None:
    district = await make_official(session, tree["district"])
    actor = await actor_of(session, district)
    invite = await new_invite(
        session, actor, unit=tree["du"], expires_in=None, auto_approve=False
    )
    assert invite.expires_at is None
    assert [i.id for i in await invites_of_unit(session, actor, unit=tree["du"])] == [invite.id]

    await revoke_invite(session, actor, invite=invite)

    with pytest.raises(NotFound) as refused:
        await resolve_invite(session, invite.code)
    assert refused.value.code == "invite_invalid"
    assert await invites_of_unit(session, actor, unit=tree["du"]) == []
    entries = await entries_about(session, target_type="invite", target_id=invite.id)
    assert [e.action for e in entries] == ["invite.create", "invite.revoke"]
    assert entries[1].before["revoked"] is False and entries[1].after["revoked"] is True
    with pytest.raises(NotAllowed) as again:  # a second tap on "revoke"
        await revoke_invite(session, actor, invite=invite)
    assert again.value.code == "invite_not_active"


async def test_an_expired_invite_is_refused_and_no_longer_listed(
    session: AsyncSession, tree: dict
) -> None:
    actor = await actor_of(session, await make_official(session, tree["trai"]))
    invite = await new_invite(
        session, actor, unit=tree["trai"], expires_in=timedelta(days=7), auto_approve=True
    )
    invite.expires_at = utcnow() - timedelta(seconds=1)
    session.add(invite)
    await session.flush()

    with pytest.raises(NotFound) as refused:
        await resolve_invite(session, invite.code)
    assert refused.value.code == "invite_expired"
    assert await invites_of_unit(session, actor, unit=tree["trai"]) == []


async def test_invites_are_refused_outside_the_officials_scope(
    session: AsyncSession, tree: dict
) -> None:
    chair = await actor_of(session, await make_official(session, tree["trai"]))
    district = await actor_of(session, await make_official(session, tree["district"]))
    teacher = await actor_of(session, await make_member(session, tree["trai"], telegram_id=31))
    for actor, unit in (
        (chair, tree["du"]),  # a sibling school
        (district, tree["other_school"]),  # another district's school
        (teacher, tree["trai"]),  # a member is not an official
    ):
        with pytest.raises(NotAllowed) as refused:
            await new_invite(session, actor, unit=unit, expires_in=None, auto_approve=True)
        assert refused.value.code == "not_allowed"
        with pytest.raises(NotAllowed):
            await invite_unit(session, actor, unit_id=unit.id)

    theirs = await new_invite(
        session, district, unit=tree["trai"], expires_in=None, auto_approve=False
    )
    outsider = await actor_of(
        session, await make_official(session, tree["other_school"], "Chủ tịch TV")
    )
    with pytest.raises(NotAllowed):
        await get_invite(session, outsider, invite_id=theirs.id)
    with pytest.raises(NotAllowed):
        await revoke_invite(session, outsider, invite=theirs)
    with pytest.raises(NotAllowed):
        await invites_of_unit(session, outsider, unit=tree["trai"])
    assert (await resolve_invite(session, theirs.code)).id == theirs.id  # still works


async def test_only_grassroots_unions_get_invites(session: AsyncSession, tree: dict) -> None:
    actor = await actor_of(session, await make_official(session, tree["edu"]))
    with pytest.raises(InvalidInput) as refused:
        await new_invite(
            session, actor, unit=tree["district"], expires_in=None, auto_approve=False
        )
    assert refused.value.code == "invite_not_grassroots"
    with pytest.raises(InvalidInput):
        await invite_unit(session, actor, unit_id=tree["district"].id)
    with pytest.raises(InvalidInput) as bad_expiry:
        await new_invite(
            session, actor, unit=tree["trai"], expires_in=timedelta(0), auto_approve=False
        )
    assert bad_expiry.value.code == "invite_expiry_invalid"


async def test_the_choice_of_union_is_limited_to_the_scope(
    session: AsyncSession, tree: dict
) -> None:
    chair = await actor_of(session, await make_official(session, tree["trai"]))
    district = await actor_of(session, await make_official(session, tree["district"]))
    admin = await actor_of(
        session, await make_official(session, tree["edu"], "Quản trị", role=Role.ADMIN)
    )

    assert [u.id for u in (await grassroots_in_scope(session, chair))[0]] == [tree["trai"].id]
    units, total = await grassroots_in_scope(session, district)
    assert total == 2 and {u.id for u in units} == {tree["trai"].id, tree["du"].id}
    assert (await grassroots_in_scope(session, admin))[1] == 3

    found = await search_in_scope(session, district, text="nguyen")
    assert [u.id for u in found] == [tree["trai"].id, tree["du"].id]  # by name
    assert await search_in_scope(session, district, text="trung vuong") == []
    assert [u.id for u in await search_in_scope(session, admin, text="trung vuong")] == [
        tree["other_school"].id
    ]

    top = await browse_scope(session, district, parent_id=0)
    assert [u.id for u in top.units] == [tree["district"].id] and top.up_id is None
    level = await browse_scope(session, district, parent_id=tree["district"].id)
    assert {u.id for u in level.units} == {tree["trai"].id, tree["du"].id}
    assert level.up_id == 0  # above their own unit is the top of their scope, not the tree
    with pytest.raises(NotAllowed):
        await browse_scope(session, district, parent_id=tree["edu"].id)
    assert (await browse_scope(session, admin, parent_id=tree["district"].id)).up_id == (
        tree["edu"].id
    )
    with pytest.raises(NotAllowed) as not_official:
        await grassroots_in_scope(
            session, await actor_of(session, await make_member(session, tree["du"]))
        )
    assert not_official.value.code == "officials_only"
