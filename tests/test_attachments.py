"""Case attachments: type by content, encrypted on disk, permission actions, audited downloads, erasure, rotation."""
import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app.cases.models import CaseAttachment
from app.extensions import db
from tests.helpers import assert_error, rotated_data_key

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"
TEXT = "Notes from the school visit: Amina was calm.\n".encode()
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00"


def office(main_type: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", f'<?xml version="1.0"?><Types><Override PartName="/word/document.xml" '
                                                f'ContentType="{main_type}"/></Types>')
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w:document>Amina</w:document>")
    return buffer.getvalue()


DOCX = office("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
DOCM = office("application/vnd.ms-word.document.macroEnabled.main+xml")


@pytest.fixture
def case(client, counsellor):
    return client.post("/api/v1/cases", json={"summary": "Amina"}, headers=counsellor.headers).get_json()


def upload(client, actor, case_id, content, filename="file.bin", content_type="application/octet-stream"):
    return client.post(f"/api/v1/cases/{case_id}/attachments", headers=actor.headers,
                       data={"file": (io.BytesIO(content), filename, content_type)}, content_type="multipart/form-data")


def stored_files(app) -> list[Path]:
    return [p for p in Path(app.config["ATTACHMENTS_DIR"]).rglob("*") if p.is_file()]


@pytest.fixture(autouse=True)
def _empty_attachments_dir(app):
    for path in stored_files(app):
        path.unlink()


@pytest.mark.parametrize("content, name, expected, download", [
    (PDF, "report.pdf", "application/pdf", "report.pdf"),
    (PNG, "drawing.png", "image/png", "drawing.png"),
    (JPEG, "photo.JPEG", "image/jpeg", "photo.JPEG"),
    (TEXT, "notes.txt", "text/plain", "notes.txt"),
    (DOCX, "letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "letter.docx"),
    # The name's extension is not trusted: the content decides, and the download says what it is.
    (PNG, "invoice.pdf", "image/png", "invoice.pdf.png"),
    (TEXT, "page.html", "text/plain", "page.html.txt"),
])
def test_upload_list_and_download_by_content_type(app, client, counsellor, case, content, name, expected, download):
    response = upload(client, counsellor, case["id"], content, filename=f"/home/me/{name}", content_type="text/html")
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()
    assert (attachment["content_type"], attachment["size"], attachment["filename"]) == (expected, len(content), name)
    listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=counsellor.headers).get_json()["items"]
    assert [a["id"] for a in listed] == [attachment["id"]]
    got = client.get(f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=counsellor.headers)
    assert got.status_code == 200 and got.data == content
    assert got.mimetype == expected
    assert got.headers["Content-Disposition"].startswith("attachment;") and download in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff" and "no-store" in got.headers["Cache-Control"]


def test_never_plaintext_on_disk_or_in_the_database_and_every_download_is_audited(app, client, counsellor, supervisor,
                                                                                  case):
    attachment = upload(client, counsellor, case["id"], TEXT, filename="amina-school.txt").get_json()
    [path] = stored_files(app)
    raw = path.read_bytes()
    assert b"Amina" not in raw and b"school visit" not in raw
    with app.app_context():
        assert app.extensions["data_cipher"].fernet.decrypt(raw) == TEXT
        stored_name = db.session.execute(sa.text("SELECT filename FROM case_attachments")).scalar()
    assert "amina" not in stored_name
    for actor in (counsellor, supervisor, supervisor):
        client.get(f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=actor.headers)
    audit = client.get("/api/v1/audit", query_string={"record_type": "attachment", "record_id": attachment["id"]},
                       headers=supervisor.headers).get_json()["items"]
    downloads = [(e["user_id"], e["action"]) for e in audit if e["action"] == "download"]
    assert sorted(downloads) == sorted([(counsellor.id, "download"), (supervisor.id, "download"),
                                        (supervisor.id, "download")])
    assert [e["action"] for e in audit if e["action"] == "add"] == ["add"]


@pytest.mark.parametrize("content, name", [
    (EXE, "report.pdf"), (GIF, "picture.png"), (DOCM, "letter.docx"), (b"PK\x03\x04" + b"\x00" * 40, "a.docx"),
    (b"", "empty.txt"), (b"\x00\x01\x02binary\xff\xfe", "notes.txt"), (b"line\x00with nul", "notes.txt"),
])
def test_types_outside_the_allow_list_are_422_and_store_nothing(app, client, counsellor, case, content, name):
    assert_error(upload(client, counsellor, case["id"], content, filename=name, content_type="application/pdf"), 422)
    assert stored_files(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseAttachment)) == 0


