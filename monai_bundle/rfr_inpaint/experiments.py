"""The seed study's experiment grids as one command: train on mask settings, test on mask settings, tabulate, plot.

A spec file (JSON or YAML) names the grid and the budget::

    {
        "name": "hole_ratio",
        "grid": {"kind": ["square"], "hole_ratio": [4, 8]},
        "train_on": "each",
        "budget": {"image_size": 32, "num_train_images": 8, "max_epochs": 2, "batch_size": 4},
        "test": {"num_test_images": 8, "seed": 2024},
        "baselines": ["biharmonic", "telea"]
    }

* ``grid``: a dict of axes (``kind``, ``count``, ``orientation``, ``hole_ratio``, ``size``, ``width``... any option of
  :class:`rfr_inpaint.transforms.masks.HoleMaskGenerator`) expanded as a Cartesian product, or a list of such dicts
  (their union, e.g. one grid for squares and one for strips). Each point is a mask setting.
* ``train_on``: ``"each"`` trains one model per setting and tests it on the same setting (in distribution);
  ``"all"`` trains one model per setting and tests each on every setting (the full train x test matrix, whose
  off-diagonal cells are the seed's out-of-distribution runs); a mask setting (dict) trains one model on it and tests
  it on every grid setting.
* ``budget``: overrides of ``configs/train.json`` (tiny by default so that a grid runs in minutes on a CPU).
* ``test``: number of test images and the seed of the test masks (the same images and masks for every model).
* ``baselines``: classical methods evaluated on the same test images (default none, to keep grids fast); slice-wise
  ones only, as the test images are independent slices (``biharmonic3d`` is compared on volumes: see
  :data:`rfr_inpaint.evaluation.DEFAULT_BASELINES`).

Every training run is ``configs/train.json`` and every test ``configs/evaluate.json`` (of the run's best model,
``models/train/model.pt``) through MONAI's ``ConfigWorkflow``, in ``<output_dir>/train_<i>/``. Outputs in
``output_dir``:

* ``results.csv``: one row per (train setting, test setting, method) with ``ssim``, ``psnr``, ``rmse``, ``mae``
  (mean and std over the test images), the measured mean hole fraction of the test masks, the iterations trained, and
  ``in_distribution``;
* ``history.csv``: the validation metrics of each training run against iterations;
* ``metrics_vs_hole_ratio.png`` and ``metrics_vs_iterations.png``;
* ``spec.json``: the expanded spec that was run.

Run from the bundle folder (or give it with ``--bundle_dir``: a regular ``pip install`` holds the package, not the
bundle's configs; see :func:`find_bundle_dir`)::

    python -m rfr_inpaint.experiments configs/experiments/hole_ratio.json --output_dir eval/experiments/hole_ratio
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.bundle import ConfigParser, ConfigWorkflow

from rfr_inpaint.evaluation import check_baselines
from rfr_inpaint.handlers import read_history
from rfr_inpaint.locations import search_bundle_dirs
from rfr_inpaint.safe_io import atomic_path

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_TEST",
    "BUNDLE_CONFIG_FILES",
    "find_bundle_dir",
    "load_spec",
    "expand_grid",
    "setting_label",
    "plan_runs",
    "run_experiments",
    "plot_results",
    "main",
]

logger = logging.getLogger(__name__)

#: training overrides used when the spec gives none (a few minutes per run on a 2-core CPU).
DEFAULT_BUDGET: dict[str, Any] = {
    "image_size": 32,
    "num_train_images": 8,
    "num_val_images": 4,
    "batch_size": 4,
    "max_epochs": 2,
    "val_interval": 1,
    "checkpoint_interval": 0,
}
#: test set used when the spec gives none.
DEFAULT_TEST: dict[str, Any] = {"num_test_images": 8, "seed": 2024}

_SPEC_KEYS = {"name", "grid", "train_on", "budget", "test", "baselines", "description"}
_METRICS = ("ssim", "psnr", "rmse", "mae")


#: the files of ``<bundle>/configs/`` that the experiments run (training, evaluation, the bundle's metadata).
BUNDLE_CONFIG_FILES: tuple[str, ...] = ("train.json", "evaluate.json", "metadata.json")


def _missing_configs(folder: Path) -> list[str]:
    return [name for name in BUNDLE_CONFIG_FILES if not (folder / "configs" / name).is_file()]


def find_bundle_dir(bundle_dir: str | os.PathLike | None = None) -> Path:
    """The MONAI bundle folder whose ``configs/`` the experiments run.

    ``bundle_dir`` when given (and only there); else the first folder of
    :func:`rfr_inpaint.locations.bundle_dir_candidates` (the current folder, MONAI's convention, then the folder that
    holds this package, the bundle itself in a source checkout or an editable install) that holds the configs. A
    regular install holds the package only, so there the bundle folder is the current one or ``bundle_dir``.

    Args:
        bundle_dir: the bundle folder, or None to look for it.

    Returns:
        the bundle folder (it holds ``configs/`` with every file of :data:`BUNDLE_CONFIG_FILES`).

    Raises:
        FileNotFoundError: ``bundle_dir`` lacks a config file, or no folder looked at is a bundle (the message names
            the folders and what each lacks).
    """
    if bundle_dir is not None:
        folder = Path(bundle_dir)
        missing = _missing_configs(folder)
        if missing:
            raise FileNotFoundError(f"{folder}: not a bundle folder: configs/ lacks {', '.join(missing)}")
        return folder
    found, looked = search_bundle_dirs([f"configs/{name}" for name in BUNDLE_CONFIG_FILES])
    if found is None:
        raise FileNotFoundError(
            "no MONAI bundle folder found: run from the bundle folder (monai_bundle/ of the source) or pass "
            "--bundle_dir; looked at " + "; ".join(looked)
        )
    return found


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check an experiment spec (JSON or YAML).

    Args:
        path: the spec file.

    Returns:
        the spec with defaults filled in (``train_on``, ``budget``, ``test``, ``baselines``, ``name``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown keys, no grid, a malformed grid / ``train_on``, or baselines that are unknown or
            volumetric.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: experiment spec not found")
    try:
        spec = ConfigParser.load_config_file(str(path))
    except Exception as e:  # json / yaml errors
        raise ValueError(f"{path}: cannot be read as JSON or YAML ({e})") from e
    if not isinstance(spec, Mapping):
        raise ValueError(f"{path}: the spec must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown spec keys {sorted(unknown)} (allowed: {sorted(_SPEC_KEYS)})")
    if "grid" not in spec:
        raise ValueError(f"{path}: the spec needs a 'grid' of mask settings")
    out = dict(spec)
    out.setdefault("name", path.stem)
    out.setdefault("train_on", "each")
    out["budget"] = {**DEFAULT_BUDGET, **dict(spec.get("budget") or {})}
    out["test"] = {**DEFAULT_TEST, **dict(spec.get("test") or {})}
    out.setdefault("baselines", [])
    try:
        expand_grid(out["grid"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    if not (out["train_on"] in ("each", "all") or isinstance(out["train_on"], Mapping)):
        raise ValueError(f"{path}: train_on must be 'each', 'all' or a mask setting, got {out['train_on']!r}")
    if isinstance(out["baselines"], str) or not isinstance(out["baselines"], Sequence):
        raise ValueError(f"{path}: baselines must be a list of method names, got {out['baselines']!r}")
    try:  # checked before any training: the evaluation after each run would refuse them
        out["baselines"] = list(check_baselines(out["baselines"]))
    except ValueError as e:
        raise ValueError(f"{path}: baselines: {e}") from e
    return out


def expand_grid(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Expand a grid (dict of axes, or a list of them) into mask settings, without duplicates, in order.

    A scalar axis value counts as a one-value axis. Every setting needs a ``kind``.

    Raises:
        ValueError: an empty grid, an empty axis or a setting without ``kind``.
    """
    grids = [grid] if isinstance(grid, Mapping) else list(grid)
    if not grids:
        raise ValueError("the grid is empty")
    settings: list[dict[str, Any]] = []
    for g in grids:
        if not isinstance(g, Mapping) or "kind" not in g:
            raise ValueError(f"each grid needs a 'kind' axis, got {g!r}")
        axes = {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in g.items()}
        empty = [k for k, v in axes.items() if not v]
        if empty:
            raise ValueError(f"grid axes {empty} have no values")
        for values in itertools.product(*axes.values()):
            setting = dict(zip(axes, values))
            if setting not in settings:
                settings.append(setting)
    return settings


