"""Permission rules: the API, each condition, and the engine agreeing with its own SQL filter."""
import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.auth.models import User
from app.contacts.models import Contact
from app.core.time import utcnow
from app.extensions import db
from app.permissions import engine
from app.permissions.rules import DEFAULT_RULES, effective_rules
from app.profiles.models import Profile
from tests.channel_helpers import contacts, send_sms, update_contact
from tests.helpers import assert_error


def test_rules_api_defaults_put_and_validation(client, admin, supervisor):
    rules = client.get("/api/v1/helpline/permissions", headers=admin.headers).get_json()
    assert rules == DEFAULT_RULES
    new = {"view_contact": [["everyone"]], "edit_contact": [["is_owner", {"created_within_days": 2}]]}
    response = client.put("/api/v1/helpline/permissions", json=new, headers=admin.headers)
    assert response.status_code == 200
    assert response.get_json()["view_contact"] == [["everyone"]]
    assert response.get_json()["view_case"] == DEFAULT_RULES["view_case"]
    for bad, key in [({"eat_cake": [["everyone"]]}, "eat_cake"), ({"view_contact": [["is_wizard"]]}, "view_contact"),
                     ({"view_contact": ["everyone"]}, "view_contact"),
                     ({"view_contact": [[{"created_within_hours": -1}]]}, "view_contact"),
                     ({"view_contact": [[{"created_within_weeks": 1}]]}, "view_contact")]:
        assert key in assert_error(client.put("/api/v1/helpline/permissions", json=bad, headers=admin.headers), 422)["details"]
    assert client.get("/api/v1/helpline/permissions", headers=admin.headers).get_json()["view_contact"] == [["everyone"]]
    assert_error(client.get("/api/v1/helpline/permissions", headers=supervisor.headers), 403)


def _contact_of(app, client, sender, counsellor_id, age_hours=0):
    send_sms(client, sender=sender)
    contact = contacts(app)[-1]
    update_contact(app, contact.id, status="wrapup", ended_at=utcnow(), counsellor_id=counsellor_id,
                   created_at=utcnow() - timedelta(hours=age_hours))
    return contact.id


def test_default_rules_for_counsellors(app, client, helpline, counsellor, make_user):
    mine = _contact_of(app, client, "+447700900111", counsellor.id)
    old_mine = _contact_of(app, client, "+447700900222", counsellor.id, age_hours=30)
    theirs = _contact_of(app, client, "+447700900333", make_user(helpline).id)
    get = lambda cid: client.get(f"/api/v1/contacts/{cid}", headers=counsellor.headers)
    patch = lambda cid: client.patch(f"/api/v1/contacts/{cid}", json={"form": {"call_type": "silent"}}, headers=counsellor.headers)
    assert get(mine).status_code == 200 and get(old_mine).status_code == 200
    assert_error(get(theirs), 404)
    assert patch(mine).status_code == 200
    assert_error(patch(old_mine), 403)  # edit only within 24 hours of creation
    assert_error(patch(theirs), 404)


@pytest.mark.parametrize(
    "rules, visible",
    [
        ({"view_contact": [["everyone"]]}, {"mine", "theirs", "old"}),
        ({"view_contact": [["nobody"]]}, set()),
        ({"view_contact": [["is_owner"]]}, {"mine", "old"}),
        ({"view_contact": [[{"created_within_hours": 24}]]}, {"mine", "theirs"}),
        ({"view_contact": [[{"created_within_days": 2}]]}, {"mine", "theirs", "old"}),
        ({"view_contact": [["is_owner", {"created_within_hours": 24}]]}, {"mine"}),
        ({"view_contact": [["is_supervisor"], ["is_case_owner"], ["is_case_open"], ["is_case_contact_owner"]]}, set()),
    ],
)
def test_each_condition_through_http(app, client, helpline, admin, counsellor, make_user, rules, visible):
    ids = {"mine": _contact_of(app, client, "+447700900111", counsellor.id),
           "old": _contact_of(app, client, "+447700900222", counsellor.id, age_hours=30),
           "theirs": _contact_of(app, client, "+447700900333", make_user(helpline).id)}
    client.put("/api/v1/helpline/permissions", json=rules, headers=admin.headers)
    seen = {name for name, cid in ids.items()
            if client.get(f"/api/v1/contacts/{cid}", headers=counsellor.headers).status_code == 200}
    assert seen == visible
    listed = {c["id"] for c in client.get("/api/v1/contacts", headers=counsellor.headers).get_json()["items"]}
    assert listed == {ids[name] for name in visible}


