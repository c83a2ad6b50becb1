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
biharmonic_fill_3d`), in 2-D on independent images.
"""

from __future__ import annotations

import numpy as np

from rfr_inpaint.baselines import Biharmonic3DInpainter, BiharmonicInpainter, SpacedBiharmonic3DInpainter

__all__ = ["neighbour_offsets", "prior_fill", "prior_fill_2d", "slice_guide", "PRIOR_CONTEXT_SLICES"]

#: slices beyond a hole that the 3-D prior reads (the biharmonic stencil radius).
PRIOR_CONTEXT_SLICES = Biharmonic3DInpainter.context_slices


def neighbour_offsets(context_slices: int) -> list[int]:
    """Slice offsets of the neighbour channels, nearest first: ``[-1, 1, -2, 2, ...]``."""
    return [sign * d for d in range(1, int(context_slices) + 1) for sign in (-1, 1)]


def prior_fill(
    stack: np.ndarray,
    holes: np.ndarray,
    consecutive: bool = True,
    spacing: tuple[float, float, float] | None = None,
    spacing_exponent: float = 0.0,
) -> np.ndarray:
    """The stack with every hole filled by the classical prior (known pixels unchanged).

    Args:
        stack: ``(S, H, W)`` float32 in [0, 1].
        holes: ``(S, H, W)`` bool, True = hole.
        consecutive: the slices are consecutive slices of one volume (3-D biharmonic); else independent images (2-D
            biharmonic per slice).
        spacing: voxel size of the stack's axes (slice axis first); used with ``spacing_exponent``.
        spacing_exponent: 0: ``biharmonic3d``; ``e > 0``: ``biharmonic3d_mm`` with that exponent (the network's
            ``prior_spacing_exponent``); without ``spacing`` both are ``biharmonic3d``.

    Returns:
        float32 ``(S, H, W)``.
    """
    if consecutive and spacing_exponent and spacing is not None:
        return SpacedBiharmonic3DInpainter(spacing_exponent=spacing_exponent)(stack, holes, spacing=tuple(spacing))
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
