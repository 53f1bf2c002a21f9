"""Case attachments: files checked by their content, kept encrypted on disk, every download audited.

A file's bytes are encrypted with the data key (Fernet, as every stored value) before they touch
the disk, under ATTACHMENTS_DIR/<helpline id>/<attachment id>; the database holds only its
encrypted name, the type its content showed and its size. The type comes from the bytes (magic
numbers, `filetype`), never from the name or the client's Content-Type; a DOCX is opened to check
it is a Word document without macros.
"""
from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from pathlib import Path, PurePosixPath

import filetype
import sqlalchemy as sa
from flask import current_app

from app.audit import service as audit
from app.auth.models import User
from app.cases.models import ATTACHMENT_TYPES, Case, CaseAttachment
from app.cases.service import get_case_for
from app.core.crypto import cipher
from app.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.core.rotate import register_file_rotator
from app.extensions import db

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_PER_CASE = 200
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
# Text may hold tabs, line breaks and form feeds, never other control characters.
_BINARY_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class PayloadTooLarge(DomainError):
    status, code, message = 413, "payload_too_large", "The file is too large."


def detect_type(content: bytes) -> str | None:
    """The allowed type the bytes are, or None. Plain text is UTF-8 without binary control characters."""
    kind = filetype.guess(content[:8192])
    if kind is not None:
        if kind.mime == DOCX:
            return DOCX if _is_word_document(content) else None
        return kind.mime if kind.mime in ATTACHMENT_TYPES else None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain" if text.strip() and not _BINARY_IN_TEXT.search(text) else None


def _is_word_document(content: bytes) -> bool:
    """A real .docx: a zip whose content types declare a Word main document (a macro-enabled .docm declares another)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if "[Content_Types].xml" not in names or "word/document.xml" not in names:
                return False
            return _DOCX_MAIN in archive.read("[Content_Types].xml")
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError):
        return False


def _path(helpline_id: str, attachment_id: str) -> Path:
    return Path(current_app.config["ATTACHMENTS_DIR"]) / helpline_id / attachment_id


def _replace_file(path: Path, token: bytes) -> None:
    """Written to a temporary name, fsynced and renamed: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(token)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _clean_filename(filename: str | None) -> str:
    """The last part of the name, without control characters; "attachment" when nothing is left."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()[:200]
    return name or "attachment"


def download_name(attachment: CaseAttachment) -> str:
    """The stored name, with the extension of the type its content showed (the uploaded one is not trusted)."""
    extension = ATTACHMENT_TYPES[attachment.content_type]
    name = attachment.filename
    aliases = {"jpg": (".jpg", ".jpeg")}.get(extension, (f".{extension}",))
    return name if name.lower().endswith(aliases) else f"{name}.{extension}"


def add_attachment(user: User, case_id: str, filename: str | None, stream) -> CaseAttachment:
    case = get_case_for(user, case_id, "add_attachment", audit_as=None)
    content = stream.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise PayloadTooLarge(details={"file": [f"At most {MAX_BYTES // (1024 * 1024)} MB."]})
    if not content:
        raise ValidationFailed(details={"file": ["The file is empty."]})
    content_type = detect_type(content)
    if content_type is None:
        raise ValidationFailed(details={"file": ["Not an allowed type (by its content): PDF, PNG, JPEG, plain text "
                                                 "or DOCX."]})
    count = db.session.scalar(sa.select(sa.func.count()).select_from(CaseAttachment)
                              .where(CaseAttachment.case_id == case.id))
    if count >= MAX_PER_CASE:
        raise Conflict(f"A case holds at most {MAX_PER_CASE} attachments.", code="too_many_attachments")
    attachment = CaseAttachment(helpline_id=case.helpline_id, case_id=case.id, filename=_clean_filename(filename),
                                content_type=content_type, size=len(content), created_by=user.id)
    db.session.add(attachment)
    db.session.flush()
    path = _path(attachment.helpline_id, attachment.id)
    _replace_file(path, cipher.fernet.encrypt(content))  # encrypted in memory: no plaintext on disk
    try:
        audit.record(user, "add", "attachment", attachment.id, ["file"])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        path.unlink(missing_ok=True)
        raise
    return attachment


def list_attachments(user: User, case_id: str) -> list[CaseAttachment]:
    case = get_case_for(user, case_id, "view_attachment", audit_as=None)
    attachments = list(db.session.scalars(sa.select(CaseAttachment).where(CaseAttachment.case_id == case.id)
                                          .order_by(CaseAttachment.id.desc())))
    audit.record(user, "list_attachments", "case", case.id)
    db.session.commit()
    return attachments


def _attachment(case: Case, attachment_id: str) -> CaseAttachment:
    attachment = db.session.get(CaseAttachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        raise NotFound("No such attachment.")
    return attachment


def read_attachment(user: User, case_id: str, attachment_id: str) -> tuple[CaseAttachment, bytes]:
    """The file's bytes, decrypted in memory; every download is audited."""
    case = get_case_for(user, case_id, "view_attachment", audit_as=None)
    attachment = _attachment(case, attachment_id)
    try:
        content = cipher.fernet.decrypt(_path(attachment.helpline_id, attachment.id).read_bytes())
    except FileNotFoundError:
        log.error("attachment file missing", extra={"attachment_id": attachment.id})
        raise NotFound("The attachment's file is missing.", code="attachment_file_missing") from None
    audit.record(user, "download", "attachment", attachment.id)
    db.session.commit()
    return attachment, content


def delete_attachment(user: User, case_id: str, attachment_id: str) -> None:
    case = get_case_for(user, case_id, "delete_attachment", audit_as=None)
    attachment = _attachment(case, attachment_id)
    path = _path(attachment.helpline_id, attachment.id)
    db.session.delete(attachment)
    audit.record(user, "delete", "attachment", attachment.id)
    db.session.commit()
    path.unlink(missing_ok=True)  # after the commit: a failed commit keeps a file its row still names


def erase_case_attachments(case_ids: list[str]) -> list[Path]:
    """Erasure: the rows go in the caller's transaction; the caller removes the returned files after
    its commit (`remove_files`)."""
    if not case_ids:
        return []
    paths = [_path(helpline_id, attachment_id) for helpline_id, attachment_id in db.session.execute(
        sa.select(CaseAttachment.helpline_id, CaseAttachment.id).where(CaseAttachment.case_id.in_(case_ids)))]
    db.session.execute(sa.delete(CaseAttachment).where(CaseAttachment.case_id.in_(case_ids)))
    return paths


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def rotate_attachment_files() -> int:
    """`crypto rotate`: re-encrypt every attachment under the newest data key (each file replaced whole)."""
    rotated = 0
    for helpline_id, attachment_id in db.session.execute(sa.select(CaseAttachment.helpline_id, CaseAttachment.id)):
        path = _path(helpline_id, attachment_id)
        if not path.exists():
            continue
        _replace_file(path, cipher.fernet.rotate(path.read_bytes()))
        rotated += 1
    return rotated


register_file_rotator(rotate_attachment_files)
