"""Live events (contract: Live events; Web chat, the visitor stream): the event each change emits,
who receives it and who does not, replay, tickets, closing, the per-process cap, the visitor's stream."""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.auth.models import StreamTicket
from app.contacts.models import Contact, Message
from app.core.time import utcnow
from app.extensions import db
from app.live import service as live
from app.live.models import EVENT_SOURCE_TABLES, NOTIFY_CHANNEL, StreamEvent
from app.routing import service as routing
from tests.channel_helpers import contacts, send_sms
from tests.conftest import is_postgres
from tests.helpers import assert_error
from tests.live_helpers import EventStream
from tests.test_routing import action, available, make_idle_order

PHONE = "+447700900123"


@pytest.fixture
def general(app, helpline):
    with app.app_context():
        return routing.create_queue(helpline, "General").id


def open_stream(client, actor, **headers) -> EventStream:
    return EventStream(client.get("/api/v1/events", headers={**actor.headers, **headers}, buffered=False))


def types(stream) -> list[str]:
    return [f.event for f in stream.events()]


# --- who receives what -------------------------------------------------------------

def test_offers_reach_only_the_counsellor_offered(app, client, general, make_user, helpline, supervisor):
    first, second = make_user(helpline), make_user(helpline)
    available(client, first)
    available(client, second)
    make_idle_order(app, first, second)
    streams = {name: open_stream(client, actor) for name, actor in
               (("first", first), ("second", second), ("supervisor", supervisor))}

    send_sms(client, body="hello")
    contact = contacts(app)[0]
    [created] = streams["first"].wait_for("offer.created")
    assert set(created.data) == {"contact_id", "offer_id", "channel", "priority", "expires_at"}
    assert created.data["contact_id"] == contact.id and created.data["channel"] == "sms"
    assert created.data["priority"] == "normal" and created.data["expires_at"]

    assert action(client, first, contact.id, "decline").status_code == 200
    [ended] = streams["first"].wait_for("offer.ended")
    assert ended.data == {"contact_id": contact.id, "offer_id": created.data["offer_id"], "outcome": "declined"}

    # The next offer goes to the second counsellor, who accepts it.
    [offer_two] = streams["second"].wait_for("offer.created")
    assert action(client, second, contact.id, "accept").status_code == 200
    [accepted] = streams["second"].wait_for("offer.ended")
    assert accepted.data["outcome"] == "accepted" and accepted.data["offer_id"] == offer_two.data["offer_id"]

    streams["supervisor"].wait_for("contact.updated", 3)
    assert "offer.created" not in types(streams["supervisor"]) and "offer.ended" not in types(streams["supervisor"])
    assert [e.data["offer_id"] for e in streams["first"].events("offer.created")] == [created.data["offer_id"]]
    assert [e.data["offer_id"] for e in streams["second"].events("offer.ended")] == [offer_two.data["offer_id"]]


def test_an_offer_that_lapses_or_is_cancelled_ends_with_that_outcome(app, client, general, counsellor):
    available(client, counsellor)
    stream = open_stream(client, counsellor)
    send_sms(client, body="hello")
    [created] = stream.wait_for("offer.created")
    with app.app_context():
        db.session.execute(sa.text("UPDATE offers SET expires_at = :past"), {"past": utcnow() - timedelta(seconds=1)})
        db.session.commit()
        routing.expire_offers()
    [ended] = stream.wait_for("offer.ended")
    assert ended.data["outcome"] == "expired" and ended.data["offer_id"] == created.data["offer_id"]

    # A counsellor who goes on break has their pending offer cancelled.
    available(client, counsellor)
    send_sms(client, body="hello", sender="+447700900555")
    offers = stream.wait_for("offer.created", 2)
    assert client.put("/api/v1/me/availability", json={"status": "break"}, headers=counsellor.headers).status_code == 200
    ended = stream.wait_for("offer.ended", 2)
    assert ended[-1].data == {"contact_id": offers[-1].data["contact_id"], "offer_id": offers[-1].data["offer_id"],
                              "outcome": "cancelled"}


