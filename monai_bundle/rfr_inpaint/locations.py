"""Where the package finds a MONAI bundle folder, and the model the project ships in it.

Every entry point looks for the bundle folder the same way (:func:`bundle_dir_candidates`), in this order:

1. the current folder: MONAI's bundle commands run from the bundle's root;
2. the folder that holds this package: the bundle itself in a source checkout or an editable install
   (``monai_bundle/`` of the repository).

A regular ``pip install`` holds the package only, so there the bundle folder is the current one (or one given
explicitly). The shipped model is :data:`rfr_inpaint.defaults.SHIPPED_MODEL` of the first bundle folder holding it
(:func:`shipped_model_path`); ``rfr-inpaint --method rfr`` without ``--model``, :func:`rfr_inpaint.inpainters.
get_inpainter` without a model, the 3D Slicer module and the MONAI Label app use it.

Standard library only: the command's argument parser and the Slicer module import it without PyTorch or MONAI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rfr_inpaint.defaults import SHIPPED_MODEL

__all__ = [
    "BUNDLE_MARKER",
    "package_bundle_dir",
    "bundle_dir_candidates",
    "search_bundle_dirs",
    "shipped_model_path",
]

#: the file every MONAI bundle holds (its metadata); a folder without it is not taken for a bundle, so that a
#: ``models/model.pt`` of some other project in the current folder is never picked up as the shipped model.
BUNDLE_MARKER = "configs/metadata.json"


def package_bundle_dir() -> Path:
    """The folder that holds the ``rfr_inpaint`` package (the bundle folder in a source checkout)."""
    return Path(__file__).resolve().parents[1]


def bundle_dir_candidates(extra_dirs: Sequence[str | os.PathLike] = ()) -> tuple[Path, ...]:
    """The folders that may be the bundle folder, in the order they are looked at: the current folder, the package's
    folder, then ``extra_dirs`` (each once).

    Args:
        extra_dirs: further folders a caller knows of (e.g. the MONAI Label app: its repository's bundle folder).
    """
    folders = [Path.cwd().resolve(), package_bundle_dir(), *(Path(d).resolve() for d in extra_dirs)]
    return tuple(dict.fromkeys(folders))


def search_bundle_dirs(
    required: Sequence[str], extra_dirs: Sequence[str | os.PathLike] = ()
) -> tuple[Path | None, list[str]]:
    """The first folder of :func:`bundle_dir_candidates` that holds every file of ``required``.

    Args:
        required: paths relative to the bundle folder (e.g. ``configs/train.json``, ``models/model.pt``).
        extra_dirs: folders looked at after the usual ones.

    Returns:
        ``(folder, looked)``: the folder found (None when none qualifies) and, for each folder looked at without
        success, ``"<folder> (lacks <files>)"``, for the caller's error message.
    """
    looked = []
    for folder in bundle_dir_candidates(extra_dirs):
        missing = [name for name in required if not (folder / name).is_file()]
        if not missing:
            return folder, looked
        looked.append(f"{folder} (lacks {', '.join(missing)})")
    return None, looked


def shipped_model_path(extra_dirs: Sequence[str | os.PathLike] = ()) -> Path:
    """The RFR-Net model shipped with the project: :data:`~rfr_inpaint.defaults.SHIPPED_MODEL` of the bundle folder.

    Args:
        extra_dirs: bundle folders looked at after the usual ones (:func:`bundle_dir_candidates`).

    Returns:
        path of the checkpoint file (in a folder that also holds the bundle's ``configs/metadata.json``).

    Raises:
        FileNotFoundError: no folder looked at holds it; the message names each folder and what it lacks.
    """
    folder, looked = search_bundle_dirs((BUNDLE_MARKER, SHIPPED_MODEL), extra_dirs)
    if folder is None:
        raise FileNotFoundError(
            f"no shipped RFR-Net model: {SHIPPED_MODEL} of a MONAI bundle folder was looked for in "
            + "; ".join(looked)
            + "; name an RFR-Net model file or bundle folder instead"
        )
    return folder / SHIPPED_MODEL
