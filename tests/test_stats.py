"""Statistics: dimensions, disclosure control, formats, no personal data, operations, schedules, CLI."""
import csv
import hashlib
import hmac
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
import responses
import sqlalchemy as sa
from openpyxl import load_workbook

from app.contacts.models import Contact
from app.core.ids import new_id
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import set_settings
from tests.helpers import assert_error

UTC = timezone.utc


def seed(app, helpline, rows):
    """rows: (created_at, channel, form, extra column values)."""
    with app.app_context():
        for created_at, channel, form, *extra in rows:
            contact_id = new_id()
            values = dict(id=contact_id, helpline_id=helpline, channel=channel, status="completed", priority="normal",
                          risk_flag=False, thread_key=f"seed:{contact_id}", form=form, transfers=[], created_at=created_at,
                          updated_at=created_at, finalized_at=created_at + timedelta(hours=1), language="en",
                          taxonomy_version="chi-2024")
            values.update(extra[0] if extra else {})
            db.session.add(Contact(**values))
        db.session.commit()


def girl(age, *categories, region="city"):
    return {"call_type": "child", "categories": list(categories), "child": {"age": age, "gender": "girl", "region": region}}


def boy(age, *categories):
    return {"call_type": "child", "categories": list(categories), "child": {"age": age, "gender": "boy"}}


def stats(client, actor, fmt="json", **query):
    return client.get("/api/v1/stats/contacts", query_string={"format": fmt, **query}, headers=actor.headers)


JAN = datetime(2026, 1, 10, 12, tzinfo=UTC)
FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)


@pytest.fixture
def table(app, helpline):
    set_settings(app, helpline, min_cell=3)
    rows = [(JAN, "sms", girl(14, "violence.bullying")) for _ in range(6)]
    rows += [(JAN, "sms", boy(12, "violence.physical")) for _ in range(4)]
    rows += [(FEB, "web", girl(15, "mental_health.anxiety")) for _ in range(5)]
    rows += [(FEB, "web", boy(16, "mental_health.anxiety")) for _ in range(2)]  # under min_cell
    rows += [(FEB, "chat", {"call_type": "silent"})]
    seed(app, helpline, rows)


