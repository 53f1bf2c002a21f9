"""One error shape for every failure, and bad input never changes anything."""
import json

from tests.helpers import assert_error


def test_unknown_route_is_404_in_the_contract_shape(client, admin):
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.get("/api/v1/nowhere", headers=admin.headers), 404, "not_found")


def test_wrong_method_is_405_with_allow(client, admin):
    response = client.delete("/api/v1/helpline", headers=admin.headers)
    assert_error(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["Allow"]


def test_bodies_over_one_mebibyte_are_413(client, admin):
    huge = json.dumps({"name": "x" * (1024 * 1024 + 10)})
    response = client.patch("/api/v1/helpline", data=huge, content_type="application/json", headers=admin.headers)
    assert_error(response, 413, "payload_too_large")
    assert client.get("/api/v1/helpline", headers=admin.headers).get_json()["name"] == "Main Helpline"


def test_login_with_huge_body_is_413(client):
    huge = json.dumps({"email": "a@b.org", "password": "x" * (2 * 1024 * 1024)})
    assert_error(client.post("/api/v1/auth/login", data=huge, content_type="application/json"), 413)


def test_json_routes_refuse_other_content_types_with_415(client, admin):
    response = client.patch("/api/v1/helpline", data="name=Changed", content_type="application/x-www-form-urlencoded",
                            headers=admin.headers)
    assert_error(response, 415, "unsupported_media_type")
    assert_error(client.post("/api/v1/auth/login", data="email=a&password=b",
                             content_type="application/x-www-form-urlencoded"), 415)


def test_malformed_json_is_400(client, admin):
    response = client.patch("/api/v1/helpline", data='{"name": ', content_type="application/json", headers=admin.headers)
    assert_error(response, 400, "malformed_body")
    assert_error(client.post("/api/v1/auth/login", data=b"\xff\xfe", content_type="application/json"), 400)


def test_a_json_body_that_is_not_an_object_is_422(client, admin):
    response = client.patch("/api/v1/helpline", json=["name", "x"], headers=admin.headers)
    assert_error(response, 422, "validation_error")


def test_responses_carry_a_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    # An id that could smuggle anything into the logs is replaced.
    assert client.get("/healthz", headers={"X-Request-ID": "a b;c=\"d\""}).headers["X-Request-ID"] != "a b;c=\"d\""


def test_unexpected_errors_are_500_in_the_contract_shape(app, client, admin, monkeypatch):
    from app.helplines import service

    def explode(helpline):
        raise RuntimeError("boom with secret detail")

    monkeypatch.setattr(service, "serialise_helpline", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = client.get("/api/v1/helpline", headers=admin.headers)
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    error = assert_error(response, 500, "internal_error")
    assert "secret detail" not in error["message"]
