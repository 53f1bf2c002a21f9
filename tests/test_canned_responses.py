"""Canned responses (contract: Working tools): scopes and who keeps them, search, language,
rendering placeholders, tenancy, validation, encryption at rest."""
import sqlalchemy as sa

from app.extensions import db
from tests.helpers import assert_error, pages

PATH = "/api/v1/canned-responses"


def create(client, actor, **body):
    body = {"title": "Greeting", "text": "Hello, you are talking to {counsellor_name} at {helpline_name}.", **body}
    return client.post(PATH, json=body, headers=actor.headers)


def test_supervisors_and_admins_keep_the_helplines_responses_and_everyone_sees_them(
        client, supervisor, admin, counsellor, manager):
    made = create(client, supervisor, scope="helpline", shortcut="hello", language="en")
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["scope"] == "helpline" and body["owner_id"] is None and body["shortcut"] == "hello"
    assert create(client, admin, scope="helpline", title="Closing").status_code == 201
    assert_error(create(client, counsellor, scope="helpline"), 403)
    assert_error(create(client, manager, scope="helpline"), 403)
    listed = client.get(PATH, headers=counsellor.headers).get_json()
    assert [r["title"] for r in listed["items"]] == ["Closing", "Greeting"]
    # A counsellor may read but not change or delete the helpline's.
    assert_error(client.patch(f"{PATH}/{body['id']}", json={"title": "x"}, headers=counsellor.headers), 403)
    assert_error(client.delete(f"{PATH}/{body['id']}", headers=counsellor.headers), 403)
    assert client.get(f"{PATH}/{body['id']}", headers=counsellor.headers).status_code == 200


def test_personal_responses_are_seen_only_by_their_owner(client, make_user, helpline, counsellor, supervisor):
    other = make_user(helpline, "counsellor")
    mine = create(client, counsellor, title="My own").get_json()
    assert mine["scope"] == "personal" and mine["owner_id"] == counsellor.id
    assert [r["title"] for r in client.get(PATH, headers=counsellor.headers).get_json()["items"]] == ["My own"]
    assert client.get(PATH, headers=other.headers).get_json()["items"] == []
    assert client.get(PATH, headers=supervisor.headers).get_json()["items"] == []
    for actor in (other, supervisor):
        assert_error(client.get(f"{PATH}/{mine['id']}", headers=actor.headers), 404)
        assert_error(client.patch(f"{PATH}/{mine['id']}", json={"title": "x"}, headers=actor.headers), 404)
        assert_error(client.delete(f"{PATH}/{mine['id']}", headers=actor.headers), 404)
    changed = client.patch(f"{PATH}/{mine['id']}", json={"text": "See you soon"}, headers=counsellor.headers)
    assert changed.status_code == 200 and changed.get_json()["text"] == "See you soon"
    assert changed.get_json()["title"] == "My own"
    assert client.delete(f"{PATH}/{mine['id']}", headers=counsellor.headers).status_code == 204
    assert_error(client.get(f"{PATH}/{mine['id']}", headers=counsellor.headers), 404)


def test_search_by_title_or_shortcut_and_filter_by_language(client, supervisor, counsellor):
    create(client, supervisor, scope="helpline", title="Bullying at school", shortcut="bully", language="en")
    create(client, supervisor, scope="helpline", title="Harcèlement", shortcut="harcel", language="fr")
    create(client, counsellor, title="Goodbye", shortcut="bye/school")

    def titles(**query):
        return sorted(r["title"] for r in client.get(PATH, query_string=query, headers=counsellor.headers)
                      .get_json()["items"])

    assert titles(q="SCHOOL") == ["Bullying at school", "Goodbye"]
    assert titles(q="bully") == ["Bullying at school"]
    assert titles(q="harc") == ["Harcèlement"]
    assert titles(language="fr") == ["Harcèlement"]
    assert titles(scope="personal") == ["Goodbye"]
    assert titles(q="nothing like it") == []
    assert_error(client.get(PATH, query_string={"language": "not a language"}, headers=counsellor.headers), 422)


def test_render_fills_in_the_counsellor_and_helpline_names_and_nothing_else(client, make_user, helpline):
    named = make_user(helpline, "counsellor", name="Amina")
    made = create(client, named, text="Hi, I am {counsellor_name} from {helpline_name}. {child_name} {0} {").get_json()
    raw = client.get(f"{PATH}/{made['id']}", headers=named.headers).get_json()
    assert raw["text"] == "Hi, I am {counsellor_name} from {helpline_name}. {child_name} {0} {"
    rendered = client.get(f"{PATH}/{made['id']}?render=1", headers=named.headers).get_json()
    assert rendered["text"] == "Hi, I am Amina from Main Helpline. {child_name} {0} {"
    listed = client.get(PATH, query_string={"render": 1}, headers=named.headers).get_json()
    assert listed["items"][0]["text"] == rendered["text"]


def test_another_helplines_responses_are_invisible(client, make_helpline, make_user, supervisor):
    theirs = make_user(make_helpline(), "supervisor")
    made = create(client, theirs, scope="helpline").get_json()
    assert client.get(PATH, headers=supervisor.headers).get_json()["items"] == []
    assert_error(client.get(f"{PATH}/{made['id']}", headers=supervisor.headers), 404)
    assert_error(client.patch(f"{PATH}/{made['id']}", json={"title": "x"}, headers=supervisor.headers), 404)
    assert_error(client.delete(f"{PATH}/{made['id']}", headers=supervisor.headers), 404)


def test_bad_input_is_refused_and_changes_nothing(client, supervisor):
    for body in ({}, {"title": "", "text": "x"}, {"title": "t", "text": 5}, {"title": "t", "text": "x" * 4001},
                 {"title": "t", "text": "x", "scope": "world"}, {"title": "t", "text": "x", "shortcut": "has space"},
                 {"title": "t", "text": "x", "language": "xx-not-a-tag"}, {"title": "t", "text": "x", "extra": 1}):
        assert_error(client.post(PATH, json=body, headers=supervisor.headers), 422)
    assert client.post(PATH, data="{not json", headers={**supervisor.headers, "Content-Type": "application/json"}
                       ).status_code == 400
    made = create(client, supervisor).get_json()
    assert_error(client.patch(f"{PATH}/{made['id']}", json={"scope": "helpline"}, headers=supervisor.headers), 422)
    assert_error(client.patch(f"{PATH}/{made['id']}", json={"title": None}, headers=supervisor.headers), 422)
    assert len(client.get(PATH, headers=supervisor.headers).get_json()["items"]) == 1
    assert client.get(f"{PATH}/{made['id']}", headers=supervisor.headers).get_json()["title"] == "Greeting"


def test_lists_page_through_every_response_once(client, counsellor):
    for n in range(7):
        create(client, counsellor, title=f"Reply {n}")
    seen = pages(client, counsellor, PATH, 3)
    assert [len(p) for p in seen] == [3, 3, 1]
    assert len({i for p in seen for i in p}) == 7


def test_texts_are_encrypted_at_rest(app, client, counsellor):
    create(client, counsellor, title="Secret title", text="Secret text", shortcut="secretcut")
    with app.app_context():
        row = db.session.execute(sa.text("SELECT title, text, shortcut FROM canned_responses")).one()
    assert all("Secret" not in value and "secretcut" not in value for value in row)
