"""The infer task of the RFR Inpaint MONAI Label app: one inpainting method of ``rfr_inpaint`` per MONAI Label model.

A request (``POST /infer/<method>``) carries the image (an uploaded ``file`` or the id of a study of the studies
folder) and the hole: an uploaded ``label`` image on the image's grid (nonzero = hole), or, without a label, the voxels
at or above ``metal_threshold`` HU. The task runs the project's one volume path,
:func:`rfr_inpaint.volume.inpaint_volume` with :func:`rfr_inpaint.inpainters.get_inpainter`, and returns the
inpainted image with the input's grid and pixel type; every voxel outside the dilated hole is bit-identical to the
input. Request parameters (the ``params`` JSON of the request) are listed in :data:`PARAMETERS`; their defaults are
the package's (:mod:`rfr_inpaint.defaults`, :func:`inpaint_volume`, :class:`rfr_inpaint.inference.RFRInpainter`).

Bad requests raise :class:`RequestError` (an HTTP status and a message naming the problem); the app turns it into the
HTTP answer.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask
from rfr_inpaint.defaults import (
    DEFAULT_CT_WINDOW,
    DEFAULT_INTENSITY_MODE,
    DEFAULT_PERCENTILES,
    INTENSITY_MODES,
    MASK_MARGIN_MM,
    THRESHOLD_MARGIN_MM,
)
from rfr_inpaint.image_io import FORMATS_2D, FORMATS_3D, ImageIOError, MedicalImage, read_image, read_mask
from rfr_inpaint.inpainters import METHODS, get_inpainter, resolve_model_path
from rfr_inpaint.volume import DEFAULT_METAL_THRESHOLD_HU, inpaint_volume, metal_mask, slices_with_hole

__all__ = [
    "CLIENT_KEYS",
    "DEFAULT_RESULT_EXTENSION",
    "PARAMETERS",
    "RESULT_EXTENSIONS",
    "InpaintParams",
    "InpaintTask",
    "ReadInpaintingInputd",
    "RequestError",
    "parse_params",
]

logger = logging.getLogger(__name__)

#: request parameters accepted in the ``params`` JSON of ``POST /infer/<method>``
PARAMETERS: tuple[str, ...] = (
    "metal_threshold",
    "margin_mm",
    "axis",
    "intensity",
    "window",
    "percentiles",
    "batch_size",
    "mode",
    "context",
    "result_extension",
)
#: bookkeeping keys that MONAI Label clients add to every request (accepted, not used)
CLIENT_KEYS: tuple[str, ...] = ("client_id",)
#: result formats: one self-contained file (detached-header formats and DICOM would need several)
RESULT_EXTENSIONS: tuple[str, ...] = tuple(
    sorted(s for s in {**FORMATS_2D, **FORMATS_3D} if s not in (".nhdr", ".mhd", ".dcm"))
)
#: result format of inputs that have none of :data:`RESULT_EXTENSIONS` (DICOM series and files)
DEFAULT_RESULT_EXTENSION = ".nrrd"
#: RFR-Net-only parameters
_RFR_PARAMETERS = ("mode", "context")


def _defaults_of(function: Callable[..., Any], *names: str) -> dict[str, Any]:
    """Keyword defaults of ``function``: the server uses the package's own defaults, never copies of them."""
    parameters = inspect.signature(function).parameters
    return {name: parameters[name].default for name in names}


