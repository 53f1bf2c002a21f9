"""Cases: create from contacts, overview, status history, links, sections, timeline, search, permissions."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, send_sms, set_settings, update_contact
from tests.helpers import assert_error, pages

SECTIONS = {
    "note": {"text": "Spoke with the school counsellor"},
    "referral": {"organisation": "Legal Aid Clinic", "date": "2026-11-20", "reason": "custody", "comments": "urgent"},
    "perpetrator": {"relationship_to_child": "uncle", "first_name": "Baraka", "age": 40, "gender": "boy"},
    "incident": {"date": "2026-11-01", "location": "home", "description": "hit with a belt", "reported_to_police": False},
    "household": {"relationship_to_child": "mother", "first_name": "Neema", "age": 35, "gender": "girl"},
}


@pytest.fixture
def my_contact(app, client, helpline, counsellor):
    send_sms(client, body="help", sender="+447700900123")
    contact = contacts(app)[-1]
    update_contact(app, contact.id, status="wrapup", counsellor_id=counsellor.id, ended_at=utcnow())
    return contact.id


@pytest.fixture
def case(client, counsellor, my_contact):
    response = client.post("/api/v1/cases", json={"summary": "Abuse at home by an uncle", "label": "Amina K",
                                                 "child_at_risk": True, "follow_up_date": "2026-12-01",
                                                 "contacts": [my_contact]}, headers=counsellor.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def url(case, *parts):
    return "/".join([f"/api/v1/cases/{case['id']}", *parts])


def test_a_case_from_a_contact(client, counsellor, case, my_contact):
    assert case["status"] == "open" and case["counsellor_id"] == counsellor.id and case["contacts"] == [my_contact]
    assert case["sections"] == {t: 0 for t in SECTIONS} and case["child_at_risk"] is True
    assert case["status_history"][0]["to"] == "open"
    contact = client.get(f"/api/v1/contacts/{my_contact}", headers=counsellor.headers).get_json()
    assert contact["case_id"] == case["id"]


def test_sections_come_a_page_at_a_time_newest_first(client, counsellor, case):
    added = [client.post(url(case, "sections", "note"), json={"data": {"text": f"note {n}"}},
                         headers=counsellor.headers).get_json()["id"] for n in range(5)]
    seen = pages(client, counsellor, url(case, "sections", "note"), 2)
    assert [len(p) for p in seen] == [2, 2, 1] and sum(seen, []) == added[::-1]
    assert_error(client.get(url(case, "sections", "note"), query_string={"cursor": "garbage"},
                            headers=counsellor.headers), 422)


@pytest.mark.parametrize("section_type", list(SECTIONS))
def test_sections_of_every_type(client, counsellor, case, section_type):
    response = client.post(url(case, "sections", section_type), json={"data": SECTIONS[section_type]}, headers=counsellor.headers)
    assert response.status_code == 201, response.get_json()
    section = response.get_json()
    assert section["data"] == SECTIONS[section_type]
    listed = client.get(url(case, "sections", section_type), headers=counsellor.headers).get_json()["items"]
    assert [s["id"] for s in listed] == [section["id"]]
    text_field = {"note": "text", "referral": "organisation", "perpetrator": "first_name", "incident": "location",
                  "household": "first_name"}[section_type]
    changed = {**SECTIONS[section_type], text_field: "changed"}
    put = client.put(url(case, "sections", section_type, section["id"]), json={"data": changed}, headers=counsellor.headers)
    assert put.status_code == 200 and put.get_json()["data"] == changed
    assert client.get(url(case), headers=counsellor.headers).get_json()["sections"][section_type] == 1
    assert client.delete(url(case, "sections", section_type, section["id"]), headers=counsellor.headers).status_code == 204
    assert_error(client.get(url(case, "sections", section_type, section["id"]), headers=counsellor.headers), 404)


@pytest.mark.parametrize(
    "section_type, data, field",
    [("note", {}, "text"), ("referral", {"date": "soon"}, "organisation"), ("perpetrator", {"age": 500}, "age"),
     ("incident", {"reported_to_police": "maybe"}, "reported_to_police"), ("household", {"shoe_size": 9}, "shoe_size")],
)
def test_each_section_has_its_own_schema(client, counsellor, case, section_type, data, field):
    response = client.post(url(case, "sections", section_type), json={"data": data}, headers=counsellor.headers)
    assert field in assert_error(response, 422)["details"]["data"]
    assert_error(client.post(url(case, "sections", "diary"), json={"data": {}}, headers=counsellor.headers), 404)


def test_status_changes_keep_history_and_follow_the_rules(client, counsellor, supervisor, case):
    assert client.put(url(case, "status"), json={"status": "in_progress"}, headers=counsellor.headers).status_code == 200
    closed = client.put(url(case, "status"), json={"status": "closed"}, headers=counsellor.headers).get_json()
    assert [(h["from"], h["to"]) for h in closed["status_history"]] == [(None, "open"), ("open", "in_progress"),
                                                                        ("in_progress", "closed")]
    assert all(h["by"] == counsellor.id and h["at"] for h in closed["status_history"])
    # A closed case takes no new sections from its owner, and only a supervisor reopens it.
    assert_error(client.post(url(case, "sections", "note"), json={"data": {"text": "x"}}, headers=counsellor.headers), 403)
    assert_error(client.put(url(case, "status"), json={"status": "open"}, headers=counsellor.headers), 403)
    assert client.put(url(case, "status"), json={"status": "open"}, headers=supervisor.headers).status_code == 200
    assert_error(client.put(url(case, "status"), json={"status": "done"}, headers=supervisor.headers), 422)


def test_linking_and_unlinking_contacts(app, client, helpline, counsellor, case, my_contact):
    send_sms(client, sender="+447700900555")
    other = contacts(app)[-1]
    update_contact(app, other.id, counsellor_id=counsellor.id, status="wrapup", ended_at=utcnow())
    assert client.put(url(case, "contacts", other.id), headers=counsellor.headers).get_json()["contacts"] == sorted([my_contact, other.id])
    second = client.post("/api/v1/cases", json={}, headers=counsellor.headers).get_json()
    assert_error(client.put(f"/api/v1/cases/{second['id']}/contacts/{other.id}", headers=counsellor.headers), 409, "contact_in_case")
    assert client.delete(url(case, "contacts", other.id), headers=counsellor.headers).get_json()["contacts"] == [my_contact]
    assert_error(client.delete(url(case, "contacts", other.id), headers=counsellor.headers), 404)


def test_timeline_newest_first(client, counsellor, case, my_contact):
    client.post(url(case, "sections", "note"), json={"data": {"text": "first"}}, headers=counsellor.headers)
    client.post(url(case, "sections", "referral"), json={"data": {"organisation": "Clinic"}}, headers=counsellor.headers)
    items = client.get(url(case, "timeline"), headers=counsellor.headers).get_json()["items"]
    kinds = [(i["kind"], i["section"]["type"] if i["section"] else i["contact_id"]) for i in items]
    assert kinds == [("section", "referral"), ("section", "note"), ("contact", my_contact)]


def test_who_may_see_a_case(app, client, helpline, counsellor, supervisor, manager, make_user, make_helpline, case):
    colleague = make_user(helpline)
    assert_error(client.get(url(case), headers=colleague.headers), 404)
    # Holding a contact of the case lets a counsellor view it (default rules), and add sections while open.
    send_sms(client, sender="+447700900777")
    theirs = contacts(app)[-1]
    update_contact(app, theirs.id, counsellor_id=colleague.id, status="wrapup", ended_at=utcnow(), case_id=case["id"])
    assert client.get(url(case), headers=colleague.headers).status_code == 200
    assert client.post(url(case, "sections", "note"), json={"data": {"text": "seen her"}}, headers=colleague.headers).status_code == 201
    assert_error(client.patch(url(case), json={"summary": "mine now"}, headers=colleague.headers), 403)
    assert client.get(url(case), headers=supervisor.headers).status_code == 200
    assert_error(client.get(url(case), headers=manager.headers), 403)
    assert_error(client.get("/api/v1/cases", headers=manager.headers), 403)
    stranger = make_user(make_helpline(), "supervisor")
    assert_error(client.get(url(case), headers=stranger.headers), 404)
    assert client.get("/api/v1/cases", headers=stranger.headers).get_json()["items"] == []


def test_owners_are_set_by_supervisors_only(client, counsellor, supervisor, make_user, helpline, case):
    other = make_user(helpline)
    assert_error(client.post("/api/v1/cases", json={"counsellor_id": other.id}, headers=counsellor.headers), 403)
    response = client.patch(url(case), json={"counsellor_id": other.id}, headers=supervisor.headers)
    assert response.get_json()["counsellor_id"] == other.id
    assert_error(client.post("/api/v1/cases", json={"counsellor_id": "nobody"}, headers=supervisor.headers), 422)


def test_case_search(app, client, counsellor, supervisor, case):
    client.post(url(case, "sections", "perpetrator"), json={"data": {"first_name": "Baraka"}}, headers=counsellor.headers)
    ids = lambda **q: [c["id"] for c in client.get("/api/v1/cases", query_string=q, headers=supervisor.headers).get_json()["items"]]
    other = client.post("/api/v1/cases", json={"summary": "Exam stress"}, headers=counsellor.headers).get_json()
    assert ids(q="baraka") == [case["id"]]
    assert ids(q="uncle") == [case["id"]]
    assert ids(q="exam") == [other["id"]]
    assert ids(q="+447700900123") == [case["id"]]
    assert ids(status="open") == [other["id"], case["id"]]
    assert ids(counsellor_id=counsellor.id) == [other["id"], case["id"]]
    client.patch(f"/api/v1/contacts/{case['contacts'][0]}", json={"form": {"categories": ["family.caregiver"]}},
                 headers=counsellor.headers)
    assert ids(category="family") == [case["id"]]


def test_case_text_is_encrypted_at_rest_and_audited(app, client, counsellor, supervisor, case):
    client.post(url(case, "sections", "note"), json={"data": {"text": "Neema works nights"}}, headers=counsellor.headers)
    with app.app_context():
        dumped = "\n".join(" ".join(map(str, r)) for t in ("cases", "case_sections", "search_keys", "audit_events")
                           for r in db.session.execute(sa.text(f"SELECT * FROM {t}")))
    for secret in ("Neema", "uncle", "Amina"):
        assert secret not in dumped
    events = client.get("/api/v1/audit", query_string={"record_id": case["id"]}, headers=supervisor.headers).get_json()["items"]
    assert {"create", "add_note"} <= {e["action"] for e in events}


def test_retention_keeps_contacts_of_open_cases(app, client, helpline, counsellor, case, my_contact):
    client.patch(f"/api/v1/contacts/{my_contact}", json={"form": {"call_type": "silent", "summary": "keep me"}},
                 headers=counsellor.headers)
    client.post(f"/api/v1/contacts/{my_contact}/finalize", headers=counsellor.headers)
    set_settings(app, helpline, retention_days=30)
    update_contact(app, my_contact, finalized_at=utcnow() - timedelta(days=40))
    from app.contacts.service import erase_expired_personal_data

    with app.app_context():
        assert erase_expired_personal_data() == 0
    client.put(url(case, "status"), json={"status": "closed"}, headers=counsellor.headers)
    with app.app_context():
        assert erase_expired_personal_data() == 1
