"""The error responses every operation can really give, written into the generated spec in one place.

flask-smorest documents the success response and 422 for arguments; the rest follows from how
the app works, so it is derived from each operation's shape rather than repeated on every view:
- 401 for every /api/v1 operation that needs a token (all but login and the spec);
- 403 for those too: a role that may not, or a user who must first change an admin-set password;
- 404 where the path names a resource (another helpline's is 404 too);
- 400, 413, 415 and 422 where a body is sent; 422 where there are query arguments;
- 409 for writes under /api/v1 (state conflicts, unique names);
- 429 where a rate limit applies; 503 everywhere (the database is briefly unavailable);
- the webhooks' 403 (signature, account), 404 (helpline), 415 (not form-encoded) and 422.
"""
from __future__ import annotations

ERROR_RESPONSES = {
    400: "Malformed body", 401: "No token, or an invalid, expired or revoked one",
    403: "Not allowed (role, password change required, Twilio signature or account)",
    404: "No such resource in the caller's helpline", 409: "State conflict",
    413: "Body over 1 MiB", 415: "Wrong content type", 422: "Invalid input; details per field",
    429: "Rate limited; see Retry-After", 503: "Briefly unavailable (database); see Retry-After",
}
PUBLIC_API = {("/api/v1/auth/login", "post")}
RATE_LIMITED = {("/api/v1/auth/login", "post"), ("/webchat/{helpline_code}/sessions", "post"),
                ("/webchat/sessions/{session_id}/messages", "post"), ("/webchat/sessions/{session_id}/messages", "get")}


def _statuses(path: str, method: str, operation: dict) -> set[int]:
    statuses = {503}
    has_body = "requestBody" in operation
    query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if "{" in path:
        statuses.add(404)
    if has_body:
        statuses |= {400, 413, 415, 422}
    if query:
        statuses.add(422)
    if path.startswith("/api/v1/") and (path, method) not in PUBLIC_API:
        statuses |= {401, 403}
        if method in ("post", "put", "patch", "delete"):
            statuses.add(409)
    if path.startswith("/webhooks/"):
        statuses |= {403, 404, 415, 422}
    if path.startswith("/webchat/sessions/"):
        statuses |= {401, 404, 409}
    if (path, method) in RATE_LIMITED:
        statuses.add(429)
    return statuses


def document_error_responses(api) -> None:
    spec = api.spec
    for status, description in ERROR_RESPONSES.items():
        spec.components.response(f"ERROR_{status}", {
            "description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        })
    for path, operations in spec._paths.items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(path, method, operation)):
                responses.setdefault(str(status), {"$ref": f"#/components/responses/ERROR_{status}"})
