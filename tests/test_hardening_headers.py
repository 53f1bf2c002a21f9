"""Security review: security headers, and API docs that render with no internet (review item 11)."""
import re


def test_every_response_carries_the_security_headers(client, counsellor):
    for response in (client.get("/healthz"), client.get("/api/v1/me", headers=counsellor.headers),
                     client.get("/api/v1/me"), client.get("/no/such/path")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_json_answers_allow_nothing_to_load(client):
    assert client.get("/healthz").headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_hsts_is_sent_over_https(client):
    response = client.get("/healthz", base_url="https://helpline.test")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_docs_page_loads_only_local_assets_and_no_inline_script(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script>(?!</script>)", html)  # every script has a src
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 4
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.get_data()
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_a_header_a_route_sets_itself_is_kept_and_not_doubled(client, helpline):
    """The web chat page sets its own CSP (it loads its script): the defaults fill in only what is missing."""
    from app.channels.views import PAGE_CSP

    page = client.get("/webchat/main/")
    assert page.status_code == 200
    assert page.headers.getlist("Content-Security-Policy") == [PAGE_CSP]
    assert page.headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert page.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert page.headers.getlist("X-Frame-Options") == ["DENY"]
