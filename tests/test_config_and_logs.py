"""Configuration from the environment, and logs that carry no personal data."""
import json

import pytest
from cryptography.fernet import Fernet

from app import create_app
from config import DEV_DATA_ENCRYPTION_KEY, DEV_SECRET_KEY, ConfigError, load_config
from tests.conftest import PASSWORD


@pytest.fixture
def no_secrets(monkeypatch, tmp_path):
    """No keys in the environment and an empty instance folder."""
    import config

    for name in ("DATABASE_URL", "SECRET_KEY", "DATA_ENCRYPTION_KEY", "APP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    return tmp_path / "instance"


@pytest.mark.parametrize("name", [None, "development", "production"])
def test_no_configuration_starts_without_keys_and_none_uses_a_committed_key(no_secrets, name):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set.*make run"):
        load_config(name)


def test_development_uses_the_keys_make_run_generated(no_secrets):
    import stat

    from config import generate_keys_file

    path = generate_keys_file()
    assert path == no_secrets / "keys.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert generate_keys_file().read_text() == first  # reused, never replaced
    settings = load_config()
    assert settings["DATA_ENCRYPTION_KEY"] in first and settings["SECRET_KEY"] in first
    assert settings["DATA_ENCRYPTION_KEY"] != DEV_DATA_ENCRYPTION_KEY
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///") and "instance" in settings["DATABASE_URL"]


@pytest.mark.parametrize("config_name", ["development", "testing", "production"])
def test_the_once_committed_development_key_is_refused_everywhere(no_secrets, monkeypatch, config_name):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", DEV_DATA_ENCRYPTION_KEY)
    with pytest.raises(ConfigError, match="DATA_ENCRYPTION_KEY"):
        load_config(config_name)


def test_the_testing_keys_are_fresh_per_process_and_not_in_the_code():
    import config

    settings = load_config("testing")
    source = open(config.__file__).read()
    assert settings["DATA_ENCRYPTION_KEY"] not in source and settings["SECRET_KEY"] not in source


def test_environment_overrides_and_postgres_urls_use_psycopg(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/helpline")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://helpline.example/")
    monkeypatch.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:9999")
    settings = load_config("development")
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/helpline"
    assert settings["PUBLIC_BASE_URL"] == "https://helpline.example"
    assert settings["TWILIO_API_BASE_URL"] == "http://127.0.0.1:9999"


def test_the_live_event_settings_in_the_readme_table_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", Fernet.generate_key().decode())
    defaults = load_config("development")
    overrides = {"EVENT_STREAMS_PER_PROCESS": 7, "EVENT_RETENTION_H": 30, "EVENT_NOTIFY_INTERVAL_MS": 5,
                 "EVENT_RELAY_GAP_MS": 10}
    for name, value in overrides.items():
        assert defaults[name] != value
        monkeypatch.setenv(name, str(value))
    settings = load_config("development")
    assert {name: settings[name] for name in overrides} == overrides


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DATA_ENCRYPTION_KEY": Fernet.generate_key().decode()}, "SECRET_KEY"),
        ({"SECRET_KEY": "s" * 40}, "DATA_ENCRYPTION_KEY"),
        ({"SECRET_KEY": DEV_SECRET_KEY, "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode()}, "SECRET_KEY"),
        ({"SECRET_KEY": "s" * 40, "DATA_ENCRYPTION_KEY": DEV_DATA_ENCRYPTION_KEY}, "DATA_ENCRYPTION_KEY"),
        ({"SECRET_KEY": "short", "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode()}, "SECRET_KEY"),
    ],
)
def test_production_refuses_missing_or_default_secrets_and_names_them(monkeypatch, env, named):
    for name in ("SECRET_KEY", "DATA_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        create_app("production")


def test_production_starts_with_its_own_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite'}")
    assert create_app("production").config["ENV_NAME"] == "production"


@pytest.mark.parametrize("value, fronted", [(None, True), ("0", False), ("false", False), ("1", True)])
def test_twilio_webhook_front_is_on_unless_the_environment_says_0(monkeypatch, tmp_path, value, fronted):
    from app.channels.front import TwilioWebhookFront

    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite'}")
    if value is None:
        monkeypatch.delenv("TWILIO_WEBHOOK_FRONT", raising=False)
    else:
        monkeypatch.setenv("TWILIO_WEBHOOK_FRONT", value)
    assert isinstance(create_app("production").wsgi_app, TwilioWebhookFront) is fronted


def test_a_malformed_encryption_key_is_refused_with_a_hint(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", "not-a-key")
    with pytest.raises(ConfigError, match="Fernet"):
        create_app("development")


def test_key_rotation_reads_old_values(ctx):
    from app.core.crypto import DataCipher

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before, after = DataCipher(), DataCipher()
    before.configure(old)
    after.configure(f"{new},{old}")
    stored = before.encrypt("+447700900123")
    assert after.decrypt(stored) == "+447700900123"
    assert after.decrypt(after.rotate(stored)) == "+447700900123"
    # Lookup hashes survive the rotation: the oldest key derives the index key.
    assert before.lookup_hash("+447700900123", "phone") == after.lookup_hash("+447700900123", "phone")


def test_request_logs_are_json_lines_without_personal_data(client, counsellor, log_output):
    client.post("/api/v1/auth/login", json={"email": counsellor.email, "password": PASSWORD})
    client.get("/api/v1/me?q=%2B447700900123", headers=counsellor.headers)
    client.post("/api/v1/auth/login", json={"email": counsellor.email, "password": "wrong " + PASSWORD})
    logged = log_output.getvalue()
    records = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    requests = [r for r in records if r.get("message") == "request"]
    assert [r["path"] for r in requests] == ["/api/v1/auth/login", "/api/v1/me", "/api/v1/auth/login"]
    assert all({"request_id", "method", "path", "status", "duration_ms", "time"} <= set(r) for r in requests)
    assert requests[1]["user_id"] == counsellor.id
    for secret in (counsellor.email, PASSWORD, counsellor.token, "447700900123"):
        assert secret not in logged


@pytest.mark.parametrize("created", [1765100000.0, 1765100000.9999996, 1765100000.0000004, 1727793024.9435074,
                                     1773580332.2251205, 1709821593.4152274, 1765100000.5])
def test_log_times_are_iso_8601_utc_to_the_microsecond_as_datetime_rounds(created):
    from datetime import datetime, timezone

    from app.core.logging import JsonLineFormatter

    formatter = JsonLineFormatter()
    expected = datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="microseconds")
    assert formatter._time(created) == expected
    assert formatter._time(created) == expected  # the second time from the cached date part
