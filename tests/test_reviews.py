"""Quality reviews: the review form, supervisors' reviews of finalized contacts, lists, summary, audit."""
import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, send_sms, update_contact
from tests.helpers import assert_error

FORM = {"criteria": [{"id": "empathy", "label": "Empathy", "max": 5, "weight": 2},
                     {"id": "safety", "label": "Safety check", "max": 3, "weight": 1}]}


@pytest.fixture
def form(client, admin):
    response = client.put("/api/v1/helpline/review-form", json=FORM, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return FORM


def finalized_contact(app, client, counsellor, sender="+447700900123"):
    send_sms(client, body="help", sender=sender)
    contact = contacts(app)[-1]
    now = utcnow()
    update_contact(app, contact.id, status="completed", counsellor_id=counsellor.id, assigned_at=now, ended_at=now,
                   finalized_at=now)
    return contact.id


def review(client, actor, contact_id, scores, comment=None):
    body = {"scores": scores, **({"comment": comment} if comment else {})}
    return client.post(f"/api/v1/contacts/{contact_id}/reviews", json=body, headers=actor.headers)


def audits(app, action, record_type="review"):
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action,
                                                              AuditEvent.record_type == record_type)).all()


def test_the_review_form_is_the_admins(client, admin, supervisor, counsellor, manager):
    assert client.get("/api/v1/helpline/review-form", headers=admin.headers).get_json() == {"criteria": []}
    assert client.put("/api/v1/helpline/review-form", json=FORM, headers=admin.headers).get_json() == FORM
    assert client.get("/api/v1/helpline/review-form", headers=supervisor.headers).get_json() == FORM
    for actor in (supervisor, counsellor, manager):
        assert_error(client.put("/api/v1/helpline/review-form", json=FORM, headers=actor.headers), 403)
    for actor in (counsellor, manager):
        assert_error(client.get("/api/v1/helpline/review-form", headers=actor.headers), 403)
    one = FORM["criteria"][0]
    for bad in ({"criteria": [one, one]}, {"criteria": [{**one, "max": 0}]}, {"criteria": [{**one, "weight": 0}]},
                {"criteria": [{**one, "weight": "heavy"}]}, {"criteria": [{**one, "max": 2.5}]},
                {"criteria": [{"id": "x", "max": 5, "weight": 1}]}, {"criteria": [{**one, "id": "Not An Id"}]},
                {"criteria": "empathy"}, {}, {"criteria": [one] * 31}):
        assert_error(client.put("/api/v1/helpline/review-form", json=bad, headers=admin.headers), 422)
    assert client.get("/api/v1/helpline/review-form", headers=admin.headers).get_json() == FORM


def test_a_supervisor_reviews_a_finalized_contact_with_a_weighted_score(app, client, form, supervisor, counsellor,
                                                                        admin):
    contact_id = finalized_contact(app, client, counsellor)
    response = review(client, supervisor, contact_id, {"empathy": 4, "safety": 3}, comment="Warm, but ask about school")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["score"] == 86.7  # (2 * 4/5 + 1 * 3/3) / 3 * 100
    assert (body["contact_id"], body["counsellor_id"], body["reviewer_id"]) == (contact_id, counsellor.id, supervisor.id)
    assert body["criteria"] == FORM["criteria"] and body["comment"] == "Warm, but ask about school"
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT comment FROM reviews")).scalar()
    assert "school" not in raw
    [created] = audits(app, "create")
    assert (created.user_id, created.record_id) == (supervisor.id, body["id"])
    # A later change of the form leaves the review as it was scored.
    client.put("/api/v1/helpline/review-form", json={"criteria": [{"id": "tone", "label": "Tone", "max": 10, "weight": 1}]},
               headers=admin.headers)
    [listed] = client.get(f"/api/v1/contacts/{contact_id}/reviews", headers=supervisor.headers).get_json()["items"]
    assert listed["criteria"] == FORM["criteria"] and listed["score"] == 86.7


def test_review_rules(app, client, form, supervisor, counsellor, manager, admin, make_helpline, make_user):
    contact_id = finalized_contact(app, client, counsellor)
    for actor in (counsellor, manager, admin):
        assert_error(review(client, actor, contact_id, {"empathy": 1, "safety": 1}), 403)
    for scores in ({"empathy": 1}, {"empathy": 1, "safety": 4}, {"empathy": -1, "safety": 0},
                   {"empathy": 1, "safety": 1, "charm": 2}, {"empathy": "5", "safety": 1}, {"empathy": 1.5, "safety": 1},
                   {}):
        assert_error(review(client, supervisor, contact_id, scores), 422)
    assert_error(client.post(f"/api/v1/contacts/{contact_id}/reviews", json={"scores": {"empathy": 1, "safety": 1},
                                                                           "comment": "x" * 4001},
                             headers=supervisor.headers), 422)
    send_sms(client, body="still talking", sender="+447700900999")
    assert_error(review(client, supervisor, contacts(app)[-1].id, {"empathy": 1, "safety": 1}), 409,
                 "contact_not_finalized")
    other = make_helpline("other")
    their_supervisor = make_user(other, "supervisor")
    assert_error(review(client, their_supervisor, contact_id, {"empathy": 1, "safety": 1}), 404)
    # The permission rules decide which contacts a supervisor may see, and so review.
    client.put("/api/v1/helpline/permissions", json={"view_contact": [["nobody"]]}, headers=admin.headers)
    assert_error(review(client, supervisor, contact_id, {"empathy": 1, "safety": 1}), 404)
    with app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM reviews")).scalar() == 0


