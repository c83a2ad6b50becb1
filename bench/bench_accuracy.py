"""Accuracy benchmark: every inpainting method on held-out real CT (and MR / radiograph-like 2D images), seeded cases.

Cases (see ``docs/accuracy.md``):

* CT volumes, the seed study's 2D protocol: square holes of side ``crop side / 8`` (hole ratio 8), 1 / 2 / 4 / 8 per
  mask, and 16 px strips spanning the crop, 1 / 2 / 4 per mask with the seed's orientation rule, drawn on one slice
  inside the body and extruded through 3 contiguous slices;
* CT volumes, metal-like 3D holes (:func:`rfr_inpaint.transforms.holes3d.metal_holes_3d`: ellipsoid, screw, dental),
  drawn in mm inside the body;
* 2D images (MR slices from the MR volumes' middle third, DRRs, or explicit 2D files): the seed's square and strip
  masks, each image its own case.

A case is a crop: ``--crop`` px in-plane (256, the seed's image size) around a body pixel, and every slice within
``--z-context`` (8) of the hole. Every method fills the same crop through the one volume path of the CLI and Slicer,
:func:`rfr_inpaint.volume.inpaint_volume` (margin 0). Scores are over the hole voxels only (:mod:`rfr_inpaint.metrics`).

    python bench/bench_accuracy.py --data DIR                      # DIR from python -m rfr_inpaint.data.real_ct
    python bench/bench_accuracy.py --volume ct.nii.gz --methods biharmonic,biharmonic3d --cases-per-family 2

Prints one JSON object; writes ``accuracy.json``, ``accuracy.md`` and ``accuracy_sheet.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import emit, machine_info
from scipy import stats

import rfr_inpaint
from rfr_inpaint.data.synthetic import body_mask
from rfr_inpaint.defaults import HU_AIR_THRESHOLD
from rfr_inpaint.image_io import read_image
from rfr_inpaint.inpainters import CLASSICAL_METHODS, METHODS, get_inpainter
from rfr_inpaint.metrics import masked_mae, masked_psnr, masked_rmse, masked_ssim
from rfr_inpaint.safe_io import atomic_path
from rfr_inpaint.transforms.holes3d import METAL_KINDS_3D, metal_holes_3d
from rfr_inpaint.transforms.intensity import CTWindow, PercentileScale, intensity_for_model, intensity_forward
from rfr_inpaint.transforms.masks import RandSquareHoles, RandStrips
from rfr_inpaint.volume import inpaint_volume

#: the seed study's protocol: hole ratio, square counts, strip width and counts (orientation "mixed")
HOLE_RATIO = 8
SQUARE_COUNTS = (1, 2, 4, 8)
STRIP_WIDTH = 16
STRIP_COUNTS = (1, 2, 4)
#: a 2D mask on a CT slice is extruded through this many contiguous slices
EXTRUDE_SLICES = 3
#: a square / strip mask is redrawn (up to MASK_TRIES times) until this fraction of its pixels lies in the body
MIN_HOLE_IN_BODY = 0.5
MASK_TRIES = 50
#: slices (CT) whose body fraction is below this are not used as hole slices
MIN_BODY_FRACTION = 0.10
#: non-CT images: air is below this fraction of the value range (the rule of LoadImageSliced)
AIR_RANGE_FRACTION = 0.10
#: half-height (mm) of the slab a metal-like object is drawn in, before trimming to the hole +- z-context
METAL_SLAB_HALF_MM = 30.0
#: display windows of the sheet: CT soft tissue (HU), |difference| (HU, and [0, 1] units for 2D images)
SOFT_TISSUE_HU = (-160.0, 240.0)
DIFF_MAX_HU = 200.0
DIFF_MAX_01 = 0.2
#: in-plane pixels kept around the hole's box for scoring (more than the SSIM window's radius of 5)
SCORE_MARGIN = 8
CONFIDENCE = 0.95
METRICS = ("ssim", "psnr", "rmse", "mae", "mae_hu")
HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "rmse": False, "mae": False, "mae_hu": False, "seconds": False}


def mask_families() -> list[tuple[str, str, Any]]:
    """``(name, kind, parameter)`` of the mask families, in report order (2D families are prefixed by domain)."""
    fams: list[tuple[str, str, Any]] = [(f"square-{n}", "square", n) for n in SQUARE_COUNTS]
    fams += [(f"strip-{n}", "strip", n) for n in STRIP_COUNTS]
    return fams


@dataclass
class Case:
    """One benchmark case: a crop of a source image and its hole (True = hole)."""

    id: str
    family: str
    domain: str  # "ct" (3D), or a 2D domain: "mr", "drr", "2d"
    source: str
    patient: str
    truth: np.ndarray
    hole: np.ndarray
    spacing: tuple[float, ...]
    crop: dict[str, list[int]]
    results: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Source:
    """An image the cases are cut from."""

    path: str
    patient: str
    modality: str  # "CT", "MR" (3D volumes) or "DRR" / "2D" (2D images)
    array: np.ndarray
    spacing: tuple[float, ...]


# ------------------------------------------------------------------------------------------------ inputs


def _modality_of(array: np.ndarray) -> str:
    if array.ndim == 2:
        return "2D"
    return "CT" if float(array.min()) < HU_AIR_THRESHOLD else "MR"


def load_sources(data: str | None, split: str, volumes: Sequence[str] | None) -> list[Source]:
    """The images of a prepared data folder's split, or explicit files (modality inferred from the values).

    Raises:
        SystemExit: a missing datalist / file, an unknown modality, or an unreadable image (the message names it).
    """
    items: list[dict[str, Any]] = []
    if volumes:
        items = [{"image": str(v), "patient": Path(v).name.split(".")[0]} for v in volumes]
    elif data:
        from monai.data import load_decathlon_datalist

        datalist = Path(data) / "datalist.json"
        if not datalist.is_file():
            raise SystemExit(f"{datalist}: no datalist (prepare the folder with python -m rfr_inpaint.data.real_ct)")
        try:
            items = load_decathlon_datalist(datalist, is_segmentation=False, data_list_key=split, base_dir=data)
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            raise SystemExit(f"{datalist}: cannot read split {split!r}: {e}") from e
    else:
        raise SystemExit("give --data DIR (a prepared real-CT folder) or --volume FILE ...")
    sources = []
    for item in items:
        path = Path(item["image"])
        if not path.is_file():
            raise SystemExit(f"{path}: image file not found")
        try:
            img = read_image(path)
        except (OSError, ValueError) as e:
            raise SystemExit(f"{path}: cannot read the image: {e}") from e
        arr = np.asarray(img.array)
        modality = str(item.get("modality") or _modality_of(arr)).upper()
        expected_ndim = 3 if modality in ("CT", "MR") else 2
        if modality not in ("CT", "MR", "DRR", "2D"):
            raise SystemExit(f"{path}: unknown modality {modality!r} (expected CT, MR, DRR)")
        if arr.ndim != expected_ndim:
            raise SystemExit(f"{path}: a {modality} item must be {expected_ndim}D, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise SystemExit(f"{path}: the image holds NaN or infinite values")
        sources.append(Source(str(path), str(item.get("patient", path.name)), modality, arr, img.spacing_numpy))
    return sources


# ------------------------------------------------------------------------------------------------ cases


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _body(image: np.ndarray, hu: bool) -> np.ndarray:
    """Body mask of a slice / volume: above the HU air threshold for CT, above 10 % of the range otherwise."""
    if hu:
        return body_mask(image, HU_AIR_THRESHOLD)
    lo, hi = float(image.min()), float(image.max())
    return body_mask(image, lo + AIR_RANGE_FRACTION * (hi - lo))


def _crop_window(body2d: np.ndarray, size: int, rng: np.random.Generator) -> tuple[slice, slice]:
    """A ``size`` x ``size`` in-plane window (the whole side when smaller) centred on a random body pixel."""
    h, w = body2d.shape
    cand = np.argwhere(body2d)
    cy, cx = cand[int(rng.integers(len(cand)))] if cand.size else (h // 2, w // 2)
    out = []
    for c, n in ((int(cy), h), (int(cx), w)):
        s = min(size, n)
        start = int(np.clip(c - s // 2, 0, n - s))
        out.append(slice(start, start + s))
    return out[0], out[1]


def _mask_2d(kind: str, count: int, body2d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The seed's square / strip mask on an image of ``body2d``'s shape, redrawn until half of it is in the body."""
    gen = (
        RandSquareHoles(hole_ratio=HOLE_RATIO, count=count)
        if kind == "square"
        else RandStrips(width=STRIP_WIDTH, count=count, orientation="mixed")
    )
    gen.set_random_state(_seed(rng))
    shape = (1, *body2d.shape)
    for _ in range(MASK_TRIES):
        mask = np.asarray(gen(np.zeros(shape, np.float32)))[0] > 0.5
        if body2d[mask].mean() >= MIN_HOLE_IN_BODY:
            break
    return mask


