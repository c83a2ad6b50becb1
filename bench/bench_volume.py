"""Volume workflow: synthetic CT 512 x 512 x 64 with small metal objects in 16 slices, RFR in ROI vs full-slice mode.

End to end through :func:`rfr_inpaint.volume.inpaint_volume` (1 mm mask dilation, CT window, compositing in HU; for a
guided network the classical prior and the neighbouring slices included). Reports seconds per affected slice for each
mode / context, the speed-up over full-slice inference and the quality in the (dilated) hole against the metal-free
volume: masked PSNR / SSIM (:mod:`rfr_inpaint.metrics`) of each mode, and of ROI against full-slice. For a guided
network (``prior``) the same figures of its prior alone (:func:`rfr_inpaint.guides.prior_inpainter` of its
``prior_spacing_exponent``) and the network's gain over it. Prints one JSON object.

``--full-slices K`` below the number of affected slices fills only the first K slices' holes in full mode; a
self-tuned prior (``prior_spacing_exponent="auto"``) chooses its exponent from the holes it is given, so ROI against
full then compares two priors as well as two modes. Keep the default for such a network.

    python bench/bench_volume.py --model model.pt                  # ROI at the default context, and full-slice
    python bench/bench_volume.py --contexts 16,32,48,64 --full-slices 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import emit, machine_info
from rfr_inpaint.guides import prior_inpainter
from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume
from rfr_inpaint.inference import DEFAULT_CONTEXT, RFRInpainter
from rfr_inpaint.metrics import masked_psnr, masked_ssim
from rfr_inpaint.networks import RFRNet, load_network
from rfr_inpaint.transforms.intensity import CTWindow
from rfr_inpaint.volume import inpaint_volume


def metal_volume(
    shape: tuple[int, int, int] = (64, 512, 512), first: int = 24, count: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    """The clean volume (HU), the volume with metal, the metal mask and the spacing: one or two small objects in
    each of ``count`` consecutive slices starting at ``first``."""
    clean, spacing = synthetic_ct_volume(shape, seed=seed)
    with_metal = clean.copy()
    metal = np.zeros(shape, dtype=bool)
    for k in range(first, first + count):
        with_metal[k], metal[k] = insert_metal(clean[k], seed=seed + k, n_objects=1 + k % 2, spacing=spacing[1:])
    return clean, with_metal, metal, spacing


def _quality(result: np.ndarray, truth: np.ndarray, hole: np.ndarray, slices: np.ndarray) -> dict[str, float]:
    window = CTWindow()
    p = torch.from_numpy(np.asarray(window(result[slices]), dtype=np.float32))
    t = torch.from_numpy(np.asarray(window(truth[slices]), dtype=np.float32))
    h = torch.from_numpy(hole[slices])
    return {
        "masked_psnr_db": round(float(masked_psnr(p, t, h).nanmean()), 3),
        "masked_ssim": round(float(masked_ssim(p, t, h).nanmean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="RFR-Net checkpoint (default: random weights, seed 0)")
    parser.add_argument("--contexts", default=str(DEFAULT_CONTEXT), help="comma-separated ROI contexts in pixels")
    parser.add_argument("--full-slices", type=int, default=16, help="affected slices run in full mode (0: skip)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-fuse", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    network = load_network(args.model) if args.model else RFRNet(in_channels=1).eval()
    t0 = time.perf_counter()
    clean, with_metal, metal, spacing = metal_volume()
    data_seconds = time.perf_counter() - t0
    affected = np.flatnonzero(metal.any(axis=(1, 2)))
    result: dict = {
        "benchmark": "volume_roi_vs_full",
        **machine_info("cpu"),
        "model": args.model or "random weights (seed 0)",
        "volume_shape": list(clean.shape),
        "affected_slices": len(affected),
        "metal_voxels": int(metal.sum()),
        "data_seconds": round(data_seconds, 2),
        "fuse": not args.no_fuse,
        "batch_size": args.batch_size,
        "roi": {},
    }
    # One small untimed call pays the one-time initialisation (oneDNN, thread pool) that any session pays once.
    warm = np.zeros((1, 64, 64), bool)
    warm[0, 20:30, 20:30] = True
    RFRInpainter(network, device="cpu", fuse=False)(np.full((1, 64, 64), 0.5, np.float32), warm)
    # The pipeline without the network (dilation, windowing, compositing): an inpainter that returns its input.
    t0 = time.perf_counter()
    inpaint_volume(with_metal, metal, lambda images, holes: images, spacing=spacing, margin_mm=1.0)
    result["pipeline_without_network_seconds"] = round(time.perf_counter() - t0, 2)
    prior = None
    if getattr(network, "prior", False):  # a guided network starts from its 3-D biharmonic fill: time and score it
        prior_method = prior_inpainter(getattr(network, "prior_spacing_exponent", 0.0))
        t0, c0 = time.perf_counter(), time.process_time()
        prior_out, used = inpaint_volume(with_metal, metal, prior_method, spacing=spacing, margin_mm=1.0)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        prior = _quality(prior_out, clean, used, affected)
        result["prior_" + prior_method.name] = {
            "seconds_per_affected_slice": round(seconds / len(affected), 3),
            "cpu_seconds_per_affected_slice": round(cpu_seconds / len(affected), 3),
            **prior,
        }
    outputs = {}
    for context in [int(c) for c in args.contexts.split(",") if c.strip()]:
        inpainter = RFRInpainter(network, device="cpu", batch_size=args.batch_size, mode="roi", context=context,
                                 fuse=not args.no_fuse)
        t0, c0 = time.perf_counter(), time.process_time()
        out, used = inpaint_volume(with_metal, metal, inpainter, spacing=spacing, margin_mm=1.0)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        rois = inpainter.plan(used[affected])
        outputs[context] = out
        result["roi"][str(context)] = {
            "seconds": round(seconds, 2),
            "seconds_per_affected_slice": round(seconds / len(affected), 3),
            "cpu_seconds_per_affected_slice": round(cpu_seconds / len(affected), 3),
            "crops": len(rois),
            "crop_shapes": sorted({f"{r.height}x{r.width}" for r in rois}),
            "pixels_run_fraction": round(sum(r.height * r.width for r in rois) / used[affected].size, 4),
            **_quality(out, clean, used, affected),
        }
        if prior is not None:
            gain = result["roi"][str(context)]["masked_psnr_db"] - prior["masked_psnr_db"]
            result["roi"][str(context)]["gain_over_prior_db"] = round(gain, 3)
    if args.full_slices > 0:
        sub = affected[: args.full_slices]
        part_metal = np.zeros_like(metal)
        part_metal[sub] = metal[sub]
        inpainter = RFRInpainter(network, device="cpu", batch_size=args.batch_size, mode="full", fuse=not args.no_fuse)
        t0, c0 = time.perf_counter(), time.process_time()
        full, used = inpaint_volume(with_metal, part_metal, inpainter, spacing=spacing, margin_mm=1.0)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        per_slice = seconds / len(sub)
        result["full"] = {
            "slices_run": len(sub),
            "seconds": round(seconds, 2),
            "seconds_per_affected_slice": round(per_slice, 3),
            "cpu_seconds_per_affected_slice": round(cpu_seconds / len(sub), 3),
            **_quality(full, clean, used, sub),
        }
        for context, out in outputs.items():
            entry = result["roi"][str(context)]
            entry["speedup_vs_full"] = round(per_slice / entry["seconds_per_affected_slice"], 2)
            entry["on_full_slices"] = _quality(out, clean, used, sub)
            entry["agreement_with_full"] = _quality(out, full, used, sub)
    emit(result)


if __name__ == "__main__":
    main()
