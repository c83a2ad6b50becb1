"""Guide channels of the RFR-Net variants (:class:`rfr_inpaint.networks.RFRNet` with ``prior`` / ``context_slices``).

One code path for training and inference: :func:`prior_fill` fills the holes of a stack with the classical prior and
:func:`slice_guide` stacks, for one slice, the channels the network expects (layout in
:func:`rfr_inpaint.networks.rfrnet.guide_channels`):

* the prior fills of the slice (when the network has a prior): 3-D biharmonic (from the stack), then 2-D
  biharmonic (the slice alone);
* the slice's own hole;
* for each neighbour at offsets ``-1, +1, -2, +2, ... -k, +k``: its image with its hole filled by the prior, and
  its hole. Offsets beyond the stack are clamped to its first / last slice (at a volume's edge the nearest slice
  stands in, and a lone 2-D image is its own neighbour).

The prior is biharmonic inpainting: in 3-D on a stack of consecutive slices (:func:`rfr_inpaint.baselines.
biharmonic_fill_3d`), in 2-D on independent images. The network's ``prior_spacing_exponent`` says which 3-D fill
(:func:`prior_inpainter`): ``biharmonic3d``, ``biharmonic3d_mm`` with an exponent, or ``biharmonic3d_auto``.
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np

from rfr_inpaint.baselines import (
    Biharmonic3DInpainter,
    BiharmonicInpainter,
    SelfTunedBiharmonic3DInpainter,
    SpacedBiharmonic3DInpainter,
)

__all__ = [
    "neighbour_offsets", "prior_fill", "prior_fill_2d", "prior_inpainter", "prior_spacing_option", "slice_guide",
    "AUTO_SPACING_EXPONENT", "PRIOR_CONTEXT_SLICES", "SpacingExponent",
]

#: the ``prior_spacing_exponent`` of a prior that chooses its exponent for each stack (``biharmonic3d_auto``)
AUTO_SPACING_EXPONENT = "auto"
#: a ``prior_spacing_exponent``: a number >= 0 or :data:`AUTO_SPACING_EXPONENT`
SpacingExponent = Union[float, str]

#: slices beyond a hole that the 3-D prior reads (the biharmonic stencil radius).
PRIOR_CONTEXT_SLICES = Biharmonic3DInpainter.context_slices


def neighbour_offsets(context_slices: int) -> list[int]:
    """Slice offsets of the neighbour channels, nearest first: ``[-1, 1, -2, 2, ...]``."""
    return [sign * d for d in range(1, int(context_slices) + 1) for sign in (-1, 1)]


def prior_spacing_option(value: SpacingExponent) -> SpacingExponent:
    """A validated ``prior_spacing_exponent``.

    Args:
        value: a number >= 0, or :data:`AUTO_SPACING_EXPONENT`.

    Returns:
        the float, or :data:`AUTO_SPACING_EXPONENT`.

    Raises:
        ValueError: anything else (negative, not finite, another string).
    """
    if isinstance(value, str) and value.strip().lower() == AUTO_SPACING_EXPONENT:
        return AUTO_SPACING_EXPONENT
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0  # not a number: refused below
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"prior_spacing_exponent must be a number >= 0 or {AUTO_SPACING_EXPONENT!r}, got {value!r}")
    return number


def prior_inpainter(
    spacing_exponent: SpacingExponent = 0.0,
) -> Biharmonic3DInpainter | SpacedBiharmonic3DInpainter | SelfTunedBiharmonic3DInpainter:
    """The 3-D classical method a network's ``prior_spacing_exponent`` names.

    Args:
        spacing_exponent: 0: ``biharmonic3d``; ``e > 0``: ``biharmonic3d_mm`` with that exponent;
            :data:`AUTO_SPACING_EXPONENT`: ``biharmonic3d_auto`` (the exponent chosen per stack).

    Returns:
        the inpainter (spaced ones take ``spacing=`` when called).
    """
    option = prior_spacing_option(spacing_exponent)
    if option == AUTO_SPACING_EXPONENT:
        return SelfTunedBiharmonic3DInpainter()
    if option:
        return SpacedBiharmonic3DInpainter(spacing_exponent=option)
    return Biharmonic3DInpainter()


def prior_fill(
    stack: np.ndarray,
    holes: np.ndarray,
    consecutive: bool = True,
    spacing: tuple[float, float, float] | None = None,
    spacing_exponent: SpacingExponent = 0.0,
) -> np.ndarray:
    """The stack with every hole filled by the classical prior (known pixels unchanged).

    Args:
        stack: ``(S, H, W)`` float32 in [0, 1].
        holes: ``(S, H, W)`` bool, True = hole.
        consecutive: the slices are consecutive slices of one volume (3-D biharmonic); else independent images (2-D
            biharmonic per slice).
        spacing: voxel size of the stack's axes (slice axis first); used with ``spacing_exponent``.
        spacing_exponent: the network's ``prior_spacing_exponent`` (:func:`prior_inpainter`); without ``spacing``
            every choice is ``biharmonic3d``.

    Returns:
        float32 ``(S, H, W)``.
    """
    option = prior_spacing_option(spacing_exponent)
    if consecutive and spacing is not None and option:
        return prior_inpainter(option)(stack, holes, spacing=tuple(spacing))
    if consecutive:
        return Biharmonic3DInpainter()(stack, holes)
    return BiharmonicInpainter()(stack, holes)


def prior_fill_2d(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The slice-wise (2-D biharmonic) fill of one slice (its hole content is not read)."""
    return BiharmonicInpainter()(image, hole)


def slice_guide(
    filled: np.ndarray, holes: np.ndarray, index: int, prior: bool, context_slices: int
) -> np.ndarray:
    """The guide channels of slice ``index`` of a stack.

    Args:
        filled: ``(S, H, W)`` the stack with its holes filled by :func:`prior_fill` (its hole content is not read
            by the 2-D fill).
        holes: ``(S, H, W)`` bool holes of the stack.
        index: the slice to inpaint.
        prior: include the prior fill channel.
        context_slices: neighbours on each side.

    Returns:
        float32 ``(G, H, W)``.
    """
    last = filled.shape[0] - 1
    channels = [filled[index], prior_fill_2d(filled[index], holes[index])] if prior else []
    channels.append(holes[index].astype(np.float32))
    for offset in neighbour_offsets(context_slices):
        j = min(max(index + offset, 0), last)
        channels.append(filled[j])
        channels.append(holes[j].astype(np.float32))
    return np.stack(channels).astype(np.float32, copy=False)
