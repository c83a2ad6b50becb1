"""Write a PNG sheet of synthetic CT slices and example hole masks (``docs/images/example_masks_and_slices.png``).

Usage::

    python monai_bundle/scripts/make_example_sheet.py [--output PATH] [--size 256] [--seed 0]

Row 1: synthetic axial slices from the upper chest to the lower abdomen (soft-tissue window, W 400 / L 40).
Row 2: the same slices in a lung window (W 1500 / L -600) and a bone window (W 2000 / L 500).
Rows 3-4: every hole-mask protocol (red) on synthetic slices: square holes by ratio and 32 x 32, strips
(horizontal, vertical, mixed), free-form strokes and metal-like blobs inside the body, plus a volume with metal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rfr_inpaint.data.synthetic import insert_metal, synthetic_ct_slice, synthetic_ct_volume  # noqa: E402
from rfr_inpaint.safe_io import atomic_path  # noqa: E402
from rfr_inpaint.transforms import HoleMaskGenerator  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "example_masks_and_slices.png"
LEVELS_MM = (40.0, 120.0, 200.0, 280.0, 340.0, 420.0, 500.0)
MASKS = (
    ("squares, ratio 8", "square", {"hole_ratio": 8}),
    ("4 squares 32 x 32", "square", {"size": 32, "count": 4}),
    ("1 strip, horizontal", "strips", {"width": 16, "count": 1, "orientation": "horizontal"}),
    ("2 strips, mixed", "strips", {"width": 16, "count": 2, "orientation": "mixed"}),
    ("4 strips, mixed", "strips", {"width": 16, "count": 4, "orientation": "mixed"}),
    ("free-form strokes", "free_form", {"area_range": (0.08, 0.2)}),
    ("metal-like, in body", "metal", {"count": 3, "body_threshold": -500}),
)


def window(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """Display values in [0, 1] for a CT window."""
    return np.clip((hu - (level - width / 2)) / width, 0.0, 1.0)


def overlay(gray: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """RGB image with the hole tinted red."""
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    rgb[hole > 0] = 0.45 * rgb[hole > 0] + 0.55 * np.array([1.0, 0.1, 0.1])
    return rgb


def make_sheet(output: Path = DEFAULT_OUTPUT, size: int = 256, seed: int = 0) -> Path:
    """Render the sheet and write it atomically to ``output``.

    Args:
        output: PNG path.
        size: slice size in pixels.
        seed: base seed of the slices and masks.

    Returns:
        the output path.
    """
    cols = len(LEVELS_MM)
    fig, axes = plt.subplots(4, cols, figsize=(2.6 * cols, 2.75 * 4), facecolor="black")
    slices = [synthetic_ct_slice(size, seed=seed + i, z=z) for i, z in enumerate(LEVELS_MM)]
    for i, (hu, z) in enumerate(zip(slices, LEVELS_MM)):
        axes[0, i].imshow(window(hu, 400, 40), cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(f"z = {z:.0f} mm, W400/L40", color="white", fontsize=8)
        lung = z < 300
        axes[1, i].imshow(window(hu, 1500, -600) if lung else window(hu, 2000, 500), cmap="gray", vmin=0, vmax=1)
        axes[1, i].set_title("lung W1500/L-600" if lung else "bone W2000/L500", color="white", fontsize=8)
    for i, (title, kind, params) in enumerate(MASKS):
        hu = slices[(i + 3) % cols]
        gen = HoleMaskGenerator(kind, **params)
        gen.set_random_state(seed + i)
        hole = np.asarray(gen(hu[None]))[0]
        ax = axes[2 + i // cols, i % cols]
        ax.imshow(overlay(window(hu, 400, 40), hole))
        ax.set_title(f"{title} ({100 * hole.mean():.1f} %)", color="white", fontsize=8)
    volume, spacing = synthetic_ct_volume((16, size, size), seed=seed + 50, z_start=330.0)
    with_metal, metal = insert_metal(volume, seed=seed, n_objects=4, spacing=spacing)
    k = int(np.argmax(metal.sum(axis=(1, 2))))
    used = len(MASKS)
    ax = axes[2 + used // cols, used % cols]
    ax.imshow(overlay(window(with_metal[k], 2000, 500), metal[k].astype(np.float32)))
    ax.set_title(f"insert_metal, slice {k} of 16", color="white", fontsize=8)
    for ax in axes.ravel():
        if ax.images:  # a thin frame shows where each (mostly black) image ends
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color("#606060")
        else:
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=90, facecolor="black", format="png")
    plt.close(fig)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="PNG to write")
    parser.add_argument("--size", type=int, default=256, help="slice size in pixels")
    parser.add_argument("--seed", type=int, default=0, help="base seed")
    args = parser.parse_args(argv)
    print(make_sheet(args.output, args.size, args.seed))


if __name__ == "__main__":
    main()
