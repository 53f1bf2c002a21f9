"""Security headers on every response.

- `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` everywhere.
- A Content-Security-Policy everywhere with `frame-ancestors 'none'` (no page of ours may be framed,
  a clickjacking guard; `X-Frame-Options: DENY` for older browsers). JSON and other non-HTML answers
  get `default-src 'none'`; HTML pages (the API docs) may load scripts, styles and images from this
  origin only, and no inline script.
- `Strict-Transport-Security` when the request came over HTTPS (directly, or as the proxy says
  through X-Forwarded-Proto with PROXY_FIX_HOPS set).
"""
from __future__ import annotations

from flask import Flask, request

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI sets style attributes from its script, hence 'unsafe-inline' for styles only.
HTML_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HSTS = "max-age=31536000; includeSubDomains"
# (name, value, the name as compared): the headers every response gets unless its route set them.
_COMMON = (("X-Content-Type-Options", "nosniff", "x-content-type-options"),
           ("Referrer-Policy", "no-referrer", "referrer-policy"), ("X-Frame-Options", "DENY", "x-frame-options"))
_API_DEFAULTS = _COMMON + (("Content-Security-Policy", API_CSP, "content-security-policy"),)
_HTML_DEFAULTS = _COMMON + (("Content-Security-Policy", HTML_CSP, "content-security-policy"),)


def missing_headers(present: set[str], content_type: str, secure: bool) -> list[tuple[str, str]]:
    """The default headers a response lacks, given the lower-cased names it has: a route may set its own
    value for any of them (setdefault semantics)."""
    html = content_type.partition(";")[0].strip().lower() == "text/html"
    missing = [(name, value) for name, value, lowered in (_HTML_DEFAULTS if html else _API_DEFAULTS)
               if lowered not in present]
    if secure and "strict-transport-security" not in present:
        missing.append(("Strict-Transport-Security", HSTS))
    return missing


def init_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        # One pass over the few headers a response has, rather than a scan per header, which was 5% of a
        # webhook's instructions.
        headers = response.headers
        for name, value in missing_headers({name.lower() for name in headers.keys()}, headers.get("Content-Type", ""),
                                           request.is_secure):
            headers.add(name, value)
        return response
