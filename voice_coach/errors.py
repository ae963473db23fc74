"""The one base every user-causable failure derives from.

Each domain module defines its own subclass (``RoutineError``, ``SpeechError``, ...);
only ``cli.py`` turns them into one line on stderr and an exit code.
"""


class VoiceCoachError(Exception):
    """Something the user can cause or fix: printed as one line, never a traceback."""

    exit_code = 1
