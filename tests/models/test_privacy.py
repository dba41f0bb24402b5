"""A person's own data: the export holds every kind of record about them, and erasure removes
the personal data while the union's numbers and the audit log's facts stay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import load_translator
from models import onboarding as flow
from models.access import Role, RoleAssignment, actor_for, appoint
from models.achievements import TitleAward
from models.audit import ERASED, AuditEntry, entries_about, entries_by, record, snapshot
from models.base import utcnow
from models.channels import ZaloId, ZaloMenu, int_id_for
from models.errors import NotAllowed, NotFound
from models.initiatives import (
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeEvent,
    InitiativeStatus,
    Recognition,
    ReviewSeat,
    attachments_of,
    authors_of,
    history,
    members_to_notify,
    recognitions_of,
    transition,
)
from models.linking import LinkAttempt, LinkCode, issue_link_code
from models.members import (
    Channel,
    ConsentPurpose,
    ConsentRecord,
    Gender,
    Identity,
    Invite,
    Member,
    ensure_identity,
    get_identity,
    has_consent,
    record_consent,
)
from models.movement_members import add_evidence, answer_criterion
from models.movements import Evidence, Registration, register
from models.onboarding import OnboardingDraft
from models.org import OrgUnit
from models.persistence import ConversationState, StoredData
from models.privacy import (
    ERASE_CONFIRMATION_TTL,
    ERASED_NAME,
    HANDLED_TABLES,
    KEPT_MEMBER_FIELDS,
    check_erasure_token,
    erase_member,
    erasure_token,
    export_member_data,
    render_summary,
)
from models.roster import PendingImport
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_movement,
    make_official,
    make_tree,
)

LAN_TELEGRAM = 1001
BINH_TELEGRAM = 10010  # starts with Lan's id: must not be taken for hers


@dataclass
class World:
    tree: dict[str, OrgUnit]
    lan: Member
    telegram: Identity
    zalo: Identity
    zalo_number: int
    official: Member
    binh: Member
    link_code: str


async def _world(session: AsyncSession) -> World:
    """Lan, a member with a Telegram and a Zalo account and a record of every kind; Bình, another
    member, and rows of other people that share digits or numbers with Lan's."""
    tree = await make_tree(session)
    official = await make_official(session, tree["district"], telegram_id=9001)
    zalo_number, _ = await int_id_for(session, "zalo-lan-abc")
    lan = await make_member(
        session, tree["trai"], "Nguyễn Thị Lan", telegram_id=LAN_TELEGRAM, zalo_id=zalo_number,
        phone="+84912345678", member_code="HN-0042", locale="vi",
    )
    lan.date_of_birth = date(1985, 3, 8)
    lan.is_union_member = True
    session.add(lan)
    telegram = await get_identity(session, channel=Channel.TELEGRAM, external_id=str(LAN_TELEGRAM))
    zalo = await get_identity(session, channel=Channel.ZALO, external_id=str(zalo_number))
    assert telegram is not None and zalo is not None
    for identity, purpose in (
        (telegram, ConsentPurpose.MEMBERSHIP),
        (telegram, ConsentPurpose.GENDER_STATISTICS),
        (zalo, ConsentPurpose.CONTACT_PHONE),
    ):
        await record_consent(session, identity=identity, purpose=purpose, granted=True,
                             locale="vi")
    await appoint(session, None, member=lan, role=Role.REVIEWER, unit=tree["trai"])
    await flow.begin_profile_edit(session, identity=telegram, member=lan)
    code = await issue_link_code(session, identity=telegram)
    session.add(LinkAttempt(identity_id=zalo.id, succeeded=True))  # type: ignore[arg-type]
    official_actor = await actor_of(session, official)
    await record(session, official_actor, "approve", target_type="member", target_id=lan.id,
                 before=snapshot(lan), after=snapshot(lan))
    invite = Invite(code="LAN-INV", unit_id=tree["trai"].id, created_by_member_id=lan.id)  # type: ignore[arg-type]
    session.add(invite)
    await session.flush()
    lan_actor = await actor_for(session, telegram)
    await record(session, lan_actor, "invite", target_type="invite", target_id=invite.id)
    session.add(PendingImport(identity_id=telegram.id, filename="ds.xlsx", content=b"rows"))  # type: ignore[arg-type]
    n = zalo_number
    session.add_all([
        ConversationState(name="onboarding", key=f"[{LAN_TELEGRAM},{LAN_TELEGRAM}]",
                          state='"summary"'),
        ConversationState(name="zalo:onboarding", key=f"[{n},{n}]", state='"name"'),
        StoredData(kind="user", owner=str(LAN_TELEGRAM), data='{"invite_code": "X"}'),
        StoredData(kind="chat", owner=f"zalo:{n}", data='{"seen": 1}'),
        # The last list Lan saw on Zalo: a page of the directory, about Bình.
        ZaloMenu(chat_id=n, message_id=7, kind="inline", text="Đoàn viên: Lê Văn Bình",
                 options='[["Lê Văn Bình", "dir:m:2"]]'),
    ])

    binh = await make_member(session, tree["du"], "Lê Văn Bình", telegram_id=BINH_TELEGRAM)
    binh_identity = await get_identity(
        session, channel=Channel.TELEGRAM, external_id=str(BINH_TELEGRAM)
    )
    assert binh_identity is not None
    await record_consent(session, identity=binh_identity, purpose=ConsentPurpose.MEMBERSHIP,
                         granted=True, locale="vi")
    session.add_all([
        ConversationState(name="onboarding", key=f"[{BINH_TELEGRAM},{BINH_TELEGRAM}]",
                          state='"name"'),
        StoredData(kind="user", owner=str(BINH_TELEGRAM), data='{"a": 1}'),
        # A Telegram user whose id is the number of Lan's Zalo account: another person.
        ConversationState(name="onboarding", key=f"[{n},{n}]", state='"unit"'),
        StoredData(kind="user", owner=str(n), data='{"b": 2}'),
    ])
    await session.commit()
    return World(tree, lan, telegram, zalo, zalo_number, official, binh, code.code)


