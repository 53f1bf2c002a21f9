"""Security review, input: control characters refused at the boundary on every route, lengths checked
against their columns, language tags from the registry (review items 10, 17 and part of 2)."""
import pytest

from tests.channel_helpers import contacts, messages, post_signed, sms
from tests.helpers import assert_error

NUL = "\u0000"


@pytest.mark.parametrize("path", [
    "/api/v1/contacts/%00", "/api/v1/users/%00", "/api/v1/cases/%00", "/api/v1/queues/%00",
    "/api/v1/profiles/%00", "/api/v1/contacts/a%01b/messages",
])
def test_control_characters_in_a_path_are_404(client, admin, supervisor, path):
    for actor in (admin, supervisor):
        assert_error(client.get(path, headers=actor.headers), 404)


def test_a_nul_in_a_webhook_path_is_404(client, helpline):
    response = post_signed(client, "/webhooks/%00/twilio/messaging", sms())
    assert_error(response, 404)


@pytest.mark.parametrize("path, query", [
    ("/api/v1/contacts", {"queue_id": NUL}),
    ("/api/v1/contacts", {"q": "abc" + NUL}),
    ("/api/v1/audit", {"record_id": NUL}),
    ("/api/v1/cases", {"status": "\u0007"}),
    ("/api/v1/users", {"cursor": NUL}),
])
def test_control_characters_in_a_query_are_422(client, supervisor, path, query):
    error = assert_error(client.get(path, query_string=query, headers=supervisor.headers), 422, "validation_error")
    assert list(query)[0] in error["details"]


def test_login_with_a_nul_is_422_not_500(client, counsellor):
    error = assert_error(client.post("/api/v1/auth/login", json={"email": NUL, "password": "x"}), 422)
    assert "email" in error["details"]


@pytest.mark.parametrize("actor_name, method, path, body, field", [
    ("admin", "post", "/api/v1/queues", {"name": "Q" + NUL}, "name"),
    ("admin", "post", "/api/v1/users", {"email": "a@example.org", "role": "counsellor", "name": NUL}, "name"),
    ("admin", "patch", "/api/v1/helpline", {"settings": {"risk_phrases": ["ok", "bad" + NUL]}}, "settings.risk_phrases.1"),
    ("admin", "patch", "/api/v1/helpline", {"name": "\u001b[31m"}, "name"),
    ("manager", "post", "/api/v1/stats/schedules", {"name": NUL, "report": "contacts", "params": {"by": "month"},
                                                    "cron": "0 6 1 * *"}, "name"),
    ("supervisor", "post", "/api/v1/cases", {"contacts": [NUL]}, "contacts.0"),
    ("supervisor", "post", "/api/v1/cases", {"summary": "ok", NUL: 1}, "body"),
])
def test_control_characters_in_a_json_body_are_422_and_store_nothing(client, request, actor_name, method, path, body,
                                                                     field):
    actor = request.getfixturevalue(actor_name)
    before = client.get("/api/v1/helpline", headers=request.getfixturevalue("admin").headers).get_json()
    error = assert_error(getattr(client, method)(path, json=body, headers=actor.headers), 422, "validation_error")
    assert field in error["details"]
    after = client.get("/api/v1/helpline", headers=request.getfixturevalue("admin").headers).get_json()
    assert before == after


def test_tabs_and_line_breaks_in_text_are_kept(client, app, helpline):
    from tests.channel_helpers import set_settings

    set_settings(app, helpline, default_language="en")
    created = client.post("/webchat/main/sessions", json={}).get_json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    response = client.post(f"/webchat/sessions/{created['session_id']}/messages", json={"text": "a\tb\r\nc"},
                           headers=headers)
    assert response.status_code == 201 and response.get_json()["text"] == "a\tb\r\nc"


def test_a_childs_sms_with_control_characters_is_stored_without_them(app, client, helpline):
    response = post_signed(client, "/webhooks/main/twilio/messaging", sms(body="help" + NUL + "\u0007 me\nplease"))
    assert response.status_code == 200
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["help me\nplease"]


def test_a_long_webchat_language_is_422_not_500(client, helpline):
    error = assert_error(client.post("/webchat/main/sessions", json={"language": "en-" + "-".join(["abcdefgh"] * 8)}),
                         422)
    assert "language" in error["details"]


@pytest.mark.parametrize("language", ["=1+1", "xx", "english", "@SUM(A1)", "e", "-en"])
def test_unknown_language_tags_are_refused_everywhere(client, app, helpline, admin, language):
    assert_error(client.post("/webchat/main/sessions", json={"language": language}), 422)
    assert_error(client.patch("/api/v1/helpline", json={"settings": {"default_language": language}},
                              headers=admin.headers), 422)
    assert_error(client.post("/api/v1/queues", json={"name": "Q", "languages": [language]}, headers=admin.headers), 422)
    assert contacts(app) == []


def test_language_tags_are_stored_in_canonical_form(client, app, helpline):
    assert client.post("/webchat/main/sessions", json={"language": "sw-ke"}).status_code == 201
    assert contacts(app)[0].language == "sw-KE"


def test_the_helpline_number_is_checked_against_its_column(client, helpline):
    # contacts.helpline_address is 64 wide: a longer `To` was a database error (500) on PostgreSQL.
    assert_error(post_signed(client, "/webhooks/main/twilio/messaging", sms(To="+" + "1" * 100)), 422)
