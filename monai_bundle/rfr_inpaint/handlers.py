"""Ignite handlers of the bundle: atomic resumable checkpoints, resume, best-model export, example PNGs, metric history.

MONAI's own handlers (``StatsHandler``, ``TensorBoardStatsHandler``, ``ValidationHandler``, ``LrScheduleHandler``,
``MetricsSaver``, ``EarlyStopHandler``) do the rest. The checkpoint handlers here differ from MONAI's
``CheckpointSaver`` / ``CheckpointLoader`` in two ways the bundle needs: files are written atomically through
:mod:`rfr_inpaint.safe_io` (an interrupted run never leaves a truncated checkpoint behind, so it can always resume),
and the latest checkpoint is found and loaded by itself, with ``weights_only=True``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint
from ignite.handlers.checkpoint import BaseSaveHandler
from PIL import Image

from rfr_inpaint.engines import HOLE_KEY, unwrap
from rfr_inpaint.safe_io import CheckpointError, atomic_path, atomic_torch_save, load_checkpoint

__all__ = [
    "AtomicDiskSaver",
    "TrainingCheckpointSaver",
    "ResumeFromCheckpoint",
    "BestModelSaver",
    "ExampleImageSaver",
    "ValidationHistoryWriter",
    "latest_checkpoint",
    "read_history",
    "example_panel",
]

logger = logging.getLogger(__name__)

_CKPT_RE = re.compile(r"^(?P<prefix>.+)_(?P<step>\d+)\.pt$")


class AtomicDiskSaver(BaseSaveHandler):
    """Ignite save handler writing each checkpoint through :func:`rfr_inpaint.safe_io.atomic_torch_save`.

    Args:
        dirname: folder of the checkpoints (created when missing).
    """

    def __init__(self, dirname: str | os.PathLike) -> None:
        self.dirname = Path(dirname)
        self.dirname.mkdir(parents=True, exist_ok=True)

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        atomic_torch_save(checkpoint, self.dirname / filename)

    def remove(self, filename: str) -> None:
        path = self.dirname / filename
        if path.exists():
            path.unlink()


def latest_checkpoint(ckpt_dir: str | os.PathLike, prefix: str = "checkpoint") -> Path | None:
    """The checkpoint ``<prefix>_<iteration>.pt`` with the largest iteration in ``ckpt_dir`` (None when none).

    Args:
        ckpt_dir: folder to search.
        prefix: file name prefix written by :class:`TrainingCheckpointSaver`.

    Returns:
        the path, or None.
    """
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for path in folder.iterdir():
        match = _CKPT_RE.match(path.name)
        if match and match.group("prefix") == prefix and path.is_file():
            step = int(match.group("step"))
            if best is None or step > best[0]:
                best = (step, path)
    return None if best is None else best[1]


class TrainingCheckpointSaver:
    """Save everything needed to resume (network, optimizer, LR scheduler, best metric, trainer state) every
    ``save_interval`` iterations and when training completes, as ``<save_dir>/<prefix>_<iteration>.pt``.

    Files are written atomically and only the ``n_saved`` most recent are kept. A checkpoint that falls on the last
    iteration of an epoch is written at the end of the epoch, after the epoch-level handlers attached before this
    one (attach it last), so that a resumed run neither repeats nor misses an LR-schedule step or a validation.
    Only rank 0 writes in a distributed run; DDP-wrapped networks are saved unwrapped (Ignite's
    :class:`~ignite.handlers.Checkpoint`).

    Args:
        save_dir: folder of the checkpoints.
        save_dict: objects with ``state_dict()`` to save, e.g. ``{"network": net, "optimizer": opt,
            "lr_scheduler": sched}``.
        save_interval: iterations between two checkpoints (0: only at the end).
        n_saved: how many recent checkpoints are kept.
        prefix: file name prefix.
        save_trainer: also save the state of the engine the saver is attached to, as ``"trainer"`` (iteration,
            epoch), which a config cannot reference from inside the trainer's own handlers.

    Raises:
        ValueError: empty ``save_dict`` or a negative interval.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: Mapping[str, Any],
        save_interval: int = 100,
        n_saved: int = 2,
        prefix: str = "checkpoint",
        save_trainer: bool = True,
    ) -> None:
        if not save_dict:
            raise ValueError("save_dict must name at least one object to save")
        if save_interval < 0:
            raise ValueError(f"save_interval must be >= 0, got {save_interval}")
        self.save_dir = Path(save_dir)
        self.save_dict = dict(save_dict)
        self.save_interval = int(save_interval)
        self.n_saved = int(n_saved)
        self.prefix = prefix
        self.save_trainer = save_trainer
        self._checkpoint: Checkpoint | None = None
        self._last_saved = -1

    def attach(self, engine: Engine) -> None:
        """Register the saver on the trainer (rank 0 only)."""
        if idist.get_rank() != 0:
            return
        if self.save_trainer:
            self.save_dict["trainer"] = engine
        self._checkpoint = Checkpoint(
            to_save=self.save_dict,
            save_handler=AtomicDiskSaver(self.save_dir),
            filename_prefix="",
            n_saved=self.n_saved,
            global_step_transform=lambda eng, _: eng.state.iteration,
            filename_pattern=f"{self.prefix}_{{global_step}}.{{ext}}",
        )
        if self.save_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_interval), self._save_within_epoch)
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._save_at_epoch_end)
        engine.add_event_handler(Events.COMPLETED, self._save)

    def _save_within_epoch(self, engine: Engine) -> None:
        # The last iteration of an epoch is saved at EPOCH_COMPLETED instead, after the epoch-level handlers attached
        # before this one (LR schedule, validation, best model) have run, so that a resume does not repeat them.
        if engine.state.epoch_length and engine.state.iteration % engine.state.epoch_length == 0:
            return
        self._save(engine)

    def _save_at_epoch_end(self, engine: Engine) -> None:
        if engine.state.iteration % self.save_interval == 0:
            self._save(engine)

    def _save(self, engine: Engine) -> None:
        if self._checkpoint is None or engine.state.iteration == self._last_saved:
            return
        if (self.save_dir / f"{self.prefix}_{engine.state.iteration}.pt").exists():  # e.g. a finished run restarted
            self._last_saved = engine.state.iteration
            return
        self._checkpoint(engine)
        self._last_saved = engine.state.iteration
        logger.info(f"saved checkpoint {self.save_dir / f'{self.prefix}_{engine.state.iteration}.pt'}")


