"""Run the inpainting in a separate Python process, reading machine-readable progress (one JSON object per line).

Long RFR runs on the CPU would otherwise block Slicer between progress updates, and a running network forward cannot
be interrupted; a subprocess can be killed at any time. The volume and its hole are written to a temporary folder as
NRRD files with the voxel spacing, the ``rfr-inpaint`` command (``python -m rfr_inpaint.cli --progress json``) runs
on them with ``PythonSlicer`` inside Slicer (any Python with the package's dependencies elsewhere), a thread puts its
stdout events into a queue, and :meth:`SubprocessInpainting.wait` polls the queue, reports progress and cancels by
killing the process tree (the ``PythonSlicer`` launcher and the Python it starts, with ``psutil``). No Qt: the
caller's ``progress`` callback may call ``slicer.app.processEvents()``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SubprocessInpainting", "default_python_executable", "kill_process_tree"]

#: seconds :func:`kill_process_tree` waits for the killed processes to be gone
_KILL_WAIT_S = 5.0


def default_python_executable() -> str:
    """``PythonSlicer`` when running inside 3D Slicer (its ``sys.executable`` is the application), else this Python."""
    executable = Path(sys.executable).name.lower()
    if executable.startswith("slicer"):
        found = shutil.which("PythonSlicer") or shutil.which("PythonSlicer", path=str(Path(sys.executable).parent))
        if not found:
            raise RuntimeError("PythonSlicer was not found next to the Slicer executable; run in-process instead")
        return found
    return sys.executable


def kill_process_tree(pid: int, timeout: float = _KILL_WAIT_S) -> list[int]:
    """Kill a process and all its descendants, and wait until they are gone.

    ``PythonSlicer`` is a launcher that sets up the environment and runs the real Python as its child: killing the
    launcher alone leaves that child running (and writing into a temporary folder that is being deleted). The tree is
    listed before anything is killed, and the parent is killed first so that it cannot start a new child.

    Args:
        pid: the process at the root of the tree.
        timeout: seconds to wait for the killed processes to end.

    Returns:
        the IDs of the processes that were killed (root first).

    Raises:
        RuntimeError: a process of the tree is still running after ``timeout``.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for process in tree:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    # a killed grandchild whose parent is gone stays a zombie until init reaps it: it no longer runs
    running = [p for p in alive if _is_running(p)]
    if running:
        raise RuntimeError(f"processes {[p.pid for p in running]} did not stop after being killed")
    return [p.pid for p in tree]


