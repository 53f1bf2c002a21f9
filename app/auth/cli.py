from __future__ import annotations

import json
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from app.auth import service
from app.auth.models import ROLES
from app.core.errors import DomainError
from app.helplines.cli import fail
from app.helplines.service import find_helpline_by_code

users_cli = AppGroup("users", help="Create users and API tokens.")


@users_cli.command("create")
@click.option("--helpline", "helpline_code", required=True)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", default="")
@click.option("--password", default=None, help="At least 12 characters, hard to guess. Without one the user can "
              "sign in only with tokens from 'users token'.")
def create_user(helpline_code, email, role, name, password):
    """Create a user in a helpline."""
    helpline = find_helpline_by_code(helpline_code)
    if helpline is None:
        raise click.ClickException(f"No helpline with code {helpline_code!r}.")
    try:
        user = service.create_user(helpline.id, email, role, name=name, password=password)
    except DomainError as error:
        fail(error)
    click.echo(json.dumps({"id": user.id, "email": user.email, "role": user.role}))


@users_cli.command("token")
@click.argument("email")
def user_token(email):
    """Print a new API token for EMAIL (one line, nothing else)."""
    user = service.find_user_by_email(email)
    if user is None or not user.active:
        raise click.ClickException("No active user with that email.")
    raw, _ = service.issue_token(user, timedelta(days=current_app.config["CLI_TOKEN_TTL_DAYS"]))
    click.echo(raw)