def _hole_slices(hole: np.ndarray) -> np.ndarray:
    return np.flatnonzero(hole.any(axis=(1, 2)))


def ct_case(src: Source, name: str, kind: str, param: Any, rng: np.random.Generator, crop: int, z_context: int,
            body_fraction: np.ndarray) -> Case:
    """A CT case: a 2D seed mask extruded through 3 slices, or a metal-like 3D hole; cropped in-plane and in z."""
    vol, sp = src.array, src.spacing
    d = vol.shape[0]
    half = EXTRUDE_SLICES // 2
    ok = np.flatnonzero(body_fraction >= MIN_BODY_FRACTION)
    if d >= EXTRUDE_SLICES + 2:  # a known slice above and below the extruded hole, as inside a real volume
        ok = ok[(ok > half) & (ok < d - 1 - half)]
    if ok.size == 0:
        raise SystemExit(f"{src.path}: no slice with {MIN_BODY_FRACTION:.0%} body to place a hole on")
    k = int(ok[int(rng.integers(len(ok)))])
    ys, xs = _crop_window(_body(vol[k], hu=True), crop, rng)
    if kind in ("square", "strip"):
        mask2d = _mask_2d(kind, int(param), _body(vol[k, ys, xs], hu=True), rng)
        z0, z1 = max(k - half, 0), min(k + half + 1, d)
        full = np.zeros((d, ys.stop - ys.start, xs.stop - xs.start), bool)
        full[z0:z1] = mask2d
    else:
        reach = int(math.ceil(METAL_SLAB_HALF_MM / sp[0]))
        z0, z1 = max(k - reach, 0), min(k + reach + 1, d)
        sub = vol[z0:z1, ys, xs]
        hole = metal_holes_3d(sub.shape, sp, rng, kind=param, body=_body(sub, hu=True))
        full = np.zeros((d, ys.stop - ys.start, xs.stop - xs.start), bool)
        full[z0:z1] = hole
    zs = _hole_slices(full)
    za, zb = max(int(zs[0]) - z_context, 0), min(int(zs[-1]) + z_context + 1, d)
    return Case(
        id="", family=name, domain="ct", source=src.path, patient=src.patient,
        truth=np.ascontiguousarray(vol[za:zb, ys, xs]), hole=np.ascontiguousarray(full[za:zb]), spacing=tuple(sp),
        crop={"z": [za, zb], "y": [ys.start, ys.stop], "x": [xs.start, xs.stop]},
    )


