"""The Twilio webhooks' front (app/channels/front.py): a valid, signed messaging or status webhook is
answered without Flask's request cycle, exactly as its route answers it; everything else is the route's."""
import json
import re

import pytest
import responses
from werkzeug.middleware.proxy_fix import ProxyFix

from app.channels import front as front_module
from app.channels.front import MAX_BODY, TwilioWebhookFront
from app.core.time import utcnow
from tests.channel_helpers import contacts, messages, post_signed, sid, sms, twiml_messages, update_contact
from tests.conftest import ACCOUNT_SID
from tests.helpers import assert_error

PATH = "/webhooks/main/twilio/messaging"
STATUS_PATH = "/webhooks/main/twilio/status"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def routed(app, monkeypatch):
    """Counts the requests the front hands to the Flask app behind it."""
    front = app.wsgi_app
    assert isinstance(front, TwilioWebhookFront)
    inner, handed = front.wsgi_app, []

    def counting(environ, start_response):
        handed.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(front, "wsgi_app", counting)
    return handed


@pytest.fixture
def general_queue(app, helpline):
    from app.routing.service import create_queue

    with app.app_context():
        return create_queue(helpline, "General").id


def _conversation(client, sender: str) -> list:
    """A first message, a message joining its contact, a redelivery, and a delivery callback."""
    first = sms(body="I need help", sender=sender)
    answers = [post_signed(client, PATH, first), post_signed(client, PATH, sms(body="are you there", sender=sender)),
               post_signed(client, PATH, first)]
    status = {"MessageSid": sid(), "AccountSid": ACCOUNT_SID, "MessageStatus": "delivered"}
    return answers + [post_signed(client, STATUS_PATH, status)]


def _shape(response) -> tuple:
    headers = sorted((name, "<id>" if name == "X-Request-ID" else value) for name, value in response.headers.items())
    return response.status_code, response.get_data(as_text=True), headers


def test_the_front_answers_a_valid_webhook_exactly_as_its_route_does(app, client, helpline, general_queue, routed,
                                                                    monkeypatch):
    by_front = _conversation(client, "+447700900201")
    assert routed == []  # not one of them went through Flask
    assert all(REQUEST_ID.match(r.headers["X-Request-ID"]) for r in by_front)

    monkeypatch.setattr(app, "wsgi_app", app.wsgi_app.wsgi_app)  # the routes alone
    by_route = _conversation(client, "+447700900202")

    assert [_shape(r) for r in by_front] == [_shape(r) for r in by_route]
    assert len(twiml_messages(by_front[0])) == 1 and twiml_messages(by_front[1]) == []
    # Stored alike: a contact each, the same messages in the same order.
    front_contact, route_contact = contacts(app)
    assert (front_contact.status, front_contact.queue_id) == (route_contact.status, route_contact.queue_id)
    assert ([(m.seq, m.direction, m.sender, m.body) for m in messages(app, front_contact.id)]
            == [(m.seq, m.direction, m.sender, m.body) for m in messages(app, route_contact.id)])


@responses.activate
def test_the_front_answers_conversations_events_as_their_route_does(app, client, helpline, routed, monkeypatch):
    from tests.test_conversations import CONVERSATION_MESSAGES, event

    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "e" * 32}, status=201)
    path = "/webhooks/main/twilio/conversations"

    def chat(author: str) -> list:
        first = event(body="hello", author=author)
        return [post_signed(client, path, first), post_signed(client, path, event(body="again", author=author)),
                post_signed(client, path, first), post_signed(client, path, event(author="helpline", body="echo")),
                post_signed(client, path, event(event_type="onConversationAdded", author=author))]

    by_front = chat("visitor-1")
    assert routed == []
    front_contact = contacts(app)[0]
    monkeypatch.setattr(app, "wsgi_app", app.wsgi_app.wsgi_app)
    update_contact(app, front_contact.id, ended_at=utcnow())  # one conversation sid: let the route open its own
    by_route = chat("visitor-1")
    assert [_shape(r) for r in by_front] == [_shape(r) for r in by_route]
    assert by_front[0].mimetype == "text/html" and by_front[0].get_data() == b""
    route_contact = [c for c in contacts(app) if c.id != front_contact.id][0]
    assert ([(m.seq, m.direction, m.sender, m.body) for m in messages(app, front_contact.id)]
            == [(m.seq, m.direction, m.sender, m.body) for m in messages(app, route_contact.id)])


def _large(params: dict) -> dict:
    return {**params, "Padding": "x" * MAX_BODY}