# --- export --------------------------------------------------------------------------------


async def test_the_export_holds_every_kind_of_record_about_the_member(
    session: AsyncSession,
) -> None:
    w = await _world(session)
    data = await export_member_data(session, w.zalo)  # from either account: the same person
    text = json.dumps(data, ensure_ascii=False)

    member = data["member"]
    assert member["full_name"] == "Nguyễn Thị Lan" and member["phone"] == "+84912345678"
    assert member["member_code"] == "HN-0042" and member["date_of_birth"] == "1985-03-08"
    assert member["gender"] == "female" and member["is_union_member"] is True
    assert data["unit"] == {"code": w.tree["trai"].code, "name": "Trường THCS Nguyễn Trãi"}
    assert [(a["channel"], a["id"]) for a in data["accounts"]] == [
        ("telegram", str(LAN_TELEGRAM)), ("zalo", str(w.zalo_number))
    ]
    assert data["accounts"][1]["zalo_user_id"] == "zalo-lan-abc"
    assert [(c["channel"], c["purpose"], c["granted"]) for c in data["consents"]] == [
        ("telegram", "membership", True),
        ("telegram", "gender_statistics", True),
        ("zalo", "contact_phone", True),
    ]
    assert all(c["policy_version"] and c["language"] == "vi" for c in data["consents"])
    assert data["roles"] == [
        {"role": "reviewer", "unit": data["unit"], "since": data["roles"][0]["since"]}
    ]
    [draft] = data["onboarding_drafts"]
    assert draft["channel"] == "telegram" and draft["full_name"] == "Nguyễn Thị Lan"
    [code] = data["link_codes"]
    assert code["pending"] is True and "code" not in code
    assert f'"{w.link_code}"' not in text  # the code is a key to the profile, not shown
    assert [(a["channel"], a["succeeded"]) for a in data["link_attempts"]] == [("zalo", True)]
    [about] = data["audit_entries_about_you"]
    assert about["action"] == "approve" and about["after"]["full_name"] == "Nguyễn Thị Lan"
    assert data["audit_entries_by_you"] == 1
    assert [i["code"] for i in data["invites_created"]] == ["LAN-INV"]
    assert data["pending_imports"] == [
        {"filename": "ds.xlsx", "created_at": data["pending_imports"][0]["created_at"]}
    ]
    conversations = sorted((c["channel"], c["conversation"], c["state"])
                           for c in data["conversations"])
    assert conversations == [("telegram", "onboarding", "summary"), ("zalo", "onboarding", "name")]
    stored = sorted((s["channel"], s["kind"], s["data"]) for s in data["stored_data"])
    assert stored == [("telegram", "user", {"invite_code": "X"}), ("zalo", "chat", {"seen": 1})]
    [shown] = data["zalo_lists"]  # kept, but what it showed is about Bình
    assert shown == {"kind": "inline", "updated_at": shown["updated_at"]}
    assert "Lê Văn Bình" not in text and '"b": 2' not in text  # nobody else's data


