"""One factory for every inpainting method, used by the ``rfr-inpaint`` command, the bundle and the Slicer module.

Every inpainter follows the interface of ``docs/architecture.md``::

    inpainter(images: (N, H, W) float32 in [0, 1], holes: (N, H, W) bool) -> (N, H, W) float32, composited

Methods: ``rfr`` (RFR-Net: a model file or a bundle folder, by default the shipped model of
:func:`rfr_inpaint.locations.shipped_model_path`), ``biharmonic``, ``biharmonic3d`` (sees the
volume), ``telea``, ``ns`` (Navier-Stokes) and ``mean`` (classical baselines of :mod:`rfr_inpaint.baselines`, no model
needed). An inpainter with ``volumetric = True`` is called on consecutive slices (see
:func:`rfr_inpaint.volume.inpaint_volume`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "METHODS",
    "CLASSICAL_METHODS",
    "get_inpainter",
    "resolve_model_path",
]

#: classical methods (the keys of :data:`rfr_inpaint.baselines.BASELINES`, listed here so that the command-line parser
#: does not import OpenCV / scikit-image)
CLASSICAL_METHODS: tuple[str, ...] = (
    "biharmonic", "biharmonic3d", "biharmonic3d_mm", "biharmonic3d_auto", "telea", "ns", "mean"
)
#: every method name accepted by :func:`get_inpainter`
METHODS: tuple[str, ...] = ("rfr", *CLASSICAL_METHODS)


def resolve_model_path(model_path: str | os.PathLike | None = None) -> Path:
    """The checkpoint file of ``model_path``: the file itself, or ``models/model.pt`` of a MONAI bundle folder; None
    gives the project's shipped model (:func:`rfr_inpaint.locations.shipped_model_path`).

    Args:
        model_path: a checkpoint file, a bundle folder, or None.

    Returns:
        path of an existing checkpoint file.

    Raises:
        FileNotFoundError: no checkpoint there (for None: the folders looked at, named).
    """
    if model_path is None:
        from rfr_inpaint.locations import shipped_model_path

        return shipped_model_path()
    from rfr_inpaint.defaults import SHIPPED_MODEL

    path = Path(model_path)
    if path.is_dir():
        for candidate in (path / SHIPPED_MODEL, path / Path(SHIPPED_MODEL).name):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{path}: bundle folder without {SHIPPED_MODEL}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    return path


def get_inpainter(
    method: str,
    model_path: str | os.PathLike | None = None,
    device: str = "auto",
    **options: Any,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Build an inpainter by name.

    Args:
        method: one of :data:`METHODS` (case-insensitive): ``rfr``, ``biharmonic``, ``biharmonic3d`` (volumetric),
            ``telea``, ``ns`` or ``mean``.
        model_path: RFR-Net checkpoint (``rfr_inpaint.networks.load_network`` format) or bundle folder for ``rfr``
            (None: the shipped model, :func:`resolve_model_path`); refused for the classical methods.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``...; used by ``rfr`` only.
        options: keyword arguments of the method's class (e.g. ``batch_size`` for
            :class:`rfr_inpaint.inference.RFRInpainter`, ``radius`` for Telea / Navier-Stokes).

    Returns:
        the inpainter callable.

    Raises:
        ValueError: unknown method, or a model given to a classical method.
        FileNotFoundError: the model file does not exist (or, with no model, no shipped model was found).
    """
    name = str(method).lower()
    if name not in METHODS:
        raise ValueError(f"unknown inpainting method {method!r}; choose one of {', '.join(METHODS)}")
    if name == "rfr":
        from rfr_inpaint.inference import RFRInpainter
        from rfr_inpaint.networks import load_network

        network = load_network(resolve_model_path(model_path), map_location="cpu")
        return RFRInpainter(network, device=device, **options)
    if model_path is not None:
        raise ValueError(f"method {name!r} needs no model; drop the model file or choose method 'rfr'")
    from rfr_inpaint.baselines import make_baseline

    return make_baseline(name, **options)
