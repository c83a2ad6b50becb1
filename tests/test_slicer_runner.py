"""The Slicer module's subprocess runner (RFRInpaint/RFRInpaintLib/runner.py): cancel stops the whole process tree.

``PythonSlicer`` is a launcher that runs the real Python as its child. The stand-in here is a launcher script that
starts a child which writes a file after a delay, and waits for it, as the real launcher does. No Slicer needed.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "RFRInpaint"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

from RFRInpaintLib.runner import SubprocessInpainting, kill_process_tree  # noqa: E402
from rfr_inpaint.volume import InpaintingCancelled  # noqa: E402

CHILD_DELAY_S = 2.0

LAUNCHER = """#!{python}
# stand-in for PythonSlicer: start the real work in a child process and wait for it
import subprocess, sys
child = subprocess.Popen([sys.executable, {child!r}])
sys.exit(child.wait())
"""

CHILD = """import json, os, time
from pathlib import Path
Path({pid_file!r}).write_text(json.dumps({{"child": os.getpid(), "launcher": os.getppid()}}))
time.sleep({delay!r})
Path({late_file!r}).write_text("written after the delay")
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def launcher(tmp_path: Path):
    """``(launcher script, pid file, late file)``: the child records both PIDs, then writes the late file."""
    pid_file, late_file = tmp_path / "pids.json", tmp_path / "late.txt"
    child = tmp_path / "child.py"
    child.write_text(CHILD.format(pid_file=str(pid_file), late_file=str(late_file), delay=CHILD_DELAY_S))
    script = tmp_path / "PythonSlicer"
    script.write_text(LAUNCHER.format(python=sys.executable, child=str(child)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, pid_file, late_file


@pytest.mark.skipif(os.name != "posix", reason="the stand-in launcher is a script run through its #! line")
def test_cancel_kills_the_launcher_and_its_child(launcher):
    script, pid_file, late_file = launcher
    volume = np.zeros((2, 16, 16), np.int16)
    hole = np.zeros(volume.shape, bool)
    hole[1, 4:8, 4:8] = True
    run = SubprocessInpainting(python=str(script), poll_interval=0.02)
    run.start(volume, hole, spacing=(2.0, 1.0, 1.0), method="mean")
    workdir = run.workdir
    started = time.monotonic()
    with pytest.raises(InpaintingCancelled, match="process was stopped"):
        # cancel once the child runs: killing the launcher before it started a child would prove nothing
        run.wait(cancel=pid_file.is_file, timeout=60)
    pids = json.loads(pid_file.read_text())
    assert pids["launcher"] == run.process.pid  # the tree really was launcher -> child
    assert not _alive(pids["launcher"]) and not _alive(pids["child"])
    assert workdir is not None and not workdir.exists()  # temporary files removed
    time.sleep(max(CHILD_DELAY_S + 1.0 - (time.monotonic() - started), 0.0))
    assert not late_file.exists()  # the child never got to write


def test_kill_process_tree_of_a_finished_process_is_a_no_op():
    process = psutil.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert kill_process_tree(process.pid) == []
