"""Twilio Messaging (SMS, WhatsApp): signatures, store-first, idempotency, contacts and automatic replies."""
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.time import utcnow
from app.extensions import db
from app.helplines.settings import DEFAULT_SETTINGS
from tests.channel_helpers import (
    HELPLINE_NUMBER, contacts, messages, post_signed, send_sms, set_settings, sid, sign, sms, twiml_messages,
)
from tests.conftest import ACCOUNT_SID, is_postgres
from tests.helpers import assert_error, statements_sent

PATH = "/webhooks/main/twilio/messaging"
QUEUED = DEFAULT_SETTINGS["messages"]["queued"]


@pytest.fixture
def general_queue(app, helpline):
    from app.routing.service import create_queue

    with app.app_context():
        return create_queue(helpline, "General").id


def test_first_message_opens_a_queued_contact_and_is_stored(app, client, helpline, general_queue):
    response = send_sms(client, body="I need help")
    assert twiml_messages(response) == [QUEUED]
    [contact] = contacts(app)
    assert (contact.channel, contact.status, contact.queue_id) == ("sms", "queued", general_queue)
    assert contact.address == "+447700900123" and contact.helpline_address == HELPLINE_NUMBER
    assert contact.queued_at is not None and contact.ended_at is None and contact.profile_id
    inbound, reply = messages(app)
    assert (inbound.direction, inbound.sender, inbound.body, inbound.status) == ("inbound", "visitor", "I need help", "received")
    # The automatic reply is in the transcript too.
    assert (reply.direction, reply.sender, reply.body, reply.status) == ("outbound", "system", QUEUED, "sent")


def test_a_new_contact_numbers_its_first_message_and_replies_in_order(app, client, helpline, general_queue):
    # A new contact's row goes in with its last seq already counted (no update per message): the
    # numbering must be the one take_message_seq would give, and carry on from there.
    set_settings(app, helpline, queue_position_notice=True)
    send_sms(client, body="first")
    send_sms(client, body="second")
    [contact] = contacts(app)
    stored = messages(app)
    assert [(m.seq, m.direction, m.sender) for m in stored] == [
        (1, "inbound", "visitor"), (2, "outbound", "system"), (3, "outbound", "system"), (4, "inbound", "visitor")]
    assert [m.body for m in stored if m.direction == "inbound"] == ["first", "second"]
    assert contact.last_seq == 4


def test_a_new_contacts_message_and_replies_go_in_with_one_insert(app, client, helpline, general_queue):
    """One round trip for a new thread's messages, however many automatic replies it gets."""
    set_settings(app, helpline, queue_position_notice=True)
    with statements_sent(app) as sent:
        send_sms(client, body="first")
    # On PostgreSQL the contact goes in with them, in the same statement (the INSERTs are its CTEs); the
    # statement before it, which looked for a live contact to join, found none and stored nothing.
    stores = [s for s in sent if "INSERT INTO MESSAGES" in s.upper() and "WITH LIVE AS" not in s.upper()]
    assert len(stores) == 1
    assert [(m.seq, m.sender, m.status) for m in messages(app)] == [
        (1, "visitor", "received"), (2, "system", "sent"), (3, "system", "sent")]


def test_a_new_thread_is_opened_in_four_autocommitted_statements(app, client, helpline, general_queue):
    """PostgreSQL: look for a live contact, the profile, then the contact with its messages, then routing's
    "anyone available" probe, each committed by itself; no transaction of the session's (a BEGIN and a
    COMMIT, each a round trip of its own)."""
    if not is_postgres(app):
        pytest.skip("the autocommitted statements are PostgreSQL's fast path; SQLite takes one transaction")
    with app.app_context():
        engine = db.engine
    begun = []

    def began(connection):
        begun.append(connection)

    send_sms(client, body="someone else", sender="+447700900999")  # the helpline's settings and queues, cached
    sa.event.listen(engine, "begin", began)
    try:
        with statements_sent(app) as sent:
            response = send_sms(client, body="first")
    finally:
        sa.event.remove(engine, "begin", began)
    assert twiml_messages(response) == [QUEUED]
    # (The live-event NOTIFYs go on a connection of their own, in production from a thread of their own.)
    sent = [statement for statement in sent if not statement.startswith("NOTIFY")]
    assert [_what(statement) for statement in sent] == ["join", "profile", "open", "anyone available"]
    assert begun == []
    contact = contacts(app)[1]
    assert (contact.status, contact.queue_id, contact.last_seq) == ("queued", general_queue, 2)
    assert [(m.seq, m.sender, m.body) for m in messages(app, contact.id)] == [
        (1, "visitor", "first"), (2, "system", QUEUED)]