def test_contact_updates_reach_its_counsellor_and_supervisors_only(app, client, general, helpline, make_user,
                                                                    counsellor, supervisor, admin, manager):
    other = make_user(helpline)
    available(client, counsellor)
    streams = {name: open_stream(client, actor) for name, actor in
               (("counsellor", counsellor), ("other", other), ("supervisor", supervisor), ("admin", admin),
                ("manager", manager))}
    send_sms(client, body="hello")
    contact_id = contacts(app)[0].id
    assert action(client, counsellor, contact_id, "accept").status_code == 200
    assert action(client, counsellor, contact_id, "end").status_code == 200

    statuses = [e.data["status"] for e in streams["supervisor"].wait_for("contact.updated", 4)]
    assert statuses == ["queued", "offered", "active", "wrapup"]
    last = streams["supervisor"].events("contact.updated")[-1].data
    assert last == {"contact_id": contact_id, "status": "wrapup", "counsellor_id": counsellor.id,
                    "queue_id": general, "priority": "normal", "risk_flag": False}
    # Its counsellor hears of it once it is theirs.
    mine = [e.data["status"] for e in streams["counsellor"].wait_for("contact.updated", 2)]
    assert mine == ["active", "wrapup"]
    for name in ("other", "admin", "manager"):
        streams[name].settle()
        assert "contact.updated" not in types(streams[name]), name


def test_a_risk_phrase_shows_as_urgent_and_flagged(app, client, general, supervisor):
    stream = open_stream(client, supervisor)
    send_sms(client, body="hello")
    send_sms(client, body="I want to kill myself")
    updates = stream.wait_for("contact.updated", 2)
    assert updates[-1].data["risk_flag"] is True and updates[-1].data["priority"] == "urgent"


def test_messages_reach_those_who_may_read_the_transcript(app, client, general, helpline, make_user,
                                                          counsellor, supervisor, admin):
    other = make_user(helpline)
    available(client, counsellor)
    send_sms(client, body="hello")
    contact_id = contacts(app)[0].id
    assert action(client, counsellor, contact_id, "accept").status_code == 200
    streams = {name: open_stream(client, actor) for name, actor in
               (("counsellor", counsellor), ("other", other), ("supervisor", supervisor), ("admin", admin))}

    send_sms(client, body="are you there")
    for name in ("counsellor", "supervisor"):
        [created] = streams[name].wait_for("message.created")
        assert created.data["contact_id"] == contact_id
        listed = client.get(f"/api/v1/contacts/{contact_id}/messages", headers=counsellor.headers).get_json()["items"]
        assert created.data["message"] == listed[-1]
        assert created.data["message"]["text"] == "are you there"
    with app.app_context():
        message = db.session.scalars(sa.select(Message).order_by(Message.id.desc())).first()
        message.status, message_id = "read", message.id
        db.session.commit()
    updated = streams["counsellor"].wait_for("message.updated")
    assert updated[-1].data == {"contact_id": contact_id, "message_id": str(message_id), "status": "read"}
    assert streams["supervisor"].wait_for("message.updated")[-1].data["status"] == "read"
    # Delivering a transcript is a read: audited once per stream and contact (the supervisor never
    # asked for the transcript over HTTP: these rows are the stream's).
    with app.app_context():
        audited = db.session.execute(sa.text(
            "SELECT user_id FROM audit_events WHERE action = 'read_transcript' AND record_id = :id"),
            {"id": contact_id}).scalars().all()
    assert audited.count(supervisor.id) == 1
    # The audit trail's API shows the stream's read like any other (helpline, record, time).
    trail = client.get(f"/api/v1/audit?record_id={contact_id}&user_id={supervisor.id}", headers=admin.headers)
    [read] = [e for e in trail.get_json()["items"] if e["action"] == "read_transcript"]
    assert read["record_type"] == "contact" and abs(
        datetime.fromisoformat(read["at"]) - utcnow()) < timedelta(minutes=1)
    for name in ("other", "admin"):
        streams[name].settle()
        assert not streams[name].events("message.created") and not streams[name].events("message.updated"), name


def test_a_supervisor_the_rules_keep_from_transcripts_gets_no_messages(app, client, general, counsellor,
                                                                        supervisor, admin):
    rules = {"view_transcript": [["is_owner"]]}
    assert client.put("/api/v1/helpline/permissions", json=rules, headers=admin.headers).status_code == 200
    available(client, counsellor)
    send_sms(client, body="hello")
    contact_id = contacts(app)[0].id
    assert action(client, counsellor, contact_id, "accept").status_code == 200
    watching, owner = open_stream(client, supervisor), open_stream(client, counsellor)
    send_sms(client, body="secret words")
    owner.wait_for("message.created")
    watching.settle()
    assert not watching.events("message.created")
    assert "secret words" not in json.dumps([f.data for f in watching.events()])


