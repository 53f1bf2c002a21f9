from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.helplines.cli import fail
from app.helplines.service import find_helpline_by_code
from app.resources.service import CSV_COLUMNS, ImportFailed, import_csv

resources_cli = AppGroup("resources", help="The referral directory.")


@resources_cli.command("import")
@click.option("--helpline", "helpline_code", required=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_resources(helpline_code, file):
    """Import resources from a UTF-8 CSV with a header row. Columns: name, categories (required),
    description, regions, languages, age_min, age_max, phone, website, hours; lists are separated
    by ';'. Every row is checked first; on any problem nothing is imported."""
    helpline = find_helpline_by_code(helpline_code)
    if helpline is None:
        raise click.ClickException(f"No helpline with code {helpline_code!r}.")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException("The file is not UTF-8 text.") from None
    try:
        count = import_csv(helpline.id, text)
    except ImportFailed as failed:
        for problem in failed.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"Nothing imported: {len(failed.problems)} problem(s). "
                                   f"Columns: {', '.join(CSV_COLUMNS)}.") from None
    except DomainError as error:
        fail(error)
    click.echo(f"Imported {count} resources into {helpline_code}.")
