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


def init_security_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", HTML_CSP if response.mimetype == "text/html" else API_CSP)
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
