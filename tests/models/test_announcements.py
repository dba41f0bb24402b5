"""Announcements: saving, scheduling, queuing into the outbox, cancelling, acknowledgements.

Every test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL. Time is driven by a
clock the Scheduler takes; nothing waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from bot.i18n import load_translator
from models import announcements as ann
from models import outbox
from models.access import RoleAssignment, revoke
from models.audience import Audience
from models.audit import entries_about
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Identity, Member, MemberStatus
from models.outbox import OutboxMessage, Status
from models.privacy import erase_member, export_member_data
from tests.factories import (
    Clock,
    actor_of,
    make_member,
    make_official,
    make_tree,
    make_unit,
    scheduler_for,
)

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
T = load_translator("vi")




def everyone(**kwargs) -> ann.Draft:  # type: ignore[no-untyped-def]
    return ann.Draft(text="Họp <b>công đoàn</b> lúc 14:00", audience=Audience(whole_scope=True),
                     **kwargs)


async def _district(session: AsyncSession, members: int = 2):  # type: ignore[no-untyped-def]
    """The tree, an official of the district (Telegram 9001) and `members` teachers of one
    school there (Telegram 101, 102, …)."""
    tree = await make_tree(session)
    official = await make_official(session, tree["district"], telegram_id=9001)
    people = [
        await make_member(session, tree["trai"], f"Giáo viên {n}", telegram_id=100 + n)
        for n in range(1, members + 1)
    ]
    return tree, official, people


async def _rows(session: AsyncSession, announcement_id: int | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id)).execution_options(
        populate_existing=True
    )
    if announcement_id is not None:
        query = query.where(OutboxMessage.source_id == announcement_id)
    return list((await session.exec(query)).all())


async def _stored(session: AsyncSession, announcement_id: int) -> ann.Announcement:
    found = await session.get(ann.Announcement, announcement_id, populate_existing=True)
    assert found is not None
    return found


async def _deliver(session: AsyncSession, *, now: datetime, limit: int = 1000) -> list[int]:
    """Plays the delivery worker: sends every claimable row (both apps); returns member ids."""
    reached = []
    for channel in ("telegram", "zalo"):
        rows = await outbox.claim(session, worker="w", channel=channel, limit=limit, now=now)
        await outbox.record(session, [
            outbox.sent(row.id, message_id="1", attempts=1, now=now)  # type: ignore[arg-type]
            for row in rows
        ], worker="w")
        reached += [row.member_id for row in rows]
    await session.commit()
    return reached  # type: ignore[return-value]


async def _queue_now(engine: AsyncEngine, session: AsyncSession, actor, draft, *, now=NOW) -> int:  # type: ignore[no-untyped-def]
    saved = await ann.save(session, actor, draft, now=now)
    await session.commit()
    await scheduler_for(engine, Clock(now)).tick()
    return saved.id  # type: ignore[return-value]


# --- writing --------------------------------------------------------------------------------


async def test_a_draft_is_saved_changed_released_and_each_step_audited(
    session: AsyncSession,
) -> None:
    _, official, _ = await _district(session)
    actor = await actor_of(session, official)
    draft = await ann.save(session, actor, everyone(), now=NOW, as_draft=True)
    assert (draft.status, draft.scheduled_at) == (ann.AnnouncementStatus.DRAFT, None)
    assert draft.author_member_id == official.id
    assert draft.unit_id == official.unit_id  # sent in the name of the official's union

    changed = ann.Draft(text="Hoãn họp sang <i>thứ Sáu</i>", ack_requested=True,
                        audience=Audience(whole_scope=True, gender="female"))
    await ann.update_draft(session, actor, draft, changed, now=NOW)
    assert (draft.text, draft.ack_requested, draft.audience["gender"]) == (
        "Hoãn họp sang <i>thứ Sáu</i>", True, "female"
    )
    due = NOW + timedelta(days=1)
    await ann.release_draft(session, actor, draft, now=NOW, send_at=due)
    assert (draft.status, draft.scheduled_at) == (ann.AnnouncementStatus.SCHEDULED, due)
    # No longer a draft: neither changed nor deleted nor released twice.
    with pytest.raises(NotAllowed) as refused:
        await ann.update_draft(session, actor, draft, changed, now=NOW)
    assert refused.value.code == "announcement_already_scheduled"
    with pytest.raises(NotAllowed):
        await ann.release_draft(session, actor, draft, now=NOW)
    with pytest.raises(NotAllowed, match="announcement_not_draft"):
        await ann.delete_draft(session, actor, draft)
    await session.commit()
    actions = [e.action for e in await entries_about(
        session, target_type="announcement", target_id=draft.id)]  # type: ignore[arg-type]
    assert actions == [
        "announcement_draft", "announcement_draft_updated", "announcement_scheduled"
    ]


async def test_a_draft_is_its_authors_alone_until_it_is_sent(session: AsyncSession) -> None:
    tree, district_official, _ = await _district(session)
    city_official = await make_official(session, tree["edu"], "Phạm Thu", telegram_id=9002)
    author = await actor_of(session, district_official)
    above = await actor_of(session, city_official)
    draft = await ann.save(session, author, everyone(), now=NOW, as_draft=True)
    sent = await ann.save(session, author, everyone(), now=NOW)
    await session.commit()

    with pytest.raises(NotFound):
        await ann.get_for(session, above, draft.id)  # type: ignore[arg-type]
    listed, total = await ann.list_for(session, above)
    assert [a.id for a in listed] == [sent.id] and total == 1
    assert (await ann.get_for(session, author, draft.id)).id == draft.id  # type: ignore[arg-type]
    assert (await ann.get_for(session, above, sent.id)).id == sent.id  # type: ignore[arg-type]


async def test_deleting_a_draft_and_a_stale_delete_after_release(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, _ = await _district(session)
        actor = await actor_of(session, official)
        gone = await ann.save(session, actor, everyone(), now=NOW, as_draft=True)
        kept = await ann.save(session, actor, everyone(), now=NOW, as_draft=True)
        await session.commit()
        await ann.delete_draft(session, actor, gone)
        await session.commit()
        assert await session.get(ann.Announcement, gone.id) is None
    # Two phones: one has the draft open, the other sends it meanwhile.
    async with sessions() as stale, sessions() as other:
        actor_stale = await actor_of(stale, await stale.get(Member, official.id))
        old_copy = await stale.get(ann.Announcement, kept.id)
        actor_other = await actor_of(other, await other.get(Member, official.id))
        fresh = await other.get(ann.Announcement, kept.id)
        await ann.release_draft(other, actor_other, fresh, now=NOW)
        await other.commit()
        with pytest.raises(NotAllowed, match="announcement_not_draft"):
            await ann.delete_draft(stale, actor_stale, old_copy)
        await stale.commit()
    async with sessions() as session:
        assert (await _stored(session, kept.id)).status == ann.AnnouncementStatus.SCHEDULED  # type: ignore[arg-type]


async def test_the_send_time_must_be_a_minute_to_a_year_ahead() -> None:
    assert ann.check_send_at(None, now=NOW) == NOW
    assert ann.check_send_at(NOW + timedelta(minutes=1), now=NOW) == NOW + timedelta(minutes=1)
    assert ann.check_send_at(NOW + timedelta(days=366), now=NOW) == NOW + timedelta(days=366)
    for too_soon in (NOW - timedelta(hours=1), NOW, NOW + timedelta(seconds=59)):
        with pytest.raises(InvalidInput, match="announcement_time_past"):
            ann.check_send_at(too_soon, now=NOW)
    with pytest.raises(InvalidInput, match="announcement_time_too_far"):
        ann.check_send_at(NOW + timedelta(days=366, seconds=1), now=NOW)


async def test_the_text_is_measured_as_telegram_does() -> None:
    assert ann.visible_length("<b>Họp</b> &amp; <i>ăn</i>") == len("Họp & ăn")
    assert ann.visible_length("📢") == 2  # UTF-16, as Telegram counts
    long_html = "<b>" + "x" * ann.TEXT_MAX + "</b>"  # tags are not counted
    assert ann.clean_text(f"  {long_html} ", has_media=False) == long_html
    with pytest.raises(InvalidInput) as too_long:
        ann.clean_text("x" * (ann.TEXT_MAX + 1), has_media=False)
    assert too_long.value.code == "announcement_text_too_long"
    assert too_long.value.params == {"max": ann.TEXT_MAX, "length": ann.TEXT_MAX + 1}
    assert ann.clean_text("x" * ann.CAPTION_MAX, has_media=True)
    with pytest.raises(InvalidInput, match="announcement_text_too_long"):
        ann.clean_text("x" * (ann.CAPTION_MAX + 1), has_media=True)  # a caption is shorter
    with pytest.raises(InvalidInput, match="announcement_text_too_long"):
        ann.clean_text("😀" * (ann.TEXT_MAX // 2 + 1), has_media=False)
    for empty in (None, "", "   ", "<b> </b>", "<i></i>", "x"):
        with pytest.raises(InvalidInput, match="announcement_text_empty"):
            ann.clean_text(empty, has_media=False)


async def test_media_is_cleaned_to_what_render_uses() -> None:
    assert ann.clean_media(None) is None
    photo = ann.clean_media({"kind": "photo", "file_id": "AgAD", "extra": "dropped"})
    assert photo == {"kind": "photo", "channel": "telegram", "file_id": "AgAD", "url": None,
                     "name": None}
    document = ann.clean_media({"kind": "document", "file_id": "BQAD", "name": "k" * 300,
                                "channel": "telegram"})
    assert document is not None and len(document["name"]) == 120
    for bad in ({"kind": "video", "file_id": "x"}, {"kind": "photo"}, {"file_id": "x"}):
        with pytest.raises(InvalidInput, match="announcement_media_invalid"):
            ann.clean_media(bad)


async def test_only_an_official_saves_and_only_to_their_scope(session: AsyncSession) -> None:
    tree, official, (teacher, _) = await _district(session)
    other_district = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                     parent=tree["edu"])
    with pytest.raises(NotAllowed):
        await ann.save(session, await actor_of(session, teacher), everyone(), now=NOW)
    forged = ann.Draft(text="Xin chào mọi người", audience=Audience(unit_ids=[other_district.id]))  # type: ignore[list-item]
    with pytest.raises(NotAllowed):
        await ann.save(session, await actor_of(session, official), forged, now=NOW)
    with pytest.raises(InvalidInput, match="audience_empty"):
        await ann.save(session, await actor_of(session, official),
                       ann.Draft(text="Xin chào mọi người"), now=NOW)


# --- the scheduled time -----------------------------------------------------------------------


@pytest.mark.parametrize(("local", "utc"), [
    (datetime(2026, 11, 25, 8, 0, tzinfo=HCM), datetime(2026, 11, 25, 1, 0, tzinfo=UTC)),
    # Late evening in Hà Nội is the afternoon of the same day in UTC.
    (datetime(2026, 11, 25, 23, 30, tzinfo=HCM), datetime(2026, 11, 25, 16, 30, tzinfo=UTC)),
])
async def test_a_scheduled_announcement_goes_out_at_the_local_time_chosen(
    engine: AsyncEngine, local: datetime, utc: datetime
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, _ = await _district(session)
        saved = await ann.save(session, await actor_of(session, official), everyone(),
                               now=NOW, send_at=local)
        await session.commit()
        assert saved.scheduled_at == utc
    clock = Clock(utc - timedelta(seconds=1))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    async with sessions() as session:
        assert await _rows(session) == []
        assert (await _stored(session, saved.id)).status == ann.AnnouncementStatus.SCHEDULED  # type: ignore[arg-type]
    clock.now = utc
    assert await scheduler.tick() == 3
    async with sessions() as session:
        stored = await _stored(session, saved.id)  # type: ignore[arg-type]
        assert (stored.status, stored.recipients, stored.queued_at) == (
            ann.AnnouncementStatus.SENT, 3, utc
        )


async def test_a_scheduled_announcement_is_queued_at_its_time_to_everyone_in_scope(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["district"], telegram_id=9001)
        lan = await make_member(session, tree["trai"], "Nguyễn Thị Lan", telegram_id=101)
        await make_member(session, tree["du"], "Lê Văn Nam", zalo_id=202, locale="en")
        await make_member(session, tree["edu"], "Out Of Scope", telegram_id=303)
        actor = await actor_of(session, official)
        saved = await ann.save(
            session, actor,
            ann.Draft(text="Họp <b>công đoàn</b> lúc 14:00", ack_requested=True,
                      audience=Audience(whole_scope=True)),
            now=NOW, send_at=NOW + timedelta(hours=2),
        )
        await session.commit()
        announcement_id = saved.id
    clock = Clock(NOW + timedelta(hours=1))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = NOW + timedelta(hours=2)
    queued = await scheduler.tick()
    assert queued == 3  # the official, Lan and Nam; not the member above the district
    async with sessions() as session:
        rows = (await session.exec(
            select(OutboxMessage).order_by(col(OutboxMessage.member_id))
        )).all()
        by_chat = {row.chat_id: row for row in rows}
        assert set(by_chat) == {"9001", "101", "202"}
        assert "Họp <b>công đoàn</b>" in by_chat["101"].text
        assert by_chat["101"].buttons[0][0]["callback_data"] == f"ann:ack:{announcement_id}"
        assert "Received" in by_chat["202"].buttons[0][0]["text"]
        stored = await session.get(ann.Announcement, announcement_id)
        assert stored.status == ann.AnnouncementStatus.SENT
        assert stored.recipients == 3
        assert await ann.acknowledge(
            session, member=lan, announcement_id=announcement_id, channel="telegram", now=NOW
        ) is True
    assert await scheduler.tick() == 0  # nothing twice


# --- what members receive -----------------------------------------------------------------------


def _announcement(**kwargs) -> ann.Announcement:  # type: ignore[no-untyped-def]
    values = {"id": 41, "text": "Họp <b>công đoàn</b> lúc 14:00", "created_at": NOW,
              "updated_at": NOW, **kwargs}
    return ann.Announcement(**values)


def test_the_same_announcement_on_each_app_and_in_each_language() -> None:
    item = _announcement(ack_requested=True)
    vi_tg = ann.render(item, sender="Trường THCS Nguyễn Trãi", channel="telegram", locale="vi",
                       t=T.t)
    en_zalo = ann.render(item, sender="Trường THCS Nguyễn Trãi", channel="zalo", locale="en",
                         t=T.t)
    assert vi_tg.text.startswith("📢 <b>Thông báo — Trường THCS Nguyễn Trãi</b>")
    assert en_zalo.text.startswith("📢 <b>Announcement — Trường THCS Nguyễn Trãi</b>")
    for message in (vi_tg, en_zalo):
        assert "Họp <b>công đoàn</b> lúc 14:00" in message.text
        assert message.media is None
        assert message.buttons[0][0]["callback_data"] == "ann:ack:41"  # type: ignore[index]
    assert vi_tg.buttons[0][0]["text"] == T.t("vi", "announce.ack_button")  # type: ignore[index]
    assert en_zalo.buttons[0][0]["text"] == T.t("en", "announce.ack_button")  # type: ignore[index]
    assert T.t("vi", "announce.ack_hint") in vi_tg.text
    # From the administrators (no unit of their own).
    admin = ann.render(item, sender=None, channel="telegram", locale="vi", t=T.t)
    assert "Ban quản trị UnionBot" in admin.text


def test_no_button_unless_acknowledgement_was_asked() -> None:
    message = ann.render(_announcement(), sender="A", channel="telegram", locale="vi", t=T.t)
    assert message.buttons is None
    assert T.t("vi", "announce.ack_hint") not in message.text


def test_a_telegram_photo_becomes_a_line_on_zalo_and_a_zalo_photo_goes_by_url() -> None:
    telegram_photo = _announcement(media={"kind": "photo", "channel": "telegram",
                                          "file_id": "AgADfile", "url": None, "name": None})
    on_telegram = ann.render(telegram_photo, sender="A", channel="telegram", locale="vi", t=T.t)
    on_zalo = ann.render(telegram_photo, sender="A", channel="zalo", locale="vi", t=T.t)
    assert on_telegram.media == {"kind": "photo", "file_id": "AgADfile"}
    assert T.t("vi", "announce.attachment_elsewhere") not in on_telegram.text
    assert on_zalo.media is None
    assert on_zalo.text.endswith(T.t("vi", "announce.attachment_elsewhere"))

    zalo_photo = _announcement(media={"kind": "photo", "channel": "zalo", "file_id": None,
                                      "url": "https://zalo.example/p.jpg", "name": None})
    for channel in ("telegram", "zalo"):
        message = ann.render(zalo_photo, sender="A", channel=channel, locale="en", t=T.t)
        assert message.media == {"kind": "photo", "url": "https://zalo.example/p.jpg"}

    document = _announcement(media={"kind": "document", "channel": "telegram",
                                    "file_id": "BQAD", "url": None, "name": "ke-hoach.pdf"})
    assert ann.render(document, sender="A", channel="telegram", locale="vi",
                      t=T.t).media == {"kind": "document", "file_id": "BQAD"}
    assert ann.render(document, sender="A", channel="zalo", locale="vi", t=T.t).media is None


def test_a_follow_ups_button_acknowledges_the_original() -> None:
    again = _announcement(id=77, follow_up_of=41, ack_requested=True)
    message = ann.render(again, sender="A", channel="telegram", locale="vi", t=T.t)
    assert message.text.startswith("🔔 <b>Nhắc lại thông báo — A</b>")
    assert message.buttons[0][0]["callback_data"] == "ann:ack:41"  # type: ignore[index]


def test_the_senders_name_is_escaped_once_and_long_names_still_fit() -> None:
    message = ann.render(_announcement(), sender="Trường <A> & B", channel="telegram",
                         locale="vi", t=T.t)
    assert "Trường &lt;A&gt; &amp; B" in message.text
    assert "&amp;amp;" not in message.text and "&amp;lt;" not in message.text

    def telegram_length(text_html: str) -> int:
        return ann.visible_length(text_html)

    longest_name = "Trường " + "Đ" * 250  # a unit name may be 255 characters
    for locale in ("vi", "en"):
        caption = _announcement(
            follow_up_of=40, ack_requested=True, text="😀" * (ann.CAPTION_MAX // 2),
            media={"kind": "photo", "channel": "telegram", "file_id": "x", "url": None},
        )
        message = ann.render(caption, sender=longest_name, channel="telegram", locale=locale,
                             t=T.t)
        assert message.media is not None
        assert telegram_length(message.text) <= 1024  # Telegram's caption limit
        text = _announcement(follow_up_of=40, ack_requested=True, text="ư" * ann.TEXT_MAX)
        message = ann.render(text, sender=longest_name, channel="zalo", locale=locale, t=T.t)
        assert telegram_length(message.text) <= 4096


async def test_the_preview_is_what_members_receive(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["trai"], telegram_id=9001)
        await make_member(session, tree["trai"], "Lan", zalo_id=202, locale="en")
        actor = await actor_of(session, official)
        draft = everyone(media={"kind": "photo", "channel": "telegram", "file_id": "AgAD"})
        shown = {
            (channel, locale): ann.render(
                ann.preview(draft, actor, now=NOW), sender=tree["trai"].name, channel=channel,
                locale=locale, t=T.t,
            )
            for channel, locale in (("telegram", "vi"), ("zalo", "en"))
        }
        saved_id = await _queue_now(engine, session, actor, draft)
        rows = {row.chat_id: row for row in await _rows(session, saved_id)}
    assert (rows["9001"].text, rows["9001"].media) == (
        shown["telegram", "vi"].text, shown["telegram", "vi"].media
    )
    assert (rows["202"].text, rows["202"].media) == (
        shown["zalo", "en"].text, shown["zalo", "en"].media
    )


# --- queuing ----------------------------------------------------------------------------------


async def test_queuing_resumes_after_a_crash_from_its_cursor(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, people = await _district(session, members=5)
        actor = await actor_of(session, official)
        saved = await ann.save(session, actor, everyone(), now=NOW)
        await session.commit()
        # A process claims it and queues one batch of two, then dies.
        assert await ann.claim_due(session, now=NOW) == [saved.id]
        await session.commit()
        batch = await ann.queue_batch(session, saved.id, actor=actor, now=NOW, t=T.t,  # type: ignore[arg-type]
                                      default_locale="vi", batch_size=2)
        await session.commit()
        assert batch == ann.Batch(queued=2, done=False)
    clock = Clock(NOW + ann.CLAIM_LEASE - timedelta(seconds=1))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0  # the claim still holds: nobody else takes it
    clock.now = NOW + ann.CLAIM_LEASE + timedelta(seconds=1)
    assert await scheduler.tick() == 4  # the other four of six, from the cursor
    async with sessions() as session:
        rows = await _rows(session, saved.id)
        members = [row.member_id for row in rows]
        assert sorted(members) == sorted([official.id] + [p.id for p in people])
        assert len(set(members)) == len(members) == 6
        stored = await _stored(session, saved.id)  # type: ignore[arg-type]
        assert (stored.status, stored.recipients) == (ann.AnnouncementStatus.SENT, 6)


async def test_two_schedulers_at_once_queue_each_recipient_once(database_url: str) -> None:
    engines = [database.create_engine(database_url) for _ in range(2)]
    try:
        sessions = database.create_session_factory(engines[0])
        async with sessions() as session:
            _, official, _ = await _district(session, members=12)
            actor = await actor_of(session, official)
            ids = []
            for n in range(4):
                saved = await ann.save(session, actor, everyone(), now=NOW - timedelta(minutes=n))
                ids.append(saved.id)
            await session.commit()
        clock = Clock(NOW)
        schedulers = [scheduler_for(engine, clock, batch_size=5) for engine in engines]
        results = await asyncio.gather(*(s.tick() for s in schedulers), schedulers[0].tick())
        # (the third call waited for the first scheduler's tick and counts part of it again)
        assert sum(results[:2]) == 4 * 13
        async with sessions() as session:
            rows = await _rows(session)
            pairs = [(row.source_id, row.member_id) for row in rows]
            assert len(pairs) == len(set(pairs)) == 4 * 13
            for announcement_id in ids:
                assert (await _stored(session, announcement_id)).status == "sent"
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_audience_is_resolved_when_it_is_due(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree, official, (stays, leaves, erased) = await _district(session, members=3)
        saved = await ann.save(session, await actor_of(session, official), everyone(), now=NOW,
                               send_at=NOW + timedelta(days=1))
        await session.commit()
        newcomer = await make_member(session, tree["du"], "Mới vào", zalo_id=555)
        leaves.status = MemberStatus.REJECTED
        session.add(leaves)
        identity = (await session.exec(select(Identity).where(
            Identity.member_id == erased.id))).one()
        await erase_member(session, identity)
        await session.commit()
    assert await scheduler_for(engine, Clock(NOW + timedelta(days=1))).tick() == 3
    async with sessions() as session:
        reached = {row.member_id for row in await _rows(session, saved.id)}
        assert reached == {official.id, stays.id, newcomer.id}


async def test_an_author_who_lost_the_role_before_it_was_due_sends_nothing(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, _ = await _district(session)
        saved = await ann.save(session, await actor_of(session, official), everyone(), now=NOW,
                               send_at=NOW + timedelta(hours=1))
        await session.commit()
        role = (await session.exec(select(RoleAssignment).where(
            RoleAssignment.member_id == official.id))).one()
        await revoke(session, None, assignment=role)
        await session.commit()
    assert await scheduler_for(engine, Clock(NOW + timedelta(hours=1))).tick() == 0
    async with sessions() as session:
        stored = await _stored(session, saved.id)  # type: ignore[arg-type]
        assert (stored.status, stored.error) == (ann.AnnouncementStatus.FAILED, "officials_only")
        assert await _rows(session) == []


async def test_a_broken_announcement_fails_alone_and_the_tick_goes_on(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, _ = await _district(session)
        actor = await actor_of(session, official)
        broken = await ann.save(session, actor, everyone(), now=NOW - timedelta(minutes=1))
        broken.audience = {"unit_ids": "not a list"}
        session.add(broken)
        fine = await ann.save(session, actor, everyone(), now=NOW)
        await session.commit()
    assert await scheduler_for(engine, Clock(NOW)).tick() == 3
    async with sessions() as session:
        assert (await _stored(session, broken.id)).error == "audience_invalid"  # type: ignore[arg-type]
        assert (await _stored(session, broken.id)).status == "failed"  # type: ignore[arg-type]
        assert (await _stored(session, fine.id)).status == "sent"  # type: ignore[arg-type]


# --- cancelling -------------------------------------------------------------------------------


async def test_cancelling_a_scheduled_announcement_queues_nothing_ever(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, _ = await _district(session)
        actor = await actor_of(session, official)
        saved = await ann.save(session, actor, everyone(), now=NOW,
                               send_at=NOW + timedelta(hours=1))
        await session.commit()
        assert await ann.cancel(session, actor, saved, now=NOW) == 0
        await session.commit()
    assert await scheduler_for(engine, Clock(NOW + timedelta(days=2))).tick() == 0
    async with sessions() as session:
        assert await _rows(session) == []
        stored = await _stored(session, saved.id)  # type: ignore[arg-type]
        assert (stored.status, stored.cancelled_at) == (ann.AnnouncementStatus.CANCELLED, NOW)


async def test_cancelling_between_two_batches_stops_the_rest(session: AsyncSession) -> None:
    _, official, _ = await _district(session, members=5)
    actor = await actor_of(session, official)
    saved = await ann.save(session, actor, everyone(), now=NOW)
    await ann.claim_due(session, now=NOW)
    first = await ann.queue_batch(session, saved.id, actor=actor, now=NOW, t=T.t,  # type: ignore[arg-type]
                                  default_locale="vi", batch_size=2)
    await session.commit()
    assert first.queued == 2
    [delivered] = await _deliver(session, now=NOW, limit=1)  # one went out already
    assert await ann.cancel(session, actor, saved, now=NOW) == 1
    await session.commit()
    after = await ann.queue_batch(session, saved.id, actor=actor, now=NOW, t=T.t,  # type: ignore[arg-type]
                                  default_locale="vi", batch_size=2)
    await session.commit()
    assert after == ann.Batch(0, True)
    rows = await _rows(session, saved.id)
    assert sorted((row.member_id, row.status) for row in rows) == sorted([
        (delivered, Status.SENT),
        *[(row.member_id, Status.CANCELLED) for row in rows if row.member_id != delivered],
    ])
    assert len(rows) == 2


async def test_cancelling_a_sent_announcement_stops_what_is_pending_only(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    _, official, _ = await _district(session, members=3)
    actor = await actor_of(session, official)
    saved_id = await _queue_now(engine, session, actor, everyone())
    await _deliver(session, now=NOW, limit=2)
    saved = await _stored(session, saved_id)
    assert saved.status == ann.AnnouncementStatus.SENT
    assert await ann.cancel(session, actor, saved, now=NOW) == 2
    await session.commit()
    progress = await outbox.progress(session, ann.source_of(saved))
    assert (progress.sent, progress.cancelled, progress.pending) == (2, 2, 0)

    # Everything delivered: nothing left to cancel, and the official is told so.
    other_id = await _queue_now(engine, session, actor, everyone())
    await _deliver(session, now=NOW + timedelta(seconds=5))
    with pytest.raises(NotAllowed, match="announcement_already_delivered"):
        await ann.cancel(session, actor, await _stored(session, other_id), now=NOW)


async def test_two_cancels_at_once_one_wins(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, official, _ = await _district(session)
        saved = await ann.save(session, await actor_of(session, official), everyone(), now=NOW,
                               send_at=NOW + timedelta(hours=1))
        await session.commit()

    async def cancel() -> str:
        async with sessions() as session:
            actor = await actor_of(session, await session.get(Member, official.id))
            announcement = await session.get(ann.Announcement, saved.id)
            try:
                await ann.cancel(session, actor, announcement, now=NOW)  # type: ignore[arg-type]
            except NotAllowed as refused:
                return refused.code
            await session.commit()
            return "cancelled"

    assert sorted(await asyncio.gather(cancel(), cancel())) == [
        "announcement_already_cancelled", "cancelled"
    ]
    async with sessions() as session:
        entries = await entries_about(session, target_type="announcement", target_id=saved.id)  # type: ignore[arg-type]
        assert [e.action for e in entries].count("announcement_cancelled") == 1


# --- acknowledgements and follow-ups -----------------------------------------------------------


async def test_acknowledging_once_and_only_what_one_received(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    tree, official, (lan, binh) = await _district(session)
    outsider = await make_member(session, tree["edu"], "Ở trên", telegram_id=777)
    actor = await actor_of(session, official)
    asked = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    not_asked = await _queue_now(engine, session, actor, everyone())
    await _deliver(session, now=NOW)

    def ack(member: Member, announcement_id: int):  # type: ignore[no-untyped-def]
        return ann.acknowledge(session, member=member, announcement_id=announcement_id,
                               channel="telegram", now=NOW)

    assert await ack(lan, asked) is True
    assert await ack(lan, asked) is False
    for member, announcement_id in ((outsider, asked), (binh, not_asked), (binh, 99999)):
        with pytest.raises(NotFound, match="announcement_not_found"):
            await ack(member, announcement_id)
    with pytest.raises(NotAllowed):
        await ann.acknowledge(session, member=None, announcement_id=asked, channel="zalo",
                              now=NOW)
    await session.commit()
    assert await ann.acknowledged(session, await _stored(session, asked)) == 1
    assert await ann.has_acknowledged(session, lan.id, asked)  # type: ignore[arg-type]
    assert not await ann.has_acknowledged(session, binh.id, asked)  # type: ignore[arg-type]


async def test_a_follow_up_goes_only_to_who_has_not_acknowledged(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    _, official, (lan, binh, cuc, dung) = await _district(session, members=4)
    actor = await actor_of(session, official)
    original_id = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    # Dũng's message is cancelled before it goes (cancelled rows are not reminded).
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage).where(OutboxMessage.member_id == dung.id)
        .values(status=Status.CANCELLED)
    )
    await _deliver(session, now=NOW)
    for member in (official, lan):
        await ann.acknowledge(session, member=member, announcement_id=original_id,
                              channel="telegram", now=NOW)
    await session.commit()
    original = await _stored(session, original_id)
    later = NOW + timedelta(hours=3)
    again = await ann.follow_up(session, actor, original, now=later)
    await session.commit()
    again_id = again.id
    # A second tap while it is under way reminds nobody twice.
    async with database.create_session_factory(engine)() as other:
        with pytest.raises(NotAllowed, match="announcement_already_sending"):
            await ann.follow_up(
                other, await actor_of(other, await other.get(Member, official.id)),
                await other.get(ann.Announcement, original_id), now=later,  # type: ignore[arg-type]
            )
    assert await scheduler_for(engine, Clock(later)).tick() == 2
    rows = await _rows(session, again_id)
    assert sorted(row.member_id for row in rows) == sorted([binh.id, cuc.id])
    assert rows[0].buttons[0][0]["callback_data"] == f"ann:ack:{original_id}"  # type: ignore[index]
    assert "Nhắc lại" in rows[0].text
    await _deliver(session, now=later + timedelta(seconds=2))
    # Bình taps the button on the reminder: it counts on the original.
    assert await ann.acknowledge(session, member=binh, announcement_id=original_id,
                                 channel="telegram", now=later) is True
    # An old client sending the follow-up's own id counts on the original too.
    assert await ann.acknowledge(session, member=cuc, announcement_id=again_id,  # type: ignore[arg-type]
                                 channel="telegram", now=later) is True
    await session.commit()
    original = await _stored(session, original_id)
    tracking = await ann.tracking(session, original)
    assert tracking.acknowledged == 4
    assert [(f.id, p.sent) for f, p in tracking.follow_ups] == [(again_id, 2)]
    assert tracking.finished
    with pytest.raises(NotAllowed, match="announcement_all_acknowledged"):
        await ann.follow_up(session, actor, original, now=later + timedelta(hours=1))
    no_ack_id = await _queue_now(engine, session, actor, everyone(), now=later)
    with pytest.raises(NotAllowed, match="announcement_no_ack"):
        await ann.follow_up(session, actor, await _stored(session, no_ack_id), now=later)
    with pytest.raises(NotAllowed, match="announcement_no_ack"):
        await ann.follow_up(session, actor, await _stored(session, again_id), now=later)  # type: ignore[arg-type]


async def test_cancelling_a_delivered_original_stops_its_follow_up_still_going_out(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    _, official, _ = await _district(session, members=3)
    actor = await actor_of(session, official)
    original_id = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    await _deliver(session, now=NOW)
    later = NOW + timedelta(hours=1)
    again = await ann.follow_up(session, actor, await _stored(session, original_id), now=later)
    await session.commit()
    again_id = again.id
    assert await scheduler_for(engine, Clock(later)).tick() == 4  # nobody acknowledged
    await _deliver(session, now=later, limit=1)

    original = await _stored(session, original_id)
    assert await ann.cancel(session, actor, original, now=later) == 3
    await session.commit()
    assert (await _stored(session, original_id)).status == ann.AnnouncementStatus.SENT
    assert (await _stored(session, again_id)).status == ann.AnnouncementStatus.CANCELLED  # type: ignore[arg-type]
    progress = await outbox.progress(session, ann.source_of(await _stored(session, again_id)))  # type: ignore[arg-type]
    assert (progress.sent, progress.cancelled) == (1, 3)
    assert (await ann.tracking(session, await _stored(session, original_id))).finished
    with pytest.raises(NotAllowed, match="announcement_already_delivered"):
        await ann.cancel(session, actor, await _stored(session, original_id), now=later)


async def test_who_has_not_acknowledged_pages_by_member_and_counts_a_member_once(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    official = await make_official(session, tree["trai"], telegram_id=9001)
    both = await make_member(session, tree["trai"], "Hai ứng dụng", telegram_id=111, zalo_id=222)
    others = [
        await make_member(session, tree["trai"], f"Người {n}", telegram_id=300 + n)
        for n in range(4)
    ]
    actor = await actor_of(session, official)
    original_id = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    # Telegram says "blocked" for the member with two apps: the message goes to Zalo.
    claimed = await outbox.claim(session, worker="w", channel="telegram", limit=100, now=NOW)
    results = []
    for row in claimed:
        if row.member_id == both.id:
            await outbox.mark_blocked(session, row, now=NOW)
            results.append(outbox.gave_up(row.id, status=Status.BLOCKED, attempts=1,  # type: ignore[arg-type]
                                          error="Forbidden"))
        else:
            results.append(outbox.sent(row.id, message_id="1", attempts=1, now=NOW))  # type: ignore[arg-type]
    await outbox.record(session, results, worker="w")
    await session.commit()
    await _deliver(session, now=NOW + timedelta(seconds=2))
    await ann.acknowledge(session, member=others[0], announcement_id=original_id,
                          channel="telegram", now=NOW)
    await session.commit()
    original = await _stored(session, original_id)

    pages, after = [], 0
    while True:
        page = await ann.not_acknowledged(session, original, after=after, limit=2)
        if not page:
            break
        pages.append([(p.member_id, p.channel, p.delivery) for p in page])
        after = page[-1].member_id
    assert pages == [
        [(official.id, "telegram", "sent"), (both.id, "zalo", "sent")],
        [(others[1].id, "telegram", "sent"), (others[2].id, "telegram", "sent")],
        [(others[3].id, "telegram", "sent")],
    ]
    assert original.recipients == 6  # members, not rows
    # The reminder goes once to the member with two apps, on the app that works.
    again = await ann.follow_up(session, actor, original, now=NOW + timedelta(hours=1))
    await session.commit()
    await scheduler_for(engine, Clock(NOW + timedelta(hours=1))).tick()
    to_both = [row for row in await _rows(session, again.id) if row.member_id == both.id]
    assert [(row.channel, row.chat_id) for row in to_both] == [("zalo", "222")]


# --- members' news ----------------------------------------------------------------------------


async def test_news_lists_what_reached_the_member_newest_first(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    tree, official, (lan,) = await _district(session, members=1)
    nam = await make_member(session, tree["du"], "Nam", telegram_id=505)
    actor = await actor_of(session, official)
    first = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    await _deliver(session, now=NOW)
    later = NOW + timedelta(days=1)
    second = await _queue_now(engine, session, actor, everyone(), now=later)
    only_du = await _queue_now(
        engine, session, actor,
        ann.Draft(text="Riêng trường Nguyễn Du", audience=Audience(unit_ids=[tree["du"].id])),  # type: ignore[list-item]
        now=later,
    )
    # The second is not delivered to Lan yet: not in her news.
    assert [a.id for a in (await ann.news_for(session, lan.id))[0]] == [first]  # type: ignore[arg-type]
    await _deliver(session, now=later)
    follow = await ann.follow_up(session, actor, await _stored(session, first),
                                 now=later + timedelta(hours=1))
    await session.commit()
    await scheduler_for(engine, Clock(later + timedelta(hours=1))).tick()
    await _deliver(session, now=later + timedelta(hours=1))
    items, total = await ann.news_for(session, lan.id)  # type: ignore[arg-type]
    assert ([a.id for a in items], total) == ([second, first], 2)  # the follow-up is folded
    assert [a.id for a in (await ann.news_for(session, lan.id, page=1, page_size=1))[0]] == [first]  # type: ignore[arg-type]
    assert (await ann.news_item(session, lan.id, first)).id == first  # type: ignore[arg-type]
    follow_id = follow.id
    for foreign in (only_du, follow_id, 99999):
        with pytest.raises(NotFound):
            await ann.news_item(session, lan.id, foreign)  # type: ignore[arg-type]
    assert only_du in [a.id for a in (await ann.news_for(session, nam.id))[0]]  # type: ignore[arg-type]


async def test_news_shows_an_announcement_that_arrived_only_as_a_follow_up(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    _, official, (lan,) = await _district(session, members=1)
    actor = await actor_of(session, official)
    original = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    claimed = await outbox.claim(session, worker="w", channel="telegram", limit=10, now=NOW)
    await outbox.record(session, [
        outbox.gave_up(row.id, status=Status.FAILED, attempts=5, error="NetworkError")  # type: ignore[arg-type]
        for row in claimed
    ], worker="w")
    await session.commit()
    assert (await ann.news_for(session, lan.id))[1] == 0  # type: ignore[arg-type]
    await ann.follow_up(session, actor, await _stored(session, original), now=NOW)
    await session.commit()
    await scheduler_for(engine, Clock(NOW)).tick()
    await _deliver(session, now=NOW + timedelta(seconds=2))
    assert [a.id for a in (await ann.news_for(session, lan.id))[0]] == [original]  # type: ignore[arg-type]
    assert (await ann.news_item(session, lan.id, original)).id == original  # type: ignore[arg-type]


# --- privacy ----------------------------------------------------------------------------------


async def test_mydata_lists_announcements_and_erasing_the_author_keeps_them(
    engine: AsyncEngine, session: AsyncSession,
) -> None:
    _, official, (lan,) = await _district(session, members=1)
    actor = await actor_of(session, official)
    announcement_id = await _queue_now(engine, session, actor, everyone(ack_requested=True))
    scheduled_id = (await ann.save(session, actor, everyone(), now=NOW,
                                   send_at=NOW + timedelta(days=1))).id
    await _deliver(session, now=NOW)
    await ann.acknowledge(session, member=lan, announcement_id=announcement_id,
                          channel="telegram", now=NOW)
    await session.commit()
    official_account = (await session.exec(
        select(Identity).where(Identity.member_id == official.id))).one()
    lan_account = (await session.exec(select(Identity).where(Identity.member_id == lan.id))).one()

    wrote = (await export_member_data(session, official_account))["announcements_you_wrote"]
    assert [(a["id"], a["status"]) for a in wrote] == [
        (announcement_id, "sent"), (scheduled_id, "scheduled")
    ]
    acked = (await export_member_data(session, lan_account))["announcements_you_acknowledged"]
    assert [(a["announcement_id"], a["channel"]) for a in acked] == [
        (announcement_id, "telegram")
    ]

    await erase_member(session, official_account)
    await session.commit()
    stored = await _stored(session, announcement_id)
    assert (stored.author_member_id, stored.author_identity_id) == (None, None)
    assert (stored.status, stored.text) == ("sent", "Họp <b>công đoàn</b> lúc 14:00")
    # The scheduled one has no author any more: it fails instead of going out.
    await scheduler_for(engine, Clock(NOW + timedelta(days=1))).tick()
    scheduled = await _stored(session, scheduled_id)  # type: ignore[arg-type]
    assert (scheduled.status, scheduled.error) == ("failed", "announcement_author_gone")
