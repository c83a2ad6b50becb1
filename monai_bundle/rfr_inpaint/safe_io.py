"""Writes that never leave a truncated file behind, and checkpoint loading that never runs pickled code."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_path", "atomic_torch_save", "load_checkpoint", "CheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read safely or does not hold what was expected."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the destination folder; rename it onto ``path`` only if the block succeeds.

    The temporary file lives beside the destination so that the final ``os.replace`` is a rename on one
    file system (atomic on POSIX and Windows): readers see either the old file or the complete new one.
    The temporary name keeps the destination's suffixes (``.nii.gz``, ``.nrrd``, ``.png``) so that writers
    which pick the format from the extension still work.

    Args:
        path: final destination.
        overwrite: when False, refuse to replace an existing file (checked before and after writing).

    Yields:
        the temporary path to write to.

    Raises:
        FileExistsError: ``overwrite`` is False and ``path`` exists.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path}: output exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not overwrite and path.exists():
            raise FileExistsError(f"{path}: output appeared while writing; refusing to overwrite it")
        if tmp_path.is_file():
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp creates 0600 files: give the result the replaced file's mode, or the usual umask default.
            os.chmod(tmp_path, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_current_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`atomic_path`, so an interrupted save never truncates a good checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``: tensors and plain containers only, never pickled code.

    Args:
        path: a file written by ``torch.save``.
        map_location: where to put the tensors (default CPU).

    Returns:
        the loaded object (usually a dict of tensors or a dict of state dicts).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is not a readable checkpoint, or it holds objects other than tensors and
            plain containers (for example a pickled callable), which are refused without being run.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        text = str(e)
        # torch's message starts with generic advice; the line that says what was found is the useful one.
        detail = next((ln.strip() for ln in text.splitlines() if "GLOBAL" in ln or "Unsupported" in ln), "")
        if "GLOBAL" in text or "global" in detail:
            raise CheckpointError(
                f"{path}: refused to load; the checkpoint holds objects other than tensors and plain containers "
                f"(pickled code is never executed): {detail}"
            ) from e
        detail = detail or (text.splitlines()[0] if text else type(e).__name__)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {detail})") from e
