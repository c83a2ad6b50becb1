"""GUI-free logic of the RFR Inpaint 3D Slicer module (this package imports no Qt).

The inpainting itself lives in the ``rfr_inpaint`` package (``monai_bundle/rfr_inpaint`` in the source tree), shared
with the MONAI bundle and the ``rfr-inpaint`` command. It is found, in this order:

1. already importable (an extension build installs a copy of ``rfr_inpaint`` beside this module, see
   ``RFRInpaint/CMakeLists.txt``; or it was ``pip install``-ed into Slicer's Python);
2. running from the source tree (the module folder ``RFRInpaint/`` added to Slicer's additional module paths): the
   folder ``../monai_bundle`` of the repository is put on ``sys.path`` by :func:`ensure_rfr_inpaint_importable`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["ensure_rfr_inpaint_importable", "BUNDLE_SOURCE_DIR", "INSTALLED_BUNDLE_DIR", "moduleBundleDirs"]

#: ``monai_bundle`` folder of the source tree (holds the ``rfr_inpaint`` package) when running from source
BUNDLE_SOURCE_DIR = Path(__file__).resolve().parents[2] / "monai_bundle"

#: where an extension build installs the bundle's metadata and shipped model (``RFRInpaint/CMakeLists.txt``): beside
#: the module, in a folder of its own, because the scripted-modules folder is shared by every extension
INSTALLED_BUNDLE_DIR = Path(__file__).resolve().parents[1] / "RFRInpaintBundle"


def moduleBundleDirs() -> list[Path]:
    """Bundle folders the module knows of beyond the package's own lookup (:func:`rfr_inpaint.locations.
    bundle_dir_candidates`): the installed extension's :data:`INSTALLED_BUNDLE_DIR` when it exists."""
    return [INSTALLED_BUNDLE_DIR] if INSTALLED_BUNDLE_DIR.is_dir() else []


def ensure_rfr_inpaint_importable() -> Path | None:
    """Make ``import rfr_inpaint`` work, adding the source tree's ``monai_bundle`` folder to ``sys.path`` if needed.

    Only the package location is set up; its Python dependencies (PyTorch, MONAI...) are checked and installed by
    :mod:`RFRInpaintLib.dependencies`.

    Returns:
        the folder added to ``sys.path``, or None when the package was already importable.

    Raises:
        ModuleNotFoundError: the package is neither installed nor present in the source tree.
    """
    if importlib.util.find_spec("rfr_inpaint") is not None:
        return None
    if (BUNDLE_SOURCE_DIR / "rfr_inpaint" / "__init__.py").is_file():
        sys.path.insert(0, str(BUNDLE_SOURCE_DIR))
        importlib.invalidate_caches()
        return BUNDLE_SOURCE_DIR
    raise ModuleNotFoundError(
        "the rfr_inpaint package was not found: install the RFRInpaint extension from a build (it bundles the package) "
        f"or run the module from a source checkout that holds {BUNDLE_SOURCE_DIR}"
    )