class RequestError(ValueError):
    """A request the server refuses: ``status`` is the HTTP status (4xx for the client's mistakes).

    Args:
        status: HTTP status code.
        message: what is wrong, naming the parameter or file.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


@dataclass(frozen=True)
class InpaintParams:
    """Validated parameters of one request.

    Attributes:
        metal_threshold: HU threshold of the hole when no label is uploaded (None with a label).
        margin_mm: dilation of the hole in mm.
        axis: NumPy axis of the slices.
        intensity: mode of :data:`rfr_inpaint.defaults.INTENSITY_MODES`.
        window: CT window of ``ct`` / ``auto``.
        percentiles: percentiles of ``percentile`` / ``auto``.
        batch_size: slices per inpainter call.
        rfr_options: ``mode`` / ``context`` given for RFR-Net (others keep the inpainter's defaults).
        result_extension: result format (None: the input's).
    """

    metal_threshold: float | None
    margin_mm: float
    axis: int
    intensity: str
    window: tuple[float, float]
    percentiles: tuple[float, float]
    batch_size: int
    rfr_options: tuple[tuple[str, Any], ...]
    result_extension: str | None


def _number(params: Mapping[str, Any], name: str, default: float, minimum: float | None = None) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(400, f"parameter {name!r} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise RequestError(400, f"parameter {name!r} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _integer(
    params: Mapping[str, Any], name: str, default: int, choices: Sequence[int] | None = None, minimum: int | None = None
) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(400, f"parameter {name!r} must be an integer, got {value!r}")
    if choices is not None and value not in choices:
        raise RequestError(400, f"parameter {name!r} must be one of {', '.join(map(str, choices))}, got {value!r}")
    if minimum is not None and value < minimum:
        raise RequestError(400, f"parameter {name!r} must be >= {minimum}, got {value!r}")
    return value


def _pair(params: Mapping[str, Any], name: str, default: Sequence[float]) -> tuple[float, float]:
    value = params.get(name, default)
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        and value[0] < value[1]
    ):
        raise RequestError(
            400, f"parameter {name!r} must be a pair [low, high] of numbers with low < high, got {value!r}"
        )
    return float(value[0]), float(value[1])


def parse_params(params: Mapping[str, Any], method: str, has_label: bool) -> InpaintParams:
    """Validate the parameters of a request for ``method``.

    Args:
        params: the request (other keys are ignored here; the app refuses unknown ones).
        method: the method (MONAI Label model) asked for.
        has_label: whether a label image was uploaded.

    Returns:
        the parameters, with the package's defaults for those not given.

    Raises:
        RequestError: a malformed value, both a label and ``metal_threshold``, RFR-only options for another method.
    """
    if has_label and "metal_threshold" in params:
        raise RequestError(400, "give either an uploaded label or 'metal_threshold', not both")
    volume_defaults = _defaults_of(inpaint_volume, "axis", "batch_size")
    intensity = params.get("intensity", DEFAULT_INTENSITY_MODE)
    if not isinstance(intensity, str) or intensity.lower() not in INTENSITY_MODES:
        raise RequestError(400, f"parameter 'intensity' must be one of {', '.join(INTENSITY_MODES)}, got {intensity!r}")
    rfr_options: list[tuple[str, Any]] = []
    given = [name for name in _RFR_PARAMETERS if name in params]
    if given and method != "rfr":
        raise RequestError(400, f"parameter(s) {', '.join(given)} only apply to method 'rfr', not {method!r}")
    if method == "rfr":
        from rfr_inpaint.inference import MODES, RFRInpainter

        defaults = _defaults_of(RFRInpainter.__init__, *_RFR_PARAMETERS)
        if "mode" in params:
            if params["mode"] not in MODES:
                raise RequestError(400, f"parameter 'mode' must be one of {', '.join(MODES)}, got {params['mode']!r}")
            rfr_options.append(("mode", params["mode"]))
        if "context" in params:
            rfr_options.append(("context", _integer(params, "context", defaults["context"], minimum=0)))
    extension = params.get("result_extension")
    if extension is not None and extension not in RESULT_EXTENSIONS:
        raise RequestError(
            400, f"parameter 'result_extension' must be one of {', '.join(RESULT_EXTENSIONS)}, got {extension!r}"
        )
    return InpaintParams(
        metal_threshold=None if has_label else _number(params, "metal_threshold", DEFAULT_METAL_THRESHOLD_HU),
        margin_mm=_number(params, "margin_mm", MASK_MARGIN_MM if has_label else THRESHOLD_MARGIN_MM, minimum=0),
        axis=_integer(params, "axis", volume_defaults["axis"], choices=(0, 1, 2)),
        intensity=intensity.lower(),
        window=_pair(params, "window", DEFAULT_CT_WINDOW),
        percentiles=_pair(params, "percentiles", DEFAULT_PERCENTILES),
        batch_size=_integer(params, "batch_size", volume_defaults["batch_size"], minimum=1),
        rfr_options=tuple(rfr_options),
        result_extension=extension,
    )


def _hide(message: str, path: str | os.PathLike, name: str) -> str:
    """``message`` with the server-side ``path`` replaced by what the client knows it as."""
    return str(message).replace(str(path), name)


class ReadInpaintingInputd:
    """Dictionary transform: read the request's image and its hole with their grid and pixel type.

    Reads ``data["image"]`` (a path) with :func:`rfr_inpaint.image_io.read_image` and the hole from ``data["label"]``
    (:func:`~rfr_inpaint.image_io.read_mask`, on the image's grid) or from the metal threshold. Sets ``"source"``
    (the :class:`~rfr_inpaint.image_io.MedicalImage`), ``"image"`` (its array), ``"hole"`` (bool) and
    ``"inpaint_params"`` (:class:`InpaintParams`).

    Args:
        method: the method the request is for (some parameters apply to ``rfr`` only).

    Raises:
        RequestError: unreadable image or label, a label on another grid, bad parameters, an empty hole.
    """

    def __init__(self, method: str):
        self.method = method

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        label = d.get("label")
        params = parse_params(d, self.method, has_label=bool(label))
        image_path = d["image"]
        try:
            source = read_image(image_path)
        except (FileNotFoundError, ImageIOError) as e:
            raise RequestError(400, "image: " + _hide(e, image_path, "the image")) from e
        if label:
            try:
                hole = read_mask(label, source)
            except (FileNotFoundError, ImageIOError) as e:
                raise RequestError(400, "label: " + _hide(_hide(e, label, "the label"), image_path, "the image")) from e
            if not hole.any():
                raise RequestError(400, "label: the uploaded label holds no hole voxel (all zero)")
        else:
            hole = metal_mask(source.array, params.metal_threshold)
            if not hole.any():
                raise RequestError(
                    400,
                    f"no hole: no voxel at or above metal_threshold {params.metal_threshold:g} "
                    f"(image maximum {float(np.max(source.array)):g}); upload a label or lower the threshold",
                )
        d.update(source=source, image=source.array, hole=hole, inpaint_params=params)
        return d


class InpaintTask(BasicInferTask):
    """MONAI Label infer task of one inpainting method (``InferType.OTHERS``: the result is an image, not a label).

    Args:
        method: a method of :data:`rfr_inpaint.inpainters.METHODS`.
        model_path: RFR-Net checkpoint or bundle folder (``rfr`` only).
        device: device of RFR-Net (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Raises:
        ValueError: unknown method, a model for a classical method, or ``rfr`` without a model.
    """

    def __init__(self, method: str, model_path: str | os.PathLike | None = None, device: str = "auto"):
        if method not in METHODS:
            raise ValueError(f"unknown inpainting method {method!r}; choose one of {', '.join(METHODS)}")
        if (method == "rfr") != (model_path is not None):
            raise ValueError("method 'rfr' needs a model and the classical methods take none")
        super().__init__(
            path=str(model_path) if model_path is not None else None,
            network=None,
            type=InferType.OTHERS,
            labels=None,
            dimension=3,
            description=f"Inpaint the hole (uploaded label, or voxels >= metal_threshold HU) with method {method!r}; "
            "returns the image with its grid and pixel type, voxels outside the dilated hole unchanged",
        )
        self._config.pop("device", None)  # the server's --conf device decides, not the request
        self.method = method
        self.model_path = model_path
        self.device = device
        self._lock = threading.Lock()
        self._cached: tuple[Any, Any] | None = None  # (key, inpainter) of the last RFR-Net options

    def info(self) -> dict[str, Any]:
        """MONAI Label model info, with the request parameters and their defaults."""
        info = super().info()
        info["method"] = self.method
        info["params"] = {
            "metal_threshold": DEFAULT_METAL_THRESHOLD_HU,
            "margin_mm": {"with label": MASK_MARGIN_MM, "with metal_threshold": THRESHOLD_MARGIN_MM},
            **_defaults_of(inpaint_volume, "axis", "batch_size"),
            "intensity": DEFAULT_INTENSITY_MODE,
            "window": list(DEFAULT_CT_WINDOW),
            "percentiles": list(DEFAULT_PERCENTILES),
            "result_extension": "the input's (one of " + ", ".join(RESULT_EXTENSIONS) + ")",
        }
        if self.method == "rfr":
            from rfr_inpaint.inference import RFRInpainter

            info["params"].update(_defaults_of(RFRInpainter.__init__, *_RFR_PARAMETERS))
        return info

    def is_valid(self) -> bool:
        """Classical methods always; RFR-Net when its model file or bundle exists."""
        return self.model_path is None or Path(self.model_path).exists()

    def pre_transforms(self, data: Mapping[str, Any] | None = None) -> Sequence[Callable]:
        return [ReadInpaintingInputd(self.method)]

    def post_transforms(self, data: Mapping[str, Any] | None = None) -> Sequence[Callable]:
        return []

    def _inpainter(self, params: InpaintParams) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The inpainter of ``params``; RFR-Net's is kept between requests (reloaded when its model file changes)."""
        if self.method != "rfr":
            return get_inpainter(self.method)
        from rfr_inpaint.safe_io import CheckpointError

        options = {"batch_size": params.batch_size, **dict(params.rfr_options)}
        try:  # the checkpoint's time stamp: a replaced model file is loaded again
            stamp = os.stat(resolve_model_path(self.model_path)).st_mtime_ns
        except FileNotFoundError as e:
            raise RequestError(503, "the server's RFR-Net model is gone: " + _hide(e, self.model_path, "model")) from e
        key = (stamp, tuple(sorted(options.items())))
        with self._lock:
            if self._cached is None or self._cached[0] != key:
                try:
                    inpainter = get_inpainter("rfr", model_path=self.model_path, device=self.device, **options)
                except (FileNotFoundError, CheckpointError, KeyError, RuntimeError) as e:
                    message = _hide(e, self.model_path, "model")
                    raise RequestError(503, f"the server's RFR-Net model cannot be loaded: {message}") from e
                except ValueError as e:
                    raise RequestError(400, f"RFR-Net options {options}: {e}") from e
                self._cached = (key, inpainter)
            return self._cached[1]

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cuda") -> dict[str, Any]:
        """Inpaint ``data["image"]`` inside ``data["hole"]`` with :func:`rfr_inpaint.volume.inpaint_volume`."""
        from rfr_inpaint.transforms.intensity import resolve_intensity

        params: InpaintParams = data["inpaint_params"]
        source: MedicalImage = data["source"]
        start = time.perf_counter()
        try:
            intensity = resolve_intensity(
                params.intensity,
                self.model_path if self.method == "rfr" else None,
                window=params.window,
                percentiles=params.percentiles,
            )
        except ValueError as e:
            raise RequestError(400, f"intensity: {e}") from e
        inpainter = self._inpainter(params)
        try:
            result, used = inpaint_volume(
                source.array,
                data["hole"],
                inpainter,
                axis=params.axis,
                spacing=source.spacing_numpy,
                margin_mm=params.margin_mm,
                intensity=intensity,
                batch_size=params.batch_size,
            )
        except ValueError as e:  # the request's image / hole / numbers (inpaint_volume names the problem)
            raise RequestError(400, f"inpainting refused: {e}") from e
        data["pred"] = result
        data["used_hole"] = used
        data["inpaint_seconds"] = time.perf_counter() - start
        return data

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[str, dict]:
        """Write the result on the input's grid and in its pixel type; returns ``(file, result JSON)``.

        The file lies in the server's temporary folder; MONAI Label deletes it once sent.
        """
        from rfr_inpaint.image_io import write_image

        params: InpaintParams = data["inpaint_params"]
        source: MedicalImage = data["source"]
        own = [s for s in RESULT_EXTENSIONS if source.path.name.lower().endswith(s)]
        suffix = params.result_extension or (max(own, key=len) if own else DEFAULT_RESULT_EXTENSION)
        fd, name = tempfile.mkstemp(prefix="inpainted-", suffix=suffix)
        os.close(fd)
        try:
            write_image(source, data["pred"], name, overwrite=True)
        except (ImageIOError, OSError) as e:
            os.unlink(name)
            raise RequestError(400, f"result_extension {suffix!r}: " + _hide(e, name, "the result")) from e
        used = data["used_hole"]
        return name, {
            "method": self.method,
            "hole_voxels": int(used.sum()),
            "slices": [int(i) for i in slices_with_hole(used, params.axis)] if used.ndim == 3 else [0],
            "margin_mm": params.margin_mm,
            "hole_from": "label" if data.get("label") else f"metal_threshold {params.metal_threshold:g} HU",
            "dtype": str(source.array.dtype),
            "shape": list(source.array.shape),
            "seconds": round(float(data["inpaint_seconds"]), 3),
        }
