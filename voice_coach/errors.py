"""The one base every user-causable failure derives from, and how an error shows a value.

Each domain module defines its own subclass (``RoutineError``, ``SpeechError``, ...);
only the command line (``voice_coach.cli.group``) turns them into one line on stderr
and an exit code.
"""

import math


class VoiceCoachError(Exception):
    """Something the user can cause or fix: printed as one line, never a traceback."""

    exit_code = 1


def show_value(value: object) -> str:
    """A value from a file the user wrote, in a few words, for "expected ..., got ..."."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10**15:
        return f"a {digit_count(value)}-digit number"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"  # TOML dates and times


def digit_count(number: int) -> int:
    """How many decimal digits ``number`` has, without ``str``: Python refuses to convert
    an integer of more than 4,300 digits, and TOML's hexadecimal ones can be that big."""
    magnitude = abs(number)
    digits = max(1, math.floor((magnitude.bit_length() - 1) * math.log10(2)) - 1)
    while 10**digits <= magnitude:
        digits += 1
    return digits
