"""How much room the benchmark's CT cases leave above the best classical fill: oracle fills that see the truth.

The CT cases of ``bench_accuracy.py`` (same families, crops, seeds and scoring, through ``inpaint_volume``) are filled
by ``biharmonic3d_mm`` (the best classical method), scored, and compared with two kinds of oracle that no inpainter
can be, but that bound what a better one could reach:

* ``smooth_<s>``: the truth itself, Gaussian-smoothed in-plane with ``s`` px, in the hole: a fill that knows the
  anatomy to about ``s`` px and nothing of the noise or finer texture;
* ``best_exponent``: per case, the best of ``biharmonic3d_mm`` with each spacing exponent of ``--exponents`` (the
  exponent that suits a hole differs by hole shape: ``bench/README.md``), the ceiling of choosing between such fills.

Prints one JSON object: mean hole PSNR / SSIM per family and patient for each fill, and each oracle's gain over
``biharmonic3d_mm``.

    python bench/bench_headroom.py --data DATA --split training --cases-per-family 8
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine_info  # noqa: E402
from bench_accuracy import build_cases, load_sources, run_case, score_case  # noqa: E402

from rfr_inpaint.baselines import SpacedBiharmonic3DInpainter  # noqa: E402

BEST_CLASSICAL = "biharmonic3d_mm"


def _mean(rows: Sequence[dict[str, float]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the oracles; print and return the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder prepared by python -m rfr_inpaint.data.real_ct")
    parser.add_argument("--split", default="training", help="datalist split of --data (default training)")
    parser.add_argument("--volume", nargs="+", default=None, help="explicit CT volume file(s) instead of --data")
    parser.add_argument("--cases-per-family", type=int, default=8)
    parser.add_argument("--crop", type=int, default=256, help="in-plane crop side in px (default 256)")
    parser.add_argument("--z-context", type=int, default=8, help="slices kept on each side of the hole (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigmas", default="0.5,1,2", help="in-plane smoothing of the truth oracles, px")
    parser.add_argument("--exponents", default="0,0.5,1,2", help="spacing exponents the best_exponent oracle picks from")
    args = parser.parse_args(argv)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    exponents = [float(e) for e in args.exponents.split(",")]
    if args.cases_per_family < 1 or any(s <= 0 for s in sigmas) or any(e < 0 for e in exponents):
        raise SystemExit("--cases-per-family must be >= 1, --sigmas > 0 and --exponents >= 0")
    start = time.perf_counter()
    sources = [s for s in load_sources(args.data, args.split, args.volume) if s.modality == "CT"]
    if not sources:
        raise SystemExit(f"{args.volume or args.data}: no CT volume (split {args.split!r})")
    cases = build_cases(sources, args.cases_per_family, args.seed, args.crop, args.z_context)
    fills = {f"exponent_{e:g}": SpacedBiharmonic3DInpainter(spacing_exponent=e) for e in exponents}
    classical_fill = f"exponent_{SpacedBiharmonic3DInpainter.SPACING_EXPONENT:g}"
    if classical_fill not in fills:  # the best classical method is one of the choices
        fills[classical_fill] = SpacedBiharmonic3DInpainter()
    rows = []
    for case in cases:
        scored = run_case(case, fills, None)
        best = max(scored.values(), key=lambda r: r["psnr"])
        row: dict[str, Any] = {"family": case.family, "patient": case.patient}
        classical = scored[classical_fill]
        row[BEST_CLASSICAL] = {"psnr": classical["psnr"], "ssim": classical["ssim"]}
        row["best_exponent"] = {"psnr": best["psnr"], "ssim": best["ssim"]}
        truth = case.truth.astype(np.float64)
        for s in sigmas:
            smooth = ndimage.gaussian_filter(truth, sigma=(0.0, s, s))
            scores = score_case(case, np.where(case.hole, smooth, truth))
            row[f"smooth_{s:g}"] = {"psnr": scores["psnr"], "ssim": scores["ssim"]}
        rows.append(row)
    fills_reported = [BEST_CLASSICAL, "best_exponent", *(f"smooth_{s:g}" for s in sigmas)]

    def summary(group: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"n_cases": len(group)}
        base = _mean([r[BEST_CLASSICAL] for r in group], "psnr")
        for name in fills_reported:
            psnr = _mean([r[name] for r in group], "psnr")
            out[name] = {"psnr": round(psnr, 2), "ssim": round(_mean([r[name] for r in group], "ssim"), 3)}
            if name != BEST_CLASSICAL:
                out[name]["gain_db"] = round(psnr - base, 2)
        return out

    report = {
        "benchmark": "headroom",
        "command": "python bench/bench_headroom.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "split": None if args.volume else args.split,
        "patients": sorted({s.patient for s in sources}),
        "families": {f: summary([r for r in rows if r["family"] == f]) for f in dict.fromkeys(r["family"] for r in rows)},
        "patients_summary": {p: summary([r for r in rows if r["patient"] == p]) for p in sorted({r["patient"] for r in rows})},
        "overall": summary(rows),
        "total_seconds": round(time.perf_counter() - start, 1),
        "machine": machine_info("cpu"),
    }
    emit(report)
    return report


if __name__ == "__main__":
    main()
