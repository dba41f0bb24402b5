"""Who an announcement reaches: each criterion alone and together, always within the scope."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Actor, Role
from models.audience import (
    Audience,
    AudienceRole,
    MovementCriterion,
    blocs_for_announcing,
    count,
    describe,
    recipients,
    resolve,
)
from models.base import fold
from models.errors import InvalidInput, NotAllowed
from models.initiatives import InitiativeStatus
from models.members import Gender, Member, MemberStatus, Position
from models.movements import Movement, MovementStatus, Registration, RegistrationStatus
from models.org import EmulationBloc, OrgKind, UnitBloc
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_movement,
    make_official,
    make_reviewer,
    make_unit,
)

YEAR = "2026-2027"


async def _bloc(session: AsyncSession, name: str, units: list) -> EmulationBloc:  # type: ignore[type-arg]
    bloc = EmulationBloc(code=fold(name).replace(" ", "-")[:32], name=name)
    session.add(bloc)
    await session.flush()
    for unit in units:
        session.add(UnitBloc(unit_id=unit.id, bloc_id=bloc.id))
    await session.flush()
    return bloc


async def _registration(
    session: AsyncSession, movement: Movement, member: Member, status: RegistrationStatus
) -> None:
    session.add(Registration(
        movement_id=movement.id,  # type: ignore[arg-type]
        registrant=f"m:{member.id}", member_id=member.id, unit_id=member.unit_id,
        title_code="LDTT", status=status, school_year=movement.school_year,
    ))
    await session.flush()


@pytest.fixture
async def world(session: AsyncSession) -> dict:
    """City → education union → districts A (schools a1, a2) and B (schools b1, b2). Bloc
    "north" tags a1 and b1 (across districts), "south" tags a2, "far" tags b2 only. Members of
    both genders and one undisclosed, a pending and an erased one; a chair at a1 and b1,
    officials of both districts and of the education union, a reviewer in district A, an
    administrator. Movement "mA" of district A (for its subtree) with registrations: one
    registered, one awaiting approval, one registered then withdrawn, one undisclosed
    registered; "mB" of district B (for its subtree); "mAll" of the education union for
    everyone; "mNorth" of the education union for bloc north. Initiatives of 2026-2027:
    a1_f's submitted, b1_m's submitted with b1_f as co-author, a2_m's only a draft, and a1_m's
    from the year before."""
    city = await make_unit(session, "Liên đoàn Lao động Thành phố", kind=OrgKind.FEDERATION)
    edu = await make_unit(session, "Công đoàn Giáo dục Thành phố", kind=OrgKind.INDUSTRY_UNION,
                          parent=city)
    dA = await make_unit(session, "Công đoàn Giáo dục quận A", kind=OrgKind.INDUSTRY_UNION,
                         parent=edu)
    dB = await make_unit(session, "Công đoàn Giáo dục quận B", kind=OrgKind.INDUSTRY_UNION,
                         parent=edu)
    a1 = await make_unit(session, "Trường A1", parent=dA)
    a2 = await make_unit(session, "Trường A2", parent=dA)
    b1 = await make_unit(session, "Trường B1", parent=dB)
    b2 = await make_unit(session, "Trường B2", parent=dB)
    units = {"city": city, "edu": edu, "dA": dA, "dB": dB, "a1": a1, "a2": a2, "b1": b1,
             "b2": b2}
    blocs = {
        "north": await _bloc(session, "Cụm thi đua phía Bắc", [a1, b1]),
        "south": await _bloc(session, "Cụm thi đua phía Nam", [a2]),
        "far": await _bloc(session, "Cụm thi đua xa", [b2]),
    }
    m: dict[str, Member] = {}
    for name, unit, gender in (
        ("a1_f", a1, Gender.FEMALE), ("a1_m", a1, Gender.MALE), ("a1_u", a1, Gender.UNDISCLOSED),
        ("a2_f", a2, Gender.FEMALE), ("a2_m", a2, Gender.MALE),
        ("b1_f", b1, Gender.FEMALE), ("b1_m", b1, Gender.MALE),
        ("b2_f", b2, Gender.FEMALE),
    ):
        m[name] = await make_member(session, unit, name, gender=gender)
    m["a1_none"] = await make_member(session, a1, "a1_none", gender=None)  # never asked
    m["a1_pending"] = await make_member(session, a1, "a1_pending", status=MemberStatus.PENDING)
    m["a1_erased"] = await make_member(session, a1, "a1_erased")
    m["a1_erased"].erased_at = datetime.now(UTC)
    m["a1_chair"] = await make_official(session, a1, "a1_chair")
    m["b1_chair"] = await make_official(session, b1, "b1_chair")
    m["dA_official"] = await make_official(session, dA, "dA_official")
    m["dB_official"] = await make_official(session, dB, "dB_official")
    m["edu_official"] = await make_official(session, edu, "edu_official")
    m["dA_reviewer"] = await make_reviewer(session, dA, "dA_reviewer")
    m["admin"] = await make_official(session, edu, "admin", role=Role.ADMIN)
    await session.flush()

    movements = {
        "mA": await make_movement(session, dA, "Phong trào quận A"),
        "mB": await make_movement(session, dB, "Phong trào quận B"),
        "mAll": await make_movement(session, edu, "Phong trào toàn ngành", everyone=True),
        "mNorth": await make_movement(session, edu, "Phong trào cụm Bắc",
                                      blocs=[blocs["north"]]),
        "mB_draft": await make_movement(session, dB, "Dự thảo quận B",
                                        status=MovementStatus.DRAFT, everyone=True),
    }
    mA = movements["mA"]
    await _registration(session, mA, m["a1_f"], RegistrationStatus.REGISTERED)
    await _registration(session, mA, m["a1_u"], RegistrationStatus.SUBMITTED)
    await _registration(session, mA, m["a2_f"], RegistrationStatus.AWAITING_APPROVAL)
    await _registration(session, mA, m["a1_m"], RegistrationStatus.WITHDRAWN)
    await _registration(session, movements["mNorth"], m["b1_f"], RegistrationStatus.REGISTERED)
    session.add(Registration(  # a collective registration names no member
        movement_id=mA.id, registrant=f"u:{a2.id}", unit_id=a2.id,  # type: ignore[arg-type]
        collective=True, title_code="TTLDXS", school_year=YEAR,
    ))

    await make_initiative(session, m["a1_f"], school_year=YEAR)
    await make_initiative(session, m["b1_m"], co_authors=[m["b1_f"]], school_year=YEAR)
    await make_initiative(session, m["a2_m"], status=InitiativeStatus.DRAFT)
    await make_initiative(session, m["a1_m"], status=InitiativeStatus.ACCEPTED,
                          school_year="2025-2026")
    await session.flush()

    actors = {
        who: await actor_of(session, m[who])
        for who in ("a1_chair", "dA_official", "edu_official", "admin", "dA_reviewer", "a1_f")
    }
    return {"units": units, "blocs": blocs, "members": m, "movements": movements,
            "actors": actors}


async def _names(session: AsyncSession, actor: Actor, audience: Audience) -> set[str]:
    """The recipients' names, checking on the way that `count` agrees with `resolve`."""
    ids: list[int] = []
    async for batch in resolve(session, actor, audience, batch_size=3):
        assert 0 < len(batch) <= 3
        ids.extend(batch)
    assert ids == sorted(set(ids))
    assert await count(session, actor, audience) == len(ids)
    names = {(await session.get(Member, member_id)).full_name for member_id in ids}  # type: ignore[union-attr]
    return names


