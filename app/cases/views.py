import io

from flask import send_file
from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.cases import attachments, service
from app.cases.models import SECTION_TYPES
from app.cases.schemas import (
    AttachmentListSchema, AttachmentSchema, AttachmentUploadSchema,
    CaseCreateSchema, CaseListArgsSchema, CasePageSchema, CasePatchSchema, CaseSchema, CaseStatusSchema,
    SectionBodySchema, SectionListSchema, SectionSchema, TimelineSchema,
)
from app.core.http import multipart_upload
from app.core.pagination import PageArgsSchema

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Cases and their sections")
SECTION = "<any(" + ",".join(SECTION_TYPES) + "):section_type>"


@blp.route("", methods=["GET"])
@blp.arguments(CaseListArgsSchema, location="query")
@blp.response(200, CasePageSchema)
def list_cases(args):
    """Cases you may view, newest first. `q`: a phone number of a linked contact, or words of the summary,
    label, sections or linked records. `category`: of a linked contact."""
    limit, cursor = args.pop("limit"), args.pop("cursor")
    items, next_cursor = service.list_cases(current_user(), args, limit=limit, cursor=cursor)
    return {"items": [service.serialise_case(c) for c in items], "next_cursor": next_cursor}


@blp.route("", methods=["POST"])
@blp.arguments(CaseCreateSchema)
@blp.response(201, CaseSchema)
def create_case(args):
    """Open a case, optionally from contacts you may view (a contact belongs to one case at most)."""
    return service.serialise_case(service.create_case(current_user(), args))


@blp.route("/<case_id>", methods=["GET"])
@blp.response(200, CaseSchema)
def get_case(case_id):
    return service.serialise_case(service.get_case_for(current_user(), case_id))


@blp.route("/<case_id>", methods=["PATCH"])
@blp.arguments(CasePatchSchema)
@blp.response(200, CaseSchema)
def update_case(args, case_id):
    return service.serialise_case(service.update_case(current_user(), case_id, args))


@blp.route("/<case_id>/status", methods=["PUT"])
@blp.arguments(CaseStatusSchema)
@blp.response(200, CaseSchema)
def set_status(args, case_id):
    """Closing needs `close_case`, reopening `reopen_case`, open/in progress `edit_case`; each change is kept in `status_history`."""
    return service.serialise_case(service.set_status(current_user(), case_id, args["status"]))


@blp.route("/<case_id>/contacts/<contact_id>", methods=["PUT"])
@blp.response(200, CaseSchema)
def link_contact(case_id, contact_id):
    return service.serialise_case(service.link_contact(current_user(), case_id, contact_id))


@blp.route("/<case_id>/contacts/<contact_id>", methods=["DELETE"])
@blp.response(200, CaseSchema)
def unlink_contact(case_id, contact_id):
    return service.serialise_case(service.unlink_contact(current_user(), case_id, contact_id))


@blp.route(f"/<case_id>/sections/{SECTION}", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, SectionListSchema)
def list_sections(args, case_id, section_type):
    """The case's sections of this type, newest first."""
    items, next_cursor = service.list_sections(current_user(), case_id, section_type, **args)
    return {"items": [service.serialise_section(s) for s in items], "next_cursor": next_cursor}


@blp.route(f"/<case_id>/sections/{SECTION}", methods=["POST"])
@blp.arguments(SectionBodySchema)
@blp.response(201, SectionSchema)
def add_section(args, case_id, section_type):
    """Add a note, referral, perpetrator, incident or household; each type has its own fields (422 names them)."""
    return service.serialise_section(service.add_section(current_user(), case_id, section_type, args["data"]))


@blp.route(f"/<case_id>/sections/{SECTION}/<section_id>", methods=["GET"])
@blp.response(200, SectionSchema)
def get_section(case_id, section_type, section_id):
    return service.serialise_section(service.get_section(current_user(), case_id, section_type, section_id))


@blp.route(f"/<case_id>/sections/{SECTION}/<section_id>", methods=["PUT"])
@blp.arguments(SectionBodySchema)
@blp.response(200, SectionSchema)
def update_section(args, case_id, section_type, section_id):
    return service.serialise_section(
        service.update_section(current_user(), case_id, section_type, section_id, args["data"]))


@blp.route(f"/<case_id>/sections/{SECTION}/<section_id>", methods=["DELETE"])
@blp.response(204)
def delete_section(case_id, section_type, section_id):
    service.delete_section(current_user(), case_id, section_type, section_id)


@blp.route("/<case_id>/timeline", methods=["GET"])
@blp.response(200, TimelineSchema)
def timeline(case_id):
    """Sections and linked contacts, newest first."""
    return {"items": service.timeline(current_user(), case_id)}


@blp.route("/<case_id>/attachments", methods=["POST"])
@multipart_upload(attachments.MAX_BYTES)
@blp.arguments(AttachmentUploadSchema, location="files")
@blp.response(201, AttachmentSchema)
def add_attachment(args, case_id):
    """Attach a file (multipart `file`, at most 10 MB; permission `add_attachment`). Its type is decided by its
    content: PDF, PNG, JPEG, plain text or DOCX, else 422. Stored encrypted; never plaintext on disk."""
    upload = args["file"]
    return attachments.add_attachment(current_user(), case_id, upload.filename, upload.stream)


@blp.route("/<case_id>/attachments", methods=["GET"])
@blp.response(200, AttachmentListSchema)
def list_attachments(case_id):
    """The case's files, newest first (permission `view_attachment`)."""
    return {"items": attachments.list_attachments(current_user(), case_id)}


@blp.route("/<case_id>/attachments/<attachment_id>", methods=["GET"])
@blp.response(200, description="The file, as `Content-Disposition: attachment` with `X-Content-Type-Options: "
                               "nosniff` (permission `view_attachment`); every download is audited.",
              content_type="application/octet-stream")
def download_attachment(case_id, attachment_id):
    attachment, content = attachments.read_attachment(current_user(), case_id, attachment_id)
    response = send_file(io.BytesIO(content), mimetype=attachment.content_type, as_attachment=True,
                         download_name=attachments.download_name(attachment), max_age=0, etag=False,
                         last_modified=None, conditional=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/<case_id>/attachments/<attachment_id>", methods=["DELETE"])
@blp.response(204)
def delete_attachment(case_id, attachment_id):
    """Remove a file and its encrypted bytes (permission `delete_attachment`)."""
    attachments.delete_attachment(current_user(), case_id, attachment_id)