def image_2d_case(src: Source, name: str, kind: str, count: int, rng: np.random.Generator, crop: int) -> Case:
    """A 2D case: an MR slice of the volume's middle third, or a 2D image (DRR), cropped, with a seed mask."""
    crop_info: dict[str, list[int]] = {}
    if src.array.ndim == 3:
        d = src.array.shape[0]
        k = int(rng.integers(d // 3, max(2 * d // 3, d // 3 + 1)))
        image, spacing = src.array[k], src.spacing[1:]
        crop_info["z"] = [k, k + 1]
    else:
        image, spacing = src.array, src.spacing
    ys, xs = _crop_window(_body(image, hu=False), crop, rng)
    image = np.ascontiguousarray(image[ys, xs])
    mask = _mask_2d(kind, count, _body(image, hu=False), rng)
    crop_info.update({"y": [ys.start, ys.stop], "x": [xs.start, xs.stop]})
    domain = src.modality.lower()
    return Case(id="", family=f"{domain}-{name}", domain=domain, source=src.path, patient=src.patient, truth=image,
                hole=mask, spacing=tuple(spacing), crop=crop_info)


def build_cases(sources: Sequence[Source], per_family: int, seed: int, crop: int, z_context: int) -> list[Case]:
    """Every family's ``per_family`` cases; each case's draws come from ``default_rng([seed, family, case])``, so
    adding families or cases leaves the others unchanged. Sources of a kind are used in turn."""
    cts = [s for s in sources if s.modality == "CT"]
    two_d: dict[str, list[Source]] = {}
    for s in sources:
        if s.modality != "CT":
            two_d.setdefault(s.modality.lower(), []).append(s)
    fractions = {s.path: (s.array > HU_AIR_THRESHOLD).mean(axis=(1, 2)) for s in cts}
    cases: list[Case] = []
    fams = mask_families()
    ct_fams = fams + [(kind, "metal", kind) for kind in METAL_KINDS_3D]
    if cts:
        for f, (name, kind, param) in enumerate(ct_fams):
            for i in range(per_family):
                src = cts[i % len(cts)]
                rng = np.random.default_rng([seed, f, i])
                case = ct_case(src, name, kind, param, rng, crop, z_context, fractions[src.path])
                case.id = f"{name}/{i}"
                cases.append(case)
    for g, (domain, group) in enumerate(sorted(two_d.items())):
        for f, (name, kind, param) in enumerate(fams):
            for i in range(per_family):
                rng = np.random.default_rng([seed, 100 + g, f, i])
                case = image_2d_case(group[i % len(group)], name, kind, int(param), rng, crop)
                case.id = f"{case.family}/{i}"
                cases.append(case)
    return cases


# ------------------------------------------------------------------------------------------------ running, scoring


def _score_scale(case: Case) -> dict[str, Any]:
    """The [0, 1] scale the metrics are computed on: the default CT window for CT, the truth's percentiles else."""
    mapping = CTWindow() if case.domain == "ct" else PercentileScale()
    mapping(case.truth)
    return mapping.get_mapping()


def score_case(case: Case, result: np.ndarray) -> dict[str, float | None]:
    """Hole SSIM / PSNR / RMSE / MAE on the [0, 1] scale and MAE in HU (CT): one value per case, over its hole
    voxels (the slices of a volume are the channels of one image, so every hole voxel counts once)."""
    scale = _score_scale(case)
    truth, res, hole = (case.truth, result, case.hole) if case.truth.ndim == 3 else (
        case.truth[None], result[None], case.hole[None])
    # only the hole's slices and its in-plane box grown by SCORE_MARGIN: the SSIM window (radius 5) of a hole pixel
    # stays inside, and a box that reaches the border is mirrored there as the whole slice would be; scores are exact
    zs = _hole_slices(hole)
    rows, cols = np.flatnonzero(hole.any(axis=(0, 2))), np.flatnonzero(hole.any(axis=(0, 1)))
    box = (zs, slice(max(rows[0] - SCORE_MARGIN, 0), rows[-1] + SCORE_MARGIN + 1),
           slice(max(cols[0] - SCORE_MARGIN, 0), cols[-1] + SCORE_MARGIN + 1))
    truth, res, hole = truth[box], res[box], hole[box]

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))[None]

    p01, t01 = t(intensity_forward(res.astype(np.float64), scale)), t(intensity_forward(truth.astype(np.float64), scale))
    h = t(hole)
    out = {
        "ssim": float(masked_ssim(p01, t01, h)[0]),
        "psnr": float(masked_psnr(p01, t01, h)[0]),
        "rmse": float(masked_rmse(p01, t01, h)[0]),
        "mae": float(masked_mae(p01, t01, h)[0]),
    }
    out["mae_hu"] = float(masked_mae(t(res), t(truth), h)[0]) if case.domain == "ct" else None
    return out


