"""A person's own data: everything stored about them (/mydata), and erasing it (/deleteme).

Export gathers every row about the person, whether or not they are a member yet: the member
record, their chat accounts and consents, roles, unfinished answers, link codes and tries, the
audit entries about them, what they made as an official, and the chat runtime's rows kept under
their chat ids (conversation progress, user and chat data, the last Zalo list shown).

Erasure anonymises rather than deletes the member, so the unit's numbers stay right: the row
keeps its unit, position, status, union membership and join date, and loses every personal
field (name, phone, birth date, member code, the reason of a rejection, language, channel).
Gender is personal data too and is erased: the women's statistics count an erased member as
"not disclosed", so a unit's count of women can drop when a woman erases her data (the total
stays). Every chat account is deleted with all that hangs on it, so the person's former chat
ids are strangers to the bot: /start starts anew. The audit log keeps the facts about them
(action, time, who acted) and loses the data, and gains one "erase" entry with no data.
Registrations for emulation movements stay (the union's counts and the titles given), without
what the member wrote: the commitment and the self-assessment's texts are blanked and the
evidence files are forgotten.

Initiatives: the member's unsubmitted drafts are deleted (their authors and files with them).
A submitted initiative belongs to the union's records and to its co-authors, so it stays, and
names the member no more: their author row becomes "—" without a member, and the initiative
loses its submitter. What others did stays as a fact without the member: the events they
caused, the recognitions they decided and the councils they seated keep no member id. A review
seat cannot lose its reviewer (the column is required, and one reviewer per seat and round is
what the council's rules count), so it stays pointing at the erased member row, which names no
one once blanked: the scores and comment count for the decision that was made. Title awards
are the member's own record and are deleted.

Kept on purpose: the Zalo id mapping (`zalo_id`, the platform's opaque account id and the
integer the bridge uses for it). The bridge caches it in memory for routing, and giving that
integer away (SQLite reuses the highest deleted id) could send one person's messages to
another; the row names no one once the account's identity is gone.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, null, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import RoleAssignment
from models.achievements import TitleAward
from models.announcements import Announcement, AnnouncementAck
from models.audit import AuditEntry, entries_about, forget_member_data
from models.base import fold, utcnow
from models.channels import ZaloMenu, zalo_id_for
from models.errors import NotFound
from models.initiative_calls import InitiativeCall
from models.initiatives import (
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeEvent,
    InitiativeStatus,
    Recognition,
    ReviewSeat,
)
from models.linking import LinkAttempt, LinkCode
from models.members import Channel, ConsentRecord, Identity, Invite, Member, identities_of
from models.movements import Evidence, Movement, Registration
from models.onboarding import OnboardingDraft
from models.org import OrgUnit
from models.outbox import OutboxMessage, Status
from models.persistence import NAMESPACE, ConversationState, StoredData
from models.reminders import EventReminder, ReminderPreference
from models.roster import PendingImport

# What an erased member's name becomes: the same in every language, and no one's name.
ERASED_NAME = "—"

# How long the "Yes, erase" button of /deleteme works.
ERASE_CONFIRMATION_TTL = timedelta(minutes=15)


# The member fields that stay after erasure: what the union counts, nothing that names anyone.
# Every other field is blanked (the name becomes ERASED_NAME).
KEPT_MEMBER_FIELDS = (
    "id", "unit_id", "position", "status", "is_union_member", "invite_id", "created_at",
)

# Every table with a foreign key to an identity or a member, handled by export and erasure
# below. tests/models/test_privacy.py fails when a new table points at either and is not
# listed here: decide what /mydata shows of it and what /deleteme does to it, then add it.
HANDLED_TABLES = frozenset({
    "member", "identity", "consent_record", "onboarding_draft", "link_code", "link_attempt",
    "role_assignment", "pending_import", "registration", "evidence",
    "initiative", "initiative_author", "initiative_event", "review_seat", "recognition",
    "title_award", "outbox_message", "announcement", "announcement_ack",
    "reminder_preference", "event_reminder", "initiative_call",
})


# --- export ------------------------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(thing: SQLModel, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a row, JSON-ready (new columns show up without a change here)."""
    table: Table = thing.__table__  # type: ignore[attr-defined]
    return {
        column.name: _plain(getattr(thing, column.name))
        for column in table.columns
        if column.name not in leave_out
    }


def _chat_number(identity: Identity) -> int | None:
    """The chat/user id the runtime keys its rows by (a private chat's id is the user's)."""
    text = identity.external_id
    return int(text) if text.lstrip("-").isdigit() else None


def _namespace(channel: str) -> str:
    return NAMESPACE.get(channel, f"{channel}:")


