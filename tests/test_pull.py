"""Pulling work (contract: Working tools): POST /api/v1/queues/<id>/pull takes the most urgent, then
longest-waiting contact of the queue that the caller's skills and capacity allow."""
from datetime import timedelta

import sqlalchemy as sa

from app.contacts.models import Contact
from app.core.time import utcnow
from app.extensions import db
from app.routing import service as routing
from tests.channel_helpers import contacts, send_sms
from tests.helpers import assert_error
from tests.test_routing import available, general, offers  # noqa: F401 - the fixture


def pull(client, actor, queue_id):
    return client.post(f"/api/v1/queues/{queue_id}/pull", headers=actor.headers)


def age(app, contact_id, minutes):
    with app.app_context():
        db.session.execute(sa.update(Contact).where(Contact.id == contact_id)
                           .values(queued_at=utcnow() - timedelta(minutes=minutes)))
        db.session.commit()


def test_pull_takes_the_most_urgent_then_the_longest_waiting(app, client, general, counsellor, admin):
    client.patch(f"/api/v1/users/{counsellor.id}", json={"capacity": {"sms": 3}}, headers=admin.headers)
    send_sms(client, sender="+447700900111", body="hi")
    send_sms(client, sender="+447700900222", body="hello")
    send_sms(client, sender="+447700900333", body="I want to kill myself")
    newer, older, urgent = contacts(app)
    age(app, newer.id, 1)
    age(app, older.id, 10)
    taken = [pull(client, counsellor, general) for _ in range(3)]
    assert [r.status_code for r in taken] == [200, 200, 200]
    assert [r.get_json()["id"] for r in taken] == [urgent.id, older.id, newer.id]
    body = taken[0].get_json()
    assert body["status"] == "active" and body["counsellor_id"] == counsellor.id and body["assigned_at"]
    assert_error(pull(client, counsellor, general), 404, "nothing_to_pull")


def test_pull_respects_capacity_counting_pending_offers(app, client, general, counsellor):
    send_sms(client, sender="+447700900111")
    send_sms(client, sender="+447700900222")
    available(client, counsellor)  # the first is offered: the default capacity of 1 is used
    assert len(offers(client, counsellor)) == 1
    assert_error(pull(client, counsellor, general), 404, "nothing_to_pull")
    assert [c.status for c in contacts(app)].count("queued") == 1


def test_a_contact_offered_to_someone_else_is_not_pulled(app, client, general, make_user, helpline):
    offered_to, puller = make_user(helpline), make_user(helpline)
    available(client, offered_to)
    send_sms(client)
    assert len(offers(client, offered_to)) == 1
    assert_error(pull(client, puller, general), 404, "nothing_to_pull")
    assert offers(client, offered_to)[0]["status"] == "offered"


def test_pull_follows_skills(app, client, helpline, make_user):
    with app.app_context():
        general = routing.create_queue(helpline, "General", languages=["en"]).id
    french_only = make_user(helpline, skills={"languages": ["fr"]})
    send_sms(client)  # English
    assert_error(pull(client, french_only, general), 404, "nothing_to_pull")
    anyone = make_user(helpline)
    assert pull(client, anyone, general).status_code == 200


def test_only_counsellors_and_supervisors_pull_and_only_their_helplines_queues(
        app, client, general, supervisor, manager, admin, make_helpline, make_user):
    send_sms(client)
    assert_error(pull(client, manager, general), 403)
    assert_error(pull(client, admin, general), 403)
    stranger = make_user(make_helpline(), "counsellor")
    assert_error(pull(client, stranger, general), 404, "not_found")
    assert_error(pull(client, supervisor, "not-a-queue"), 404)
    assert contacts(app)[0].status == "queued"
    assert pull(client, supervisor, general).get_json()["counsellor_id"] == supervisor.id


def test_pull_only_takes_from_the_queue_named(app, client, helpline, counsellor):
    with app.app_context():
        empty = routing.create_queue(helpline, "Empty", channels=["whatsapp"]).id
        routing.create_queue(helpline, "General")
    send_sms(client)
    assert_error(pull(client, counsellor, empty), 404, "nothing_to_pull")