async def test_the_export_of_a_person_who_has_not_joined_holds_their_consents_and_answers(
    session: AsyncSession,
) -> None:
    identity = await ensure_identity(session, channel=Channel.TELEGRAM, external_id="3003")
    await record_consent(session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP,
                         granted=True, locale="en")
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Phạm Thu Hà")
    await session.commit()

    data = await export_member_data(session, identity)
    assert data["member"] is None and data["unit"] is None
    assert [a["id"] for a in data["accounts"]] == ["3003"]
    assert [(c["purpose"], c["language"]) for c in data["consents"]] == [("membership", "en")]
    assert [d["full_name"] for d in data["onboarding_drafts"]] == ["Phạm Thu Hà"]
    assert data["roles"] == data["link_codes"] == data["audit_entries_about_you"] == []
    json.dumps(data)


@pytest.mark.parametrize("locale", ["vi", "en"])
async def test_the_summary_reads_in_the_persons_language_with_every_text_translated(
    session: AsyncSession, locale: str
) -> None:
    w = await _world(session)
    data = await export_member_data(session, w.telegram)
    data["member"]["status_reason"] = "Sai đơn vị"  # every line of the summary, once
    translator = load_translator("vi")
    asked: list[str] = []

    def t(key: str, /, **params: object) -> str:
        asked.append(key)
        return translator.t(locale, key, **params)

    text = "\n".join(render_summary(data, t))
    missing = {k for k in asked if not (translator.has("vi", k) and translator.has("en", k))}
    assert missing == set()
    for fact in ("Nguyễn Thị Lan", "Trường THCS Nguyễn Trãi", "+84912345678", "HN-0042",
                 "08/03/1985", "Sai đơn vị", "Zalo", "Telegram"):
        assert fact in text
    assert translator.t(locale, "role.reviewer") in text
    assert translator.t(locale, "consent.purpose.contact_phone") in text


# --- erasure -------------------------------------------------------------------------------


async def _count(session: AsyncSession, table: type[SQLModel], *where: object) -> int:
    rows = await session.exec(select(func.count()).select_from(table).where(*where))  # type: ignore[arg-type]
    return int(rows.one())