def test_malformed_uploads(app, client, counsellor, case):
    path = f"/api/v1/cases/{case['id']}/attachments"
    assert_error(client.post(path, data={"other": (io.BytesIO(PDF), "a.pdf")}, content_type="multipart/form-data",
                             headers=counsellor.headers), 422)
    assert_error(client.post(path, json={"file": "JVBERi0="}, headers=counsellor.headers), 422)
    assert_error(client.post(path, data="file=abc", content_type="application/x-www-form-urlencoded",
                             headers=counsellor.headers), 415)
    # Over 10 MB: 413 before anything is stored.
    big = PDF + b"0" * (10 * 1024 * 1024)
    assert_error(upload(client, counsellor, case["id"], big, filename="big.pdf"), 413)
    # JSON routes keep their 1 MiB limit and their JSON-only rule.
    assert_error(client.post(f"/api/v1/cases/{case['id']}/sections/note", data={"file": (io.BytesIO(PDF), "a.pdf")},
                             content_type="multipart/form-data", headers=counsellor.headers), 415)
    assert stored_files(app) == []


def test_permission_actions_tenancy_and_roles(app, client, counsellor, supervisor, admin, manager, case, make_user,
                                              helpline, make_helpline):
    attachment = upload(client, counsellor, case["id"], PDF, "a.pdf").get_json()
    one = f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}"
    colleague = make_user(helpline, "counsellor")
    stranger = make_user(make_helpline(), "supervisor")
    for actor in (colleague, stranger):  # may not view the case: as if it did not exist
        assert_error(upload(client, actor, case["id"], PDF), 404)
        assert_error(client.get(one, headers=actor.headers), 404)
        assert_error(client.delete(one, headers=actor.headers), 404)
    for actor in (manager, admin):
        assert_error(client.get(one, headers=actor.headers), 403)
    assert client.get(one, headers=supervisor.headers).status_code == 200
    assert_error(client.get(f"/api/v1/cases/{case['id']}/attachments/{'0' * 36}", headers=counsellor.headers), 404)

    # The engine's actions decide: here only supervisors may view attachments, and nobody may add one.
    rules = {"view_attachment": [["is_supervisor"]], "add_attachment": [["nobody"]]}
    assert client.put("/api/v1/helpline/permissions", json=rules, headers=admin.headers).status_code == 200
    assert_error(client.get(one, headers=counsellor.headers), 403)
    assert_error(client.get(f"/api/v1/cases/{case['id']}/attachments", headers=counsellor.headers), 403)
    assert_error(upload(client, supervisor, case["id"], PDF), 403)
    client.put("/api/v1/helpline/permissions", json={}, headers=admin.headers)

    # Defaults follow the sections': the owner adds to an open case, not a closed one.
    assert client.put(f"/api/v1/cases/{case['id']}/status", json={"status": "closed"},
                       headers=counsellor.headers).status_code == 200
    assert_error(upload(client, counsellor, case["id"], PDF), 403)
    assert_error(client.delete(one, headers=counsellor.headers), 403)
    assert client.delete(one, headers=supervisor.headers).status_code == 204
    assert_error(client.get(one, headers=supervisor.headers), 404)
    assert stored_files(app) == []


def test_erasure_removes_the_files_of_the_childs_cases(app, client, counsellor, supervisor):
    from tests.channel_helpers import contacts, send_sms, update_contact
    from app.core.time import utcnow

    send_sms(client, body="hello", sender="+447700900777")
    contact = contacts(app)[-1]
    update_contact(app, contact.id, status="wrapup", counsellor_id=counsellor.id, ended_at=utcnow())
    case = client.post("/api/v1/cases", json={"contacts": [contact.id]}, headers=counsellor.headers).get_json()
    upload(client, counsellor, case["id"], TEXT, "statement.txt")
    assert len(stored_files(app)) == 1
    assert client.post(f"/api/v1/profiles/{contact.profile_id}/erase", headers=supervisor.headers).status_code == 200
    assert stored_files(app) == []
    assert client.get(f"/api/v1/cases/{case['id']}/attachments", headers=supervisor.headers).get_json()["items"] == []


def test_key_rotation_re_encrypts_the_files(app, client, counsellor, case):
    upload(client, counsellor, case["id"], PDF, "a.pdf")
    [path] = stored_files(app)
    with rotated_data_key(app) as (new_key, _):
        assert Fernet(new_key.encode()).decrypt(path.read_bytes()) == PDF
    assert Fernet(app.config["DATA_ENCRYPTION_KEY"].encode()).decrypt(path.read_bytes()) == PDF