def setting_label(setting: Mapping[str, Any]) -> str:
    """A short readable name of a mask setting, e.g. ``square hole_ratio=8``."""
    rest = " ".join(f"{k}={v}" for k, v in setting.items() if k != "kind")
    return f"{setting['kind']} {rest}".strip()


def plan_runs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The training runs of a spec, each with the mask settings it is tested on.

    Returns:
        ``[{"train": setting, "tests": [setting, ...]}, ...]``.
    """
    settings = expand_grid(spec["grid"])
    mode = spec.get("train_on", "each")
    if mode == "each":
        return [{"train": s, "tests": [s]} for s in settings]
    if mode == "all":
        return [{"train": s, "tests": list(settings)} for s in settings]
    return [{"train": dict(mode), "tests": list(settings)}]


def _workflow(bundle_dir: Path, configs: Sequence[str], run_id: str, workflow_type: str, **override: Any) -> None:
    files = [str(bundle_dir / "configs" / c) for c in configs]
    wf = ConfigWorkflow(
        config_file=files,
        meta_file=str(bundle_dir / "configs" / "metadata.json"),
        logging_file=False,
        run_id=run_id,
        workflow_type=workflow_type,
        **override,
    )
    wf.initialize()
    wf.run()
    wf.finalize()


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    fields: list[str] = []
    for r in rows:
        fields.extend(k for k in r if k not in fields)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: _fmt(v) for k, v in r.items()} for r in rows)


def run_experiments(
    spec: Mapping[str, Any] | str | os.PathLike,
    output_dir: str | os.PathLike,
    bundle_dir: str | os.PathLike | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Run every training and test of a spec and write the results, history and plots.

    Args:
        spec: a spec (as :func:`load_spec` returns) or its file.
        output_dir: folder of all outputs.
        bundle_dir: the bundle folder holding ``configs/`` (default: found by :func:`find_bundle_dir`).
        device: ``cpu`` / ``cuda:0``... (default: the configs' choice).

    Returns:
        ``{"results": rows, "history": rows, "files": {name: path}}``.

    Raises:
        FileNotFoundError: no spec file, or no bundle folder (:func:`find_bundle_dir`).
        ValueError: a malformed spec.
    """
    spec = load_spec(spec) if isinstance(spec, (str, os.PathLike)) else dict(spec)
    bundle = find_bundle_dir(bundle_dir)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = plan_runs(spec)
    extra: dict[str, Any] = {}
    if device is not None:
        extra["device"] = f"$torch.device('{device}')"
    budget = dict(spec["budget"])
    test = dict(spec["test"])
    results: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        root = out / f"train_{i}"
        train_label = setting_label(run["train"])
        logger.info(f"[{i + 1}/{len(runs)}] training on {train_label}")
        _workflow(
            bundle,
            ["train.json"],
            "training",
            "train",
            bundle_root=str(root),
            mask=dict(run["train"]),
            resume=False,
            **budget,
            **extra,
        )
        iterations = 0
        hist_file = root / "eval" / "validation_history.csv"
        if hist_file.is_file():
            for row in read_history(hist_file):
                history.append({"train": train_label, **row})
                iterations = max(iterations, int(row["iteration"]))
        for j, test_setting in enumerate(run["tests"]):
            test_dir = root / f"test_{j}"
            _workflow(
                bundle,
                ["train.json", "evaluate.json"],
                "evaluating",
                "train",
                bundle_root=str(root),
                model_path=str(root / "models" / "train" / "model.pt"),  # the run's best model, not the shipped one
                output_dir=str(test_dir),
                test_mask=dict(test_setting),
                test_mask_seed=int(test["seed"]),
                num_test_images=int(test["num_test_images"]),
                baselines=list(spec["baselines"]),
                **{k: v for k, v in budget.items() if k in ("image_size", "batch_size")},
                **extra,
            )
            summary = json.loads((test_dir / "summary.json").read_text())["metrics"]
            fraction = _mean_hole_fraction(test_dir / "per_image.csv")
            for method, metrics in summary.items():
                row: dict[str, Any] = {
                    "train": train_label,
                    "test": setting_label(test_setting),
                    "in_distribution": dict(test_setting) == dict(run["train"]),
                    "method": method,
                    "hole_fraction": fraction,
                    "iterations": iterations,
                }
                for m in _METRICS:
                    row[m] = metrics[m]["mean"]
                    row[f"{m}_std"] = metrics[m]["std"]
                row["n"] = max(int(metrics[m]["n"]) for m in _METRICS)
                for k, v in test_setting.items():
                    row[f"test_{k}"] = v
                results.append(row)
    files = {"results": out / "results.csv", "history": out / "history.csv", "spec": out / "spec.json"}
    _write_csv(results, files["results"])
    if history:
        _write_csv(history, files["history"])
    with atomic_path(files["spec"]) as tmp:
        tmp.write_text(json.dumps({**spec, "runs": runs}, indent=2, default=str) + "\n")
    files.update(plot_results(results, history, out))
    return {"results": results, "history": history, "files": files}


