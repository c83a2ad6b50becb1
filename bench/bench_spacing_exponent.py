"""Choose ``biharmonic3d_mm``'s spacing exponent on the real-CT *training* split (never the test split).

The CT cases of ``bench_accuracy.py`` (same families, crops, seeds and scoring, through ``inpaint_volume``) built
from the training patients are filled by slice-wise biharmonic, ``biharmonic3d`` (exponent 0: every axis one unit
apart) and ``biharmonic3d_mm`` with each exponent of ``--exponents``. Prints JSON: mean hole PSNR / SSIM per family
and method, the mean over families, and the exponent with the best mean PSNR over the families.

Usage::

    python bench/bench_spacing_exponent.py --data DATA --cases-per-family 6
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accuracy import build_cases, load_sources, run_case  # noqa: E402

from rfr_inpaint.baselines import BiharmonicInpainter, SpacedBiharmonic3DInpainter  # noqa: E402
from rfr_inpaint.inpainters import get_inpainter  # noqa: E402


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the sweep; print and return the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder prepared by python -m rfr_inpaint.data.real_ct")
    parser.add_argument("--split", default="training", help="datalist split (default training)")
    parser.add_argument("--exponents", default="0.5,1,1.5,2", help="comma-separated exponents (default 0.5,1,1.5,2)")
    parser.add_argument("--cases-per-family", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.split == "test":
        parser.error("the exponent is chosen on training data; the test split stays held out")
    exponents = [float(e) for e in args.exponents.split(",") if e.strip()]
    methods: dict[str, Any] = {"biharmonic": BiharmonicInpainter(), "biharmonic3d": get_inpainter("biharmonic3d")}
    for e in exponents:
        methods[f"biharmonic3d_mm@{e:g}"] = SpacedBiharmonic3DInpainter(spacing_exponent=e)
    t0 = time.perf_counter()
    sources = [s for s in load_sources(args.data, args.split, None) if s.modality == "CT"]
    cases = [c for c in build_cases(sources, args.cases_per_family, args.seed, 256, 8) if c.domain == "ct"]
    scores: dict[str, dict[str, list[dict[str, float]]]] = {}
    for case in cases:
        rows = run_case(case, methods, None)
        case.results.clear()
        for name, row in rows.items():
            scores.setdefault(case.family, {}).setdefault(name, []).append(row)
    families = {
        fam: {m: {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim")} for m, rows in by.items()}
        for fam, by in scores.items()
    }
    mean = {m: float(np.mean([families[f][m]["psnr"] for f in families])) for m in methods}
    best = max((m for m in methods if m.startswith("biharmonic3d_mm@")), key=mean.__getitem__)
    report = {
        "benchmark": "spacing_exponent",
        "split": args.split,
        "patients": sorted({s.patient for s in sources}),
        "cases": len(cases),
        "families": families,
        "mean_psnr_over_families": mean,
        "best_exponent": float(best.split("@")[1]),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
