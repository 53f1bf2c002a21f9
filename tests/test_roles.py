"""Each role against each route of the foundation."""
import pytest

from tests.helpers import assert_error

ROUTES = [
    ("get", "/api/v1/helpline", None),
    ("patch", "/api/v1/helpline", {"name": "Renamed"}),
    ("get", "/api/v1/users", None),
    ("post", "/api/v1/users", {"email": "someone@example.org", "role": "counsellor"}),
]
# Which roles each route lets through.
ALLOWED = {
    ("get", "/api/v1/helpline"): {"admin"},
    ("patch", "/api/v1/helpline"): {"admin"},
    ("get", "/api/v1/users"): {"admin", "supervisor"},
    ("post", "/api/v1/users"): {"admin"},
}


@pytest.mark.parametrize("role", ["counsellor", "supervisor", "manager", "admin"])
@pytest.mark.parametrize("method, path, body", ROUTES)
def test_role_matrix(client, make_user, helpline, role, method, path, body):
    actor = make_user(helpline, role)
    response = getattr(client, method)(path, json=body, headers=actor.headers)
    if role in ALLOWED[(method, path)]:
        assert response.status_code in (200, 201), response.get_json()
    else:
        assert_error(response, 403, "forbidden")


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_forbidden_check_comes_before_validation(client, counsellor, method, path, body):
    # A counsellor learns nothing about an admin route's schema from its errors.
    response = getattr(client, method)(path, json={"bogus": 1}, headers=counsellor.headers)
    if method != "get":
        assert_error(response, 403)


@pytest.mark.parametrize("role", ["counsellor", "supervisor", "manager", "admin"])
def test_everyone_sees_themselves(client, make_user, helpline, role):
    actor = make_user(helpline, role)
    assert client.get("/api/v1/me", headers=actor.headers).get_json()["role"] == role


def test_manager_cannot_patch_users(client, manager, counsellor):
    assert_error(client.patch(f"/api/v1/users/{counsellor.id}", json={"capacity": {}}, headers=manager.headers), 403)