def rows_of(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return {tuple(v for k, v in r.items() if k not in ("count", "suppressed")): r["count"] for r in response.get_json()["rows"]}


def test_counts_by_month_and_gender_with_suppression(client, manager, table):
    response = stats(client, manager, **{"from": "2026-01-01", "to": "2026-02-28", "by": "month,gender"})
    body = response.get_json()
    assert body["meta"]["by"] == ["month", "gender"] and body["meta"]["min_cell"] == 3
    assert body["meta"]["taxonomy_version"] == "chi-2024"
    got = rows_of(response)
    assert got[("2026-01", "girl")] == 6 and got[("2026-02", "girl")] == 5
    # Feb boys (2) and the silent contact (gender unknown, 1) are under min_cell.
    assert got[("2026-02", "boy")] is None and got[("2026-02", "unknown")] is None
    # The boys' column would reveal Feb from its total: Jan boys (4) is its partner. The unknown
    # column has no other non-zero cell: a zero cell (Jan, unknown) is published as suppressed.
    assert got[("2026-01", "boy")] is None and got[("2026-01", "unknown")] is None
    assert body["meta"]["suppressed_cells"] == sum(1 for r in body["rows"] if r.get("suppressed"))
    assert all(r["count"] is None or r["count"] >= 3 for r in body["rows"])


def test_complementary_suppression_protects_each_line(client, manager, table):
    got = rows_of(stats(client, manager, **{"from": "2026-01-01", "to": "2026-02-28", "by": "gender"}))
    # One line: girl 11, boy 6, unknown 1 -> unknown suppressed, and its partner (the smallest other) too.
    assert got[("unknown",)] is None and got[("boy",)] is None and got[("girl",)] == 11


def test_a_contact_counts_once_in_each_of_its_categories(app, client, manager, helpline):
    set_settings(app, helpline, min_cell=3)
    seed(app, helpline, [(JAN, "sms", girl(10, "violence.bullying", "violence.physical", "family.caregiver"))] * 1 +
         [(JAN, "sms", girl(10, "violence.bullying", "family.caregiver")) for _ in range(4)])
    got = rows_of(stats(client, manager, **{"from": "2026-01-01", "to": "2026-01-31", "by": "category"}))
    assert got == {("violence",): 5, ("family",): 5}
    got = rows_of(stats(client, manager, **{"from": "2026-01-01", "to": "2026-01-31", "by": "category,subcategory"}))
    assert got[("family", "family.caregiver")] == 5
    # physical (1) is suppressed, and bullying with it: otherwise violence's line would reveal it.
    assert got[("violence", "violence.physical")] is None and got[("violence", "violence.bullying")] is None


def test_age_bands_from_settings_and_time_in_the_helplines_zone(app, client, manager, helpline):
    from app.helplines import service

    with app.app_context():
        service.update_helpline(helpline, {"timezone": "Asia/Tokyo", "settings": {"min_cell": 3,
                                                                                  "age_bands": [[0, 12], [13, 17]]}})
    late_january_utc = datetime(2026, 1, 31, 20, tzinfo=UTC)  # 05:00 on 1 February in Tokyo
    seed(app, helpline, [(late_january_utc, "sms", girl(age, "peers.friends")) for age in (5, 6, 7, 14, 15, 16, 20)] +
         [(late_january_utc, "sms", {"call_type": "child", "categories": ["peers"], "child": {"age": None, "gender": "girl"}})] * 3)
    got = rows_of(stats(client, manager, **{"from": "2026-02-01", "to": "2026-02-01", "by": "month,age_band"}))
    assert got == {("2026-02", "0-12"): 3, ("2026-02", "13-17"): 3, ("2026-02", "other"): None,
                   ("2026-02", "unknown"): 3} or got[("2026-02", "other")] is None
    assert rows_of(stats(client, manager, **{"from": "2026-01-31", "to": "2026-01-31", "by": "month"})) == {}


def test_local_days_weeks_and_months_across_a_daylight_saving_change(app, client, manager, helpline):
    from app.helplines import service

    with app.app_context():
        service.update_helpline(helpline, {"timezone": "Europe/London", "settings": {"min_cell": 3}})
    # London moves to BST (UTC+1) at 01:00 UTC on Sunday 29 March 2026.
    seed(app, helpline, [(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "sms", girl(12, "peers.friends"))] * 3 +  # Sat 23:30
         [(datetime(2026, 3, 29, 23, 30, tzinfo=UTC), "sms", girl(12, "peers.friends"))] * 4 +  # Mon 00:30 BST
         [(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "sms", girl(12, "peers.friends"))] * 5)   # Wed 1 April 00:30
    window = {"from": "2026-03-28", "to": "2026-04-01"}
    assert rows_of(stats(client, manager, **window, by="day")) == {
        ("2026-03-28",): 3, ("2026-03-30",): 4, ("2026-04-01",): 5}
    assert rows_of(stats(client, manager, **window, by="week")) == {("2026-W13",): 3, ("2026-W14",): 9}
    assert rows_of(stats(client, manager, **window, by="month")) == {("2026-03",): 7, ("2026-04",): 5}
    # A window of whole local days: 1 April starts at 23:00 UTC on 31 March.
    assert rows_of(stats(client, manager, **{"from": "2026-04-01", "to": "2026-04-01"}, by="day")) == {
        ("2026-04-01",): 5}


def test_postgresql_counts_by_hashing_from_an_index_never_sorting_or_scanning_the_table(app, manager, helpline):
    # At scale the plan is an index-only scan of ix_contacts_statistics (bench/stats.py); on the
    # suite's few rows the planner may as well read the other (helpline_id, created_at) index.
    from tests.conftest import is_postgres

    if not is_postgres(app):
        pytest.skip("the covering index and its plan are PostgreSQL's")
    from datetime import date

    from app.stats import service

    with app.app_context():
        service.plan_for_counting()
        dims = ["month", "category", "age_band", "gender"]
        params, _ = service._period_params(dims, service.ZoneInfo("UTC"), date(2026, 1, 1), date(2026, 12, 31))
        plan = "\n".join(row[0] for row in db.session.execute(
            sa.text("EXPLAIN " + service.contact_counts_sql(dims, [[0, 12], [13, 17]])),
            {**params, "helpline_id": helpline, "start": datetime(2026, 1, 1, tzinfo=UTC),
             "end": datetime(2027, 1, 1, tzinfo=UTC)}))
        db.session.rollback()
    assert "HashAggregate" in plan and "Index" in plan and "Seq Scan" not in plan and "Sort" not in plan


def test_every_dimension_is_accepted(client, manager, table):
    for dim in ("year", "quarter", "month", "week", "day", "channel", "call_type", "category", "subcategory",
                "age_band", "gender", "region", "language"):
        assert stats(client, manager, **{"from": "2026-01-01", "to": "2026-02-28", "by": dim}).status_code == 200
    got = rows_of(stats(client, manager, **{"from": "2026-01-01", "to": "2026-02-28", "by": "quarter,week"}))
    assert ("2026-Q1", "2026-W02") in got and ("2026-Q1", "2026-W07") in got


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-01-01", "to": "2026-02-28", "by": "shoe_size"}, "by"),
    ({"from": "2026-01-01", "to": "2026-02-28", "by": "year,month,day,week,channel"}, "by"),
    ({"from": "2026-01-01", "to": "2026-02-28", "by": "month,month"}, "by"),
    ({"from": "2026-03-01", "to": "2026-02-28", "by": "month"}, "to"),
    ({"to": "2026-02-28", "by": "month"}, "from"),
    ({"from": "2026-01-01", "to": "2026-02-28", "by": "month", "format": "pdf"}, "format"),
])
def test_bad_requests_are_422(client, manager, query, field):
    response = client.get("/api/v1/stats/contacts", query_string=query, headers=manager.headers)
    assert field in assert_error(response, 422)["details"]


