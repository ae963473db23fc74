"""The heap policy: big blocks returned to the system, except while a clip is leveled.

Measured in a child process (the policy is the whole process's) by the page faults of
touching a freshly allocated 4 MiB array twice over: a block reused from the heap is
already resident, a block mapped anew faults in every page again.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = """
import json, resource
import numpy as np
from voice_coach import heap

def faults_of_a_second_block():
    np.ones(1 << 19)  # 4 MiB, freed at once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(1 << 19)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

heap.return_freed_blocks()
faults = {"returned": faults_of_a_second_block()}
with heap.reusing_big_blocks():
    with heap.reusing_big_blocks():  # a second thread leveling at the same time
        pass
    faults["reused"] = faults_of_a_second_block()
faults["after"] = faults_of_a_second_block()
print(json.dumps(faults))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_big_blocks_are_reused_only_while_a_clip_is_leveled() -> None:
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                           check=True, timeout=60)
    faults = json.loads(child.stdout)

    pages = (1 << 22) // 4096  # the kernel may map some of them two megabytes at a time
    assert faults["returned"] >= pages // 4  # mapped anew: its pages fault in again
    assert faults["reused"] < pages // 64  # from the heap, still resident
    assert faults["after"] >= pages // 4
