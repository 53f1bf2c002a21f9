"""Login, logout, bearer tokens and the login rate limit."""
from datetime import timedelta

import sqlalchemy as sa

from app.auth import service
from app.auth.models import ApiToken
from app.core.time import utcnow
from app.extensions import db
from tests.conftest import PASSWORD
from tests.helpers import assert_error


def login(client, email, password=PASSWORD, **kwargs):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password}, **kwargs)


def test_login_gives_a_working_token(client, counsellor):
    response = login(client, counsellor.email.upper())  # emails are case-insensitive
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"]["id"] == counsellor.id and body["user"]["role"] == "counsellor"
    assert "password" not in body["user"] and "password_hash" not in body["user"]
    assert "+00:00" in body["expires_at"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == counsellor.email


def test_only_a_hash_of_the_token_is_stored(app, client, counsellor):
    token = login(client, counsellor.email).get_json()["token"]
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert token not in stored
    assert service.hash_token(token) in stored


def test_wrong_password_and_unknown_email_look_the_same(client, counsellor):
    wrong = assert_error(login(client, counsellor.email, "not the password"), 401, "invalid_credentials")
    unknown = assert_error(login(client, "nobody@example.org"), 401, "invalid_credentials")
    assert wrong["message"] == unknown["message"]


def test_deactivated_user_cannot_log_in(app, client, admin, counsellor):
    client.patch(f"/api/v1/users/{counsellor.id}", json={"active": False}, headers=admin.headers)
    assert_error(login(client, counsellor.email), 401, "invalid_credentials")
    # ...and the tokens it had stop working at once.
    assert_error(client.get("/api/v1/me", headers=counsellor.headers), 401, "invalid_token")


def test_login_validates_its_body(client):
    error = assert_error(client.post("/api/v1/auth/login", json={"email": "a@b.org"}), 422, "validation_error")
    assert "password" in error["details"]
    error = assert_error(client.post("/api/v1/auth/login", json={"email": 5, "password": []}), 422)
    assert set(error["details"]) == {"email", "password"}


def test_missing_malformed_and_unknown_tokens_are_401(client, counsellor):
    assert_error(client.get("/api/v1/me"), 401, "missing_token")
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401, "missing_token")
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer "}), 401, "missing_token")
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer hlt_forged"}), 401, "invalid_token")
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer " + "x" * 5000}), 401, "invalid_token")


def test_logout_revokes_the_token_in_use_only(client, counsellor):
    other = login(client, counsellor.email).get_json()["token"]
    assert client.post("/api/v1/auth/logout", headers=counsellor.headers).status_code == 204
    assert_error(client.get("/api/v1/me", headers=counsellor.headers), 401, "invalid_token")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_expired_token_is_401(app, client, counsellor):
    with app.app_context():
        db.session.execute(sa.update(ApiToken).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    assert_error(client.get("/api/v1/me", headers=counsellor.headers), 401, "invalid_token")


def test_five_failures_lock_that_email_from_that_address(client, counsellor, make_user, helpline):
    for _ in range(5):
        assert login(client, counsellor.email, "wrong password").status_code == 401
    # Even the right password is refused now, with Retry-After.
    response = login(client, counsellor.email)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    # Another email from the same address, and the same email from another address, still work.
    colleague = make_user(helpline)
    assert login(client, colleague.email).status_code == 201
    assert login(client, counsellor.email, environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 201


def test_successful_logins_do_not_count_towards_the_limit(client, counsellor):
    for _ in range(8):
        assert login(client, counsellor.email).status_code == 201


def test_me_shows_role_helpline_availability_capacity_and_skills(client, counsellor):
    body = client.get("/api/v1/me", headers=counsellor.headers).get_json()
    assert body["role"] == "counsellor"
    assert body["helpline"]["code"] == "main"
    assert body["availability"] == "offline"
    assert body["capacity"] == {} and body["skills"] == {}
    assert "password_hash" not in body


def test_purge_job_deletes_long_expired_tokens(app, ctx, counsellor):
    user = service.find_user_by_email(counsellor.email)
    service.issue_token(user, timedelta(days=-8))
    assert service.purge_expired_tokens() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 1