def test_queue_status_reaches_supervisors_admins_and_managers_at_most_once_a_second(
        app, client, general, counsellor, supervisor, admin, manager):
    streams = {name: open_stream(client, actor) for name, actor in
               (("supervisor", supervisor), ("admin", admin), ("manager", manager), ("counsellor", counsellor))}
    for n in range(5):
        send_sms(client, body="hello", sender=f"+4477009001{n:02d}")
    for name in ("supervisor", "admin", "manager"):
        statuses = streams[name].read_until(
            lambda s: any(f.data["queues"][0]["waiting"] == 5 for f in s.events("queue.status")), timeout=4)
        rows = [f.data["queues"] for f in statuses if f.event == "queue.status"]
        assert rows[-1] == [{"queue_id": general, "waiting": 5, "longest_wait_s": rows[-1][0]["longest_wait_s"],
                             "offered": 0, "active": 0, "counsellors_available": 0}], name
    with app.app_context():
        times = db.session.scalars(sa.select(StreamEvent.created_at).where(StreamEvent.type == "queue.status")
                                   .order_by(StreamEvent.seq)).all()
    assert all(later - earlier >= timedelta(seconds=0.99) for earlier, later in zip(times, times[1:]))
    assert len(times) <= 3  # five arrivals within a second or two: coalesced
    streams["counsellor"].settle()
    assert "queue.status" not in types(streams["counsellor"])


def test_availability_reaches_supervisors_only(app, client, counsellor, supervisor, admin, manager):
    streams = {name: open_stream(client, actor) for name, actor in
               (("supervisor", supervisor), ("admin", admin), ("manager", manager), ("counsellor", counsellor))}
    available(client, counsellor)
    [changed] = streams["supervisor"].wait_for("user.availability")
    assert changed.data == {"user_id": counsellor.id, "availability": "available"}
    for name in ("admin", "manager", "counsellor"):
        streams[name].settle()
        assert "user.availability" not in types(streams[name]), name


def test_events_carry_no_phone_number_name_or_text_for_those_who_may_not_read_it(app, client, general, supervisor,
                                                                                 manager):
    streams = [open_stream(client, supervisor), open_stream(client, manager)]
    send_sms(client, body="my name is Alice", sender=PHONE)
    streams[0].wait_for("message.created", 2)
    streams[1].wait_for("queue.status")
    with app.app_context():
        raw = json.dumps([list(r) for r in db.session.execute(sa.text("SELECT * FROM events")).all()], default=str)
    assert PHONE not in raw and "Alice" not in raw and "447700900123" not in raw
    everything = json.dumps([f.data for s in streams for f in s.events()])
    assert PHONE not in everything and "447700900123" not in everything
    assert "Alice" not in json.dumps([f.data for f in streams[1].events()])


# --- frames, replay, tickets, closing -----------------------------------------------

def test_frames_have_increasing_ids_and_a_ping_when_quiet(app, client, general, supervisor):
    stream = open_stream(client, supervisor)
    stream.settle(0.7)
    assert any(f.comment == "ping" for f in stream.frames)
    send_sms(client, body="one")
    send_sms(client, body="two", sender="+447700900999")
    events = stream.wait_for("message.created", 4)
    ids = [f.id for f in stream.events()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids)
    assert len(events) == 4


def test_last_event_id_replays_the_callers_events_after_it(app, client, general, counsellor, supervisor):
    available(client, counsellor)
    first = open_stream(client, supervisor)
    send_sms(client, body="one")
    seen = first.wait_for("message.created", 2)
    last_id = seen[-1].id
    first.close()

    send_sms(client, body="two", sender="+447700900777")
    # The header, then the query parameter: the same replay, then live.
    for headers, query in (({"Last-Event-ID": str(last_id)}, ""), ({}, f"?last_event_id={last_id}")):
        response = client.get(f"/api/v1/events{query}", headers={**supervisor.headers, **headers}, buffered=False)
        again = EventStream(response)
        replayed = again.wait_for("message.created", 2)
        assert all(f.id > last_id for f in again.events())
        assert [m.data["message"]["text"] for m in replayed][0] == "two"
        again.close()
    # A counsellor's replay holds only their own: the second contact's offer, not the supervisors' events.
    mine = EventStream(client.get("/api/v1/events", headers={**counsellor.headers, "Last-Event-ID": "0"},
                                  buffered=False))
    mine.wait_for("offer.created", 2)
    assert set(types(mine)) <= {"offer.created", "user.availability"} - {"user.availability"}


