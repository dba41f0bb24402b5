"""The audit log: who did what, when, before and after; after an erasure, the fact only."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Role, appoint
from models.audit import ERASED, entries_about, entries_by, forget_member_data, record, snapshot
from tests.factories import actor_of, make_member, make_official, make_tree


async def test_an_entry_keeps_who_what_and_the_member_before_and_after(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    official = await make_official(session, tree["district"], telegram_id=9001)
    actor = await actor_of(session, official)
    lan = await make_member(session, tree["trai"], phone="+84912345678")
    before = snapshot(lan)
    lan.unit_id = tree["du"].id
    await record(session, actor, "move_member", target_type="member", target_id=lan.id,
                 before=before, after=snapshot(lan))
    await session.commit()

    [entry] = await entries_about(session, target_type="member", target_id=lan.id)
    assert entry.actor_member_id == official.id
    assert entry.actor_identity_id == actor.identity.id
    assert entry.action == "move_member"
    assert entry.before["unit_id"] == tree["trai"].id and entry.after["unit_id"] == tree["du"].id
    assert entry.before["phone"] == "+84912345678"
    assert entry.at is not None and entry.at.tzinfo is not None
    assert [e.id for e in await entries_by(session, member_id=official.id)] == [entry.id]


async def test_forgetting_a_member_keeps_the_fact_and_drops_the_data(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    admin = await make_official(session, tree["edu"], role=Role.ADMIN)
    actor = await actor_of(session, admin)
    lan = await make_member(session, tree["trai"], "Nguyễn Thị Lan")
    await appoint(session, actor, member=lan, role=Role.REVIEWER, unit=tree["trai"])
    await record(session, actor, "approve", target_type="member", target_id=lan.id,
                 before=snapshot(lan), after=snapshot(lan))
    other = await make_member(session, tree["du"], "Lê Văn Tám")
    await record(session, actor, "approve", target_type="member", target_id=other.id,
                 after=snapshot(other))

    lan_id, other_id, admin_id = lan.id, other.id, admin.id
    assert await forget_member_data(session, member_id=lan_id) == 1
    await session.commit()
    session.expire_all()
    [entry] = await entries_about(session, target_type="member", target_id=lan_id)
    assert entry.action == "approve" and entry.actor_member_id == admin_id
    assert entry.before == ERASED and entry.after == ERASED
    [kept] = await entries_about(session, target_type="member", target_id=other_id)
    assert kept.after["full_name"] == "Lê Văn Tám"
