from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.audit.models import AuditEvent
from app.core.db import dialect_name
from app.core.errors import DomainError
from app.core.time import utcnow
from app.extensions import db
from app.helplines.cli import fail
from app.helplines.service import find_helpline_by_code
from app.stats import formats
from app.stats import rollups
from app.stats.service import build_table

stats_cli = AppGroup("stats", help="Statistics exports and rollups.")


@stats_cli.command("export")
@click.option("--helpline", "helpline_code", required=True)
@click.option("--report", type=click.Choice(["contacts", "operations"]), required=True)
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--by", required=True, help="Comma-separated dimensions.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "xlsx"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Default: standard output.")
def export(helpline_code, report, start, end, by, fmt, out):
    """Export a statistics table, with the same disclosure control as the API."""
    helpline = find_helpline_by_code(helpline_code)
    if helpline is None:
        raise click.ClickException(f"No helpline with code {helpline_code!r}.")
    try:
        table = build_table(helpline.id, report, start.date(), end.date(), by)
    except DomainError as error:
        fail(error)
    content = formats.render(table, fmt)
    db.session.add(AuditEvent(helpline_id=helpline.id, user_id=None, action=f"cli_stats_{report}", record_type="export",
                              fields=[f"by={by}", f"format={fmt}"], at=utcnow()))
    db.session.commit()
    if out:
        with open(out, "wb") as handle:
            handle.write(content)
    else:
        sys.stdout.buffer.write(content)


@stats_cli.command("rebuild")
@click.option("--helpline", "helpline_code", required=True)
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="Default: the first contact.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Default: the last contact.")
def rebuild(helpline_code, start, end):
    """Recount a helpline's statistics rollups from its contacts, whole local months at a time.

    After a time zone change or to repair the rollups. Online: reports stay right while it runs.
    Each month commits on its own; an interrupted run is resumed with --from the month it printed last."""
    helpline = find_helpline_by_code(helpline_code)
    if helpline is None:
        raise click.ClickException(f"No helpline with code {helpline_code!r}.")
    if dialect_name() != "postgresql":
        raise click.ClickException("Rollups are kept on PostgreSQL only; SQLite counts from the contacts.")
    bounds = rollups.history_bounds(helpline)
    if bounds is None and not (start and end):
        click.echo("No contacts: nothing to rebuild.")
        return
    first, last = (start.date() if start else bounds[0]), (end.date() if end else bounds[1])
    if last < first:
        raise click.ClickException("--to must not be before --from.")
    received, finalized = rollups.rebuild(
        helpline, first, last,
        progress=lambda month, n, done: click.echo(f"{month:%Y-%m}: {n} contacts, {done} finalized"))
    click.echo(f"Rebuilt {helpline_code} from {first:%Y-%m} to {last:%Y-%m}: {received} contacts, {finalized} finalized.")