def _conversation_keys(number: int) -> list[str]:
    # Keys are the JSON lists bot/persistence.py writes: per chat and user, per user.
    return [f"[{number},{number}]", f"[{number}]"]


def _channel_of_conversation(name: str) -> str:
    for channel, prefix in NAMESPACE.items():
        if prefix and name.startswith(prefix):
            return channel
    return Channel.TELEGRAM


async def _conversation_rows(
    session: AsyncSession, identity: Identity
) -> list[ConversationState]:
    number = _chat_number(identity)
    if number is None:
        return []
    rows = await session.exec(
        select(ConversationState).where(
            col(ConversationState.key).in_(_conversation_keys(number))
        )
    )
    return [row for row in rows.all() if _channel_of_conversation(row.name) == identity.channel]


async def _stored_rows(session: AsyncSession, identity: Identity) -> list[StoredData]:
    number = _chat_number(identity)
    if number is None:
        return []
    rows = await session.exec(
        select(StoredData).where(StoredData.owner == f"{_namespace(identity.channel)}{number}")
    )
    return list(rows.all())


async def _zalo_menu(session: AsyncSession, identity: Identity) -> ZaloMenu | None:
    number = _chat_number(identity)
    if identity.channel != Channel.ZALO or number is None:
        return None
    return await session.get(ZaloMenu, number)


async def _accounts(session: AsyncSession, identity: Identity) -> list[Identity]:
    if identity.member_id is None:
        return [identity]
    return await identities_of(session, identity.member_id)


async def _unit(session: AsyncSession, unit_id: int | None) -> dict[str, Any] | None:
    unit = None if unit_id is None else await session.get(OrgUnit, unit_id)
    return None if unit is None else {"code": unit.code, "name": unit.name}


