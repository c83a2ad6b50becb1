"""Exact-path speed: full-image RFR-Net forward per image at 256 x 256, batch 1 and 8, float32 on the CPU.

Variants (``--variants``): ``plain`` (``torch.no_grad``, the network as trained), ``inference_mode``, ``fused``
(BatchNorms folded, :func:`rfr_inpaint.inference.fuse_for_inference`), ``channels_last`` and ``fused_cl`` (both).
Every variant's output is compared with the plain one (max abs difference). Repeats are interleaved across variants
so that a change of machine load hits all of them alike; the minimum is reported. Prints one JSON object.

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
    for batch in [int(b) for b in args.batches.split(",")]:
        x = smooth_images(batch, args.size)
        h = box_holes(batch, args.size)
        reference = runs["plain"](x, h) if "plain" in runs else None
        times: dict[str, list[float]] = {v: [] for v in variants}
        diffs: dict[str, float] = {}
        for v in variants:  # warm-up, and the comparison with the plain path
            out = runs[v](x, h)
            if reference is not None:
                diffs[v] = float((out - reference).abs().max())
        for _ in range(args.repeats):
            for v in variants:
                t0 = time.perf_counter()
                runs[v](x, h)
                times[v].append(time.perf_counter() - t0)
        result["batches"][str(batch)] = {
            v: {
                "seconds_per_image": round(min(times[v]) / batch, 4),
                "seconds_per_image_mean": round(sum(times[v]) / len(times[v]) / batch, 4),
                **({"max_abs_diff_vs_plain": diffs[v]} if v in diffs else {}),
            }
            for v in variants
        }
    emit(result)


if __name__ == "__main__":
    main()
