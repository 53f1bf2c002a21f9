"""The referral directory: keeping it, searching it, naming it from a case referral, importing a CSV."""
import sqlalchemy as sa

from app.extensions import db
from app.resources.models import Resource
from tests.helpers import assert_error, pages

LEGAL = {"name": "Legal Aid Clinic", "description": "Free legal advice for children and families",
         "categories": ["violence"], "regions": ["city"], "languages": ["en", "sw"], "age_min": 10, "age_max": 17,
         "phone": "+254 20 123 4567", "website": "https://legal.example.org", "hours": "Mon-Fri 9-17"}
SHELTER = {"name": "Safe House", "description": "Emergency shelter", "categories": ["violence.physical"],
           "regions": [], "languages": ["sw"]}
SCHOOL = {"name": "School Counselling Service", "categories": ["education"], "regions": ["rural"], "age_max": 12}


def create(client, actor, body):
    return client.post("/api/v1/resources", json=body, headers=actor.headers)


def stored_count(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Resource))


def test_supervisors_and_admins_keep_the_directory_counsellors_read_it_managers_do_not(
        app, client, supervisor, admin, counsellor, manager):
    response = create(client, supervisor, LEGAL)
    assert response.status_code == 201, response.get_json()
    legal = response.get_json()
    assert {k: legal[k] for k in LEGAL} == LEGAL
    assert create(client, admin, SHELTER).status_code == 201
    assert_error(create(client, counsellor, SCHOOL), 403)
    assert_error(create(client, manager, SCHOOL), 403)
    assert_error(client.get("/api/v1/resources", headers=manager.headers), 403)
    assert_error(client.get(f"/api/v1/resources/{legal['id']}", headers=manager.headers), 403)
    assert client.get(f"/api/v1/resources/{legal['id']}", headers=counsellor.headers).get_json()["name"] == LEGAL["name"]
    assert len(client.get("/api/v1/resources", headers=counsellor.headers).get_json()["items"]) == 2

    patched = client.patch(f"/api/v1/resources/{legal['id']}", json={"hours": "24/7", "regions": ["city", "town"]},
                           headers=supervisor.headers)
    assert patched.status_code == 200
    assert (patched.get_json()["hours"], patched.get_json()["regions"]) == ("24/7", ["city", "town"])
    assert patched.get_json()["languages"] == ["en", "sw"]  # not given: unchanged, no default
    assert_error(client.patch(f"/api/v1/resources/{legal['id']}", json={"hours": "x"}, headers=counsellor.headers), 403)
    assert_error(client.delete(f"/api/v1/resources/{legal['id']}", headers=counsellor.headers), 403)
    assert client.delete(f"/api/v1/resources/{legal['id']}", headers=admin.headers).status_code == 204
    assert_error(client.get(f"/api/v1/resources/{legal['id']}", headers=counsellor.headers), 404)
    # Typed texts are encrypted at rest.
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT name, description FROM resources")).one()
    assert "Safe House" not in raw[0] and "shelter" not in raw[1]


def test_bad_resources_are_422_and_store_nothing(app, client, supervisor):
    for bad in ({**LEGAL, "categories": ["violence.nonsense"]}, {**LEGAL, "categories": []},
                {**LEGAL, "regions": ["atlantis"]}, {**LEGAL, "age_min": 15, "age_max": 12},
                {**LEGAL, "phone": "call me maybe"}, {**LEGAL, "website": "javascript:alert(1)"},
                {**LEGAL, "languages": ["not a tag!"]}, {**LEGAL, "name": ""}, {**LEGAL, "description": "x" * 4001},
                {**LEGAL, "age_min": "ten"}, {**LEGAL, "categories": "violence"}, {"categories": ["violence"]},
                {**LEGAL, "extra": 1}):
        assert_error(create(client, supervisor, bad), 422)
    assert stored_count(app) == 0
    legal = create(client, supervisor, LEGAL).get_json()
    for bad in ({"age_min": 18}, {"name": None}, {"categories": []}, {"regions": ["atlantis"]}):
        assert_error(client.patch(f"/api/v1/resources/{legal['id']}", json=bad, headers=supervisor.headers), 422)
    assert client.get(f"/api/v1/resources/{legal['id']}", headers=supervisor.headers).get_json()["age_min"] == 10


def test_another_helplines_resources_are_404(client, supervisor, make_helpline, make_user):
    legal = create(client, supervisor, LEGAL).get_json()
    stranger = make_user(make_helpline("other"), "supervisor")
    for method in ("get", "patch", "delete"):
        assert_error(getattr(client, method)(f"/api/v1/resources/{legal['id']}", json={"hours": "x"},
                                             headers=stranger.headers), 404)
    assert client.get("/api/v1/resources", headers=stranger.headers).get_json()["items"] == []