async def export_member_data(
    session: AsyncSession, identity: Identity, *, now: datetime | None = None
) -> dict[str, Any]:
    """Everything stored about the person behind `identity` (and their other linked accounts),
    as a JSON-ready dict. Link codes are shown without their digits: a code is a key to the
    profile, not data about the person."""
    now = now or utcnow()
    member = None if identity.member_id is None else await session.get(Member, identity.member_id)
    accounts = await _accounts(session, identity)
    ids = [account.id for account in accounts]
    channel_of = {account.id: account.channel for account in accounts}

    data: dict[str, Any] = {
        "exported_at": now.isoformat(),
        "member": None if member is None else _row(member),
        "unit": None if member is None else await _unit(session, member.unit_id),
        "accounts": [],
        "consents": [],
        "roles": [],
        "onboarding_drafts": [],
        "link_codes": [],
        "link_attempts": [],
        "audit_entries_about_you": [],
        "audit_entries_by_you": 0,
        "invites_created": [],
        "pending_imports": [],
        "registrations": [],
        "initiatives": [],
        "review_seats": [],
        "title_awards": [],
        "initiative_actions_by_you": 0,
        "conversations": [],
        "stored_data": [],
        "zalo_lists": [],
    }

    for account in accounts:
        entry: dict[str, Any] = {
            "channel": account.channel,
            "id": account.external_id,
            "language": account.locale,
            "since": _plain(account.created_at),
        }
        number = _chat_number(account)
        if account.channel == Channel.ZALO and number is not None:
            entry["zalo_user_id"] = await zalo_id_for(session, number)
        data["accounts"].append(entry)
        for row in await _conversation_rows(session, account):
            data["conversations"].append({
                "channel": account.channel,
                "conversation": row.name.removeprefix(_namespace(account.channel)),
                "state": json.loads(row.state),
                "updated_at": _plain(row.updated_at),
            })
        for row in await _stored_rows(session, account):
            data["stored_data"].append({
                "channel": account.channel,
                "kind": row.kind,
                "data": json.loads(row.data),
                "updated_at": _plain(row.updated_at),
            })
        menu = await _zalo_menu(session, account)
        if menu is not None:
            # The list itself may be a screen about other people (an official's /members or
            # /pending page): only that it is kept, and when.
            data["zalo_lists"].append({"kind": menu.kind, "updated_at": _plain(menu.updated_at)})

    consents = await session.exec(
        select(ConsentRecord)
        .where(col(ConsentRecord.identity_id).in_(ids))
        .order_by(col(ConsentRecord.id))
    )
    data["consents"] = [
        {
            "channel": channel_of[record.identity_id],
            "purpose": record.purpose,
            "granted": record.granted,
            "policy_version": record.policy_version,
            "language": record.locale,
            "at": _plain(record.recorded_at),
        }
        for record in consents.all()
    ]

    drafts = await session.exec(
        select(OnboardingDraft)
        .where(col(OnboardingDraft.identity_id).in_(ids))
        .order_by(col(OnboardingDraft.identity_id))
    )
    for draft in drafts.all():
        row = _row(draft, leave_out=("identity_id",))
        row["channel"] = channel_of[draft.identity_id]
        row["unit"] = await _unit(session, draft.unit_id)
        data["onboarding_drafts"].append(row)

    attempts = await session.exec(
        select(LinkAttempt)
        .where(col(LinkAttempt.identity_id).in_(ids))
        .order_by(col(LinkAttempt.id))
    )
    data["link_attempts"] = [
        {"channel": channel_of[a.identity_id], "at": _plain(a.at), "succeeded": a.succeeded}
        for a in attempts.all()
    ]

    imports = await session.exec(
        select(PendingImport)
        .where(col(PendingImport.identity_id).in_(ids))
        .order_by(col(PendingImport.id))
    )
    # The file itself lists other people: only that it is kept, and when.
    data["pending_imports"] = [
        {"filename": i.filename, "created_at": _plain(i.created_at)} for i in imports.all()
    ]
    # What the bot sent them on its own initiative (the texts were for many; the kind says it).
    sent_to = col(OutboxMessage.identity_id).in_(ids)
    if member is not None:
        sent_to = or_(sent_to, col(OutboxMessage.member_id) == member.id)
    deliveries = await session.exec(
        select(OutboxMessage).where(sent_to).order_by(col(OutboxMessage.id))
    )
    data["messages_sent_to_you"] = [
        {"kind": m.kind, "channel": m.channel, "status": m.status,
         "created_at": _plain(m.created_at), "sent_at": _plain(m.sent_at)}
        for m in deliveries.all()
    ]
    written = col(Announcement.author_identity_id).in_(ids)
    if member is not None:
        written = or_(written, col(Announcement.author_member_id) == member.id)
    announcements = await session.exec(
        select(Announcement).where(written).order_by(col(Announcement.id))
    )
    data["announcements_you_wrote"] = [
        {"id": a.id, "status": a.status, "text": a.text, "created_at": _plain(a.created_at),
         "scheduled_at": _plain(a.scheduled_at)}
        for a in announcements.all()
    ]
    events_written = col(EventReminder.author_identity_id).in_(ids)
    if member is not None:
        events_written = or_(events_written, col(EventReminder.author_member_id) == member.id)
    events = await session.exec(
        select(EventReminder).where(events_written).order_by(col(EventReminder.id))
    )
    data["event_reminders_you_wrote"] = [
        {"id": e.id, "title": e.title, "text": e.text, "rule": e.rule, "status": e.status,
         "created_at": _plain(e.created_at)}
        for e in events.all()
    ]
    if member is not None:
        calls = await session.exec(
            select(InitiativeCall).where(col(InitiativeCall.created_by_member_id) == member.id)
            .order_by(col(InitiativeCall.id))
        )
        data["initiative_calls_you_set"] = [
            {"id": c.id, "unit_id": c.unit_id, "school_year": c.school_year,
             "deadline": _plain(c.deadline)}
            for c in calls.all()
        ]
    if member is not None:
        preference = await session.get(ReminderPreference, member.id)
        if preference is not None:
            data["reminder_settings"] = {
                "muted": preference.muted, "quiet_hours":
                f"{preference.quiet_start}-{preference.quiet_end}",
            }
    if member is not None:
        acks = await session.exec(
            select(AnnouncementAck).where(AnnouncementAck.member_id == member.id)
            .order_by(col(AnnouncementAck.id))
        )
        data["announcements_you_acknowledged"] = [
            {"announcement_id": a.announcement_id, "channel": a.channel,
             "at": _plain(a.acked_at)}
            for a in acks.all()
        ]

    if member is not None:
        await _export_member_rows(session, member, data, now=now)
    return data