CONDITIONS = ["everyone", "nobody", "is_supervisor", "is_owner", "is_case_owner", "is_case_open", "is_case_contact_owner",
              {"created_within_hours": 24}, {"created_within_days": 2}]


def rule_sets():
    """Every single condition, every pair ANDed, and pairs of single sets ORed."""
    for c in CONDITIONS:
        yield [[c]]
    for a, b in itertools.combinations(CONDITIONS, 2):
        yield [[a, b]]
        yield [[a], [b]]
    yield []


def test_the_engine_and_its_sql_filter_agree_on_every_rule_set(app, client, helpline, counsellor, supervisor, make_user):
    from app.cases.models import Case

    other = make_user(helpline)
    ids = [_contact_of(app, client, f"+44770090{n:04d}", owner, age_hours=age)
           for n, (owner, age) in enumerate([(counsellor.id, 0), (counsellor.id, 30), (other.id, 0), (other.id, 60), (None, 1)])]
    # Cases: mine and open holding someone else's contact; theirs and closed holding mine; theirs, open, empty, old.
    with app.app_context():
        now = utcnow()
        cases = [Case(helpline_id=helpline, status="open", counsellor_id=counsellor.id, created_at=now),
                 Case(helpline_id=helpline, status="closed", counsellor_id=other.id, created_at=now - timedelta(hours=30)),
                 Case(helpline_id=helpline, status="in_progress", counsellor_id=other.id, created_at=now - timedelta(days=3))]
        db.session.add_all(cases)
        db.session.flush()
        db.session.execute(sa.update(Contact).where(Contact.id == ids[2]).values(case_id=cases[0].id))
        db.session.execute(sa.update(Contact).where(Contact.id == ids[0]).values(case_id=cases[1].id))
        db.session.commit()
    with app.app_context():
        users = [db.session.get(User, counsellor.id), db.session.get(User, supervisor.id)]
        records = {"view_contact": (Contact, list(db.session.scalars(sa.select(Contact)))),
                   "view_case": (Case, list(db.session.scalars(sa.select(Case)))),
                   "view_profile": (Profile, list(db.session.scalars(sa.select(Profile))))}
        checked = 0
        for condition_sets in rule_sets():
            for action, (model, rows) in records.items():
                rules = effective_rules({action: condition_sets})
                for user in users:
                    by_python = {r.id for r in rows if engine.allowed(user, rules, action, r)}
                    by_sql = set(db.session.scalars(sa.select(model.id).where(
                        model.helpline_id == helpline, engine.sql_filter(user, rules, action, model))))
                    assert by_python == by_sql, (action, condition_sets, user.role)
                    checked += 1
        assert checked == 3 * 2 * len(list(rule_sets()))