async def test_erasure_blanks_the_member_deletes_their_accounts_and_keeps_the_numbers(
    session: AsyncSession,
) -> None:
    w = await _world(session)
    lan_id, trai_id, official_id = w.lan.id, w.tree["trai"].id, w.official.id
    account_ids = [w.telegram.id, w.zalo.id]
    kept_before = {name: getattr(w.lan, name) for name in KEPT_MEMBER_FIELDS}
    members_of_trai = await _count(session, Member, Member.unit_id == trai_id)
    [approve] = await entries_about(session, target_type="member", target_id=lan_id)  # type: ignore[arg-type]
    approved_at, approved_by = approve.at, approve.actor_member_id

    erased = await erase_member(session, w.telegram)
    await session.commit()
    session.expire_all()

    assert erased.member_id == lan_id
    assert sorted(erased.accounts) == [("telegram", str(LAN_TELEGRAM)),
                                       ("zalo", str(w.zalo_number))]
    lan = await session.get(Member, lan_id)
    assert lan is not None and lan.erased_at is not None
    assert lan.full_name == lan.full_name_folded == ERASED_NAME
    assert {name: getattr(lan, name) for name in KEPT_MEMBER_FIELDS} == kept_before
    blanked = set(Member.__table__.columns.keys()) - {  # type: ignore[attr-defined]
        *KEPT_MEMBER_FIELDS, "full_name", "full_name_folded", "erased_at", "updated_at"
    }
    assert {name: getattr(lan, name) for name in blanked} == dict.fromkeys(blanked)
    assert "gender" in blanked and "phone" in blanked and "member_code" in blanked
    # The unit still has as many members; an erased gender is "not disclosed".
    assert await _count(session, Member, Member.unit_id == trai_id) == members_of_trai
    assert await _count(
        session, Member, Member.unit_id == trai_id, Member.gender == Gender.FEMALE
    ) == members_of_trai - 1

    for table, column in (
        (Identity, Identity.id), (ConsentRecord, ConsentRecord.identity_id),
        (OnboardingDraft, OnboardingDraft.identity_id), (LinkAttempt, LinkAttempt.identity_id),
        (PendingImport, PendingImport.identity_id),
    ):
        assert await _count(session, table, col(column).in_(account_ids)) == 0, table
    assert await _count(session, Identity, Identity.member_id == lan_id) == 0
    assert await _count(session, LinkCode, LinkCode.member_id == lan_id) == 0
    assert await _count(session, RoleAssignment, RoleAssignment.member_id == lan_id) == 0
    assert await _count(session, ZaloMenu) == 0
    # Other people's rows stay, even those keyed by the same digits on another channel.
    remaining = {(r.name, r.key) for r in (await session.exec(select(ConversationState))).all()}
    assert remaining == {
        ("onboarding", f"[{BINH_TELEGRAM},{BINH_TELEGRAM}]"),
        ("onboarding", f"[{w.zalo_number},{w.zalo_number}]"),
    }
    owners = {r.owner for r in (await session.exec(select(StoredData))).all()}
    assert owners == {str(BINH_TELEGRAM), str(w.zalo_number)}
    assert await _count(session, ConsentRecord) == 1  # Bình's
    assert await _count(session, RoleAssignment, RoleAssignment.member_id == official_id) == 1
    # The Zalo id mapping stays (see models/privacy.py); it names no one now.
    assert await _count(session, ZaloId, ZaloId.zalo_id == "zalo-lan-abc") == 1

    approve_after, erase = await entries_about(session, target_type="member", target_id=lan_id)  # type: ignore[arg-type]
    assert (approve_after.action, approve_after.at, approve_after.actor_member_id) == (
        "approve", approved_at, approved_by
    )
    assert approve_after.before == ERASED and approve_after.after == ERASED
    assert (erase.action, erase.actor_member_id, erase.before, erase.after) == (
        "erase", lan_id, None, None
    )
    assert [e.action for e in await entries_by(session, member_id=lan_id)] == [  # type: ignore[arg-type]
        "invite", "erase"
    ]
    assert await _count(session, Invite, Invite.code == "LAN-INV") == 1


async def test_an_erased_persons_chat_account_is_a_stranger_who_can_start_anew(
    session: AsyncSession,
) -> None:
    w = await _world(session)
    await erase_member(session, w.zalo)
    await session.commit()

    again = await ensure_identity(session, channel=Channel.TELEGRAM, external_id=str(LAN_TELEGRAM))
    assert again.member_id is None
    assert not await has_consent(session, identity=again, purpose=ConsentPurpose.MEMBERSHIP)
    with pytest.raises(NotAllowed) as refused:
        await flow.start_onboarding(session, identity=again)
    assert refused.value.code == "consent_required"
    actor = await actor_for(session, again)
    assert actor.member is None and not actor.is_official and not actor.reviewer_of
    await record_consent(session, identity=again, purpose=ConsentPurpose.MEMBERSHIP,
                         granted=True, locale="vi")
    draft = await flow.start_onboarding(session, identity=again)
    assert draft.step == flow.Step.NAME and draft.full_name is None
    data = await export_member_data(session, again)
    assert data["member"] is None and len(data["consents"]) == 1 and data["conversations"] == []