@pytest.mark.parametrize("send, status, code", [
    (lambda c: post_signed(c, "/webhooks/nowhere/twilio/messaging", sms()), 404, "not_found"),
    (lambda c: post_signed(c, "/webhooks/ma%01in/twilio/messaging", sms()), 404, "not_found"),
    (lambda c: post_signed(c, PATH, sms(), signature="forged"), 403, "bad_signature"),
    (lambda c: post_signed(c, PATH, sms(AccountSid="AC" + "f" * 32)), 403, "wrong_account"),
    (lambda c: post_signed(c, PATH, sms(NumMedia="many")), 422, "validation_error"),
    (lambda c: post_signed(c, PATH, {k: v for k, v in sms().items() if k != "From"}), 422, "validation_error"),
    (lambda c: c.post(PATH, json=sms(), headers={"X-Twilio-Signature": "x"}), 415, "unsupported_media_type"),
    (lambda c: post_signed(c, PATH + "?source=primary", sms()), 200, None),
    (lambda c: post_signed(c, PATH, _large(sms())), 200, None),
], ids=["unknown helpline", "control character", "bad signature", "another account", "wrong type", "missing field",
        "json", "query string", "over MAX_BODY"])
def test_what_the_front_cannot_answer_as_the_route_would_goes_to_the_route(app, client, helpline, routed, send,
                                                                           status, code):
    response = send(client)
    assert len(routed) == 1
    if code:
        assert_error(response, status, code)
        assert messages(app) == []
    else:
        assert response.status_code == status
        assert [m.direction for m in messages(app)][:1] == ["inbound"]


def test_a_body_over_max_content_length_is_the_routes_413(app, client, helpline, routed, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    assert_error(post_signed(client, PATH, {**sms(), "Padding": "x" * 2048}), 413)
    assert routed == [PATH] and messages(app) == []


def test_other_routes_and_methods_go_straight_to_flask(app, client, helpline, routed):
    assert client.get(PATH).status_code == 405
    assert client.get("/healthz").status_code == 200
    assert routed == [PATH, "/healthz"]


def test_the_front_logs_the_routes_request_line_and_takes_the_callers_request_id(app, client, helpline, routed,
                                                                               log_output):
    response = post_signed(client, PATH, sms(body="my secret", sender="+447700900333"),
                           headers={"X-Request-ID": "twilio-trace-1"})
    assert twiml_messages(response) is not None and routed == []
    assert response.headers["X-Request-ID"] == "twilio-trace-1"
    [line] = [json.loads(text) for text in log_output.getvalue().splitlines() if '"request"' in text]
    assert {k: line[k] for k in ("method", "path", "status", "request_id", "user_id")} == {
        "method": "POST", "path": PATH, "status": 200, "request_id": "twilio-trace-1", "user_id": None}
    assert line["duration_ms"] >= 0
    assert "my secret" not in log_output.getvalue() and "900333" not in log_output.getvalue()


def test_behind_a_proxy_the_signature_is_checked_over_the_forwarded_url(app, client, helpline, routed, monkeypatch):
    """PUBLIC_BASE_URL unset: the URL Twilio signed is the one the proxy was asked for (ProxyFix, outside the front)."""
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", None)
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_proto=1, x_host=1))
    from twilio.request_validator import RequestValidator

    from tests.conftest import AUTH_TOKEN

    params = sms()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"https://public.example{PATH}", params)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example"}
    response = post_signed(client, PATH, params, signature=signature, headers=forwarded)
    assert response.status_code == 200 and routed == []
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Signed for another host: the route refuses it, as it always has.
    elsewhere = {**forwarded, "X-Forwarded-Host": "a.example"}
    response = post_signed(client, PATH, sms(), signature=signature, headers=elsewhere)
    assert_error(response, 403, "bad_signature")
    assert routed == [PATH]


def test_a_failure_after_the_message_is_stored_is_the_contracts_500_and_is_not_retried(app, client, helpline, routed,
                                                                                       monkeypatch, log_output):
    def broken(replies):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(front_module, "twiml", broken)
    response = post_signed(client, PATH, sms(body="stored first"))
    assert_error(response, 500, "internal_error")
    assert REQUEST_ID.match(response.headers["X-Request-ID"])
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["stored first"]
    assert routed == []  # Flask's error handling ran in the front's context, not the route again
    assert '"error_type": "RuntimeError"' in log_output.getvalue()


def test_a_failure_before_anything_is_stored_is_retried_by_flask_after_a_dropped_connection(app, client, helpline,
                                                                                         routed, monkeypatch):
    """The route's retry (HelplineFlask) holds for the front: a dead pooled connection met before any commit
    is retried once, through the route."""
    import sqlalchemy as sa

    from app.channels import spool

    real, failures = spool.accept_webhook, []

    def dropped_once(kind, helpline_config, fields):
        if not failures:
            failures.append(kind)
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"),
                                          connection_invalidated=True)
        return real(kind, helpline_config, fields)

    monkeypatch.setattr(spool, "accept_webhook", dropped_once)
    response = post_signed(client, PATH, sms(body="after a restart"))
    assert response.status_code == 200 and failures == ["messaging"] and routed == []
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["after a restart"]
