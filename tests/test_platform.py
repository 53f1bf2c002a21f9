"""Health probes, the OpenAPI document and the docs page."""
import flask_migrate

from app import create_app
from app.extensions import db


def test_healthz_and_readyz(client):
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_until_the_database_is_migrated(tmp_path):
    app = create_app({"APP_CONFIG": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite'}"})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "migrations_pending"
    with app.app_context():
        flask_migrate.upgrade()
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app({"APP_CONFIG": "testing", "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'no.sqlite'}"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "database_unreachable"


def test_openapi_document_is_generated_and_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/login", "/api/v1/me", "/api/v1/helpline", "/api/v1/users", "/api/v1/users/{user_id}",
                 "/healthz", "/readyz", "/api/v1/helpline/permissions", "/api/v1/queues", "/api/v1/queues/status",
                 "/api/v1/me/availability", "/api/v1/me/offers", "/api/v1/contacts", "/api/v1/contacts/{contact_id}",
                 "/api/v1/contacts/{contact_id}/accept", "/api/v1/contacts/{contact_id}/finalize",
                 "/api/v1/contacts/{contact_id}/history", "/api/v1/taxonomy", "/api/v1/cases",
                 "/api/v1/cases/{case_id}/timeline", "/api/v1/profiles/{profile_id}", "/api/v1/audit",
                 "/api/v1/stats/contacts", "/api/v1/stats/operations", "/api/v1/stats/schedules",
                 "/api/v1/stats/exports/{export_id}/download", "/webhooks/{helpline_code}/twilio/messaging",
                 "/webchat/{helpline_code}/sessions", "/webchat/sessions/{session_id}/messages"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/auth/login"]["post"]["security"] == []
    # The error shape is documented as the contract's.
    assert "error" in spec["components"]["schemas"]["Error"]["properties"]


def test_docs_page_is_served(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert "swagger" in response.get_data(as_text=True).lower()
