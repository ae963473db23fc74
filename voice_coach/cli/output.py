"""What the commands show on the terminal besides their results: notes and progress."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator

import click

from voice_coach.assemble import Progress


def note(message: str) -> None:
    """``note: ...`` on stderr."""
    click.echo(f"note: {message}", err=True)


def show_notes(notes: Iterable[str]) -> None:
    """Each note once (two workers may fail at once), on stderr, even with ``--quiet``."""
    for message in dict.fromkeys(notes):
        note(message)


def echo_lines(lines: Iterable[str]) -> None:
    """Each line on stdout."""
    for line in lines:
        click.echo(line)


@contextlib.contextmanager
def progress(label: str, quiet: bool) -> Iterator[Progress]:
    """``label 12/40`` redrawn in place on a terminal's stderr; nothing elsewhere."""
    shown = False

    def report(done: int, total: int) -> None:
        nonlocal shown
        if quiet or not sys.stderr.isatty():
            return
        shown = True
        click.echo(f"\r\x1b[2K{label} {done}/{total}", nl=False, err=True)

    try:
        yield report
    finally:
        if shown:
            click.echo("\r\x1b[2K", nl=False, err=True)


def warning(message: str) -> None:
    """``warning: ...`` on stderr."""
    click.echo(f"warning: {message}", err=True)
