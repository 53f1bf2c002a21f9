"""The post-contact survey: asked after a counsellor ends the conversation, on its channel."""
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
import sqlalchemy as sa

from app.channels import postsurvey
from app.channels.service import close_timed_out_post_surveys
from app.contacts.models import Contact
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, messages, send_sms, set_settings, twiml_messages, update_contact
from tests.conftest import ACCOUNT_SID
from tests.helpers import assert_error

TWILIO_MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
QUESTIONS = [
    {"id": "helpful", "type": "scale", "prompt": {"en": "How helpful, 1-5?", "sw": "Ilisaidia kiasi gani, 1-5?"}},
    {"id": "again", "type": "yes_no", "prompt": "Would you write again?"},
    {"id": "comment", "type": "free", "prompt": "Anything to tell us?"},
]
SURVEY = {"enabled": True, "questions": QUESTIONS, "thanks": "Thank you!"}


@pytest.mark.parametrize("question_type, text, value", [
    ("scale", "4", 4), ("scale", "4/5", 4), ("scale", "I'd say 4 out of 5", 4), ("scale", "five", 5),
    ("scale", "5 stars!", 5), ("scale", "skip", None), ("yes_no", "yes!", True), ("yes_no", "Yeah", True),
    ("yes_no", "nope", False), ("yes_no", "not really", False), ("yes_no", "pass", None),
    ("free", "You were kind", "You were kind"), ("free", "skip", None),
])
def test_free_form_answers(question_type, text, value):
    assert postsurvey.parse_answer({"type": question_type}, text) == value


@pytest.mark.parametrize("question_type, text", [("scale", "10/10"), ("scale", "banana"), ("scale", "0"),
                                                 ("yes_no", "maybe"), ("free", "  ")])
def test_answers_not_understood(question_type, text):
    assert postsurvey.is_not_answered(postsurvey.parse_answer({"type": question_type}, text))


def _active_sms(app, client, counsellor, sender="+447700900123"):
    send_sms(client, body="help", sender=sender)
    contact = [c for c in contacts(app) if c.status == "queued"][-1]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id, assigned_at=utcnow())
    return contact.id


def _end(client, actor, contact_id):
    response = client.post(f"/api/v1/contacts/{contact_id}/end", headers=actor.headers)
    assert response.status_code == 200, response.get_json()
    return response


def _sent_bodies():
    return [parse_qs(call.request.body)["Body"][0] for call in responses.calls]


@responses.activate
def test_sms_survey_asks_each_question_then_a_new_message_opens_a_new_contact(app, client, helpline, counsellor):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    set_settings(app, helpline, post_survey=SURVEY)
    contact_id = _active_sms(app, client, counsellor)
    _end(client, counsellor, contact_id)
    assert _sent_bodies() == ["How helpful, 1-5?"]  # by REST: the conversation's webhook has answered long ago

    assert twiml_messages(send_sms(client, body="4/5")) == ["Would you write again?"]
    assert twiml_messages(send_sms(client, body="yes!")) == ["Anything to tell us?"]
    assert twiml_messages(send_sms(client, body="You were kind to me")) == ["Thank you!"]
    [contact] = contacts(app)
    assert contact.post_survey == {"helpful": 4, "again": True}
    assert contact.post_survey_private == {"comment": "You were kind to me"}
    assert contact.satisfaction == 4 and contact.post_survey_at is not None
    assert contact.post_survey_state is None and contact.post_survey_until is None
    # The answers are the contact's transcript too, and the record shows them.
    assert [m.body for m in messages(app, contact_id)][-2:] == ["You were kind to me", "Thank you!"]
    record = client.get(f"/api/v1/contacts/{contact_id}", headers=counsellor.headers).get_json()
    assert record["post_survey"] == {"helpful": 4, "again": True, "comment": "You were kind to me"}
    # Free text is encrypted at rest.
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT post_survey_private FROM contacts")).scalar()
    assert "kind" not in raw

    # Done: the next message is a new contact, as usual.
    assert twiml_messages(send_sms(client, body="hello again")) != ["Thank you!"]
    assert [c.status for c in contacts(app)] == ["wrapup", "queued"]


