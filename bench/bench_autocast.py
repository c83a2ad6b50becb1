"""RFR-Net inference under ``torch.autocast`` float16 / bfloat16 against float32: finiteness, difference, speed.

The difference is measured on the hole pixels of the composited, [0, 1]-clipped results (what a user receives).
Prints one JSON object.

    python bench/bench_autocast.py --device cuda --size 256 --batch 8
    python bench/bench_autocast.py --device cpu --size 64 --batch 2 --dtypes bf16
"""

from __future__ import annotations

import argparse

import torch
from _common import box_holes, emit, machine_info, smooth_images, time_call
from rfr_inpaint.networks import RFRNet, composite, load_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtypes", default="fp16,bf16", help="comma-separated: fp16, bf16")
    parser.add_argument("--model", default=None, help="checkpoint (default: random weights, seed 0)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = load_network(args.model) if args.model else RFRNet(in_channels=1)
    net = net.to(device).eval()
    image = smooth_images(args.batch, args.size).to(device)
    hole = box_holes(args.batch, args.size).to(device)

    def run(dtype: torch.dtype | None) -> torch.Tensor:
        autocast = torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
        with torch.inference_mode(), autocast:
            pred = net(image, hole).float()
        return composite(image, pred.clamp(0.0, 1.0), hole)

    reference = run(None)
    result = {
        "benchmark": "autocast_inference",
        **machine_info(device),
        "model": args.model or "random weights (seed 0)",
        "size": args.size,
        "batch": args.batch,
        "float32_seconds_per_image": round(min(time_call(lambda: run(None), args.repeats, 1, device)) / args.batch, 5),
    }
    names = {"fp16": torch.float16, "bf16": torch.bfloat16}
    in_hole = hole.expand_as(reference) > 0.5
    for name in [s.strip() for s in args.dtypes.split(",") if s.strip()]:
        out = run(names[name])
        diff = (out - reference).abs()[in_hole]
        result[name] = {
            "finite": bool(torch.isfinite(out).all()),
            "max_abs_diff_in_hole": round(float(diff.max()), 6),
            "mean_abs_diff_in_hole": round(float(diff.mean()), 6),
            "known_pixels_identical": bool(torch.equal(out[~in_hole], reference[~in_hole])),
            "seconds_per_image": round(
                min(time_call(lambda d=names[name]: run(d), args.repeats, 1, device)) / args.batch, 5
            ),
        }
    emit(result)


if __name__ == "__main__":
    main()
