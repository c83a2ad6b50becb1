"""biharmonic3d vs slice-wise biharmonic on the volume of ``bench_volume.py``: seconds and hole quality.

Synthetic CT 512 x 512 x 64 (:func:`rfr_inpaint.data.synthetic.synthetic_ct_volume`, 5 mm slices), small metal
objects in 16 slices, end to end through :func:`rfr_inpaint.volume.inpaint_volume` (1 mm dilation, CT window,
compositing in HU). Reports wall and CPU seconds per method (the best of ``--repeats`` runs) and masked PSNR / SSIM
against the metal-free volume over the dilated hole. ``--sweep`` adds 256 x 256 x 40 volumes with 5, 2.5 and 1.25 mm
slices and two kinds of metal (a new object in every slice, or objects spanning slices) for the quality against the
slice thickness. Prints one JSON object.

    nice -n 19 python bench/bench_biharmonic3d.py
    nice -n 19 python bench/bench_biharmonic3d.py --repeats 1 --sweep
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import emit, machine_info
from bench_volume import _quality, metal_volume
from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume
from rfr_inpaint.inpainters import get_inpainter
from rfr_inpaint.volume import inpaint_volume

METHODS = ("biharmonic", "biharmonic3d")


def _run(clean, with_metal, metal, spacing, repeats: int) -> dict:
    """Each method through inpaint_volume: best wall / CPU seconds, and the quality in the dilated hole."""
    out: dict = {}
    for name in METHODS:
        inpainter = get_inpainter(name)
        runs = []
        for _ in range(max(repeats, 1)):
            t0, c0 = time.perf_counter(), time.process_time()
            result, used = inpaint_volume(with_metal, metal, inpainter, spacing=spacing, margin_mm=1.0)
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        slices = np.flatnonzero(used.any(axis=(1, 2)))
        out[name] = {
            "seconds": round(min(r[0] for r in runs), 2),
            "cpu_seconds": round(min(r[1] for r in runs), 2),
            **_quality(result, clean, used, slices),
        }
    out["affected_slices"], out["hole_voxels"] = len(slices), int(used.sum())
    return out


def _sweep(repeats: int) -> list[dict]:
    rows = []
    for slice_mm in (5.0, 2.5, 1.25):
        clean, spacing = synthetic_ct_volume((40, 256, 256), seed=0, spacing=(slice_mm, 1.5625, 1.5625))
        per_slice, per_slice_mask = clean.copy(), np.zeros(clean.shape, dtype=bool)
        for k in range(12, 28):  # as bench_volume: a new object in each slice, one slice thick
            per_slice[k], per_slice_mask[k] = insert_metal(clean[k], seed=k, n_objects=1 + k % 2, spacing=spacing[1:])
        spanning, spanning_mask = insert_metal(clean, seed=1, n_objects=4, slices=range(12, 28), spacing=spacing)
        for metal_kind, with_metal, metal in (("new_object_per_slice", per_slice, per_slice_mask),
                                              ("objects_spanning_slices", spanning, spanning_mask)):  # fmt: skip
            rows.append({"slice_mm": slice_mm, "metal": metal_kind, **_run(clean, with_metal, metal, spacing, repeats)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per method; the fastest is reported")
    parser.add_argument("--sweep", action="store_true", help="also the slice-thickness sweep at 256 x 256 x 40")
    args = parser.parse_args()
    clean, with_metal, metal, spacing = metal_volume()
    result: dict = {"benchmark": "biharmonic3d_vs_biharmonic", **machine_info("cpu"), "volume_shape": list(clean.shape)}
    result["volume"] = _run(clean, with_metal, metal, spacing, args.repeats)
    if args.sweep:
        result["sweep"] = _sweep(args.repeats)
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    emit(result)


if __name__ == "__main__":
    main()
