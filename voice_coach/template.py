"""``voice-coach new``: a commented routine template to copy and edit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from voice_coach.errors import VoiceCoachError
from voice_coach.files import write_atomically

TEMPLATE: Final = '''\
# A voice-coach routine. Check it with:  voice-coach check {name}.toml
# Hear what it will sound like with:     voice-coach plan {name}.toml
# The user guide's "Writing a routine" (docs/routines.md) explains every key.
# Translations go beside this file as {name}.de.toml, {name}.fr.toml, {name}.es.toml:
# only the words, in the same order (docs/routines.md, "Translations", shows one).

id = "{name}"
title = "{title}"
summary = "One line saying what this routine is for."
minutes = 6                 # default session length; --minutes overrides it
pause_s = 1.5               # silence after each spoken line, unless a step sets hold_s
# caution = "Spoken first (skip with --no-caution): move gently, stop if anything hurts."

[breath]                    # the breath pace, in seconds; holds may be 0
inhale_s = 4
hold_in_s = 0
exhale_s = 6
hold_out_s = 0

# [breath_to]               # optional: the pace at the end; breaths slow toward it
# exhale_s = 8

# [cues]                    # optional: a built-in cue, "none", or your own .wav file
# spot = "spot"             # built-ins: start, inhale, exhale, hold, spot, end
# hold = "none"

[[steps]]
title = "Lie down"          # optional: what the screen, a lock screen and a chapter show
say = "Lie down on your back and let your whole body rest on the floor."
hold_s = 5                  # seconds of silence after the line

[[steps]]
title = "The pace"
# {{pace}} says the pace in words ("in for four, out for six"), so the voice and the
# chimes always agree, also with --breath 5:7.
say = "Breathe with the chimes: {{pace}}."
hold_s = 1

[[steps]]
# A rising chime means breathe in, a falling chime breathe out.
breathe = {{ count = 3, exhale_prompt = "Let go a little more as you breathe out.", prompt_breaths = 1 }}

[[steps]]
title = "Round {{n}}"       # each repetition's title
[steps.repeat]
fill = true                 # repeat until the session fills its length; or: times = 4
cue = "spot"                # a double chime at each repetition ("none" for silence)
count_from = 1              # {{n}} counts 1, 2, 3 ... and {{nth}} says first, second ...

[[steps.repeat.steps]]
say = "Round {{n}}. Rest your attention somewhere new."
hold_s = 3

[[steps.repeat.steps]]
breathe = {{ count = 3 }}

[[steps]]
title = "Sit up slowly"
say = "Take your time, then roll onto your side and sit up slowly."
hold_s = 4
'''

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class TemplateError(VoiceCoachError):
    """The template cannot be written."""


class TemplateNameError(TemplateError):
    """The name given is not a routine name: bad input."""

    exit_code = 2


def render_template(name: str) -> str:
    """The template text for a routine called ``name``."""
    title = name.replace("-", " ").capitalize()
    return TEMPLATE.format(name=name, title=title)


def write_template(name: str, folder: Path, *, force: bool = False) -> Path:
    """Write ``folder/NAME.toml`` atomically; refuse to replace a file unless ``force``.

    The file is the user's to edit and share: its mode is what their umask gives.
    """
    if not _NAME.fullmatch(name):
        raise TemplateNameError(
            f"{name!r} is not a routine name: use lowercase letters, digits and '-'"
            " (for example neck-release)")
    path = folder / f"{name}.toml"
    if path.exists() and not force:
        raise TemplateError(f"{path} already exists; use --force to replace it")
    write_atomically(path, render_template(name).encode("utf-8"),
                     error=lambda reason: TemplateError(f"cannot write {path}: {reason}"))
    return path
