"""GET/PATCH /api/v1/helpline: settings merge, validation, the write-only Twilio token."""
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.helplines.settings import DEFAULT_SETTINGS
from tests.helpers import assert_error

TOKEN = "f00dfacef00dfacef00dfacef00dface"


def test_get_shows_effective_settings(client, admin):
    body = client.get("/api/v1/helpline", headers=admin.headers).get_json()
    assert body["code"] == "main" and body["timezone"] == "Europe/London"
    assert body["settings"] == DEFAULT_SETTINGS
    assert body["settings"]["operating_hours"] is None  # always open by default
    assert body["twilio_auth_token_set"] is True  # the fixture helpline has Twilio credentials


def test_twilio_auth_token_is_write_only_and_encrypted_at_rest(app, client, admin):
    response = client.patch(
        "/api/v1/helpline",
        json={"twilio_account_sid": "AC" + "a" * 32, "twilio_auth_token": TOKEN},
        headers=admin.headers,
    )
    assert response.status_code == 200
    assert TOKEN not in response.get_data(as_text=True)
    assert response.get_json()["twilio_auth_token_set"] is True
    assert TOKEN not in client.get("/api/v1/helpline", headers=admin.headers).get_data(as_text=True)
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT twilio_auth_token FROM helplines")).scalar_one()
        from app.helplines.models import Helpline

        assert raw != TOKEN and TOKEN not in raw
        assert db.session.scalars(sa.select(Helpline)).one().twilio_auth_token == TOKEN


def test_settings_patch_merges_top_level_keys(client, admin):
    first = {"min_cell": 7, "messages": {"closed": "We open at 8."}, "holidays": {"2026-12-25": "Christmas"}}
    client.patch("/api/v1/helpline", json={"settings": first}, headers=admin.headers)
    response = client.patch("/api/v1/helpline", json={"settings": {"holidays": {"2027-01-01": "New year"}}},
                            headers=admin.headers)
    settings = response.get_json()["settings"]
    assert settings["min_cell"] == 7  # not given: stays
    assert settings["holidays"] == {"2027-01-01": "New year"}  # given: replaced
    assert settings["messages"]["closed"] == "We open at 8."
    assert settings["messages"]["blocked"] == DEFAULT_SETTINGS["messages"]["blocked"]


def test_operating_hours_round_trip(client, admin):
    hours = {"default": {"mon": [["08:00", "12:00"], ["13:00", "24:00"]], "sun": []}, "sms": {"sat": [["10:00", "14:00"]]}}
    response = client.patch("/api/v1/helpline", json={"settings": {"operating_hours": hours}}, headers=admin.headers)
    assert response.get_json()["settings"]["operating_hours"] == hours
    response = client.patch("/api/v1/helpline", json={"settings": {"operating_hours": None}}, headers=admin.headers)
    assert response.get_json()["settings"]["operating_hours"] is None


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"min_cell": 2}, "min_cell"),
        ({"min_cell": "5"}, "min_cell"),
        ({"operating_hours": {"default": {"mon": [["20:00", "08:00"]]}}}, "operating_hours"),
        ({"operating_hours": {"default": {"funday": []}}}, "operating_hours"),
        ({"operating_hours": {"carrier_pigeon": {}}}, "operating_hours"),
        ({"operating_hours": {"default": {"mon": [["8am", "5pm"]]}}}, "operating_hours"),
        ({"operating_hours": []}, "operating_hours"),
        ({"holidays": {"25/12/2026": "Christmas"}}, "holidays"),
        ({"messages": {"closed": ""}}, "messages"),
        ({"messages": {"shouting": "HELLO"}}, "messages"),
        ({"age_bands": [[0, 9], [9, 12]]}, "age_bands"),
        ({"age_bands": [[0, 30]]}, "age_bands"),
        ({"queue_timeout_min": 0}, "queue_timeout_min"),
        ({"pre_survey": {"questions": []}}, "pre_survey"),
        ({"webchat_origins": ["https://example.org/path"]}, "webchat_origins"),
        ({"risk_phrases": "suicide"}, "risk_phrases"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_wrong_settings_are_422_naming_the_key_and_change_nothing(client, admin, settings, key):
    before = client.get("/api/v1/helpline", headers=admin.headers).get_json()
    error = assert_error(
        client.patch("/api/v1/helpline", json={"settings": settings, "name": "Changed"}, headers=admin.headers), 422
    )
    assert key in error["details"]["settings"], error
    assert client.get("/api/v1/helpline", headers=admin.headers).get_json() == before


@pytest.mark.parametrize(
    "body, field",
    [({"timezone": "Mars/Olympus"}, "timezone"), ({"twilio_account_sid": "XX123"}, "twilio_account_sid"),
     ({"name": ""}, "name"), ({"code": "new"}, "code")],
)
def test_wrong_helpline_fields_are_422(client, admin, body, field):
    assert field in assert_error(client.patch("/api/v1/helpline", json=body, headers=admin.headers), 422)["details"]


def test_an_admin_sees_only_their_own_helpline(client, admin, make_helpline, make_user):
    other_admin = make_user(make_helpline("other", name="Other"), "admin")
    client.patch("/api/v1/helpline", json={"name": "Renamed"}, headers=other_admin.headers)
    assert client.get("/api/v1/helpline", headers=admin.headers).get_json()["name"] == "Main Helpline"