def test_a_bad_last_event_id_is_refused_or_ignored(app, client, supervisor):
    assert_error(client.get("/api/v1/events?last_event_id=abc", headers=supervisor.headers), 422)
    assert_error(client.get("/api/v1/events?last_event_id=-1", headers=supervisor.headers), 422)
    open_stream(client, supervisor, **{"Last-Event-ID": "not-a-number"}).close()
    # An empty value is no value (the README's browser example before its first event).
    EventStream(client.get("/api/v1/events?last_event_id=", headers=supervisor.headers, buffered=False)).close()


def test_a_ticket_opens_one_stream_once_within_60_seconds(app, client, general, supervisor):
    response = client.post("/api/v1/events/tickets", headers=supervisor.headers)
    assert response.status_code == 201
    ticket = response.get_json()["ticket"]
    assert set(response.get_json()) == {"ticket", "expires_at"}
    stream = EventStream(client.get(f"/api/v1/events?ticket={ticket}", buffered=False))
    send_sms(client, body="hello")
    assert stream.wait_for("message.created")
    stream.close()
    assert_error(client.get(f"/api/v1/events?ticket={ticket}"), 401, "invalid_ticket")
    assert_error(client.get("/api/v1/events?ticket=hls_forged"), 401, "invalid_ticket")
    # Only the stream takes tickets.
    other = client.post("/api/v1/events/tickets", headers=supervisor.headers).get_json()["ticket"]
    assert_error(client.get(f"/api/v1/me?ticket={other}"), 401, "missing_token")
    with app.app_context():
        db.session.execute(sa.update(StreamTicket).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(client.get(f"/api/v1/events?ticket={other}"), 401, "invalid_ticket")
    assert_error(client.get("/api/v1/events"), 401, "missing_token")


def test_a_ticket_stops_working_with_its_token(app, client, supervisor):
    ticket = client.post("/api/v1/events/tickets", headers=supervisor.headers).get_json()["ticket"]
    assert client.post("/api/v1/auth/logout", headers=supervisor.headers).status_code in (200, 204)
    assert_error(client.get(f"/api/v1/events?ticket={ticket}"), 401)


def test_a_stream_closes_when_its_token_is_revoked(app, client, supervisor):
    stream = open_stream(client, supervisor)
    assert client.post("/api/v1/auth/logout", headers=supervisor.headers).status_code in (200, 204)
    stream.read_until(lambda s: s.ended, timeout=3)
    assert stream.ended


def test_a_stream_closes_when_its_user_is_deactivated(app, client, admin, counsellor):
    stream = open_stream(client, counsellor)
    response = client.patch(f"/api/v1/users/{counsellor.id}", json={"active": False}, headers=admin.headers)
    assert response.status_code == 200
    stream.read_until(lambda s: s.ended, timeout=3)
    assert stream.ended


def test_past_the_per_process_cap_a_stream_gets_503_with_retry_after(app, client, supervisor, counsellor):
    app.config["EVENT_STREAMS_PER_PROCESS"] = 1
    try:
        held = open_stream(client, supervisor)
        response = client.get("/api/v1/events", headers=counsellor.headers)
        assert_error(response, 503, "streams_full")
        assert int(response.headers["Retry-After"]) > 0
        # Ordinary requests are still served.
        assert client.get("/api/v1/me", headers=counsellor.headers).status_code == 200
        held.close()
        open_stream(client, counsellor).close()
    finally:
        app.config["EVENT_STREAMS_PER_PROCESS"] = 48



def test_a_process_with_no_room_for_streams_refuses_both_kinds_and_serves_requests(app, client, supervisor):
    """The production web tier runs with EVENT_STREAMS_PER_PROCESS=0 (deploy/helpline-web.service):
    a stream routed there by mistake gets 503 + Retry-After instead of holding a request thread."""
    chat = start_chat(client)
    app.config["EVENT_STREAMS_PER_PROCESS"] = 0
    try:
        staff = client.get("/api/v1/events", headers=supervisor.headers)
        visitor = client.get(f"/webchat/sessions/{chat['session_id']}/events",
                             headers={"Authorization": f"Bearer {chat['token']}"})
        for response in (staff, visitor):
            assert_error(response, 503, "streams_full")
            assert int(response.headers["Retry-After"]) > 0
        assert client.get("/api/v1/me", headers=supervisor.headers).status_code == 200
        assert client.get(f"/webchat/sessions/{chat['session_id']}/messages",
                          headers={"Authorization": f"Bearer {chat['token']}"}).status_code == 200
    finally:
        app.config["EVENT_STREAMS_PER_PROCESS"] = 48

# --- the outbox ---------------------------------------------------------------------

def test_a_change_rolled_back_leaves_no_event(app, general, helpline, counsellor):
    with app.app_context():
        user = db.session.get(routing.User, counsellor.id)
        user.availability = "available"
        db.session.flush()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StreamEvent)) == 1
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StreamEvent)) == 0