def test_users_with_one_decision_key_get_one_answer_on_every_rule_set(app, client, helpline, counsellor, supervisor,
                                                                       make_user):
    """A live event's permission check is worked out once per decision key: the key must never
    join two users whom the engine would answer differently."""
    from app.cases.models import Case

    other, second_supervisor = make_user(helpline), make_user(helpline, "supervisor")
    manager, third = make_user(helpline, "manager"), make_user(helpline)
    ids = [_contact_of(app, client, f"+44770091{n:04d}", owner, age_hours=age)
           for n, (owner, age) in enumerate([(counsellor.id, 0), (counsellor.id, 30), (other.id, 0), (None, 1),
                                             (supervisor.id, 0)])]
    with app.app_context():
        case = Case(helpline_id=helpline, status="open", counsellor_id=other.id, created_at=utcnow())
        db.session.add(case)
        db.session.flush()
        # In other's case: a contact of the counsellor's, so is_case_contact_owner tells the counsellor
        # from `third`, who owns nothing.
        db.session.execute(sa.update(Contact).where(Contact.id.in_([ids[0], ids[2]])).values(case_id=case.id))
        db.session.commit()
    with app.app_context():
        users = [db.session.get(User, actor.id) for actor in (counsellor, other, third, supervisor, second_supervisor,
                                                                  manager)]
        records = list(db.session.scalars(sa.select(Contact))) + list(db.session.scalars(sa.select(Case)))
        shared = 0
        for condition_sets in rule_sets():
            rules = effective_rules({"view_contact": condition_sets, "view_case": condition_sets})
            for record in records:
                actions = ("view_contact",) if isinstance(record, Contact) else ("view_case",)
                answers: dict[tuple, set] = {}
                for user in users:
                    key = engine.decision_keyer(rules, actions)(user, record)
                    answers.setdefault(key, set()).add(engine.allowed(user, rules, actions[0], record))
                assert all(len(found) == 1 for found in answers.values()), (condition_sets, record.id)
                shared += len(answers) < len(users)
        assert shared  # the key does join users (both supervisors, at least)


def test_profiles_flags_and_their_permissions(app, client, helpline, counsellor, supervisor):
    profile_contact = _contact_of(app, client, "+447700900111", counsellor.id)
    profile_id = contacts(app)[0].profile_id
    body = client.get(f"/api/v1/profiles/{profile_id}", headers=counsellor.headers).get_json()
    assert body["identifier"] == "+44*******111" and body["contacts"] == 1 and body["flags"] == []
    assert_error(client.post(f"/api/v1/profiles/{profile_id}/flags", json={"flag": "blocked"}, headers=counsellor.headers), 403)
    until = (utcnow() + timedelta(days=1)).isoformat()
    response = client.post(f"/api/v1/profiles/{profile_id}/flags", json={"flag": "blocked", "until": until},
                           headers=supervisor.headers)
    assert response.status_code == 201 and response.get_json()["flags"][0]["active"] is True
    from tests.channel_helpers import twiml_messages

    assert twiml_messages(send_sms(client, sender="+447700900111")) == ["We cannot take your message."]
    assert_error(client.post(f"/api/v1/profiles/{profile_id}/flags", json={"flag": "naughty"}, headers=supervisor.headers), 422)
    past = (utcnow() - timedelta(days=1)).isoformat()
    assert_error(client.post(f"/api/v1/profiles/{profile_id}/flags", json={"flag": "abusive", "until": past},
                             headers=supervisor.headers), 422)
    assert client.delete(f"/api/v1/profiles/{profile_id}/flags/blocked", headers=supervisor.headers).status_code == 200
    assert_error(client.delete(f"/api/v1/profiles/{profile_id}/flags/blocked", headers=supervisor.headers), 404)
    events = client.get("/api/v1/audit", query_string={"record_type": "profile"}, headers=supervisor.headers).get_json()["items"]
    assert {e["action"] for e in events} >= {"read", "flag", "unflag"}
    assert profile_contact


def test_expired_flags_are_cleaned_by_the_scheduler(app, client, helpline, supervisor):
    from app.profiles.jobs import purge_expired_flags_job
    from app.profiles.models import ProfileFlag
    from app.profiles.service import ensure_profile, set_flag

    with app.app_context():
        profile_id = ensure_profile(helpline, "phone:+447700900555", "sms")
        db.session.commit()
        set_flag(profile_id, "abusive", until=utcnow() - timedelta(minutes=1))
        set_flag(profile_id, "blocked")
        assert purge_expired_flags_job() == 1
        assert [f.flag for f in db.session.scalars(sa.select(ProfileFlag))] == ["blocked"]