@responses.activate
def test_not_understood_is_asked_again_then_skipped_and_skip_works(app, client, helpline, counsellor):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "b" * 32}, status=201)
    set_settings(app, helpline, post_survey=SURVEY)
    contact_id = _active_sms(app, client, counsellor)
    _end(client, counsellor, contact_id)
    [again] = twiml_messages(send_sms(client, body="banana"))
    assert again.startswith("Sorry, I did not understand.") and "How helpful, 1-5?" in again
    assert twiml_messages(send_sms(client, body="10/10")) == ["Would you write again?"]
    assert twiml_messages(send_sms(client, body="skip")) == ["Anything to tell us?"]
    assert twiml_messages(send_sms(client, body="skip")) == ["Thank you!"]
    [contact] = contacts(app)
    assert contact.post_survey == {"helpful": None, "again": None} and contact.satisfaction is None
    # Nothing answered: it does not count as a response.
    assert contact.post_survey_at is None


@responses.activate
def test_prompts_follow_the_contacts_language(app, client, helpline, counsellor):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "c" * 32}, status=201)
    set_settings(app, helpline, post_survey=SURVEY)
    contact_id = _active_sms(app, client, counsellor)
    update_contact(app, contact_id, language="sw")
    _end(client, counsellor, contact_id)
    assert _sent_bodies() == ["Ilisaidia kiasi gani, 1-5?"]


@responses.activate
def test_built_in_questions_when_the_helpline_names_none(app, client, helpline, counsellor):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "d" * 32}, status=201)
    set_settings(app, helpline, post_survey={"enabled": True})
    _end(client, counsellor, _active_sms(app, client, counsellor))
    assert _sent_bodies() == [postsurvey.DEFAULT_QUESTIONS[0]["prompt"]["en"]]


@responses.activate
def test_no_survey_when_disabled_or_when_the_child_left(app, client, helpline, counsellor):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "e" * 32}, status=201)
    _end(client, counsellor, _active_sms(app, client, counsellor))
    assert _sent_bodies() == []
    send_sms(client, body="hello again")
    assert [c.status for c in contacts(app)] == ["wrapup", "queued"]

    # A web chat the child left (not the counsellor's end) asks nothing.
    set_settings(app, helpline, post_survey=SURVEY)
    session = client.post("/webchat/main/sessions", json={}).get_json()
    web = [c for c in contacts(app) if c.channel == "web"][0]
    update_contact(app, web.id, status="active", counsellor_id=counsellor.id, assigned_at=utcnow())
    auth = {"Authorization": f"Bearer {session['token']}"}
    client.post(f"/webchat/sessions/{session['session_id']}/end", headers=auth)
    assert_error(client.get(f"/webchat/sessions/{session['session_id']}/post-survey", headers=auth), 409,
                 "no_post_survey")


@responses.activate
def test_a_survey_that_times_out_closes_keeping_what_was_answered(app, client, helpline, counsellor):
    responses.post(TWILIO_MESSAGES, json={"sid": "SM" + "f" * 32}, status=201)
    set_settings(app, helpline, post_survey={**SURVEY, "timeout_min": 5})
    contact_id = _active_sms(app, client, counsellor)
    _end(client, counsellor, contact_id)
    send_sms(client, body="5")
    with app.app_context():
        assert close_timed_out_post_surveys() == 0
    update_contact(app, contact_id, post_survey_until=utcnow() - timedelta(seconds=1))
    # Past its deadline, a message opens a new contact even before the job has run.
    send_sms(client, body="are you there")
    assert len(contacts(app)) == 2
    with app.app_context():
        assert close_timed_out_post_surveys() == 1
        contact = db.session.get(Contact, contact_id)
        assert contact.post_survey == {"helpful": 5} and contact.post_survey_at is not None
        assert contact.post_survey_until is None


def test_stats_operations_count_responses_and_average_the_first_scale_question(app, client, helpline, manager):
    now = utcnow()
    for satisfaction, answered in ((5, True), (2, True), (None, True), (4, False)):
        send_sms(client, body="hi", sender=f"+4477009001{satisfaction or 0}{int(answered)}")
    for contact, (satisfaction, answered) in zip(contacts(app), ((5, True), (2, True), (None, True), (4, False))):
        update_contact(app, contact.id, satisfaction=satisfaction, post_survey_at=now if answered else None,
                       post_survey_private={"comment": "secret words"} if answered else None)
    day = now.date().isoformat()
    response = client.get("/api/v1/stats/operations", query_string={"from": day, "to": day, "by": "day"},
                          headers=manager.headers)
    [row] = response.get_json()["rows"]
    assert row["post_survey_responses"] == 3 and row["satisfaction_avg"] == 3.5
    csv = client.get("/api/v1/stats/operations", query_string={"from": day, "to": day, "by": "day", "format": "csv"},
                     headers=manager.headers).get_data(as_text=True)
    assert "post_survey_responses" in csv.splitlines()[0] and "secret" not in csv