def _intensity(method: str, domain: str, model_mapping: Any) -> Any:
    """The mapping to [0, 1] each method runs with (what the CLI uses): the model's recorded one for rfr on CT, the
    default CT window for CT, percentiles for other images. A new object per call (they record what they saw)."""
    if domain != "ct":
        return PercentileScale()
    if method == "rfr" and model_mapping is not None:
        return model_mapping()
    return CTWindow()


def run_case(case: Case, methods: Mapping[str, Any], model_mapping: Any) -> dict[str, dict[str, float]]:
    """Fill the case with every method through :func:`inpaint_volume` and score it.

    The hole's content is replaced by the image's minimum first, so no method can see it."""
    given = case.truth.copy()
    given[case.hole] = case.truth.min()
    rows: dict[str, dict[str, float]] = {}
    for name, inpainter in methods.items():
        t0 = time.perf_counter()
        result, used = inpaint_volume(given, case.hole, inpainter, spacing=case.spacing, margin_mm=0.0,
                                      intensity=_intensity(name, case.domain, model_mapping))
        seconds = time.perf_counter() - t0
        row = score_case(case, result)
        row["seconds"] = seconds
        row["known_voxels_changed"] = int((result[~case.hole] != given[~case.hole]).sum())
        row["hole_is_used_hole"] = bool(np.array_equal(used, case.hole))
        rows[name] = row
        case.results[name] = result
    return rows


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95 % t interval over cases (None bounds for fewer than 2 finite values)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(arr.mean())
    if arr.size < 2 or float(arr.std()) == 0.0:
        lo = hi = mean if arr.size >= 2 else None
        return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": int(arr.size)}
    lo, hi = stats.t.interval(CONFIDENCE, arr.size - 1, loc=mean, scale=stats.sem(arr))
    return {"mean": mean, "ci_low": float(min(lo, mean)), "ci_high": float(max(hi, mean)), "n": int(arr.size)}


