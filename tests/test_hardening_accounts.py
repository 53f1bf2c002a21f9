"""Security review, accounts: self-escalation, one-time passwords, password strength, token revocation,
user-administration audit, and races decided by unique constraints (review items 3, 9, 23, 25)."""
import threading

import pytest

from tests.conftest import PASSWORD, is_postgres
from tests.helpers import assert_error

STRONG = "violet kettle marathon 42"


def _login(client, email, password):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_cannot_change_its_own_role(client, admin):
    error = assert_error(client.patch(f"/api/v1/users/{admin.id}", json={"role": "supervisor"}, headers=admin.headers),
                         403, "own_role")
    assert "own role" in error["message"]
    assert client.get("/api/v1/me", headers=admin.headers).get_json()["role"] == "admin"


def test_an_admin_cannot_deactivate_itself(client, admin):
    assert_error(client.patch(f"/api/v1/users/{admin.id}", json={"active": False}, headers=admin.headers), 403, "own_account")
    assert client.get("/api/v1/me", headers=admin.headers).status_code == 200


def test_another_admin_can_be_demoted_while_one_admin_remains(client, admin, make_user, helpline):
    other = make_user(helpline, "admin")
    response = client.patch(f"/api/v1/users/{other.id}", json={"role": "counsellor"}, headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["role"] == "counsellor"


def test_a_new_role_revokes_the_users_tokens(client, admin, counsellor):
    assert client.get("/api/v1/me", headers=counsellor.headers).status_code == 200
    client.patch(f"/api/v1/users/{counsellor.id}", json={"role": "supervisor"}, headers=admin.headers)
    assert_error(client.get("/api/v1/me", headers=counsellor.headers), 401, "invalid_token")


def test_a_password_set_by_an_admin_is_one_time(client, admin, counsellor):
    response = client.patch(f"/api/v1/users/{counsellor.id}", json={"password": STRONG}, headers=admin.headers)
    assert response.status_code == 200 and response.get_json()["must_change_password"] is True
    # The admin cannot now act as the counsellor unseen: their sessions ended, and the new password
    # opens only the change-password route.
    assert_error(client.get("/api/v1/me", headers=counsellor.headers), 401)
    token = _login(client, counsellor.email, STRONG).get_json()["token"]
    assert_error(client.get("/api/v1/contacts", headers=_bearer(token)), 403, "password_change_required")
    assert_error(client.get("/api/v1/me/offers", headers=_bearer(token)), 403, "password_change_required")
    assert client.get("/api/v1/me", headers=_bearer(token)).get_json()["must_change_password"] is True
    changed = client.post("/api/v1/me/password", json={"current_password": STRONG, "new_password": "quiet lantern orbit 77"},
                          headers=_bearer(token))
    assert changed.status_code == 200 and changed.get_json()["must_change_password"] is False
    assert client.get("/api/v1/contacts", headers=_bearer(token)).status_code == 200


def test_a_user_created_by_an_admin_must_change_the_password(client, admin):
    client.post("/api/v1/users", json={"email": "new@example.org", "role": "counsellor", "password": STRONG},
                headers=admin.headers)
    token = _login(client, "new@example.org", STRONG).get_json()["token"]
    assert_error(client.get("/api/v1/contacts", headers=_bearer(token)), 403, "password_change_required")


def test_changing_ones_password_revokes_ones_other_tokens(client, counsellor):
    other_token = _login(client, counsellor.email, PASSWORD).get_json()["token"]
    response = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": STRONG},
                           headers=counsellor.headers)
    assert response.status_code == 200
    assert_error(client.get("/api/v1/me", headers=_bearer(other_token)), 401)
    assert client.get("/api/v1/me", headers=counsellor.headers).status_code == 200
    assert _login(client, counsellor.email, STRONG).status_code == 201
    assert _login(client, counsellor.email, PASSWORD).status_code == 401


def test_changing_ones_password_needs_the_current_one(client, counsellor):
    assert_error(client.post("/api/v1/me/password", json={"current_password": "not it at all", "new_password": STRONG},
                             headers=counsellor.headers), 403, "wrong_password")
    assert _login(client, counsellor.email, PASSWORD).status_code == 201


