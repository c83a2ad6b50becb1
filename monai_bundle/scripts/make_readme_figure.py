"""Write the README's picture: the shipped RFR-Net against the best classical fills on a held-out real CT slice.

A test-split patient of the real-CT data folder (``python -m rfr_inpaint.data.real_ct --dest DIR``) gets metal-like
3D holes (:func:`rfr_inpaint.transforms.holes3d.metal_holes_3d`, drawn in mm in tissue, seeded) in a 160 px crop of
a slab of slices, as the benchmark builds its cases; RFR-Net, ``biharmonic3d_auto``, ``biharmonic3d_mm`` and ``biharmonic`` fill the slab through :func:`rfr_inpaint.volume.inpaint_volume`
(the path of the command and of Slicer; margin 0, each method's intensity mapping as the command resolves it). The
picture shows, on the case's slice with the most hole voxels: the truth, the hole, each result and its ``|error|`` in HU, CT in the soft-tissue window. Each panel's title gives the hole PSNR (dB) on that slice and,
in brackets, over the whole 3D hole, on the [0, 1] scale of the default CT window (the benchmark's score,
``bench/bench_accuracy.py``). The scores are printed as JSON.

Usage (from the repository root)::

    python monai_bundle/scripts/make_readme_figure.py --data DIR --out docs/images/readme_example.png
    python monai_bundle/scripts/make_readme_figure.py --data DIR --model PATH --out example.png

``--model`` defaults to the shipped model (:func:`rfr_inpaint.locations.shipped_model_path`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rfr_inpaint.defaults import SOFT_TISSUE_WINDOW_HU  # noqa: E402

#: the default patient: the first CT of the real-CT data's test split (held out from training and validation)
DEFAULT_PATIENT = "pyradiomics_lung1"
#: the methods compared, in the picture's order: the network, then the best classical fill on volumes
#: (``docs/accuracy.md``), the default one (the network's prior) and slice-wise biharmonic
CLASSICAL = ("biharmonic3d_auto", "biharmonic3d_mm", "biharmonic")
#: half-height (mm) of the slab the holes are drawn in (the benchmark's METAL_SLAB_HALF_MM)
SLAB_HALF_MM = 30.0
#: in-plane side (pixels) of a case, as the benchmark's --crop
CROP = 160
#: tissue (not lung, not air) is above this HU; a case's hole must lie in tissue for this share of its voxels
TISSUE_HU = -300.0
MIN_IN_TISSUE = 0.8
TRIES = 50
#: |error| colour scale (HU)
ERROR_MAX_HU = 200.0


def held_out_ct(data: str | Path, patient: str) -> tuple[np.ndarray, tuple[float, float, float], str]:
    """The CT volume of ``patient`` from the test split of ``data/datalist.json``: (HU (z, y, x), spacing, path).

    Raises:
        SystemExit: no datalist, or the patient has no CT in the test split (the message names the split's CTs).
    """
    from monai.data import load_decathlon_datalist
    from rfr_inpaint.image_io import read_image

    datalist = Path(data) / "datalist.json"
    if not datalist.is_file():
        raise SystemExit(f"{datalist}: no datalist (prepare the folder with python -m rfr_inpaint.data.real_ct)")
    items = load_decathlon_datalist(datalist, is_segmentation=False, data_list_key="test", base_dir=data)
    cts = [i for i in items if i.get("modality") == "CT"]
    item = next((i for i in cts if i.get("patient") == patient), None)
    if item is None:
        names = ", ".join(str(i.get("patient")) for i in cts)
        raise SystemExit(f"{datalist}: no CT of patient {patient!r} in the test split (it holds: {names})")
    image = read_image(item["image"])
    if image.ndim != 3:
        raise SystemExit(f"{item['image']}: not a 3D volume")
    return image.array, tuple(float(s) for s in image.spacing_numpy), str(item["image"])  # type: ignore[return-value]


def make_case(
    volume: np.ndarray, spacing: Sequence[float], kinds: Sequence[str], seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """A case as the benchmark builds one: a :data:`CROP` px in-plane crop of a slab around a slice of the middle
    third, centred on a tissue pixel, with one metal-like object per kind inside the body; drawn again (up to
    :data:`TRIES` times) until :data:`MIN_IN_TISSUE` of the hole lies in tissue rather than in lung or air (metal sits
    in bone and soft tissue).

    Returns:
        ``(truth, hole, (z, y, x) of the crop's first voxel in the volume)``.

    Raises:
        SystemExit: no draw put the hole in tissue.
    """
    from rfr_inpaint.transforms.holes3d import metal_holes_3d
    from rfr_inpaint.transforms.masks import body_mask

    rng = np.random.default_rng(seed)
    d, h, w = volume.shape
    reach = int(math.ceil(SLAB_HALF_MM / spacing[0]))
    for _ in range(TRIES):
        centre = int(rng.integers(d // 3, max(2 * d // 3, d // 3 + 1)))
        tissue = np.argwhere((volume[centre] > TISSUE_HU) & body_mask(volume[centre], fill_holes=False))
        if len(tissue) == 0:
            continue
        cy, cx = tissue[int(rng.integers(len(tissue)))]
        y0, x0 = (int(np.clip(c - CROP // 2, 0, max(n - CROP, 0))) for c, n in ((cy, h), (cx, w)))
        z0, z1 = max(centre - reach, 0), min(centre + reach + 1, d)
        truth = np.ascontiguousarray(volume[z0:z1, y0 : y0 + CROP, x0 : x0 + CROP])
        body = body_mask(truth)
        hole = np.zeros(truth.shape, dtype=bool)
        for kind in kinds:
            hole |= metal_holes_3d(truth.shape, tuple(spacing), rng, kind=kind, body=body)  # type: ignore[arg-type]
        if (truth[hole] > TISSUE_HU).mean() >= MIN_IN_TISSUE:
            return truth, hole, (z0, y0, x0)
    raise SystemExit(f"no metal-like hole in tissue after {TRIES} draws (seed {seed}); try another --seed")


def fill(method: str, model: Path | None, slab: np.ndarray, hole: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """The slab filled by ``method`` through :func:`rfr_inpaint.volume.inpaint_volume`; the hole's content is set to
    the slab's minimum first, so that no method can see it."""
    from rfr_inpaint.inpainters import get_inpainter
    from rfr_inpaint.transforms.intensity import resolve_intensity
    from rfr_inpaint.volume import inpaint_volume

    given = np.where(hole, slab.min(), slab).astype(slab.dtype)
    model_path = model if method == "rfr" else None
    options: dict[str, Any] = {"device": "cpu"} if method == "rfr" else {}
    inpainter = get_inpainter(method, model_path=model_path, **options)
    result, _ = inpaint_volume(
        given, hole, inpainter, spacing=spacing, margin_mm=0.0, intensity=resolve_intensity("auto", model_path)
    )
    return result


def hole_psnr(result: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Hole PSNR (dB) on the [0, 1] scale of the default CT window; the slices are one image's channels."""
    import torch
    from rfr_inpaint.metrics import masked_psnr
    from rfr_inpaint.transforms.intensity import CTWindow

    window = CTWindow()

    def scaled(x: np.ndarray) -> torch.Tensor:
        x = x if x.ndim == 3 else x[None]
        return torch.from_numpy(np.asarray(window(x.astype(np.float32)), dtype=np.float64))[None]

    mask = torch.from_numpy(hole if hole.ndim == 3 else hole[None])[None]
    return float(masked_psnr(scaled(result), scaled(truth), mask)[0])


def draw(
    path: Path, truth: np.ndarray, hole: np.ndarray, results: dict[str, np.ndarray], titles: dict[str, str]
) -> None:
    """The 2 x (1 + methods) picture: truth / hole, then each result over its |error|; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from rfr_inpaint.safe_io import atomic_path

    lo, hi = SOFT_TISSUE_WINDOW_HU
    cols = 1 + len(results)
    figure = Figure(figsize=(3.5 * cols, 6.9), dpi=100)
    axes = figure.subplots(2, cols)
    grey = {"cmap": "gray", "vmin": lo, "vmax": hi, "interpolation": "nearest"}
    axes[0, 0].imshow(truth, **grey)
    axes[0, 0].set_title("truth (held-out patient)", fontsize=9)
    axes[1, 0].imshow(np.where(hole, truth.min(), truth), **grey)
    axes[1, 0].contour(hole, levels=[0.5], colors="red", linewidths=0.8)
    axes[1, 0].set_title("hole (metal-like, red)", fontsize=9)
    shown = None
    for c, (name, result) in enumerate(results.items(), start=1):
        axes[0, c].imshow(result, **grey)
        axes[0, c].set_title(titles[name], fontsize=9)
        error = np.where(hole, np.abs(result.astype(np.float64) - truth), 0.0)
        shown = axes[1, c].imshow(error, cmap="magma", vmin=0.0, vmax=ERROR_MAX_HU, interpolation="nearest")
        axes[1, c].set_title(f"|error| {name} (HU)", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    if shown is not None:
        figure.colorbar(shown, ax=list(axes[1, 1:]), fraction=0.02, pad=0.01, label="HU")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="real-CT data folder (its datalist's test split)")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--model", type=Path, help="RFR-Net checkpoint or bundle folder (default: the shipped model)")
    parser.add_argument("--title", default="RFR-Net", help="label of the model in the picture")
    parser.add_argument("--patient", default=DEFAULT_PATIENT, help="a CT patient of the test split")
    parser.add_argument("--kinds", default="screw,dental", help="metal-like objects (rfr_inpaint.transforms.holes3d)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slab and of the objects")
    args = parser.parse_args(argv)

    from rfr_inpaint.inpainters import resolve_model_path
    from rfr_inpaint.preview import most_affected_slice

    try:
        model = resolve_model_path(args.model)  # the shipped model when none is given
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from e
    volume, spacing, source = held_out_ct(args.data, args.patient)
    truth, hole, (z0, y0, x0) = make_case(
        volume, spacing, [k.strip() for k in args.kinds.split(",") if k.strip()], args.seed
    )
    results = {"rfr": fill("rfr", model, truth, hole, spacing)}
    results.update({m: fill(m, None, truth, hole, spacing) for m in CLASSICAL})
    k = most_affected_slice(hole)
    box = (k, slice(None), slice(None))  # the shown slice
    scores = {
        m: {
            "hole_psnr_slice_db": hole_psnr(r[box], truth[box], hole[box]),
            "hole_psnr_volume_db": hole_psnr(r, truth, hole),
        }
        for m, r in results.items()
    }
    labels = {"rfr": args.title, **{m: m for m in CLASSICAL}}
    titles = {
        m: f"{labels[m]}: {s['hole_psnr_slice_db']:.1f} dB ({s['hole_psnr_volume_db']:.1f} in 3D)"
        for m, s in scores.items()
    }
    named = {labels[m]: r[box] for m, r in results.items()}
    draw(args.out, truth[box], hole[box], named, {labels[m]: titles[m] for m in results})
    best = max(CLASSICAL, key=lambda m: scores[m]["hole_psnr_volume_db"])
    report = {
        "output": str(args.out),
        "model": str(model),
        "source": source,
        "patient": args.patient,
        "slice": int(z0 + k),
        "slab": [int(z0), int(z0 + truth.shape[0])],
        "crop": {"y": [y0, y0 + truth.shape[1]], "x": [x0, x0 + truth.shape[2]]},
        "kinds": args.kinds,
        "seed": args.seed,
        "hole_voxels": int(hole.sum()),
        "hole_psnr_db": scores,
        "rfr_minus_best_classical_db": scores["rfr"]["hole_psnr_volume_db"] - scores[best]["hole_psnr_volume_db"],
        "best_classical": best,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
