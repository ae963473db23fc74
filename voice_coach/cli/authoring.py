"""The commands for writing routines: ``new`` starts one, ``check`` validates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from voice_coach import assemble, paths
from voice_coach.cli import text
from voice_coach.cli.group import cli
from voice_coach.cli.options import setting_options


@cli.command()
@click.argument("name")
@click.option("--user", "into_user", is_flag=True,
              help="Write it into your routines folder, so it is found by id.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def new(name: str, into_user: bool, force: bool) -> None:
    """Write a commented routine template, NAME.toml, to edit and play.

    \b
    Examples:
      voice-coach new neck-release          # ./neck-release.toml
      voice-coach new neck-release --user   # found as 'voice-coach play neck-release'
      voice-coach check neck-release.toml
    """
    from voice_coach.template import write_template

    folder = paths.routines_folder() if into_user else Path.cwd()
    path = write_template(name, folder, force=force)
    click.echo(f"Wrote {path}; check it with: voice-coach check {path}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@setting_options("check")
def check(file: Path, **given: Any) -> None:
    """Validate a routine file and its translations (NAME.LANG.toml beside it), and
    summarise its plan (at the speech rate in effect).

    \b
    Example:
      voice-coach check neck-release.toml
    """
    rate = assemble.resolved_settings("check", **given)["rate"]
    loaded, timeline = assemble.check_file(file, rate)
    click.echo(text.check_line(file, loaded, timeline, rate))
    for message in timeline.notes:
        click.echo(f"note: {message}")
