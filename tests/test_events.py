"""Domain events: emitted in the transaction, published after the commit, dropped on rollback, one failing
handler isolated; and the events the state changes emit."""
from dataclasses import dataclass

import pytest

from app.auth.events import CounsellorChanged
from app.contacts.events import ContactQueued, RepliesQueued
from app.core import events
from app.extensions import db
from tests.channel_helpers import contacts, send_sms


@dataclass(frozen=True)
class SomethingHappened(events.Event):
    n: int


@pytest.fixture
def received():
    seen = []

    def record(event):
        seen.append(event)

    def fail(event):
        raise RuntimeError("handler bug")

    events.connect({SomethingHappened: [fail, record]})
    yield seen


def test_events_are_published_after_the_commit_and_dropped_on_rollback(ctx, received):
    events.emit(SomethingHappened(1))
    assert received == []  # not before the commit
    db.session.rollback()
    events.commit()
    assert received == []  # the rolled-back transaction's event is gone
    events.emit(SomethingHappened(2))
    events.commit()
    # The failing handler was logged and rolled back; the other still ran.
    assert received == [SomethingHappened(2)]


class Capture:
    def __init__(self, *types):
        self.types, self.seen = types, []

    def __enter__(self):
        self.receivers = []
        for event_type in self.types:
            def receiver(sender, event):
                self.seen.append(event)
            events.signal_for(event_type).connect(receiver)
            self.receivers.append((event_type, receiver))
        return self

    def __exit__(self, *exc):
        for event_type, receiver in self.receivers:
            events.signal_for(event_type).disconnect(receiver)


def test_a_new_queued_contact_emits_contact_queued_and_its_notice_replies_queued(app, client, helpline):
    with Capture(ContactQueued) as queued:
        send_sms(client, body="hello")
    contact = contacts(app)[0]
    assert queued.seen == [ContactQueued(helpline, contact.id)]


def test_a_reply_emits_replies_queued(app, client, helpline, counsellor):
    import responses

    from tests.channel_helpers import update_contact

    send_sms(client, body="hello")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, Capture(RepliesQueued) as replies:
        mock.post(f"https://api.twilio.com/2010-04-01/Accounts/{'AC' + '0123456789abcdef' * 2}/Messages.json",
                  json={"sid": "SM" + "e" * 32}, status=201)
        body = client.post(f"/api/v1/contacts/{contact.id}/messages", json={"text": "hi"},
                           headers=counsellor.headers).get_json()
    assert replies.seen == [RepliesQueued((int(body["id"]),))]


def test_new_capacity_emits_counsellor_changed(client, helpline, supervisor, counsellor):
    with Capture(CounsellorChanged) as changed:
        client.patch(f"/api/v1/users/{counsellor.id}", json={"capacity": {"sms": 2}}, headers=supervisor.headers)
        client.patch(f"/api/v1/users/{counsellor.id}", json={"name": "Ana"}, headers=supervisor.headers)  # 403
    assert changed.seen == [CounsellorChanged(helpline, counsellor.id)]
