"""``config`` and its subcommands: the settings in effect, and the settings file."""

from __future__ import annotations

import os

import click

from voice_coach import assemble, paths
from voice_coach.cli import text
from voice_coach.cli.group import cli
from voice_coach.cli.output import echo_lines, note


@cli.group(invoke_without_command=True)
@click.pass_context
def config(ctx: click.Context) -> None:
    """Show the settings in effect and where each comes from; change them.

    Order: command line > environment (VOICE_COACH_*) > this file > routine > default.
    A setting that is invalid is shown as such, with the command that repairs it.

    \b
    Examples:
      voice-coach config                    # every setting, its value and source
      voice-coach config set rate 130
      voice-coach config set breath 4:6
      voice-coach config unset rate
      voice-coach config path
    """
    if ctx.invoked_subcommand is not None:
        return
    from voice_coach.config import ConfigError, ConfigFile, read_config

    path = paths.config_file()
    read_error = None
    try:
        found = read_config(path)
    except ConfigError as error:
        found, read_error = ConfigFile({}), error
    lines, problems = text.config_listing(found, read_error, os.environ, path, path.exists())
    echo_lines(lines)
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)


@config.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Store KEY = VALUE in the settings file (validated; written atomically).

    It replaces whatever the file holds for KEY, so it also repairs an invalid value.
    A routine must exist: a built-in id, one of yours, or a TOML file (stored as an
    absolute path).

    \b
    Example:
      voice-coach config set minutes 10
    """
    from voice_coach.config import set_value

    if key == "routine":
        value = assemble.routine_setting(value, note)
    stored = set_value(paths.config_file(), key, value)
    click.echo(f"{key} = {text.setting_text(stored)}")


@config.command("unset")
@click.argument("key")
def config_unset(key: str) -> None:
    """Remove KEY from the settings file, back to its default (also an invalid or
    misspelt key the file holds).

    \b
    Example:
      voice-coach config unset rate
    """
    from voice_coach.config import unset_value

    removed = unset_value(paths.config_file(), key)
    click.echo(f"{key} unset" if removed else f"{key} was not set")


@config.command("path")
def config_path_command() -> None:
    """Print the settings file's path.

    \b
    Example:
      voice-coach config path
    """
    click.echo(str(paths.config_file()))
