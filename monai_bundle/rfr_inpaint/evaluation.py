"""RFR-Net against what users would use instead: classical inpainters on the same images and the same holes.

Every method fills the same (image, hole) pairs; each result is scored in the hole only (:mod:`rfr_inpaint.metrics`:
SSIM with an 11 x 11 Gaussian window, PSNR with data range 1 and an MSE floor, RMSE, MAE). The outputs are:

* ``per_image.csv``: one row per (image, method): ``index, method, ssim, psnr, rmse, mae, hole_fraction``;
* ``summary.json``: per method and metric, ``mean``, ``std`` (sample standard deviation, ``ddof=1``; 0 for one
  image) and ``n`` (images counted; an image with an empty hole has NaN metrics and is left out, so no NaN or inf is
  ever averaged);
* ``summary.md``: the same as a Markdown table (mean +- std per method).

:class:`BaselineComparison` does this inside a MONAI evaluator (``evaluate.json``): at each iteration it takes the
evaluator's ``image`` (input with the hole zero-filled), ``label`` (truth), ``hole`` and ``pred`` (the model's
composited result), runs the baselines on the same arrays, and writes the files when the evaluator completes.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from rfr_inpaint.baselines import BASELINES, make_baseline
from rfr_inpaint.engines import HOLE_KEY
from rfr_inpaint.metrics import masked_mae, masked_psnr, masked_rmse, masked_ssim
from rfr_inpaint.safe_io import atomic_path

__all__ = [
    "METRICS",
    "DEFAULT_BASELINES",
    "check_baselines",
    "MODEL_NAME",
    "score",
    "compare",
    "summarize",
    "format_table",
    "write_results",
    "BaselineComparison",
]

logger = logging.getLogger(__name__)

#: metrics of the comparison, in column order, with whether higher is better.
METRICS: dict[str, bool] = {"ssim": True, "psnr": True, "rmse": False, "mae": False}
#: the classical methods compared by default (names of :data:`rfr_inpaint.baselines.BASELINES`): the slice-wise ones.
#: Not ``biharmonic3d``: this comparison scores independent 2D images (the bundle's test slices), which a volumetric
#: method would wrongly fill together as neighbouring slices, and on one slice alone it is ``biharmonic``. It is
#: compared on volumes, through :func:`rfr_inpaint.volume.inpaint_volume`.
DEFAULT_BASELINES = ("biharmonic", "telea", "ns", "mean")
#: method name of the model in the outputs.
MODEL_NAME = "rfr"


def _stack(x: Any, name: str) -> np.ndarray:
    """(N, H, W) float array from a tensor / array (N, 1, H, W), (N, H, W) or a list of (1, H, W) items."""
    if isinstance(x, (list, tuple)):
        x = np.stack([_stack(i[None], name)[0] for i in x])
    arr = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"{name}: expected one channel, got shape {arr.shape}")
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"{name}: expected (N, H, W) or (N, 1, H, W), got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def score(results: np.ndarray, truths: np.ndarray, holes: np.ndarray) -> dict[str, np.ndarray]:
    """Hole-region metrics of a stack of results.

    Args:
        results: (N, H, W) inpainted images in [0, 1].
        truths: (N, H, W) ground truth.
        holes: (N, H, W) masks, nonzero = hole.

    Returns:
        ``{metric: (N,) float64 array}`` for :data:`METRICS` (NaN for an image with an empty hole).

    Raises:
        ValueError: shapes differ.
    """
    if results.shape != truths.shape or results.shape != holes.shape:
        raise ValueError(f"shapes differ: results {results.shape}, truths {truths.shape}, holes {holes.shape}")
    p = torch.from_numpy(np.ascontiguousarray(results, dtype=np.float32))[:, None]
    t = torch.from_numpy(np.ascontiguousarray(truths, dtype=np.float32))[:, None]
    h = torch.from_numpy(np.ascontiguousarray(holes != 0, dtype=np.float32))[:, None]
    return {
        "ssim": masked_ssim(p, t, h).double().numpy(),
        "psnr": masked_psnr(p, t, h).double().numpy(),
        "rmse": masked_rmse(p, t, h).double().numpy(),
        "mae": masked_mae(p, t, h).double().numpy(),
    }


def _check_slice_wise(name: str, method: Any) -> None:
    if getattr(method, "volumetric", False):
        raise ValueError(
            f"method {name!r} fills consecutive slices of one volume together; the comparison scores independent 2D "
            "images (on one image it equals its 2D counterpart): compare it on volumes with "
            "rfr_inpaint.volume.inpaint_volume"
        )


def check_baselines(names: Iterable[str]) -> tuple[str, ...]:
    """Check the classical methods asked of the comparison, before any work (e.g. a spec's ``baselines``).

    Args:
        names: names of :data:`rfr_inpaint.baselines.BASELINES`.

    Returns:
        the names as a tuple.

    Raises:
        ValueError: an unknown name, or a volumetric method (``biharmonic3d``; see :data:`DEFAULT_BASELINES`).
    """
    names = tuple(str(n) for n in names)
    for name in names:
        if name not in BASELINES:
            raise ValueError(f"unknown classical inpainter '{name}'; choose one of {sorted(BASELINES)}")
        _check_slice_wise(name, BASELINES[name])
    return names


def compare(
    images: np.ndarray,
    truths: np.ndarray,
    holes: np.ndarray,
    methods: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    precomputed: Mapping[str, np.ndarray] | None = None,
    start_index: int = 0,
) -> list[dict[str, Any]]:
    """Run every method on the same images and holes and score them.

    Args:
        images: (N, H, W) inputs in [0, 1] (hole content is not used by any method).
        truths: (N, H, W) ground truth.
        holes: (N, H, W) masks, nonzero = hole.
        methods: slice-wise inpainters by name (``(images, holes bool) -> results``).
        precomputed: results already available by method name (e.g. the model's, from the evaluator).
        start_index: index of the first image (rows are numbered from it).

    Returns:
        rows ``{"index", "method", "hole_fraction", <metrics>}``, image by image, methods in the given order
        (precomputed first).

    Raises:
        ValueError: a volumetric method (the images are not slices of one volume).
        RuntimeError: a method returned an array of the wrong shape.
    """
    for name, method in methods.items():
        _check_slice_wise(name, method)
    holes_b = np.asarray(holes) != 0
    results: dict[str, np.ndarray] = {k: np.asarray(v, dtype=np.float32) for k, v in (precomputed or {}).items()}
    for name, method in methods.items():
        out = np.asarray(method(np.where(holes_b, 0.0, images).astype(np.float32), holes_b), dtype=np.float32)
        if out.shape != images.shape:
            raise RuntimeError(f"method {name!r} returned shape {out.shape} for input {images.shape}")
        results[name] = out
    scores = {name: score(out, truths, holes_b) for name, out in results.items()}
    fractions = holes_b.reshape(len(holes_b), -1).mean(axis=1)
    rows = []
    for i in range(len(images)):
        for name in results:
            row: dict[str, Any] = {"index": start_index + i, "method": name, "hole_fraction": float(fractions[i])}
            row.update({m: float(scores[name][m][i]) for m in METRICS})
            rows.append(row)
    return rows


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean, sample standard deviation and count per method and metric, over the finite values only.

    Args:
        rows: per-image rows of :func:`compare`.

    Returns:
        ``{method: {metric: {"mean", "std", "n"}}}`` in first-seen method order; ``mean`` / ``std`` are NaN when
        ``n`` is 0 and ``std`` is 0 when ``n`` is 1.
    """
    values: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        per = values.setdefault(str(row["method"]), {m: [] for m in METRICS})
        for m in METRICS:
            v = float(row[m])
            if math.isfinite(v):
                per[m].append(v)
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for method, per in values.items():
        summary[method] = {}
        for m, vals in per.items():
            arr = np.asarray(vals, dtype=np.float64)
            mean = float(arr.mean()) if arr.size else float("nan")
            std = float(arr.std(ddof=1)) if arr.size > 1 else (0.0 if arr.size == 1 else float("nan"))
            summary[method][m] = {"mean": mean, "std": std, "n": int(arr.size)}
    return summary


def format_table(summary: Mapping[str, Mapping[str, Mapping[str, float]]], digits: int = 4) -> str:
    """A Markdown table ``| method | ssim | psnr | rmse | mae |`` with ``mean ± std`` cells; the best mean of each
    metric is in bold.

    Args:
        summary: output of :func:`summarize`.
        digits: decimals (PSNR gets two fewer, at least 2).

    Returns:
        the table, with a header line and one line per method.
    """
    best: dict[str, float] = {}
    for m, higher in METRICS.items():
        means = [s[m]["mean"] for s in summary.values() if math.isfinite(s[m]["mean"])]
        if means:
            best[m] = max(means) if higher else min(means)
    lines = [
        "| method | "
        + " | ".join(f"{m} ({'higher' if h else 'lower'} is better)" for m, h in METRICS.items())
        + " | images |",
        "| --- |" + " --- |" * (len(METRICS) + 1),
    ]
    for method, s in summary.items():
        cells = []
        for m in METRICS:
            d = max(2, digits - 2) if m == "psnr" else digits
            cell = f"{s[m]['mean']:.{d}f} ± {s[m]['std']:.{d}f}"
            cells.append(f"**{cell}**" if m in best and s[m]["mean"] == best[m] else cell)
        n = max(int(s[m]["n"]) for m in METRICS)
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines) + "\n"


def write_results(
    rows: Sequence[Mapping[str, Any]], output_dir: str | os.PathLike, extra: Mapping | None = None
) -> dict:
    """Write ``per_image.csv``, ``summary.json`` and ``summary.md`` to ``output_dir`` (atomically).

    Args:
        rows: per-image rows of :func:`compare`.
        output_dir: folder (created when missing).
        extra: more entries for ``summary.json`` (e.g. the settings of the run).

    Returns:
        ``{"per_image": path, "summary_json": path, "summary_md": path, "summary": summary}``.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("no results to write")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fields = ["index", "method", *METRICS, "hole_fraction"]
    csv_path = out / "per_image.csv"
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in fields})
    summary = summarize(rows)
    json_path = out / "summary.json"
    payload = {"metrics": summary, "higher_is_better": METRICS, **dict(extra or {})}
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    md_path = out / "summary.md"
    with atomic_path(md_path) as tmp:
        tmp.write_text(format_table(summary))
    return {"per_image": csv_path, "summary_json": json_path, "summary_md": md_path, "summary": summary}


class BaselineComparison:
    """Ignite handler for an RFR evaluator: score the model's results and the classical baselines on the evaluator's
    images and holes, and write :func:`write_results`' files when the evaluation completes.

    Args:
        output_dir: folder of ``per_image.csv``, ``summary.json``, ``summary.md``.
        baselines: names of :data:`rfr_inpaint.baselines.BASELINES` to run (default :data:`DEFAULT_BASELINES`, every
            slice-wise one).
        baseline_options: constructor options per baseline name (e.g. ``{"telea": {"radius": 5}}``).
        model_name: method name of the model's results.
        extra: more entries for ``summary.json``.

    Raises:
        ValueError: unknown or volumetric baseline (:func:`check_baselines`).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        baselines: Sequence[str] = DEFAULT_BASELINES,
        baseline_options: Mapping[str, Mapping[str, Any]] | None = None,
        model_name: str = MODEL_NAME,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        options = dict(baseline_options or {})
        self.methods = {name: make_baseline(name, **dict(options.get(name, {}))) for name in check_baselines(baselines)}
        self.output_dir = Path(output_dir)
        self.model_name = model_name
        self.extra = dict(extra or {})
        self.rows: list[dict[str, Any]] = []
        self.paths: dict[str, Any] = {}
        self._count = 0

    def attach(self, engine: Engine) -> None:
        """Register on the evaluator."""
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.rows = []
        self._count = 0

    @staticmethod
    def _get(output: Any, key: str) -> Any:
        if isinstance(output, Mapping):
            return output[key]
        return [item[key] for item in output]

    def __call__(self, engine: Engine) -> None:
        output = engine.state.output
        images = _stack(self._get(output, "image"), "image")
        truths = _stack(self._get(output, "label"), "label")
        holes = _stack(self._get(output, HOLE_KEY), HOLE_KEY) > 0.5
        preds = _stack(self._get(output, "pred"), "pred")
        rows = compare(images, truths, holes, self.methods, {self.model_name: preds}, start_index=self._count)
        self.rows.extend(rows)
        self._count += len(images)

    def _write(self, engine: Engine) -> None:
        if not self.rows:
            return
        self.paths = write_results(self.rows, self.output_dir, {"images": self._count, **self.extra})
        logger.info("model vs baselines (hole region):\n" + format_table(self.paths["summary"]))
