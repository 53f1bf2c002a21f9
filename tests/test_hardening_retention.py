"""Security review, retention: contacts never finalized are erased by their end time, web chat tokens
expire after the chat, and the right to erasure for one child (review item 5)."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.cases.models import Case, CaseSection
from app.contacts.models import Contact
from app.contacts.service import erase_expired_personal_data
from app.core.time import utcnow
from app.extensions import db
from app.profiles.models import Profile
from tests.channel_helpers import contacts, messages, send_sms, set_settings, update_contact
from tests.helpers import assert_error


@pytest.mark.parametrize("status", ["abandoned", "blocked", "out_of_hours", "wrapup", "bot"])
def test_contacts_never_finalized_are_erased_by_their_end_time(app, client, helpline, status):
    send_sms(client, body="my name is Zawadi", sender="+447700900555")
    contact = contacts(app)[0]
    set_settings(app, helpline, retention_days=30)
    update_contact(app, contact.id, status=status, ended_at=utcnow() - timedelta(days=29))
    with app.app_context():
        assert erase_expired_personal_data() == 0  # ended within retention
    update_contact(app, contact.id, ended_at=utcnow() - timedelta(days=31))
    with app.app_context():
        assert erase_expired_personal_data() == 1
        stored = db.session.get(Contact, contact.id)
        assert stored.address is None and stored.erased_at is not None
    assert all(m.body is None for m in messages(app, contact.id))


def test_a_web_chat_token_stops_working_after_the_chat_ends(app, client, helpline):
    session = client.post("/webchat/main/sessions", json={}).get_json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    poll = f"/webchat/sessions/{session['session_id']}/messages"
    assert client.post(f"/webchat/sessions/{session['session_id']}/end", headers=headers).status_code == 200
    assert client.get(poll, headers=headers).status_code == 200  # the goodbye can still be read
    grace = app.config["WEBCHAT_TOKEN_GRACE_MIN"]
    update_contact(app, contacts(app)[0].id, ended_at=utcnow() - timedelta(minutes=grace + 1))
    with app.app_context():
        from app.channels.models import WebchatSession

        db.session.execute(sa.update(WebchatSession).values(ended_at=utcnow() - timedelta(minutes=grace + 1)))
        db.session.commit()
    assert_error(client.get(poll, headers=headers), 401, "session_expired")


def test_a_token_expires_when_the_counsellor_ended_the_chat(app, client, helpline):
    session = client.post("/webchat/main/sessions", json={}).get_json()
    headers = {"Authorization": f"Bearer {session['token']}"}
    update_contact(app, contacts(app)[0].id, status="wrapup", ended_at=utcnow() - timedelta(days=1))
    assert_error(client.get(f"/webchat/sessions/{session['session_id']}/messages", headers=headers), 401,
                 "session_expired")


@pytest.fixture
def child_with_history(app, client, helpline, counsellor, supervisor):
    """Two ended contacts from one number, one linked to a case with a note; one contact from another number."""
    for body in ("first time, I am Neema", "second time"):
        send_sms(client, body=body, sender="+447700900777")
        contact = contacts(app)[-1]
        update_contact(app, contact.id, status="wrapup", counsellor_id=counsellor.id, ended_at=utcnow())
    send_sms(client, body="someone else", sender="+447700900888")
    ours = [c for c in contacts(app) if c.address == "+447700900777"]
    form = {"call_type": "child", "categories": ["violence.bullying"],
            "child": {"age": 13, "gender": "girl", "first_name": "Neema", "province": "Coast"}, "summary": "bullied"}
    for contact in ours:
        assert client.patch(f"/api/v1/contacts/{contact.id}", json={"form": form},
                            headers=counsellor.headers).status_code == 200
    case = client.post("/api/v1/cases", json={"summary": "Neema's case", "contacts": [ours[0].id]},
                       headers=counsellor.headers).get_json()
    client.post(f"/api/v1/cases/{case['id']}/sections/note", json={"text": "Neema said her uncle"},
                headers=counsellor.headers)
    return {"profile_id": ours[0].profile_id, "contact_ids": [c.id for c in ours], "case_id": case["id"]}


def test_the_right_to_erasure_erases_a_childs_contacts_and_cases_and_keeps_statistics(
        app, client, supervisor, child_with_history):
    profile_id = child_with_history["profile_id"]
    response = client.post(f"/api/v1/profiles/{profile_id}/erase", headers=supervisor.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"profile_id": profile_id, "contacts_erased": 2, "cases_erased": 1}
    with app.app_context():
        for contact_id in child_with_history["contact_ids"]:
            contact = db.session.get(Contact, contact_id)
            assert (contact.address, contact.form_private, contact.erased_at is not None) == (None, None, True)
            assert (contact.call_type, contact.child_age, contact.child_gender) == ("child", 13, "girl")
        case = db.session.get(Case, child_with_history["case_id"])
        assert (case.summary, case.label) == (None, None)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseSection)) == 0
        assert "777" not in db.session.get(Profile, profile_id).identifier
        dumped = " ".join(str(row) for table in ("contacts", "messages", "cases", "case_sections", "profiles")
                          for row in db.session.execute(sa.text(f"SELECT * FROM {table}")))
    assert "Neema" not in dumped
    others = [m.body for m in messages(app) if m.body]
    assert "someone else" in others and not any("Neema" in b for b in others)
    audit = client.get("/api/v1/audit", query_string={"record_type": "profile", "record_id": profile_id},
                       headers=supervisor.headers).get_json()["items"]
    assert [e["action"] for e in audit if e["user_id"] == supervisor.id] == ["erase"]


def test_erasure_is_a_supervisors_act_within_its_helpline(client, counsellor, admin, manager, make_user, make_helpline,
                                                          child_with_history):
    profile_id = child_with_history["profile_id"]
    for actor in (counsellor, admin, manager):
        assert client.post(f"/api/v1/profiles/{profile_id}/erase", headers=actor.headers).status_code in (403, 404)
    stranger = make_user(make_helpline(), "supervisor")
    assert_error(client.post(f"/api/v1/profiles/{profile_id}/erase", headers=stranger.headers), 404)


def test_erasure_waits_for_a_live_conversation_to_end(app, client, supervisor, helpline):
    send_sms(client, body="still here", sender="+447700900999")
    profile_id = contacts(app)[0].profile_id
    assert_error(client.post(f"/api/v1/profiles/{profile_id}/erase", headers=supervisor.headers), 409, "contact_live")
    assert [m.body for m in messages(app) if m.direction == "inbound"] == ["still here"]
