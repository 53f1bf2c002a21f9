"""Security review, SSRF: export deliveries go to public https addresses only, pinned, never redirected
(review item 1)."""
import pytest
import responses

from app.core import safe_http
from app.extensions import db
from app.stats import exports
from app.stats.models import Export
from tests.conftest import FAKE_DNS, PUBLIC_TEST_ADDRESS
from tests.helpers import assert_error


def schedule(client, manager, url):
    return client.post("/api/v1/stats/schedules", json={
        "name": "Monthly", "report": "contacts", "params": {"by": "month", "period": "previous_month"},
        "cron": "0 6 1 * *", "format": "csv", "deliver_to": url}, headers=manager.headers)


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.5/hook", "https://192.168.1.1/hook", "https://172.16.0.1/hook", "https://100.64.0.1/hook",
    "https://0.0.0.0/hook", "https://224.0.0.1/hook", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook",
    "https://[fe80::1]/hook", "https://[fc00::1]/hook", "https://[2002:7f00:1::]/hook", "https://0x7f000001/hook",
    "https://2130706433/hook", "https://017700000001/hook", "https://user:pw@receiver.example/hook",
    "https://receiver.example@127.0.0.1/hook", "http://receiver.example/hook", "https://private.example/hook",
    "https://nowhere.invalid/hook",
])
def test_non_public_delivery_urls_are_refused_at_creation(client, manager, url):
    FAKE_DNS["private.example"] = [PUBLIC_TEST_ADDRESS, "10.1.2.3"]  # one private answer is enough to refuse
    error = assert_error(schedule(client, manager, url), 422, "validation_error")
    assert "deliver_to" in error["details"]
    assert client.get("/api/v1/stats/schedules", headers=manager.headers).get_json()["items"] == []


def test_a_public_https_url_is_accepted(client, manager):
    assert schedule(client, manager, "https://receiver.example/hook").status_code == 201


def _due_export(app, client, manager, url="https://receiver.example/hook"):
    assert schedule(client, manager, url).status_code == 201
    with app.app_context():
        from app.stats.models import ExportSchedule

        stored = db.session.scalar(db.select(ExportSchedule))
        export = exports.produce_export(stored.helpline_id, "contacts", *exports.period_window("previous_month",
                                        __import__("datetime").date(2026, 2, 1)), "month", "csv", stored)
        db.session.commit()
        return export.id


def _delivered(app, export_id):
    with app.app_context():
        exports.deliver(export_id)
        export = db.session.get(Export, export_id)
        return export.delivery_status, export.delivery_error


def test_a_name_rebound_to_a_private_address_after_creation_is_refused_at_send(app, client, manager):
    export_id = _due_export(app, client, manager, "https://rebind.example/hook")
    FAKE_DNS["rebind.example"] = ["169.254.169.254"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post("https://rebind.example/hook", status=200)
        status, error = _delivered(app, export_id)
        assert len(mock.calls) == 0
    assert status == "pending" and error == exports.DELIVERY_REFUSED
    assert "169.254" not in error


def test_redirects_are_not_followed(app, client, manager):
    export_id = _due_export(app, client, manager)
    with responses.RequestsMock() as mock:
        mock.post("https://receiver.example/hook", status=307, headers={"Location": "http://169.254.169.254/"})
        status, error = _delivered(app, export_id)
        assert [c.request.url for c in mock.calls] == ["https://receiver.example/hook"]
    assert status == "pending" and error == exports.DELIVERY_FAILED


def test_connection_failures_record_one_generic_error(app, client, manager):
    import requests

    export_id = _due_export(app, client, manager)
    with responses.RequestsMock() as mock:
        mock.post("https://receiver.example/hook", body=requests.ConnectionError("refused on port 22"))
        assert _delivered(app, export_id) == ("pending", exports.DELIVERY_FAILED)


def test_the_connection_goes_to_the_vetted_address_with_one_lookup(monkeypatch):
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return [PUBLIC_TEST_ADDRESS] if len(lookups) == 1 else ["127.0.0.1"]

    monkeypatch.setattr(safe_http, "resolve_host", resolve)
    vetted = safe_http.vet_url("https://receiver.example:8443/hook")
    adapter = safe_http.PinnedAddressAdapter(vetted)
    import requests

    prepared = requests.Request("POST", "https://receiver.example:8443/hook").prepare()
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(prepared, True)
    assert (host_params["host"], host_params["port"]) == (PUBLIC_TEST_ADDRESS, 8443)
    assert pool_kwargs["server_hostname"] == pool_kwargs["assert_hostname"] == "receiver.example"
    assert lookups == ["receiver.example"]


def test_operators_may_allow_named_private_networks(app, client, manager):
    FAKE_DNS["onprem.example"] = ["10.20.30.40"]
    assert_error(schedule(client, manager, "https://onprem.example/hook"), 422)
    app.config["OUTBOUND_ALLOWED_NETWORKS"] = "10.20.0.0/16"
    try:
        assert schedule(client, manager, "https://onprem.example/hook").status_code == 201
    finally:
        app.config["OUTBOUND_ALLOWED_NETWORKS"] = ""