def test_every_message_of_a_conversation_is_an_event_also_on_the_fast_path(app, client, general):
    for body in ("one", "two", "three"):
        assert send_sms(client, body=body).status_code == 200
    with app.app_context():
        message_ids = set(db.session.scalars(sa.select(Message.id)))
        recorded = {json.loads(p)["message_id"] for p in db.session.scalars(
            sa.select(StreamEvent.payload).where(StreamEvent.type == "message.created"))}
    assert recorded == message_ids and len(message_ids) == 4  # three in, one automatic reply


def test_a_joining_message_changes_only_its_seq_and_a_risky_one_flags_the_contact_once(app, client, general):
    # The join sets only last_seq unless the message carries a risk phrase (migration 0022's column
    # lists then skip the contact's UPDATE triggers): nothing else about the contact may change.
    assert send_sms(client, body="hello").status_code == 200
    with app.app_context():
        before = db.session.execute(sa.select(Contact.__table__)).one()._asdict()

    def contact_updates() -> list[dict]:
        with app.app_context():
            return [json.loads(p) for p in db.session.scalars(
                sa.select(StreamEvent.payload).where(StreamEvent.type == "contact.updated").order_by(StreamEvent.id))]

    assert send_sms(client, body="are you there").status_code == 200
    with app.app_context():
        after = db.session.execute(sa.select(Contact.__table__)).one()._asdict()
    # SQLite takes the ORM path, which stamps updated_at as every ORM update does.
    expected = {"last_seq"} if is_postgres(app) else {"last_seq", "updated_at"}
    assert {k for k in before if before[k] != after[k]} == expected
    assert len(contact_updates()) == 1  # the contact's creation only

    for body in ("I want to kill myself", "I want to kill myself"):
        assert send_sms(client, body=body).status_code == 200
    with app.app_context():
        flagged = db.session.execute(sa.select(Contact.__table__)).one()._asdict()
    assert flagged["risk_flag"] is True and flagged["priority"] == "urgent" and flagged["last_seq"] == after["last_seq"] + 2
    updates = contact_updates()
    assert len(updates) == 2 and updates[-1]["risk_flag"] is True and updates[-1]["priority"] == "urgent"


def test_pruning_keeps_a_day_and_the_newest_event(app, client, general):
    send_sms(client, body="hello")
    with app.app_context():
        live.number_committed()
        db.session.execute(sa.update(StreamEvent).values(created_at=utcnow() - timedelta(hours=72)))
        db.session.commit()
        newest = live.latest_seq()
        assert live.prune(timedelta(hours=48)) >= 1
        assert db.session.scalars(sa.select(StreamEvent.seq)).all() == [newest]


# --- the visitor's stream -----------------------------------------------------------

def start_chat(client, code="main"):
    response = client.post(f"/webchat/{code}/sessions", json={})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def visitor_stream(client, chat, **headers):
    return EventStream(client.get(f"/webchat/sessions/{chat['session_id']}/events",
                                  headers={"Authorization": f"Bearer {chat['token']}", **headers}, buffered=False))


def test_the_visitor_hears_status_and_counsellor_messages_live(app, client, general, counsellor):
    chat = start_chat(client)
    stream = visitor_stream(client, chat)
    [status] = stream.wait_for("status")
    assert status.data == {"status": "queued", "position": 1}
    first = stream.wait_for("message")
    assert first[0].id == 1 and first[0].data["from"] == "system" and first[0].data["seq"] == 1

    available(client, counsellor)
    with app.app_context():
        contact_id = db.session.scalar(sa.select(Contact.id))
    assert action(client, counsellor, contact_id, "accept").status_code == 200
    statuses = stream.wait_for("status", 2)
    assert statuses[-1].data == {"status": "active"}
    reply = client.post(f"/api/v1/contacts/{contact_id}/messages", json={"text": "Hi, I am here"},
                        headers=counsellor.headers)
    assert reply.status_code == 202
    messages = stream.wait_for("message", 2)
    assert messages[-1].data["from"] == "counsellor" and messages[-1].data["text"] == "Hi, I am here"
    assert messages[-1].id == messages[-1].data["seq"]
    assert set(messages[-1].data) == {"seq", "from", "text", "sent_at"}


