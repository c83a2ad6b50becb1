"""The user-facing defaults shared by the ``rfr-inpaint`` command, the MONAI bundle and the 3D Slicer module.

Each value is decided here once and imported everywhere else (the command's help text, the bundle configs through
``$rfr_inpaint.defaults.<NAME>`` expressions, the Slicer panel, the docs' examples). The module imports nothing, so a
program can read the defaults without loading PyTorch or MONAI (the command's argument parser does).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_METHOD",
    "SHIPPED_MODEL",
    "INTENSITY_MODES",
    "DEFAULT_INTENSITY_MODE",
    "DEFAULT_CT_WINDOW",
    "DEFAULT_PERCENTILES",
    "HU_AIR_THRESHOLD",
    "MASK_MARGIN_MM",
    "THRESHOLD_MARGIN_MM",
    "SOFT_TISSUE_WINDOW_HU",
]

#: the inpainting method of the ``rfr-inpaint`` command and of the 3D Slicer module when none is chosen, from the
#: benchmark on held-out real CT volumes (``docs/accuracy.md``): biharmonic3d_mm (34.04 dB hole PSNR over the 120 CT
#: cases, 32.63 for biharmonic3d). biharmonic3d_auto is 0.24 dB better overall, all of it on square / strip holes: on
#: the metal-like holes, this module's job, the two tie (+0.00 dB [-0.50, 0.50]) and biharmonic3d_auto takes 7 times as
#: long. The shipped RFR-Net (34.26 dB) is its prior biharmonic3d_auto to 0.02 dB, so the same holds for it.
DEFAULT_METHOD = "biharmonic3d_mm"
#: the RFR-Net model the project ships, relative to the MONAI bundle folder (found by
#: :func:`rfr_inpaint.locations.shipped_model_path`); method ``rfr`` uses it when no model is given.
SHIPPED_MODEL = "models/model.pt"

#: names of the intensity mappings to [0, 1] (:func:`rfr_inpaint.transforms.intensity.get_intensity_transform`):
#: ``auto`` (decided from the image, or the mapping a model's bundle records), ``ct`` (a Hounsfield window),
#: ``percentile`` (the image's own percentiles) and ``range`` (the pixel type's range).
INTENSITY_MODES: tuple[str, ...] = ("auto", "ct", "percentile", "range")
#: the mapping used when none is asked for.
DEFAULT_INTENSITY_MODE = "auto"
#: CT window in Hounsfield units: the full 12-bit range of most scanners (air -1024 .. dense bone / metal 3071).
DEFAULT_CT_WINDOW: tuple[float, float] = (-1024.0, 3071.0)
#: lower and upper percentiles of the ``percentile`` mapping (radiographs, MR).
DEFAULT_PERCENTILES: tuple[float, float] = (0.5, 99.5)
#: ``auto`` takes an image whose known voxels go below this value as CT in Hounsfield units (it holds air).
HU_AIR_THRESHOLD = -500.0

#: margin (mm) added around a mask the user gives (a file, a segment): none, the mask is inpainted as drawn.
MASK_MARGIN_MM = 0.0
#: margin (mm) added around a metal threshold's mask: streaks and partial-volume voxels surround the metal.
THRESHOLD_MARGIN_MM = 1.0

#: display window (HU) of CT in pictures (``rfr-inpaint --preview``, the README figure): soft tissue, W 400 / L 40,
#: where a fill's errors show; lungs and metal saturate.
SOFT_TISSUE_WINDOW_HU: tuple[float, float] = (-160.0, 240.0)
