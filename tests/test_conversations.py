"""Twilio Conversations chat: onMessageAdded, echoes ignored, replies through the Conversations API."""
from urllib.parse import parse_qs

import responses

from app.helplines.settings import DEFAULT_SETTINGS
from app.core.time import utcnow
from tests.channel_helpers import contacts, messages, post_signed, sid, update_contact
from tests.conftest import ACCOUNT_SID
from tests.helpers import assert_error

PATH = "/webhooks/main/twilio/conversations"
CONVERSATION = "CH" + "1" * 32
CONVERSATION_MESSAGES = f"https://conversations.twilio.com/v1/Conversations/{CONVERSATION}/Messages"


def event(body="hello", author="visitor-42", event_type="onMessageAdded", message_sid=None, **extra):
    return {"EventType": event_type, "AccountSid": ACCOUNT_SID, "ConversationSid": CONVERSATION,
            "MessageSid": message_sid or sid("IM"), "Author": author, "Body": body, "Source": "SDK", **extra}


@responses.activate
def test_a_childs_message_opens_a_chat_contact_and_the_reply_goes_by_rest(app, client, helpline):
    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "a" * 32}, status=201)
    response = post_signed(client, PATH, event())
    assert response.status_code == 200
    [contact] = contacts(app)
    assert (contact.channel, contact.status, contact.conversation_sid) == ("chat", "queued", CONVERSATION)
    sent = parse_qs(responses.calls[0].request.body)
    assert sent["Body"] == [DEFAULT_SETTINGS["messages"]["queued"]] and sent["Author"] == ["helpline"]
    inbound, auto = messages(app)
    assert inbound.body == "hello" and (auto.status, auto.provider_sid) == ("sent", "IM" + "a" * 32)


@responses.activate
def test_our_own_echoes_and_other_events_are_ignored(app, client, helpline):
    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "b" * 32}, status=201)
    post_signed(client, PATH, event())
    # The echo of our automatic reply: by author, and by its sid.
    assert post_signed(client, PATH, event(author="helpline", body="echo")).status_code == 200
    assert post_signed(client, PATH, event(author="visitor-42", message_sid="IM" + "b" * 32, body="echo")).status_code == 200
    assert post_signed(client, PATH, event(event_type="onConversationAdded")).status_code == 200
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["hello"]


@responses.activate
def test_duplicates_store_one_message(app, client, helpline):
    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "c" * 32}, status=201)
    params = event(body="once")
    post_signed(client, PATH, params)
    post_signed(client, PATH, params)
    assert len([m for m in messages(app) if m.direction == "inbound"]) == 1


@responses.activate
def test_whatsapp_through_conversations(app, client, helpline):
    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "d" * 32}, status=201)
    post_signed(client, PATH, event(author="whatsapp:+447700900321", Source="WHATSAPP"))
    [contact] = contacts(app)
    assert contact.channel == "whatsapp" and contact.address == "+447700900321"


@responses.activate
def test_counsellor_replies_go_to_the_conversation(app, client, helpline, counsellor):
    # Registered twice: responses answers them in order (the automatic reply, then ours).
    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "e" * 32}, status=201)
    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "f" * 32}, status=201)
    post_signed(client, PATH, event())
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id, assigned_at=utcnow())
    response = client.post(f"/api/v1/contacts/{contact.id}/messages", json={"text": "Hi, I'm Sam."}, headers=counsellor.headers)
    assert response.status_code == 202 and response.get_json()["status"] == "sent"
    assert parse_qs(responses.calls[-1].request.body)["Body"] == ["Hi, I'm Sam."]


def test_missing_message_fields_are_422_and_forgeries_403(app, client, helpline):
    params = event()
    del params["Author"]
    assert "Author" in assert_error(post_signed(client, PATH, params), 422)["details"]
    assert_error(client.post(PATH, data=event(), headers={"X-Twilio-Signature": "forged"}), 403)
    assert messages(app) == []