async def test_a_person_who_has_not_joined_can_erase_their_consents_and_answers(
    session: AsyncSession,
) -> None:
    identity = await ensure_identity(session, channel=Channel.TELEGRAM, external_id="3003")
    await record_consent(session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP,
                         granted=True, locale="vi")
    draft = await flow.start_onboarding(session, identity=identity)
    await flow.answer_name(session, draft, "Phạm Thu Hà")
    session.add(LinkAttempt(identity_id=identity.id, succeeded=False))  # type: ignore[arg-type]
    session.add(StoredData(kind="user", owner="3003", data='{"invite_code": "X"}'))
    await session.commit()

    erased = await erase_member(session, identity)
    await session.commit()

    assert erased.member_id is None and erased.accounts == [("telegram", "3003")]
    for table in (Identity, ConsentRecord, OnboardingDraft, LinkAttempt, StoredData, AuditEntry):
        assert await _count(session, table) == 0, table
    assert await get_identity(session, channel=Channel.TELEGRAM, external_id="3003") is None


# --- the confirmation button -------------------------------------------------------------------


async def test_the_erase_button_works_only_fresh_and_only_for_the_account_that_asked(
    session: AsyncSession,
) -> None:
    identity = await ensure_identity(session, channel=Channel.TELEGRAM, external_id="3003")
    other = await ensure_identity(session, channel=Channel.TELEGRAM, external_id="3004")
    await session.commit()
    asked = utcnow()
    token = erasure_token(identity, now=asked)

    check_erasure_token(identity, token, now=asked + timedelta(minutes=1))
    stale = [
        (identity, token, asked + ERASE_CONFIRMATION_TTL + timedelta(minutes=1)),  # too old
        (other, token, asked),  # another account's button
        (identity, "12.abc.3", asked),  # not a token
        (identity, token + ".1", asked),
    ]
    for who, given, now in stale:
        with pytest.raises(NotFound) as refused:
            check_erasure_token(who, given, now=now)
        assert refused.value.code == "erase_stale"
    # A person who erased and came back at once, even under the same id (SQLite reuses the
    # highest one): the old button was not asked of the new account.
    identity_id = identity.id
    await erase_member(session, identity)
    await session.commit()
    back = Identity(id=identity_id, channel=Channel.TELEGRAM, external_id="3003")
    with pytest.raises(NotFound):
        check_erasure_token(back, token, now=asked)


def test_every_table_that_points_at_a_person_is_exported_and_erased() -> None:
    pointing = {"member", "identity"}
    for table in SQLModel.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table.name in ("member", "identity"):
                pointing.add(table.name)
    assert pointing - HANDLED_TABLES == set(), (
        "a new table refers to a member or an identity: decide what /mydata shows of it and "
        "what /deleteme does to it (models/privacy.py), then add it to HANDLED_TABLES"
    )


# --- emulation movements -------------------------------------------------------------------


async def _registered(session: AsyncSession, w: World) -> tuple[Registration, Registration]:
    """Lan registered for a movement with a commitment, wrote her self-assessment and sent two
    files; Bình registered for the same movement."""
    movement = await make_movement(
        session, w.tree["district"], "Giỏi việc trường, đảm việc nhà",
        registration_deadline=utcnow() - timedelta(days=1),
        assessment_opens=utcnow() - timedelta(days=1),
    )
    before = utcnow() - timedelta(days=2)
    lan = await register(session, member=w.lan, movement=movement, title_code="GVTDVN",
                         commitment="Chăm lo gia đình, dạy tốt", now=before)
    binh = await register(session, member=w.binh, movement=movement, title_code="LDTT",
                          commitment="Cam kết của Bình", now=before)
    for text in ("Dạy đủ tiết", "Con ngoan"):
        await answer_criterion(session, w.lan, movement.id, text, now=utcnow())  # type: ignore[arg-type]
    await add_evidence(session, w.lan, movement.id, channel="telegram", kind="document",  # type: ignore[arg-type]
                       file_id="BQAC1", file_unique_id="U1", file_name="giay-khen.pdf",
                       size=1000, now=utcnow())
    await add_evidence(session, w.lan, movement.id, channel="telegram", kind="photo",  # type: ignore[arg-type]
                       file_id="AgAC1", file_unique_id="U2", now=utcnow())
    await session.commit()
    return lan, binh


