"""Joining the union, as the domain sees it: validation, order of questions, consent, confirm."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import onboarding as flow
from models.audit import entries_about
from models.base import fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import (
    ConsentPurpose,
    ConsentRecord,
    Gender,
    Identity,
    Member,
    MemberStatus,
    Position,
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
from tests.factories import make_member, make_tree, make_unit


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


async def test_a_rejected_member_who_corrects_their_profile_asks_again(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    identity = await _consenting_identity(session)
    member = await make_member(session, units["trai"], "Nguyễn Thị Lan",
                               status=MemberStatus.REJECTED)
    member.status_reason = "Sai trường"
    identity.member_id = member.id
    session.add_all([member, identity])
    await session.flush()

    edit = await flow.begin_profile_edit(session, identity=identity, member=member)
    await flow.edit_answer(session, edit, Step.UNIT)
    assert await flow.answer_unit(session, edit, units["du"].id) == Step.SUMMARY
    joined = await flow.confirm(session, draft=edit, identity=identity, locale="vi")
    # Back in the queue, of the union they now name, without the old reason.
    assert joined.member.id == member.id and member.unit_id == units["du"].id
    assert member.status == MemberStatus.PENDING and member.status_reason is None


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


# --- roster matching ---------------------------------------------------------------------------


async def _roster_record(session: AsyncSession, unit, name="Nguyễn Thị Lan",  # type: ignore[no-untyped-def]
                         phone="+84912345678", code="DV001") -> Member:
    """A member imported from the unit's roster: active, no chat account, gaps left empty."""
    # The import writes "other" for a position the roster does not give.
    record = await make_member(
        session, unit, name, phone=phone, member_code=code, gender=None, position=Position.OTHER
    )
    record.date_of_birth = date(1985, 3, 2)
    session.add(record)
    await session.flush()
    return record


async def _at_phone(session: AsyncSession, unit, name: str, external_id: str = "1001"):  # type: ignore[no-untyped-def]
    """A draft with every answer up to the phone, and its identity."""
    identity = await _consenting_identity(session, external_id)
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, name)
    await flow.answer_unit(session, draft, unit.id)
    await flow.answer_position(session, draft, "teacher")
    await flow.answer_gender(session, draft, "female", identity=identity, locale="vi")
    return draft, identity


async def _share(session: AsyncSession, draft, identity, phone="0912345678") -> Step:  # type: ignore[no-untyped-def]
    return await flow.answer_phone(
        session, draft, phone, identity=identity, locale="vi", from_contact=True
    )


async def _type(session: AsyncSession, draft, identity, phone="0912 345 678") -> Step:  # type: ignore[no-untyped-def]
    return await flow.answer_phone(session, draft, phone, identity=identity, locale="vi")


async def _members(session: AsyncSession) -> list[Member]:
    return list((await session.exec(select(Member).order_by(Member.id))).all())


async def test_a_shared_contact_is_offered_the_roster_record_whatever_name_was_typed(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["du"], "Lan Nguyễn")
    assert await _share(session, draft, identity, "84912345678") == Step.ROSTER
    assert draft.roster_member_id == record.id
    offer = await flow.roster_offer(session, draft)
    assert offer.name == "Nguyễn Thị Lan" and offer.unit.id == units["trai"].id


async def test_a_typed_phone_with_the_same_name_without_diacritics_is_offered(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["trai"], "NGUYEN thi  lan")
    assert await _type(session, draft, identity) == Step.ROSTER
    assert draft.roster_member_id == record.id
    offer = await flow.roster_offer(session, draft)
    # Only what the person typed: the name as they typed it, and no union.
    assert offer.name == "NGUYEN thi lan" and offer.unit is None


async def test_a_typed_phone_with_another_name_is_not_offered_and_reveals_nothing(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["du"], "Trần Văn Minh")
    assert await _type(session, draft, identity) == Step.SUMMARY
    assert draft.roster_member_id is None
    with pytest.raises(NotFound):
        await flow.roster_offer(session, draft)
    shown = await flow.preview(session, draft)
    assert (shown.full_name, shown.unit.id, shown.roster_member) == (
        "Trần Văn Minh", units["du"].id, None
    )
    assert not await flow.refresh_roster(session, draft)  # confirming does not find it either
    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert joined.created and not joined.from_roster
    assert joined.member.status == MemberStatus.PENDING


