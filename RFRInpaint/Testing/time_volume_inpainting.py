"""Time volume inpainting (the code path of the CLI and the Slicer module) on a synthetic CT with metal.

Usage::

    python RFRInpaint/Testing/time_volume_inpainting.py --shape 32 512 512 --method rfr --device cuda
    python RFRInpaint/Testing/time_volume_inpainting.py --shape 32 512 512 --method biharmonic

For ``rfr`` without ``--model`` a randomly initialised RFR-Net is timed (speed does not depend on the weights).
Prints one JSON object: shape, method, device, processed slices, hole voxels, seconds (best of ``--repeats``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(32, 512, 512), metavar=("D", "H", "W"))
    parser.add_argument("--method", default="rfr")
    parser.add_argument("--model", help="RFR-Net checkpoint (default: random weights)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--margin-mm", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np

    from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_volume
    from rfr_inpaint.inpainters import get_inpainter
    from rfr_inpaint.volume import inpaint_volume, slices_with_hole

    truth, spacing = synthetic_ct_volume(tuple(args.shape), seed=0)
    middle = args.shape[0] // 2
    with_metal, metal = insert_metal(truth, seed=1, n_objects=4, slices=range(middle - 4, middle + 4), spacing=spacing)
    volume = np.rint(with_metal).astype(np.int16)
    options = {"batch_size": args.batch_size} if args.method == "rfr" else {}
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if args.method == "rfr" and model is None:
            import torch

            from rfr_inpaint.networks import RFRNet

            torch.manual_seed(0)
            model = str(Path(tmp) / "random.pt")
            torch.save(RFRNet(in_channels=1).state_dict(), model)
        inpainter = get_inpainter(args.method, model_path=model, device=args.device, **options)
        times = []
        for _ in range(max(1, args.repeats)):
            start = time.perf_counter()
            result, used = inpaint_volume(volume, metal, inpainter, spacing=spacing, margin_mm=args.margin_mm,
                                          batch_size=args.batch_size)  # fmt: skip
            times.append(time.perf_counter() - start)
    device = str(getattr(inpainter, "device", "cpu"))
    report = {
        "shape": list(args.shape),
        "spacing_mm": [round(s, 3) for s in spacing],
        "method": args.method,
        "device": device,
        "slices": int(len(slices_with_hole(used, 0))),
        "hole_voxels": int(used.sum()),
        "seconds": round(min(times), 3),
        "mae_hu_in_hole": round(float(np.abs(result[used].astype(float) - truth[used]).mean()), 1),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
