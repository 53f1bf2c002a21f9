"""Statistics rollups (PostgreSQL): reports from rollups equal reports from the contacts, cell for cell.

Random histories of contacts (created around midnight and the DST changes of the helpline's zone;
finalized, edited after finalizing, re-categorised, erased, deleted; for the operations report
queued, assigned, answered, ended, abandoned, transferred, surveyed, with times on the buckets'
edges) are applied through the ORM, so the triggers keep the rollups; then every sampled table,
before vocabulary and disclosure control, is compared with the same table counted from the
contacts. The rebuild command must give the same rollups, also after a time zone change.
"""
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.contacts.models import Contact
from app.contacts.service import erase_personal_data
from app.core.ids import new_id
from app.core.time import utcnow
from app.extensions import db
from app.helplines.models import Helpline
from app.stats import rollups
from app.stats.dimensions import CONTACT_DIMENSIONS
from app.stats.models import ContactRollup, OperationRollup
from app.stats import service as stats_service
from app.stats import time_buckets
from app.stats.service import count_contacts_from_contacts, operation_cells_from_contacts

UTC = timezone.utc
BANDS = [[0, 9], [10, 14], [15, 17], [18, 25]]
CODES = ["violence.bullying", "violence.physical", "mental_health.anxiety", "mental_health.mood", "family.general"]
# Europe/London: midnight, and the two DST changes of 2025 (30 March, 26 October at 01:00 UTC).
ANCHORS = [datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC),
           datetime(2025, 12, 31, 23, 59, tzinfo=UTC), datetime(2025, 1, 31, 23, 30, tzinfo=UTC)]


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("rollups are kept on PostgreSQL only; SQLite counts from the contacts (app/stats/rollups.py)")


forms = st.fixed_dictionaries({
    "call_type": st.sampled_from(["child", "caller_about_child", "silent", None]),
    "categories": st.lists(st.sampled_from(CODES), max_size=3),
    "child": st.fixed_dictionaries({
        "age": st.one_of(st.none(), st.integers(0, 25)),
        "gender": st.sampled_from(["girl", "boy", "non_binary", None]),
        "region": st.sampled_from(["city", "rural", None]),
        "language": st.sampled_from(["en", "cy", None]),
    }),
})
created = st.builds(lambda anchor, minutes: anchor + timedelta(minutes=minutes),
                    st.sampled_from(ANCHORS), st.integers(-90, 90))
contacts = st.lists(st.tuples(created, st.sampled_from(["sms", "web", "whatsapp"]), forms, st.booleans()),
                    min_size=1, max_size=12)
# What happens afterwards to contact i (modulo how many there are).
steps = st.lists(st.tuples(st.sampled_from(["finalize", "edit", "recategorise", "erase", "delete", "move"]),
                           st.integers(0, 50), forms, created), max_size=10)
# Window edges on the contacts' days, the days around them and month boundaries: where an
# off-by-one day or a wrong month would show.
EDGES = sorted({(anchor + timedelta(days=shift)).date() for anchor in ANCHORS for shift in (-1, 0, 1)}
               | {date(2025, 1, 1), date(2025, 3, 1), date(2025, 3, 31), date(2025, 10, 1), date(2025, 11, 1)})
queries = st.lists(st.tuples(st.lists(st.sampled_from(CONTACT_DIMENSIONS), min_size=1, max_size=4, unique=True),
                             st.sampled_from(EDGES), st.sampled_from(EDGES)),
                   min_size=1, max_size=8)


def _add(helpline_id, created_at, channel, form, finalized):
    contact = Contact(id=new_id(), helpline_id=helpline_id, channel=channel, status="completed", priority="normal",
                      risk_flag=False, thread_key=new_id(), form=form, transfers=[], created_at=created_at,
                      updated_at=created_at, language="en", taxonomy_version="chi-2024",
                      finalized_at=created_at + timedelta(hours=1) if finalized else None)
    db.session.add(contact)
    return contact


def _apply(contact_list, step):
    action, index, form, when = step
    if not contact_list:
        return
    contact = contact_list[index % len(contact_list)]
    if action == "finalize":
        contact.finalized_at = contact.finalized_at or contact.created_at + timedelta(hours=2)
    elif action == "edit":
        contact.form = form
    elif action == "recategorise":
        contact.form = {**contact.form, "categories": form["categories"]}
    elif action == "erase":
        erase_personal_data([contact], contact.created_at + timedelta(days=400))
    _move_or_delete(contact_list, contact, action, when)


