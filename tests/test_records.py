"""Contact records: taxonomy, forms, finalize, offline contacts, search, history, audit, retention, encryption."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.contacts.taxonomy import category_codes, load_taxonomy
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, messages, send_sms, set_settings, update_contact
from tests.helpers import assert_error, pages

COMPLETE = {"call_type": "child", "categories": ["violence.bullying"], "child": {"age": 13, "gender": "girl"}}


@pytest.fixture
def my_contact(app, client, helpline, counsellor):
    """An SMS contact that `counsellor` worked and ended (wrap-up)."""
    send_sms(client, body="help me", sender="+447700900123")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="wrapup", counsellor_id=counsellor.id, ended_at=utcnow())
    return contact.id


def patch_form(client, actor, contact_id, form):
    return client.patch(f"/api/v1/contacts/{contact_id}", json={"form": form}, headers=actor.headers)


def test_the_taxonomy_matches_the_reference(client, counsellor):
    body = client.get("/api/v1/taxonomy", headers=counsellor.headers).get_json()
    assert body["version"] == "chi-2024"
    tops = {c["code"]: c for c in body["categories"]}
    assert list(tops) == ["missing", "violence", "mental_health", "physical_health", "services", "discrimination",
                          "family", "peers", "education", "sexuality"]
    assert [c["code"] for c in tops["missing"]["children"]] == ["missing.abduction", "missing.lost", "missing.runaway",
                                                                 "missing.other"]
    assert {"code": "mental_health.suicidal", "label": "Suicidal thoughts and suicide attempts"} in tops["mental_health"]["children"]
    assert len(category_codes("chi-2024")) == 10 + 57 + 10
    assert load_taxonomy("chi-2024")["categories"][1]["children"][4]["label"] == "Female Genital Mutilation (FGM)"


def test_saving_and_finalizing_a_record(app, client, counsellor, my_contact):
    response = patch_form(client, counsellor, my_contact, {**COMPLETE, "child": {**COMPLETE["child"], "first_name": "Amina"},
                                                           "summary": "Bullied at school every day"})
    assert response.status_code == 200
    assert response.get_json()["form"]["child"]["first_name"] == "Amina"
    response = client.post(f"/api/v1/contacts/{my_contact}/finalize", headers=counsellor.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "completed" and body["finalized_at"]
    assert_error(patch_form(client, counsellor, my_contact, COMPLETE), 409, "contact_finalized")


@pytest.mark.parametrize(
    "form, field",
    [({"categories": ["violence.nope"]}, "categories"), ({"child": {"age": 26}}, "child"),
     ({"child": {"gender": "girlish"}}, "child"), ({"call_type": "prank"}, "call_type"),
     ({"categories": "violence"}, "categories"), ({"favourite": 1}, "favourite")],
)
def test_invalid_forms_are_422_naming_the_field(client, counsellor, my_contact, form, field):
    error = assert_error(patch_form(client, counsellor, my_contact, form), 422, "validation_error")
    assert field in error["details"]["form"]


@pytest.mark.parametrize(
    "form, missing",
    [({}, "call_type"), ({"call_type": "child"}, "categories"),
     ({"call_type": "child", "categories": ["peers"], "child": {"age": 12}}, "child")],
)
def test_finalize_needs_a_complete_record(client, counsellor, my_contact, form, missing):
    patch_form(client, counsellor, my_contact, form)
    error = assert_error(client.post(f"/api/v1/contacts/{my_contact}/finalize", headers=counsellor.headers), 422,
                         "record_incomplete")
    assert missing in error["details"]["form"]


def test_non_data_contacts_finalize_with_just_a_call_type(client, counsellor, my_contact):
    patch_form(client, counsellor, my_contact, {"call_type": "silent"})
    assert client.post(f"/api/v1/contacts/{my_contact}/finalize", headers=counsellor.headers).status_code == 200


def test_a_live_contact_cannot_be_finalized(app, client, counsellor, my_contact):
    update_contact(app, my_contact, status="active", ended_at=None)
    patch_form(client, counsellor, my_contact, COMPLETE)
    assert_error(client.post(f"/api/v1/contacts/{my_contact}/finalize", headers=counsellor.headers), 409, "contact_live")


def test_offline_contacts(client, counsellor, manager):
    response = client.post("/api/v1/contacts", json={"channel": "voice", "form": COMPLETE}, headers=counsellor.headers)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["channel"], body["status"], body["counsellor_id"]) == ("voice", "wrapup", counsellor.id)
    assert client.post(f"/api/v1/contacts/{body['id']}/finalize", headers=counsellor.headers).status_code == 200
    assert_error(client.post("/api/v1/contacts", json={"form": COMPLETE}, headers=manager.headers), 403)
    assert_error(client.post("/api/v1/contacts", json={"form": {"categories": ["x"]}}, headers=counsellor.headers), 422)


def test_names_phones_and_summaries_are_encrypted_at_rest(app, client, counsellor, my_contact):
    form = {**COMPLETE, "child": {"age": 13, "gender": "girl", "first_name": "Zawadi", "last_name": "Otieno",
                                  "phone": "+254712345678"}, "summary": "Zawadi told us about her uncle"}
    patch_form(client, counsellor, my_contact, form)
    with app.app_context():
        dump = []
        for table in ("contacts", "messages", "profiles", "search_keys", "audit_events"):
            dump += [" ".join(map(str, row)) for row in db.session.execute(sa.text(f"SELECT * FROM {table}"))]
    dumped = "\n".join(dump)
    for secret in ("Zawadi", "Otieno", "712345678", "uncle", "7700900123"):
        assert secret not in dumped, secret
    assert "violence.bullying" in dumped  # what statistics need stays readable


def test_search_by_phone_name_words_category_and_filters(app, client, helpline, counsellor, supervisor, my_contact):
    patch_form(client, counsellor, my_contact, {**COMPLETE, "child": {"first_name": "Amina", "last_name": "Wanjiru"},
                                                "summary": "Trouble with her stepfather"})
    send_sms(client, sender="+447700900999", body="other child")
    other = contacts(app)[1].id

    def ids(actor=supervisor, **query):
        response = client.get("/api/v1/contacts", query_string=query, headers=actor.headers)
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()["items"]]

    assert ids(q="+44 7700 900123") == [my_contact]           # the contact's own number
    assert ids(q="amina") == [my_contact]                     # a name, any case
    assert ids(q="wanjiru amina") == [my_contact]             # every word must match
    assert ids(q="stepfather") == [my_contact]                # summary words
    assert ids(q="amina nobody") == []
    assert ids(category="violence") == [my_contact]           # top level covers its sub-categories
    assert ids(category="violence.bullying") == [my_contact]
    assert ids(status="queued") == [other]
    assert ids(channel="sms") == [other, my_contact]          # newest first
    today = utcnow().date().isoformat()
    assert len(ids(**{"from": today, "to": today})) == 2
    assert ids(**{"from": "2000-01-01", "to": "2000-01-02"}) == []
    # A counsellor's list holds only what the rules let them view.
    assert ids(actor=counsellor) == [my_contact]
    assert_error(client.get("/api/v1/contacts?from=yesterday", headers=supervisor.headers), 422)


def test_history_lists_earlier_contacts_from_the_same_profile(app, client, supervisor, my_contact):
    send_sms(client, sender="+447700900123", body="me again")
    latest = contacts(app)[1].id
    history = client.get(f"/api/v1/contacts/{latest}/history", headers=supervisor.headers).get_json()["items"]
    assert [c["id"] for c in history] == [my_contact]


def test_transcripts_and_history_come_a_page_at_a_time(app, client, supervisor, my_contact):
    for n in range(4):
        send_sms(client, sender="+447700900999", body=f"more {n}")
    chatty = contacts(app)[-1].id
    everything = [str(m.id) for m in messages(app, chatty)]
    transcript = pages(client, supervisor, f"/api/v1/contacts/{chatty}/messages", 2)
    assert len(everything) >= 4 and all(1 <= len(p) <= 2 for p in transcript)
    assert sum(transcript, []) == everything  # oldest first, each once
    for n in range(3):
        send_sms(client, sender="+447700900123", body=f"again {n}")
        update_contact(app, contacts(app)[-1].id, ended_at=utcnow())
    latest = contacts(app)[-1]
    earlier = [c.id for c in contacts(app) if c.profile_id == latest.profile_id and c.id != latest.id]
    history = pages(client, supervisor, f"/api/v1/contacts/{latest.id}/history", 2)
    assert [len(p) for p in history] == [2, 1] and sum(history, []) == earlier[::-1]  # newest first
    for bad in ({"limit": 501}, {"limit": 0}, {"limit": "ten"}, {"cursor": "bm90LWFuLWlk"}, {"cursor": "MTIz!"}):
        assert_error(client.get(f"/api/v1/contacts/{chatty}/messages", query_string=bad,
                                headers=supervisor.headers), 422)


def test_every_read_and_write_is_audited_without_values(app, client, counsellor, supervisor, admin, my_contact):
    client.get(f"/api/v1/contacts/{my_contact}", headers=counsellor.headers)
    patch_form(client, counsellor, my_contact, {**COMPLETE, "summary": "secret words"})
    client.get(f"/api/v1/contacts/{my_contact}/messages", headers=counsellor.headers)
    events = client.get("/api/v1/audit", query_string={"record_id": my_contact}, headers=supervisor.headers).get_json()["items"]
    actions = [(e["action"], e["user_id"]) for e in reversed(events)]
    assert actions == [("read", counsellor.id), ("update", counsellor.id), ("read_transcript", counsellor.id)]
    update = next(e for e in events if e["action"] == "update")
    assert "form.summary" in update["fields"] and "form.categories" in update["fields"]
    assert "secret" not in str(events)
    by_user = client.get("/api/v1/audit", query_string={"user_id": counsellor.id}, headers=admin.headers).get_json()
    assert len(by_user["items"]) >= 3
    assert_error(client.get("/api/v1/audit", headers=counsellor.headers), 403)


def test_managers_and_admins_never_see_a_record(client, manager, admin, my_contact):
    for actor in (manager, admin):
        assert_error(client.get(f"/api/v1/contacts/{my_contact}", headers=actor.headers), 403)
        assert_error(client.get("/api/v1/contacts", headers=actor.headers), 403)
        assert_error(client.get(f"/api/v1/contacts/{my_contact}/messages", headers=actor.headers), 403)


def test_another_helplines_contact_is_404(client, make_helpline, make_user, my_contact):
    stranger = make_user(make_helpline(), "supervisor")
    assert_error(client.get(f"/api/v1/contacts/{my_contact}", headers=stranger.headers), 404)
    assert_error(patch_form(client, stranger, my_contact, COMPLETE), 404)
    assert client.get("/api/v1/contacts", headers=stranger.headers).get_json()["items"] == []


def test_retention_erases_personal_data_and_keeps_statistics(app, client, helpline, counsellor, supervisor, my_contact):
    patch_form(client, counsellor, my_contact, {**COMPLETE, "child": {**COMPLETE["child"], "first_name": "Amina"},
                                                "summary": "private"})
    client.post(f"/api/v1/contacts/{my_contact}/finalize", headers=counsellor.headers)
    set_settings(app, helpline, retention_days=30)
    from app.contacts.service import erase_expired_personal_data

    with app.app_context():
        assert erase_expired_personal_data() == 0  # too recent
    update_contact(app, my_contact, finalized_at=utcnow() - timedelta(days=31))
    with app.app_context():
        assert erase_expired_personal_data() == 1
        assert erase_expired_personal_data() == 0
    contact = client.get(f"/api/v1/contacts/{my_contact}", headers=supervisor.headers).get_json()
    assert contact["form"] == COMPLETE and contact["address"] is None
    assert all(m.body is None for m in messages(app, my_contact))
    ids = lambda **q: [c["id"] for c in client.get("/api/v1/contacts", query_string=q, headers=supervisor.headers).get_json()["items"]]
    assert ids(q="amina") == [] and ids(category="violence") == [my_contact]