async def test_the_export_holds_her_registrations_texts_and_evidence_names(
    session: AsyncSession,
) -> None:
    w = await _world(session)
    await _registered(session, w)
    data = await export_member_data(session, w.telegram)

    [registration] = data["registrations"]
    assert (registration["movement"], registration["title"], registration["status"]) == (
        "Giỏi việc trường, đảm việc nhà", "Giỏi việc trường, đảm việc nhà", "registered"
    )
    assert registration["commitment"] == "Chăm lo gia đình, dạy tốt"
    assert [a["text"] for a in registration["assessment"]] == ["Dạy đủ tiết", "Con ngoan"]
    assert registration["assessment"][0]["criterion"] == "Hoàn thành tốt nhiệm vụ chuyên môn"
    assert [(e["kind"], e["file_name"]) for e in registration["evidence"]] == [
        ("document", "giay-khen.pdf"), ("photo", None)
    ]
    assert "Cam kết của Bình" not in json.dumps(data, ensure_ascii=False)
    translator = load_translator("vi")
    text = "\n".join(render_summary(data, lambda k, **p: translator.t("vi", k, **p)))
    for fact in ("Chăm lo gia đình, dạy tốt", "Dạy đủ tiết", "giay-khen.pdf", "đã đăng ký"):
        assert fact in text


async def test_erasure_keeps_her_registrations_without_what_she_wrote_or_sent(
    session: AsyncSession,
) -> None:
    w = await _world(session)
    lan, binh = await _registered(session, w)
    ids = (lan.id, binh.id, w.lan.id, w.tree["trai"].id)

    await erase_member(session, w.telegram)
    await session.commit()
    session.expire_all()

    kept = await session.get(Registration, ids[0])
    assert kept is not None and kept.member_id == ids[2]
    assert (kept.status, kept.title_code, kept.unit_id) == ("registered", "GVTDVN", ids[3])
    assert kept.commitment is None and kept.assessment is None
    assert await _count(session, Evidence) == 0
    other = await session.get(Registration, ids[1])
    assert other is not None and other.commitment == "Cam kết của Bình"


# --- initiatives ---------------------------------------------------------------------------


@dataclass
class Initiatives:
    draft: Initiative
    submitted: Initiative
    binhs: Initiative
    binhs_draft: Initiative
    reviewed: Initiative
    seat: ReviewSeat


async def _initiatives(session: AsyncSession, w: World) -> Initiatives:
    """Lan wrote a draft (with a file and Bình) and submitted one that was recognised (with
    Bình and a typed name); she co-wrote Bình's submitted initiative and is named on his draft;
    she sat as chair on the council of a third person's initiative, decided it, seated another
    council, and has title awards (and recorded one for Bình)."""
    draft = await make_initiative(session, w.lan, "Nháp của Lan", status=InitiativeStatus.DRAFT,
                                  co_authors=[w.binh], attachments=1)
    submitted = await make_initiative(session, w.lan, "Sổ chủ nhiệm điện tử",
                                      co_authors=[w.binh, "Đỗ Văn Nam"], attachments=2)
    await transition(session, submitted, InitiativeStatus.UNDER_REVIEW,
                     actor_member_id=w.official.id)
    await transition(session, submitted, InitiativeStatus.ACCEPTED,
                     actor_member_id=w.official.id, comment="Công nhận cấp trường")
    session.add(Recognition(initiative_id=submitted.id, level="school",  # type: ignore[arg-type]
                            unit_id=w.tree["trai"].id, certificate_no="12/QĐ-CĐCS",  # type: ignore[arg-type]
                            school_year="2026-2027", decided_by_member_id=w.official.id))
    binhs = await make_initiative(session, w.binh, "Sáng kiến của Bình", co_authors=[w.lan])
    binhs_draft = await make_initiative(session, w.binh, "Nháp bí mật của Bình",
                                        status=InitiativeStatus.DRAFT, co_authors=[w.lan])
    other = await make_member(session, w.tree["trai"], "Vũ Thị Khác")
    reviewed = await make_initiative(session, other, "Sáng kiến được Lan chấm")
    reviewed.round = 1
    seat = ReviewSeat(initiative_id=reviewed.id, round=1, reviewer_member_id=w.lan.id,  # type: ignore[arg-type]
                      is_chair=True, assigned_by_member_id=w.official.id, novelty=8,
                      effectiveness=7, applicability=9, comment="Có tính mới.",
                      scored_at=utcnow())
    session.add(seat)
    session.add(ReviewSeat(initiative_id=binhs.id, round=1, reviewer_member_id=w.official.id,  # type: ignore[arg-type]
                           assigned_by_member_id=w.lan.id))
    await transition(session, reviewed, InitiativeStatus.UNDER_REVIEW, actor_member_id=w.lan.id)
    await transition(session, reviewed, InitiativeStatus.ACCEPTED, actor_member_id=w.lan.id)
    session.add(Recognition(initiative_id=reviewed.id, level="school",  # type: ignore[arg-type]
                            unit_id=w.tree["trai"].id, certificate_no="13/QĐ-CĐCS",  # type: ignore[arg-type]
                            school_year="2026-2027", decided_by_member_id=w.lan.id))
    session.add_all([
        TitleAward(member_id=w.lan.id, school_year="2024-2025", title_code="LDTT",  # type: ignore[arg-type]
                   title_name="Lao động tiên tiến", decision="Quyết định số 45/QĐ-CĐGD"),
        TitleAward(member_id=w.lan.id, school_year="2025-2026", title_code="CSTDCS",  # type: ignore[arg-type]
                   title_name="Chiến sĩ thi đua cơ sở"),
        TitleAward(member_id=w.binh.id, school_year="2025-2026", title_code="LDTT",  # type: ignore[arg-type]
                   title_name="Lao động tiên tiến", recorded_by_member_id=w.lan.id),
    ])
    await session.commit()
    return Initiatives(draft, submitted, binhs, binhs_draft, reviewed, seat)


