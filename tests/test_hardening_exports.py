"""Security review, exports: no formula reaches a spreadsheet, every dimension from a closed vocabulary
(review item 2)."""
import csv
import io

import pytest
from openpyxl import load_workbook

from app.stats import formats
from app.stats.service import Table
from tests.channel_helpers import contacts, send_sms, set_settings, update_contact
from tests.helpers import assert_error
from tests.test_stats import JAN, seed, stats

PAYLOADS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "=HYPERLINK(\"http://x\")"]


def _table(values):
    rows = [{"language": value, "count": 5} for value in values]
    return Table(meta={"report": "contacts", "from": "2026-01-01", "to": "2026-01-31", "by": ["language"]}, dims=["language"], rows=rows)


def test_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised():
    content = formats.render(_table(PAYLOADS + ["en"]), "csv").decode()
    cells = [row[0] for row in csv.reader(io.StringIO(content))][1:]
    assert cells == ["'" + p for p in PAYLOADS] + ["en"]


def test_xlsx_cells_are_strings_never_formulas():
    workbook = load_workbook(io.BytesIO(formats.render(_table(PAYLOADS), "xlsx")))
    cells = [row[0] for row in workbook["contacts"].iter_rows(min_row=2)]
    assert [c.data_type for c in cells] == ["s"] * len(PAYLOADS)
    # (XML stores a carriage return as a line feed.)
    assert [c.value for c in cells] == ["'" + p.replace("\r", "\n") for p in PAYLOADS]


@pytest.fixture
def wrapup_contact(app, client, helpline, counsellor):
    send_sms(client, body="hi")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="wrapup", counsellor_id=counsellor.id)
    return contact.id


@pytest.mark.parametrize("child, field", [
    ({"language": "=1+1"}, "language"),
    ({"language": "Kiswahili ya mtaani"}, "language"),
    ({"region": "=cmd|' /C calc'!A0"}, "region"),
    ({"region": "Nairobi West"}, "region"),
])
def test_record_values_outside_the_vocabularies_are_422(client, counsellor, wrapup_contact, child, field):
    form = {"call_type": "child", "child": {"age": 12, "gender": "girl", **child}}
    error = assert_error(client.patch(f"/api/v1/contacts/{wrapup_contact}", json={"form": form},
                                      headers=counsellor.headers), 422)
    assert field in error["details"]["form"]["child"]


def test_regions_come_from_the_helplines_settings(app, client, helpline, admin, counsellor, manager, wrapup_contact):
    assert_error(client.patch("/api/v1/helpline", json={"settings": {"regions": ["Nairobi West"]}},
                              headers=admin.headers), 422)
    assert client.patch("/api/v1/helpline", json={"settings": {"regions": ["nairobi", "mombasa"]}},
                        headers=admin.headers).status_code == 200
    form = {"call_type": "child", "categories": ["violence.bullying"],
            "child": {"age": 12, "gender": "girl", "region": "mombasa", "language": "sw"}}
    assert client.patch(f"/api/v1/contacts/{wrapup_contact}", json={"form": form},
                        headers=counsellor.headers).status_code == 200


def test_values_stored_before_the_vocabularies_are_published_as_other(app, client, helpline, manager):
    set_settings(app, helpline, min_cell=3)
    planted = {"call_type": "child", "categories": ["violence.bullying"],
               "child": {"age": 12, "gender": "girl", "region": "=2+5", "language": "=1+1"}}
    seed(app, helpline, [(JAN, "sms", planted, {"child_language": "=1+1", "child_region": "=2+5"}) for _ in range(4)])
    body = stats(client, manager, **{"from": "2026-01-01", "to": "2026-01-31", "by": "language,region"}).get_json()
    assert [(r["language"], r["region"], r["count"]) for r in body["rows"]] == [("other", "other", 4)]
    content = stats(client, manager, fmt="csv", **{"from": "2026-01-01", "to": "2026-01-31", "by": "language"})
    assert "=1+1" not in content.get_data(as_text=True)
