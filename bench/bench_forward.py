"""Exact-path speed: full-image RFR-Net forward per image at 256 x 256, batch 1 and 8, float32 on the CPU.

Variants (``--variants``): ``plain`` (``torch.no_grad``, the network as trained), ``inference_mode``, ``fused``
(BatchNorms folded, :func:`rfr_inpaint.inference.fuse_for_inference`), ``channels_last`` and ``fused_cl`` (both).
Every variant's output is compared with the plain one (max abs difference). Repeats are interleaved across variants
and batch sizes so that a change of machine load hits all of them alike; the minimum wall time and the minimum
process CPU time (all threads) per image are reported. Prints one JSON object.

    python bench/bench_forward.py
    python bench/bench_forward.py --batches 1 --repeats 5 --variants plain,fused
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
from _common import box_holes, emit, machine_info, smooth_images
from rfr_inpaint.inference import fuse_for_inference
from rfr_inpaint.networks import RFRNet

VARIANTS = ("plain", "inference_mode", "fused", "channels_last", "fused_cl")


def build(variant: str, net: RFRNet) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The forward callable of a variant."""
    if variant == "plain":

        def plain(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return net(x, h)

        return plain
    model = fuse_for_inference(net) if variant in ("fused", "fused_cl") else net
    fmt = torch.channels_last if variant in ("channels_last", "fused_cl") else torch.contiguous_format
    if fmt is torch.channels_last:
        model = copy.deepcopy(model).to(memory_format=fmt)

    def run(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(x.contiguous(memory_format=fmt), h.contiguous(memory_format=fmt)).contiguous()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = RFRNet(in_channels=1).eval()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    runs = {v: build(v, net) for v in variants}
    result: dict = {"benchmark": "exact_path_forward", **machine_info("cpu"), "size": args.size, "batches": {}}
    batches = [int(b) for b in args.batches.split(",")]
    inputs = {b: (smooth_images(b, args.size), box_holes(b, args.size)) for b in batches}
    wall: dict[tuple[int, str], list[float]] = {(b, v): [] for b in batches for v in variants}
    cpu: dict[tuple[int, str], list[float]] = {(b, v): [] for b in batches for v in variants}
    diffs: dict[tuple[int, str], float] = {}
    for b in batches:  # warm-up, and the comparison with the plain path
        reference = runs["plain"](*inputs[b]) if "plain" in runs else None
        for v in variants:
            out = runs[v](*inputs[b])
            if reference is not None:
                diffs[b, v] = float((out - reference).abs().max())
    for _ in range(args.repeats):
        for b in batches:
            for v in variants:
                t0, c0 = time.perf_counter(), time.process_time()
                runs[v](*inputs[b])
                wall[b, v].append((time.perf_counter() - t0) / b)
                cpu[b, v].append((time.process_time() - c0) / b)
    for b in batches:
        result["batches"][str(b)] = {
            v: {
                "seconds_per_image": round(min(wall[b, v]), 4),
                "seconds_per_image_median": round(float(sorted(wall[b, v])[len(wall[b, v]) // 2]), 4),
                "cpu_seconds_per_image": round(min(cpu[b, v]), 4),
                **({"max_abs_diff_vs_plain": diffs[b, v]} if (b, v) in diffs else {}),
            }
            for v in variants
        }
    emit(result)


if __name__ == "__main__":
    main()
