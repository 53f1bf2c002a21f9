"""Each role against each record route; the database file holds no plaintext; key rotation."""
import pytest
import sqlalchemy as sa

from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, send_sms, update_contact
from tests.conftest import is_postgres
from tests.helpers import rotated_data_key

ROLES = ["counsellor", "supervisor", "manager", "admin"]


@pytest.fixture
def records(app, client, helpline, make_user):
    """A contact and a case owned by one counsellor; each role's user is someone else."""
    owner = make_user(helpline)
    send_sms(client, sender="+447700900123", body="help")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="wrapup", ended_at=utcnow(), counsellor_id=owner.id)
    case = client.post("/api/v1/cases", json={"contacts": [contact.id]}, headers=owner.headers).get_json()
    return {"contact": contact.id, "case": case["id"], "profile": contact.profile_id}


ROUTES = [
    ("get", "/api/v1/contacts", None),
    ("get", "/api/v1/contacts/{contact}", None),
    ("get", "/api/v1/contacts/{contact}/messages", None),
    ("patch", "/api/v1/contacts/{contact}", {"form": {"call_type": "silent"}}),
    ("get", "/api/v1/cases", None),
    ("get", "/api/v1/cases/{case}", None),
    ("post", "/api/v1/cases/{case}/sections/note", {"data": {"text": "x"}}),
    ("get", "/api/v1/profiles/{profile}", None),
    ("get", "/api/v1/audit", None),
    ("get", "/api/v1/helpline/permissions", None),
]
# What each role gets from each route (someone else's records, default rules).
EXPECTED = {
    "counsellor": [200, 404, 404, 404, 200, 404, 404, 404, 403, 403],
    "supervisor": [200, 200, 200, 200, 200, 200, 201, 200, 200, 403],
    "manager": [403, 403, 403, 403, 403, 403, 403, 403, 403, 403],
    "admin": [403, 403, 403, 403, 403, 403, 403, 403, 200, 200],
}


@pytest.mark.parametrize("role", ROLES)
def test_role_against_each_record_route(client, helpline, make_user, records, role):
    actor = make_user(helpline, role)
    got = []
    for method, path, body in ROUTES:
        response = getattr(client, method)(path.format(**records), json=body, headers=actor.headers)
        got.append(response.status_code)
    assert got == EXPECTED[role]


def test_the_sqlite_file_holds_no_childs_name_or_number(app, client, counsellor):
    if is_postgres(app):
        pytest.skip("reads the SQLite file itself")
    send_sms(client, sender="+447700900432", body="my name is Wairimu")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="wrapup", ended_at=utcnow(), counsellor_id=counsellor.id)
    client.patch(f"/api/v1/contacts/{contact.id}", json={"form": {"child": {"first_name": "Wairimu", "phone": "+447700900432"}}},
                 headers=counsellor.headers)
    with app.app_context():
        db.session.execute(sa.text("PRAGMA wal_checkpoint(FULL)"))
        path = db.engine.url.database
    raw = open(path, "rb").read()
    assert b"Wairimu" not in raw and b"7700900432" not in raw


def test_key_rotation_re_encrypts_everything(app, client, counsellor):
    from app.core.crypto import DataCipher
    from app.contacts.models import Message

    send_sms(client, sender="+447700900432", body="rotate me")
    with rotated_data_key(app) as (new_key, rotated):
        assert rotated >= 3  # a message body, the contact's address, the profile identifier...
        during = app.extensions["data_cipher"]
        only_new = DataCipher()
        only_new.configure(new_key, index_key=None)
        app.extensions["data_cipher"] = only_new
        try:
            assert "rotate me" in [m.body for m in db.session.scalars(sa.select(Message))]
        finally:
            app.extensions["data_cipher"] = during