def test_a_first_message_that_lost_the_race_to_open_its_thread_joins_the_winner(app, client, helpline, monkeypatch):
    """PostgreSQL: the loser's one statement (contact and messages) fails whole on the "one live contact per
    thread" index, stores nothing, and the retry joins the contact the winner opened."""
    if not is_postgres(app):
        pytest.skip("the autocommitted open is PostgreSQL's fast path")
    from app.channels import service

    send_sms(client, body="the winner's first")
    # The loser looked for a live contact just before the winner committed it.
    monkeypatch.setattr(service, "_join_live_contact_postgres", lambda *args, **kwargs: None)
    response = send_sms(client, body="the loser's first")
    assert response.status_code == 200 and twiml_messages(response) == []
    [contact] = contacts(app)
    assert [(m.seq, m.sender, m.body) for m in messages(app, contact.id)] == [
        (1, "visitor", "the winner's first"), (2, "system", QUEUED), (3, "visitor", "the loser's first")]


def _what(statement: str) -> str:
    text = " ".join(statement.split()).upper()
    if text.startswith("WITH LIVE AS"):
        return "join"
    if "INSERT INTO PROFILES" in text:
        return "profile"
    if "INSERT INTO CONTACTS" in text and "INSERT INTO MESSAGES" in text:
        return "open"
    if "FROM USERS" in text:
        return "anyone available"
    return text[:60]


def test_later_messages_join_the_live_contact_without_replies(app, client, helpline):
    send_sms(client, body="one")
    assert twiml_messages(send_sms(client, body="two", sender="+44 7700 900123")) == []  # same number, other spelling
    assert len(contacts(app)) == 1
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["one", "two"]


def test_an_ended_contact_is_not_joined(app, client, helpline):
    from tests.channel_helpers import update_contact

    send_sms(client, body="one")
    update_contact(app, contacts(app)[0].id, status="wrapup", ended_at=utcnow())
    send_sms(client, body="again")
    first, second = contacts(app)
    assert second.status == "queued" and second.profile_id == first.profile_id


def test_whatsapp_is_its_own_conversation_on_the_same_profile(app, client, helpline):
    send_sms(client, body="by sms")
    send_sms(client, body="by whatsapp", sender="whatsapp:+447700900123")
    sms_contact, wa_contact = contacts(app)
    assert (sms_contact.channel, wa_contact.channel) == ("sms", "whatsapp")
    assert wa_contact.address == "+447700900123"
    assert sms_contact.profile_id == wa_contact.profile_id


def test_the_same_message_sid_twice_stores_one_message(app, client, helpline):
    params = sms(body="only once")
    assert twiml_messages(post_signed(client, PATH, params)) == [QUEUED]
    assert twiml_messages(post_signed(client, PATH, params)) == []
    assert len(contacts(app)) == 1
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["only once"]


def test_a_duplicate_of_a_closed_contacts_message_opens_nothing(app, client, helpline):
    set_settings(app, helpline, operating_hours={"default": {}})  # closed all week
    params = sms(body="at night")
    post_signed(client, PATH, params)
    post_signed(client, PATH, params)
    assert len(contacts(app)) == 1 and len([m for m in messages(app) if m.direction == "inbound"]) == 1


@pytest.mark.parametrize("signature", ["", "forged", None])
def test_missing_or_forged_signatures_are_403_and_store_nothing(app, client, helpline, signature):
    params = sms()
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = client.post(PATH, data=params, headers=headers)
    assert_error(response, 403, "bad_signature")
    assert contacts(app) == [] and messages(app) == []


def test_a_signature_made_with_another_token_is_403(app, client, helpline):
    assert_error(post_signed(client, PATH, sms(), token="someone-elses-token"), 403, "bad_signature")
    assert messages(app) == []


def test_a_tampered_body_or_query_is_403(app, client, helpline):
    params = sms(body="original")
    signature = sign(PATH, params)
    tampered = dict(params, Body="changed")
    assert_error(client.post(PATH, data=tampered, headers={"X-Twilio-Signature": signature}), 403)
    assert_error(client.post(PATH + "?x=1", data=params, headers={"X-Twilio-Signature": signature}), 403)
    assert messages(app) == []


