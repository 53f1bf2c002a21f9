"""The web chat widget over HTTP (contract: Web chat widget): the script, the hosted page, the
widget's configuration and settings.webchat_exit_url. The browser tests are in test_webchat_browser.py."""
from __future__ import annotations

import re

import pytest

from app.routing import service as routing
from tests.helpers import assert_error


@pytest.fixture
def general(app, helpline):
    with app.app_context():
        return routing.create_queue(helpline, "General").id


def test_the_script_is_small_cached_long_with_an_etag_and_loads_nothing_from_elsewhere(client):
    response = client.get("/webchat/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    body = response.get_data(as_text=True)
    assert len(response.get_data()) < 40 * 1024
    assert "public" in response.headers["Cache-Control"] and "max-age=86400" in response.headers["Cache-Control"]
    assert response.headers["ETag"]
    again = client.get("/webchat/widget.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    # No third party: every absolute URL in the script is the default exit page's.
    assert set(re.findall(r"https?://[^\s\"')]+", body)) <= {"https://www.google.com/", "https://HOST/webchat/widget.js"}
    assert "localStorage" not in body.replace("nothing in localStorage", "")
    assert "document.cookie" not in body


def test_the_hosted_page_has_a_strict_policy_no_referrer_and_no_cookies(client, helpline):
    response = client.get("/webchat/main/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<title>Main Helpline</title>" in page
    assert 'src="/webchat/widget.js" data-helpline="main" data-mode="page"' in page
    assert "<script>" not in page and "<style" not in page and "style=" not in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in response.headers


def test_the_hosted_page_escapes_the_helpline_name(client, admin, helpline):
    assert client.patch("/api/v1/helpline", json={"name": "<script>x</script> Line"},
                        headers=admin.headers).status_code == 200
    page = client.get("/webchat/main/").get_data(as_text=True)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt; Line" in page


def test_an_unknown_helpline_has_no_page_and_no_config(client, helpline):
    assert_error(client.get("/webchat/nope/"), 404)
    assert_error(client.get("/webchat/nope/config"), 404)


def test_the_config_says_open_and_where_quick_exit_goes(client, helpline, general):
    response = client.get("/webchat/main/config?language=fr")
    assert response.status_code == 200
    assert response.get_json() == {
        "helpline": {"code": "main", "name": "Main Helpline"}, "language": "fr", "open": True,
        "pre_survey": {"enabled": False, "questions": []}, "post_survey": {"enabled": False},
        "exit_url": "https://www.google.com/", "messages": {},
    }


def test_the_config_lists_the_pre_survey_says_a_post_survey_follows_and_gives_the_helplines_own_texts(client, admin, helpline):
    settings = {"pre_survey": {"enabled": True, "questions": [
        {"key": "age", "prompt": {"en": "How old are you?", "fr": "Quel âge as-tu ?"}},
        {"key": "gender", "prompt": "Gender?"}]},
        "messages": {"goodbye": "Bye from Main"}, "webchat_exit_url": "https://news.example.org/",
        "post_survey": {"enabled": True}}
    assert client.patch("/api/v1/helpline", json={"settings": settings}, headers=admin.headers).status_code == 200
    config = client.get("/webchat/main/config?language=fr").get_json()
    assert config["post_survey"] == {"enabled": True}  # the widget looks for it when a counsellor ends the chat
    assert config["pre_survey"] == {"enabled": True, "questions": [{"key": "age", "prompt": "Quel âge as-tu ?"},
                                                                   {"key": "gender", "prompt": "Gender?"}]}
    assert config["messages"] == {"goodbye": "Bye from Main"}
    assert config["exit_url"] == "https://news.example.org/"


def test_out_of_hours_the_config_says_closed_with_the_message(client, admin, helpline):
    closed = {"operating_hours": {"default": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}},
              "messages": {"closed": "We open at 9."}}
    assert client.patch("/api/v1/helpline", json={"settings": closed}, headers=admin.headers).status_code == 200
    config = client.get("/webchat/main/config").get_json()
    assert config["open"] is False and config["message"] == "We open at 9."


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/relative/page", "ftp://example.org/", "not a url", 5,
                                 "https://" + "a" * 2000 + ".org/"])
def test_the_exit_url_must_be_an_absolute_web_address(client, admin, helpline, url):
    response = client.patch("/api/v1/helpline", json={"settings": {"webchat_exit_url": url}}, headers=admin.headers)
    assert_error(response, 422)
    assert client.get("/webchat/main/config").get_json()["exit_url"] == "https://www.google.com/"


def test_a_listed_origin_may_send_last_event_id(client, admin, helpline):
    assert client.patch("/api/v1/helpline", json={"settings": {"webchat_origins": ["https://site.example"]}},
                        headers=admin.headers).status_code == 200
    response = client.options("/webchat/main/config", headers={"Origin": "https://site.example"})
    assert "Last-Event-ID" in response.headers["Access-Control-Allow-Headers"]
