"""Counsellor replies through the contact's channel, delivery failures, retries with back-off."""
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
import sqlalchemy as sa

from app.channels import outbound
from app.contacts.models import Message
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import HELPLINE_NUMBER, contacts, messages, send_sms, update_contact
from tests.conftest import ACCOUNT_SID
from tests.helpers import assert_error

TWILIO_MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def active_contact(app, client, helpline, counsellor):
    """An SMS contact that `counsellor` is working."""
    send_sms(client, body="help", sender="+447700900123")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id, assigned_at=utcnow())
    return contact.id


def reply(client, actor, contact_id, text="We are here for you."):
    return client.post(f"/api/v1/contacts/{contact_id}/messages", json={"text": text}, headers=actor.headers)


@responses.activate
def test_reply_goes_out_through_twilio_messaging_with_a_status_callback(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    response = reply(client, counsellor, active_contact)
    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["sender"], body["text"]) == ("sent", "counsellor", "We are here for you.")
    sent = parse_qs(responses.calls[0].request.body)
    assert sent["To"] == ["+447700900123"] and sent["From"] == [HELPLINE_NUMBER]
    assert sent["Body"] == ["We are here for you."]
    assert sent["StatusCallback"] == ["https://helpline.test/webhooks/main/twilio/status"]
    stored = messages(app, active_contact)[-1]
    assert stored.provider_sid == "SM" + "a" * 32 and stored.author_id == counsellor.id
    assert contacts(app)[0].first_response_at is not None


@responses.activate
def test_whatsapp_replies_use_whatsapp_addresses(app, client, helpline, counsellor):
    send_sms(client, sender="whatsapp:+447700900124", To="whatsapp:+14155238886")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id)
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "b" * 32}, status=201)
    assert reply(client, counsellor, contact.id).status_code == 202
    sent = parse_qs(responses.calls[0].request.body)
    assert sent["To"] == ["whatsapp:+447700900124"] and sent["From"] == ["whatsapp:+14155238886"]


@responses.activate
@pytest.mark.parametrize("status, retried", [(500, True), (503, True), (429, True), (400, False)])
def test_failed_sends_are_kept_with_their_error(app, client, counsellor, active_contact, status, retried):
    responses.post(TWILIO_MESSAGES, json={"code": 20003 if status == 400 else None, "message": "nope +447700900123",
                                          "status": status}, status=status)
    body = reply(client, counsellor, active_contact).get_json()
    assert body["status"] == "failed" and body["attempts"] == 1
    assert (body["next_attempt_at"] is not None) is retried
    stored = messages(app, active_contact)[-1]
    assert stored.status == "failed" and stored.body == "We are here for you."
    assert "447700900123" not in (stored.error_message or "")  # Twilio's text can quote the number


@responses.activate
def test_network_errors_are_retried(app, client, counsellor, active_contact):
    import requests

    responses.post(TWILIO_MESSAGES, body=requests.ConnectionError("down"))
    body = reply(client, counsellor, active_contact).get_json()
    assert body["status"] == "failed" and body["error_code"] == "network_error" and body["next_attempt_at"]


def _make_due(app, contact_id):
    with app.app_context():
        db.session.execute(sa.update(Message).where(Message.contact_id == contact_id, Message.status == "failed")
                           .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


@responses.activate
def test_the_retry_job_sends_with_back_off_and_stops_after_five_retries(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, json={"message": "busy"}, status=503)
    first = reply(client, counsellor, active_contact).get_json()
    gaps = []
    with app.app_context():
        for _ in range(outbound.MAX_RETRIES):
            _make_due(app, active_contact)
            before = utcnow()
            assert outbound.retry_due_messages() == 1
            db.session.expire_all()
            message = db.session.get(Message, int(first["id"]))
            if message.next_attempt_at:
                gaps.append(round((message.next_attempt_at - before).total_seconds()))
        assert message.attempts == 1 + outbound.MAX_RETRIES
        assert message.status == "failed" and message.next_attempt_at is None
        assert outbound.retry_due_messages() == 0  # given up: kept, visible, not resent
    assert gaps == [60, 120, 240, 480]
    assert len(responses.calls) == 1 + outbound.MAX_RETRIES


@responses.activate
def test_a_retry_that_succeeds_marks_the_message_sent(app, client, counsellor, active_contact):
    responses.post(TWILIO_MESSAGES, status=500, json={})
    first = reply(client, counsellor, active_contact).get_json()
    responses.replace(responses.POST, TWILIO_MESSAGES, json={"sid": "SM" + "c" * 32}, status=201)
    _make_due(app, active_contact)
    with app.app_context():
        assert outbound.retry_due_messages() == 1
        message = db.session.get(Message, int(first["id"]))
        assert (message.status, message.provider_sid, message.error_code) == ("sent", "SM" + "c" * 32, None)


@responses.activate
def test_a_send_interrupted_before_the_provider_answered_is_picked_up(app, client, counsellor, active_contact):
    # A pending message whose grace has passed: the process that stored it died before sending.
    with app.app_context():
        db.session.add(Message(helpline_id=contacts(app)[0].helpline_id, contact_id=active_contact, direction="outbound",
                               sender="counsellor", body="lost?", status="pending", attempts=0, created_at=utcnow(),
                               next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "f" * 32}, status=201)
        assert outbound.retry_due_messages() == 1
    assert messages(app, active_contact)[-1].status == "sent"


@responses.activate
def test_twilio_api_base_url_redirects_every_rest_call(app, client, counsellor, active_contact):
    app.config["TWILIO_API_BASE_URL"] = "http://twilio-double.test/prefix"
    try:
        responses.post(f"http://twilio-double.test/prefix/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                       json={"sid": "SM" + "9" * 32}, status=201)
        assert reply(client, counsellor, active_contact).get_json()["status"] == "sent"
    finally:
        app.config["TWILIO_API_BASE_URL"] = None


def test_replies_need_an_active_contact_of_ones_own(app, client, make_user, helpline, counsellor, supervisor, manager,
                                                     active_contact):
    other = make_user(helpline, "counsellor")
    assert_error(reply(client, other, active_contact), 404)  # not theirs: not visible
    assert_error(reply(client, manager, active_contact), 403)
    update_contact(app, active_contact, status="wrapup", ended_at=utcnow())
    assert_error(reply(client, counsellor, active_contact), 409, "contact_not_active")
    assert_error(reply(client, supervisor, active_contact), 409)


def test_reply_bodies_are_validated(client, counsellor, active_contact):
    assert "text" in assert_error(reply(client, counsellor, active_contact, text=""), 422)["details"]
    response = client.post(f"/api/v1/contacts/{active_contact}/messages", json={"text": 5}, headers=counsellor.headers)
    assert "text" in assert_error(response, 422)["details"]


def test_another_helplines_contact_is_404(client, make_helpline, make_user, active_contact):
    stranger = make_user(make_helpline(), "supervisor")
    assert_error(client.get(f"/api/v1/contacts/{active_contact}", headers=stranger.headers), 404)


def test_contact_and_transcript_for_the_counsellor(client, counsellor, active_contact):
    contact = client.get(f"/api/v1/contacts/{active_contact}", headers=counsellor.headers).get_json()
    assert contact["address"] == "+44*******123" and contact["status"] == "active"
    transcript = client.get(f"/api/v1/contacts/{active_contact}/messages", headers=counsellor.headers).get_json()
    assert [(m["sender"], m["text"]) for m in transcript["items"]][0] == ("visitor", "help")