async def test_the_export_holds_her_initiatives_seats_and_titles(session: AsyncSession) -> None:
    w = await _world(session)
    await _initiatives(session, w)
    data = await export_member_data(session, w.telegram)
    text = json.dumps(data, ensure_ascii=False)

    by_title = {entry["title"]: entry for entry in data["initiatives"]}
    assert set(by_title) == {
        "Nháp của Lan", "Sổ chủ nhiệm điện tử", "Sáng kiến của Bình", "Nháp bí mật của Bình"
    }
    hers = by_title["Sổ chủ nhiệm điện tử"]
    assert (hers["role"], hers["status"], hers["level"]) == ("submitter", "accepted", "school")
    assert hers["problem"].startswith("Học sinh lớp 7") and hers["confidential"] == ""
    assert hers["unit"] == {"code": w.tree["trai"].code, "name": "Trường THCS Nguyễn Trãi"}
    assert [(a["name"], a["share"], a["you"]) for a in hers["authors"]] == [
        ("Nguyễn Thị Lan", 34, True), ("Lê Văn Bình", 33, False), ("Đỗ Văn Nam", 33, False)
    ]
    assert [f["file_name"] for f in hers["attachments"]] == ["minh-chung-1.pdf",
                                                             "minh-chung-2.pdf"]
    assert [(e["to"], e["comment"], e["by_you"]) for e in hers["history"]] == [
        ("under_review", None, False), ("accepted", "Công nhận cấp trường", False)
    ]
    assert [(r["level"], r["certificate_no"]) for r in hers["recognitions"]] == [
        ("school", "12/QĐ-CĐCS")
    ]
    assert by_title["Sáng kiến của Bình"]["role"] == "co_author"
    assert by_title["Sáng kiến của Bình"]["solution"]  # co-written: the whole request
    # Another person's unsubmitted draft: only that she is named on it.
    assert by_title["Nháp bí mật của Bình"] == {
        "title": "Nháp bí mật của Bình", "status": "draft", "role": "co_author"
    }
    [seat] = data["review_seats"]
    assert (seat["initiative"], seat["chair"], seat["novelty"], seat["comment"]) == (
        "Sáng kiến được Lan chấm", True, 8, "Có tính mới."
    )
    assert [(a["school_year"], a["title_name"], a["decision"]) for a in data["title_awards"]] == [
        ("2024-2025", "Lao động tiên tiến", "Quyết định số 45/QĐ-CĐGD"),
        ("2025-2026", "Chiến sĩ thi đua cơ sở", None),
    ]
    # Two events and one recognition on the initiative she judged, one council she seated.
    assert data["initiative_actions_by_you"] == 4
    assert "Vũ Thị Khác" not in text  # the author she judged is not her data

    translator = load_translator("vi")
    summary = "\n".join(render_summary(data, lambda k, **p: translator.t("vi", k, **p)))
    for fact in ("Sổ chủ nhiệm điện tử — được công nhận (tác giả, người nộp)",
                 "Sáng kiến của Bình — đã nộp, chờ xét (đồng tác giả)",
                 "Công nhận cấp trường, số 12/QĐ-CĐCS, năm học 2026-2027",
                 "Sáng kiến được Lan chấm: 24/30 điểm", "2024-2025: Lao động tiên tiến"):
        assert fact in summary, fact
    english = load_translator("en")
    asked: list[str] = []

    def t(key: str, /, **params: object) -> str:
        asked.append(key)
        return english.t("en", key, **params)

    render_summary(data, t)
    assert {k for k in asked if not (english.has("vi", k) and english.has("en", k))} == set()