def test_no_review_form_is_409(app, client, supervisor, counsellor):
    assert_error(review(client, supervisor, finalized_contact(app, client, counsellor), {"empathy": 1}), 409,
                 "no_review_form")


def test_who_reads_which_reviews_and_every_read_is_audited(app, client, form, supervisor, counsellor, make_user,
                                                           helpline, manager):
    colleague = make_user(helpline, "counsellor", name="Colleague")
    mine = finalized_contact(app, client, counsellor, "+447700900111")
    theirs = finalized_contact(app, client, colleague, "+447700900222")
    first = review(client, supervisor, mine, {"empathy": 5, "safety": 3}).get_json()
    second = review(client, supervisor, theirs, {"empathy": 0, "safety": 0}, comment="Missed a risk").get_json()

    assert [r["id"] for r in client.get(f"/api/v1/contacts/{mine}/reviews", headers=counsellor.headers)
            .get_json()["items"]] == [first["id"]]
    assert_error(client.get(f"/api/v1/contacts/{theirs}/reviews", headers=counsellor.headers), 404)
    assert_error(client.get(f"/api/v1/contacts/{mine}/reviews", headers=manager.headers), 403)
    me = client.get("/api/v1/me/reviews", headers=counsellor.headers).get_json()
    assert [r["id"] for r in me["items"]] == [first["id"]]
    assert_error(client.get("/api/v1/reviews", headers=counsellor.headers), 403)

    everything = client.get("/api/v1/reviews", headers=supervisor.headers).get_json()["items"]
    assert [r["id"] for r in everything] == [second["id"], first["id"]]  # newest first
    by_colleague = client.get("/api/v1/reviews", query_string={"counsellor_id": colleague.id},
                              headers=supervisor.headers).get_json()["items"]
    assert [r["id"] for r in by_colleague] == [second["id"]]
    today = utcnow().date()
    window = client.get("/api/v1/reviews", query_string={"from": today.isoformat(), "to": today.isoformat()},
                        headers=supervisor.headers).get_json()["items"]
    assert len(window) == 2
    assert client.get("/api/v1/reviews", query_string={"from": "2020-01-01", "to": "2020-01-31"},
                      headers=supervisor.headers).get_json()["items"] == []
    for bad in ({"from": "yesterday"}, {"from": "2026-02-01", "to": "2026-01-01"}, {"limit": 0}):
        assert_error(client.get("/api/v1/reviews", query_string=bad, headers=supervisor.headers), 422)

    reads = audits(app, "read")
    assert {(a.user_id, a.record_id) for a in reads} >= {(counsellor.id, first["id"]), (supervisor.id, second["id"])}
    assert len(reads) == 1 + 1 + 2 + 1 + 2  # contact list, me, all, by colleague, the day's window
    audit = client.get("/api/v1/audit", query_string={"record_type": "review"}, headers=supervisor.headers)
    assert audit.status_code == 200 and len(audit.get_json()["items"]) == len(reads) + 2


def test_summary_is_per_criterion_for_the_helpline_never_per_counsellor(app, client, form, supervisor, counsellor,
                                                                     manager, make_user, helpline):
    colleague = make_user(helpline, "counsellor")
    review(client, supervisor, finalized_contact(app, client, counsellor, "+447700900111"), {"empathy": 5, "safety": 3})
    review(client, supervisor, finalized_contact(app, client, colleague, "+447700900222"), {"empathy": 2, "safety": 0})
    today = utcnow().date().isoformat()
    response = client.get("/api/v1/reviews/summary", query_string={"from": today, "to": today},
                          headers=supervisor.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["reviews"] == 2 and body["score_avg"] == round((100 + 26.7) / 2, 1)
    assert body["criteria"] == [
        {"id": "empathy", "label": "Empathy", "max": 5, "reviews": 2, "average": 3.5, "average_pct": 70.0},
        {"id": "safety", "label": "Safety check", "max": 3, "reviews": 2, "average": 1.5, "average_pct": 50.0},
    ]
    assert counsellor.id not in response.get_data(as_text=True) and colleague.id not in response.get_data(as_text=True)
    for actor in (counsellor, manager):
        assert_error(client.get("/api/v1/reviews/summary", query_string={"from": today, "to": today},
                                headers=actor.headers), 403)
    assert_error(client.get("/api/v1/reviews/summary", headers=supervisor.headers), 422)
    # No league tables: operations statistics do not break down by counsellor.
    assert_error(client.get("/api/v1/stats/operations", query_string={"from": today, "to": today,
                                                                       "by": "day,counsellor"},
                            headers=manager.headers), 422)


def test_a_counsellors_own_contact_without_reviews_lists_none(app, client, form, counsellor):
    contact_id = finalized_contact(app, client, counsellor)
    response = client.get(f"/api/v1/contacts/{contact_id}/reviews", headers=counsellor.headers)
    assert response.status_code == 200 and response.get_json() == {"items": []}
