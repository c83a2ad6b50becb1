"""Write the bundle's ``sample_data/``: one synthetic CT slice (int16 HU, NRRD) with a metal-like hole mask beside it,
so that ``python -m monai.bundle run inference ...`` has an input right after training.

Run from the bundle folder: ``python scripts/make_sample_data.py [--output_dir sample_data] [--size 96] [--seed 3]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from rfr_inpaint.data import insert_metal, synthetic_ct_slice


def make_sample_data(output_dir: str | Path = "sample_data", size: int = 96, seed: int = 3) -> list[Path]:
    """Write ``ct_slice.nrrd`` (int16 HU, pixel spacing 400 mm / ``size``: the generator's field of view) with
    inserted metal, and ``ct_slice_mask.nrrd`` (uint8, 1 = hole: the metal, which the inpainting replaces).

    Args:
        output_dir: destination folder (created when missing).
        size: image side in pixels.
        seed: generator seed.

    Returns:
        the two paths.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    spacing = 400.0 / size  # the synthetic field of view is 400 mm
    hu = synthetic_ct_slice(size, seed=seed)
    with_metal, metal = insert_metal(hu, seed=seed, n_objects=3, size_mm=(6.0, 14.0), spacing=(spacing, spacing))
    image = sitk.GetImageFromArray(np.round(with_metal).astype(np.int16))
    image.SetSpacing((spacing, spacing))
    mask = sitk.GetImageFromArray(np.asarray(metal, dtype=np.uint8))
    mask.CopyInformation(image)
    paths = [out / "ct_slice.nrrd", out / "ct_slice_mask.nrrd"]
    sitk.WriteImage(image, str(paths[0]), useCompression=True)
    sitk.WriteImage(mask, str(paths[1]), useCompression=True)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", default="sample_data")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    for path in make_sample_data(args.output_dir, args.size, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