A1 = {"a1_f", "a1_m", "a1_u", "a1_none", "a1_chair"}
A2 = {"a2_f", "a2_m"}
DISTRICT_A = A1 | A2 | {"dA_official", "dA_reviewer"}
DISTRICT_B = {"b1_f", "b1_m", "b2_f", "b1_chair", "dB_official"}
EVERYONE = DISTRICT_A | DISTRICT_B | {"edu_official", "admin"}


# --- the scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [
    ("a1_chair", A1),
    ("dA_official", DISTRICT_A),
    ("edu_official", EVERYONE),
    ("admin", EVERYONE),
])
async def test_the_whole_scope_is_every_active_member_below_the_official(
    session: AsyncSession, world: dict, who: str, expected: set[str]
) -> None:
    audience = Audience(whole_scope=True)
    assert await _names(session, world["actors"][who], audience) == expected


async def test_pending_and_erased_members_are_never_reached(
    session: AsyncSession, world: dict
) -> None:
    names = await _names(session, world["actors"]["admin"], Audience(whole_scope=True))
    assert "a1_pending" not in names and "a1_erased" not in names


async def test_a_chosen_unit_reaches_its_subtree(session: AsyncSession, world: dict) -> None:
    units = world["units"]
    edu = world["actors"]["edu_official"]
    assert await _names(session, edu, Audience(unit_ids=[units["dB"].id])) == DISTRICT_B
    assert await _names(session, edu, Audience(unit_ids=[units["a2"].id])) == A2
    both = Audience(unit_ids=[units["a2"].id, units["b2"].id])
    assert await _names(session, edu, both) == A2 | {"b2_f"}