async def _export_member_rows(
    session: AsyncSession, member: Member, data: dict[str, Any], *, now: datetime
) -> None:
    roles = await session.exec(
        select(RoleAssignment)
        .where(RoleAssignment.member_id == member.id)
        .order_by(col(RoleAssignment.id))
    )
    for role in roles.all():
        data["roles"].append({
            "role": role.role,
            "unit": await _unit(session, role.unit_id),
            "since": _plain(role.created_at),
        })

    codes = await session.exec(
        select(LinkCode).where(LinkCode.member_id == member.id).order_by(col(LinkCode.id))
    )
    data["link_codes"] = [
        {
            "created_at": _plain(code.created_at),
            "expires_at": _plain(code.expires_at),
            "used_at": _plain(code.used_at),
            "pending": code.used_at is None and code.expires_at > now,
        }
        for code in codes.all()
    ]

    data["audit_entries_about_you"] = [
        {"action": e.action, "at": _plain(e.at), "before": e.before, "after": e.after}
        for e in await entries_about(session, target_type="member", target_id=member.id)  # type: ignore[arg-type]
    ]
    by_them = await session.exec(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.actor_member_id == member.id
        )
    )
    data["audit_entries_by_you"] = int(by_them.one())

    invites = await session.exec(
        select(Invite).where(Invite.created_by_member_id == member.id).order_by(col(Invite.id))
    )
    for invite in invites.all():
        row = _row(invite, leave_out=("created_by_member_id",))
        row["unit"] = await _unit(session, invite.unit_id)
        data["invites_created"].append(row)

    registrations = await session.exec(
        select(Registration, Movement)
        .join(Movement, col(Movement.id) == Registration.movement_id)
        .where(Registration.member_id == member.id)
        .order_by(col(Registration.id))
    )
    for registration, movement in registrations.all():
        title = movement.title(registration.title_code) or {}
        files = await session.exec(
            select(Evidence)
            .where(Evidence.registration_id == registration.id)
            .order_by(col(Evidence.id))
        )
        texts = registration.assessment or []
        data["registrations"].append({
            "movement": movement.name,
            "school_year": registration.school_year,
            "title": title.get("name") or registration.title_code,
            "status": registration.status,
            "commitment": registration.commitment,
            "assessment": [
                {"criterion": criterion, "text": text}
                for criterion, text in zip(movement.criteria, texts, strict=False)
            ],
            "evidence": [
                {"kind": e.kind, "file_name": e.file_name, "size": e.size,
                 "at": _plain(e.created_at)}
                for e in files.all()
            ],
            "submitted_at": _plain(registration.submitted_at),
            "result_note": registration.result_note,
            "registered_at": _plain(registration.created_at),
        })

    await _export_initiatives(session, member, data)


async def _export_initiatives(
    session: AsyncSession, member: Member, data: dict[str, Any]
) -> None:
    """The initiatives the member is named on (the whole request of their own and of those
    co-written with them; of another person's unsubmitted draft only its title), their council
    seats with their scores, their title awards, and how many decisions on others' initiatives
    they took part in."""
    named = select(InitiativeAuthor.initiative_id).where(InitiativeAuthor.member_id == member.id)
    rows = await session.exec(
        select(Initiative)
        .where(or_(Initiative.submitter_member_id == member.id, col(Initiative.id).in_(named)))
        .order_by(col(Initiative.id))
    )
    theirs = list(rows.all())
    for initiative in theirs:
        role = "submitter" if initiative.submitter_member_id == member.id else "co_author"
        if role == "co_author" and initiative.status == InitiativeStatus.DRAFT:
            data["initiatives"].append(
                {"title": initiative.title, "status": initiative.status, "role": role}
            )
            continue
        entry = _row(initiative, leave_out=("submitter_member_id", "unit_id", "origin_unit_id"))
        entry["role"] = role
        entry["unit"] = await _unit(session, initiative.unit_id)
        entry["origin_unit"] = await _unit(session, initiative.origin_unit_id)
        authors = await session.exec(
            select(InitiativeAuthor)
            .where(InitiativeAuthor.initiative_id == initiative.id)
            .order_by(col(InitiativeAuthor.position), col(InitiativeAuthor.id))
        )
        entry["authors"] = [
            {"name": a.name, "share": a.share, "you": a.member_id == member.id}
            for a in authors.all()
        ]
        files = await session.exec(
            select(InitiativeAttachment)
            .where(InitiativeAttachment.initiative_id == initiative.id)
            .order_by(col(InitiativeAttachment.id))
        )
        entry["attachments"] = [
            {"kind": f.kind, "file_name": f.file_name, "size": f.size, "at": _plain(f.created_at)}
            for f in files.all()
        ]
        events = await session.exec(
            select(InitiativeEvent)
            .where(InitiativeEvent.initiative_id == initiative.id)
            .order_by(col(InitiativeEvent.at), col(InitiativeEvent.id))
        )
        entry["history"] = [
            {"from": e.from_status, "to": e.to_status, "at": _plain(e.at), "comment": e.comment,
             "by_you": e.actor_member_id == member.id}
            for e in events.all()
        ]
        recognitions = await session.exec(
            select(Recognition)
            .where(Recognition.initiative_id == initiative.id)
            .order_by(col(Recognition.decided_at), col(Recognition.id))
        )
        entry["recognitions"] = [
            {"level": r.level, "certificate_no": r.certificate_no, "school_year": r.school_year,
             "unit": await _unit(session, r.unit_id), "decided_at": _plain(r.decided_at)}
            for r in recognitions.all()
        ]
        data["initiatives"].append(entry)

    seats = await session.exec(
        select(ReviewSeat, Initiative)
        .join(Initiative, col(Initiative.id) == ReviewSeat.initiative_id)
        .where(ReviewSeat.reviewer_member_id == member.id)
        .order_by(col(ReviewSeat.id))
    )
    data["review_seats"] = [
        {"initiative": initiative.title, "round": seat.round, "chair": seat.is_chair,
         "novelty": seat.novelty, "effectiveness": seat.effectiveness,
         "applicability": seat.applicability, "comment": seat.comment,
         "scored_at": _plain(seat.scored_at), "seated_at": _plain(seat.created_at)}
        for seat, initiative in seats.all()
    ]
    awards = await session.exec(
        select(TitleAward).where(TitleAward.member_id == member.id).order_by(col(TitleAward.id))
    )
    data["title_awards"] = [
        {"school_year": a.school_year, "title_code": a.title_code, "title_name": a.title_name,
         "decision": a.decision, "recorded_at": _plain(a.created_at)}
        for a in awards.all()
    ]
    # What they did to other people's initiatives (as an official or a council's chair): only
    # how many, the initiatives are not theirs.
    own = [initiative.id for initiative in theirs]
    counted = 0
    for query in (
        select(func.count()).select_from(InitiativeEvent).where(
            InitiativeEvent.actor_member_id == member.id,
            col(InitiativeEvent.initiative_id).not_in(own),
        ),
        select(func.count()).select_from(Recognition).where(
            Recognition.decided_by_member_id == member.id
        ),
        select(func.count()).select_from(ReviewSeat).where(
            ReviewSeat.assigned_by_member_id == member.id
        ),
    ):
        counted += int((await session.exec(query)).one())
    data["initiative_actions_by_you"] = counted


