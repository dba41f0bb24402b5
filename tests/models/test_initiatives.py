"""The shared rules of initiatives, without a chat: the allowed path of states, the levels of
the councils and where an initiative goes up to, conflicts of interest, the form's order."""

from __future__ import annotations

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from models.errors import NotAllowed
from models.initiatives import (
    TRANSITIONS,
    InitiativeStatus,
    RecognitionLevel,
    authors_of,
    form_sections,
    history,
    is_author,
    members_to_notify,
    next_level,
    transition,
    unit_level,
)
from models.members import MemberStatus
from models.org import OrgKind
from tests.factories import make_initiative, make_member, make_tree, make_unit

S = InitiativeStatus


def test_only_the_review_path_is_allowed() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (S.DRAFT, S.SUBMITTED), (S.SUBMITTED, S.UNDER_REVIEW),
        (S.UNDER_REVIEW, S.RETURNED), (S.UNDER_REVIEW, S.ACCEPTED),
        (S.UNDER_REVIEW, S.REJECTED), (S.RETURNED, S.RESUBMITTED),
        (S.RESUBMITTED, S.UNDER_REVIEW), (S.ACCEPTED, S.SUBMITTED),
    }


async def test_a_transition_is_recorded_with_who_and_why(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"])
    initiative = await make_initiative(session, lan)
    await transition(session, initiative, S.UNDER_REVIEW, actor_member_id=lan.id, comment="ok")
    with pytest.raises(NotAllowed) as refused:
        await transition(session, initiative, S.SUBMITTED, actor_member_id=lan.id)
    assert refused.value.code == "initiative_state"
    [event] = await history(session, initiative)
    assert (event.from_status, event.to_status, event.actor_member_id, event.comment) == (
        S.SUBMITTED, S.UNDER_REVIEW, lan.id, "ok"
    )
    assert (event.unit_id, event.level) == (units["trai"].id, RecognitionLevel.SCHOOL)
    assert initiative.status == S.UNDER_REVIEW


async def test_levels_follow_the_tree_and_forwarding_goes_to_the_next_one(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    assert await unit_level(session, units["trai"]) == RecognitionLevel.SCHOOL
    assert await unit_level(session, units["district"]) == RecognitionLevel.DISTRICT
    assert await unit_level(session, units["edu"]) == RecognitionLevel.CITY
    assert await next_level(session, units["trai"], RecognitionLevel.SCHOOL) == (
        units["district"], RecognitionLevel.DISTRICT
    )
    assert await next_level(session, units["district"], RecognitionLevel.DISTRICT) == (
        units["edu"], RecognitionLevel.CITY
    )
    assert await next_level(session, units["edu"], RecognitionLevel.CITY) is None
    # A high school run by the city's education union goes straight to the city.
    high_school = await make_unit(session, "Trường THPT Chu Văn An", parent=units["edu"])
    assert await next_level(session, high_school, RecognitionLevel.SCHOOL) == (
        units["edu"], RecognitionLevel.CITY
    )
    # A closed district is skipped.
    units["district"].is_active = False
    assert await next_level(session, units["trai"], RecognitionLevel.SCHOOL) == (
        units["edu"], RecognitionLevel.CITY
    )
    assert units["city"].kind == OrgKind.FEDERATION


async def test_authors_are_told_and_never_review_their_own(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    hoa = await make_member(session, units["trai"], "Lê Thị Hoa")
    left = await make_member(session, units["trai"], "Đỗ Văn Nam", status=MemberStatus.REJECTED)
    other = await make_member(session, units["du"], "Vũ Minh")
    initiative = await make_initiative(
        session, lan, co_authors=[hoa, left, "Cô Hằng (trường khác)"], shares=[40, 30, 20, 10]
    )
    assert [a.name for a in await authors_of(session, initiative)] == [
        "Nguyễn Thị Lan", "Lê Thị Hoa", "Đỗ Văn Nam", "Cô Hằng (trường khác)"
    ]
    assert [m.id for m in await members_to_notify(session, initiative)] == [lan.id, hoa.id]
    assert await is_author(session, initiative, hoa.id)
    assert await is_author(session, initiative, left.id)
    assert not await is_author(session, initiative, other.id)
    assert not await is_author(session, initiative, None)


async def test_the_form_reads_in_the_order_of_the_request(session: AsyncSession) -> None:
    units = await make_tree(session)
    lan = await make_member(session, units["trai"], "Nguyễn Thị Lan")
    initiative = await make_initiative(session, lan, status=S.DRAFT)
    initiative.benefits = None
    sections = form_sections(initiative, await authors_of(session, initiative))
    assert [s.label_key.split(".")[-1] for s in sections] == [
        "title", "field", "authors", "problem", "solution", "first_applied", "benefits",
        "confidential",
    ]
    assert [s.label_key for s in sections if s.missing] == ["initiative.form.benefits"]
    assert sections[2].text == "Nguyễn Thị Lan — 100%"
    assert sections[5].text == "15/09/2025 — Trường THCS Nguyễn Trãi"
    assert sections[7].value_key == "initiative.form.nothing_confidential"