@responses.activate
def test_web_chat_survey_is_a_form_answered_once(app, client, helpline, counsellor):
    set_settings(app, helpline, post_survey=SURVEY)
    session = client.post("/webchat/main/sessions", json={"language": "sw"}).get_json()
    auth = {"Authorization": f"Bearer {session['token']}"}
    path = f"/webchat/sessions/{session['session_id']}/post-survey"
    contact_id = contacts(app)[0].id
    assert_error(client.get(path, headers=auth), 409, "no_post_survey")  # the chat has not ended
    update_contact(app, contact_id, status="active", counsellor_id=counsellor.id, assigned_at=utcnow())
    _end(client, counsellor, contact_id)
    assert len(responses.calls) == 0  # web chat: nothing sent, the widget asks
    questions = client.get(path, headers=auth).get_json()["questions"]
    assert [(q["id"], q["type"]) for q in questions] == [("helpful", "scale"), ("again", "yes_no"), ("comment", "free")]
    assert questions[0]["prompt"] == "Ilisaidia kiasi gani, 1-5?"

    for bad in ({"answers": {"helpful": 6}}, {"answers": {"helpful": "4"}}, {"answers": {"again": "yes"}},
                {"answers": {"helpful": True}}, {"answers": {"nope": 1}}, {"answers": {"comment": "x" * 2001}},
                {"answers": []}, {}, {"answers": {f"q{i}": None for i in range(11)}}):
        assert_error(client.post(path, json=bad, headers=auth), 422)
    assert contacts(app)[0].post_survey is None

    response = client.post(path, json={"answers": {"helpful": 3, "comment": "ok"}}, headers=auth)
    assert response.status_code == 200 and response.get_json() == {"status": "answered", "message": "Thank you!"}
    [contact] = contacts(app)
    assert contact.post_survey == {"helpful": 3, "again": None} and contact.post_survey_private == {"comment": "ok"}
    assert contact.satisfaction == 3
    assert_error(client.post(path, json={"answers": {"helpful": 1}}, headers=auth), 409, "no_post_survey")
    # Another session's token never reaches this one's survey.
    other = client.post("/webchat/main/sessions", json={}).get_json()
    assert_error(client.get(path, headers={"Authorization": f"Bearer {other['token']}"}), 404)


@pytest.mark.parametrize("survey", [
    {"enabled": True, "questions": [{"id": "q", "type": "stars", "prompt": "?"}]},
    {"enabled": True, "questions": [{"id": "q", "type": "scale", "prompt": "?"}, {"id": "q", "type": "free",
                                                                                  "prompt": "?"}]},
    {"enabled": True, "questions": [{"id": "Bad Id", "type": "free", "prompt": "?"}]},
    {"enabled": True, "timeout_min": 0},
    {"enabled": "sometimes"},
])
def test_wrong_survey_settings_are_422(client, admin, survey):
    response = client.patch("/api/v1/helpline", json={"settings": {"post_survey": survey}}, headers=admin.headers)
    assert "post_survey" in assert_error(response, 422)["details"]["settings"]


@responses.activate
def test_conversations_chat_survey_goes_by_rest_question_after_question(app, client, helpline, counsellor):
    from tests.channel_helpers import post_signed
    from tests.test_conversations import CONVERSATION_MESSAGES, PATH, event

    responses.post(CONVERSATION_MESSAGES, json={"sid": "IM" + "a" * 32}, status=201)
    set_settings(app, helpline, post_survey=SURVEY)
    post_signed(client, PATH, event(body="help"))
    [contact] = contacts(app)
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id, assigned_at=utcnow())
    _end(client, counsellor, contact.id)
    post_signed(client, PATH, event(body="five"))
    post_signed(client, PATH, event(body="nope"))
    post_signed(client, PATH, event(body="skip"))
    bodies = [parse_qs(call.request.body)["Body"][0] for call in responses.calls]
    assert bodies[-4:] == ["How helpful, 1-5?", "Would you write again?", "Anything to tell us?", "Thank you!"]
    [contact] = contacts(app)
    assert contact.channel == "chat" and contact.post_survey == {"helpful": 5, "again": False}
    assert contact.post_survey_private == {"comment": None} and contact.post_survey_at is not None
