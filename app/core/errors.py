"""One error shape for every failure: {"error": {"code", "message", "details"}}.

The service layer raises the `DomainError` subclasses below (no Flask in
them); `register_error_handlers` turns those, werkzeug's HTTP exceptions and
webargs' validation errors into the contract's JSON.
"""
from __future__ import annotations

import logging
import traceback

import marshmallow as ma
from flask import jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from app.core.outage import RETRY_AFTER_S, database_failure, outage_log
from app.extensions import db

log = logging.getLogger(__name__)

# Default code per status, for errors that do not name their own.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class DomainError(Exception):
    status = 400
    code = "bad_request"
    message = "The request cannot be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if code:
            self.code = code
        self.details = details or {}


class NotFound(DomainError):
    status, code, message = 404, "not_found", "Not found."


class Forbidden(DomainError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class Unauthorized(DomainError):
    status, code, message = 401, "unauthorized", "Authentication is required."


class Conflict(DomainError):
    status, code, message = 409, "conflict", "The record is not in a state that allows this."


class ValidationFailed(DomainError):
    """422 with per-field details: {"field": ["message", ...]}."""

    status, code, message = 422, "validation_error", "The request is invalid; see details."


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "snake_case error code"})
    message = ma.fields.String(metadata={"description": "Human-readable explanation"})
    details = ma.fields.Dict(metadata={"description": "Per-field messages or other context"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema)


def error_response(status: int, code: str | None = None, message: str | None = None, details: dict | None = None, headers=None):
    body = {"error": {"code": code or STATUS_CODES.get(status, "error"), "message": message or "", "details": details or {}}}
    response = jsonify(body)
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def _flatten_webargs_messages(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {...}}); callers want fields."""
    details: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            details.update(fields)
        else:
            details[location] = fields
    return details


def _http_exception_response(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        # flask-limiter sets Retry-After on its own response; keep it.
        response = getattr(error, "response", None)
        if response is not None and response.headers.get("Retry-After"):
            headers["Retry-After"] = response.headers["Retry-After"]
        return error_response(429, "rate_limited", "Too many requests; try again later.", headers=headers)
    messages = data.get("messages") or data.get("errors")
    if status == 400 and messages:
        return error_response(400, "malformed_body", "The request body could not be parsed.", _flatten_webargs_messages(messages), headers)
    if status == 422 and messages:
        return error_response(422, "validation_error", "The request is invalid; see details.", _flatten_webargs_messages(messages), headers)
    message = data.get("message") or error.description or error.name
    return error_response(status, STATUS_CODES.get(status), message, headers=headers)


class HelplineApi(Api):
    """flask-smorest's Api, answering errors in the contract's shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return _http_exception_response(error)


def register_error_handlers(app) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return _http_exception_response(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # This handler must answer whatever state the failure left: roll back first (a failed
        # flush leaves the session unusable), and never let logging or rendering raise.
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection itself may be gone
            pass
        if database_failure(error):
            # One log line per outage (app/core/outage.py), not a traceback per request.
            outage_log.failed(error)
            return error_response(503, "unavailable", "The service is briefly unavailable; try again shortly.",
                                  headers={"Retry-After": str(RETRY_AFTER_S)})
        try:
            log.error("unhandled error", extra=describe_error(error))
        except Exception:  # noqa: BLE001
            pass
        return error_response(500, "internal_error", "Something went wrong; it has been logged.")


def describe_error(error: BaseException) -> dict:
    """What may be logged of an error: its type, a database error's SQLSTATE and constraint name, and where
    it was raised (file, line, function). Never its message: database messages quote submitted values
    (PostgreSQL's DETAIL and CONTEXT lines), and so can other libraries'."""
    original = getattr(error, "orig", None)
    diag = getattr(original, "diag", None)
    frames = traceback.extract_tb(error.__traceback__)[-8:]
    return {
        "error_type": type(error).__name__,
        "db_error_type": type(original).__name__ if original is not None else None,
        "sqlstate": getattr(original, "sqlstate", None),
        "constraint": getattr(diag, "constraint_name", None),
        "where": [f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} {frame.name}" for frame in frames],
    }
