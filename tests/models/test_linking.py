"""Linking a member's Telegram and Zalo accounts with a one-time code, as the domain sees it.

Time is passed in (`now=`), so expiry and the guessing lock are tested without waiting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import linking
from models import onboarding as flow
from models.base import fold, utcnow
from models.errors import DomainError, InvalidInput, NotAllowed, NotFound
from models.linking import (
    COUNTED_FAILURES,
    LINK_CODE_TTL,
    LINK_MAX_TRIES,
    LinkAttempt,
    issue_link_code,
    redeem_link_code,
)
from models.members import (
    Channel,
    ConsentPurpose,
    Identity,
    Member,
    MemberStatus,
    Position,
    consents_of,
    ensure_identity,
    identities_of,
    latest_consents,
    member_of,
    record_consent,
)
from tests.factories import make_unit

T0 = utcnow()


async def _member(
    session: AsyncSession, name: str, *, channel: str = Channel.TELEGRAM, external_id: str
) -> tuple[Member, Identity]:
    """A member who joined on `channel`, and that chat identity."""
    unit = await make_unit(session)
    member = Member(
        full_name=name,
        full_name_folded=fold(name),
        unit_id=unit.id,  # type: ignore[arg-type]
        position=Position.TEACHER,
        status=MemberStatus.ACTIVE,
    )
    session.add(member)
    await session.flush()
    identity = await ensure_identity(session, channel=channel, external_id=external_id)
    identity.member_id = member.id
    session.add(identity)
    await session.flush()
    return member, identity


async def _zalo(session: AsyncSession, external_id: str = "z-100") -> Identity:
    return await ensure_identity(session, channel=Channel.ZALO, external_id=external_id)


async def _refused(operation, error_type: type[DomainError] = DomainError) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(error_type) as refused:
        await operation
    return refused.value


async def _attempts(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(LinkAttempt))).one()


def _wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


async def test_a_code_from_telegram_links_the_zalo_account_to_the_same_member(
    session: AsyncSession,
) -> None:
    lan, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    zalo = await _zalo(session)

    issued = await issue_link_code(session, identity=telegram, now=T0)
    assert len(issued.code) == 6 and issued.code.isdigit()
    linked = await redeem_link_code(
        session, identity=zalo, code=issued.code, now=T0 + timedelta(minutes=9)
    )

    assert linked.id == lan.id and linked.full_name == "Nguyễn Thị Lan"
    assert (await member_of(session, zalo)) == lan
    assert [i.channel for i in await identities_of(session, lan.id)] == ["telegram", "zalo"]  # type: ignore[arg-type]


async def test_a_code_works_only_once(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    await redeem_link_code(session, identity=await _zalo(session, "z-1"), code=issued.code, now=T0)

    stranger = await _zalo(session, "z-2")
    refused = await _refused(
        redeem_link_code(session, identity=stranger, code=issued.code, now=T0), NotFound
    )
    assert refused.code == "link_code_wrong"
    assert stranger.member_id is None


async def test_a_code_from_zalo_links_a_telegram_account_too(session: AsyncSession) -> None:
    binh, zalo = await _member(
        session, "Trần Văn Bình", channel=Channel.ZALO, external_id="z-binh"
    )
    telegram = await ensure_identity(session, channel=Channel.TELEGRAM, external_id="222")
    issued = await issue_link_code(session, identity=zalo, now=T0)
    assert (await redeem_link_code(session, identity=telegram, code=issued.code, now=T0)) == binh


async def test_only_a_member_can_get_a_code(session: AsyncSession) -> None:
    newcomer = await _zalo(session)
    refused = await _refused(issue_link_code(session, identity=newcomer, now=T0), NotAllowed)
    assert refused.code == "link_not_member"


async def test_a_new_code_retires_the_previous_one(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    first = await issue_link_code(session, identity=telegram, now=T0)
    second = await issue_link_code(session, identity=telegram, now=T0 + timedelta(minutes=1))
    zalo = await _zalo(session)

    if first.code != second.code:  # one chance in a million that they are the same digits
        refused = await _refused(
            redeem_link_code(
                session, identity=zalo, code=first.code, now=T0 + timedelta(minutes=2)
            ),
            NotFound,
        )
        assert refused.code == "link_code_expired"
    await redeem_link_code(session, identity=zalo, code=second.code, now=T0 + timedelta(minutes=2))
    assert zalo.member_id == telegram.member_id


async def test_codes_have_six_digits_with_leading_zeros_and_never_clash_with_a_valid_one(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws = iter([42, 42, 7])
    monkeypatch.setattr(linking.secrets, "randbelow", lambda _n: next(draws))
    _, lan = await _member(session, "Nguyễn Thị Lan", external_id="111")
    _, binh = await _member(session, "Trần Văn Bình", external_id="222")

    assert (await issue_link_code(session, identity=lan, now=T0)).code == "000042"
    assert (await issue_link_code(session, identity=binh, now=T0)).code == "000007"


async def test_a_wrong_code_counts_down_the_tries_left(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    zalo = await _zalo(session)

    left = []
    for _ in range(LINK_MAX_TRIES):
        refused = await _refused(
            redeem_link_code(session, identity=zalo, code=_wrong_code(issued.code), now=T0),
            NotFound,
        )
        assert refused.code == "link_code_wrong"
        left.append(refused.params["left"])
    assert left == [4, 3, 2, 1, 0]
    assert zalo.member_id is None


async def test_five_failures_lock_even_the_right_code_until_ten_minutes_pass(
    session: AsyncSession,
) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    zalo = await _zalo(session)
    for _ in range(LINK_MAX_TRIES):
        with pytest.raises(NotFound):
            await redeem_link_code(session, identity=zalo, code=_wrong_code(issued.code), now=T0)

    refused = await _refused(
        redeem_link_code(session, identity=zalo, code=issued.code, now=T0), NotAllowed
    )
    assert refused.code == "link_too_many_tries" and refused.params == {"minutes": 10}
    almost = T0 + LINK_CODE_TTL - timedelta(seconds=30)
    refused = await _refused(
        redeem_link_code(session, identity=zalo, code=issued.code, now=almost), NotAllowed
    )
    assert refused.params == {"minutes": 1}
    assert zalo.member_id is None

    later = T0 + LINK_CODE_TTL
    fresh = await issue_link_code(session, identity=telegram, now=later)
    await redeem_link_code(session, identity=zalo, code=fresh.code, now=later)
    assert zalo.member_id == telegram.member_id


async def test_the_lock_counts_failures_of_this_account_only(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    guesser = await _zalo(session, "z-guesser")
    for _ in range(LINK_MAX_TRIES):
        with pytest.raises(NotFound):
            await redeem_link_code(
                session, identity=guesser, code=_wrong_code(issued.code), now=T0
            )

    zalo = await _zalo(session, "z-lan")
    await redeem_link_code(session, identity=zalo, code=issued.code, now=T0)
    assert zalo.member_id == telegram.member_id


async def test_an_expired_code_is_refused_and_counts_as_a_try(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    zalo = await _zalo(session)

    late = T0 + timedelta(minutes=11)
    refused = await _refused(
        redeem_link_code(session, identity=zalo, code=issued.code, now=late), NotFound
    )
    assert refused.code == "link_code_expired" and refused.code in COUNTED_FAILURES
    assert zalo.member_id is None
    refused = await _refused(
        redeem_link_code(session, identity=zalo, code=_wrong_code(issued.code), now=late),
        NotFound,
    )
    assert refused.params == {"left": LINK_MAX_TRIES - 2}


async def test_a_counted_failure_is_kept_once_the_caller_commits(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    zalo = await _zalo(session)
    await session.commit()

    with pytest.raises(NotFound) as refused:
        await redeem_link_code(session, identity=zalo, code=_wrong_code(issued.code), now=T0)
    assert refused.value.code in COUNTED_FAILURES
    await session.commit()  # what the handler does after a counted failure

    async with AsyncSession(engine) as other:
        assert await _attempts(other) == 1


async def test_a_code_cannot_be_used_on_the_app_that_made_it(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    other_telegram = await ensure_identity(session, channel=Channel.TELEGRAM, external_id="999")

    for identity in (other_telegram, telegram):
        refused = await _refused(
            redeem_link_code(session, identity=identity, code=issued.code, now=T0), NotAllowed
        )
        assert refused.code == "link_same_channel"
    assert other_telegram.member_id is None
    assert await _attempts(session) == 0  # not a guess: nothing is written

    zalo = await _zalo(session)
    await redeem_link_code(session, identity=zalo, code=issued.code, now=T0)
    assert zalo.member_id == telegram.member_id


async def test_an_account_with_a_profile_of_its_own_is_not_linked_to_another(
    session: AsyncSession,
) -> None:
    lan, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    binh, binh_zalo = await _member(
        session, "Trần Văn Bình", channel=Channel.ZALO, external_id="z-binh"
    )
    issued = await issue_link_code(session, identity=telegram, now=T0)

    refused = await _refused(
        redeem_link_code(session, identity=binh_zalo, code=issued.code, now=T0), NotAllowed
    )
    assert refused.code == "link_has_profile"
    assert binh_zalo.member_id == binh.id
    assert [i.id for i in await identities_of(session, lan.id)] == [telegram.id]  # type: ignore[arg-type]
    assert await _attempts(session) == 0


async def test_linking_an_account_twice_says_it_is_already_linked(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    zalo = await _zalo(session)
    first = await issue_link_code(session, identity=telegram, now=T0)
    await redeem_link_code(session, identity=zalo, code=first.code, now=T0)

    again = await issue_link_code(session, identity=telegram, now=T0 + timedelta(minutes=1))
    refused = await _refused(
        redeem_link_code(session, identity=zalo, code=again.code, now=T0 + timedelta(minutes=1)),
        InvalidInput,
    )
    assert refused.code == "link_already_linked"


async def test_a_member_links_only_one_zalo_account(session: AsyncSession) -> None:
    lan, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    first_zalo = await _zalo(session, "z-1")
    first = await issue_link_code(session, identity=telegram, now=T0)
    await redeem_link_code(session, identity=first_zalo, code=first.code, now=T0)

    second_zalo = await _zalo(session, "z-2")
    again = await issue_link_code(session, identity=telegram, now=T0)
    refused = await _refused(
        redeem_link_code(session, identity=second_zalo, code=again.code, now=T0), NotAllowed
    )
    assert refused.code == "link_channel_taken"
    assert second_zalo.member_id is None
    assert [i.id for i in await identities_of(session, lan.id)] == [telegram.id, first_zalo.id]  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "12-34-56"])
async def test_a_code_that_is_not_six_digits_is_refused_without_counting(
    session: AsyncSession, typed: str
) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    issued = await issue_link_code(session, identity=telegram, now=T0)
    zalo = await _zalo(session)

    for _ in range(LINK_MAX_TRIES + 1):
        refused = await _refused(
            redeem_link_code(session, identity=zalo, code=typed, now=T0), InvalidInput
        )
        assert refused.code == "link_code_format"
    assert await _attempts(session) == 0

    spaced = f" {issued.code[:3]} {issued.code[3:]} "
    await redeem_link_code(session, identity=zalo, code=spaced, now=T0)
    assert zalo.member_id == telegram.member_id


async def test_linking_discards_the_unfinished_joining_on_that_app(session: AsyncSession) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    zalo = await _zalo(session)
    await record_consent(
        session, identity=zalo, purpose=ConsentPurpose.MEMBERSHIP, granted=True, locale="vi"
    )
    draft = await flow.start_onboarding(session, identity=zalo)
    await flow.answer_name(session, draft, "Nguyễn Thị Lan")

    issued = await issue_link_code(session, identity=telegram, now=T0)
    await redeem_link_code(session, identity=zalo, code=issued.code, now=T0)

    assert await flow.get_draft(session, zalo) is None


async def test_a_linked_account_shows_the_consents_given_on_the_other_app(
    session: AsyncSession,
) -> None:
    _, telegram = await _member(session, "Nguyễn Thị Lan", external_id="111")
    for purpose, granted in [
        (ConsentPurpose.MEMBERSHIP, True),
        (ConsentPurpose.GENDER_STATISTICS, False),
    ]:
        await record_consent(
            session, identity=telegram, purpose=purpose, granted=granted, locale="vi"
        )
    zalo = await _zalo(session)
    await record_consent(
        session, identity=zalo, purpose=ConsentPurpose.CONTACT_PHONE, granted=True, locale="en"
    )
    assert [r.purpose for r in await consents_of(session, identity=zalo)] == ["contact_phone"]

    issued = await issue_link_code(session, identity=telegram, now=T0)
    await redeem_link_code(session, identity=zalo, code=issued.code, now=T0)

    expected = {"membership": True, "gender_statistics": False, "contact_phone": True}
    for identity in (zalo, telegram):
        seen = await latest_consents(session, identity=identity)
        assert {purpose: record.granted for purpose, record in seen.items()} == expected
    stranger = await _zalo(session, "z-stranger")
    assert await consents_of(session, identity=stranger) == []