# --- the readable summary ----------------------------------------------------------------------


Translate = Callable[..., str]


def _moment(value: str | None, local_time: Callable[[datetime], str] | None) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    return local_time(moment) if local_time is not None else moment.strftime("%d/%m/%Y %H:%M")


# Announcements a person wrote that the chat summary names (newest first); the file has all.
_ANNOUNCEMENTS_SHOWN = 5
_SNIPPET_CHARS = 60
_TAGS = re.compile(r"<[^>]+>")


def _snippet(text_html: str) -> str:
    """The first words of an announcement's HTML, as plain text on one line."""
    plain = " ".join(html.unescape(_TAGS.sub("", text_html)).split())
    return plain if len(plain) <= _SNIPPET_CHARS else plain[: _SNIPPET_CHARS - 1].rstrip() + "…"


def render_summary(
    data: dict[str, Any],
    translate: Translate,
    *,
    local_time: Callable[[datetime], str] | None = None,
) -> list[str]:
    """The export as lines a person reads in the chat, in their language (`translate` is
    `context.t`); times through `local_time` (the person's time zone) when given."""
    t = translate
    lines = [t("privacy.summary.title"), ""]
    member = data.get("member")
    if member is not None:
        birth = member.get("date_of_birth")
        union_member = member.get("is_union_member")
        unit = data.get("unit") or {}
        lines.append(
            t(
                "privacy.summary.member",
                name=member.get("full_name") or "—",
                unit=unit.get("name") or "—",
                position=t(f"position.{member['position']}") if member.get("position") else "—",
                gender=t(f"gender.{member.get('gender') or 'undisclosed'}"),
                phone=member.get("phone") or "—",
                birth=date.fromisoformat(birth).strftime("%d/%m/%Y") if birth else "—",
                code=member.get("member_code") or "—",
                union_member="—" if union_member is None else t(
                    "privacy.yes" if union_member else "privacy.no"
                ),
                status=t(f"status.{member['status']}"),
                since=_moment(member.get("created_at"), local_time),
            )
        )
        if member.get("status_reason"):
            lines.append(t("privacy.summary.status_reason", reason=member["status_reason"]))
    else:
        lines.append(t("privacy.summary.not_member"))

    lines += ["", t("privacy.summary.accounts")]
    for account in data.get("accounts", []):
        language = account.get("language")
        lines.append(
            t(
                "privacy.summary.account",
                channel=t(f"channel.{account['channel']}"),
                language=t(f"language.name.{language}") if language else "—",
                since=_moment(account.get("since"), local_time),
            )
        )

    consents = data.get("consents", [])
    if consents:
        lines += ["", t("privacy.summary.consents")]
        for record in consents:
            lines.append(
                t(
                    "privacy.summary.consent",
                    mark="✅" if record["granted"] else "✖",
                    purpose=t(f"consent.purpose.{record['purpose']}"),
                    when=_moment(record.get("at"), local_time),
                    version=record.get("policy_version") or "—",
                )
            )

    roles = data.get("roles", [])
    if roles:
        lines += ["", t("privacy.summary.roles")]
        for role in roles:
            unit = role.get("unit") or {}
            lines.append(
                t(
                    "privacy.summary.role",
                    role=t(f"role.{role['role']}"),
                    unit=unit.get("name") or "—",
                )
            )

    registrations = data.get("registrations", [])
    if registrations:
        lines += ["", t("movements.privacy_heading")]
        for registration in registrations:
            lines.append(
                t(
                    "movements.privacy_line",
                    movement=registration["movement"],
                    year=registration["school_year"],
                    title=registration["title"],
                    status=t(f"movements.stage.{registration['status']}"),
                )
            )
            if registration.get("commitment"):
                lines.append(
                    t("movements.privacy_commitment", text=registration["commitment"])
                )
            for answer in registration.get("assessment", []):
                lines.append(
                    t("movements.privacy_answer", criterion=answer["criterion"],
                      text=answer["text"])
                )
            for evidence in registration.get("evidence", []):
                lines.append(
                    t("movements.privacy_file", name=evidence.get("file_name") or t(
                        "movements.privacy_photo" if evidence["kind"] == "photo"
                        else "movements.privacy_document"
                    ))
                )

    initiatives = data.get("initiatives", [])
    if initiatives:
        lines += ["", t("initiatives.privacy_heading")]
        for initiative in initiatives:
            lines.append(
                t(
                    "initiatives.privacy_line",
                    title=initiative.get("title") or t("initiatives.untitled"),
                    status=t(f"initiative.status.{initiative['status']}"),
                    role=t(
                        "initiatives.privacy_submitter" if initiative["role"] == "submitter"
                        else "initiatives.privacy_co_author"
                    ),
                )
            )
            for recognition in initiative.get("recognitions", []):
                lines.append(
                    t(
                        "initiatives.privacy_recognition",
                        level=t(f"initiative.level.{recognition['level']}"),
                        number=recognition["certificate_no"],
                        year=recognition["school_year"],
                    )
                )
    seats = data.get("review_seats", [])
    if seats:
        lines += ["", t("initiatives.privacy_seats")]
        for seat in seats:
            scored = seat.get("scored_at") is not None
            lines.append(
                t(
                    "initiatives.privacy_seat" if scored else "initiatives.privacy_seat_unscored",
                    title=seat.get("initiative") or t("initiatives.untitled"),
                    total=sum(seat.get(name) or 0 for name in
                              ("novelty", "effectiveness", "applicability")),
                )
            )
    awards = data.get("title_awards", [])
    if awards:
        lines += ["", t("initiatives.privacy_awards")]
        for award in awards:
            lines.append(
                t("initiatives.privacy_award", year=award["school_year"],
                  title=award["title_name"])
            )
    written = data.get("announcements_you_wrote", [])
    acknowledged = data.get("announcements_you_acknowledged", [])
    if written or acknowledged:
        lines += ["", t("privacy.summary.announcements")]
        # Newest first, a few: the chat is for reading; the file has every one in full.
        for announcement in list(reversed(written))[:_ANNOUNCEMENTS_SHOWN]:
            lines.append(
                t(
                    "privacy.summary.announcement_written",
                    id=announcement["id"],
                    status=t(f"announcements.status.{announcement['status']}"),
                    when=_moment(announcement.get("created_at"), local_time),
                    snippet=_snippet(announcement.get("text") or ""),
                )
            )
        if len(written) > _ANNOUNCEMENTS_SHOWN:
            lines.append(
                t("privacy.summary.announcements_more", count=len(written) - _ANNOUNCEMENTS_SHOWN)
            )
        if acknowledged:
            lines.append(
                t("privacy.summary.announcements_acknowledged", count=len(acknowledged))
            )

    other: list[str] = []
    for draft in data.get("onboarding_drafts", []):
        other.append(
            t("privacy.summary.draft", when=_moment(draft.get("updated_at"), local_time))
        )
    for code in data.get("link_codes", []):
        if code.get("pending"):
            other.append(
                t("privacy.summary.link_code", until=_moment(code["expires_at"], local_time))
            )
    counted = (
        ("link_attempts", "privacy.summary.link_attempts"),
        ("audit_entries_about_you", "privacy.summary.audit_about"),
        ("invites_created", "privacy.summary.invites"),
        ("pending_imports", "privacy.summary.imports"),
    )
    for name, key in counted:
        if data.get(name):
            other.append(t(key, count=len(data[name])))
    if data.get("audit_entries_by_you"):
        other.append(t("privacy.summary.audit_by", count=data["audit_entries_by_you"]))
    if data.get("initiative_actions_by_you"):
        other.append(
            t("initiatives.privacy_actions", count=data["initiative_actions_by_you"])
        )
    technical = sum(len(data.get(name, [])) for name in ("conversations", "stored_data",
                                                          "zalo_lists"))
    if technical:
        other.append(t("privacy.summary.technical", count=technical))
    if other:
        lines += ["", t("privacy.summary.other"), *other]
    return lines