def test_the_visitor_replays_after_last_event_id_and_is_told_to_stop_after_the_end(app, client, general):
    chat = start_chat(client)
    auth = {"Authorization": f"Bearer {chat['token']}"}
    for text in ("one", "two"):
        assert client.post(f"/webchat/sessions/{chat['session_id']}/messages", json={"text": text},
                           headers=auth).status_code == 201
    stream = visitor_stream(client, chat, **{"Last-Event-ID": "1"})
    messages = stream.wait_for("message", 2)
    assert [m.id for m in messages] == [2, 3] and [m.data["text"] for m in messages] == ["one", "two"]
    stream.close()

    assert client.post(f"/webchat/sessions/{chat['session_id']}/end", headers=auth).status_code == 200
    ending = visitor_stream(client, chat, **{"Last-Event-ID": "3"})
    ending.read_until(lambda s: s.ended, timeout=3)
    assert ending.ended and ending.events("status")[-1].data == {"status": "ended"}
    last = max(m.id for m in ending.events("message")) if ending.events("message") else 3
    gone = client.get(f"/webchat/sessions/{chat['session_id']}/events",
                      headers={**auth, "Last-Event-ID": str(last)})
    assert gone.status_code == 204


def test_a_waiting_visitor_hears_its_place_move_up_when_the_one_ahead_is_taken(app, client, general, counsellor):
    first, second = start_chat(client), start_chat(client)
    stream = visitor_stream(client, second)
    [status] = stream.wait_for("status")
    assert status.data == {"status": "queued", "position": 2}

    available(client, counsellor)
    with app.app_context():
        first_contact = db.session.scalar(sa.select(Contact.id).order_by(Contact.queued_at).limit(1))
    assert action(client, counsellor, first_contact, "accept").status_code == 200
    # The relay refreshes every watching visitor's place within a second of the queue moving.
    stream.read_until(lambda s: s.events("status")[-1].data.get("position") == 1, timeout=3)
    assert stream.events("status")[-1].data == {"status": "queued", "position": 1}


def test_a_session_token_opens_only_its_own_stream(app, client, general):
    mine, theirs = start_chat(client), start_chat(client)
    response = client.get(f"/webchat/sessions/{theirs['session_id']}/events",
                          headers={"Authorization": f"Bearer {mine['token']}"})
    assert_error(response, 404)
    assert_error(client.get(f"/webchat/sessions/{theirs['session_id']}/events"), 401)


# --- PostgreSQL: across processes, and numbering in commit order ---------------------

postgres_only = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                                   reason="LISTEN/NOTIFY and concurrent transactions need PostgreSQL")


def supervisor_listening(app, relay, supervisor):
    """The supervisor's subscription on `relay`, whose LISTEN thread has started and listens."""
    with app.app_context():
        relay.prime()
        db.session.remove()
    viewer = live.Viewer(id=supervisor.id, helpline_id=supervisor.helpline_id, role="supervisor",
                         token_id="t", token_expires_at=utcnow() + timedelta(hours=1))
    subscription = relay.subscribe(viewer)
    relay.start()
    time.sleep(0.3)  # listening
    return subscription


@postgres_only
def test_an_event_committed_by_another_process_reaches_a_stream_here_within_a_second(app, counsellor, supervisor):
    import subprocess
    import sys
    import time

    from app.live.relay import Relay

    relay = Relay(app)  # as in a web process: a LISTEN thread, no inline pumping
    app.config["EVENT_RELAY_THREAD"] = True
    try:
        subscription = supervisor_listening(app, relay, supervisor)
        script = (
            "from app import create_app; from app.extensions import db; import sqlalchemy as sa; "
            # As in production: the NOTIFY sent by the process's thread (or at its exit).
            f"app = create_app({{'APP_CONFIG': 'testing', 'DATABASE_URL': {app.config['DATABASE_URL']!r}, "
            "'EVENT_NOTIFY_THREAD': True}); "
            "ctx = app.app_context(); ctx.push(); "
            # Another process's keys: a plain UPDATE, no encrypted column read.
            f"db.session.execute(sa.text(\"UPDATE users SET availability = 'available' WHERE id = '{counsellor.id}'\")); "
            "db.session.commit()"
        )
        announced = listener(app)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        committed = time.monotonic()
        frames = []
        while not frames and time.monotonic() - committed < 5:
            frames = subscription.take(0.1)
        assert frames, "nothing arrived"
        assert time.monotonic() - committed < 1.0
        assert "event: user.availability" in frames[0][1] and counsellor.id in frames[0][1]
        assert heard(announced) >= 1  # by NOTIFY, not by the relay's one-second wake-up
        announced.close()
    finally:
        app.config["EVENT_RELAY_THREAD"] = False
        relay.stop()