def _mean_hole_fraction(per_image_csv: Path) -> float:
    with open(per_image_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    first = rows[0]["method"]
    return float(np.mean([float(r["hole_fraction"]) for r in rows if r["method"] == first]))


def plot_results(
    results: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]], output_dir: str | os.PathLike
) -> dict[str, Path]:
    """Plot SSIM / PSNR against the test hole fraction (one line per train setting and method) and the validation
    metrics against iterations (one line per train setting).

    Returns:
        ``{"plot_hole_ratio": path, "plot_iterations": path}`` (the second only when there is a history).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    files: dict[str, Path] = {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    series: dict[str, dict[str, tuple[float, float, float]]] = {}
    for r in results:  # baselines do not depend on the training run: one point per test setting
        label = r["method"] if r["method"] != "rfr" else f"rfr (train: {r['train']})"
        point = (float(r["hole_fraction"]), float(r["ssim"]), float(r["psnr"]))
        series.setdefault(label, {}).setdefault(str(r["test"]), point)
    for label, by_test in series.items():
        points = sorted(by_test.values())
        x = [p[0] * 100 for p in points]
        axes[0].plot(x, [p[1] for p in points], marker="o", label=label)
        axes[1].plot(x, [p[2] for p in points], marker="o", label=label)
    for ax, name in zip(axes, ("SSIM (hole)", "PSNR (hole, dB)")):
        ax.set_xlabel("hole area (% of the image)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    files["plot_hole_ratio"] = out / "metrics_vs_hole_ratio.png"
    with atomic_path(files["plot_hole_ratio"]) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    if history:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        by_run: dict[str, list[Mapping[str, Any]]] = {}
        for h in history:
            by_run.setdefault(str(h["train"]), []).append(h)
        for label, rows in by_run.items():
            rows = sorted(rows, key=lambda r: r["iteration"])
            axes[0].plot(
                [r["iteration"] for r in rows], [r.get("val_ssim", np.nan) for r in rows], marker="o", label=label
            )
            axes[1].plot(
                [r["iteration"] for r in rows], [r.get("val_psnr", np.nan) for r in rows], marker="o", label=label
            )
        for ax, name in zip(axes, ("validation SSIM (hole)", "validation PSNR (hole, dB)")):
            ax.set_xlabel("training iterations")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        files["plot_iterations"] = out / "metrics_vs_iterations.png"
        with atomic_path(files["plot_iterations"]) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m rfr_inpaint.experiments SPEC [--output_dir DIR] [--bundle_dir DIR] [--device D]``."""
    parser = argparse.ArgumentParser(prog="python -m rfr_inpaint.experiments", description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="experiment spec file (JSON or YAML)")
    parser.add_argument("--output_dir", default=None, help="output folder (default: eval/experiments/<name>)")
    parser.add_argument(
        "--bundle_dir", default=None, help="bundle folder holding configs/ (default: the current one, or the source's)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda:0, ... (default: CUDA when available)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    try:
        spec = load_spec(args.spec)
        bundle_dir = find_bundle_dir(args.bundle_dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    output_dir = args.output_dir or os.path.join("eval", "experiments", spec["name"])
    result = run_experiments(spec, output_dir, bundle_dir, args.device)
    for name, path in result["files"].items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
