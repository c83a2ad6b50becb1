"""Peak memory of one full-slice RFR-Net forward (float32, CPU) at 256, 512 and 1024 pixels square.

Each size runs in a fresh subprocess (``resource.getrusage`` peak RSS is per process): the network is built and
warmed up on a 32 x 32 image, then one slice of the size goes through :class:`rfr_inpaint.inference.RFRInpainter`
in full mode. Reported: the process's peak RSS, the peak above the warmed-up baseline (what the forward itself
needs), the model's estimate (:func:`rfr_inpaint.inference.estimate_forward_bytes`) and the time. Prints one JSON
object.

    python bench/bench_memory.py                 # 256, 512, 1024
    python bench/bench_memory.py --sizes 256,512
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _common import emit, machine_info


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(size: int, fuse: bool) -> None:
    """Run one forward at ``size`` and print its figures (in the subprocess)."""
    import numpy as np
    import torch
    from rfr_inpaint.inference import RFRInpainter, estimate_forward_bytes
    from rfr_inpaint.networks import RFRNet

    torch.manual_seed(0)
    inpainter = RFRInpainter(RFRNet(in_channels=1), device="cpu", mode="full", batch_size=1, fuse=fuse)
    small = np.zeros((1, 32, 32), bool)
    small[0, 8:16, 8:16] = True
    inpainter(np.full((1, 32, 32), 0.5, np.float32), small)
    baseline = _rss_bytes()
    image = np.random.default_rng(0).random((1, size, size), dtype=np.float32)
    hole = np.zeros((1, size, size), bool)
    hole[0, size // 4 : size // 2, size // 4 : size // 2] = True
    t0 = time.perf_counter()
    out = inpainter(image, hole)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "size": size,
                "peak_rss_gib": round(peak / 2**30, 3),
                "peak_above_baseline_gib": round((peak - baseline) / 2**30, 3),
                "baseline_rss_gib": round(baseline / 2**30, 3),
                "estimate_gib": round(estimate_forward_bytes(size, size) / 2**30, 3),
                "seconds": round(seconds, 2),
                "finite": bool(np.isfinite(out).all()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--no-fuse", action="store_true")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, not args.no_fuse)
        return
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        cmd = [sys.executable, __file__, "--child", str(size)] + (["--no-fuse"] if args.no_fuse else [])
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    emit({"benchmark": "peak_memory_full_slice", **machine_info("cpu"), "fuse": not args.no_fuse, "channels_last": True,
          "sizes": results})


if __name__ == "__main__":
    main()
