"""Joining the union, as the domain sees it: validation, order of questions, consent, confirm."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import onboarding as flow
from models.base import fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import (
    ConsentPurpose,
    ConsentRecord,
    Member,
    MemberStatus,
    create_invite,
    ensure_identity,
    has_consent,
    normalize_phone,
    record_consent,
    resolve_invite,
    validate_full_name,
)
from models.onboarding import Step
from models.org import list_children, search_grassroots
from tests.factories import make_tree, make_unit


@pytest.mark.parametrize(
    "typed",
    ["Nguyễn Thị Lan", "Đặng Văn Ơn", "Lê Bá  Khánh   Trình", "  Ngô Bảo Châu  ", "An"],
)
def test_a_real_vietnamese_name_is_kept_as_typed(typed: str) -> None:
    assert validate_full_name(typed) == " ".join(typed.split())


def test_decomposed_accents_from_some_keyboards_are_kept_exactly() -> None:
    import unicodedata

    typed = unicodedata.normalize("NFD", "Nguyễn Thị Lan")
    assert validate_full_name(typed) == typed


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "name_too_short"),
        ("   ", "name_too_short"),
        ("A", "name_too_short"),
        ("a" * 101, "name_too_long"),
        ("Lan" * 200, "name_too_long"),
        ("😀😀😀", "name_bad_characters"),
        ("Nguyen Van 2", "name_bad_characters"),
        ("<b>Lan</b>", "name_bad_characters"),
    ],
)
def test_a_name_that_is_not_a_name_is_refused(typed: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_full_name(typed)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("0912345678", "+84912345678"),
        ("0912 345 678", "+84912345678"),
        ("091-234-5678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("(024) 3825 1234", "+842438251234"),
    ],
)
def test_a_typed_vietnamese_number_becomes_plus_84(typed: str, normalised: str) -> None:
    assert normalize_phone(typed) == normalised


@pytest.mark.parametrize("typed", ["12345", "hello", "09123456789012", "+44 20 7946 0958", ""])
def test_a_typed_number_that_is_not_vietnamese_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_phone(typed)


def test_a_shared_contact_may_carry_a_foreign_number() -> None:
    assert normalize_phone("442079460958", from_contact=True) == "+442079460958"


def test_folding_removes_accents_and_case() -> None:
    assert fold("Trường THCS Nguyễn Trãi") == "truong thcs nguyen trai"
    assert fold("ĐỖ  Đức") == "do duc"


async def test_search_finds_a_school_typed_without_accents(session: AsyncSession) -> None:
    units = await make_tree(session)
    found = await search_grassroots(session, text="nguyen trai")
    assert [u.id for u in found] == [units["trai"].id]
    assert {u.id for u in await search_grassroots(session, text="NGUYỄN")} == {
        units["trai"].id,
        units["du"].id,
    }
    assert await search_grassroots(session, text="ba dinh") == []  # a district, not a school
    assert await search_grassroots(session, text="100%_") == []


async def test_children_are_paged_in_name_order(session: AsyncSession) -> None:
    units = await make_tree(session)
    for i in range(10):
        await make_unit(session, f"Trường Mầm non số {i:02d}", parent=units["district"])
    first, total = await list_children(session, parent_id=units["district"].id, limit=8)
    second, _ = await list_children(session, parent_id=units["district"].id, offset=8, limit=8)
    assert total == 12
    assert len(first) == 8 and len(second) == 4
    assert [u.name_folded for u in first + second] == sorted(u.name_folded for u in first + second)


async def _consenting_identity(session: AsyncSession, external_id: str = "1001"):  # type: ignore[no-untyped-def]
    identity = await ensure_identity(session, channel="telegram", external_id=external_id)
    await record_consent(
        session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP, granted=True, locale="vi"
    )
    return identity


async def test_joining_without_consent_is_refused(session: AsyncSession) -> None:
    identity = await ensure_identity(session, channel="telegram", external_id="1")
    with pytest.raises(NotAllowed):
        await flow.start_onboarding(session, identity=identity)
    await record_consent(
        session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP, granted=False, locale="vi"
    )
    with pytest.raises(NotAllowed):
        await flow.start_onboarding(session, identity=identity)


async def test_a_refusal_is_recorded_and_nothing_else(session: AsyncSession) -> None:
    identity = await ensure_identity(session, channel="telegram", external_id="2")
    await record_consent(
        session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP, granted=False, locale="en"
    )
    records = (await session.exec(select(ConsentRecord))).all()
    assert [(r.purpose, r.granted, r.locale) for r in records] == [("membership", False, "en")]
    assert not await has_consent(session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP)
    assert await flow.get_draft(session, identity) is None
    assert (await session.exec(select(Member))).all() == []


async def test_questions_come_in_order_and_each_answer_is_saved(session: AsyncSession) -> None:
    units = await make_tree(session)
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    assert draft.step == Step.NAME
    assert await flow.answer_name(session, draft, "Nguyễn Thị Lan") == Step.UNIT
    assert (await flow.get_draft(session, identity)).full_name == "Nguyễn Thị Lan"
    assert await flow.answer_unit(session, draft, units["trai"].id) == Step.POSITION
    assert await flow.answer_position(session, draft, "teacher") == Step.GENDER
    step = await flow.answer_gender(session, draft, "female", identity=identity, locale="vi")
    assert step == Step.PHONE
    step = await flow.answer_phone(session, draft, "0912345678", identity=identity, locale="vi")
    assert step == Step.SUMMARY
    assert draft.phone == "+84912345678"
    assert await has_consent(session, identity=identity, purpose=ConsentPurpose.CONTACT_PHONE)
    assert await has_consent(session, identity=identity, purpose=ConsentPurpose.GENDER_STATISTICS)

    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert joined.created
    member = joined.member
    assert (member.full_name, member.unit_id, member.position, member.gender, member.phone) == (
        "Nguyễn Thị Lan", units["trai"].id, "teacher", "female", "+84912345678"
    )
    assert member.status == MemberStatus.PENDING
    assert identity.member_id == member.id
    assert await flow.get_draft(session, identity) is None


async def test_someone_elses_shared_contact_is_refused(session: AsyncSession) -> None:
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    with pytest.raises(InvalidInput) as refused:
        await flow.answer_phone(
            session, draft, "0912345678", identity=identity, locale="vi",
            from_contact=True, contact_is_own=False,
        )
    assert refused.value.code == "contact_not_yours" and not draft.phone_answered


async def test_gender_and_phone_can_be_declined(session: AsyncSession) -> None:
    units = await make_tree(session)
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Trần Văn Minh")
    await flow.answer_unit(session, draft, units["du"].id)
    await flow.answer_position(session, draft, "staff")
    await flow.answer_gender(session, draft, "undisclosed", identity=identity, locale="vi")
    await flow.answer_phone(session, draft, None, identity=identity, locale="vi")
    member = (await flow.confirm(session, draft=draft, identity=identity, locale="vi")).member
    assert member.gender is None and member.phone is None
    assert not await has_consent(session, identity=identity, purpose=ConsentPurpose.CONTACT_PHONE)


async def test_a_refused_answer_changes_nothing(session: AsyncSession) -> None:
    units = await make_tree(session)
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Nguyễn Thị Lan")
    with pytest.raises(NotFound):
        await flow.answer_unit(session, draft, 999_999)
    with pytest.raises(NotFound):  # a district is not a grassroots union
        await flow.answer_unit(session, draft, units["district"].id)
    assert draft.unit_id is None and draft.step == Step.UNIT
    await flow.answer_unit(session, draft, units["trai"].id)
    with pytest.raises(InvalidInput):
        await flow.answer_position(session, draft, "president")
    assert draft.position is None and draft.step == Step.POSITION


async def test_an_auto_approving_invite_presets_the_union_and_activates(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    invite = await create_invite(
        session, code="TRAI2026", unit_id=units["trai"].id, auto_approve=True
    )
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity, invite=invite)
    assert draft.unit_id == units["trai"].id
    await flow.answer_name(session, draft, "Phạm Thu Hà")
    assert draft.step == Step.POSITION  # the union question is skipped
    await flow.answer_position(session, draft, "teacher")
    await flow.answer_gender(session, draft, "female", identity=identity, locale="vi")
    await flow.answer_phone(session, draft, None, identity=identity, locale="vi")
    member = (await flow.confirm(session, draft=draft, identity=identity, locale="vi")).member
    assert member.status == MemberStatus.ACTIVE


async def test_changing_the_union_away_from_the_invite_needs_approval(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    invite = await create_invite(session, code="AUTO", unit_id=units["trai"].id, auto_approve=True)
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity, invite=invite)
    await flow.answer_name(session, draft, "Phạm Thu Hà")
    await flow.answer_position(session, draft, "teacher")
    await flow.answer_gender(session, draft, "female", identity=identity, locale="vi")
    await flow.answer_phone(session, draft, None, identity=identity, locale="vi")
    await flow.edit_answer(session, draft, Step.UNIT)
    assert await flow.answer_unit(session, draft, units["du"].id) == Step.SUMMARY
    member = (await flow.confirm(session, draft=draft, identity=identity, locale="vi")).member
    assert member.status == MemberStatus.PENDING


async def test_expired_and_unknown_invites_are_refused(session: AsyncSession) -> None:
    units = await make_tree(session)
    await create_invite(
        session, code="OLD", unit_id=units["trai"].id, expires_at=utcnow() - timedelta(days=1)
    )
    with pytest.raises(NotFound) as expired:
        await resolve_invite(session, "OLD")
    assert expired.value.code == "invite_expired"
    with pytest.raises(NotFound) as unknown:
        await resolve_invite(session, "NOPE")
    assert unknown.value.code == "invite_invalid"


async def test_a_member_edits_their_profile_through_the_summary(session: AsyncSession) -> None:
    units = await make_tree(session)
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Nguyễn Thị Lan")
    await flow.answer_unit(session, draft, units["trai"].id)
    await flow.answer_position(session, draft, "teacher")
    await flow.answer_gender(session, draft, "female", identity=identity, locale="vi")
    await flow.answer_phone(session, draft, None, identity=identity, locale="vi")
    member = (await flow.confirm(session, draft=draft, identity=identity, locale="vi")).member

    with pytest.raises(NotAllowed):
        await flow.start_onboarding(session, identity=identity)
    edit = await flow.begin_profile_edit(session, identity=identity, member=member)
    assert await flow.edit_answer(session, edit, Step.NAME) == Step.NAME
    assert await flow.answer_name(session, edit, "Nguyễn Thị Lan Anh") == Step.SUMMARY
    joined = await flow.confirm(session, draft=edit, identity=identity, locale="vi")
    assert not joined.created and joined.member.id == member.id
    assert member.full_name == "Nguyễn Thị Lan Anh"
    assert member.full_name_folded == "nguyen thi lan anh"
    assert len((await session.exec(select(Member))).all()) == 1


async def test_an_incomplete_draft_cannot_be_confirmed(session: AsyncSession) -> None:
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Nguyễn Thị Lan")
    with pytest.raises(InvalidInput):
        await flow.confirm(session, draft=draft, identity=identity, locale="vi")


async def test_cancelling_forgets_the_answers(session: AsyncSession) -> None:
    identity = await _consenting_identity(session)
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Nguyễn Thị Lan")
    assert await flow.discard_draft(session, identity=identity)
    session.expunge_all()
    assert await flow.get_draft(session, identity) is None
