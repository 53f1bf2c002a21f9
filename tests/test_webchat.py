"""Our own web chat: sessions, messages, polling, ending, rate limits, CORS."""
import pytest

from app.helplines.settings import DEFAULT_SETTINGS
from tests.channel_helpers import contacts, messages, set_settings
from tests.helpers import assert_error


def start(client, code="main", **body):
    return client.post(f"/webchat/{code}/sessions", json=body)


def auth(session):
    return {"Authorization": f"Bearer {session['token']}"}


def say(client, session, text, **extra):
    return client.post(f"/webchat/sessions/{session['session_id']}/messages", json={"text": text, **extra},
                       headers=auth(session))


def test_a_session_opens_a_queued_web_contact(app, client, helpline):
    response = start(client, language="en")
    assert response.status_code == 201
    session = response.get_json()
    assert session["status"] == "queued" and session["message"] == DEFAULT_SETTINGS["messages"]["queued"]
    assert session["token"].startswith("wct_")
    [contact] = contacts(app)
    assert (contact.channel, contact.status, contact.language) == ("web", "queued", "en")


def test_messages_are_stored_once_per_client_message_id_and_polled_by_seq(app, client, helpline):
    session = start(client).get_json()
    first = say(client, session, "hello", client_message_id="c1")
    assert first.status_code == 201
    again = say(client, session, "hello", client_message_id="c1")
    assert again.status_code == 201 and again.get_json()["seq"] == first.get_json()["seq"]
    say(client, session, "are you there?")
    poll = client.get(f"/webchat/sessions/{session['session_id']}/messages", headers=auth(session)).get_json()
    assert poll["status"] == "queued"
    assert [(m["from"], m["text"]) for m in poll["items"]] == [
        ("system", DEFAULT_SETTINGS["messages"]["queued"]), ("visitor", "hello"), ("visitor", "are you there?")]
    after = poll["items"][1]["seq"]
    later = client.get(f"/webchat/sessions/{session['session_id']}/messages?after={after}", headers=auth(session)).get_json()
    assert [m["text"] for m in later["items"]] == ["are you there?"]
    assert len(contacts(app)) == 1


def test_pre_survey_answers_from_the_widget_prefill_the_form(app, client, helpline):
    set_settings(app, helpline, pre_survey={"enabled": True, "questions": []})
    session = start(client, pre_survey={"about_self": False, "age": 12, "gender": "boy"}).get_json()
    assert session["status"] == "queued"
    contact = contacts(app)[0]
    assert contact.form == {"call_type": "caller_about_child", "child": {"age": 12, "gender": "boy"}}


def test_without_widget_answers_the_bot_asks_in_the_chat(app, client, helpline):
    set_settings(app, helpline, pre_survey={"enabled": True, "questions": []})
    session = start(client).get_json()
    assert session["status"] == "bot" and "about yourself" in session["message"]
    say(client, session, "yes")
    say(client, session, "15")
    say(client, session, "girl")
    assert contacts(app)[0].pre_survey == {"about_self": True, "age": 15, "gender": "girl"}


def test_out_of_hours_sessions_are_closed_with_the_message(app, client, helpline):
    set_settings(app, helpline, operating_hours={"default": {}})
    session = start(client).get_json()
    assert session["status"] == "closed" and session["message"] == DEFAULT_SETTINGS["messages"]["closed"]
    assert contacts(app)[0].status == "out_of_hours"
    assert_error(say(client, session, "hello?"), 409, "session_ended")


def test_a_session_token_sees_only_its_own_session(app, client, helpline):
    mine, theirs = start(client).get_json(), start(client).get_json()
    say(client, theirs, "private")
    path = f"/webchat/sessions/{theirs['session_id']}/messages"
    assert_error(client.get(path, headers=auth(mine)), 404, "not_found")
    assert_error(client.post(path, json={"text": "x"}, headers=auth(mine)), 404)
    assert_error(client.get(path), 401, "missing_token")
    assert_error(client.get(path, headers={"Authorization": "Bearer wct_forged"}), 401, "invalid_token")


def test_ending_a_waiting_session_abandons_the_contact_with_a_notice(app, client, helpline):
    session = start(client).get_json()
    response = client.post(f"/webchat/sessions/{session['session_id']}/end", headers=auth(session))
    assert response.status_code == 200 and response.get_json() == {"status": "ended"}
    contact = contacts(app)[0]
    assert contact.status == "abandoned" and contact.ended_at is not None
    assert messages(app)[-1].body == DEFAULT_SETTINGS["messages"]["abandoned"]
    assert_error(say(client, session, "wait"), 409, "session_ended")
    poll = client.get(f"/webchat/sessions/{session['session_id']}/messages", headers=auth(session)).get_json()
    assert poll["status"] == "ended"


@pytest.mark.parametrize(
    "body, field",
    [({"language": 5}, "language"), ({"pre_survey": {"age": 40}}, "pre_survey"), ({"pre_survey": {"gender": "x"}}, "pre_survey"),
     ({"unknown": 1}, "unknown")],
)
def test_bad_session_requests_are_422_and_create_nothing(app, client, helpline, body, field):
    assert field in assert_error(start(client, **body), 422)["details"]
    assert contacts(app) == []


def test_bad_messages_are_refused(app, client, helpline):
    session = start(client).get_json()
    assert "text" in assert_error(say(client, session, ""), 422)["details"]
    assert "text" in assert_error(say(client, session, "x" * 20_001), 422)["details"]
    form = client.post(f"/webchat/sessions/{session['session_id']}/messages", data="text=hi", headers=auth(session),
                       content_type="application/x-www-form-urlencoded")
    assert_error(form, 415)
    assert_error(start(client, code="nowhere"), 404)


def test_session_creation_is_rate_limited_per_address(app, client, helpline):
    app.config["WEBCHAT_SESSION_RATE_LIMIT"] = "3 per minute"
    try:
        for _ in range(3):
            assert start(client).status_code == 201
        assert_error(start(client), 429, "rate_limited")
        assert client.post("/webchat/main/sessions", json={}, environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 201
    finally:
        app.config["WEBCHAT_SESSION_RATE_LIMIT"] = "20 per minute"


def test_messages_are_rate_limited_per_address(app, client, helpline):
    session = start(client).get_json()
    app.config["WEBCHAT_MESSAGE_RATE_LIMIT"] = "2 per minute"
    try:
        assert say(client, session, "1").status_code == 201
        assert say(client, session, "2").status_code == 201
        assert_error(say(client, session, "3"), 429)
    finally:
        app.config["WEBCHAT_MESSAGE_RATE_LIMIT"] = "120 per minute"


def test_cors_only_for_the_helplines_origins(app, client, helpline):
    set_settings(app, helpline, webchat_origins=["https://helpline.example"])
    allowed = client.post("/webchat/main/sessions", json={}, headers={"Origin": "https://helpline.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://helpline.example"
    other = client.post("/webchat/main/sessions", json={}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    session = allowed.get_json()
    preflight = client.options(f"/webchat/sessions/{session['session_id']}/messages",
                               headers={"Origin": "https://helpline.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://helpline.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