async def test_a_bloc_reaches_only_its_units_inside_the_scope(
    session: AsyncSession, world: dict
) -> None:
    north = Audience(bloc_ids=[world["blocs"]["north"].id])
    b1 = {"b1_f", "b1_m", "b1_chair"}
    assert await _names(session, world["actors"]["edu_official"], north) == A1 | b1
    assert await _names(session, world["actors"]["dA_official"], north) == A1


async def test_units_and_blocs_add_up(session: AsyncSession, world: dict) -> None:
    audience = Audience(unit_ids=[world["units"]["b2"].id],
                        bloc_ids=[world["blocs"]["south"].id, world["blocs"]["north"].id])
    assert await _names(session, world["actors"]["admin"], audience) == (
        A1 | A2 | {"b1_f", "b1_m", "b1_chair", "b2_f"}
    )


async def test_a_forged_unit_outside_the_scope_is_refused_and_logged(
    session: AsyncSession, world: dict, caplog: pytest.LogCaptureFixture
) -> None:
    units = world["units"]
    actor = world["actors"]["dA_official"]
    for target in ("b1", "dB", "edu"):
        audience = Audience(unit_ids=[units["a1"].id, units[target].id])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="models.access"), \
                pytest.raises(NotAllowed) as refused:
            await count(session, actor, audience)
        assert refused.value.code == "not_allowed"
        assert f"on unit {units[target].id}" in caplog.text
        with pytest.raises(NotAllowed):
            await anext(resolve(session, actor, audience))


async def test_a_school_chair_reaches_their_own_school_and_no_other(
    session: AsyncSession, world: dict
) -> None:
    actor = world["actors"]["a1_chair"]
    assert await _names(session, actor, Audience(unit_ids=[world["units"]["a1"].id])) == A1
    with pytest.raises(NotAllowed):
        await count(session, actor, Audience(unit_ids=[world["units"]["a2"].id]))