def _move_or_delete(contact_list, contact, action, when):
    """The steps both reports' histories share; commits whatever step was applied."""
    if action == "move":
        contact.created_at = when
    elif action == "delete":
        db.session.delete(contact)
        contact_list.remove(contact)
    db.session.commit()


def _assert_same_tables(helpline, sampled):
    for dims, start, end in sampled:
        start, end = min(start, end), max(start, end)
        expected = count_contacts_from_contacts(helpline, dims, start, end, BANDS)
        got = rollups.count_contacts(helpline, dims, start, end, BANDS)
        assert got == expected, (dims, start, end)


def _rollup_rows(helpline_id):
    return sorted(tuple(r) for r in db.session.execute(
        sa.select(ContactRollup.kind, ContactRollup.grain, ContactRollup.period, ContactRollup.code,
                  ContactRollup.channel, ContactRollup.call_type, ContactRollup.age, ContactRollup.gender,
                  ContactRollup.region, ContactRollup.language, ContactRollup.n)
        .where(ContactRollup.helpline_id == helpline_id, ContactRollup.n != 0)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=contacts, later=steps, sampled=queries)
def test_reports_from_rollups_equal_reports_from_contacts(ctx, make_helpline, history, later, sampled):
    helpline_id = make_helpline(timezone="Europe/London")
    made = [_add(helpline_id, *row) for row in history]
    db.session.commit()
    for step in later:
        _apply(made, step)
    helpline = db.session.get(Helpline, helpline_id)
    _assert_same_tables(helpline, sampled)

    # A rebuild recounts the same rollups (rows left at 0 by the trigger are dropped).
    kept = _rollup_rows(helpline_id)
    rollups.rebuild(helpline, date(2024, 12, 1), date(2026, 1, 31))
    assert _rollup_rows(helpline_id) == kept

    # A time zone change moves contacts between local days: the rebuild puts them right.
    helpline.timezone = "America/Sao_Paulo"
    db.session.commit()
    rollups.rebuild(helpline, date(2024, 12, 1), date(2026, 1, 31))
    _assert_same_tables(helpline, sampled)


def test_every_window_between_month_edges_reads_its_ragged_days_and_whole_months(ctx, make_helpline):
    # Exhaustive where the random windows are thin: a window reads whole months' rows plus the day
    # rows before and after them, each range on its own; contacts on the first and last days of
    # months, windows starting and ending on every one of those days.
    helpline_id = make_helpline(timezone="Europe/London")
    days = [date(2025, 1, 1), date(2025, 1, 31), date(2025, 2, 1), date(2025, 2, 2), date(2025, 2, 28),
            date(2025, 3, 1), date(2025, 3, 31)]
    for n, day in enumerate(days):
        _add(helpline_id, datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12),
             ("sms", "web")[n % 2], {"categories": [CODES[n % len(CODES)]]}, True)
    db.session.commit()
    helpline = db.session.get(Helpline, helpline_id)
    windows = [(start, end) for start in days for end in days if start <= end]
    _assert_same_tables(helpline, [(dims, start, end) for start, end in windows
                                   for dims in (["month", "category"], ["channel"], ["week"])])


def test_a_finalize_through_the_api_is_counted_and_an_edit_moves_the_count(app, client, helpline, counsellor, ctx):

    when = utcnow() - timedelta(hours=1)
    month, first, last = when.strftime("%Y-%m"), when.date() - timedelta(days=1), when.date() + timedelta(days=1)
    contact = _add(helpline, when, "sms", {}, False)
    contact.counsellor_id, contact.status = counsellor.id, "wrapup"
    db.session.commit()
    contact_id = contact.id
    db.session.remove()
    form = {"call_type": "child", "categories": ["violence.bullying"],
            "child": {"age": 12, "gender": "girl", "region": None, "language": None}}
    assert client.patch(f"/api/v1/contacts/{contact_id}", json={"form": form},
                        headers=counsellor.headers).status_code == 200
    assert client.post(f"/api/v1/contacts/{contact_id}/finalize", headers=counsellor.headers).status_code == 200
    line = db.session.get(Helpline, helpline)
    assert rollups.count_contacts(line, ["month", "category"], first, last, BANDS) == {(month, "violence"): 1}
    db.session.remove()

    contact = db.session.get(Contact, contact_id)
    contact.form = {**contact.form, "categories": ["mental_health.anxiety"]}
    db.session.commit()
    assert rollups.count_contacts(line, ["month", "category"], first, last, BANDS) == {(month, "mental_health"): 1}


