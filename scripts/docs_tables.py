"""Write the user guide's generated parts from the code: the settings table, each command's
options, and the man page.

The guide's Markdown holds them between markers, and everything else is written by hand::

    <!-- generated: settings -->            config.SETTINGS, one row per setting
    <!-- generated: options play -->        Click's parameters of one command ("config set")
    <!-- generated: commands -->            every command: usage, summary and options
    <!-- end generated -->

    .venv/bin/python scripts/docs_tables.py           # rewrite the guide's tables and the man page
    .venv/bin/python scripts/docs_tables.py --check   # exit 1, naming the files, if they drifted

The tables read what ``voice-coach --help`` shows (``get_help_record``), so the guide and the
help cannot disagree. ``tests/test_docs.py`` runs ``--check``'s comparison in memory.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import click

from voice_coach.cli import cli
from voice_coach.config import SETTINGS, Spec

ROOT: Final = Path(__file__).resolve().parents[1]
GUIDE: Final = ROOT / "docs"
MAN_PAGE: Final = GUIDE / "voice-coach.1"
UPDATE_COMMAND: Final = ".venv/bin/python scripts/docs_tables.py"
PROGRAM: Final = "voice-coach"

_BLOCK: Final = re.compile(
    r"(<!-- generated: (?P<what>[^>]*?) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


# --- Reading the command line ------------------------------------------------------------

def commands() -> Iterator[tuple[str, click.Command]]:
    """Every command by its full name ("play", "config set"), in the help's order."""
    def walk(prefix: str, group: click.Group) -> Iterator[tuple[str, click.Command]]:
        for name in sorted(group.commands):
            command = group.commands[name]
            full = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                yield full, command
                yield from walk(full, command)
            else:
                yield full, command
    yield from walk("", cli)


def command_named(name: str) -> click.Command:
    """The command ``name`` ("play", "config set") names; KeyError if there is none."""
    found = dict(commands())
    return found[name]


def _context(name: str, command: click.Command) -> click.Context:
    """A context as the command line makes one: with the group's settings (``-h`` as well
    as ``--help``). Click keeps the help option the first context made, so a context
    without them would take ``-h`` from every later run in the same process."""
    parent = click.Context(cli, info_name=PROGRAM, **cli.context_settings)
    return click.Context(command, info_name=name.split()[-1], parent=parent,
                         **command.context_settings)


def help_rows(name: str) -> list[tuple[str, str]]:
    """The (option, meaning) rows ``voice-coach NAME --help`` shows, help option left out."""
    command = command_named(name)
    context = _context(name, command)
    rows = []
    for parameter in command.get_params(context):
        record = parameter.get_help_record(context)
        if (isinstance(parameter, click.Option) and record is not None
                and "--help" not in parameter.opts):
            rows.append(record)
    return rows


def usage(name: str) -> str:
    """``voice-coach play [OPTIONS] [ROUTINE]``."""
    command = command_named(name)
    pieces = command.collect_usage_pieces(_context(name, command))
    return " ".join([PROGRAM, name, *pieces])


def summary(command: click.Command) -> str:
    """The first paragraph of a command's help, on one line."""
    first = (command.help or "").strip().split("\n\n")[0]
    return " ".join(first.split())


# --- Markdown -----------------------------------------------------------------------------

def _cell(text: str) -> str:
    """Table cell text: one line, HTML's specials escaped, a pipe that splits no cell."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _code(text: str) -> str:
    """Code in a table cell: HTML, since GitHub splits cells at a pipe even in backticks."""
    return f"<code>{_cell(text)}</code>"


def options_table(name: str) -> str:
    """One command's options as a Markdown table."""
    lines = ["| option | meaning |", "|---|---|"]
    lines += [f"| {_code(option)} | {_cell(meaning)} |"
              for option, meaning in help_rows(name)]
    return "\n".join(lines) + "\n"


def _shown(spec: Spec) -> str:
    if spec.default is None:
        return spec.unset
    if isinstance(spec.default, bool):
        return "true" if spec.default else "false"
    if isinstance(spec.default, float):
        return f"{spec.default:g}"
    return str(spec.default)


def _range(spec: Spec) -> str:
    if spec.kind in ("int", "float") and spec.low != spec.high:
        return f"{spec.low:g} to {spec.high:g}"
    if spec.choices:
        return ", ".join(spec.choices)
    return ""