@pytest.mark.parametrize("who", ["dA_reviewer", "a1_f"])
async def test_someone_who_is_no_official_announces_to_nobody(
    session: AsyncSession, world: dict, who: str
) -> None:
    with pytest.raises(NotAllowed) as refused:
        await count(session, world["actors"][who], Audience(whole_scope=True))
    assert refused.value.code == "officials_only"


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("roles", "expected"), [
    ([AudienceRole.GRASSROOTS_CHAIRS], {"a1_chair", "b1_chair"}),
    ([AudienceRole.OFFICIALS],
     {"a1_chair", "b1_chair", "dA_official", "dB_official", "edu_official"}),
    ([AudienceRole.REVIEWERS], {"dA_reviewer"}),
    ([AudienceRole.GRASSROOTS_CHAIRS, AudienceRole.REVIEWERS],
     {"a1_chair", "b1_chair", "dA_reviewer"}),
])
async def test_a_roles_filter_keeps_those_holding_any_chosen_role(
    session: AsyncSession, world: dict, roles: list[str], expected: set[str]
) -> None:
    audience = Audience(whole_scope=True, roles=roles)
    assert await _names(session, world["actors"]["edu_official"], audience) == expected


async def test_a_roles_filter_stays_within_the_scope(session: AsyncSession, world: dict) -> None:
    audience = Audience(whole_scope=True, roles=[AudienceRole.OFFICIALS])
    assert await _names(session, world["actors"]["dA_official"], audience) == {
        "a1_chair", "dA_official",
    }


async def test_a_gender_filter_leaves_out_who_did_not_say(
    session: AsyncSession, world: dict
) -> None:
    actor = world["actors"]["dA_official"]
    women = await _names(session, actor, Audience(whole_scope=True, gender=Gender.FEMALE))
    assert women == {"a1_f", "a2_f"}
    men = await _names(session, actor, Audience(whole_scope=True, gender=Gender.MALE))
    assert men == {"a1_m", "a2_m", "a1_chair", "dA_official", "dA_reviewer"}


async def test_registrants_are_the_active_registrations_of_the_movement(
    session: AsyncSession, world: dict
) -> None:
    audience = Audience(whole_scope=True, movement_id=world["movements"]["mA"].id,
                        movement_criterion=MovementCriterion.REGISTERED)
    # Awaiting approval and submitted count; withdrawn does not.
    assert await _names(session, world["actors"]["dA_official"], audience) == {
        "a1_f", "a1_u", "a2_f",
    }


async def test_laggards_are_the_targeted_members_without_an_active_registration(
    session: AsyncSession, world: dict
) -> None:
    movements = world["movements"]
    actor = world["actors"]["edu_official"]
    laggards = Audience(whole_scope=True, movement_id=movements["mA"].id,
                        movement_criterion=MovementCriterion.NOT_REGISTERED)
    # The one who withdrew is among them; nobody of district B (not targeted) is.
    assert await _names(session, actor, laggards) == DISTRICT_A - {"a1_f", "a1_u", "a2_f"}
    north = Audience(whole_scope=True, movement_id=movements["mNorth"].id,
                     movement_criterion=MovementCriterion.NOT_REGISTERED)
    assert await _names(session, actor, north) == A1 | {"b1_m", "b1_chair"}
    everyone = Audience(whole_scope=True, movement_id=movements["mAll"].id,
                        movement_criterion=MovementCriterion.NOT_REGISTERED)
    assert await _names(session, actor, everyone) == EVERYONE


async def test_members_without_an_initiative_this_year(
    session: AsyncSession, world: dict
) -> None:
    audience = Audience(whole_scope=True, no_initiative_in=YEAR)
    # A draft is no initiative yet; last year's does not count; a co-author has one.
    assert await _names(session, world["actors"]["admin"], audience) == EVERYONE - {
        "a1_f", "b1_m", "b1_f",
    }
    last_year = Audience(whole_scope=True, no_initiative_in="2025-2026")
    assert await _names(session, world["actors"]["admin"], last_year) == EVERYONE - {"a1_m"}


