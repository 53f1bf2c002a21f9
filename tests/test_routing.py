"""Queues and routing: availability, capacity, offers, decline, time-out, transfer, assign, end, status."""
from datetime import timedelta

import pytest
from hypothesis import given, strategies as st
import sqlalchemy as sa

from app.core.time import utcnow
from app.extensions import db
from app.routing import service as routing
from app.routing.models import Assignment, Offer
from tests.channel_helpers import contacts, send_sms, set_settings, twiml_messages, update_contact
from tests.helpers import assert_error


@pytest.fixture
def general(app, helpline):
    with app.app_context():
        return routing.create_queue(helpline, "General").id


def available(client, actor):
    response = client.put("/api/v1/me/availability", json={"status": "available"}, headers=actor.headers)
    assert response.status_code == 200, response.get_json()
    return response


def offers(client, actor):
    return client.get("/api/v1/me/offers", headers=actor.headers).get_json()["items"]


def action(client, actor, contact_id, verb, body=None):
    return client.post(f"/api/v1/contacts/{contact_id}/{verb}", json=body, headers=actor.headers)


def make_idle_order(app, *actors):
    """Fix who has been idle longest: the first actor given."""
    with app.app_context():
        from app.auth.models import User

        for minutes, actor in zip(range(len(actors) * 10, 0, -10), actors):
            db.session.execute(sa.update(User).where(User.id == actor.id).values(idle_since=utcnow() - timedelta(minutes=minutes)))
        db.session.commit()


def test_a_new_contact_is_offered_at_once_to_a_free_counsellor(app, client, general, counsellor):
    available(client, counsellor)
    send_sms(client, body="hello")
    [offer] = offers(client, counsellor)
    contact = contacts(app)[0]
    assert offer["id"] == contact.id and offer["status"] == "offered" and offer["offer_expires_at"]
    assert contact.status == "offered" and contact.offered_at is not None
    # The counsellor can read it before accepting.
    assert client.get(f"/api/v1/contacts/{contact.id}", headers=counsellor.headers).status_code == 200


def test_accept_makes_the_contact_active_and_theirs(app, client, general, counsellor):
    available(client, counsellor)
    send_sms(client)
    contact_id = contacts(app)[0].id
    response = action(client, counsellor, contact_id, "accept")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "active" and body["counsellor_id"] == counsellor.id and body["assigned_at"]
    assert offers(client, counsellor) == []


def test_offers_go_to_the_longest_idle_counsellor(app, client, general, make_user, helpline):
    first, second = make_user(helpline), make_user(helpline)
    available(client, first)
    available(client, second)
    make_idle_order(app, second, first)
    send_sms(client)
    assert offers(client, second) and not offers(client, first)


def test_capacity_per_channel_and_in_total(app, client, general, counsellor, admin):
    client.patch(f"/api/v1/users/{counsellor.id}", json={"capacity": {"sms": 2, "chat": 1, "total": 2}}, headers=admin.headers)
    available(client, counsellor)
    for n in range(3):
        send_sms(client, sender=f"+44770090011{n}")
    assert len(offers(client, counsellor)) == 2  # the third waits: capacity 2
    assert [c.status for c in contacts(app)].count("queued") == 1


def test_contacts_nobody_has_room_for_do_not_hold_back_those_somebody_can_take(app, client, general, counsellor,
                                                                               admin, monkeypatch):
    # Dispatch looks at a batch of the longest-waiting contacts; SMS contacts nobody has room for
    # used to fill it, so a WhatsApp contact behind them waited although the counsellor had room.
    monkeypatch.setattr(routing, "DISPATCH_BATCH", 1)
    client.patch(f"/api/v1/users/{counsellor.id}", json={"capacity": {"sms": 1, "whatsapp": 1, "total": 2}},
                 headers=admin.headers)
    available(client, counsellor)
    send_sms(client, sender="+447700900111")
    send_sms(client, sender="+447700900222")  # waits: the counsellor's SMS room is taken
    send_sms(client, sender="whatsapp:+447700900333")
    assert sorted(o["channel"] for o in offers(client, counsellor)) == ["sms", "whatsapp"]
    assert [(c.channel, c.status) for c in contacts(app)] == [("sms", "offered"), ("sms", "queued"),
                                                             ("whatsapp", "offered")]


def test_a_counsellor_with_default_capacity_takes_one_contact(app, client, general, counsellor):
    available(client, counsellor)
    send_sms(client, sender="+447700900111")
    send_sms(client, sender="+447700900222")
    assert len(offers(client, counsellor)) == 1


