"""Write the README's picture: a synthetic CT slice with metal-like holes, inpainted by RFR-Net and by biharmonic inpainting.

Usage (from the repository root)::

    python monai_bundle/scripts/make_readme_figure.py --model monai_bundle/models/model.pt docs/images/readme_example.png

Hole-region PSNR / SSIM against the hole-free slice are printed in each panel's title and as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rfr_inpaint.baselines import BiharmonicInpainter  # noqa: E402
from rfr_inpaint.data.synthetic import synthetic_ct_slice  # noqa: E402
from rfr_inpaint.inference import RFRInpainter  # noqa: E402
from rfr_inpaint.metrics import masked_psnr, masked_ssim  # noqa: E402
from rfr_inpaint.transforms.intensity import CTWindow  # noqa: E402


def make_holes(image: np.ndarray, seed: int) -> np.ndarray:
    """Metal-like regions inside the body (the Slicer use case) plus one 16 px square hole."""
    from rfr_inpaint.transforms.masks import RandMetalLikeRegions

    generator = RandMetalLikeRegions(count=4)
    generator.set_random_state(seed)
    hole = np.asarray(generator(image[None]))[0] > 0.5
    size = image.shape[0]
    hole[int(0.30 * size) : int(0.30 * size) + size // 16, int(0.30 * size) : int(0.30 * size) + size // 16] = True
    return hole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path, help="PNG to write")
    parser.add_argument("--model", required=True, help="RFR-Net checkpoint (this project's or the authors')")
    parser.add_argument("--title", default="RFR-Net", help="label of the model in the figure")
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic slice")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = CTWindow()
    truth = window(synthetic_ct_slice(args.size, seed=args.seed).astype(np.float32)).astype(np.float32)
    hole = make_holes(truth, args.seed)
    masked = np.where(hole, 0.0, truth).astype(np.float32)
    results = {
        args.title: RFRInpainter(args.model, device="cpu", mode="full")(masked[None], hole[None])[0],
        "biharmonic": BiharmonicInpainter()(masked[None], hole[None])[0],
    }
    scores = {
        name: {
            "psnr": float(masked_psnr(out[None, None], truth[None, None], hole[None, None])[0]),
            "ssim": float(masked_ssim(out[None, None], truth[None, None], hole[None, None])[0]),
        }
        for name, out in results.items()
    }
    # soft-tissue display window (W 400 / L 40) in the [0, 1] scale of the -1024..3071 HU window
    lo, hi = window(np.array([-160.0, 240.0], dtype=np.float32))
    panels = [("input (holes in red)", masked)] + [
        (f"{n}: PSNR {scores[n]['psnr']:.1f} dB, SSIM {scores[n]['ssim']:.3f}", o) for n, o in results.items()
    ]
    panels.append(("truth", truth))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 4.4))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        if title.startswith("input"):
            ax.imshow(np.ma.masked_where(~hole, hole), cmap="autumn", alpha=0.6)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    diff = results[args.title] - truth
    im = axes[-1].imshow(diff * 4095.0, cmap="coolwarm", vmin=-300, vmax=300)
    axes[-1].set_title(f"{args.title} - truth (HU)", fontsize=9)
    axes[-1].axis("off")
    fig.colorbar(im, ax=axes[-1], fraction=0.046)
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=90)
    print(json.dumps({"output": str(args.output), "hole_metrics": scores}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
