"""Run a command and write its peak resident set to a file: ``rss_launcher.py REPORT CMD...``.

Started with ``python -S`` by its path (see ``measure.run_measured``) so that it stays
small: the command starts as a copy of this process, and Linux counts that copy's memory
in the command's own ``ru_maxrss``. It imports nothing but the standard library.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    report, command = argv[1], argv[2:]
    pid = os.fork()
    if pid == 0:
        os.execvp(command[0], command)
    _, status, usage = os.wait4(pid, 0)
    with open(report, "w") as out:
        json.dump({"maxrss_kb": usage.ru_maxrss}, out)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
