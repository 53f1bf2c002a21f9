"""Review against the anchors: a risk flag decided with its message, one implementation of ending a
conversation, web chat served in commit order (review items 24, 26, 27)."""
import threading
import time

import pytest
import sqlalchemy as sa

from app.auth.models import User
from app.channels import service as channel_service
from app.contacts.models import Contact, Message
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, messages, post_signed, sms, update_contact
from tests.conftest import is_postgres


def test_a_crash_after_storing_a_risky_message_still_leaves_the_contact_flagged(app, client, helpline, monkeypatch):
    if not is_postgres(app):
        pytest.skip("the one-statement ingest path is PostgreSQL's")
    first = sms(body="hello", sender="+447700900321")
    assert post_signed(client, "/webhooks/main/twilio/messaging", first).status_code == 200
    real = channel_service._join_live_contact_postgres

    def store_then_crash(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the process died here")

    monkeypatch.setattr(channel_service, "_join_live_contact_postgres", store_then_crash)
    risky = sms(body="I want to die", sender="+447700900321")
    assert post_signed(client, "/webhooks/main/twilio/messaging", risky).status_code == 500
    monkeypatch.setattr(channel_service, "_join_live_contact_postgres", real)
    # Twilio redelivers: a duplicate now, but the flag went in with the message.
    assert post_signed(client, "/webhooks/main/twilio/messaging", risky).status_code == 200
    [contact] = contacts(app)
    assert (contact.risk_flag, contact.priority) == (True, "urgent")
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["hello", "I want to die"]


def test_a_child_leaving_frees_the_counsellor_as_ending_does(app, client, helpline, counsellor):
    session = client.post("/webchat/main/sessions", json={}).get_json()
    contact = contacts(app)[0]
    started = utcnow()
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == counsellor.id).values(idle_since=started))
        db.session.commit()
    update_contact(app, contact.id, status="queued")
    with app.app_context():
        from app.routing.models import Offer

        db.session.add(Offer(helpline_id=helpline, contact_id=contact.id, counsellor_id=counsellor.id, channel="web",
                             status="pending", created_at=utcnow(), expires_at=utcnow()))
        db.session.commit()
    update_contact(app, contact.id, status="offered")
    with app.app_context():
        db.session.execute(sa.update(Offer).values(expires_at=utcnow().replace(year=2099)))
        db.session.commit()
    assert client.post(f"/api/v1/contacts/{contact.id}/accept", headers=counsellor.headers).status_code == 200
    time.sleep(0.01)
    headers = {"Authorization": f"Bearer {session['token']}"}
    assert client.post(f"/webchat/sessions/{session['session_id']}/end", headers=headers).status_code == 200
    with app.app_context():
        user = db.session.get(User, counsellor.id)
        stored = db.session.get(Contact, contact.id)
        from app.routing.models import Assignment

        assignment = db.session.scalar(sa.select(Assignment).where(Assignment.contact_id == contact.id))
    assert stored.status == "wrapup" and stored.ended_at is not None
    assert assignment.ended_at is not None and assignment.end_reason == "left"
    # The counsellor is longest-idle from the moment the child left, exactly as when they end it themselves.
    assert user.idle_since >= stored.ended_at


def test_contact_statuses_live_in_one_enum():
    from app.contacts.models import STATUSES, ContactStatus

    assert STATUSES == tuple(ContactStatus)
    assert set(STATUSES) == {"bot", "queued", "offered", "active", "wrapup", "completed", "abandoned", "blocked",
                             "out_of_hours"}


def test_seq_numbers_each_conversation_from_one(app, client, helpline):
    session = client.post("/webchat/main/sessions", json={}).get_json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    for text in ("one", "two"):
        client.post(f"/webchat/sessions/{session['session_id']}/messages", json={"text": text}, headers=headers)
    items = client.get(f"/webchat/sessions/{session['session_id']}/messages", headers=headers).get_json()["items"]
    assert [item["seq"] for item in items] == [1, 2, 3]  # the queued notice, then the two messages


def test_polling_cannot_skip_a_message_committed_late(app, client, helpline, counsellor):
    """A counsellor's reply takes its place first but commits after a visitor's message: the visitor's
    message waits for it, so a poll never sees the later one alone."""
    if not is_postgres(app):
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    session = client.post("/webchat/main/sessions", json={}).get_json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    poll_url = f"/webchat/sessions/{session['session_id']}/messages"
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id)
    seen = [item["seq"] for item in client.get(poll_url, headers=headers).get_json()["items"]]

    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    transaction = connection.begin()
    # The reply's transaction takes its seq, then is slow to commit.
    seq = connection.execute(sa.text("UPDATE contacts SET last_seq = last_seq + 1 WHERE id = :id RETURNING last_seq"),
                             {"id": contact.id}).scalar_one()
    connection.execute(sa.insert(Message.__table__).values(
        helpline_id=helpline, contact_id=contact.id, direction="outbound", sender="counsellor", body=None,
        status="sent", attempts=0, created_at=utcnow(), seq=seq))

    posted = {}

    def visitor_writes():
        posted["response"] = app.test_client().post(f"/webchat/sessions/{session['session_id']}/messages",
                                                    json={"text": "are you there?"}, headers=headers)

    writer = threading.Thread(target=visitor_writes)
    writer.start()
    writer.join(timeout=1.0)
    # While the reply is uncommitted, a poll shows nothing new: the visitor's message queued behind it.
    during = [i["seq"] for i in client.get(poll_url, query_string={"after": seen[-1]}, headers=headers)
              .get_json()["items"]]
    transaction.commit()
    connection.close()
    writer.join(timeout=10)
    assert posted["response"].status_code == 201
    after = [i["seq"] for i in client.get(poll_url, query_string={"after": seen[-1] + len(during)}, headers=headers)
             .get_json()["items"]]
    everything = [i["seq"] for i in client.get(poll_url, headers=headers).get_json()["items"]]
    assert during == [] and seen + during + after == everything
