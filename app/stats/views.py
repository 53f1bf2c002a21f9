from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from app.audit import service as audit
from app.auth.guard import current_user, roles_required
from app.extensions import db
from app.stats import exports, formats
from app.stats.schemas import (
    ContactStatsArgsSchema, ExportListArgsSchema, ExportPageSchema, OperationsStatsArgsSchema, ScheduleCreateSchema,
    ScheduleCreatedSchema, ScheduleListSchema,
)
from app.stats.service import build_table

blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats",
                description="Anonymised aggregate statistics (managers, supervisors, admins)")
STATS_ROLES = ("manager", "supervisor", "admin")


def _send(table, fmt: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{formats.filename(table, fmt)}"'}
    if fmt == "csv":
        return Response(formats.csv_chunks(table), mimetype="text/csv", headers=headers)
    if fmt == "json":
        return Response(formats.as_json(table), mimetype=formats.MIMETYPES["json"],
                        headers={"Content-Disposition": f'inline; filename="{formats.filename(table, fmt)}"'})
    return Response(formats.as_xlsx(table), mimetype=formats.MIMETYPES["xlsx"], headers=headers)


def _report(report: str, args: dict) -> Response:
    user = current_user()
    table = build_table(user.helpline_id, report, args["from"], args["to"], ",".join(args["by"]))
    audit.record(user, f"stats_{report}", "export", None, [f"by={','.join(table.dims)}", f"format={args['format']}",
                                                          f"from={args['from']}", f"to={args['to']}"])
    db.session.commit()
    return _send(table, args["format"])


@blp.route("/contacts", methods=["GET"])
@roles_required(*STATS_ROLES)
@blp.arguments(ContactStatsArgsSchema, location="query")
@blp.doc(responses={200: {"description": "JSON {meta, rows}, or CSV/XLSX with one column per dimension plus count"}})
def contacts_stats(args):
    """Finalized contacts counted by up to 4 of: year, quarter, month, week, day (helpline time zone), channel,
    call_type, category, subcategory, age_band, gender, region, language. A contact counts once in each of its
    categories; contacts without one count under `none`. Cells under `min_cell` are published as null with
    `suppressed: true`, and so is a partner cell in every line that would otherwise reveal one."""
    return _report("contacts", args)


@blp.route("/operations", methods=["GET"])
@roles_required(*STATS_ROLES)
@blp.arguments(OperationsStatsArgsSchema, location="query")
def operations_stats(args):
    """by=day|week|month[,queue][,channel]: received, answered, abandoned, blocked, out_of_hours,
    wait p50/p90, handle time p50 and first response p50 (seconds) of the contacts received then.

    Times are counted in fixed buckets (1 s up to 10 min, 10 s up to 30 min, 1 min up to 2 h,
    10 min up to 24 h, then one); a figure is the first second of its bucket (p50 of an even
    count: the mean of the two middle ones), so exact to the second below 10 minutes."""
    return _report("operations", args)


@blp.route("/schedules", methods=["GET"])
@roles_required(*STATS_ROLES)
@blp.response(200, ScheduleListSchema)
def list_schedules():
    return {"items": exports.list_schedules(current_user().helpline_id), "next_cursor": None}


@blp.route("/schedules", methods=["POST"])
@roles_required(*STATS_ROLES)
@blp.arguments(ScheduleCreateSchema)
@blp.response(201, ScheduleCreatedSchema)
def create_schedule(args):
    """A crontab schedule (422 when invalid). Each run exports the whole previous period and, with `deliver_to`,
    POSTs the file there signed with HMAC-SHA256 (`X-Signature`), retried with back-off; outcomes are kept."""
    schedule, _secret = exports.create_schedule(current_user(), args)
    return schedule  # the created schema shows signing_secret this once; the list schema never does


@blp.route("/schedules/<schedule_id>", methods=["DELETE"])
@roles_required(*STATS_ROLES)
@blp.response(204)
def delete_schedule(schedule_id):
    exports.delete_schedule(current_user(), schedule_id)


@blp.route("/exports", methods=["GET"])
@roles_required(*STATS_ROLES)
@blp.arguments(ExportListArgsSchema, location="query")
@blp.response(200, ExportPageSchema)
def list_exports(args):
    items, next_cursor = exports.list_exports(current_user().helpline_id, limit=args["limit"], cursor=args["cursor"])
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/exports/<export_id>/download", methods=["GET"])
@roles_required(*STATS_ROLES)
def download_export(export_id):
    export = exports.get_export(current_user(), export_id)
    return Response(export.content, mimetype=formats.MIMETYPES[export.format],
                    headers={"Content-Disposition": f'attachment; filename="{export.filename}"'})