def test_search_by_words_category_region_language_and_age(client, supervisor, counsellor):
    ids = {body["name"]: create(client, supervisor, body).get_json()["id"] for body in (LEGAL, SHELTER, SCHOOL)}

    def search(**query):
        response = client.get("/api/v1/resources", query_string=query, headers=counsellor.headers)
        assert response.status_code == 200, response.get_json()
        return {item["name"] for item in response.get_json()["items"]}

    assert search(q="LEGAL advice") == {"Legal Aid Clinic"}
    assert search(q="shelter emergency") == {"Safe House"}
    # A top-level code finds its sub-categories; a sub-category finds services for its whole top level.
    assert search(category="violence") == {"Legal Aid Clinic", "Safe House"}
    assert search(category="violence.physical") == {"Legal Aid Clinic", "Safe House"}
    assert search(category="violence.sexual") == {"Legal Aid Clinic"}
    assert search(category="education") == {"School Counselling Service"}
    # No regions means everywhere; no languages means not stated.
    assert search(region="city") == {"Legal Aid Clinic", "Safe House"}
    assert search(region="rural") == {"Safe House", "School Counselling Service"}
    assert search(language="en") == {"Legal Aid Clinic", "School Counselling Service"}
    assert search(age=8) == {"Safe House", "School Counselling Service"}
    assert search(age=15) == {"Legal Aid Clinic", "Safe House"}
    assert search(category="violence", region="rural", language="sw", age=15) == {"Safe House"}
    assert search(q="nothing like this") == set()
    for bad in ({"age": -1}, {"age": "old"}, {"language": "!!"}, {"limit": 0}, {"cursor": "bogus"}):
        assert_error(client.get("/api/v1/resources", query_string=bad, headers=counsellor.headers), 422)
    assert sum(pages(client, counsellor, "/api/v1/resources", 2), []) == sorted(ids.values(), reverse=True)


def test_a_case_referral_may_name_a_resource_of_the_helpline(client, supervisor, counsellor, make_helpline, make_user):
    legal = create(client, supervisor, LEGAL).get_json()
    stranger = make_user(make_helpline("other"), "supervisor")
    theirs = create(client, stranger, LEGAL).get_json()
    case = client.post("/api/v1/cases", json={}, headers=counsellor.headers).get_json()
    path = f"/api/v1/cases/{case['id']}/sections/referral"
    response = client.post(path, json={"data": {"resource_id": legal["id"], "reason": "custody"}},
                           headers=counsellor.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"] == {"resource_id": legal["id"], "organisation": "Legal Aid Clinic",
                                           "reason": "custody"}
    named = client.post(path, json={"data": {"resource_id": legal["id"], "organisation": "Legal Aid, Nairobi office"}},
                        headers=counsellor.headers)
    assert named.get_json()["data"]["organisation"] == "Legal Aid, Nairobi office"
    for data in ({"resource_id": theirs["id"]}, {"resource_id": "01a00000-0000-7000-8000-000000000000"},
                 {"reason": "custody"}, {"resource_id": 7}):
        details = assert_error(client.post(path, json={"data": data}, headers=counsellor.headers), 422)["details"]
        assert set(details["data"]) & {"resource_id", "organisation"}, details


def test_csv_import_checks_every_row_and_imports_all_or_nothing(app, client, helpline, counsellor, tmp_path):
    cli = app.test_cli_runner()
    good = tmp_path / "good.csv"
    good.write_text(
        "name,description,categories,regions,languages,age_min,age_max,phone,website,hours\n"
        "Legal Aid Clinic,Free legal advice,violence;violence.sexual,city;town,en;sw,10,17,+254 20 1234,"
        "https://legal.example.org,Mon-Fri\n"
        "Safe House,,violence.physical,,,,,,,\n", encoding="utf-8")
    result = cli.invoke(args=["resources", "import", "--helpline", "main", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 resources" in result.output
    items = client.get("/api/v1/resources", query_string={"category": "violence"}, headers=counsellor.headers).get_json()
    legal = next(i for i in items["items"] if i["name"] == "Legal Aid Clinic")
    assert legal["categories"] == ["violence", "violence.sexual"] and legal["regions"] == ["city", "town"]
    assert (legal["age_min"], legal["age_max"], legal["languages"]) == (10, 17, ["en", "sw"])

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,categories,regions,age_min,age_max,website\n"
        "Fine Service,education,,,,\n"
        ",education,,,,\n"
        "Odd,violence.nonsense,atlantis,,,\n"
        "Ages,education,,15,ten,\n"
        "Link,education,,,,ftp://files.example.org\n", encoding="utf-8")
    result = cli.invoke(args=["resources", "import", "--helpline", "main", str(bad)])
    assert result.exit_code != 0
    for expected in ("line 3: name:", "line 4: categories:", "line 4: regions:", "line 5: age_max:",
                     "line 6: website:", "Nothing imported: 5 problem(s)"):
        assert expected in result.output, result.output
    assert "line 2" not in result.output
    assert stored_count(app) == 2  # the good file's two; nothing of the bad one

    wrong_columns = tmp_path / "columns.csv"
    wrong_columns.write_text("title,categories\nX,education\n", encoding="utf-8")
    result = cli.invoke(args=["resources", "import", "--helpline", "main", str(wrong_columns)])
    assert result.exit_code != 0 and "missing column(s) name" in result.output and "unknown column(s) title" in result.output
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00name")
    assert "not UTF-8" in cli.invoke(args=["resources", "import", "--helpline", "main", str(binary)]).output
    assert cli.invoke(args=["resources", "import", "--helpline", "nope", str(good)]).exit_code != 0
    assert stored_count(app) == 2
