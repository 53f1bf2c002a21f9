"""The pre-survey bot: questions before queueing, free-form answers, skip, languages."""
import pytest

from app.channels import presurvey
from app.helplines.settings import DEFAULT_SETTINGS
from tests.channel_helpers import contacts, send_sms, set_settings, twiml_messages

QUESTIONS = [q["prompt"]["en"] for q in presurvey.DEFAULT_QUESTIONS]


@pytest.mark.parametrize(
    "key, text, value",
    [("age", "14", 14), ("age", "I'm 14", 14), ("age", "fourteen", 14), ("age", "skip", None), ("age", "40", None),
     ("gender", "girl", "girl"), ("gender", "F", "girl"), ("gender", "I am a boy", "boy"),
     ("gender", "non binary", "non_binary"), ("gender", "skip", "unknown"),
     ("about_self", "yes", True), ("about_self", "Yes, it's me", True), ("about_self", "not me", False),
     ("about_self", "it's about someone else", False)],
)
def test_free_form_answers(key, text, value):
    assert presurvey.parse_answer({"key": key}, text) == value


def test_answers_not_understood():
    assert presurvey.parse_answer({"key": "gender"}, "banana") is presurvey._NOT_ANSWERED
    assert presurvey.parse_answer({"key": "gender", "answers": {"girl": ["msichana"]}}, "Msichana") == "girl"


def test_the_bot_asks_then_queues_with_a_prefilled_form(app, client, helpline):
    set_settings(app, helpline, pre_survey={"enabled": True, "questions": []})
    assert twiml_messages(send_sms(client, body="hi")) == [QUESTIONS[0]]
    assert contacts(app)[0].status == "bot"
    assert twiml_messages(send_sms(client, body="yes")) == [QUESTIONS[1]]
    assert twiml_messages(send_sms(client, body="I'm 14")) == [QUESTIONS[2]]
    assert twiml_messages(send_sms(client, body="F")) == [DEFAULT_SETTINGS["messages"]["queued"]]
    [contact] = contacts(app)
    assert contact.status == "queued" and contact.queued_at is not None and contact.bot_state is None
    assert contact.pre_survey == {"about_self": True, "age": 14, "gender": "girl"}
    assert contact.form == {"call_type": "child", "child": {"age": 14, "gender": "girl"}}


def test_skip_and_a_second_miss_move_on(app, client, helpline):
    set_settings(app, helpline, pre_survey={"enabled": True, "questions": []})
    send_sms(client, body="hi")
    send_sms(client, body="skip")
    reply = twiml_messages(send_sms(client, body="banana"))[0]
    assert reply.startswith("Sorry, I did not understand.") and QUESTIONS[1] in reply
    assert twiml_messages(send_sms(client, body="still banana")) == [QUESTIONS[2]]
    send_sms(client, body="skip")
    [contact] = contacts(app)
    assert contact.status == "queued"
    assert contact.pre_survey == {"about_self": None, "age": None, "gender": "unknown"}
    assert contact.form == {"child": {"age": None, "gender": "unknown"}}


def test_questions_prompts_and_words_come_from_settings_in_several_languages(app, client, helpline):
    questions = [{"key": "gender", "prompt": {"sw": "Wewe ni msichana au mvulana?", "en": "Girl or boy?"},
                  "answers": {"girl": ["msichana"], "boy": ["mvulana"]}}]
    set_settings(app, helpline, pre_survey={"enabled": True, "questions": questions}, default_language="sw")
    assert twiml_messages(send_sms(client, body="habari")) == ["Wewe ni msichana au mvulana?"]
    send_sms(client, body="Mvulana")
    assert contacts(app)[0].pre_survey == {"gender": "boy"}


def test_wrong_question_settings_are_422(client, admin):
    bad = {"pre_survey": {"enabled": True, "questions": [{"key": "favourite_food", "prompt": "?"}]}}
    response = client.patch("/api/v1/helpline", json={"settings": bad}, headers=admin.headers)
    assert response.status_code == 422
    assert "pre_survey" in response.get_json()["error"]["details"]["settings"]