def test_skills_limit_queues_and_languages(app, client, helpline, make_user, supervisor):
    with app.app_context():
        french = routing.create_queue(helpline, "French", languages=["fr"], priority=5).id
        routing.create_queue(helpline, "General")
    only_french = make_user(helpline, skills={"queues": [french]})
    available(client, only_french)
    send_sms(client)  # default language en: General queue
    assert offers(client, only_french) == []
    set_settings(app, helpline, default_language="fr")
    send_sms(client, sender="+33612345678")
    assert len(offers(client, only_french)) == 1


def test_decline_passes_the_contact_to_the_next_counsellor(app, client, general, make_user, helpline):
    first, second = make_user(helpline), make_user(helpline)
    available(client, first)
    available(client, second)
    make_idle_order(app, first, second)
    send_sms(client)
    contact_id = contacts(app)[0].id
    assert action(client, first, contact_id, "decline").status_code == 200
    assert offers(client, first) == [] and [o["id"] for o in offers(client, second)] == [contact_id]


def _expire(app, contact_id):
    with app.app_context():
        db.session.execute(sa.update(Offer).where(Offer.contact_id == contact_id, Offer.status == "pending")
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def test_an_offer_not_accepted_in_time_goes_to_the_next_and_two_lapses_mean_a_break(app, client, general, make_user, helpline):
    slow, other = make_user(helpline), make_user(helpline)
    available(client, slow)
    make_idle_order(app, slow)
    send_sms(client, sender="+447700900111")
    first_id = contacts(app)[0].id
    _expire(app, first_id)
    assert_error(action(client, slow, first_id, "accept"), 409, "offer_expired")
    with app.app_context():
        routing.expire_offers()
    send_sms(client, sender="+447700900222")  # offered to slow again (nobody else is available)
    second_id = contacts(app)[1].id
    assert [o["id"] for o in offers(client, slow)] == [second_id]
    _expire(app, second_id)
    available(client, other)
    with app.app_context():
        assert routing.expire_offers() == 1
    me = client.get("/api/v1/me", headers=slow.headers).get_json()
    assert me["availability"] == "break"
    # Both contacts went on to the other counsellor (capacity 1: one offered, one waiting).
    assert len(offers(client, other)) == 1


def test_accepting_someone_elses_offer_is_409(app, client, general, make_user, helpline):
    mine, theirs = make_user(helpline), make_user(helpline)
    available(client, mine)
    send_sms(client)
    assert_error(action(client, theirs, contacts(app)[0].id, "accept"), 409, "offer_not_yours")


def test_end_frees_capacity_and_the_next_contact_is_offered(app, client, general, counsellor):
    available(client, counsellor)
    send_sms(client, sender="+447700900111")
    send_sms(client, sender="+447700900222")
    first, second = contacts(app)
    action(client, counsellor, first.id, "accept")
    assert offers(client, counsellor) == []
    response = action(client, counsellor, first.id, "end")
    assert response.status_code == 200 and response.get_json()["status"] == "wrapup"
    assert [o["id"] for o in offers(client, counsellor)] == [second.id]


def test_urgent_contacts_jump_the_queue(app, client, general, counsellor):
    send_sms(client, sender="+447700900111", body="hi")
    send_sms(client, sender="+447700900222", body="I want to kill myself")
    calm, urgent = contacts(app)
    assert (urgent.priority, urgent.risk_flag) == ("urgent", True)
    assert (calm.priority, calm.risk_flag) == ("normal", False)
    available(client, counsellor)
    assert [o["id"] for o in offers(client, counsellor)] == [urgent.id]


def test_a_risk_phrase_later_in_the_conversation_flags_the_contact(app, client, general):
    send_sms(client, body="hello")
    send_sms(client, body="Estoy pensando en SUICIDE, honestly")
    assert contacts(app)[0].risk_flag is True and contacts(app)[0].priority == "urgent"


def test_risk_phrases_match_words_not_substrings(app, client, general, helpline):
    set_settings(app, helpline, risk_phrases=["quiero morir"])
    send_sms(client, sender="+447700900111", body="QUIERO MORÍR")
    send_sms(client, sender="+447700900222", body="quiero morirme de risa")
    flagged = [c.risk_flag for c in contacts(app)]
    assert flagged == [True, False]


@given(st.text(max_size=80))
def test_risk_words_of_plain_ascii_take_the_short_way_to_the_same_words(text):
    """words() skips Unicode folding for ASCII text: the same tokens as the full path."""
    import unicodedata

    from app.helplines.risk import _WORD, words

    folded = unicodedata.normalize("NFKD", text.casefold())
    full = tuple(_WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch))))
    assert words(text) == full
    ascii_text = text.encode("ascii", "ignore").decode()
    assert words(ascii_text) == tuple(_WORD.findall(unicodedata.normalize("NFKD", ascii_text.casefold())))