async def test_criteria_combine_with_and(session: AsyncSession, world: dict) -> None:
    units, blocs, movements = world["units"], world["blocs"], world["movements"]
    actor = world["actors"]["edu_official"]
    registered_women = Audience(whole_scope=True, gender=Gender.FEMALE,
                                movement_id=movements["mA"].id,
                                movement_criterion=MovementCriterion.REGISTERED)
    assert await _names(session, actor, registered_women) == {"a1_f", "a2_f"}
    men_of_a_without_initiative = Audience(
        unit_ids=[units["a1"].id], bloc_ids=[blocs["south"].id], gender=Gender.MALE,
        movement_id=movements["mA"].id, movement_criterion=MovementCriterion.NOT_REGISTERED,
        no_initiative_in=YEAR,
    )
    assert await _names(session, actor, men_of_a_without_initiative) == {
        "a1_m", "a2_m", "a1_chair",
    }
    chairs_of_north_without_initiative = Audience(
        bloc_ids=[blocs["north"].id], roles=[AudienceRole.GRASSROOTS_CHAIRS],
        no_initiative_in=YEAR,
    )
    assert await _names(session, actor, chairs_of_north_without_initiative) == {
        "a1_chair", "b1_chair",
    }
    nobody = Audience(whole_scope=True, gender=Gender.FEMALE,
                      roles=[AudienceRole.GRASSROOTS_CHAIRS])
    assert await _names(session, actor, nobody) == set()


# --- movements one may address ------------------------------------------------------------------