@postgres_only
def test_in_a_busy_spell_commits_share_a_relays_pumps_and_every_event_arrives(app, counsellor, supervisor,
                                                                               monkeypatch):
    """EVENT_RELAY_GAP_MS: a pump costs several statements and a commit whatever it carries; under a
    webhook flood one pump per commit took a third of the stream server's CPU. After a quiet spell
    an event is still fetched at once."""
    from app.auth.models import User
    from app.live.relay import Relay

    relay = Relay(app)
    monkeypatch.setitem(app.config, "EVENT_RELAY_THREAD", True)  # the app is the session's: both restored
    monkeypatch.setitem(app.config, "EVENT_RELAY_GAP_MS", 300)
    started_pumps, pump = [], relay.pump

    def counted_pump():
        started_pumps.append(time.monotonic())
        return pump()

    relay.pump = counted_pump

    def set_availability(status: str) -> None:
        with app.app_context():
            routing.set_availability(db.session.get(User, counsellor.id), status)
            db.session.remove()

    def availability_frames(expected: int, within: float) -> list[str]:
        frames, deadline = [], time.monotonic() + within
        while len(frames) < expected and time.monotonic() < deadline:
            frames += [text for _, text in subscription.take(0.05) if "event: user.availability" in text]
        return frames

    try:
        subscription = supervisor_listening(app, relay, supervisor)
        time.sleep(0.2)  # past the gap of its first pump

        committed = time.monotonic()
        set_availability("available")
        assert len(availability_frames(1, 5.0)) == 1
        assert time.monotonic() - committed < 0.2  # a quiet spell: not held back by the gap

        time.sleep(0.5)
        busy_from = time.monotonic()
        for status in ("break", "available") * 6:  # 12 commits in 0.6 s
            set_availability(status)
            time.sleep(0.05)
        assert len(availability_frames(12, 5.0)) == 12
        during = [t for t in started_pumps if t >= busy_from]
        # About 0.6 s / 0.3 s of announced commits, and queue.status's own timed pumps; one per commit without.
        assert len(during) <= 6, len(during)
    finally:
        relay.stop()


def test_the_tables_that_wake_the_relays_are_the_tables_the_outbox_triggers_watch(app):
    """A table with an outbox trigger missing from EVENT_SOURCE_TABLES would commit events that no
    NOTIFY announces: they would reach streams only at the relays' one-second safety-net wake-up."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            query = ("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger "
                     "WHERE NOT tgisinternal AND tgname LIKE 'events\\_%'")
        else:
            query = "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'events%'"
        assert set(db.session.scalars(sa.text(query))) == set(EVENT_SOURCE_TABLES)


def listener(app):
    import psycopg

    url = sa.engine.make_url(app.config["DATABASE_URL"]).set(drivername="postgresql")
    connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return connection


def heard(connection, timeout: float = 0.3) -> int:
    return len(list(connection.notifies(timeout=timeout)))


@postgres_only
def test_a_change_is_announced_after_its_commit_not_inside_it(app, client, general, supervisor):
    """The outbox triggers do not NOTIFY: a NOTIFY in the writing transaction makes PostgreSQL commit
    every writer one at a time (its notify lock is held through the WAL flush). The app sends it
    after the commit, in a transaction of its own."""
    connection = listener(app)
    try:
        with app.app_context():
            notifying = db.session.scalar(sa.text(
                "SELECT count(*) FROM pg_proc WHERE proname LIKE 'events\\_%' AND prosrc LIKE '%pg_notify%'"))
            assert notifying == 0
        assert send_sms(client, body="hello").status_code == 200  # a new contact: the session's commit
        assert heard(connection) >= 1
        assert send_sms(client, body="again").status_code == 200  # joins it: one autocommitted statement
        assert heard(connection) >= 1
        assert client.get("/api/v1/queues/status", headers=supervisor.headers).status_code == 200
        assert client.get("/api/v1/contacts", headers=supervisor.headers).status_code == 200
        assert heard(connection) == 0  # reads announce nothing
    finally:
        connection.close()


@pytest.fixture
def notifier_heard(app):
    """A notifier thread that has sent its first NOTIFY, and a connection listening to it."""
    from app.core.commit_notify import CommitNotifier

    connection = listener(app)
    url = sa.engine.make_url(app.config["DATABASE_URL"]).set(drivername="postgresql")
    notifier = CommitNotifier(url.render_as_string(hide_password=False), NOTIFY_CHANNEL)
    notifier.poke()
    assert heard(connection, 2.0) == 1
    yield notifier, connection
    connection.close()


@postgres_only
def test_the_notify_thread_follows_every_poke_with_a_notify_and_shares_one_among_many(notifier_heard):
    notifier, connection = notifier_heard
    for _ in range(200):
        notifier.poke()
    count = heard(connection, 0.5)
    assert 1 <= count < 200
    notifier.poke()  # after a quiet spell: still one more
    assert heard(connection, 2.0) == 1


@postgres_only
def test_under_load_the_notify_thread_sends_at_most_one_notify_per_interval(app):
    """EVENT_NOTIFY_INTERVAL_MS: a burst's pokes share NOTIFYs; a poke after a quiet spell goes at once."""
    from app.core.commit_notify import CommitNotifier

    connection = listener(app)
    try:
        url = sa.engine.make_url(app.config["DATABASE_URL"]).set(drivername="postgresql")
        notifier = CommitNotifier(url.render_as_string(hide_password=False), NOTIFY_CHANNEL, min_interval=0.5)
        started = time.monotonic()
        while time.monotonic() - started < 1.0:  # 100 commits in a second
            notifier.poke()
            time.sleep(0.01)
        assert 2 <= heard(connection, 0.8) <= 4  # at 0, 0.5, 1.0 s (and the tail)
        time.sleep(0.6)
        notifier.poke()
        assert heard(connection, 0.3) == 1  # well within the interval: not held back after a quiet spell
    finally:
        connection.close()