def test_queue_position_notice(app, client, general, helpline):
    set_settings(app, helpline, queue_position_notice=True)
    send_sms(client, sender="+447700900111")
    assert twiml_messages(send_sms(client, sender="+447700900222"))[-1] == "You are number 2 in the queue."


def test_transfer_to_a_queue_keeps_the_queued_time_and_the_note(app, client, helpline, general, make_user):
    with app.app_context():
        second_line = routing.create_queue(helpline, "Second line").id
    first, receiver = make_user(helpline), make_user(helpline, skills={"queues": [second_line]})
    available(client, first)
    send_sms(client)
    contact = contacts(app)[0]
    action(client, first, contact.id, "accept")
    available(client, receiver)
    response = action(client, first, contact.id, "transfer", {"queue_id": second_line, "note": "Needs legal advice"})
    assert response.status_code == 200
    [offered] = offers(client, receiver)
    assert offered["id"] == contact.id and offered["transfers"][-1]["note"] == "Needs legal advice"
    action(client, receiver, contact.id, "accept")
    after = contacts(app)[0]
    assert after.queued_at == contact.queued_at and after.queue_id == second_line and after.counsellor_id == receiver.id
    transcript = client.get(f"/api/v1/contacts/{contact.id}/messages", headers=receiver.headers).get_json()["items"]
    assert transcript and transcript[0]["sender"] == "visitor"
    # The first counsellor no longer sees it.
    assert_error(client.get(f"/api/v1/contacts/{contact.id}", headers=first.headers), 404)


def test_transfer_to_a_counsellor_offers_it_to_them(app, client, general, make_user, helpline):
    first, colleague = make_user(helpline), make_user(helpline)
    available(client, first)
    make_idle_order(app, first)
    send_sms(client)
    contact_id = contacts(app)[0].id
    action(client, first, contact_id, "accept")
    assert_error(action(client, first, contact_id, "transfer", {"counsellor_id": colleague.id}), 409, "counsellor_unavailable")
    available(client, colleague)
    response = action(client, first, contact_id, "transfer", {"counsellor_id": colleague.id, "note": "Over to you"})
    assert response.get_json()["status"] == "offered"
    assert [o["id"] for o in offers(client, colleague)] == [contact_id]


@pytest.mark.parametrize("body", [{}, {"queue_id": "a", "counsellor_id": "b"}, {"queue_id": 5}])
def test_transfer_needs_exactly_one_target(app, client, general, counsellor, body):
    available(client, counsellor)
    send_sms(client)
    contact_id = contacts(app)[0].id
    action(client, counsellor, contact_id, "accept")
    assert_error(action(client, counsellor, contact_id, "transfer", body), 422)


def test_supervisor_assigns_within_capacity(app, client, general, supervisor, counsellor):
    send_sms(client, sender="+447700900111")
    send_sms(client, sender="+447700900222")
    first, second = contacts(app)
    response = action(client, supervisor, first.id, "assign", {"counsellor_id": counsellor.id})
    assert response.status_code == 200 and response.get_json()["counsellor_id"] == counsellor.id
    assert_error(action(client, supervisor, second.id, "assign", {"counsellor_id": counsellor.id}), 409, "counsellor_at_capacity")
    assert_error(action(client, counsellor, second.id, "assign", {"counsellor_id": counsellor.id}), 403)


def test_availability_break_sends_offers_back(app, client, general, make_user, helpline):
    first, second = make_user(helpline), make_user(helpline)
    available(client, first)
    send_sms(client)
    client.put("/api/v1/me/availability", json={"status": "break"}, headers=first.headers)
    assert offers(client, first) == []
    available(client, second)
    assert len(offers(client, second)) == 1
    assert_error(client.put("/api/v1/me/availability", json={"status": "asleep"}, headers=first.headers), 422)


def test_managers_and_admins_do_not_route(client, manager, admin):
    assert_error(client.put("/api/v1/me/availability", json={"status": "available"}, headers=manager.headers), 403)
    assert_error(client.get("/api/v1/me/offers", headers=admin.headers), 403)