async def test_a_movement_is_addressable_when_run_or_targeted_within_the_scope(
    session: AsyncSession, world: dict
) -> None:
    movements = world["movements"]
    actor = world["actors"]["dA_official"]
    for name in ("mA", "mAll", "mNorth"):
        audience = Audience(whole_scope=True, movement_id=movements[name].id,
                            movement_criterion=MovementCriterion.NOT_REGISTERED)
        await count(session, actor, audience)
    # The education union's movement for everyone reaches, from district A, district A only.
    everyone = Audience(whole_scope=True, movement_id=movements["mAll"].id,
                        movement_criterion=MovementCriterion.NOT_REGISTERED)
    assert await _names(session, actor, everyone) == DISTRICT_A
    for name in ("mB", "mB_draft"):
        audience = Audience(whole_scope=True, movement_id=movements[name].id,
                            movement_criterion=MovementCriterion.REGISTERED)
        with pytest.raises(InvalidInput) as refused:
            await count(session, actor, audience)
        assert refused.value.code == "audience_movement_not_yours"


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "code"), [
    (lambda w: Audience(), "audience_empty"),
    (lambda w: Audience(whole_scope=True, unit_ids=[w["units"]["a1"].id]),
     "audience_scope_and_units"),
    (lambda w: Audience(unit_ids=[999_999]), "audience_unit_unknown"),
    (lambda w: Audience(bloc_ids=[999_999]), "audience_bloc_unknown"),
    (lambda w: Audience(bloc_ids=[w["blocs"]["far"].id]), "audience_bloc_outside_scope"),
    (lambda w: Audience(whole_scope=True, roles=["presidents"]), "audience_role_unknown"),
    (lambda w: Audience(whole_scope=True, gender=Gender.UNDISCLOSED), "audience_gender_unknown"),
    (lambda w: Audience(whole_scope=True, movement_id=999_999,
                        movement_criterion=MovementCriterion.REGISTERED),
     "audience_movement_unknown"),
    (lambda w: Audience(whole_scope=True, movement_id=w["movements"]["mA"].id),
     "audience_movement_criterion"),
    (lambda w: Audience(whole_scope=True, movement_criterion=MovementCriterion.REGISTERED),
     "audience_movement_missing"),
    (lambda w: Audience(whole_scope=True, no_initiative_in="2026-2028"), "audience_school_year"),
    (lambda w: Audience(whole_scope=True, no_initiative_in="năm nay"), "audience_school_year"),
])
async def test_a_choice_that_cannot_be_used_is_refused_with_its_reason(
    session: AsyncSession, world: dict, make, code: str  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await count(session, world["actors"]["dA_official"], make(world))
    assert refused.value.code == code


async def test_the_blocs_offered_are_those_with_a_unit_in_scope(
    session: AsyncSession, world: dict
) -> None:
    offered = await blocs_for_announcing(session, world["actors"]["dA_official"])
    assert [bloc.id for bloc in offered] == [world["blocs"]["north"].id,
                                             world["blocs"]["south"].id]


# --- storing and describing ---------------------------------------------------------------------


async def test_an_audience_is_stored_as_json_and_read_back_the_same(
    session: AsyncSession, world: dict
) -> None:
    audience = Audience(
        unit_ids=[world["units"]["a1"].id], bloc_ids=[world["blocs"]["south"].id],
        roles=[AudienceRole.OFFICIALS], gender=Gender.FEMALE,
        movement_id=world["movements"]["mA"].id,
        movement_criterion=MovementCriterion.NOT_REGISTERED, no_initiative_in=YEAR,
    )
    stored = json.loads(json.dumps(audience.to_dict()))
    assert Audience.from_dict(stored) == audience
    assert Audience.from_dict({}) == Audience()


@pytest.mark.parametrize("data", [
    {"unit_ids": "12"}, {"unit_ids": [None]}, {"movement_id": [1]}, {"gender": 3},
    {"bloc_ids": [True]}, {"roles": [1]}, {"unit_ids": ["x"]},
])
def test_a_malformed_stored_audience_is_refused(data: dict) -> None:
    with pytest.raises(InvalidInput) as refused:
        Audience.from_dict(data)
    assert refused.value.code == "audience_invalid"


async def test_the_description_names_what_was_chosen_with_the_count(
    session: AsyncSession, world: dict
) -> None:
    actor = world["actors"]["dA_official"]
    chosen = Audience(
        unit_ids=[world["units"]["a1"].id], bloc_ids=[world["blocs"]["south"].id],
        gender=Gender.FEMALE, movement_id=world["movements"]["mA"].id,
        movement_criterion=MovementCriterion.REGISTERED,
    )
    described = await describe(session, actor, chosen)
    assert described.units == ["Trường A1"]
    assert described.blocs == ["Cụm thi đua phía Nam"]
    assert described.gender == Gender.FEMALE
    assert described.movement == "Phong trào quận A"
    assert described.movement_criterion == MovementCriterion.REGISTERED
    assert described.count == 2  # a1_f and a2_f
    whole = await describe(session, actor, Audience(whole_scope=True))
    assert whole.whole_scope and whole.units == ["Công đoàn Giáo dục quận A"]
    assert whole.count == len(DISTRICT_A)


# --- many members -------------------------------------------------------------------------------


async def test_thousands_of_recipients_come_in_batches_in_one_query_each(
    session: AsyncSession, world: dict
) -> None:
    school = world["units"]["b2"]
    await session.exec(insert(Member).values([  # type: ignore[call-overload]
        {
            "full_name": f"Giáo viên {n}", "full_name_folded": f"giao vien {n}",
            "unit_id": school.id, "position": Position.TEACHER,
            "gender": Gender.FEMALE if n % 2 else Gender.MALE,
            "status": MemberStatus.ACTIVE if n % 3 else MemberStatus.PENDING,
            "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC),
        }
        for n in range(3000)
    ]))
    actor = world["actors"]["edu_official"]
    audience = Audience(unit_ids=[school.id], gender=Gender.FEMALE)
    stream = resolve(session, actor, audience, batch_size=500)
    sizes: list[int] = []
    seen: set[int] = set()
    async for batch in stream:
        sizes.append(len(batch))
        assert not seen & set(batch)
        seen.update(batch)
    # 1,500 women (odd numbers) of whom 1,000 active (the multiples of 3 are pending), and b2_f.
    assert sizes == [500, 500, 1]
    assert await count(session, actor, audience) == 1001
    query = await recipients(session, actor, audience)
    assert sorted(seen) == list((await session.exec(query)).all())
