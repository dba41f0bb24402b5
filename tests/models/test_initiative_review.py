"""The council of initiatives without a chat: the queue an official sees, who may be seated,
seating a council, scoring until the deadline, the chair's decision, forwarding up to the top,
and every refusal (who acts at each state, conflicts of interest, deadlines)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from models import initiative_review as review
from models.audit import AuditEntry
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiative_review import Outcome
from models.initiatives import (
    Initiative,
    InitiativeAuthor,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
    ReviewSeat,
    history,
    next_level,
    seats_of,
    transition,
)
from models.members import Member, MemberStatus
from models.org import OrgKind, OrgUnit
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_official,
    make_reviewer,
    make_tree,
    make_unit,
)

S = InitiativeStatus
NOW = datetime(2026, 10, 15, 3, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(days=14)


async def _council(session: AsyncSession, tree: dict[str, OrgUnit]) -> dict[str, Member]:
    """An official of the district, three reviewers (two of the district, one of the city's
    education union) and an author at Nguyễn Trãi."""
    return {
        "official": await make_official(session, tree["district"], "Trần Văn Hùng"),
        "mai": await make_reviewer(session, tree["district"], "Phạm Thị Mai"),
        "binh": await make_reviewer(session, tree["district"], "Lê Văn Bình"),
        "cuc": await make_reviewer(session, tree["edu"], "Đỗ Thị Cúc"),
        "lan": await make_member(session, tree["trai"], "Nguyễn Thị Lan"),
    }


async def _seated(
    session: AsyncSession, people: dict[str, Member], initiative: Initiative,
    *, deadline: datetime = DEADLINE, now: datetime = NOW,
) -> None:
    """The council of Mai (chair), Bình and Cúc, seated by an official of the district."""
    official = await actor_of(session, people["official"])
    await review.seat_council(
        session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
        reviewer_ids=[people["mai"].id, people["binh"].id, people["cuc"].id],  # type: ignore[list-item]
        chair_id=people["mai"].id, deadline=deadline, now=now,  # type: ignore[arg-type]
    )


async def _score(
    session: AsyncSession, member: Member, initiative: Initiative, values: tuple[int, int, int],
    *, comment: str | None = None, now: datetime = NOW,
) -> None:
    actor = await actor_of(session, member)
    await review.score(
        session, actor, initiative_id=initiative.id,  # type: ignore[arg-type]
        novelty=values[0], effectiveness=values[1], applicability=values[2], comment=comment,
        now=now,
    )


async def _audit(session: AsyncSession, action: str) -> list[AuditEntry]:
    rows = await session.exec(select(AuditEntry).where(AuditEntry.action == action))
    return list(rows.all())


# --- what is typed -------------------------------------------------------------------------------


def test_a_typed_date_alone_lasts_until_23_59_local_time() -> None:
    assert review.parse_deadline("30/10/2026") == datetime(2026, 10, 30, 16, 59, tzinfo=UTC)
    assert review.parse_deadline(" 30-10-2026  17:30 ") == datetime(
        2026, 10, 30, 10, 30, tzinfo=UTC
    )
    assert review.parse_deadline("1.11.2026 8h05") == datetime(2026, 11, 1, 1, 5, tzinfo=UTC)
    for text in ("", "ngày mai", "31/02/2026", "30/10/26", "30/10/2026 25:00", None):
        with pytest.raises(InvalidInput) as refused:
            review.parse_deadline(text)
        assert refused.value.code == "review_deadline_invalid"


def test_scores_are_whole_numbers_from_0_to_10() -> None:
    assert [review.parse_score(text) for text in ("0", " 7 ", "10")] == [0, 7, 10]
    for text in ("11", "-1", "7.5", "bảy", ""):
        with pytest.raises(InvalidInput) as refused:
            review.parse_score(text)
        assert (refused.value.code, refused.value.params) == ("score_invalid", {"max": 10})


# --- the queue -----------------------------------------------------------------------------------


async def test_the_queue_holds_the_scope_oldest_submission_first(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    other_district = await make_unit(
        session, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION,
        parent=tree["edu"],
    )
    elsewhere = await make_unit(session, "Trường THCS Trưng Vương", parent=other_district)
    hoa = await make_member(session, tree["du"], "Lê Thị Hoa")
    far = await make_member(session, elsewhere, "Vũ Minh")
    made = {}
    for days, (name, author, status) in enumerate([
        ("resubmitted", hoa, S.RESUBMITTED), ("submitted", people["lan"], S.SUBMITTED),
        ("under_review", hoa, S.UNDER_REVIEW), ("accepted", people["lan"], S.ACCEPTED),
        ("rejected", people["lan"], S.REJECTED), ("returned", hoa, S.RETURNED),
        ("draft", people["lan"], S.DRAFT), ("elsewhere", far, S.SUBMITTED),
    ]):
        initiative = await make_initiative(session, author, name, status=status)
        if initiative.submitted_at is not None:
            initiative.submitted_at = NOW - timedelta(days=30 - days)
        made[name] = initiative
    # Accepted by the city's education union: nowhere higher to go.
    at_top = await make_initiative(session, people["lan"], "at_top", status=S.ACCEPTED)
    at_top.unit_id, at_top.level = tree["edu"].id, RecognitionLevel.CITY
    await session.flush()

    official = await actor_of(session, people["official"])
    rows, total = await review.queue(session, official)
    assert [row.initiative.title for row in rows] == [
        "resubmitted", "submitted", "under_review", "accepted"
    ]
    assert total == 4
    assert [row.unit.name for row in rows][:2] == [tree["du"].name, tree["trai"].name]
    rows, total = await review.queue(session, official, offset=1, limit=2)
    assert ([row.initiative.title for row in rows], total) == (["submitted", "under_review"], 4)
    rows, total = await review.queue(session, official, statuses={S.SUBMITTED, S.RESUBMITTED})
    assert ([row.initiative.title for row in rows], total) == (["resubmitted", "submitted"], 2)
    rows, _ = await review.queue(session, official, statuses={S.ACCEPTED})
    assert [row.initiative.title for row in rows] == ["accepted"]

    admin = await actor_of(session, await make_official(session, tree["city"], role="admin"))  # type: ignore[arg-type]
    rows, total = await review.queue(session, admin)
    assert total == 5 and "elsewhere" in [row.initiative.title for row in rows]
    # The city's education union sees everything below it, even what sits at its own level.
    edu = await actor_of(session, await make_official(session, tree["edu"], "Hồ Văn Sơn"))
    assert (await review.queue(session, edu))[1] == 5
    with pytest.raises(NotAllowed) as refused:
        await review.queue(session, await actor_of(session, people["mai"]))
    assert refused.value.code == "officials_only"


async def test_accepted_ones_are_queued_exactly_when_a_higher_level_takes_them(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    high_school = await make_unit(session, "Trường THPT Chu Văn An", parent=tree["edu"])
    lone = await make_unit(session, "Trường mầm non độc lập")  # a grassroots union at the root
    cases = [
        (tree["trai"], RecognitionLevel.SCHOOL), (tree["district"], RecognitionLevel.DISTRICT),
        (tree["edu"], RecognitionLevel.CITY), (high_school, RecognitionLevel.SCHOOL),
        (lone, RecognitionLevel.SCHOOL),
    ]
    expected = []
    for unit, level in cases:
        initiative = await make_initiative(session, lan, f"{unit.name} {level}", status=S.ACCEPTED)
        initiative.unit_id, initiative.level = unit.id, level
        if await next_level(session, unit, level) is not None:
            expected.append(initiative.title)
    await session.flush()
    admin = await actor_of(session, await make_official(session, tree["city"], role="admin"))  # type: ignore[arg-type]
    rows, _ = await review.queue(session, admin, statuses={S.ACCEPTED})
    assert sorted(row.initiative.title for row in rows) == sorted(expected)
    assert len(expected) == 3
    # A closed district is skipped: the city's union still takes a district's decision.
    tree["edu"].is_active = False
    tree["city"].is_active = False
    await session.flush()
    rows, _ = await review.queue(session, admin, statuses={S.ACCEPTED})
    assert sorted(row.initiative.title for row in rows) == [f"{tree['trai'].name} school"]


# --- who may be seated ---------------------------------------------------------------------------


async def test_reviewers_of_the_unit_and_above_may_sit_never_an_author(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    at_school = await make_reviewer(session, tree["trai"], "Bùi Thị An")
    await make_reviewer(session, tree["du"], "Ngô Văn Dũng")  # another school: not above
    await make_official(session, tree["trai"], "Cao Văn Khoa")  # an official, not a reviewer
    left = await make_reviewer(session, tree["district"], "Tạ Văn Long")
    left.status = MemberStatus.REJECTED
    co_author = await make_reviewer(session, tree["district"], "Hà Thị Nga")
    initiative = await make_initiative(
        session, people["lan"], co_authors=[co_author, "Cô Hằng"], shares=[50, 30, 20]
    )
    reviewers, total = await review.eligible_reviewers(session, initiative)
    assert [m.full_name for m in reviewers] == [
        "Bùi Thị An", "Đỗ Thị Cúc", "Lê Văn Bình", "Phạm Thị Mai"
    ]
    assert total == 4
    page, total = await review.eligible_reviewers(session, initiative, offset=2, limit=2)
    assert ([m.full_name for m in page], total) == (["Lê Văn Bình", "Phạm Thị Mai"], 4)
    assert (await review.check_reviewer(session, initiative, at_school.id)).id == at_school.id  # type: ignore[arg-type]
    for member, code in ((co_author, "reviewer_is_author"), (left, "reviewer_not_eligible"),
                         (people["lan"], "reviewer_is_author")):
        with pytest.raises(NotAllowed) as refused:
            await review.check_reviewer(session, initiative, member.id)  # type: ignore[arg-type]
        assert refused.value.code == code


# --- seating a council ---------------------------------------------------------------------------


async def test_an_official_seats_a_council_and_the_review_begins(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    await _seated(session, people, initiative)

    assert (initiative.status, initiative.round, initiative.scoring_deadline) == (
        S.UNDER_REVIEW, 1, DEADLINE
    )
    seats = await seats_of(session, initiative)
    assert [(s.reviewer_member_id, s.is_chair, s.round) for s in seats] == [
        (people["mai"].id, True, 1), (people["binh"].id, False, 1), (people["cuc"].id, False, 1)
    ]
    assert all(s.assigned_by_member_id == people["official"].id for s in seats)
    [event] = await history(session, initiative)
    assert (event.from_status, event.to_status, event.actor_member_id) == (
        S.SUBMITTED, S.UNDER_REVIEW, people["official"].id
    )
    [entry] = await _audit(session, "seat_council")
    assert (entry.target_type, entry.target_id, entry.actor_member_id) == (
        "initiative", initiative.id, people["official"].id
    )
    assert entry.after == {
        "round": 1, "reviewers": [people["mai"].id, people["binh"].id, people["cuc"].id],
        "chair": people["mai"].id, "deadline": DEADLINE.isoformat(),
    }
    # The school's own official runs the school level's review too.
    school_official = await make_official(session, tree["trai"], "Cao Văn Khoa")
    other = await make_initiative(session, people["lan"], "Sổ tay chủ nhiệm số")
    await review.seat_council(
        session, await actor_of(session, school_official), initiative_id=other.id,  # type: ignore[arg-type]
        reviewer_ids=[people["binh"].id], chair_id=people["binh"].id,  # type: ignore[list-item]
        deadline=DEADLINE, now=NOW,  # type: ignore[arg-type]
    )
    assert other.status == S.UNDER_REVIEW


async def test_seating_is_refused_and_changes_nothing_when_a_rule_is_broken(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    other_district = await make_unit(
        session, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION,
        parent=tree["edu"],
    )
    outsider = await make_official(session, other_district, "Kiều Văn Phúc")
    author_official = await make_official(session, tree["district"], "Hà Thị Nga")
    initiative = await make_initiative(session, people["lan"], co_authors=[author_official])
    mai, binh, cuc = people["mai"].id, people["binh"].id, people["cuc"].id
    ten = [await make_reviewer(session, tree["district"], f"Người {n}") for n in range(10)]
    official = await actor_of(session, people["official"])

    cases = [
        (outsider, [mai], mai, DEADLINE, NotAllowed, "not_allowed"),
        (author_official, [mai], mai, DEADLINE, NotAllowed, "own_initiative"),
        (people["mai"], [binh], binh, DEADLINE, NotAllowed, "not_allowed"),
        (people["official"], [], mai, DEADLINE, InvalidInput, "council_size"),
        (people["official"], [m.id for m in ten], ten[0].id, DEADLINE, InvalidInput,
         "council_size"),
        (people["official"], [mai, mai], mai, DEADLINE, InvalidInput, "council_size"),
        (people["official"], [mai, binh], cuc, DEADLINE, InvalidInput, "chair_not_seated"),
        (people["official"], [mai, author_official.id], mai, DEADLINE, NotAllowed,
         "reviewer_is_author"),
        (people["official"], [mai, people["official"].id], mai, DEADLINE, NotAllowed,
         "reviewer_not_eligible"),
        (people["official"], [mai], mai, NOW, InvalidInput, "review_deadline_past"),
        (people["official"], [mai], mai, NOW + timedelta(days=91), InvalidInput,
         "review_deadline_too_far"),
    ]
    for who, reviewers, chair, deadline, error, code in cases:
        actor = await actor_of(session, who)
        with pytest.raises(error) as refused:
            await review.seat_council(
                session, actor, initiative_id=initiative.id,  # type: ignore[arg-type]
                reviewer_ids=reviewers, chair_id=chair, deadline=deadline, now=NOW,  # type: ignore[arg-type]
            )
        assert refused.value.code == code, (who.full_name, reviewers, deadline)
    assert (initiative.status, initiative.round) == (S.SUBMITTED, 0)
    assert await seats_of(session, initiative, round=1) == []

    # Nine is the most; a deadline 90 days ahead is allowed.
    await review.seat_council(
        session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
        reviewer_ids=[m.id for m in ten[:9]], chair_id=ten[0].id,  # type: ignore[misc]
        deadline=NOW + timedelta(days=90), now=NOW,  # type: ignore[arg-type]
    )
    assert len(await seats_of(session, initiative)) == 9
    # Once under review, a second council is refused.
    with pytest.raises(NotAllowed) as refused:
        await review.seat_council(
            session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
            reviewer_ids=[mai], chair_id=mai, deadline=DEADLINE, now=NOW,  # type: ignore[arg-type]
        )
    assert (refused.value.code, refused.value.params) == (
        "initiative_state", {"status": S.UNDER_REVIEW}
    )
    with pytest.raises(NotFound):
        await review.check_seating(session, official, initiative_id=999_999)
    draft = await make_initiative(session, people["lan"], "Bản nháp", status=S.DRAFT)
    with pytest.raises(NotFound):
        await review.check_seating(session, official, initiative_id=draft.id)  # type: ignore[arg-type]


async def test_the_deadline_moves_only_while_the_council_is_at_work(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    official = await actor_of(session, people["official"])
    later = DEADLINE + timedelta(days=7)
    with pytest.raises(NotAllowed) as refused:
        await review.change_deadline(
            session, official, initiative_id=initiative.id, deadline=later, now=NOW,  # type: ignore[arg-type]
        )
    assert refused.value.code == "initiative_state"
    await _seated(session, people, initiative)
    for deadline, code in ((NOW - timedelta(hours=1), "review_deadline_past"),
                           (NOW + timedelta(days=100), "review_deadline_too_far")):
        with pytest.raises(InvalidInput) as refused:
            await review.change_deadline(
                session, official, initiative_id=initiative.id, deadline=deadline, now=NOW,  # type: ignore[arg-type]
            )
        assert refused.value.code == code
    with pytest.raises(NotAllowed):
        await review.change_deadline(
            session, await actor_of(session, people["mai"]), initiative_id=initiative.id,  # type: ignore[arg-type]
            deadline=later, now=NOW,
        )
    await review.change_deadline(
        session, official, initiative_id=initiative.id, deadline=later, now=NOW,  # type: ignore[arg-type]
    )
    assert initiative.scoring_deadline == later
    [entry] = await _audit(session, "review_deadline")
    assert entry.after == {"deadline": later.isoformat()}


# --- the reviewers -------------------------------------------------------------------------------


async def test_a_reviewer_sees_and_opens_only_what_she_is_seated_on(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    first = await make_initiative(session, people["lan"], "Sáng kiến thứ nhất")
    second = await make_initiative(session, people["lan"], "Sáng kiến thứ hai")
    not_hers = await make_initiative(session, people["lan"], "Sáng kiến khác")
    await _seated(session, people, first, deadline=NOW + timedelta(days=20))
    await _seated(session, people, second, deadline=NOW + timedelta(days=5))
    official = await actor_of(session, people["official"])
    await review.seat_council(
        session, official, initiative_id=not_hers.id,  # type: ignore[arg-type]
        reviewer_ids=[people["binh"].id], chair_id=people["binh"].id,  # type: ignore[list-item]
        deadline=DEADLINE, now=NOW,  # type: ignore[arg-type]
    )
    mai = await actor_of(session, people["mai"])
    rows, total = await review.assignments(session, mai)
    assert ([row.initiative.title for row in rows], total) == (
        ["Sáng kiến thứ hai", "Sáng kiến thứ nhất"], 2
    )
    assert all(row.seat.is_chair for row in rows)
    card = await review.card_for_reviewer(session, mai, initiative_id=first.id, now=NOW)  # type: ignore[arg-type]
    assert card.seat is not None and [name for _, name in card.council] == [
        "Phạm Thị Mai", "Lê Văn Bình", "Đỗ Thị Cúc"
    ]
    for initiative_id, error, code in ((not_hers.id, NotAllowed, "not_your_review"),
                                       (999_999, NotFound, "initiative_gone")):
        with pytest.raises(error) as refused:
            await review.card_for_reviewer(session, mai, initiative_id=initiative_id, now=NOW)  # type: ignore[arg-type]
        assert refused.value.code == code
    # A member who is no reviewer has nothing; the author of all three cannot open them.
    lan = await actor_of(session, people["lan"])
    assert await review.assignments(session, lan) == ([], 0)
    with pytest.raises(NotAllowed):
        await review.card_for_reviewer(session, lan, initiative_id=first.id, now=NOW)  # type: ignore[arg-type]
    # Once decided, the initiative leaves her list.
    for member in (people["mai"], people["binh"], people["cuc"]):
        await _score(session, member, second, (7, 7, 7))
    await review.decide(
        session, mai, initiative_id=second.id, outcome=Outcome.REJECT, text="Trùng lặp",  # type: ignore[arg-type]
        now=NOW,
    )
    assert [row.initiative.title for row in (await review.assignments(session, mai))[0]] == [
        "Sáng kiến thứ nhất"
    ]


async def test_a_score_is_kept_replaced_until_the_deadline_then_refused(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    await _seated(session, people, initiative)
    await _score(session, people["binh"], initiative, (6, 7, 8), comment="  Cần số liệu.  ")
    await _score(session, people["binh"], initiative, (8, 7, 9), comment="")
    seat = next(s for s in await seats_of(session, initiative)
                if s.reviewer_member_id == people["binh"].id)
    assert (seat.novelty, seat.effectiveness, seat.applicability, seat.total) == (8, 7, 9, 24)
    assert (seat.comment, seat.scored_at) == (None, NOW)

    binh = await actor_of(session, people["binh"])
    bad = [
        ({"novelty": 11}, InvalidInput, "score_invalid"),
        ({"effectiveness": -1}, InvalidInput, "score_invalid"),
        ({"comment": "x" * 2001}, InvalidInput, "review_text_too_long"),
    ]
    for change, error, code in bad:
        values = {"novelty": 5, "effectiveness": 5, "applicability": 5, "comment": None, **change}
        with pytest.raises(error) as refused:
            await review.score(session, binh, initiative_id=initiative.id, now=NOW, **values)  # type: ignore[arg-type]
        assert refused.value.code == code
    with pytest.raises(NotAllowed) as refused:
        await _score(session, people["binh"], initiative, (1, 1, 1), now=DEADLINE)
    assert (refused.value.code, refused.value.params) == ("scoring_closed", {"deadline": DEADLINE})
    with pytest.raises(NotAllowed) as refused:
        await _score(session, people["official"], initiative, (9, 9, 9))
    assert refused.value.code == "not_your_review"
    assert seat.total == 24

    # A reviewer who became a co-author meanwhile (the text was edited) may no longer score.
    session.add(InitiativeAuthor(
        initiative_id=initiative.id, member_id=people["cuc"].id, name="Đỗ Thị Cúc", share=0,  # type: ignore[arg-type]
        position=1,
    ))
    await session.flush()
    with pytest.raises(NotAllowed) as refused:
        await _score(session, people["cuc"], initiative, (9, 9, 9))
    assert refused.value.code == "own_initiative"


async def test_the_tally_gives_averages_and_the_spread(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    await _seated(session, people, initiative)
    tally = await review.tally(session, initiative, NOW)
    assert (tally.seats, tally.scored, tally.total, tally.spread) == (3, 0, None, None)
    assert not tally.decision_open
    await _score(session, people["mai"], initiative, (8, 9, 7))
    await _score(session, people["binh"], initiative, (6, 5, 4))
    tally = await review.tally(session, initiative, NOW)
    assert (tally.scored, tally.novelty, tally.effectiveness, tally.applicability) == (
        2, 7.0, 7.0, 5.5
    )
    assert (tally.total, tally.spread, tally.all_scored, tally.decision_open) == (
        19.5, 9, False, False
    )
    assert (await review.tally(session, initiative, DEADLINE)).decision_open
    await _score(session, people["cuc"], initiative, (10, 10, 10))
    tally = await review.tally(session, initiative, NOW)
    assert (tally.total, tally.spread, tally.all_scored, tally.decision_open) == (
        23.0, 15, True, True
    )


# --- the decision --------------------------------------------------------------------------------


async def test_only_the_chair_decides_once_every_seat_has_scored_or_the_deadline_passed(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    await _seated(session, people, initiative)
    mai = await actor_of(session, people["mai"])
    binh = await actor_of(session, people["binh"])

    async def decide(actor, now=NOW, outcome=Outcome.ACCEPT, text="12/QĐ-CĐ"):  # type: ignore[no-untyped-def]
        return await review.decide(
            session, actor, initiative_id=initiative.id, outcome=outcome, text=text, now=now,  # type: ignore[arg-type]
        )

    with pytest.raises(NotAllowed) as refused:
        await decide(mai, now=DEADLINE)  # the deadline has passed, but nobody scored
    assert refused.value.code == "decision_no_scores"
    await _score(session, people["binh"], initiative, (7, 8, 6))
    with pytest.raises(NotAllowed) as refused:
        await decide(mai)
    assert (refused.value.code, refused.value.params) == (
        "decision_not_open", {"deadline": DEADLINE}
    )
    with pytest.raises(NotAllowed) as refused:
        await decide(binh, now=DEADLINE)
    assert refused.value.code == "chair_only"
    with pytest.raises(NotAllowed) as refused:
        await decide(await actor_of(session, people["official"]), now=DEADLINE)
    assert refused.value.code == "not_your_review"
    for outcome, text, code in ((Outcome.ACCEPT, "  ", "certificate_invalid"),
                                (Outcome.ACCEPT, "x" * 65, "certificate_invalid"),
                                (Outcome.RETURN, "", "review_comments_missing"),
                                (Outcome.REJECT, " ", "review_reason_missing"),
                                (Outcome.REJECT, "x" * 2001, "review_text_too_long")):
        with pytest.raises(InvalidInput) as refused:
            await decide(mai, now=DEADLINE, outcome=outcome, text=text)
        assert refused.value.code == code
    assert initiative.status == S.UNDER_REVIEW

    # After the deadline, one score is enough; the school year is that of the decision.
    decided_at = datetime(2027, 9, 2, 2, 0, tzinfo=UTC)
    await decide(mai, now=decided_at, text="  12/QĐ-CĐ ")
    assert initiative.status == S.ACCEPTED
    [recognition] = (await session.exec(select(Recognition))).all()
    assert (recognition.level, recognition.unit_id, recognition.certificate_no) == (
        RecognitionLevel.SCHOOL, tree["trai"].id, "12/QĐ-CĐ"
    )
    assert (recognition.school_year, recognition.decided_by_member_id) == (
        "2027-2028", people["mai"].id
    )
    event = (await history(session, initiative))[-1]
    assert (event.to_status, event.actor_member_id, event.comment) == (
        S.ACCEPTED, people["mai"].id, "12/QĐ-CĐ"
    )
    [entry] = await _audit(session, "decide_initiative")
    assert entry.after == {
        "status": S.ACCEPTED, "round": 1, "level": "school", "certificate_no": "12/QĐ-CĐ"
    }
    with pytest.raises(NotAllowed) as refused:
        await decide(mai, now=decided_at)
    assert refused.value.code == "initiative_state"


async def test_a_certificate_number_is_used_once_in_a_unit(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    first = await make_initiative(session, people["lan"], "Thứ nhất")
    second = await make_initiative(session, people["lan"], "Thứ hai")
    mai = await actor_of(session, people["mai"])
    for initiative in (first, second):
        await _seated(session, people, initiative)
        for member in (people["mai"], people["binh"], people["cuc"]):
            await _score(session, member, initiative, (8, 8, 8))
    await review.decide(
        session, mai, initiative_id=first.id, outcome=Outcome.ACCEPT, text="05/QĐ", now=NOW,  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidInput) as refused:
        await review.decide(
            session, mai, initiative_id=second.id, outcome=Outcome.ACCEPT, text="05/qđ",  # type: ignore[arg-type]
            now=NOW,
        )
    assert (refused.value.code, refused.value.params) == ("certificate_taken", {"number": "05/qđ"})
    await review.decide(
        session, mai, initiative_id=second.id, outcome=Outcome.ACCEPT, text="06/QĐ", now=NOW,  # type: ignore[arg-type]
    )
    assert second.status == S.ACCEPTED


async def test_a_return_and_a_resubmission_seat_a_second_round(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    await _seated(session, people, initiative)
    for member in (people["mai"], people["binh"], people["cuc"]):
        await _score(session, member, initiative, (5, 5, 5))
    mai = await actor_of(session, people["mai"])
    await review.decide(
        session, mai, initiative_id=initiative.id, outcome=Outcome.RETURN,  # type: ignore[arg-type]
        text="Bổ sung số liệu đối chứng.", now=NOW,
    )
    assert (initiative.status, initiative.council_comment) == (
        S.RETURNED, "Bổ sung số liệu đối chứng."
    )
    with pytest.raises(NotAllowed):
        await _score(session, people["binh"], initiative, (9, 9, 9))
    await transition(session, initiative, S.RESUBMITTED, actor_member_id=people["lan"].id)
    official = await actor_of(session, people["official"])
    await review.seat_council(
        session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
        reviewer_ids=[people["binh"].id, people["cuc"].id], chair_id=people["cuc"].id,  # type: ignore[list-item]
        deadline=DEADLINE, now=NOW,  # type: ignore[arg-type]
    )
    assert (initiative.round, initiative.status) == (2, S.UNDER_REVIEW)
    assert len(await seats_of(session, initiative, round=1)) == 3
    assert (await review.tally(session, initiative, NOW)).scored == 0  # a fresh round
    with pytest.raises(NotAllowed) as refused:
        await review.card_for_reviewer(session, mai, initiative_id=initiative.id, now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == "not_your_review"  # Mai sat on the first round only
    assert (await review.assignments(session, mai))[1] == 0
    await _score(session, people["binh"], initiative, (9, 8, 9))
    await _score(session, people["cuc"], initiative, (9, 9, 9))
    await review.decide(
        session, await actor_of(session, people["cuc"]), initiative_id=initiative.id,  # type: ignore[arg-type]
        outcome=Outcome.REJECT, text="Không đủ tính mới.", now=NOW,
    )
    assert (initiative.status, initiative.council_comment) == (S.REJECTED, "Không đủ tính mới.")
    assert [e.to_status for e in await history(session, initiative)] == [
        S.UNDER_REVIEW, S.RETURNED, S.RESUBMITTED, S.UNDER_REVIEW, S.REJECTED
    ]


# --- forwarding ----------------------------------------------------------------------------------


async def _accept(
    session: AsyncSession, initiative: Initiative, official: Member, chair: Member, number: str
) -> None:
    await review.seat_council(
        session, await actor_of(session, official), initiative_id=initiative.id,  # type: ignore[arg-type]
        reviewer_ids=[chair.id], chair_id=chair.id, deadline=DEADLINE, now=NOW,  # type: ignore[list-item,arg-type]
    )
    await _score(session, chair, initiative, (9, 9, 9))
    await review.decide(
        session, await actor_of(session, chair), initiative_id=initiative.id,  # type: ignore[arg-type]
        outcome=Outcome.ACCEPT, text=number, now=NOW,
    )


async def test_an_accepted_initiative_is_forwarded_level_by_level_up_to_the_top(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    school_official = await make_official(session, tree["trai"], "Cao Văn Khoa")
    school_reviewer = await make_reviewer(session, tree["trai"], "Bùi Thị An")
    city_official = await make_official(session, tree["edu"], "Hồ Văn Sơn")
    initiative = await make_initiative(session, people["lan"])
    school = await actor_of(session, school_official)

    with pytest.raises(NotAllowed) as refused:
        await review.forward(session, school, initiative_id=initiative.id, now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == "initiative_state"
    await _accept(session, initiative, school_official, school_reviewer, "01/QĐ-THCS")
    other_school = await make_official(session, tree["du"], "Lý Văn Tú")
    with pytest.raises(NotAllowed):
        await review.forward(
            session, await actor_of(session, other_school), initiative_id=initiative.id,  # type: ignore[arg-type]
            now=NOW,
        )
    _, _, target, level = await review.check_forward(
        session, school, initiative_id=initiative.id  # type: ignore[arg-type]
    )
    assert (target.id, level) == (tree["district"].id, RecognitionLevel.DISTRICT)
    await review.forward(session, school, initiative_id=initiative.id, now=NOW)  # type: ignore[arg-type]
    assert (initiative.status, initiative.unit_id, initiative.level) == (
        S.SUBMITTED, tree["district"].id, RecognitionLevel.DISTRICT
    )
    assert (initiative.origin_unit_id, initiative.scoring_deadline) == (tree["trai"].id, None)
    event = (await history(session, initiative))[-1]
    assert (event.from_status, event.to_status, event.unit_id, event.level) == (
        S.ACCEPTED, S.SUBMITTED, tree["district"].id, RecognitionLevel.DISTRICT
    )
    assert event.comment == f"{tree['trai'].name} → {tree['district'].name}"
    [entry] = await _audit(session, "forward_initiative")
    assert (entry.before, entry.after) == (
        {"unit_id": tree["trai"].id, "level": "school"},
        {"unit_id": tree["district"].id, "level": "district"},
    )
    # The school's official no longer runs it; the district's does.
    with pytest.raises(NotAllowed):
        await review.check_seating(session, school, initiative_id=initiative.id)  # type: ignore[arg-type]
    official = await actor_of(session, people["official"])
    assert [r.initiative.id for r in (await review.queue(session, official))[0]] == [
        initiative.id
    ]

    await _accept(session, initiative, people["official"], people["mai"], "01/QĐ-CĐGD")
    await review.forward(session, official, initiative_id=initiative.id, now=NOW)  # type: ignore[arg-type]
    assert (initiative.unit_id, initiative.level) == (tree["edu"].id, RecognitionLevel.CITY)
    await _accept(session, initiative, city_official, people["cuc"], "01/QĐ-CĐGDHN")
    with pytest.raises(NotAllowed) as refused:
        await review.forward(
            session, await actor_of(session, city_official), initiative_id=initiative.id, now=NOW,  # type: ignore[arg-type]
        )
    assert refused.value.code == "top_level"
    recognitions = (await session.exec(select(Recognition).order_by(Recognition.id))).all()  # type: ignore[arg-type]
    assert [(r.level, r.unit_id, r.certificate_no) for r in recognitions] == [
        ("school", tree["trai"].id, "01/QĐ-THCS"),
        ("district", tree["district"].id, "01/QĐ-CĐGD"),
        ("city", tree["edu"].id, "01/QĐ-CĐGDHN"),
    ]
    assert initiative.round == 3


async def test_an_official_never_acts_on_an_initiative_they_wrote(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    writer = await make_official(session, tree["trai"], "Cao Văn Khoa")
    initiative = await make_initiative(session, writer)
    actor = await actor_of(session, writer)
    for check in (review.check_seating, review.check_forward, review.check_deadline_change):
        with pytest.raises(NotAllowed) as refused:
            await check(session, actor, initiative_id=initiative.id)  # type: ignore[operator]
        assert refused.value.code == "own_initiative"
    # Reading it is not acting on it.
    card = await review.card_for_official(session, actor, initiative_id=initiative.id, now=NOW)  # type: ignore[arg-type]
    assert card.is_author and card.council == []
    assert people["lan"].id is not None


# --- two at once ---------------------------------------------------------------------------------


async def test_two_people_acting_at_once_change_it_once(engine: AsyncEngine) -> None:
    """Each reads the initiative before the other's change is committed (SQLite has no FOR
    UPDATE): the second change is refused, and nothing of it is kept."""
    sessions = database.create_session_factory(engine)
    async with sessions() as setup:
        tree = await make_tree(setup)
        people = await _council(setup, tree)
        other_official = await make_official(setup, tree["district"], "Hồ Văn Sơn")
        school_official = await make_official(setup, tree["trai"], "Cao Văn Khoa")
        initiative = await make_initiative(setup, people["lan"])
        accepted = await make_initiative(setup, people["lan"], "Đã công nhận")
        await setup.commit()
        for person in [*people.values(), other_official, school_official]:
            await actor_of(setup, person)  # their chat accounts, made now: no write below
        await setup.commit()
        ids = {name: person.id for name, person in people.items()}
        ids |= {"son": other_official.id, "khoa": school_official.id}
        initiative_id, accepted_id = initiative.id, accepted.id

    async def actor(session: AsyncSession, name: str):  # type: ignore[no-untyped-def]
        member = await session.get(Member, ids[name])
        assert member is not None
        return await actor_of(session, member)

    async with sessions() as first, sessions() as second:
        # Two officials seat a council for the same initiative.
        hung, son = await actor(first, "official"), await actor(second, "son")
        # What each read is held: a session keeps it as read (as in one tap's transaction).
        read = [
            await review.check_seating(first, hung, initiative_id=initiative_id),  # type: ignore[arg-type]
            await review.check_seating(second, son, initiative_id=initiative_id),  # type: ignore[arg-type]
        ]
        await review.seat_council(
            first, hung, initiative_id=initiative_id, reviewer_ids=[ids["mai"], ids["binh"]],  # type: ignore[arg-type,list-item]
            chair_id=ids["mai"], deadline=DEADLINE, now=NOW,  # type: ignore[arg-type]
        )
        await first.commit()
        with pytest.raises(NotAllowed) as refused:
            await review.seat_council(
                second, son, initiative_id=initiative_id, reviewer_ids=[ids["cuc"]],  # type: ignore[arg-type,list-item]
                chair_id=ids["cuc"], deadline=DEADLINE, now=NOW,  # type: ignore[arg-type]
            )
        assert (refused.value.code, refused.value.params) == (
            "initiative_state", {"status": S.UNDER_REVIEW}
        )
        assert len(read) == 2
        await second.rollback()

    async with sessions() as first, sessions() as second:
        # A reviewer's score and the chair's decision cross.
        mai, binh = await actor(first, "mai"), await actor(second, "binh")
        await review.score(first, mai, initiative_id=initiative_id, novelty=8, effectiveness=8,  # type: ignore[arg-type]
                           applicability=8, comment=None, now=NOW)
        await first.commit()
        read = [await review.seat_to_score(second, binh, initiative_id=initiative_id, now=NOW)]  # type: ignore[arg-type]
        await review.decide(first, mai, initiative_id=initiative_id, outcome=Outcome.REJECT,  # type: ignore[arg-type]
                            text="Trùng lặp.", now=DEADLINE)
        await first.commit()
        with pytest.raises(NotAllowed) as refused:
            await review.score(second, binh, initiative_id=initiative_id, novelty=9,  # type: ignore[arg-type]
                               effectiveness=9, applicability=9, comment=None, now=NOW)
        assert refused.value.params == {"status": S.REJECTED} and read
        await second.rollback()

    async with sessions() as setup:
        stored = await setup.get(Initiative, accepted_id)
        assert stored is not None
        stored.unit_id, stored.level, stored.status = (
            tree["trai"].id, RecognitionLevel.SCHOOL, S.ACCEPTED
        )
        setup.add(Recognition(
            initiative_id=accepted_id, level=RecognitionLevel.SCHOOL, unit_id=tree["trai"].id,
            certificate_no="01", school_year="2026-2027",
        ))
        await setup.commit()
    async with sessions() as first, sessions() as second:
        # The school's and the district's officials forward it at once.
        khoa, hung = await actor(first, "khoa"), await actor(second, "official")
        trai = tree["trai"].id
        # What the district's official read (held: the session keeps it as read).
        read = await review.check_forward(second, hung, initiative_id=accepted_id,  # type: ignore[arg-type]
                                          from_unit_id=trai)
        await review.forward(first, khoa, initiative_id=accepted_id, now=NOW, from_unit_id=trai)  # type: ignore[arg-type]
        await first.commit()
        with pytest.raises(NotAllowed) as refused:
            await review.forward(second, hung, initiative_id=accepted_id, now=NOW,  # type: ignore[arg-type]
                                 from_unit_id=trai)
        assert refused.value.code == "already_forwarded" and read[0].id == accepted_id
        await second.rollback()

    async with sessions() as check:
        seats = (await check.exec(select(ReviewSeat))).all()
        assert sorted((s.reviewer_member_id, s.total) for s in seats) == sorted(
            [(ids["mai"], 24), (ids["binh"], None)]
        )
        forwarded = await check.get(Initiative, accepted_id)
        assert forwarded is not None
        assert (forwarded.unit_id, forwarded.level) == (tree["district"].id, "district")
        assert [e.to_status for e in await history(check, forwarded)] == [S.SUBMITTED]


async def test_two_chairs_of_one_unit_never_give_the_same_certificate_number(
    engine: AsyncEngine,
) -> None:
    """Two initiatives of one school, two chairs deciding at the same moment with the same
    number: the second waits for the first and is told the number is taken."""
    sessions = database.create_session_factory(engine)
    async with sessions() as setup:
        tree = await make_tree(setup)
        people = await _council(setup, tree)
        school_official = await make_official(setup, tree["trai"], "Cao Văn Khoa")
        chairs = [
            await make_reviewer(setup, tree["trai"], "Bùi Thị An"),
            await make_reviewer(setup, tree["trai"], "Vũ Văn Cường"),
        ]
        initiatives = [
            await make_initiative(setup, people["lan"], "Sáng kiến thứ nhất"),
            await make_initiative(setup, people["lan"], "Sáng kiến thứ hai"),
        ]
        for initiative, chair in zip(initiatives, chairs, strict=True):
            await review.seat_council(
                setup, await actor_of(setup, school_official), initiative_id=initiative.id,  # type: ignore[arg-type]
                reviewer_ids=[chair.id], chair_id=chair.id, deadline=DEADLINE, now=NOW,  # type: ignore[list-item,arg-type]
            )
            await _score(setup, chair, initiative, (9, 9, 9))
        await setup.commit()
        pairs = [(i.id, c.id) for i, c in zip(initiatives, chairs, strict=True)]

    async def decide(session: AsyncSession, initiative_id: int, chair_id: int) -> None:
        chair = await session.get(Member, chair_id)
        assert chair is not None
        await review.decide(
            session, await actor_of(session, chair), initiative_id=initiative_id,
            outcome=Outcome.ACCEPT, text="07/QĐ-CĐCS", now=NOW,
        )

    async with sessions() as first, sessions() as second:
        await decide(first, *pairs[0])  # not committed yet

        async def then_second() -> None:
            try:
                await decide(second, *pairs[1])
            finally:
                await second.rollback()

        waiting = asyncio.create_task(then_second())
        await asyncio.sleep(0.3)  # the second is now waiting for the first's write
        await first.commit()
        with pytest.raises(InvalidInput) as refused:
            await waiting
        assert refused.value.code == "certificate_taken"

    async with sessions() as check:
        numbers = (await check.exec(select(Recognition.certificate_no))).all()
        assert numbers == ["07/QĐ-CĐCS"]
        second_initiative = await check.get(Initiative, pairs[1][0])
        assert second_initiative is not None and second_initiative.status == S.UNDER_REVIEW


async def test_the_official_names_another_chair_who_then_decides(session: AsyncSession) -> None:
    tree = await make_tree(session)
    people = await _council(session, tree)
    initiative = await make_initiative(session, people["lan"])
    official = await actor_of(session, people["official"])
    with pytest.raises(NotAllowed) as refused:  # no council yet
        await review.change_chair(session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
                                  chair_id=people["binh"].id, now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == "initiative_state"
    await _seated(session, people, initiative)
    for values, who in (((8, 8, 8), "mai"), ((7, 7, 7), "binh"), ((6, 6, 6), "cuc")):
        await _score(session, people[who], initiative, values)
    # Mai leaves the union's councils: Bình is named chair; only he decides now.
    for stranger in (people["lan"], people["official"]):
        with pytest.raises(NotAllowed) as refused:
            await review.change_chair(session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
                                      chair_id=stranger.id, now=NOW)  # type: ignore[arg-type]
        assert refused.value.code == "chair_not_seated"
    reviewer = await actor_of(session, people["cuc"])
    with pytest.raises(NotAllowed):  # a reviewer does not run the council
        await review.change_chair(session, reviewer, initiative_id=initiative.id,  # type: ignore[arg-type]
                                  chair_id=people["cuc"].id, now=NOW)  # type: ignore[arg-type]
    _, chair = await review.change_chair(
        session, official, initiative_id=initiative.id,  # type: ignore[arg-type]
        chair_id=people["binh"].id, now=NOW,  # type: ignore[arg-type]
    )
    assert chair.id == people["binh"].id
    with pytest.raises(NotAllowed) as refused:
        await review.decide(session, await actor_of(session, people["mai"]),
                            initiative_id=initiative.id, outcome=Outcome.REJECT,  # type: ignore[arg-type]
                            text="Không đạt.", now=NOW)
    assert refused.value.code == "chair_only"
    await review.decide(session, await actor_of(session, people["binh"]),
                        initiative_id=initiative.id, outcome=Outcome.ACCEPT,  # type: ignore[arg-type]
                        text="09/QĐ", now=NOW)
    assert initiative.status == S.ACCEPTED
    [entry] = await _audit(session, "review_chair")
    assert (entry.before, entry.after) == (
        {"chair_member_id": people["mai"].id}, {"chair_member_id": people["binh"].id}
    )
