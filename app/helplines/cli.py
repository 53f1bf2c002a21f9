from __future__ import annotations

import json
import os
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.helplines import service
from app.helplines.demo import seed_demo

helplines_cli = AppGroup("helplines", help="Create helplines.")
demo_cli = AppGroup("demo", help="The demo helpline.")


def fail(error: DomainError):
    details = f" {json.dumps(error.details)}" if error.details else ""
    raise click.ClickException(f"{error.message}{details}")


@helplines_cli.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--twilio-account-sid", default=None)
@click.option("--twilio-auth-token", default=None)
def create_helpline(code, name, timezone, twilio_account_sid, twilio_auth_token):
    """Create helpline CODE."""
    try:
        helpline = service.create_helpline(
            code, name, timezone, twilio_account_sid=twilio_account_sid, twilio_auth_token=twilio_auth_token
        )
    except DomainError as error:
        fail(error)
    click.echo(json.dumps({"id": helpline.id, "code": helpline.code}))


@demo_cli.command("seed")
def demo_seed():
    """Create the demo helpline (idempotent) and print its credentials and new tokens as JSON."""
    password = os.environ.get("DEMO_PASSWORD") or "demo-password-123"
    ttl = timedelta(days=current_app.config["CLI_TOKEN_TTL_DAYS"])
    click.echo(json.dumps(seed_demo(password, ttl)))