class ResumeFromCheckpoint:
    """When training starts, load the latest ``<prefix>_<iteration>.pt`` of ``ckpt_dir`` (if any) so that an
    interrupted or extended run continues from it: network, optimizer, LR scheduler, iteration / epoch and the
    evaluator's best metric.

    The configured ``max_epochs`` wins over the saved one, so a finished run can be extended by raising it. The file
    is loaded with ``weights_only=True`` (:func:`rfr_inpaint.safe_io.load_checkpoint`).

    Args:
        ckpt_dir: folder of :class:`TrainingCheckpointSaver`'s files.
        load_dict: the objects to restore, normally the saver's ``save_dict``.
        enabled: False turns resuming off (a fresh run even when checkpoints exist).
        prefix: file name prefix.
        map_location: device of the loaded tensors (default: where the network lives).
        load_trainer: also restore the state of the engine the handler is attached to (saved as ``"trainer"``).

    Raises:
        CheckpointError: the latest checkpoint cannot be read or does not fit (named in the message).
    """

    def __init__(
        self,
        ckpt_dir: str | os.PathLike,
        load_dict: Mapping[str, Any],
        enabled: bool = True,
        prefix: str = "checkpoint",
        map_location: str | torch.device | None = None,
        load_trainer: bool = True,
    ) -> None:
        self.ckpt_dir = Path(ckpt_dir)
        self.load_dict = dict(load_dict)
        self.enabled = enabled
        self.prefix = prefix
        self.map_location = map_location
        self.load_trainer = load_trainer
        self.loaded_from: Path | None = None

    def attach(self, engine: Engine) -> None:
        """Register on the trainer's ``STARTED`` event."""
        if self.load_trainer:
            self.load_dict["trainer"] = engine
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        if not self.enabled:
            return
        path = latest_checkpoint(self.ckpt_dir, self.prefix)
        if path is None:
            logger.info(f"no checkpoint in {self.ckpt_dir}: training from the start")
            return
        map_location = self.map_location
        if map_location is None:
            map_location = getattr(engine.state, "device", None) or "cpu"
        checkpoint = load_checkpoint(path, map_location=map_location)
        missing = [k for k in self.load_dict if k not in checkpoint]
        if missing:
            raise CheckpointError(f"{path}: cannot resume, the checkpoint has no {missing} (has {sorted(checkpoint)})")
        max_epochs = engine.state.max_epochs
        try:
            Checkpoint.load_objects(to_load=self.load_dict, checkpoint=checkpoint)
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{path}: cannot resume from it: {str(e).splitlines()[0]}") from e
        engine.state.max_epochs = max_epochs
        self.loaded_from = path
        logger.info(f"resumed from {path} at iteration {engine.state.iteration} (epoch {engine.state.epoch})")