async def test_a_record_claimed_by_a_chat_account_is_never_offered(session: AsyncSession) -> None:
    units = await make_tree(session)
    await make_member(session, units["trai"], "Nguyễn Thị Lan", phone="+84912345678",
                      zalo_id=77, member_code="DV001")
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    assert await _share(session, draft, identity) == Step.SUMMARY
    assert draft.roster_member_id is None


async def test_a_number_two_records_share_matches_neither(session: AsyncSession) -> None:
    units = await make_tree(session)
    await _roster_record(session, units["trai"], "Nguyễn Thị Lan", code="DV001")
    await _roster_record(session, units["du"], "Nguyễn Văn Nam", code="DV002")
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    assert await _share(session, draft, identity) == Step.SUMMARY
    assert draft.roster_member_id is None
    typed, typed_identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan", "1002")
    assert await _type(session, typed, typed_identity) == Step.SUMMARY


async def test_erased_and_rejected_records_are_not_offered(session: AsyncSession) -> None:
    units = await make_tree(session)
    erased = await _roster_record(session, units["trai"], phone="+84912345678", code="DV001")
    erased.erased_at = utcnow()
    rejected = await _roster_record(session, units["trai"], phone="+84987654321", code="DV002")
    rejected.status = MemberStatus.REJECTED
    session.add_all([erased, rejected])
    await session.flush()
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    assert await _share(session, draft, identity, "0912345678") == Step.SUMMARY
    assert await _share(session, draft, identity, "0987654321") == Step.SUMMARY


async def test_yes_joins_the_roster_record_without_a_duplicate(session: AsyncSession) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["du"], "Lan Nguyễn")
    identity.locale = "en"
    await _share(session, draft, identity)
    assert await flow.answer_roster(session, draft, True) == Step.SUMMARY
    shown = await flow.preview(session, draft)  # the summary shows what will be saved
    assert (shown.full_name, shown.unit.id, shown.position, shown.gender) == (
        "Nguyễn Thị Lan", units["trai"].id, "teacher", "female"
    )
    assert shown.roster_member.member_code == "DV001"
    # Name and union come from the roster; position and gender fill its gaps; the phone stays.
    assert await flow.editable_steps(session, draft) == (Step.POSITION, Step.GENDER, Step.PHONE)

    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert (joined.created, joined.from_roster, joined.phone_proven) == (False, True, True)
    assert joined.member.id == record.id and identity.member_id == record.id
    [member] = await _members(session)
    assert (member.full_name, member.unit_id, member.member_code, member.date_of_birth) == (
        "Nguyễn Thị Lan", units["trai"].id, "DV001", date(1985, 3, 2)
    )
    assert (member.position, member.gender, member.phone) == ("teacher", "female", "+84912345678")
    assert member.status == MemberStatus.ACTIVE and member.locale == "en"
    assert await has_consent(session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP)
    assert await flow.get_draft(session, identity) is None
    [entry] = await entries_about(session, target_type="member", target_id=record.id)
    assert entry.action == "member.roster_claim" and entry.actor_member_id == record.id
    assert entry.after["channel"] == "telegram" and entry.after["phone_proven"] is True