def settings_table() -> str:
    """Every setting: its key, variable, option, what it means, its range and its default."""
    lines = ["| key | environment | option | meaning | range | default |",
             "|---|---|---|---|---|---|"]
    for spec in SETTINGS.values():
        option = spec.option or "(the ROUTINE argument)"
        if spec.short:
            option += f", {spec.short}"
        lines.append(f"| {_code(spec.key)} | {_code(spec.envvar)} | {_code(option)} "
                     f"| {_cell(spec.help)} | {_cell(_range(spec))} | {_cell(_shown(spec))} |")
    return "\n".join(lines) + "\n"


def commands_reference() -> str:
    """Every command: a heading, its usage, its summary and its options."""
    parts = []
    for name, command in commands():
        parts.append(f"### {name}\n\n```text\n{usage(name)}\n```\n\n{summary(command)}\n")
        if help_rows(name):
            parts.append(options_table(name))
    return "\n".join(parts)


def generated(what: str) -> str:
    """The text that belongs between ``<!-- generated: WHAT -->`` and its end marker."""
    kind, _, argument = what.partition(" ")
    if kind == "settings" and not argument:
        return settings_table()
    if kind == "commands" and not argument:
        return commands_reference()
    if kind == "options" and argument:
        return options_table(argument)
    raise ValueError(f"unknown generated block {what!r}")


def regenerate(text: str) -> str:
    """``text`` with every generated block written afresh from the code."""
    return _BLOCK.sub(lambda m: m.group(1) + generated(m.group("what")) + m.group(4), text)


# --- The man page ---------------------------------------------------------------------

def _roff(text: str) -> str:
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in escaped.split("\n"))


def man_page() -> str:
    """voice-coach(1), in roff, from the same help as the tables."""
    from voice_coach import __version__

    lines = [f'.TH VOICE\\-COACH 1 "" "voice-coach {__version__}" "User Commands"',
             ".SH NAME", "voice\\-coach \\- " + _roff(summary(cli)),
             ".SH SYNOPSIS", f".B {PROGRAM}", "COMMAND [OPTIONS] [ARGS]",
             ".SH DESCRIPTION",
             _roff("Lie down, close your eyes and follow the voice: each step is spoken, soft "
                   "chimes pace every breath, and the same session exports to audio files. "
                   "Every setting resolves in one order: command line > environment "
                   "(VOICE_COACH_*) > settings file > routine > built-in default."),
             ".SH COMMANDS"]
    for name, command in commands():
        lines += [".SS " + _roff(usage(name)), _roff(summary(command))]
        for option, meaning in help_rows(name):
            lines += [".TP", ".B " + _roff(option), _roff(" ".join(meaning.split()))]
    lines += [".SH ENVIRONMENT"]
    for spec in SETTINGS.values():
        lines += [".TP", ".B " + spec.envvar, _roff(spec.help)]
    lines += [".SH EXIT STATUS",
              _roff("0 success; 1 a failure at run time (no sound device, no speech engine, a "
                    "full disk, a failed doctor check); 2 bad input (an option, a routine "
                    "file, the settings file); 130 interrupted."),
              ".SH SEE ALSO",
              _roff("The user guide: docs/index.md in the source, or the site mkdocs builds "
                    "from it.")]
    return "\n".join(lines) + "\n"


# --- The files ----------------------------------------------------------------------------

def guide_pages() -> list[Path]:
    """The guide's pages that hold generated blocks."""
    return [page for page in sorted(GUIDE.glob("*.md"))
            if "<!-- generated: " in page.read_text(encoding="utf-8")]


def drifted() -> dict[Path, str]:
    """Each generated file whose text differs from what the code makes, with that text."""
    wanted = {page: regenerate(page.read_text(encoding="utf-8")) for page in guide_pages()}
    wanted[MAN_PAGE] = man_page()
    return {path: text for path, text in wanted.items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text}


def main(arguments: list[str]) -> int:
    if arguments not in ([], ["--check"]):
        print(f"usage: {UPDATE_COMMAND} [--check]", file=sys.stderr)
        return 2
    changed = drifted()
    if arguments == ["--check"]:
        for path in changed:
            print(f"{path.relative_to(ROOT)} is out of date: run {UPDATE_COMMAND}",
                  file=sys.stderr)
        return 1 if changed else 0
    for path, text in changed.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