def _atomic_link_or_copy(source: Path, destination: Path) -> None:
    """Make ``destination`` a hard link to ``source`` (a copy where links are not possible), replacing it atomically.

    A later atomic replacement of ``source`` gives it a new inode, so the destination keeps this content.
    """
    with atomic_path(destination) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


class BestModelSaver:
    """Write the network's weights (a bare state dict, unwrapped from DDP) to each of ``save_paths`` every time the
    evaluator's key metric improves, atomically. Attach to the evaluator; only rank 0 writes.

    The training configs give their stage's ``models/<stage>/model.pt``, never the shipped ``models/model.pt`` that
    ``inference.json``, ``evaluate.json`` and ``ckpt_export`` read by default (they take ``--model_path``). The
    first path is written, the others are linked to it. The best value seen so far is part of :meth:`state_dict`,
    so a resumed run (the saver is in the resume checkpoint) keeps comparing against the best validation from before
    the interruption.

    Args:
        network: the network (possibly DDP-wrapped).
        save_paths: output file(s).

    Raises:
        ValueError: no output path.
    """

    def __init__(self, network: torch.nn.Module, save_paths: str | os.PathLike | Sequence[str | os.PathLike]) -> None:
        paths = [save_paths] if isinstance(save_paths, (str, os.PathLike)) else list(save_paths)
        if not paths:
            raise ValueError("BestModelSaver needs at least one output path")
        self.paths = [Path(p) for p in paths]
        self.network = network
        self.engine: Engine | None = None
        self._pending: dict[str, Any] | None = None

    def attach(self, engine: Engine) -> None:
        """Register on the evaluator's ``EPOCH_COMPLETED`` (after MONAI's key-metric comparison)."""
        self.engine = engine
        if self._pending is not None:
            self.load_state_dict(self._pending)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def state_dict(self) -> dict[str, Any]:
        """The evaluator's best key metric and its epoch."""
        if self.engine is None:
            return {"best_metric": -1.0, "best_metric_epoch": -1}
        return {
            "best_metric": float(self.engine.state.best_metric),
            "best_metric_epoch": int(self.engine.state.best_metric_epoch),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the evaluator's best key metric (applied when attached if the evaluator is not yet known)."""
        if self.engine is None:
            self._pending = dict(state)
            return
        self.engine.state.best_metric = float(state["best_metric"])
        self.engine.state.best_metric_epoch = int(state["best_metric_epoch"])

    def __call__(self, engine: Engine) -> None:
        if idist.get_rank() != 0 or engine.state.best_metric_epoch != engine.state.epoch:
            return
        state = {k: v.detach().cpu() for k, v in unwrap(self.network).state_dict().items()}
        atomic_torch_save(state, self.paths[0])
        for path in self.paths[1:]:
            _atomic_link_or_copy(self.paths[0], path)
        logger.info(f"key metric improved to {engine.state.best_metric:.4f}: saved {', '.join(map(str, self.paths))}")


def _to_numpy_2d(x: Any) -> np.ndarray:
    arr = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"expected a one-channel 2D image, got shape {arr.shape}")
    return arr


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def example_panel(
    image: np.ndarray, result: np.ndarray, truth: np.ndarray, hole: np.ndarray, diff_gain: float = 4.0
) -> dict[str, np.ndarray]:
    """The four views of one example as uint8 images, plus them side by side.

    Args:
        image: the input with its hole (2D, [0, 1]).
        result: the composited result.
        truth: the ground truth.
        hole: the hole mask (1 = hole).
        diff_gain: the difference view shows ``|result - truth| * diff_gain`` (clipped to 1).

    Returns:
        ``{"input", "result", "truth", "difference", "panel"}``; in ``input`` the hole is drawn in mid-gray so that
        it is visible on dark backgrounds.
    """
    shown = np.where(hole > 0.5, 0.5, image)
    views = {
        "input": _to_uint8(shown),
        "result": _to_uint8(result),
        "truth": _to_uint8(truth),
        "difference": _to_uint8(np.abs(result - truth) * diff_gain),
    }
    gap = np.full((image.shape[0], 2), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for v in views.values():
        parts.extend([v, gap])
    views["panel"] = np.concatenate(parts[:-1], axis=1)
    return views


def _write_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


class ExampleImageSaver:
    """Save example PNGs (input with hole, result, truth, difference, and a panel of the four) of the first
    ``num_images`` images of each evaluation. Attach to an evaluator.

    Files: ``<output_dir>/epoch<E>_<k>_{input,result,truth,difference,panel}.png`` where ``E`` is the evaluator's
    (global) epoch; with ``keep_all=False`` the epoch is left out of the name and each evaluation overwrites them.

    Args:
        output_dir: folder of the PNGs.
        num_images: images saved per evaluation.
        diff_gain: gain of the difference view.
        keep_all: keep the PNGs of every evaluation.
    """

    def __init__(
        self, output_dir: str | os.PathLike, num_images: int = 4, diff_gain: float = 4.0, keep_all: bool = False
    ) -> None:
        self.output_dir = Path(output_dir)
        self.num_images = int(num_images)
        self.diff_gain = float(diff_gain)
        self.keep_all = keep_all
        self._saved = 0
        self.written: list[Path] = []

    def attach(self, engine: Engine) -> None:
        """Register on the evaluator (rank 0 only)."""
        if idist.get_rank() != 0:
            return
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _reset(self, engine: Engine) -> None:
        self._saved = 0

    def __call__(self, engine: Engine) -> None:
        if self._saved >= self.num_images:
            return
        output = engine.state.output
        items: Sequence[Mapping[str, Any]]
        if isinstance(output, Mapping):  # batch-first (decollate=False)
            n = len(output["pred"])
            items = [{k: output[k][i] for k in ("image", "pred", "label", HOLE_KEY)} for i in range(n)]
        else:
            items = output  # type: ignore[assignment]
        for item in items:
            if self._saved >= self.num_images:
                break
            views = example_panel(
                _to_numpy_2d(item["image"]),
                _to_numpy_2d(item["pred"]),
                _to_numpy_2d(item["label"]),
                _to_numpy_2d(item[HOLE_KEY]),
                self.diff_gain,
            )
            stem = f"epoch{engine.state.epoch:04d}_{self._saved}" if self.keep_all else f"example_{self._saved}"
            for name, array in views.items():
                path = self.output_dir / f"{stem}_{name}.png"
                _write_png(array, path)
                self.written.append(path)
            self._saved += 1


class ValidationHistoryWriter:
    """Append the validator's metrics to a CSV (``iteration, epoch, <metric>...``) each time it has run; attach to
    the trainer after the ``ValidationHandler`` so that it sees this epoch's validation.

    Rows of an earlier run at iterations beyond the resumed one are dropped, so a resumed run's history is consistent
    (attach it after :class:`ResumeFromCheckpoint`, which sets the resumed iteration at ``STARTED``).
    The file is rewritten atomically. Only rank 0 writes.

    Args:
        validator: the evaluator run by the ``ValidationHandler``.
        filename: the CSV file.
    """

    def __init__(self, validator: Engine, filename: str | os.PathLike) -> None:
        self.validator = validator
        self.path = Path(filename)
        self.rows: list[dict[str, Any]] = []
        self._last_epoch = -1

    def attach(self, engine: Engine) -> None:
        """Register on the trainer (rank 0 only)."""
        if idist.get_rank() != 0:
            return
        engine.add_event_handler(Events.STARTED, self._load)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _load(self, engine: Engine) -> None:
        self.rows = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                for row in csv.DictReader(f):
                    if int(row["iteration"]) <= engine.state.iteration:
                        self.rows.append(row)

    def __call__(self, engine: Engine) -> None:
        state = self.validator.state
        if state.epoch != engine.state.epoch or state.epoch == self._last_epoch or not state.metrics:
            return
        self._last_epoch = state.epoch
        row: dict[str, Any] = {"iteration": engine.state.iteration, "epoch": engine.state.epoch}
        for name, value in state.metrics.items():
            if isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
                value = float(value)
                row[name] = "nan" if math.isnan(value) else f"{value:.6g}"
        self.rows.append(row)
        fields: list[str] = []
        for r in self.rows:
            fields.extend(k for k in r if k not in fields)
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(self.rows)


def read_history(filename: str | os.PathLike) -> list[dict[str, float]]:
    """Read a :class:`ValidationHistoryWriter` CSV as a list of rows of floats."""
    with open(filename, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(f)]