@postgres_only
def test_a_forked_worker_notifies_from_a_thread_of_its_own(notifier_heard):
    """gunicorn forks its workers: the parent's notifier thread is not in the child."""
    notifier, connection = notifier_heard
    child = os.fork()
    if child == 0:  # the worker: poke, give its new thread time to send, leave without atexit
        try:
            notifier.poke()
            threading.Event().wait(1.0)
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert heard(connection, 1.0) == 1


@postgres_only
def test_a_row_committed_after_a_later_one_is_numbered_after_it(app, helpline, counsellor, supervisor):
    """Ids are taken at insert, numbers at commit: a reader that saw the later row's number still gets
    the earlier row, because it is numbered after."""
    with app.app_context():
        engine = db.engine
        slow = engine.connect()
        slow_tx = slow.begin()
        slow.execute(sa.text("UPDATE users SET availability = 'available' WHERE id = :id"), {"id": counsellor.id})
        with engine.begin() as fast:
            fast.execute(sa.text("UPDATE users SET availability = 'break' WHERE id = :id"), {"id": supervisor.id})
        live.number_committed()
        first = live.rows_after(0)
        assert [json.loads(json.dumps(r.payload))["user_id"] for r in first] == [supervisor.id]
        slow_tx.commit()
        slow.close()
        live.number_committed()
        later = live.rows_after(first[-1].seq)
        assert [r.payload["user_id"] for r in later] == [counsellor.id]
        with engine.connect() as check:
            ids = dict(check.execute(sa.text("SELECT seq, id FROM events ORDER BY seq")).all())
        # The earlier id got the later number.
        assert list(ids.values()) == sorted(ids.values(), reverse=True)


def test_a_stream_that_fails_to_open_gives_its_place_back(app, client, supervisor, monkeypatch):
    relay = app.extensions["event_relay"]

    def broken():
        raise RuntimeError("database gone")

    monkeypatch.setattr(relay, "prime", broken)
    before = relay.open_streams
    assert client.get("/api/v1/events", headers=supervisor.headers).status_code == 500
    assert relay.open_streams == before


def test_a_stream_too_slow_to_read_its_backlog_is_closed_rather_than_grown():
    """The relay wakes a stream once per batch with all its frames; past EVENT_STREAM_BACKLOG the
    stream is closed (its client reconnects with Last-Event-ID and loses nothing)."""
    from app.live.relay import Subscription

    subscription = Subscription(live.Viewer("u", "h", "counsellor", "t", utcnow()), limit=3)
    subscription.push([(1, "one"), (2, "two")])
    assert subscription.closed is None
    subscription.push([(3, "three"), (4, "four")])
    assert subscription.closed == "overflow"
    assert subscription.take(0) == [(1, "one"), (2, "two")]
