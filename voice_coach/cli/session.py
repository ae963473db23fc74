"""The commands that make a session: ``plan`` shows it, ``export`` writes it, ``play``
plays it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from voice_coach import assemble, playing
from voice_coach.assemble import Cues
from voice_coach.cli import text
from voice_coach.cli.group import cli
from voice_coach.cli.options import quiet_option, routine_argument, setting_options, sound_options
from voice_coach.cli.output import echo_lines, note, progress, show_notes, warning
from voice_coach.formats import FORMAT_NAMES


@cli.command()
@routine_argument
@setting_options("plan")
@click.option("--render", is_flag=True,
              help="Render the speech (or take it from the cache) and use its real lengths.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable timeline.")
def plan(routine: str | None, render: bool, as_json: bool, **given: Any) -> None:
    """Show the session second by second: every line, chime and pause.

    ROUTINE is a routine id (see 'voice-coach routines') or a path to a TOML file.
    Spoken lengths are estimated from the word count and the speech rate, or, with
    --render, measured on the rendered speech, exactly as 'play' and 'export' use it.

    \b
    Examples:
      voice-coach plan
      voice-coach plan psoas-release --minutes 10 --json
      voice-coach plan my-routine.toml --breath 4:7:8:0
    """
    prepared = assemble.prepare("plan", routine, given, note)
    notes: list[str] = []
    with progress("Preparing speech", as_json) as told:
        timeline = assemble.timeline(prepared, render, notes, told)
    show_notes(notes)
    listed, bed = assemble.plan_listing(timeline, prepared.options)
    if as_json:
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    values = prepared.values
    click.echo(text.plan_head(prepared.routine, timeline, values["rate"], render))
    if bed is not None:
        click.echo(bed)
    echo_lines(text.pronounce_lines(prepared.routine, values["engine"]))
    echo_lines(text.describe(timeline))
    for message in timeline.notes:
        note(message)


@cli.command()
@routine_argument
@setting_options("export")
@sound_options
@click.option("--output", "-o", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files; created if missing.")
@click.option("--format", "audio_format", type=click.Choice(FORMAT_NAMES), default="wav",
              show_default=True,
              help="Audio format: WAV or FLAC (lossless), MP3 (96 kbps) or Opus (48 kbps),"
                   " mono, with one chapter per step.")
@click.option("--force", is_flag=True, help="Replace files from an earlier export.")
@quiet_option
def export(routine: str | None, cues: Cues, no_cache: bool, output: Path, audio_format: str,
           force: bool, quiet: bool, **given: Any) -> None:
    """Write the session to audio files: every spoken line, the whole mix, captions,
    chapters, timeline. Every clip is leveled to -19 LUFS (mono spoken word), true peaks
    at -1 dBTP at most, exactly as 'play' plays it.

    \b
    Writes into OUTPUT (.wav here; .flac, .mp3, .opus or .m4a with --format):
      narration/001-....wav   each spoken line, numbered in speaking order
      session.wav             the whole session, as 'play' plays it
      session.vtt             captions of every spoken line at its time
      session.chapters.json   one chapter per step (Podcasting 2.0 JSON chapters)
      timeline.json           the timeline, as 'plan --json' shows it

    \b
    Examples:
      voice-coach export -o ~/psoas
      voice-coach export --format mp3 -o ~/psoas-phone
      voice-coach export --format m4a -o ~/psoas-iphone
      voice-coach export box-breathing --minutes 10 --rate 120 -o box --force
    """
    from voice_coach.export import export_session
    from voice_coach.formats import Tags, get_format

    chosen = get_format(audio_format)
    chosen.check()
    prepared = assemble.prepare("export", routine, given, note, cues)
    cache_notes: list[str] = []
    with progress("Preparing speech", quiet) as told:
        session = assemble.build(prepared, no_cache, cache_notes, told)
    tags = Tags(title=prepared.routine.title, comment=prepared.routine.summary)
    with progress(f"Writing session{chosen.suffix}", quiet) as told:
        mixer = session.mixer()
        written = export_session(mixer, output, force=force, audio_format=chosen, tags=tags,
                                 progress=lambda done, total: told(done * 100 // total, 100))
    show_notes(cache_notes)
    if not quiet:
        click.echo(text.export_head(len(written), output, session.timeline.duration_s))
        click.echo(text.describe_levels(mixer.leveled_clips()))
        for message in session.timeline.notes:
            note(message)


@cli.command()
@routine_argument
@setting_options("play")
@sound_options
@quiet_option
@click.option("--resume", is_flag=True,
              help="Pick up the last session stopped before its end, as it was, from the"
                   " start of the step it stopped in.")
def play(routine: str | None, cues: Cues, no_cache: bool, quiet: bool, resume: bool,
         **given: Any) -> None:
    """Play a session: lie down, close your eyes, follow the voice and the chimes.

    A rising chime means breathe in, a falling chime breathe out, a double chime move
    to a new spot, a long bell the end. On a terminal: space pauses and resumes, n skips
    to the next step, b repeats the current one, q quits. Media keys, headset buttons
    and the desktop's or a phone's player controls do the same (MPRIS2).

    \b
    Examples:
      voice-coach play
      voice-coach play --minutes 10 --rate 130 --no-caution
      voice-coach play box-breathing --breath 5:5:5:5
      voice-coach play --resume               # the session stopped last, where it stopped
    """
    values = assemble.resolved_settings("play", routine, **given)
    resumed = playing.to_resume(routine, cues, given, values) if resume else None
    session = playing.ready(values, cues, no_cache, note, resumed)
    if resumed is not None and not quiet:
        stopped = resumed.entries[-1].stopped_in
        assert stopped is not None  # to_resume picks only such sessions
        click.echo(text.resuming_line(session.routine.title, stopped.label,
                                      resumed.entries[-1].started_at))
    playing.play(session, quiet, warning)