def test_csv_and_xlsx_hold_the_same_rows(client, manager, table):
    query = {"from": "2026-01-01", "to": "2026-02-28", "by": "month,gender"}
    json_response = stats(client, manager, **query)
    assert json_response.headers["Content-Disposition"] == 'inline; filename="contacts_2026-01-01_2026-02-28.json"'
    as_json = json_response.get_json()["rows"]
    response = stats(client, manager, "csv", **query)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts_2026-01-01_2026-02-28.csv"'
    parsed = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["month"] for r in parsed] == [r["month"] for r in as_json]
    assert [r["count"] or None for r in parsed] == [str(r["count"]) if r["count"] is not None else None for r in as_json]
    response = stats(client, manager, "xlsx", **query)
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = list(sheet.values)
    assert values[0] == ("month", "gender", "count") and len(values) == len(as_json) + 1


def test_no_personal_data_in_any_format(app, client, manager, helpline):
    set_settings(app, helpline, min_cell=3)
    secret_form = {"call_type": "child", "categories": ["violence.sexual"], "summary": "Kiprotich secret summary",
                   "child": {"age": 11, "gender": "boy", "first_name": "Kiprotich", "phone": "+254711000222"},
                   "caller": {"first_name": "Wambui"}}
    seed(app, helpline, [(JAN, "sms", secret_form, {"address": "+254711000333"}) for _ in range(5)])
    for fmt in ("json", "csv", "xlsx"):
        for by in ("month,category,age_band,gender", "subcategory,channel,region,language", "day,call_type"):
            body = stats(client, manager, fmt, **{"from": "2026-01-01", "to": "2026-01-31", "by": by}).get_data()
            for secret in (b"Kiprotich", b"Wambui", b"254711", b"secret"):
                assert secret not in body
            with app.app_context():
                ids = [c for c in db.session.scalars(sa.select(Contact.id))]
            assert not any(i.encode() in body for i in ids)