def test_rebuild_command_recounts_a_damaged_helpline_month_by_month(app, helpline, ctx):
    for day in (1, 15):
        _add(helpline, datetime(2026, 1, day, 12, tzinfo=UTC), "sms", {"call_type": "child"}, True)
    _add(helpline, datetime(2026, 2, 3, 12, tzinfo=UTC), "web", {"call_type": "child"}, True)
    db.session.commit()
    line = db.session.get(Helpline, helpline)
    before = rollups.count_contacts(line, ["month", "channel"], date(2026, 1, 1), date(2026, 2, 28), BANDS)
    db.session.execute(sa.update(ContactRollup).values(n=99))  # a rollup bug
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["stats", "rebuild", "--helpline", "main"])
    assert result.exit_code == 0, result.output
    assert "2026-01: 2 contacts" in result.output and "2026-02: 1 contacts" in result.output
    assert rollups.count_contacts(line, ["month", "channel"], date(2026, 1, 1), date(2026, 2, 28), BANDS) == before == {
        ("2026-01", "sms"): 2, ("2026-02", "web"): 1}
    unknown = app.test_cli_runner().invoke(args=["stats", "rebuild", "--helpline", "nope"])
    assert unknown.exit_code != 0 and "No helpline" in unknown.output


# --- operations -------------------------------------------------------------------------------

# Seconds on and around every bucket edge (and a clock that went backwards).
EDGE_SECONDS = [-3, 0, 0.4, 1, 59.999999, 599, 599.9999, 600, 609.99, 610, 1799, 1800, 1859.5, 7199.999999, 7200,
                7799, 86399.5, 86400, 200000]
times = st.sampled_from(EDGE_SECONDS)
# Most contacts answered on arrival after one of the edge waits: cells with several times in them.
operated = st.lists(st.tuples(created, st.sampled_from(["sms", "web"]), st.integers(0, 2), st.one_of(st.none(), times)),
                    min_size=1, max_size=12)
operation_steps = st.lists(st.tuples(
    st.sampled_from(["queue", "assign", "respond", "end", "abandon", "block", "out_of_hours", "reopen",
                     "transfer", "survey", "message", "finalize", "delete", "move"]),
    st.integers(0, 50), times, st.integers(0, 2), st.one_of(st.none(), st.integers(1, 5)), created), max_size=14)
OPERATION_DIMS = [[period, *extra] for period in ("day", "week", "month")
                  for extra in ([], ["queue"], ["channel"], ["queue", "channel"], ["channel", "queue"])]
operation_queries = st.lists(st.tuples(st.sampled_from(OPERATION_DIMS), st.sampled_from(EDGES), st.sampled_from(EDGES)),
                             min_size=1, max_size=6)


def _queues(helpline_id):
    from app.routing.service import create_queue

    return [None, create_queue(helpline_id, "General").id, create_queue(helpline_id, "Urgent").id]


def _add_operated(helpline_id, queues, created_at, channel, queue, wait):
    contact = _add(helpline_id, created_at, channel, {}, False)
    contact.status, contact.queue_id, contact.queued_at = "queued", queues[queue], created_at + timedelta(seconds=30)
    if wait is not None:
        contact.status, contact.assigned_at = "active", contact.queued_at + timedelta(seconds=wait)
    return contact


def _apply_operation(contact_list, queues, step):
    action, index, seconds, queue, satisfaction, when = step
    if not contact_list:
        return
    contact = contact_list[index % len(contact_list)]
    after = timedelta(seconds=seconds)
    if action == "queue":
        contact.queued_at = contact.created_at + after
    elif action == "assign":
        contact.assigned_at, contact.status = (contact.queued_at or contact.created_at) + after, "active"
    elif action == "respond" and contact.assigned_at:
        contact.first_response_at = contact.assigned_at + after
    elif action == "end":
        contact.ended_at, contact.status = (contact.assigned_at or contact.created_at) + after, "wrapup"
    elif action in ("abandon", "block", "out_of_hours"):
        contact.status = {"abandon": "abandoned", "block": "blocked"}.get(action, action)
    elif action == "reopen":
        contact.status = "offered"
    elif action == "transfer":
        contact.queue_id = queues[queue]
    elif action == "survey":
        contact.post_survey_at, contact.satisfaction = contact.created_at + timedelta(hours=1), satisfaction
    elif action == "message":
        contact.last_seq += 1  # what every inbound message does: counts nothing
    elif action == "finalize":
        contact.finalized_at = contact.created_at + timedelta(hours=2)
    _move_or_delete(contact_list, contact, action, when)


def _assert_same_operations(helpline, sampled):
    for dims, start, end in sampled:
        start, end = min(start, end), max(start, end)
        got = stats_service._operation_cells(helpline, dims, start, end)
        assert got == operation_cells_from_contacts(helpline, dims, start, end), (dims, start, end)