def summarize(case_rows: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Per method: every metric's mean and CI; the best classical method (highest mean hole PSNR); rfr's paired
    win rate against it (ties count half) and mean paired PSNR / SSIM differences with CIs."""
    out: dict[str, Any] = {"n_cases": len(case_rows), "methods": {}}
    for m in methods:
        out["methods"][m] = {k: mean_ci([r["methods"][m][k] for r in case_rows]) for k in (*METRICS, "seconds")}
    classical = [m for m in methods if m in CLASSICAL_METHODS]
    if classical:
        psnr = {m: out["methods"][m]["psnr"]["mean"] for m in classical}
        out["best_classical"] = max(classical, key=lambda m: -math.inf if psnr[m] is None else psnr[m])
    if "rfr" in methods and classical:
        best = out["best_classical"]
        wins = [
            1.0 if a > b else 0.5 if a == b else 0.0
            for a, b in ((r["methods"]["rfr"]["psnr"], r["methods"][best]["psnr"]) for r in case_rows)
        ]
        out["rfr_vs_best"] = {
            "against": best,
            "win_rate": float(np.mean(wins)) if wins else None,
            "psnr_diff": mean_ci([r["methods"]["rfr"]["psnr"] - r["methods"][best]["psnr"] for r in case_rows]),
            "ssim_diff": mean_ci([r["methods"]["rfr"]["ssim"] - r["methods"][best]["ssim"] for r in case_rows]),
        }
    return out


# ------------------------------------------------------------------------------------------------ outputs


def _fmt(s: Mapping[str, Any], digits: int) -> str:
    if s["mean"] is None:
        return "-"
    text = f"{s['mean']:.{digits}f}"
    if s["ci_low"] is not None:
        text += f" [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"
    return text


def markdown(report: Mapping[str, Any]) -> str:
    """The Markdown page of a report: command, settings, rfr vs best classical, and every method per family."""
    lines = [
        "```",
        report["command"],
        "```",
        "",
        f"Cases per family: {report['settings']['cases_per_family']}, seed {report['settings']['seed']}, "
        f"crop {report['settings']['crop']} px, z-context {report['settings']['z_context']} slices; "
        f"{report['n_cases']} cases, {report['total_seconds']:.0f} s on {report['machine']['cpu_count']} cores "
        f"(load average {report['machine']['load_average_1min']}). Sources: "
        + ", ".join(f"{s['patient']} ({s['modality']})" for s in report["sources"]) + ".",
        "",
        "Hole metrics; mean [95 % t interval over cases]. SSIM / PSNR (dB) / RMSE on the [0, 1] scale of the "
        "default CT window -1024 .. 3071 HU for CT (0.5 / 99.5 percentiles of the image for MR / DRR); MAE in HU "
        "for CT.",
    ]
    if report.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in report["skipped"].items())]
    groups = {**report["families"], **{f"overall {k}": v for k, v in report["overall"].items()}}
    if "rfr" in report["methods"]:
        lines += ["", "| family | cases | best classical | its PSNR | rfr PSNR | rfr - best PSNR | rfr win rate |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for fam, g in groups.items():
            if "rfr_vs_best" not in g:
                continue
            b = g["rfr_vs_best"]
            lines.append(
                f"| {fam} | {g['n_cases']} | {b['against']} | {_fmt(g['methods'][b['against']]['psnr'], 2)} | "
                f"{_fmt(g['methods']['rfr']['psnr'], 2)} | {_fmt(b['psnr_diff'], 2)} | {b['win_rate']:.2f} |"
            )
    names = list(report["methods"])
    lines += ["", "Hole PSNR (dB) by family, mean over cases (bold: the best classical method):", "",
              "| family | cases | " + " | ".join(names) + " |", "| --- | --- |" + " --- |" * len(names)]
    for fam, g in groups.items():
        cells = []
        for m in names:
            mean = g["methods"][m]["psnr"]["mean"]
            cell = "-" if mean is None else f"{mean:.2f}"
            cells.append(f"**{cell}**" if m == g.get("best_classical") else cell)
        lines.append(f"| {fam} | {g['n_cases']} | " + " | ".join(cells) + " |")
    lines += ["", "| family | method | SSIM | PSNR dB | RMSE | MAE HU | s / case |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for fam, g in groups.items():
        best = g.get("best_classical")
        for m, s in g["methods"].items():
            label = f"**{m}**" if m == best else m
            lines.append(
                f"| {fam} | {label} | {_fmt(s['ssim'], 3)} | {_fmt(s['psnr'], 2)} | {_fmt(s['rmse'], 4)} | "
                f"{_fmt(s['mae_hu'], 1)} | {s['seconds']['mean']:.2f} |"
            )
    lines += ["", "Bold: the family's best classical method (highest mean hole PSNR)."]
    return "\n".join(lines) + "\n"


def _display(case: Case, img: np.ndarray) -> np.ndarray:
    if case.domain == "ct":
        lo, hi = SOFT_TISSUE_HU
    else:
        lo, hi = np.percentile(case.truth, [1, 99])
        hi = hi if hi > lo else lo + 1.0
    return np.clip((img.astype(np.float64) - lo) / (hi - lo), 0, 1)


def write_sheet(cases: Sequence[Case], methods: Sequence[str], path: Path, scores: Mapping[str, Any]) -> None:
    """PNG sheet: per case, truth / input with the hole in red / each method (row 1), hole / |difference| of each
    method (row 2), on the slice with the most hole voxels; CT in a soft-tissue window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 + len(methods)
    fig, axes = plt.subplots(2 * len(cases), cols, figsize=(1.9 * cols, 3.9 * len(cases)), squeeze=False)
    for r, case in enumerate(cases):
        k = int(np.argmax(case.hole.reshape(case.hole.shape[0], -1).sum(1))) if case.hole.ndim == 3 else None
        sl = (lambda a: a[k]) if k is not None else (lambda a: a)
        truth, hole = sl(case.truth), sl(case.hole)
        shown = np.repeat(_display(case, truth)[..., None], 3, axis=2)
        shown[hole] = (1.0, 0.0, 0.0)
        top, bottom = axes[2 * r], axes[2 * r + 1]
        top[0].imshow(_display(case, truth), cmap="gray", vmin=0, vmax=1)
        top[0].set_title(f"{case.id}\n{case.patient}", fontsize=7)
        top[1].imshow(shown)
        top[1].set_title("hole", fontsize=7)
        bottom[1].imshow(hole, cmap="gray", vmin=0, vmax=1)
        scale = _score_scale(case)
        for j, m in enumerate(methods):
            res = sl(case.results[m])
            top[2 + j].imshow(_display(case, res), cmap="gray", vmin=0, vmax=1)
            top[2 + j].set_title(f"{m}\n{scores[case.id][m]['psnr']:.1f} dB", fontsize=7)
            if case.domain == "ct":
                diff = np.abs(res.astype(np.float64) - truth) / DIFF_MAX_HU
            else:
                diff = np.abs(intensity_forward(res.astype(np.float64), scale)
                              - intensity_forward(truth.astype(np.float64), scale)) / DIFF_MAX_01
            bottom[2 + j].imshow(np.clip(diff, 0, 1), cmap="magma", vmin=0, vmax=1)
        bottom[0].text(0.5, 0.5, f"|difference|\n0 .. {DIFF_MAX_HU:.0f} HU (CT)\n0 .. {DIFF_MAX_01} (2D)",
                       ha="center", va="center", fontsize=7)
        for ax in (*top, *bottom):
            ax.set_axis_off()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ main


def sheet_case_ids(cases: Sequence[Case], n: int) -> set[str]:
    """The first case of ``n`` families spread evenly over the report order."""
    families = list(dict.fromkeys(c.family for c in cases))
    if n == 0 or not families:
        return set()
    picks = np.unique(np.linspace(0, len(families) - 1, min(n, len(families))).round().astype(int))
    return {next(c.id for c in cases if c.family == families[i]) for i in picks}


def _default_model() -> Path | None:
    candidate = Path(rfr_inpaint.__file__).resolve().parents[1] / "models" / "model.pt"
    return candidate if candidate.is_file() else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="folder prepared by python -m rfr_inpaint.data.real_ct (datalist.json)")
    src.add_argument("--volume", nargs="+", help="explicit image files (3D CT / MR volumes, 2D images)")
    parser.add_argument("--split", default="test", help="datalist split of --data (default test)")
    parser.add_argument("--model", default=None, help="RFR-Net checkpoint or bundle folder (default: the bundle's "
                        "models/model.pt when it exists; else rfr is skipped)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated (default {','.join(METHODS)})")
    parser.add_argument("--cases-per-family", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crop", type=int, default=256, help="in-plane crop side in px (default 256)")
    parser.add_argument("--z-context", type=int, default=8, help="slices kept on each side of the hole (default 8)")
    parser.add_argument("--sheet-cases", type=int, default=6, help="cases shown in the PNG sheet (0: no sheet)")
    parser.add_argument("--device", default="cpu", help="device of rfr (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", default="eval/accuracy", help="output folder (default eval/accuracy)")
    args = parser.parse_args(argv)
    if (args.cases_per_family < 1 or args.crop < 32 or args.z_context < 0 or args.sheet_cases < 0
            or (args.threads is not None and args.threads < 1)):
        parser.error("--cases-per-family >= 1, --crop >= 32, --z-context >= 0, --sheet-cases >= 0 and --threads >= 1 "
                     "are required")
    args.method_list = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.method_list if m not in METHODS]
    if unknown or not args.method_list:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and return the report (``accuracy.json``'s content)."""
    args = parse_args(argv)
    command = "python bench/bench_accuracy.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    skipped: dict[str, str] = {}
    names = list(args.method_list)
    model = Path(args.model) if args.model else _default_model()
    if "rfr" in names and model is None:
        skipped["rfr"] = "no model: give --model (the bundle ships no models/model.pt yet)"
        print("bench_accuracy: rfr skipped (no --model and no bundle models/model.pt)", file=sys.stderr)
        names.remove("rfr")
    if not names:
        raise SystemExit("no method left to run")
    methods = {m: get_inpainter(m, model_path=model if m == "rfr" else None, device=args.device) for m in names}
    recorded = intensity_for_model(model) if "rfr" in names else None
    model_mapping = (lambda: intensity_for_model(model)) if recorded is not None else None

    sources = load_sources(args.data, args.split, args.volume)
    cases = build_cases(sources, args.cases_per_family, args.seed, args.crop, args.z_context)
    if not cases:
        raise SystemExit("no case: the inputs hold no CT volume and no 2D image")
    fam_order = list(dict.fromkeys(c.family for c in cases))
    sheet_ids = sheet_case_ids(cases, args.sheet_cases)
    case_rows = []
    for case in cases:
        rows = run_case(case, methods, model_mapping)
        case_rows.append({
            "id": case.id, "family": case.family, "domain": case.domain, "patient": case.patient,
            "source": case.source, "crop": case.crop, "shape": list(case.truth.shape),
            "hole_voxels": int(case.hole.sum()), "hole_slices": int(len(_hole_slices(case.hole)))
            if case.hole.ndim == 3 else 1, "methods": rows,
        })
        if case.id not in sheet_ids:
            case.results.clear()  # only the sheet's cases keep their results in memory
    families = {f: summarize([r for r in case_rows if r["family"] == f], names) for f in fam_order}
    overall = {d: summarize([r for r in case_rows if r["domain"] == d], names)
               for d in dict.fromkeys(r["domain"] for r in case_rows)}
    if len(overall) > 1:
        overall["all"] = summarize(case_rows, names)
    report: dict[str, Any] = {
        "benchmark": "accuracy",
        "command": command,
        "settings": {"cases_per_family": args.cases_per_family, "seed": args.seed, "crop": args.crop,
                     "z_context": args.z_context, "split": None if args.volume else args.split,
                     "hole_ratio": HOLE_RATIO, "square_counts": list(SQUARE_COUNTS), "strip_width": STRIP_WIDTH,
                     "strip_counts": list(STRIP_COUNTS), "extrude_slices": EXTRUDE_SLICES, "margin_mm": 0.0},
        "scale": "ssim / psnr / rmse / mae on [0, 1]: CT window -1024 .. 3071 HU for CT, the truth's 0.5 / 99.5 "
                 "percentiles for 2D images; mae_hu in HU (CT only)",
        "model": str(model) if "rfr" in names else None,
        "methods": names,
        "skipped": skipped,
        "sources": [{"path": s.path, "patient": s.patient, "modality": s.modality, "shape": list(s.array.shape),
                     "spacing": [float(v) for v in s.spacing]} for s in sources],
        "n_cases": len(cases),
        "families": families,
        "overall": overall,
        "cases": case_rows,
        "machine": machine_info("cpu"),
    }
    report["total_seconds"] = round(time.perf_counter() - t_start, 2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "accuracy.json", "markdown": out / "accuracy.md"}
    if sheet_ids:
        files["sheet"] = out / "accuracy_sheet.png"
        write_sheet([c for c in cases if c.id in sheet_ids], names, files["sheet"],
                    {r["id"]: r["methods"] for r in case_rows})
    report["files"] = {k: str(v) for k, v in files.items()}
    with atomic_path(files["markdown"]) as tmp:
        tmp.write_text(markdown(report))
    with atomic_path(files["json"]) as tmp:
        tmp.write_text(json.dumps(report, indent=1, allow_nan=True) + "\n")
    emit(report)
    return report


if __name__ == "__main__":
    main()
