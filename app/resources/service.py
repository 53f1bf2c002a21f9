"""The referral directory: each helpline's services, searched by words, category, region, language and age.

The texts are encrypted at rest, so a word search decrypts the helpline's directory in the process;
the directory is bounded (MAX_RESOURCES) to keep that cheap. Categories come from the helpline's
taxonomy and regions from its settings: closed values a search can trust.
"""
from __future__ import annotations

import csv
import io

import marshmallow as ma
import sqlalchemy as sa

from app.auth.models import User
from app.contacts.taxonomy import category_codes
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.core.pagination import decode_cursor, encode_cursor
from app.extensions import db
from app.helplines.service import get_helpline
from app.helplines.settings import effective_settings
from app.resources.models import Resource
from app.resources.schemas import ResourceBodySchema

MAX_RESOURCES = 5000
READERS = ("counsellor", "supervisor", "admin")
KEEPERS = ("supervisor", "admin")
FIELDS = ("name", "description", "categories", "regions", "languages", "age_min", "age_max", "phone", "website",
          "hours")


def _may_read(user: User) -> None:
    if user.role not in READERS:
        raise Forbidden("The referral directory is for counsellors, supervisors and admins.")


def _may_keep(user: User) -> None:
    if user.role not in KEEPERS:
        raise Forbidden("Supervisors and admins keep the referral directory.")


def vocabulary_errors(helpline_id: str, data: dict) -> dict:
    """What in `data` is outside the helpline's taxonomy or regions, by field."""
    helpline = get_helpline(helpline_id)
    errors = {}
    codes = category_codes(helpline.taxonomy_version)
    unknown = [code for code in data.get("categories") or [] if code not in codes]
    if unknown:
        errors["categories"] = [f"Not in taxonomy {helpline.taxonomy_version}: {', '.join(sorted(set(unknown)))}."]
    regions = set(effective_settings(helpline.settings)["regions"])
    unknown = [region for region in data.get("regions") or [] if region not in regions]
    if unknown:
        errors["regions"] = [f"Not one of the helpline's regions: {', '.join(sorted(set(unknown)))}."]
    if data.get("age_min") is not None and data.get("age_max") is not None and data["age_min"] > data["age_max"]:
        errors["age_max"] = ["age_min must not be above age_max."]
    return errors


def _check(helpline_id: str, data: dict) -> None:
    errors = vocabulary_errors(helpline_id, data)
    if errors:
        raise ValidationFailed(details=errors)


def _room(helpline_id: str, adding: int = 1) -> None:
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Resource).where(Resource.helpline_id == helpline_id))
    if count + adding > MAX_RESOURCES:
        raise Conflict(f"A helpline keeps at most {MAX_RESOURCES} resources.", code="too_many_resources")


def create_resource(user: User, data: dict) -> Resource:
    _may_keep(user)
    _check(user.helpline_id, data)
    _room(user.helpline_id)
    resource = Resource(helpline_id=user.helpline_id, created_by=user.id, **{k: data.get(k) for k in FIELDS})
    db.session.add(resource)
    db.session.commit()
    return resource


def _resource(helpline_id: str, resource_id: str) -> Resource:
    resource = db.session.get(Resource, resource_id)
    if resource is None or resource.helpline_id != helpline_id:
        raise NotFound("No such resource.")
    return resource


def get_resource(user: User, resource_id: str) -> Resource:
    _may_read(user)
    return _resource(user.helpline_id, resource_id)


def update_resource(user: User, resource_id: str, changes: dict) -> Resource:
    _may_keep(user)
    resource = _resource(user.helpline_id, resource_id)
    merged = {**{k: getattr(resource, k) for k in FIELDS}, **changes}
    if not merged["name"] or not merged["categories"]:
        raise ValidationFailed(details={k: ["May not be empty."] for k in ("name", "categories") if not merged[k]})
    _check(user.helpline_id, merged)
    for key, value in changes.items():
        setattr(resource, key, value)
    db.session.commit()
    return resource


def delete_resource(user: User, resource_id: str) -> None:
    _may_keep(user)
    db.session.delete(_resource(user.helpline_id, resource_id))
    db.session.commit()