@pytest.mark.parametrize("password", ["short pw 1", "password1234", "aaaaaaaaaaaaaaaa", "qwertyuiop123"])
def test_weak_passwords_are_refused_everywhere(client, app, admin, counsellor, password):
    error = assert_error(client.post("/api/v1/users", json={"email": "w@example.org", "role": "counsellor",
                                                            "password": password}, headers=admin.headers), 422)
    assert "password" in error["details"]
    assert_error(client.patch(f"/api/v1/users/{counsellor.id}", json={"password": password}, headers=admin.headers), 422)
    error = assert_error(client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": password},
                                     headers=counsellor.headers), 422)
    assert "new_password" in error["details"]
    result = app.test_cli_runner().invoke(args=["users", "create", "--helpline", "main", "--email", "cli@example.org",
                                          "--role", "counsellor", "--password", password])
    assert result.exit_code != 0 and "password" in result.output.lower()
    assert _login(client, "cli@example.org", password).status_code == 401
    assert _login(client, counsellor.email, PASSWORD).status_code == 201


def test_user_administration_is_audited_by_field(client, admin, supervisor, counsellor):
    client.patch(f"/api/v1/users/{counsellor.id}", json={"capacity": {"sms": 2}}, headers=supervisor.headers)
    client.patch(f"/api/v1/users/{counsellor.id}", json={"password": STRONG, "name": "Ana"}, headers=admin.headers)
    created = client.post("/api/v1/users", json={"email": "a2@example.org", "role": "counsellor"}, headers=admin.headers)
    events = client.get("/api/v1/audit", query_string={"record_type": "user"}, headers=admin.headers).get_json()["items"]
    seen = {(e["user_id"], e["action"], e["record_id"], tuple(e["fields"])) for e in events}
    assert (supervisor.id, "update", counsellor.id, ("capacity",)) in seen
    assert (admin.id, "update", counsellor.id, ("name", "password")) in seen
    assert any(e[:3] == (admin.id, "create", created.get_json()["id"]) for e in seen)
    assert STRONG not in str(events)


def _concurrently(app, n, call):
    """Run `call(i)` in n threads released together; returns their results."""
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        client = app.test_client()
        barrier.wait()
        results[i] = call(client, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def needs_postgres(app):
    if not is_postgres(app):
        pytest.skip("concurrent writers need PostgreSQL; SQLite serialises them")


def test_racing_creations_of_one_email_give_one_user_and_409s(app, admin, needs_postgres):
    statuses = _concurrently(app, 12, lambda c, i: c.post(
        "/api/v1/users", json={"email": "race@example.org", "role": "counsellor"}, headers=admin.headers).status_code)
    assert sorted(statuses) == [201] + [409] * 11


def test_racing_creations_of_one_queue_name_give_one_queue_and_409s(app, admin, needs_postgres):
    statuses = _concurrently(app, 12, lambda c, i: c.post(
        "/api/v1/queues", json={"name": "Racing"}, headers=admin.headers).status_code)
    assert sorted(statuses) == [201] + [409] * 11


def test_racing_helpline_creations_give_one_helpline(app, needs_postgres):
    from app.core.errors import Conflict
    from app.helplines import service

    def create(client, i):
        with app.app_context():
            try:
                service.create_helpline("racing", "Racing")
                return "created"
            except Conflict as error:
                return error.code

    assert sorted(_concurrently(app, 8, create)) == ["created"] + ["helpline_exists"] * 7


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, client, admin, make_user, helpline, needs_postgres):
    other = make_user(helpline, "admin")
    pairs = [(admin, other), (other, admin)]
    statuses = _concurrently(app, 2, lambda c, i: c.patch(
        f"/api/v1/users/{pairs[i][1].id}", json={"role": "counsellor"}, headers=pairs[i][0].headers).status_code)
    assert 200 in statuses and 500 not in statuses
    assert statuses.count(200) == 1
