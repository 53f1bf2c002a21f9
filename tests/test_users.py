"""Users: admin CRUD, supervisors' capacity and skills, tenancy."""
import pytest

from tests.helpers import assert_error


def test_admin_creates_a_user_who_can_log_in(client, admin):
    response = client.post(
        "/api/v1/users",
        json={"email": "New.Counsellor@Example.org", "role": "counsellor", "name": "Ana", "password": "a long password",
              "capacity": {"sms": 2, "total": 3}, "skills": {"languages": ["en", "fr"]}},
        headers=admin.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "new.counsellor@example.org"
    assert body["capacity"] == {"sms": 2, "total": 3}
    assert body["helpline_id"] == admin.helpline_id
    assert "password" not in body
    login = client.post("/api/v1/auth/login", json={"email": "new.counsellor@example.org", "password": "a long password"})
    assert login.status_code == 201


def test_duplicate_email_is_409_even_across_helplines(client, admin, make_helpline, make_user):
    other = make_user(make_helpline(), email="taken@example.org")
    response = client.post("/api/v1/users", json={"email": other.email, "role": "counsellor"}, headers=admin.headers)
    assert_error(response, 409, "email_taken")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "x@example.org", "role": "boss"}, "role"),
        ({"email": "not an email", "role": "counsellor"}, "email"),
        ({"role": "counsellor"}, "email"),
        ({"email": "x@example.org", "role": "counsellor", "password": "short"}, "password"),
        ({"email": "x@example.org", "role": "counsellor", "capacity": {"pigeon": 1}}, "capacity"),
        ({"email": "x@example.org", "role": "counsellor", "capacity": {"sms": "3"}}, "capacity"),
        ({"email": "x@example.org", "role": "counsellor", "capacity": {"sms": -1}}, "capacity"),
        ({"email": "x@example.org", "role": "counsellor", "skills": {"queues": ["no-such-queue"]}}, "skills"),
        ({"email": "x@example.org", "role": "counsellor", "is_root": True}, "is_root"),
    ],
)
def test_invalid_users_are_422_naming_the_field_and_store_nothing(client, admin, body, field):
    error = assert_error(client.post("/api/v1/users", json=body, headers=admin.headers), 422, "validation_error")
    assert field in error["details"]
    listed = client.get("/api/v1/users", headers=admin.headers).get_json()["items"]
    assert [u["id"] for u in listed] == [admin.id]


def test_list_is_paginated_with_cursors(client, admin, make_user, helpline, make_helpline):
    ids = [admin.id] + [make_user(helpline).id for _ in range(4)]
    make_user(make_helpline())  # another helpline's user never shows
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/users", query_string=query, headers=admin.headers).get_json()
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_list_limits_and_cursors_are_validated(client, admin):
    assert "limit" in assert_error(client.get("/api/v1/users?limit=501", headers=admin.headers), 422)["details"]
    assert "limit" in assert_error(client.get("/api/v1/users?limit=zero", headers=admin.headers), 422)["details"]
    assert "cursor" in assert_error(client.get("/api/v1/users?cursor=%%%", headers=admin.headers), 422)["details"]


def test_another_helplines_user_is_404_never_403(client, admin, make_helpline, make_user):
    stranger = make_user(make_helpline())
    assert_error(client.get(f"/api/v1/users/{stranger.id}", headers=admin.headers), 404, "not_found")
    assert_error(client.patch(f"/api/v1/users/{stranger.id}", json={"name": "x"}, headers=admin.headers), 404)


def test_supervisor_sets_capacity_and_skills_but_nothing_else(client, supervisor, counsellor):
    response = client.patch(
        f"/api/v1/users/{counsellor.id}", json={"capacity": {"chat": 3}, "skills": {"languages": ["sw"]}},
        headers=supervisor.headers,
    )
    assert response.status_code == 200
    assert response.get_json()["capacity"] == {"chat": 3}
    error = assert_error(
        client.patch(f"/api/v1/users/{counsellor.id}", json={"role": "admin"}, headers=supervisor.headers), 403
    )
    assert error["details"]["fields"] == ["role"]
    assert client.get(f"/api/v1/users/{counsellor.id}", headers=supervisor.headers).get_json()["role"] == "counsellor"


def test_admin_changes_role_name_and_password(client, admin, counsellor):
    response = client.patch(
        f"/api/v1/users/{counsellor.id}", json={"role": "supervisor", "name": "Sam", "password": "brand new password"},
        headers=admin.headers,
    )
    assert response.status_code == 200
    assert response.get_json()["role"] == "supervisor"
    login = client.post("/api/v1/auth/login", json={"email": counsellor.email, "password": "brand new password"})
    assert login.status_code == 201
