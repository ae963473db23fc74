"""The whole command line: the group with every command added."""

from __future__ import annotations

from voice_coach.cli import authoring, information, session, settings
from voice_coach.cli.group import cli

__all__ = ["authoring", "cli", "information", "run", "session", "settings"]


def run() -> None:
    """Run the command line and exit (``voice_coach.cli.main`` calls this)."""
    cli.main(prog_name="voice-coach")
