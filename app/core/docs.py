"""The API docs' assets, from the installed swagger-ui-bundle package: no CDN, so the docs render offline."""
from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

DOCS_ASSETS_URL = "/api/docs/assets/"
blp = Blueprint("docs_assets", __name__, url_prefix=DOCS_ASSETS_URL.rstrip("/"))

# What flask-smorest's template does inline, as a file (the page's CSP allows scripts from 'self' only).
INIT_SCRIPT = """window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({url: container.dataset.specUrl, dom_id: "#swagger-ui-container"});
});
"""
ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
          "favicon-16x16.png"}


@blp.route("/helpline-docs.js")
def init_script():
    return Response(INIT_SCRIPT, mimetype="text/javascript", headers={"Cache-Control": "public, max-age=3600"})


@blp.route("/<any(" + ",".join(f'"{name}"' for name in sorted(ASSETS)) + "):filename>")
def asset(filename):
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
