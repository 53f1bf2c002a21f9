"""Statistics rollups (PostgreSQL): reports from rollups equal reports from the contacts, cell for cell.

Random histories of contacts (created around midnight and the DST changes of the helpline's zone;
finalized, edited after finalizing, re-categorised, erased, deleted) are applied through the ORM,
so the trigger keeps the rollups; then every sampled table, before vocabulary and disclosure
control, is compared with the same table counted from the contacts. The rebuild command must
give the same rollups, also after a time zone change.
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
from app.stats.models import ContactRollup
from app.stats.service import count_contacts_from_contacts

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
    elif action == "move":
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