async def test_a_typed_phone_yes_asks_the_officials_and_leaves_the_record_alone(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    before = (record.full_name, record.unit_id, record.position, record.gender, record.status,
              record.member_code, record.locale, record.updated_at)
    # Even an invite that approves at once does not take a claim past the officials.
    invite = await create_invite(session, code="AUTO1", unit_id=units["trai"].id,
                                 auto_approve=True)
    identity = await ensure_identity(session, channel="zalo", external_id="z-lan")
    await record_consent(
        session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP, granted=True, locale="vi"
    )
    draft = await flow.start_onboarding(session, identity=identity, invite=invite)
    await flow.answer_name(session, draft, "Nguyen Thi Lan")
    await flow.answer_position(session, draft, "teacher")
    await flow.answer_gender(session, draft, "female", identity=identity, locale="vi")
    assert await _type(session, draft, identity) == Step.ROSTER
    assert await flow.answer_roster(session, draft, True) == Step.SUMMARY

    # The summary shows the person's own answers in the record's union, nothing of the record.
    shown = await flow.preview(session, draft)
    assert shown.roster_claim and shown.roster_member is None
    assert (shown.full_name, shown.unit.id, shown.position, shown.gender) == (
        "Nguyen Thi Lan", units["trai"].id, "teacher", "female"
    )
    assert await flow.editable_steps(session, draft) == (Step.POSITION, Step.GENDER, Step.PHONE)

    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    claim = joined.member
    assert joined.created and not joined.from_roster and joined.claimed.id == record.id
    assert claim.id != record.id and identity.member_id == claim.id
    assert (claim.full_name, claim.unit_id, claim.position, claim.gender, claim.phone) == (
        "Nguyen Thi Lan", units["trai"].id, "teacher", "female", "+84912345678"
    )
    assert claim.status == MemberStatus.PENDING and claim.claims_member_id == record.id
    assert claim.member_code is None and claim.date_of_birth is None
    after = (record.full_name, record.unit_id, record.position, record.gender, record.status,
             record.member_code, record.locale, record.updated_at)
    assert after == before and record.claims_member_id is None
    assert not (await session.exec(select(Identity).where(Identity.member_id == record.id))).all()
    assert await entries_about(session, target_type="member", target_id=record.id) == []
    [entry] = await entries_about(session, target_type="member", target_id=claim.id)
    assert entry.action == "member.roster_claim_requested" and entry.before is None
    assert entry.after["claims_member_id"] == record.id and entry.after["status"] == "pending"
    assert entry.after["full_name"] == "Nguyen Thi Lan" and entry.after["member_code"] is None


async def test_a_pending_claim_does_not_hide_the_record_from_its_owners_contact(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan", "1001")
    await _type(session, draft, identity)
    await flow.answer_roster(session, draft, True)
    claim = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert claim.member.claims_member_id == record.id

    # The real Lan shares her own contact from Telegram: her record, at once.
    owner, owner_identity = await _at_phone(session, units["trai"], "Lan", "1002")
    assert await _share(session, owner, owner_identity) == Step.ROSTER
    assert owner.roster_member_id == record.id
    await flow.answer_roster(session, owner, True)
    joined = await flow.confirm(session, draft=owner, identity=owner_identity, locale="vi")
    assert joined.member.id == record.id and joined.from_roster
    assert owner_identity.member_id == record.id and identity.member_id == claim.member.id


async def test_the_roster_keeps_what_it_has_and_the_answers_only_fill_gaps(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    record = await make_member(session, units["trai"], "Nguyễn Thị Lan", phone="+84912345678",
                               position=Position.MANAGER, gender=Gender.FEMALE)
    draft, identity = await _at_phone(session, units["trai"], "Lan")
    await flow.answer_gender(session, draft, "undisclosed", identity=identity, locale="vi")
    await _share(session, draft, identity)
    await flow.answer_roster(session, draft, True)
    assert await flow.editable_steps(session, draft) == (Step.PHONE,)
    with pytest.raises(InvalidInput):
        await flow.edit_answer(session, draft, Step.NAME)
    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert joined.member.id == record.id and joined.phone_proven
    assert (record.full_name, record.position, record.gender) == (
        "Nguyễn Thị Lan", "manager", "female"
    )


async def test_no_creates_a_new_pending_member_and_leaves_the_record_alone(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    before = (record.full_name, record.unit_id, record.position, record.gender, record.status,
              record.member_code, record.locale, record.updated_at)
    draft, identity = await _at_phone(session, units["du"], "Nguyễn Thị Lan")
    await _share(session, draft, identity)
    assert await flow.answer_roster(session, draft, False) == Step.SUMMARY
    assert draft.roster_member_id is None and (await flow.preview(session, draft)).unit.id == (
        units["du"].id
    )
    assert not await flow.refresh_roster(session, draft)  # "no" is not asked again
    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert joined.created and not joined.from_roster and joined.member.id != record.id
    assert joined.member.status == MemberStatus.PENDING and joined.member.unit_id == units["du"].id
    after = (record.full_name, record.unit_id, record.position, record.gender, record.status,
             record.member_code, record.locale, record.updated_at)
    assert after == before
    assert not (await session.exec(select(Identity).where(Identity.member_id == record.id))).all()


async def test_the_roster_question_must_be_answered_before_confirming(
    session: AsyncSession,
) -> None:
    units = await make_tree(session)
    await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    await _share(session, draft, identity)
    with pytest.raises(InvalidInput):
        await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    with pytest.raises(InvalidInput):  # only the "is this yours" question takes this answer
        await flow.answer_roster(session, await _summary_draft(session, units), True)
    assert len(await _members(session)) == 1


async def _summary_draft(session: AsyncSession, units: dict):  # type: ignore[no-untyped-def]
    draft, identity = await _at_phone(session, units["du"], "Trần Văn Minh", "2002")
    await _type(session, draft, identity, "0977000111")
    return draft


async def test_a_record_claimed_meanwhile_is_not_joined(session: AsyncSession) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    await _share(session, draft, identity)
    other, other_identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan", "1002")
    await _share(session, other, other_identity)
    await flow.answer_roster(session, draft, True)
    await flow.answer_roster(session, other, True)
    await flow.confirm(session, draft=other, identity=other_identity, locale="vi")

    # The first account is not handed the record: confirming is refused until they have seen
    # the summary again, which now creates a new member for the officials to check.
    with pytest.raises(NotAllowed) as refused:
        await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert refused.value.code == "onboarding_roster_changed"
    assert await flow.refresh_roster(session, draft)
    assert draft.step == Step.SUMMARY and draft.roster_member_id is None
    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert joined.created and joined.member.id != record.id
    assert joined.member.status == MemberStatus.PENDING
    claimed = (await session.exec(select(Identity).where(Identity.member_id == record.id))).all()
    assert [i.external_id for i in claimed] == ["1002"]


async def test_saying_yes_to_a_record_claimed_meanwhile_is_refused(session: AsyncSession) -> None:
    units = await make_tree(session)
    record = await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    await _share(session, draft, identity)
    session.add(Identity(channel="zalo", external_id="9", member_id=record.id))
    await session.flush()
    with pytest.raises(NotAllowed) as refused:
        await flow.answer_roster(session, draft, True)
    assert refused.value.code == "onboarding_roster_gone"
    assert await flow.answer_roster(session, draft, False) == Step.SUMMARY


async def test_a_roster_imported_before_confirming_is_offered_then(session: AsyncSession) -> None:
    units = await make_tree(session)
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    await _share(session, draft, identity)
    assert draft.step == Step.SUMMARY
    record = await _roster_record(session, units["trai"])  # the official imports the roster
    with pytest.raises(NotAllowed):
        await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert await flow.refresh_roster(session, draft)
    assert draft.step == Step.ROSTER and draft.roster_member_id == record.id
    await flow.answer_roster(session, draft, True)
    assert not await flow.refresh_roster(session, draft)
    joined = await flow.confirm(session, draft=draft, identity=identity, locale="vi")
    assert joined.member.id == record.id and len(await _members(session)) == 1


async def test_a_new_phone_is_a_new_match(session: AsyncSession) -> None:
    units = await make_tree(session)
    await _roster_record(session, units["trai"])
    draft, identity = await _at_phone(session, units["trai"], "Nguyễn Thị Lan")
    await _share(session, draft, identity)
    await flow.answer_roster(session, draft, True)
    await flow.edit_answer(session, draft, Step.PHONE)
    assert await _type(session, draft, identity, "0977000111") == Step.SUMMARY
    assert draft.roster_member_id is None and draft.roster_accepted is None
    await flow.edit_answer(session, draft, Step.PHONE)
    assert await _type(session, draft, identity) == Step.ROSTER  # asked again, even mid-edit
    assert not draft.phone_proven


async def test_a_profile_edit_never_matches_a_roster_record(session: AsyncSession) -> None:
    units = await make_tree(session)
    await _roster_record(session, units["trai"])
    member = await make_member(session, units["trai"], "Nguyễn Thị Lan", telegram_id=1001)
    identity = (await session.exec(select(Identity).where(Identity.member_id == member.id))).one()
    edit = await flow.begin_profile_edit(session, identity=identity, member=member)
    await flow.edit_answer(session, edit, Step.PHONE)
    assert await _share(session, edit, identity) == Step.SUMMARY
    joined = await flow.confirm(session, draft=edit, identity=identity, locale="vi")
    assert joined.member.id == member.id and not joined.from_roster