def test_queue_crud_and_status(app, client, admin, supervisor, counsellor, helpline):
    response = client.post("/api/v1/queues", json={"name": "Chat", "channels": ["chat", "web"], "priority": 2,
                                                   "offer_timeout_s": 45}, headers=admin.headers)
    assert response.status_code == 201
    queue = response.get_json()
    assert_error(client.post("/api/v1/queues", json={"name": "Chat"}, headers=admin.headers), 409)
    assert_error(client.post("/api/v1/queues", json={"name": "X", "channels": ["pigeon"]}, headers=admin.headers), 422)
    assert_error(client.post("/api/v1/queues", json={"name": "X"}, headers=counsellor.headers), 403)
    patched = client.patch(f"/api/v1/queues/{queue['id']}", json={"priority": 3}, headers=supervisor.headers)
    assert patched.get_json()["priority"] == 3
    client.post("/webchat/main/sessions", json={})
    status = client.get("/api/v1/queues/status", headers=supervisor.headers).get_json()["items"]
    [chat] = [s for s in status if s["queue_id"] == queue["id"]]
    assert chat["waiting"] == 1 and chat["offered"] == 0 and chat["counsellors_available"] == 0
    assert_error(client.delete(f"/api/v1/queues/{queue['id']}", headers=admin.headers), 409, "queue_not_empty")
    update_contact(app, contacts(app)[0].id, status="abandoned", ended_at=utcnow())
    assert client.delete(f"/api/v1/queues/{queue['id']}", headers=admin.headers).status_code == 204
    assert_error(client.get(f"/api/v1/queues/{queue['id']}", headers=admin.headers), 404)


def test_another_helplines_queue_is_404(client, admin, make_helpline, make_user):
    other_admin = make_user(make_helpline(), "admin")
    queue = client.post("/api/v1/queues", json={"name": "Theirs"}, headers=other_admin.headers).get_json()
    assert_error(client.get(f"/api/v1/queues/{queue['id']}", headers=admin.headers), 404)
    assert_error(client.patch(f"/api/v1/queues/{queue['id']}", json={"priority": 1}, headers=admin.headers), 404)


def test_web_visitor_leaving_an_active_chat_frees_the_counsellor(app, client, general, counsellor):
    available(client, counsellor)
    session = client.post("/webchat/main/sessions", json={}).get_json()
    contact_id = contacts(app)[0].id
    action(client, counsellor, contact_id, "accept")
    client.post(f"/webchat/sessions/{session['session_id']}/end", headers={"Authorization": f"Bearer {session['token']}"})
    assert contacts(app)[0].status == "wrapup"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(Assignment.ended_at.is_(None))) == 0


def test_queue_positions_at_once_match_each_contacts_own_place(app, ctx, helpline, make_helpline, general):
    """The relay's one-query places (every watching visitor at once) equal queue_position's, one by
    one: urgent first, ties counted ahead, offered contacts placed but not counted, queues and
    helplines kept apart, contacts with no queue in a line of their own."""
    from app.contacts.models import Contact

    other_helpline = make_helpline()
    other_queue = routing.create_queue(helpline, "Other").id
    start = utcnow() - timedelta(hours=1)
    layout = [  # (helpline, queue, status, priority, minutes after start)
        (helpline, general, "queued", "normal", 1), (helpline, general, "queued", "urgent", 5),
        (helpline, general, "queued", "normal", 3), (helpline, general, "queued", "normal", 3),  # a tie
        (helpline, general, "offered", "normal", 2), (helpline, general, "offered", "urgent", 9),
        (helpline, general, "queued", "urgent", 7), (helpline, general, "active", "normal", 0),
        (helpline, other_queue, "queued", "normal", 4), (helpline, other_queue, "queued", "normal", 8),
        (helpline, None, "queued", "normal", 6), (helpline, None, "offered", "normal", 7),
        (other_helpline, None, "queued", "urgent", 0), (other_helpline, None, "queued", "normal", 2),
    ]
    made = []
    for n, (helpline_id, queue_id, status, priority, minutes) in enumerate(layout):
        contact = Contact(helpline_id=helpline_id, channel="sms", status=status, queue_id=queue_id,
                          priority=priority, thread_key=f"thread-{n}",
                          queued_at=start + timedelta(minutes=minutes))
        db.session.add(contact)
        made.append(contact)
    db.session.commit()

    places = routing.queue_positions([c.id for c in made])

    expected = {c.id: routing.queue_position(c.helpline_id, c.queue_id, c.priority, c.queued_at, c.id)
                for c in made if c.status in ("queued", "offered")}
    assert places == expected
    assert places[made[1].id] == 1 and places[made[6].id] == 2 and places[made[0].id] == 3  # urgent first
    assert places[made[2].id] == places[made[3].id] == 5  # a tie: each counts the other ahead
    assert made[7].id not in places  # active: no place