# --- erasure -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    """What an erasure removed: the member anonymised (None for a person who was not one), and
    the chat accounts deleted, so the runtime can drop what it keeps of them in memory."""

    member_id: int | None
    accounts: list[tuple[str, str]] = field(default_factory=list)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def erasure_token(identity: Identity, *, now: datetime | None = None) -> str:
    """What the "Yes, erase" button carries: the account (its id and when it was created, so an
    account made later under a reused id is not it) and when the question was asked."""
    asked = (now or utcnow()).replace(microsecond=0)
    return f"{identity.id}.{_ms(identity.created_at)}.{_ms(asked) // 1000}"


def check_erasure_token(
    identity: Identity, token: str, *, now: datetime | None = None
) -> None:
    """Refuses (NotFound "erase_stale") a confirmation that is not for this account as it is
    now: from another account, or from an earlier account of the same chat id (a person who
    erased, came back and taps the old button again), or older than ERASE_CONFIRMATION_TTL."""
    now = now or utcnow()
    parts = token.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise NotFound("erase_stale")
    identity_id, created, asked = (int(part) for part in parts)
    age = _ms(now) // 1000 - asked
    if (
        identity_id != identity.id
        or created != _ms(identity.created_at)
        or not -60 <= age <= ERASE_CONFIRMATION_TTL.total_seconds()
    ):
        raise NotFound("erase_stale")


async def _forget_deliveries(
    session: AsyncSession, ids: list[int | None], member: Member | None
) -> None:
    """Messages not sent yet are dropped; sent ones keep only that they were sent (counts of an
    announcement stay right), not the text nor the account."""
    to_them = col(OutboxMessage.identity_id).in_(ids)
    if member is not None:
        to_them = or_(to_them, col(OutboxMessage.member_id) == member.id)
    await session.exec(  # type: ignore[call-overload]
        delete(OutboxMessage).where(to_them).where(col(OutboxMessage.status) != Status.SENT)
    )
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage).where(to_them).values(
            text="", media=null(), buttons=null(), identity_id=None, chat_id="",
            platform_message_id=None,
        )
    )


async def _forget_authorship_of_announcements(
    session: AsyncSession, ids: list[int | None], member: Member | None
) -> None:
    """Announcements they wrote were sent for the union: they stay, naming no author. Their
    acknowledgements stay with the blanked member row (an announcement's count stays right
    and names no one)."""
    written = col(Announcement.author_identity_id).in_(ids)
    if member is not None:
        written = or_(written, col(Announcement.author_member_id) == member.id)
    await session.exec(  # type: ignore[call-overload]
        update(Announcement).where(written).values(author_identity_id=None, author_member_id=None)
    )
    events = col(EventReminder.author_identity_id).in_(ids)
    if member is not None:
        events = or_(events, col(EventReminder.author_member_id) == member.id)
        await session.exec(  # type: ignore[call-overload]
            delete(ReminderPreference).where(col(ReminderPreference.member_id) == member.id)
        )
        await session.exec(  # type: ignore[call-overload]
            update(InitiativeCall).where(col(InitiativeCall.created_by_member_id) == member.id)
            .values(created_by_member_id=None)
        )
    await session.exec(  # type: ignore[call-overload]
        update(EventReminder).where(events).values(author_identity_id=None, author_member_id=None)
    )


async def erase_member(
    session: AsyncSession, identity: Identity, *, now: datetime | None = None
) -> Erased:
    """Erases the person behind `identity` (see the module docstring); nothing is committed.

    Deletes come children first, so PostgreSQL's foreign keys hold at every statement."""
    now = now or utcnow()
    member = None if identity.member_id is None else await session.get(Member, identity.member_id)
    accounts = await _accounts(session, identity)
    ids = [account.id for account in accounts]
    erased = Erased(
        member_id=member.id if member is not None else None,
        accounts=[(account.channel, account.external_id) for account in accounts],
    )

    for account in accounts:
        for row in await _conversation_rows(session, account):
            await session.delete(row)
        for row in await _stored_rows(session, account):
            await session.delete(row)
        menu = await _zalo_menu(session, account)
        if menu is not None:
            await session.delete(menu)

    drafts_of = col(OnboardingDraft.identity_id).in_(ids)
    codes_of = or_(col(LinkCode.issued_by).in_(ids), col(LinkCode.used_by).in_(ids))
    if member is not None:
        drafts_of = or_(drafts_of, col(OnboardingDraft.member_id) == member.id)
        codes_of = or_(codes_of, col(LinkCode.member_id) == member.id)
    await session.exec(delete(OnboardingDraft).where(drafts_of))  # type: ignore[call-overload]
    await session.exec(delete(LinkCode).where(codes_of))  # type: ignore[call-overload]
    for table in (ConsentRecord, LinkAttempt, PendingImport):
        await session.exec(delete(table).where(col(table.identity_id).in_(ids)))  # type: ignore[call-overload,attr-defined]
    await _forget_deliveries(session, ids, member)
    await _forget_authorship_of_announcements(session, ids, member)
    await session.flush()
    for account in accounts:
        await session.delete(account)
    await session.flush()

    if member is not None:
        await session.exec(delete(RoleAssignment).where(RoleAssignment.member_id == member.id))  # type: ignore[call-overload,arg-type]
        await _forget_registration_texts(session, member)
        await _forget_initiative_authorship(session, member)
        _anonymise(member, now=now)
        session.add(member)
        await forget_member_data(session, member_id=member.id)  # type: ignore[arg-type]
        # The person acted on their own data; no chat account is named, it is gone.
        session.add(
            AuditEntry(
                at=now,
                actor_member_id=member.id,
                action="erase",
                target_type="member",
                target_id=member.id,
            )
        )
        await session.flush()
    return erased


