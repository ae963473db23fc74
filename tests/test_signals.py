"""How a stopping signal is delivered, in a real interpreter of its own (signals belong to
the whole process, so each case runs as a child that signals itself at a chosen point).

A signal that lands during an import is held until the import is done, then raised: a
module is never left half-initialised (an extension module cut off inside its own
initialisation can abort or crash the interpreter), and the run still ends at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}

SLOW_MODULE = textwrap.dedent("""\
    import os, signal
    os.kill(os.getpid(), int(os.environ["VC_SIGNAL"]))
    steps = 0
    for _ in range(200_000):
        steps += 1
    whole = True
    if "VC_RECHECK_LATE_S" in os.environ:
        signal.setitimer(signal.ITIMER_REAL, float(os.environ["VC_RECHECK_LATE_S"]))
    """)
"""A module that signals its own process on import, then goes on for a few milliseconds of
bytecode: a signal raised inside it would leave ``whole`` unset and the module unloaded.
``VC_RECHECK_LATE_S`` moves the held signal's next look later, so that a test can act
between the import and that look."""


def run(code: str, tmp_path: Path, name: str,
        **extra_env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "slow_module.py").write_text(SLOW_MODULE)
    env = {**os.environ, **extra_env, "VC_SIGNAL": str(int(SIGNALS[name])),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                          capture_output=True, timeout=60, cwd=tmp_path,
                          preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL)
                                              for s in SIGNALS.values()])


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_signal_during_an_import_comes_once_the_module_is_whole(tmp_path: Path,
                                                                  name: str) -> None:
    done = run("""\
        import sys
        from voice_coach.signals import interrupt_on_stop
        interrupt_on_stop()
        where = "before"
        try:
            import slow_module
            where = "after the import"
            for _ in range(10_000_000):  # the 10 ms recheck lands in here, not later
                pass
            where = "after the work"
        except KeyboardInterrupt:
            module = sys.modules.get("slow_module")
            print(where, getattr(module, "whole", False))
        """, tmp_path, name)
    # "before": the look 10 ms on came in the few bytecodes between the import and the next line
    assert done.stdout in ("after the import True\n", "before True\n")
    assert (done.returncode, done.stderr) == (0, "")


def test_a_signal_held_by_an_import_that_comes_back_inside_a_deferred_block_waits_for_it(
        tmp_path: Path) -> None:
    """The held signal's next look lands in a block that must not be cut in half: it is
    remembered there, like any signal in such a block, and raised once the block is done."""
    done = run("""\
        import time
        from voice_coach.signals import interrupt_on_stop, stop_deferred
        interrupt_on_stop()
        steps = []
        try:
            import slow_module  # its signal is held, the next look at it 0.3 s on
            with stop_deferred():
                time.sleep(0.6)
                steps.append("block done")
            steps.append("after the block")
        except KeyboardInterrupt:
            print(steps, slow_module.whole)
        """, tmp_path, "SIGTERM", VC_RECHECK_LATE_S="0.3")
    assert (done.returncode, done.stdout, done.stderr) == (0, "['block done'] True\n", "")


def test_a_signal_held_by_an_import_is_dropped_once_the_outcome_is_decided(
        tmp_path: Path) -> None:
    """``ignore_stop`` right after the import: no interrupt, and no timer left to kill the
    process at exit (SIGALRM's default action)."""
    done = run("""\
        import time
        from voice_coach.signals import ignore_stop, interrupt_on_stop
        interrupt_on_stop()
        import slow_module  # its signal is held, the next look at it 0.3 s on
        ignore_stop()
        time.sleep(0.5)
        print("finished", slow_module.whole)
        """, tmp_path, "SIGTERM", VC_RECHECK_LATE_S="0.3")
    assert (done.returncode, done.stdout, done.stderr) == (0, "finished True\n", "")


CONTEXT_HOOK = """\
    import os, signal, sys
    import click
    process_value = click.core.Parameter.process_value

    def signal_then_process(self, ctx, value):
        os.kill(os.getpid(), int(os.environ["VC_SIGNAL"]))
        return process_value(self, ctx, value)

    click.core.Parameter.process_value = signal_then_process
    sys.argv = ["voice-coach", "plan"]
    from voice_coach.cli import main
    main()
    """


@pytest.mark.parametrize("name", list(SIGNALS))
def test_a_signal_while_the_options_are_read_is_one_line(tmp_path: Path, name: str) -> None:
    """Click words an interrupt during parsing itself, with a blank line first; ours is the
    same one line as anywhere else."""
    done = run(CONTEXT_HOOK, tmp_path, name)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "Error: interrupted\n")
