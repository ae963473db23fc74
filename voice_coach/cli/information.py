"""The commands that tell: ``routines``, ``voices``, ``devices``, ``doctor``, ``history``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from voice_coach import assemble, paths
from voice_coach.cli import text
from voice_coach.cli.group import cli
from voice_coach.cli.options import setting_options
from voice_coach.cli.output import echo_lines, note


@cli.command()
@setting_options("routines")
def routines(**given: Any) -> None:
    """List the built-in routines, and yours from the user routines folder, with the length
    each plays at its own defaults (the speech estimated at the default rate), in the
    language chosen (a routine without that translation is shown in its own), with the
    languages it has.

    \b
    Examples:
      voice-coach routines
      voice-coach routines --lang fr
    """
    lang = assemble.resolved_settings("routines", **given)["lang"]
    for routine_id, found, yours in assemble.listed_routines(lang):
        if isinstance(found, Exception):
            click.echo(text.broken_routine_line(routine_id, found))
        else:
            click.echo(text.routine_line(found, assemble.default_length_s(found), yours))


@cli.command()
@setting_options("voices")
@click.option("--lang", help="Only voices for this language, e.g. en or fr.")
def voices(lang: str | None, **given: Any) -> None:
    """List the speech engine's voices: what --voice takes, then what each one is.

    For pyttsx3: id, name, languages. For piper: name, language, quality and sample
    rate of the packaged voice and of each voice (an .onnx file beside its .onnx.json)
    in the voices folder, shown at the end.

    \b
    Examples:
      voice-coach voices
      voice-coach voices --lang en
      voice-coach voices --engine piper
    """
    from voice_coach.engines import registry

    engine = assemble.resolved_settings("voices", **given)["engine"]
    listing = registry.engine(engine).listing(lang)
    for message in listing.notes:
        note(message)
    echo_lines(listing.lines)
    if listing.footer is not None:
        click.echo(listing.footer)


@cli.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def devices_command(as_json: bool) -> None:
    """List the sound outputs you can play on, '*' marking the default.

    The sound server's sinks (PipeWire or PulseAudio) when one runs, else ALSA's cards
    and PCMs. Choose one with 'play --device NAME' or 'config set device NAME'.

    \b
    Examples:
      voice-coach devices
      voice-coach play --device bluez_output.00_11_22_33_44_55.1
      voice-coach devices --json
    """
    from voice_coach import devices

    found = devices.discover()
    if as_json:
        click.echo(json.dumps(devices.as_json(found), indent=2))
        return
    echo_lines(devices.lines(found))


@cli.command()
@setting_options("doctor")
def doctor(**given: Any) -> None:
    """Check that everything a session needs works here, with a fix for what does not.

    \b
    Examples:
      voice-coach doctor
      voice-coach doctor --engine piper     # also render a test phrase with Piper
    """
    results = assemble.doctor_results(assemble.resolved_settings("doctor", **given))
    echo_lines(text.doctor_lines(results))
    failed = sum(not r.ok for r in results)
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} checks failed")
    click.echo("Everything needed for a session works.")


@cli.command()
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many recent sessions to show.")
def history(limit: int) -> None:
    """Your recent sessions, minutes in all, and your streak of days.

    Minutes are whole minutes played, rounded down. A day counts towards the streak when
    a minute or more was played on it, in one session or several; the streak lasts until
    a whole day is missed.

    The history is a local file that never leaves this machine; 'play --no-history' or
    'voice-coach config set history false' stops recording.

    \b
    Example:
      voice-coach history -n 20
    """
    from voice_coach.history import format_history, read, recent, summarize

    loaded = read(paths.history_file())
    tz = datetime.now().astimezone().tzinfo or UTC
    today = datetime.now(tz).date()
    summary = summarize(loaded.entries, today, tz)
    echo_lines(format_history(summary, recent(loaded.entries, limit), tz))
    if loaded.skipped:
        note(f"{loaded.skipped} damaged line(s) in {paths.history_file()} were skipped")