def test_a_signature_over_the_url_with_its_port_is_accepted(app, client, helpline):
    """Twilio has signed with and without the port; our one-HMAC check falls back to the SDK's two."""
    from twilio.request_validator import RequestValidator

    from tests.channel_helpers import BASE_URL
    from tests.conftest import AUTH_TOKEN

    params = sms()
    with_port = RequestValidator(AUTH_TOKEN).compute_signature(BASE_URL + ":443" + PATH, params)
    response = client.post(PATH, data=params, headers={"X-Twilio-Signature": with_port})
    assert response.status_code == 200 and len(messages(app)) == 2


def test_a_field_twilio_sends_twice_is_signed_with_both_values(app, client, helpline, monkeypatch):
    """The SDK signs every value of a repeated field; the one-HMAC check reads the form the same way
    (the SDK's full check, its fallback, is switched off here so that it cannot hide a mismatch)."""
    from twilio.request_validator import RequestValidator
    from werkzeug.datastructures import MultiDict

    monkeypatch.setattr(RequestValidator, "validate", lambda *args, **kwargs: False)

    form = MultiDict(list(sms(body="both").items()) + [("MediaUrl0", "https://a.example/1"),
                                                       ("MediaUrl0", "https://a.example/2")])
    signature = sign(PATH, form)
    assert client.post(PATH, data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    one_value = MultiDict([(k, v) for k, v in form.items(multi=True) if v != "https://a.example/2"])
    assert_error(client.post(PATH, data=one_value, headers={"X-Twilio-Signature": signature}), 403, "bad_signature")
    assert len([m for m in messages(app) if m.direction == "inbound"]) == 1


def test_an_unknown_signature_algorithm_is_403(app, client, helpline):
    params = sms()
    headers = {"X-Twilio-Webhooks-Signature-Settings": "key=k1,algorithm=HMAC_MD5"}
    assert_error(post_signed(client, PATH, params, headers=headers), 403, "bad_signature")
    assert messages(app) == []


def test_query_strings_are_part_of_the_signed_url(app, client, helpline):
    response = post_signed(client, PATH + "?source=primary", sms())
    assert response.status_code == 200 and len(messages(app)) == 2


def test_another_accounts_request_is_403_even_when_signed(app, client, helpline):
    params = sms(AccountSid="AC" + "f" * 32)
    assert_error(post_signed(client, PATH, params), 403, "wrong_account")
    assert messages(app) == []


def test_unknown_helpline_is_404(app, client, helpline):
    assert_error(post_signed(client, "/webhooks/nowhere/twilio/messaging", sms()), 404, "not_found")


def test_a_helpline_without_twilio_credentials_refuses_webhooks(app, client, make_helpline):
    make_helpline("bare")
    assert_error(post_signed(client, "/webhooks/bare/twilio/messaging", sms()), 403, "not_configured")


@pytest.mark.parametrize(
    "change, field",
    [({"MessageSid": None}, "MessageSid"), ({"MessageSid": "not-a-sid"}, "MessageSid"), ({"From": None}, "From"),
     ({"NumMedia": "many"}, "NumMedia"), ({"Body": "x" * 20_001}, "Body")],
)
def test_malformed_webhooks_are_422_and_store_nothing(app, client, helpline, change, field):
    params = {k: v for k, v in {**sms(), **change}.items() if v is not None}
    error = assert_error(post_signed(client, PATH, params), 422, "validation_error")
    assert field in error["details"]
    assert messages(app) == []


def test_json_and_oversized_bodies_are_refused(app, client, helpline):
    params = sms()
    response = client.post(PATH, data=json.dumps(params), content_type="application/json",
                           headers={"X-Twilio-Signature": "x"})
    assert_error(response, 415, "unsupported_media_type")
    huge = sms(body="x" * (1024 * 1024 + 1))
    assert_error(post_signed(client, PATH, huge), 413, "payload_too_large")
    assert messages(app) == []


def test_body_and_phone_number_are_encrypted_at_rest(app, client, helpline):
    send_sms(client, body="my secret worry", sender="+447700900999")
    with app.app_context():
        dump = []
        for table in ("contacts", "messages", "profiles"):
            for row in db.session.execute(sa.text(f"SELECT * FROM {table}")):
                dump.append(" ".join(str(v) for v in row))
    dumped = "\n".join(dump)
    assert "secret worry" not in dumped
    assert "7700900999" not in dumped


def test_out_of_hours_contacts_are_recorded_and_told(app, client, helpline):
    set_settings(app, helpline, operating_hours={"default": {}}, messages={"closed": "We open at 8."})
    assert twiml_messages(send_sms(client)) == ["We open at 8."]
    [contact] = contacts(app)
    assert contact.status == "out_of_hours" and contact.ended_at is not None and contact.queued_at is None


def test_holidays_close_the_day_in_the_helplines_timezone(app, client, helpline):
    today = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Europe/London")).date().isoformat()
    set_settings(app, helpline, holidays={today: "Closed today"})
    assert twiml_messages(send_sms(client)) == [DEFAULT_SETTINGS["messages"]["holiday"]]
    assert contacts(app)[0].status == "out_of_hours"


def test_channel_specific_hours_override_the_default(app, client, helpline):
    all_week = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    set_settings(app, helpline, operating_hours={"default": all_week, "whatsapp": {}})
    send_sms(client)
    send_sms(client, sender="whatsapp:+447700900123")
    assert [c.status for c in contacts(app)] == ["queued", "out_of_hours"]


def test_blocked_profiles_get_the_blocked_message_and_never_queue(app, client, helpline):
    from app.profiles.service import set_flag

    send_sms(client)
    [first] = contacts(app)
    from tests.channel_helpers import update_contact

    update_contact(app, first.id, status="wrapup", ended_at=utcnow())
    with app.app_context():
        set_flag(first.profile_id, "blocked")
    assert twiml_messages(send_sms(client, body="again")) == [DEFAULT_SETTINGS["messages"]["blocked"]]
    blocked = contacts(app)[1]
    assert blocked.status == "blocked" and blocked.queue_id is None and blocked.ended_at is not None


def test_an_expired_block_stops_applying_at_once(app, client, helpline):
    from app.profiles.service import ensure_profile, set_flag

    with app.app_context():
        profile_id = ensure_profile(helpline, "phone:+447700900123", "sms")
        db.session.commit()
        set_flag(profile_id, "blocked", until=utcnow() - timedelta(seconds=1))
    send_sms(client)
    assert contacts(app)[0].status == "queued"


def test_status_callbacks_update_outbound_messages_and_never_go_backwards(app, client, helpline):
    from app.contacts.models import Message

    send_sms(client)
    [contact] = contacts(app)
    with app.app_context():
        db.session.add(Message(helpline_id=helpline, contact_id=contact.id, direction="outbound", sender="counsellor",
                               body="hi", provider_sid="SM" + "e" * 32, status="sent", attempts=1, created_at=utcnow()))
        db.session.commit()
    path = "/webhooks/main/twilio/status"
    callback = {"MessageSid": "SM" + "e" * 32, "AccountSid": ACCOUNT_SID, "MessageStatus": "delivered"}
    assert post_signed(client, path, callback).status_code == 200
    assert post_signed(client, path, dict(callback, MessageStatus="sent")).status_code == 200
    assert messages(app)[-1].status == "delivered"
    assert post_signed(client, path, dict(callback, MessageStatus="read")).status_code == 200
    assert messages(app)[-1].status == "read"
    # An unknown sid is accepted and changes nothing; a forged callback is refused.
    assert post_signed(client, path, dict(callback, MessageSid=sid())).status_code == 200
    assert_error(client.post(path, data=callback, headers={"X-Twilio-Signature": "forged"}), 403)


def test_undelivered_callbacks_record_the_error(app, client, helpline):
    from app.contacts.models import Message

    send_sms(client)
    with app.app_context():
        db.session.add(Message(helpline_id=helpline, contact_id=contacts(app)[0].id, direction="outbound",
                               sender="counsellor", body="hi", provider_sid="SM" + "d" * 32, status="sent", attempts=1,
                               created_at=utcnow()))
        db.session.commit()
    callback = {"MessageSid": "SM" + "d" * 32, "AccountSid": ACCOUNT_SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    post_signed(client, "/webhooks/main/twilio/status", callback)
    last = messages(app)[-1]
    assert (last.status, last.error_code) == ("undelivered", "30003")


def test_webhook_logs_carry_no_body_or_number(app, client, helpline, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    send_sms(client, body="a very private sentence", sender="+447700900555")
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "private sentence" not in text and "7700900555" not in text