async def _forget_registration_texts(session: AsyncSession, member: Member) -> None:
    """The member's registrations stay (counts and results), without what they wrote or sent."""
    theirs = select(Registration.id).where(Registration.member_id == member.id)
    await session.exec(delete(Evidence).where(col(Evidence.registration_id).in_(theirs)))  # type: ignore[call-overload]
    await session.exec(
        update(Registration)  # type: ignore[call-overload]
        .where(col(Registration.member_id) == member.id)
        .values(commitment=None, assessment=null())
    )


async def _forget_initiative_authorship(session: AsyncSession, member: Member) -> None:
    """Their drafts go; the submitted initiatives stay without naming them; what they did as
    an official or a reviewer stays as a fact (see the module docstring); their title awards
    go. Children first, so the foreign keys hold at every statement."""
    drafts = select(Initiative.id).where(
        Initiative.submitter_member_id == member.id,
        Initiative.status == InitiativeStatus.DRAFT,
    )
    for child in (InitiativeAttachment, InitiativeAuthor, InitiativeEvent):
        await session.exec(
            delete(child).where(col(child.initiative_id).in_(drafts))  # type: ignore[call-overload,attr-defined]
        )
    await session.exec(
        delete(Initiative).where(  # type: ignore[call-overload]
            col(Initiative.submitter_member_id) == member.id,
            col(Initiative.status) == InitiativeStatus.DRAFT,
        )
    )
    for statement in (
        update(InitiativeAuthor)
        .where(col(InitiativeAuthor.member_id) == member.id)
        .values(member_id=None, name=ERASED_NAME),
        update(Initiative)
        .where(col(Initiative.submitter_member_id) == member.id)
        .values(submitter_member_id=None),
        update(InitiativeEvent)
        .where(col(InitiativeEvent.actor_member_id) == member.id)
        .values(actor_member_id=None),
        update(Recognition)
        .where(col(Recognition.decided_by_member_id) == member.id)
        .values(decided_by_member_id=None),
        update(ReviewSeat)
        .where(col(ReviewSeat.assigned_by_member_id) == member.id)
        .values(assigned_by_member_id=None),
        update(TitleAward)
        .where(col(TitleAward.recorded_by_member_id) == member.id)
        .values(recorded_by_member_id=None),
    ):
        await session.exec(statement)  # type: ignore[call-overload]
    await session.exec(delete(TitleAward).where(col(TitleAward.member_id) == member.id))  # type: ignore[call-overload]


def _anonymise(member: Member, *, now: datetime) -> None:
    """Blanks every field but the kept ones: a personal column added later is erased too."""
    table: Table = Member.__table__  # type: ignore[attr-defined]
    for column in table.columns:
        if column.name not in KEPT_MEMBER_FIELDS and column.nullable:
            setattr(member, column.name, None)
    member.full_name = ERASED_NAME
    member.full_name_folded = fold(ERASED_NAME)
    member.erased_at = now
    member.updated_at = now
