"""Security review, rate limits: counters shared by every worker (Redis), limits per address across emails
and per account across addresses (review item 8)."""
import json
import os
import subprocess
import sys
import uuid

import pytest
from cryptography.fernet import Fernet

from config import ConfigError, load_config
from tests.conftest import PASSWORD
from tests.helpers import assert_error

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def login(client, email, password="wrong password entirely", address="10.0.0.1"):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)


def test_production_refuses_to_start_without_shared_rate_limit_storage(production_env):
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI.*redis://"):
        load_config("production")


@pytest.mark.parametrize("uri", ["redis://127.0.0.1:6379/0", "memory://"])
def test_production_takes_redis_or_an_explicit_memory_store(production_env, monkeypatch, uri):
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", uri)
    assert load_config("production")["RATELIMIT_STORAGE_URI"] == uri


def test_one_address_trying_many_emails_is_limited(client, counsellor):
    for i in range(20):
        assert login(client, f"guess{i}@example.org").status_code == 401
    assert_error(login(client, counsellor.email, PASSWORD), 429, "rate_limited")
    assert login(client, counsellor.email, PASSWORD, address="10.0.0.2").status_code == 201


def test_one_account_tried_from_many_addresses_is_limited_with_back_off(client, counsellor, make_user, helpline):
    for i in range(10):
        assert login(client, counsellor.email, address=f"10.1.0.{i}").status_code == 401
    response = login(client, counsellor.email, PASSWORD, address="10.2.0.1")
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    assert login(client, make_user(helpline).email, PASSWORD, address="10.2.0.1").status_code == 201


def _redis_up() -> bool:
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


WORKER = """
import json, sys
from app import create_app
app = create_app({"APP_CONFIG": "testing", "DATABASE_URL": sys.argv[1], "RATELIMIT_STORAGE_URI": sys.argv[2],
                  "RATELIMIT_KEY_PREFIX": sys.argv[3]})
client = app.test_client()
codes = [client.post("/api/v1/auth/login", json={"email": sys.argv[4], "password": "wrong password entirely"},
                     environ_base={"REMOTE_ADDR": "10.3.0.1"}).status_code for _ in range(int(sys.argv[5]))]
print(json.dumps(codes))
"""


@pytest.mark.skipif(not _redis_up(), reason="no Redis server at TEST_REDIS_URL (.ci/run starts one)")
def test_workers_share_the_counters_through_redis(app, counsellor):
    """Two processes, as two gunicorn workers: 3 failures in one and 2 in the other lock the login (5 in all)."""
    prefix = f"test-{uuid.uuid4().hex}"

    def worker(attempts):
        out = subprocess.run([sys.executable, "-c", WORKER, app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL, prefix,
                              counsellor.email, str(attempts)], capture_output=True, text=True, timeout=120,
                             cwd=os.path.dirname(os.path.dirname(__file__)),
                             env={**os.environ, "DATA_ENCRYPTION_KEY": app.config["DATA_ENCRYPTION_KEY"]})
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert worker(3) == [401, 401, 401]
    assert worker(3) == [401, 401, 429]



def test_webhooks_skip_the_limiter_and_other_routes_still_meet_it(app, client, helpline, monkeypatch):
    """Webhooks are signed, not limited: the limiter's per-request check does not even run for them."""
    from flask_limiter import Limiter

    from tests.channel_helpers import send_sms

    checked = []
    original = Limiter._check_request_limit
    monkeypatch.setattr(Limiter, "_check_request_limit",
                        lambda self, *args, **kwargs: checked.append(1) or original(self, *args, **kwargs))
    assert send_sms(client).status_code == 200
    assert checked == []
    client.get("/healthz")
    assert checked


def test_the_limiters_headers_are_added_to_limited_routes_and_not_looked_for_on_webhooks(app, client, helpline,
                                                                                         counsellor):
    """Its after-request hook (limit headers, conditional deductions) is skipped for webhooks, as its check is."""
    from functools import partial

    from flask_limiter import Limiter

    from app.extensions import _headers_unless_webhook
    from tests.channel_helpers import send_sms

    hooks = app.after_request_funcs[None]
    # Flask-Limiter's own hook is wrapped where it registered it: a renamed hook would go unwrapped.
    assert [h for h in hooks if isinstance(h, partial) and h.func is _headers_unless_webhook]
    assert not [h for h in hooks if isinstance(h, partial) and h.func is Limiter._Limiter__inject_headers]
    webhook = send_sms(client)
    assert webhook.status_code == 200
    assert not [name for name in webhook.headers.keys() if name.startswith("X-RateLimit")]
    limited = login(client, counsellor.email, PASSWORD)
    assert limited.status_code == 201 and int(limited.headers["X-RateLimit-Limit"]) > 0