def _operation_rows(helpline_id):
    return sorted(tuple(r) for r in db.session.execute(
        sa.select(OperationRollup.day, OperationRollup.queue_id, OperationRollup.channel, OperationRollup.measure,
                  OperationRollup.bucket, OperationRollup.n)
        .where(OperationRollup.helpline_id == helpline_id, OperationRollup.n != 0)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operated, later=operation_steps, sampled=operation_queries)
def test_operations_from_rollups_equal_operations_from_contacts(ctx, make_helpline, history, later, sampled):
    helpline_id = make_helpline(timezone="Europe/London")
    queues = _queues(helpline_id)
    made = [_add_operated(helpline_id, queues, *row) for row in history]
    db.session.commit()
    helpline = db.session.get(Helpline, helpline_id)
    # Percentiles computed now (every cell changed), then stored by the refresh, then a mix: stored
    # ones, and cells changed again since.
    _assert_same_operations(helpline, sampled)
    rollups.refresh_operation_percentiles(helpline_id)
    _assert_same_operations(helpline, sampled)
    for step in later:
        _apply_operation(made, queues, step)
    _assert_same_operations(helpline, sampled)
    rollups.refresh_operation_percentiles(helpline_id)
    _assert_same_operations(helpline, sampled)

    kept = _operation_rows(helpline_id)
    rollups.rebuild(helpline, date(2024, 12, 1), date(2026, 1, 31))
    assert _operation_rows(helpline_id) == kept
    _assert_same_operations(helpline, sampled)

    helpline.timezone = "America/Sao_Paulo"
    db.session.commit()
    rollups.rebuild(helpline, date(2024, 12, 1), date(2026, 1, 31))
    _assert_same_operations(helpline, sampled)


def test_the_sql_time_buckets_are_the_python_ones_at_every_edge(ctx):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seconds = sorted({s + d for s in (0, 600, 1800, 7200, 86400, 12345) for d in (-1, -0.000001, 0, 0.000001, 1, 9.5)}
                     | set(EDGE_SECONDS))
    for s in seconds:
        later = start + timedelta(seconds=s)
        sql = db.session.execute(sa.text("SELECT stats_time_bucket(:later, :start)"),
                                 {"later": later, "start": start}).scalar()
        assert sql == time_buckets.bucket_of(later - start), s


def test_a_helpline_with_finalized_and_routed_contacts_can_be_deleted(ctx, make_helpline):
    helpline_id = make_helpline()
    contact = _add(helpline_id, datetime(2026, 1, 5, 12, tzinfo=UTC), "sms", {"call_type": "child"}, True)
    contact.queued_at = contact.assigned_at = contact.created_at
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactRollup)
                             .where(ContactRollup.helpline_id == helpline_id))
    db.session.execute(sa.text("DELETE FROM helplines WHERE id = :id"), {"id": helpline_id})
    db.session.commit()
    for model in (ContactRollup, OperationRollup, Contact):
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(model)
                                     .where(model.helpline_id == helpline_id))


def test_the_refresh_job_stores_the_percentiles_of_changed_cells_and_reports_keep_them(app, client, helpline,
                                                                                      manager, ctx):
    from app.stats.jobs import refresh_operation_percentiles_job
    from app.stats.models import OperationDirty, OperationPercentiles

    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    for wait in (10, 20, 700):
        contact = _add(helpline, start, "sms", {}, False)
        contact.queued_at, contact.assigned_at = start, start + timedelta(seconds=wait)
    db.session.commit()
    query = {"from": "2026-03-01", "to": "2026-03-31", "by": "month,channel"}
    before = client.get("/api/v1/stats/operations", query_string=query, headers=manager.headers).get_json()["rows"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OperationDirty)) == 3  # one per change
    assert refresh_operation_percentiles_job() == 1  # one day, queue and channel
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OperationDirty)) == 0
    stored = db.session.execute(sa.select(OperationPercentiles.low, OperationPercentiles.high, OperationPercentiles.p90)
                                .where(OperationPercentiles.grain == "m", OperationPercentiles.channel == "sms",
                                       OperationPercentiles.queue_id == "*",
                                       OperationPercentiles.measure == "wait")).one()
    assert tuple(stored) == (20, 20, 600 + (700 - 600) // 10)  # 700 s: the 10 s bucket from 700 s
    db.session.remove()
    after = client.get("/api/v1/stats/operations", query_string=query, headers=manager.headers).get_json()["rows"]
    assert after == before and (after[0]["wait_p50_s"], after[0]["wait_p90_s"]) == (20.0, 700.0)
    assert refresh_operation_percentiles_job() == 0