def test_roles_and_audit(client, counsellor, supervisor, admin, manager, table):
    query = {"from": "2026-01-01", "to": "2026-02-28", "by": "month"}
    assert_error(stats(client, counsellor, **query), 403)
    for actor in (supervisor, admin, manager):
        assert stats(client, actor, **query).status_code == 200
    events = client.get("/api/v1/audit", query_string={"record_type": "export"}, headers=admin.headers).get_json()["items"]
    assert len(events) == 3 and {e["action"] for e in events} == {"stats_contacts"}


def test_operations(app, client, manager, helpline):
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    seed(app, helpline, [
        (t0, "sms", {}, {"status": "completed", "queued_at": t0, "assigned_at": t0 + timedelta(seconds=30),
                         "first_response_at": t0 + timedelta(seconds=40), "ended_at": t0 + timedelta(seconds=630)}),
        (t0, "sms", {}, {"status": "completed", "queued_at": t0, "assigned_at": t0 + timedelta(seconds=90),
                         "first_response_at": t0 + timedelta(seconds=100), "ended_at": t0 + timedelta(seconds=390)}),
        (t0, "web", {}, {"status": "abandoned", "queued_at": t0, "finalized_at": None}),
        (t0, "sms", {}, {"status": "blocked", "finalized_at": None}),
        (t0, "sms", {}, {"status": "out_of_hours", "finalized_at": None}),
    ])
    response = client.get("/api/v1/stats/operations", query_string={"from": "2026-03-01", "to": "2026-03-31",
                                                                     "by": "day,channel"}, headers=manager.headers)
    rows = {(r["day"], r["channel"]): r for r in response.get_json()["rows"]}
    sms = rows[("2026-03-02", "sms")]
    assert (sms["received"], sms["answered"], sms["blocked"], sms["out_of_hours"]) == (4, 2, 1, 1)
    assert sms["wait_p50_s"] == 60.0 and sms["handle_p50_s"] == 450.0 and sms["first_response_p50_s"] == 10.0
    assert rows[("2026-03-02", "web")]["abandoned"] == 1
    bad = client.get("/api/v1/stats/operations", query_string={"from": "2026-03-01", "to": "2026-03-31", "by": "gender"},
                     headers=manager.headers)
    assert_error(bad, 422)


def test_operations_percentiles_weeks_and_queues_in_the_helplines_zone(app, client, manager, helpline):
    from app.helplines import service
    from app.routing.service import create_queue

    with app.app_context():
        service.update_helpline(helpline, {"timezone": "Asia/Tokyo"})
        queue_id = create_queue(helpline, "General").id
    sunday_utc = datetime(2026, 3, 8, 20, tzinfo=UTC)  # 05:00 on Monday 9 March in Tokyo: ISO week 11

    def answered(wait_s, queue=None):
        return (sunday_utc, "sms", {}, {"queue_id": queue, "queued_at": sunday_utc,
                                        "assigned_at": sunday_utc + timedelta(seconds=wait_s)})
    # Queue: waits 1..10 s -> p50 5.5 (mean of the middle two), p90 9 (the 9th of 10).
    # No queue: waits 1..7 s -> p50 4, p90 7 (the 7th of 7); one never answered.
    seed(app, helpline, [answered(s, queue_id) for s in range(1, 11)] + [answered(s) for s in range(1, 8)] +
         [(sunday_utc, "sms", {}, {"status": "abandoned", "queued_at": sunday_utc, "finalized_at": None})])
    for by, key in (("week,queue", "week"), ("month,queue,channel", "month")):
        response = client.get("/api/v1/stats/operations", query_string={"from": "2026-03-09", "to": "2026-03-15",
                                                                         "by": by}, headers=manager.headers)
        assert response.status_code == 200
        rows = {r["queue"]: r for r in response.get_json()["rows"]}
        assert {r[key] for r in rows.values()} == {"2026-W11" if key == "week" else "2026-03"}
        assert (rows[queue_id]["received"], rows[queue_id]["answered"]) == (10, 10)
        assert (rows[queue_id]["wait_p50_s"], rows[queue_id]["wait_p90_s"]) == (5.5, 9.0)
        assert (rows[None]["received"], rows[None]["answered"], rows[None]["abandoned"]) == (8, 7, 1)
        assert (rows[None]["wait_p50_s"], rows[None]["wait_p90_s"], rows[None]["handle_p50_s"]) == (4.0, 7.0, None)
    # The Sunday evening in UTC is Monday in Tokyo: nothing on 8 March.
    response = client.get("/api/v1/stats/operations", query_string={"from": "2026-03-08", "to": "2026-03-08",
                                                                     "by": "day"}, headers=manager.headers)
    assert response.get_json()["rows"] == []