def _is_running(process: Any) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class SubprocessInpainting:
    """One inpainting run in a child process.

    Args:
        python: Python interpreter to run (default :func:`default_python_executable`).
        poll_interval: seconds between queue polls in :meth:`wait`.

    Example::

        run = SubprocessInpainting()
        run.start(volume, hole, spacing=(2.5, 0.8, 0.8), method="biharmonic")
        result = run.wait(progress=lambda done, total: print(done, total))
    """

    def __init__(self, python: str | None = None, poll_interval: float = 0.1):
        self.python = python or default_python_executable()
        self.poll_interval = float(poll_interval)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.process: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.command: list[str] = []
        self._stderr: list[str] = []
        self._threads: list[threading.Thread] = []
        self._dtype: np.dtype | None = None

    def start(
        self,
        volume: np.ndarray,
        hole: np.ndarray,
        spacing: Sequence[float],
        method: str | None = None,
        model_path: str | None = None,
        axis: int = 0,
        margin_mm: float | None = None,
        device: str = "auto",
        intensity: str = "auto",
        window: Sequence[float] | None = None,
        batch_size: int = 8,
    ) -> list[str]:
        """Write the inputs and launch ``rfr-inpaint`` on them.

        Args:
            volume: ``(z, y, x)`` values (any real dtype; kept).
            hole: mask of the same shape (nonzero = hole).
            spacing: ``(z, y, x)`` spacing in mm.
            method, model_path, axis, margin_mm, device, intensity, window, batch_size: as the command's options;
                ``None`` leaves an option to the command's own default (``rfr_inpaint.defaults``), so no default is
                decided twice.

        Returns:
            the command line that was started.

        Raises:
            RuntimeError: a run is already in progress.
            ValueError: volume and hole shapes differ.
        """
        import SimpleITK as sitk

        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("an inpainting process is already running")
        if volume.shape != hole.shape or volume.ndim != 3:
            raise ValueError(f"expected a 3D volume and a hole of one shape, got {volume.shape} and {hole.shape}")
        self.workdir = Path(tempfile.mkdtemp(prefix="RFRInpaint-"))
        for name, array in (("input.nrrd", volume), ("hole.nrrd", (np.asarray(hole) != 0).astype(np.uint8))):
            image = sitk.GetImageFromArray(np.ascontiguousarray(array))
            image.SetSpacing(tuple(float(s) for s in reversed(spacing)))
            sitk.WriteImage(image, str(self.workdir / name), useCompression=True)
        self._dtype = volume.dtype
        self.command = [
            self.python, "-m", "rfr_inpaint.cli",
            "--image", str(self.workdir / "input.nrrd"), "--mask", str(self.workdir / "hole.nrrd"),
            "--output", str(self.workdir / "output.nrrd"), "--axis", str(int(axis)),
            "--device", device, "--intensity", intensity, "--batch-size", str(int(batch_size)),
            "--progress", "json",
        ]  # fmt: skip
        if method is not None:
            self.command += ["--method", method]
        if margin_mm is not None:
            self.command += ["--margin-mm", repr(float(margin_mm))]
        if window is not None:
            self.command += ["--window", repr(float(window[0])), repr(float(window[1]))]
        if model_path:
            self.command += ["--model", str(model_path)]
        import rfr_inpaint

        env = dict(os.environ)
        package_root = str(Path(rfr_inpaint.__file__).resolve().parents[1])  # the folder holding rfr_inpaint/
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        self.events = queue.Queue()
        self._stderr = []
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, bufsize=1
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return list(self.command)

    def _read_stdout(self, stream) -> None:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"event": "log", "text": line}
            self.events.put(event if isinstance(event, dict) else {"event": "log", "text": line})

    def _read_stderr(self, stream) -> None:
        for line in stream:
            self._stderr.append(line.rstrip())

    def cancel(self) -> None:
        """Kill the process and every process it started (if running), then delete the temporary files."""
        if self.process is not None and self.process.poll() is None:
            kill_process_tree(self.process.pid)
            self.process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def wait(
        self,
        progress: Callable[[int, int], Any] | None = None,
        cancel: Callable[[], bool] | None = None,
        timeout: float | None = None,
    ) -> np.ndarray:
        """Wait for the run, forwarding its progress; return the inpainted volume in the input's dtype.

        Args:
            progress: called as ``progress(done, total)`` for each progress event.
            cancel: polled every ``poll_interval`` seconds; True kills the process.
            timeout: seconds before the process is killed (None: no limit).

        Returns:
            the result array.

        Raises:
            rfr_inpaint.volume.InpaintingCancelled: ``cancel()`` returned True.
            RuntimeError: the process failed (its error message) or timed out.
        """
        from rfr_inpaint.volume import InpaintingCancelled

        if self.process is None:
            raise RuntimeError("no inpainting process was started")
        started = time.monotonic()
        error: str | None = None
        try:
            while True:
                finished = self.process.poll() is not None
                if finished:
                    for thread in self._threads:
                        thread.join(timeout=5)
                while True:
                    try:
                        event = self.events.get_nowait()
                    except queue.Empty:
                        break
                    if event.get("event") == "progress" and progress is not None:
                        progress(int(event["done"]), int(event["total"]))
                    elif event.get("event") == "error":
                        error = str(event.get("message", "unknown error"))
                if finished:
                    break
                if cancel is not None and cancel():
                    self.cancel()
                    raise InpaintingCancelled("inpainting cancelled; the process was stopped")
                if timeout is not None and time.monotonic() - started > timeout:
                    self.cancel()
                    raise RuntimeError(f"inpainting process timed out after {timeout:g} s")
                time.sleep(self.poll_interval)
            if self.process.returncode != 0:
                detail = error or next((line for line in reversed(self._stderr) if line.strip()), "no message")
                raise RuntimeError(f"inpainting process failed (exit status {self.process.returncode}): {detail}")
            import SimpleITK as sitk

            result = sitk.GetArrayFromImage(sitk.ReadImage(str(self.workdir / "output.nrrd")))
            return result.astype(self._dtype, copy=False)
        finally:
            self._cleanup()
