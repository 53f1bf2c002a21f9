"""The spec documents what the API really does (review item 20)."""
import pytest


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def _schema_of(spec, path, method, status="200"):
    content = spec["paths"][path][method]["responses"][status]
    content = spec["components"]["responses"][content["$ref"].rsplit("/", 1)[1]] if "$ref" in content else content
    return content["content"]["application/json"]["schema"]


def test_probes_and_permission_rules_document_their_bodies(spec):
    for path in ("/healthz", "/readyz"):
        assert "$ref" in _schema_of(spec, path, "get")
    assert "$ref" in _schema_of(spec, "/readyz", "get", "503")
    for method in ("get", "put"):
        assert _schema_of(spec, "/api/v1/helpline/permissions", method)["$ref"].endswith("/PermissionRules")
    rules = spec["components"]["schemas"]["PermissionRules"]["properties"]
    assert {"view_contact", "view_transcript", "flag_profile"} <= set(rules)
    assert "requestBody" in spec["paths"]["/api/v1/helpline/permissions"]["put"]


def test_the_contact_form_has_its_full_shape(spec):
    form = spec["components"]["schemas"]["Contact"]["properties"]["form"]
    assert form.get("$ref", "").endswith("/Form") or any(r["$ref"].endswith("/Form") for r in form.get("allOf", []))
    child = spec["components"]["schemas"]["Child"]["properties"]
    assert set(child["gender"]["enum"]) - {None} == {"girl", "boy", "non_binary", "unknown"}
    assert {"province", "district", "language", "region"} <= set(child)


def test_message_ids_are_typed_and_by_is_an_enumerated_list(spec):
    assert spec["components"]["schemas"]["Message"]["properties"]["id"]["type"] == "string"
    for path, dims in (("/api/v1/stats/contacts", {"month", "category", "age_band", "language"}),
                       ("/api/v1/stats/operations", {"day", "week", "month", "queue", "channel"})):
        [by] = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "by"]
        assert by["schema"]["type"] == "array" and dims <= set(by["schema"]["items"]["enum"])


def test_every_operation_documents_its_error_responses(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = set(operation["responses"])
            assert "503" in codes, (path, method)
            if path.startswith("/api/v1/") and path not in ("/api/v1/auth/login",):
                assert {"401", "403"} <= codes, (path, method)
            if "{" in path:
                assert "404" in codes, (path, method)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= codes, (path, method)
