"""Reliability review, outbound delivery: off the request path, one send per claim with two schedulers,
timed-out sends looked up before resending, the demo's sandbox, first response counted when accepted
(review items 12, 13, 14, 22)."""
import threading
import time
from datetime import timedelta

import pytest
import requests
import responses
import sqlalchemy as sa

from app import create_app
from app.channels import outbound
from app.contacts.models import Contact, Message
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, messages, send_sms
from tests.conftest import ACCOUNT_SID, is_postgres
from tests.test_outbound import TWILIO_MESSAGES, active_contact, reply  # noqa: F401 - fixture

LIST_URL = TWILIO_MESSAGES


def _stored(app, message_id):
    with app.app_context():
        message = db.session.get(Message, int(message_id))
        db.session.expunge_all()
        return message


def _twilio_page(*items):
    return {"messages": list(items), "uri": "/x", "page": 0, "page_size": 50, "first_page_uri": "/x",
            "next_page_uri": None, "previous_page_uri": None}


def _twilio_message(sid, body, to="+447700900123", created=None):
    created = created or utcnow()
    return {"sid": sid, "body": body, "to": to, "from": "+447700900001", "status": "queued", "account_sid": ACCOUNT_SID,
            "date_created": created.strftime("%a, %d %b %Y %H:%M:%S +0000")}


@responses.activate
def test_a_read_time_out_is_looked_up_at_twilio_and_never_sent_twice(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, body=requests.ReadTimeout("answer lost"))
    first = reply(client, counsellor, active_contact, text="We are here.").get_json()
    stored = _stored(app, first["id"])
    assert (stored.status, stored.error_code, stored.next_attempt_at is not None) == ("failed", "timeout", True)
    # Twilio did accept it: the retry finds it and adopts its sid instead of sending again.
    responses.get(LIST_URL, json=_twilio_page(_twilio_message("SM" + "d" * 32, "We are here.")))
    with app.app_context():
        db.session.execute(sa.update(Message).where(Message.id == int(first["id"]))
                           .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert outbound.retry_due_messages() == 1
    stored = _stored(app, first["id"])
    assert (stored.status, stored.provider_sid) == ("sent", "SM" + "d" * 32)
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]


