"""Abandonment of contacts left waiting, and webhooks racing each other (PostgreSQL)."""
import threading
from datetime import timedelta

import pytest
import responses

from app.contacts.service import abandon_stale_contacts
from app.core.time import utcnow
from app.helplines.settings import DEFAULT_SETTINGS
from tests.channel_helpers import contacts, messages, post_signed, send_sms, set_settings, sid, sms, update_contact
from tests.conftest import ACCOUNT_SID, is_postgres

TWILIO_MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
ABANDONED = DEFAULT_SETTINGS["messages"]["abandoned"]


@responses.activate
def test_contacts_queued_past_the_timeout_are_abandoned_with_a_notice(app, client, helpline):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "a" * 32}, status=201)
    set_settings(app, helpline, queue_timeout_min=30)
    send_sms(client, sender="+447700900111")
    send_sms(client, sender="+447700900222")
    old, recent = contacts(app)
    update_contact(app, old.id, queued_at=utcnow() - timedelta(minutes=31))
    with app.app_context():
        assert abandon_stale_contacts() == 1
        assert abandon_stale_contacts() == 0  # idempotent
    old_now, recent_now = contacts(app)
    assert (old_now.status, recent_now.status) == ("abandoned", "queued")
    assert old_now.ended_at is not None
    notice = messages(app, old.id)[-1]
    assert (notice.body, notice.status, notice.sender) == (ABANDONED, "sent", "system")
    assert len(responses.calls) == 1


def test_web_contacts_and_silent_bots_are_abandoned_too(app, client, helpline):
    set_settings(app, helpline, pre_survey={"enabled": True, "questions": []})
    client.post("/webchat/main/sessions", json={})
    [contact] = contacts(app)
    assert contact.status == "bot"
    update_contact(app, contact.id, created_at=utcnow() - timedelta(minutes=61))
    with app.app_context():
        assert abandon_stale_contacts() == 1
    assert contacts(app)[0].status == "abandoned"
    assert messages(app, contact.id)[-1].body == ABANDONED


def _race(app, count, make_request):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def worker(i):
        client = app.test_client()
        barrier.wait()
        try:
            results.append(make_request(client, i).status_code)
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results



def test_the_same_message_delivered_twenty_times_at_once_is_stored_once(app, helpline):
    if not is_postgres(app):
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    params = sms(body="once, in parallel")
    statuses = _race(app, 20, lambda client, i: post_signed(client, "/webhooks/main/twilio/messaging", params))
    assert statuses == [200] * 20
    assert len(contacts(app)) == 1
    assert len([m for m in messages(app) if m.direction == "inbound"]) == 1


def test_first_messages_racing_from_one_new_number_open_one_contact(app, helpline):
    if not is_postgres(app):
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")
    statuses = _race(app, 20, lambda client, i: post_signed(
        client, "/webhooks/main/twilio/messaging", sms(body=f"message {i}", message_sid=sid())))
    assert statuses == [200] * 20
    [contact] = contacts(app)
    assert len([m for m in messages(app, contact.id) if m.direction == "inbound"]) == 20
