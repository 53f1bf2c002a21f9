"""The operator CLI: helplines create, users create, users token, demo seed."""
import json

import pytest

from app.helplines.demo import DEMO_USERS


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def test_helplines_and_users_create_then_token_works(cli, client):
    result = cli.invoke(args=["helplines", "create", "ke", "--name", "Kenya 116", "--timezone", "Africa/Nairobi",
                              "--twilio-account-sid", "AC" + "1" * 32, "--twilio-auth-token", "secret-token-123"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["code"] == "ke"
    result = cli.invoke(args=["users", "create", "--helpline", "ke", "--email", "Admin@KE.example", "--role", "admin"])
    assert result.exit_code == 0, result.output
    result = cli.invoke(args=["users", "token", "admin@ke.example"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {lines[0]}"}).get_json()
    assert me["email"] == "admin@ke.example" and me["helpline"]["code"] == "ke"
    helpline = client.get("/api/v1/helpline", headers={"Authorization": f"Bearer {lines[0]}"}).get_json()
    assert helpline["timezone"] == "Africa/Nairobi" and helpline["twilio_auth_token_set"] is True


def test_cli_errors_are_plain_and_nonzero(cli):
    assert cli.invoke(args=["helplines", "create", "x", "--name", "X", "--timezone", "Nowhere/Else"]).exit_code != 0
    cli.invoke(args=["helplines", "create", "x", "--name", "X"])
    assert cli.invoke(args=["helplines", "create", "x", "--name", "X"]).exit_code != 0
    assert cli.invoke(args=["users", "create", "--helpline", "nope", "--email", "a@b.org", "--role", "admin"]).exit_code != 0
    assert cli.invoke(args=["users", "create", "--helpline", "x", "--email", "a@b.org", "--role", "boss"]).exit_code != 0
    assert cli.invoke(args=["users", "token", "nobody@example.org"]).exit_code != 0


def test_demo_seed_prints_the_contract_json_and_is_idempotent(cli, client):
    first = cli.invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    seeded = json.loads(first.stdout)
    assert set(seeded) == {"helpline", "twilio_account_sid", "twilio_auth_token", "users", "queues"}
    assert seeded["helpline"] == "demo"
    assert seeded["twilio_account_sid"].startswith("AC") and len(seeded["twilio_account_sid"]) == 34
    roles = sorted(u["role"] for u in seeded["users"])
    assert roles == sorted(role for role, _, _ in DEMO_USERS)
    assert roles.count("counsellor") == 2
    assert all(set(u) == {"role", "email", "id", "token"} for u in seeded["users"])
    assert all(set(q) == {"id", "name"} for q in seeded["queues"]) and seeded["queues"]

    for user in seeded["users"]:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {user['token']}"})
        assert me.status_code == 200 and me.get_json()["role"] == user["role"]
    admin = next(u for u in seeded["users"] if u["role"] == "admin")
    settings = client.get("/api/v1/helpline", headers={"Authorization": f"Bearer {admin['token']}"}).get_json()["settings"]
    assert settings["operating_hours"] is None and settings["pre_survey"]["enabled"] is False

    again = json.loads(cli.invoke(args=["demo", "seed"]).stdout)
    assert again["twilio_auth_token"] == seeded["twilio_auth_token"]
    assert [u["id"] for u in again["users"]] == [u["id"] for u in seeded["users"]]
    assert again["queues"] == seeded["queues"]
    listed = client.get("/api/v1/users", headers={"Authorization": f"Bearer {admin['token']}"}).get_json()["items"]
    assert len(listed) == len(DEMO_USERS)


def test_demo_password_logs_in(cli, client):
    cli.invoke(args=["demo", "seed"])
    response = client.post("/api/v1/auth/login", json={"email": "admin@demo.helpline.test", "password": "demo-password-123"})
    assert response.status_code == 201


def test_scheduler_registers_its_jobs(app):
    from app.core.scheduler import JOBS, build_scheduler

    scheduler = build_scheduler(app, blocking=False)
    assert {job.id for job in scheduler.get_jobs()} == set(JOBS) >= {"purge_expired_tokens"}