async def test_erasure_deletes_her_drafts_and_keeps_the_unions_records_without_her(
    session: AsyncSession,
) -> None:
    w = await _world(session)
    i = await _initiatives(session, w)
    lan_id, binh_id, official_id = w.lan.id, w.binh.id, w.official.id
    ids = {name: getattr(i, name).id for name in
           ("draft", "submitted", "binhs", "binhs_draft", "reviewed")}
    seat_id = i.seat.id

    await erase_member(session, w.telegram)
    await session.commit()
    session.expire_all()

    # Her draft is gone, with its authors and files.
    assert await session.get(Initiative, ids["draft"]) is None
    for table in (InitiativeAuthor, InitiativeAttachment):
        assert await _count(session, table, table.initiative_id == ids["draft"]) == 0  # type: ignore[attr-defined]
    # Her submitted initiative stays for the union and her co-authors, naming her no more.
    submitted = await session.get(Initiative, ids["submitted"])
    assert submitted is not None and submitted.submitter_member_id is None
    assert submitted.status == InitiativeStatus.ACCEPTED
    assert [(a.name, a.member_id, a.share) for a in await authors_of(session, submitted)] == [
        (ERASED_NAME, None, 34), ("Lê Văn Bình", binh_id, 33), ("Đỗ Văn Nam", None, 33)
    ]
    assert len(await attachments_of(session, submitted)) == 2
    [recognition] = await recognitions_of(session, submitted)
    assert recognition.certificate_no == "12/QĐ-CĐCS"
    assert [m.id for m in await members_to_notify(session, submitted)] == [binh_id]
    for key in ("binhs", "binhs_draft"):
        initiative = await session.get(Initiative, ids[key])
        assert initiative is not None and initiative.submitter_member_id == binh_id
        assert [a.name for a in await authors_of(session, initiative)] == [
            "Lê Văn Bình", ERASED_NAME
        ]
    # What she did as a reviewer stays as a fact; her seat names no one now.
    reviewed = await session.get(Initiative, ids["reviewed"])
    assert reviewed is not None
    assert [e.actor_member_id for e in await history(session, reviewed)] == [None, None]
    [decided] = await recognitions_of(session, reviewed)
    assert decided.decided_by_member_id is None and decided.certificate_no == "13/QĐ-CĐCS"
    seat = await session.get(ReviewSeat, seat_id)
    assert seat is not None and seat.reviewer_member_id == lan_id
    assert (seat.novelty, seat.effectiveness, seat.applicability) == (8, 7, 9)
    assert seat.assigned_by_member_id == official_id
    reviewer = await session.get(Member, lan_id)
    assert reviewer is not None and reviewer.full_name == ERASED_NAME
    assert await _count(session, ReviewSeat, ReviewSeat.assigned_by_member_id == lan_id) == 0
    # Her title awards go; the one she recorded for Bình stays without her.
    assert await _count(session, TitleAward, TitleAward.member_id == lan_id) == 0
    [binhs_award] = (await session.exec(select(TitleAward))).all()
    assert (binhs_award.member_id, binhs_award.recorded_by_member_id) == (binh_id, None)
    # Nothing else refers to her.
    for table, column in (
        (InitiativeAuthor, InitiativeAuthor.member_id),
        (Initiative, Initiative.submitter_member_id),
        (InitiativeEvent, InitiativeEvent.actor_member_id),
        (Recognition, Recognition.decided_by_member_id),
    ):
        assert await _count(session, table, column == lan_id) == 0, table