def test_operations_times_are_read_from_fixed_buckets(app, client, manager, helpline):
    """Whole seconds below 10 minutes; 10 s, 1 min and 10 min buckets above; a day or more is one bucket.
    A figure is the lower bound of its bucket (p50: the mean of the two middle ones)."""
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)

    def handled(seconds):
        return (t0, "sms", {}, {"status": "completed", "queued_at": t0, "assigned_at": t0,
                                "ended_at": t0 + timedelta(seconds=seconds)})
    seed(app, helpline, [handled(1234.5), handled(1250.9)])
    query = {"from": "2026-03-02", "to": "2026-03-02", "by": "day"}
    row, = client.get("/api/v1/stats/operations", query_string=query, headers=manager.headers).get_json()["rows"]
    assert (row["handle_p50_s"], row["wait_p50_s"], row["wait_p90_s"]) == (1240.0, 0.0, 0.0)  # 1230 and 1250
    seed(app, helpline, [handled(s) for s in (4000.5, 90000, 200000)])
    row, = client.get("/api/v1/stats/operations", query_string=query, headers=manager.headers).get_json()["rows"]
    assert (row["handle_p50_s"], row["answered"]) == (3960.0, 5)  # the third of 5: 66 min lies in [66, 67) min


def test_schedules_produce_and_deliver_signed_exports(app, client, manager, table):
    from app.stats import exports

    assert "cron" in assert_error(client.post("/api/v1/stats/schedules", json={
        "name": "x", "report": "contacts", "params": {"by": "month"}, "cron": "every tuesday"}, headers=manager.headers), 422)["details"]
    assert "deliver_to" in assert_error(client.post("/api/v1/stats/schedules", json={
        "name": "x", "report": "contacts", "params": {"by": "month"}, "cron": "0 6 1 * *",
        "deliver_to": "http://insecure.example/hook"}, headers=manager.headers), 422)["details"]
    assert_error(client.post("/api/v1/stats/schedules", json={
        "name": "x", "report": "contacts", "params": {"by": "colour"}, "cron": "0 6 1 * *"}, headers=manager.headers), 422)
    response = client.post("/api/v1/stats/schedules", json={
        "name": "Monthly to the ministry", "report": "contacts", "params": {"by": "month,category", "period": "previous_month"},
        "cron": "0 6 1 * *", "format": "csv", "deliver_to": "https://ministry.example/hook"}, headers=manager.headers)
    assert response.status_code == 201
    schedule = response.get_json()
    secret = schedule["signing_secret"]
    assert schedule["next_run_at"].startswith(f"{utcnow().year}") or schedule["next_run_at"]
    listed = client.get("/api/v1/stats/schedules", headers=manager.headers).get_json()["items"]
    assert "signing_secret" not in listed[0]

    from app.stats.models import ExportSchedule

    with app.app_context():
        db.session.execute(sa.update(ExportSchedule).values(next_run_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    with responses.RequestsMock() as mock:
        mock.post("https://ministry.example/hook", status=503)
        with app.app_context():
            assert exports.run_due_schedules() == 1
        assert len(mock.calls) == 1
    [export] = client.get("/api/v1/stats/exports", headers=manager.headers).get_json()["items"]
    assert export["delivery_status"] == "pending" and export["delivery_error"] == "The receiver did not accept the file." and export["delivery_attempts"] == 1

    from app.stats.models import Export

    with responses.RequestsMock() as mock:
        mock.post("https://ministry.example/hook", status=200)
        with app.app_context():
            db.session.execute(sa.update(Export).values(next_delivery_at=utcnow() - timedelta(seconds=1)))
            db.session.commit()
            assert exports.deliver_due_exports() == 1
        sent = mock.calls[0].request
        expected = "sha256=" + hmac.new(secret.encode(), sent.body, hashlib.sha256).hexdigest()
        assert sent.headers["X-Signature"] == expected
        assert sent.headers["Content-Type"].startswith("text/csv")
    [export] = client.get("/api/v1/stats/exports", headers=manager.headers).get_json()["items"]
    assert export["delivery_status"] == "delivered" and export["delivery_attempts"] == 2
    download = client.get(f"/api/v1/stats/exports/{export['id']}/download", headers=manager.headers)
    assert download.get_data() == sent.body
    assert client.delete(f"/api/v1/stats/schedules/{schedule['id']}", headers=manager.headers).status_code == 204
    assert_error(client.get(f"/api/v1/stats/exports/{new_id()}/download", headers=manager.headers), 404)


def test_delivery_gives_up_after_five_retries(app, client, manager, table):
    from app.stats import exports
    from app.stats.models import Export, ExportSchedule

    schedule = client.post("/api/v1/stats/schedules", json={
        "name": "n", "report": "contacts", "params": {"by": "month"}, "cron": "0 6 * * *",
        "deliver_to": "https://down.example/hook"}, headers=manager.headers).get_json()
    with responses.RequestsMock() as mock:
        mock.post("https://down.example/hook", status=500)
        with app.app_context():
            db.session.execute(sa.update(ExportSchedule).values(next_run_at=utcnow() - timedelta(minutes=1)))
            db.session.commit()
            exports.run_due_schedules()
            for _ in range(10):
                db.session.execute(sa.update(Export).where(Export.delivery_status == "pending")
                                   .values(next_delivery_at=utcnow() - timedelta(seconds=1)))
                db.session.commit()
                exports.deliver_due_exports()
        assert len(mock.calls) == exports.MAX_DELIVERY_ATTEMPTS
    [export] = client.get("/api/v1/stats/exports", headers=manager.headers).get_json()["items"]
    assert export["delivery_status"] == "failed" and export["delivery_attempts"] == 6
    assert schedule["id"]


def test_period_windows():
    from datetime import date

    from app.stats.exports import period_window

    assert period_window("previous_month", date(2026, 3, 15)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_window("previous_week", date(2026, 11, 19)) == (date(2026, 11, 9), date(2026, 11, 15))
    assert period_window("previous_quarter", date(2026, 5, 2)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert period_window("previous_day", date(2026, 1, 1)) == (date(2025, 12, 31), date(2025, 12, 31))
    assert period_window("previous_year", date(2026, 6, 1)) == (date(2025, 1, 1), date(2025, 12, 31))


def test_cli_export(app, helpline, table, tmp_path):
    out = tmp_path / "stats.json"
    result = app.test_cli_runner().invoke(args=["stats", "export", "--helpline", "main", "--report", "contacts",
                                                "--from", "2026-01-01", "--to", "2026-02-28", "--by", "month,gender",
                                                "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    assert body["meta"]["by"] == ["month", "gender"] and body["rows"]
    bad = app.test_cli_runner().invoke(args=["stats", "export", "--helpline", "main", "--report", "contacts",
                                             "--from", "2026-01-01", "--to", "2026-02-28", "--by", "nope"])
    assert bad.exit_code != 0
