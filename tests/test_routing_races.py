"""Accept and assign racing from 50 threads (PostgreSQL): exactly one wins, no capacity is exceeded."""
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.routing import service as routing
from app.routing.models import Assignment
from tests.channel_helpers import contacts, send_sms
from tests.conftest import is_postgres


@pytest.fixture(autouse=True)
def _postgres_only(app):
    if not is_postgres(app):
        pytest.skip("row locks under concurrency need PostgreSQL; SQLite serialises writers")


def race(app, calls):
    barrier = threading.Barrier(len(calls))
    statuses = []

    def run(call):
        client = app.test_client()
        barrier.wait()
        statuses.append(call(client).status_code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def open_assignments(app):
    with app.app_context():
        return db.session.execute(sa.select(Assignment.contact_id, Assignment.counsellor_id)
                                  .where(Assignment.ended_at.is_(None))).all()


def test_fifty_accepts_and_assigns_of_one_contact_make_one_assignment(app, client, helpline, make_user, supervisor):
    with app.app_context():
        routing.create_queue(helpline, "General")
    offered_to = make_user(helpline)
    others = [make_user(helpline) for _ in range(5)]
    client.put("/api/v1/me/availability", json={"status": "available"}, headers=offered_to.headers)
    send_sms(client)
    contact_id = contacts(app)[0].id
    calls = []
    for i in range(50):
        if i % 2:
            calls.append(lambda c: c.post(f"/api/v1/contacts/{contact_id}/accept", headers=offered_to.headers))
        else:
            target = others[i % len(others)]
            calls.append(lambda c, t=target: c.post(f"/api/v1/contacts/{contact_id}/assign",
                                                    json={"counsellor_id": t.id}, headers=supervisor.headers))
    statuses = race(app, calls)
    assert set(statuses) <= {200, 409}, statuses
    assignments = open_assignments(app)
    assert len(assignments) == 1
    assert contacts(app)[0].counsellor_id == assignments[0][1]


def test_fifty_assigns_to_one_counsellor_never_exceed_capacity(app, client, helpline, make_user, supervisor):
    target = make_user(helpline, capacity={"sms": 2, "total": 2})
    for n in range(50):
        send_sms(client, sender=f"+4477009{n:05d}")
    contact_ids = [c.id for c in contacts(app)]
    statuses = race(app, [
        lambda c, cid=cid: c.post(f"/api/v1/contacts/{cid}/assign", json={"counsellor_id": target.id},
                                  headers=supervisor.headers)
        for cid in contact_ids
    ])
    assert statuses.count(200) == 2 and statuses.count(409) == 48, statuses
    assert len(open_assignments(app)) == 2


def test_parallel_dispatchers_never_over_offer(app, client, helpline, make_user):
    with app.app_context():
        routing.create_queue(helpline, "General")
    counsellors = [make_user(helpline, capacity={"sms": 2, "total": 2}) for _ in range(5)]
    for n in range(30):
        send_sms(client, sender=f"+4477008{n:05d}")
    with app.app_context():
        from app.auth.models import User

        db.session.execute(sa.update(User).where(User.id.in_([c.id for c in counsellors])).values(availability="available"))
        db.session.commit()

    def dispatcher():
        with app.app_context():
            routing.dispatch(helpline)

    threads = [threading.Thread(target=dispatcher) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        from app.routing.models import Offer

        per_counsellor = dict(db.session.execute(
            sa.select(Offer.counsellor_id, sa.func.count()).where(Offer.status == "pending").group_by(Offer.counsellor_id)
        ).all())
        per_contact = db.session.execute(
            sa.select(Offer.contact_id, sa.func.count()).where(Offer.status == "pending").group_by(Offer.contact_id)
        ).all()
    assert per_counsellor == {c.id: 2 for c in counsellors}
    assert all(count == 1 for _, count in per_contact)


def test_pulls_racing_each_other_and_dispatch_never_double_assign(app, client, helpline, make_user):
    """20 pulls by 10 counsellors (capacity 1 each) and 5 dispatchers race for 6 waiting contacts:
    every contact is active for at most one counsellor, and nobody exceeds their capacity."""
    with app.app_context():
        queue_id = routing.create_queue(helpline, "General").id
    pullers = [make_user(helpline) for _ in range(10)]
    waiting = [make_user(helpline) for _ in range(3)]
    for n in range(6):
        send_sms(client, sender=f"+4477007{n:05d}")
    with app.app_context():
        from app.auth.models import User

        db.session.execute(sa.update(User).where(User.id.in_([w.id for w in waiting])).values(availability="available"))
        db.session.commit()

    def dispatch(c):
        with app.app_context():
            routing.dispatch(helpline)

        class Done:
            status_code = 0
        return Done

    calls = [lambda c, p=p: c.post(f"/api/v1/queues/{queue_id}/pull", headers=p.headers) for p in pullers * 2]
    calls += [dispatch] * 5
    statuses = race(app, calls)
    assert set(statuses) <= {0, 200, 404}, statuses
    assignments = open_assignments(app)
    assert len({contact for contact, _ in assignments}) == len(assignments)  # one counsellor per contact
    assert len({counsellor for _, counsellor in assignments}) == len(assignments)  # capacity 1 each
    assert statuses.count(200) == len(assignments)
    with app.app_context():
        from app.routing.models import Offer

        offered = set(db.session.scalars(sa.select(Offer.contact_id).where(Offer.status == "pending")))
    assert not offered & {contact for contact, _ in assignments}
    assert len(assignments) + len(offered) <= 6 and len(assignments) >= 1