def resource_name(helpline_id: str, resource_id: str) -> str | None:
    """The name of the helpline's resource, or None when it has no such resource (a case's referral)."""
    resource = db.session.get(Resource, resource_id)
    return resource.name if resource is not None and resource.helpline_id == helpline_id else None


def _covers(codes: list[str], wanted: str) -> bool:
    """A top-level code covers its sub-categories both ways: searching "violence" finds a service for
    "violence.physical", and searching "violence.physical" finds a service for all of "violence"."""
    return any(code == wanted or code.startswith(wanted + ".") or wanted.startswith(code + ".") for code in codes)


def _matches(resource: Resource, *, words, category, region, language, age) -> bool:
    if category and not _covers(resource.categories or [], category):
        return False
    if region and resource.regions and region not in resource.regions:
        return False
    if language and resource.languages and language not in resource.languages:
        return False
    if age is not None and ((resource.age_min is not None and age < resource.age_min)
                            or (resource.age_max is not None and age > resource.age_max)):
        return False
    haystack = f"{resource.name} {resource.description or ''}".casefold()
    return all(word in haystack for word in words)


def search_resources(user: User, *, q: str | None, category: str | None, region: str | None, language: str | None,
                     age: int | None, limit: int, cursor: str | None) -> tuple[list[Resource], str | None]:
    """Newest first; every filter given must match."""
    _may_read(user)
    stmt = sa.select(Resource).where(Resource.helpline_id == user.helpline_id)
    if cursor:
        stmt = stmt.where(Resource.id < decode_cursor(cursor))
    words = q.casefold().split() if q else []
    page: list[Resource] = []
    for resource in db.session.scalars(stmt.order_by(Resource.id.desc())):
        if _matches(resource, words=words, category=category, region=region, language=language, age=age):
            page.append(resource)
            if len(page) > limit:
                break
    next_cursor = encode_cursor(page[limit - 1].id) if len(page) > limit else None
    return page[:limit], next_cursor


# --- CSV import ---------------------------------------------------------------------------

CSV_COLUMNS = FIELDS
LIST_COLUMNS = ("categories", "regions", "languages")
INT_COLUMNS = ("age_min", "age_max")


class ImportFailed(Exception):
    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def _row_to_body(row: dict) -> dict:
    """A CSV row as the API's body: lists split on ';', numbers parsed, empty cells left out."""
    body: dict = {}
    for column in CSV_COLUMNS:
        cell = (row.get(column) or "").strip()
        if not cell:
            continue
        if column in LIST_COLUMNS:
            body[column] = [part.strip() for part in cell.split(";") if part.strip()]
        elif column in INT_COLUMNS:
            body[column] = int(cell) if cell.isdigit() else cell
        else:
            body[column] = cell
    return body


def import_csv(helpline_id: str, text: str) -> int:
    """Every row checked first (the API's rules, the taxonomy, the regions); on any problem nothing is
    imported and ImportFailed lists each as "line N: field: message". Returns how many were imported."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    problems = []
    missing = [c for c in ("name", "categories") if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
        raise ImportFailed([f"line 1: {'; '.join(parts)} (columns: {', '.join(CSV_COLUMNS)})"])
    schema = ResourceBodySchema()
    loaded = []
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"line {line}: more cells than columns")
            continue
        try:
            data = schema.load(_row_to_body(row))
        except ma.ValidationError as error:
            problems.extend(f"line {line}: {field}: {_first(messages)}" for field, messages in sorted(error.messages.items()))
            continue
        problems.extend(f"line {line}: {field}: {messages[0]}"
                        for field, messages in sorted(vocabulary_errors(helpline_id, data).items()))
        loaded.append(data)
    if not loaded and not problems:
        problems.append("line 2: no rows")
    if problems:
        raise ImportFailed(problems)
    _room(helpline_id, len(loaded))
    db.session.add_all(Resource(helpline_id=helpline_id, **{k: data.get(k) for k in FIELDS}) for data in loaded)
    db.session.commit()
    return len(loaded)


def _first(messages) -> str:
    """marshmallow's messages for one field: a list, or a dict by list index."""
    if isinstance(messages, dict):
        return "; ".join(f"item {index}: {_first(inner)}" for index, inner in sorted(messages.items()))
    return messages[0] if isinstance(messages, list) else str(messages)