@responses.activate
def test_a_timed_out_send_not_found_at_twilio_is_sent_again(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, body=requests.ReadTimeout("answer lost"))
    first = reply(client, counsellor, active_contact, text="We are here.").get_json()
    old = utcnow() - timedelta(hours=2)
    responses.get(LIST_URL, json=_twilio_page(_twilio_message("SM" + "1" * 32, "We are here.", created=old),
                                              _twilio_message("SM" + "2" * 32, "something else")))
    responses.replace(responses.POST, TWILIO_MESSAGES, json={"sid": "SM" + "e" * 32}, status=201)
    with app.app_context():
        db.session.execute(sa.update(Message).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        outbound.retry_due_messages()
    assert _stored(app, first["id"]).provider_sid == "SM" + "e" * 32
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST"]


@responses.activate
def test_a_message_with_a_provider_sid_is_never_sent_or_overwritten_again(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "a" * 32}, status=201)
    first = reply(client, counsellor, active_contact).get_json()
    with app.app_context():
        # As if a second scheduler had a stale view of it: failed and due, but the sid is recorded.
        db.session.execute(sa.update(Message).where(Message.id == int(first["id"]))
                           .values(status="failed", next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert outbound.retry_due_messages() == 0
        assert outbound.deliver(int(first["id"])) is False
    assert len(responses.calls) == 1 and _stored(app, first["id"]).provider_sid == "SM" + "a" * 32


def test_two_schedulers_with_a_slow_twilio_send_each_message_once(app, client, counsellor, active_contact, monkeypatch):
    """Sends slower than the lease is long: a batch-wide lease ran out mid-batch and another scheduler sent
    the rest again. Each message is now claimed just before its own send."""
    monkeypatch.setattr(outbound, "LEASE", timedelta(milliseconds=500), raising=False)
    monkeypatch.setattr(outbound, "PENDING_GRACE", timedelta(milliseconds=500), raising=False)
    if not is_postgres(app):
        pytest.skip("concurrent schedulers need PostgreSQL's row locks; SQLite serialises writers")
    with app.app_context():
        contact = db.session.get(Contact, active_contact)
        for i in range(30):
            db.session.add(Message(helpline_id=contact.helpline_id, contact_id=contact.id, direction="outbound",
                                   sender="counsellor", body=f"reply {i}", status="failed", attempts=1,
                                   created_at=utcnow(), next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    sent, lock = [], threading.Lock()

    def slow_twilio(request):
        time.sleep(0.04)
        with lock:
            sent.append(request.body)
            sid = "SMfa%030x" % len(sent)  # unlike the inbound sids tests make
        return 201, {}, '{"sid": "%s"}' % sid

    def scheduler():
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            with app.app_context():
                outbound.retry_due_messages(batch=50)
                db.session.remove()
            time.sleep(0.03)

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, TWILIO_MESSAGES, callback=slow_twilio)
        threads = [threading.Thread(target=scheduler) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(sent) == 30 and len(set(sent)) == 30
    stored = [m for m in messages(app, active_contact) if m.sender == "counsellor"]
    assert [(m.status, m.attempts) for m in stored] == [("sent", 2)] * 30
    assert len({m.provider_sid for m in stored}) == 30


@pytest.fixture
def async_app(app):
    """The app as production runs it: a sender pool of two threads."""
    threaded = create_app({"APP_CONFIG": "testing", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                           "OUTBOUND_SENDER_THREADS": 2})
    yield threaded
    threaded.extensions["outbound_sender"].pool.shutdown(wait=True)


def test_replies_answer_at_once_and_webhooks_keep_flowing_while_twilio_hangs(app, async_app, counsellor,
                                                                             active_contact):
    release, sids = threading.Event(), iter(range(1, 100))
    client = async_app.test_client()

    def hanging_twilio(request):
        release.wait(timeout=30)
        return 201, {}, '{"sid": "SMfb%030x"}' % next(sids)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TWILIO_MESSAGES, callback=hanging_twilio)
        answers = [reply(client, counsellor, active_contact, text=f"reply {i}") for i in range(8)]
        # Every reply answered while Twilio has not answered a single send.
        assert [a.status_code for a in answers] == [202] * 8
        assert {a.get_json()["status"] for a in answers} == {"pending"}
        assert not release.is_set()
        intake = send_sms(client, body="another child", sender="+447700900444")
        assert intake.status_code == 200
        release.set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            outgoing = [m for m in messages(app, active_contact) if m.sender == "counsellor"]
            if all(m.status == "sent" for m in outgoing) and len(outgoing) == 8:
                break
            time.sleep(0.05)
    assert all(m.status == "sent" for m in outgoing) and len(outgoing) == 8
    assert any(c.channel == "sms" and c.address == "+447700900444" for c in contacts(app))


def test_the_demo_sandbox_records_replies_as_delivered_and_sends_nothing(app, client):
    with app.app_context():
        from app.helplines.demo import seed_demo

        seeded = seed_demo("violet kettle marathon 42", timedelta(hours=1))
    counsellor_token = next(u["token"] for u in seeded["users"] if u["role"] == "counsellor")
    send_sms(client, helpline_code="demo", body="hi")  # unsigned for the demo's token: refused, as it should be
    with app.app_context():
        from app.helplines.models import Helpline

        demo = db.session.scalar(sa.select(Helpline).where(Helpline.code == "demo"))
        contact = Contact(helpline_id=demo.id, channel="sms", status="active", priority="normal", risk_flag=False,
                          thread_key="demo:1", form={}, address="+447700900123", helpline_address="+447700900001",
                          counsellor_id=next(u["id"] for u in seeded["users"] if u["role"] == "counsellor"),
                          created_at=utcnow(), updated_at=utcnow())
        db.session.add(contact)
        db.session.commit()
        contact_id = contact.id
    with responses.RequestsMock():  # any HTTP call would fail the test
        response = client.post(f"/api/v1/contacts/{contact_id}/messages", json={"text": "hello"},
                               headers={"Authorization": f"Bearer {counsellor_token}"})
    assert response.status_code == 202
    [sent] = [m for m in messages(app, contact_id) if m.direction == "outbound"]
    assert sent.status == "delivered" and sent.provider_sid.startswith("SB")
    with app.app_context():
        assert db.session.get(Contact, contact_id).first_response_at is not None


def test_the_sandbox_is_refused_in_production(app, ctx, active_contact):
    from app.helplines.models import Helpline

    db.session.execute(sa.update(Helpline).values(outbound_sandbox=True))
    contact = db.session.get(Contact, active_contact)
    message = Message(helpline_id=contact.helpline_id, contact_id=contact.id, direction="outbound", sender="counsellor",
                      body="x", status="pending", attempts=0, created_at=utcnow())
    db.session.add(message)
    db.session.commit()
    app.config["ENV_NAME"] = "production"
    try:
        outbound.deliver(message.id)
    finally:
        app.config["ENV_NAME"] = "testing"
    stored = db.session.get(Message, message.id, populate_existing=True)
    assert (stored.status, stored.error_code, stored.next_attempt_at) == ("failed", "sandbox_refused", None)


@responses.activate
def test_first_response_counts_only_a_reply_accepted_for_delivery(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, json={"code": 21211, "message": "bad number"}, status=400)
    reply(client, counsellor, active_contact)
    assert contacts(app)[0].first_response_at is None
    responses.replace(responses.POST, TWILIO_MESSAGES, json={"sid": "SM" + "c" * 32}, status=201)
    reply(client, counsellor, active_contact)
    assert contacts(app)[0].first_response_at is not None
