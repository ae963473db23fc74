"""The README is a front door and the guide in docs/ holds the rest: the generated tables
match the code, the site builds with MkDocs in strict mode, the README's links lead
somewhere, and the man page reads without a warning."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import click

from voice_coach.cli import cli
from voice_coach.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "scripts" / "docs_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docs_tables = load_generator()


def test_the_generated_tables_and_man_page_match_the_code():
    stale = [str(path.relative_to(ROOT)) for path in docs_tables.drifted()]
    assert stale == [], (f"{', '.join(stale)} drifted from the code's help and settings: "
                         f"run {docs_tables.UPDATE_COMMAND}")


def test_a_table_edited_by_hand_is_written_back_from_the_code():
    page = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    edited = page.replace("| Voice volume, 0 to 1. |", "| Voice volume, 0 to 11. |")
    assert edited != page
    assert docs_tables.regenerate(edited) == page


def test_the_settings_table_has_a_row_for_every_setting():
    table = docs_tables.settings_table()
    rows = table.splitlines()[2:]
    assert len(rows) == len(SETTINGS)
    for row, spec in zip(rows, SETTINGS.values(), strict=True):
        assert row.startswith(f"| <code>{spec.key}</code> | <code>{spec.envvar}</code> |")
    assert "| <code>--rate, -r</code> | Speech speed in words per minute (both engines). | 80 to 400 | 140 |" in table


def test_each_commands_table_is_its_help():
    """Every option of every command is in the reference, as `-h` words it."""
    reference = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    for name, command in docs_tables.commands():
        assert f"\n### {name}\n" in reference
        context = click.Context(command, info_name=name)
        for parameter in command.params:
            if isinstance(parameter, click.Option):
                record = parameter.get_help_record(context)
                assert record is not None
                assert f"| <code>{docs_tables._cell(record[0])}</code> |" in reference
    assert set(cli.commands) <= {name for name, _ in docs_tables.commands()}
    assert "| <code>-b, --breath IN:OUT&#124;IN:HOLD:OUT:HOLD</code> |" in reference


def test_the_check_names_the_one_command_that_updates_the_guide(tmp_path, monkeypatch, capsys):
    guide = tmp_path / "docs"
    guide.mkdir()
    stale = "x\n<!-- generated: options history -->\nold\n<!-- end generated -->\n"
    (guide / "page.md").write_text(stale, encoding="utf-8")
    monkeypatch.setattr(docs_tables, "ROOT", tmp_path)
    monkeypatch.setattr(docs_tables, "GUIDE", guide)
    monkeypatch.setattr(docs_tables, "MAN_PAGE", guide / "voice-coach.1")
    assert docs_tables.main(["--check"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "docs/page.md is out of date: run .venv/bin/python scripts/docs_tables.py",
        "docs/voice-coach.1 is out of date: run .venv/bin/python scripts/docs_tables.py",
    ]
    assert docs_tables.main([]) == 0
    assert docs_tables.main(["--check"]) == 0
    assert "| <code>-n, --limit INTEGER RANGE</code> | How many recent sessions to show. [default: 10; 1&lt;=x&lt;=1000] |" in (
        guide / "page.md").read_text(encoding="utf-8")


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """mkdocs build --strict; never with -q, which stops MkDocs 1.6 counting warnings."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", str(project / "mkdocs.yml"), "-d", str(site)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_guide_builds_as_a_site_in_strict_mode(tmp_path):
    built = mkdocs_build(ROOT, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    assert [line for line in built.stderr.splitlines() if not line.startswith("INFO")] == []
    for page in ("install", "usage", "commands", "playing", "export", "voices", "routines",
                 "builtin-routines", "development", "testing", "benchmarks", "engines",
                 "streaming", "sound", "loudness"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_broken_link_a_missing_anchor_and_a_page_out_of_the_nav_fail_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a", encoding="utf-8") as index:
        index.write("\n[gone](gone.md) and [a part](usage.md#no-such-part)\n")
    (tmp_path / "docs" / "stray.md").write_text("# Stray\n", encoding="utf-8")
    built = mkdocs_build(tmp_path, tmp_path / "site")
    assert built.returncode == 1
    warnings = [line for line in built.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 3, built.stderr
    assert "exist in the docs directory, but are not included in the \"nav\"" in warnings[0]
    assert "  - stray.md" in built.stderr
    assert "contains a link 'gone.md', but the target is not found" in warnings[1]
    assert "does not contain an anchor '#no-such-part'" in warnings[2]
    assert "Aborted with 3 warnings in strict mode!" in built.stdout + built.stderr


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    # The quick start, exactly: .ci/run runs the second, the test command.
    assert ("```sh\nscripts/start.sh        # installs what is missing, then plays the psoas release\n"
            "scripts/test.sh         # installs what is missing, then runs the whole test suite\n```"
            in readme)
    assert "exec scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not link.startswith("https://")]
    assert len(local) >= 10
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_the_man_page_reads_without_a_warning():
    shown = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(ROOT / "docs" / "voice-coach.1")],
                           capture_output=True, text=True, timeout=30, check=False)
    assert (shown.returncode, shown.stderr) == (0, "")
    text = re.sub(".\b", "", shown.stdout)  # no overstruck bold
    assert "voice-coach play [OPTIONS] [ROUTINE]" in text
    assert "VOICE_COACH_RATE" in text


def test_the_install_page_names_the_pins_and_the_line_fresh_machine_runs():
    """Its `pipx inject` pins are the neural extra's; its Debian line is the one
    scripts/fresh_machine.sh reads and installs before it pipx-installs the wheel."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["optional-dependencies"]["neural"]
    page = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert f"pipx inject voice-coach {' '.join(extra)}\n" in page
    assert "\nsudo apt-get install pipx espeak-ng gcc python3-dev libasound2-dev\n" in page


def test_the_help_points_to_the_guide_and_the_man_page_that_are_there():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    pointer = " ".join(result.output.split("\n\n")[-1].split())
    assert pointer == ("User guide: docs/index.md in voice-coach's source (every option:"
                       " docs/commands.md); man page: man voice-coach, installed with it"
                       " (in the source: man ./docs/voice-coach.1)")
    for named in re.findall(r"docs/[\w.-]+", pointer):
        assert (ROOT / named).is_file(), named
