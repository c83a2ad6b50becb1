"""RFR Inpaint as a MONAI Label app: RFR-Net and the classical inpainting methods served to Slicer and scripts.

Start (from the repository root; see ``docs/monailabel.md``)::

    monailabel start_server --app monailabel_app --studies studies --host 127.0.0.1 --port 8000 \\
        [--conf model PATH] [--conf device auto|cpu|cuda]

Each method of :data:`rfr_inpaint.inpainters.METHODS` is a MONAI Label model (``POST /infer/<method>``); ``rfr`` is
offered when a model is available: ``--conf model`` (an RFR-Net checkpoint or bundle folder), else the project's
shipped model when present (:func:`rfr_inpaint.locations.shipped_model_path`, which also looks in this repository's
``monai_bundle/``).

Where files may come from: a request names its image either by uploading it (``file``) or by the id of a study of
the studies folder, and its hole by uploading a ``label``; no request parameter can name any other server-side path.
Uploads land in a private temporary folder of this server (mode 0700) rather than the shared system one.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from lib.infers.inpaint import CLIENT_KEYS, PARAMETERS, InpaintTask, RequestError, parse_params
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.tasks.infer_v2 import InferTask
from rfr_inpaint.defaults import SHIPPED_MODEL
from rfr_inpaint.inpainters import METHODS
from rfr_inpaint.locations import shipped_model_path

logger = logging.getLogger(__name__)

#: keys the MONAI Label infer endpoint itself puts in a request
_ENDPOINT_KEYS = ("model", "image", "label")
#: the source's bundle folder, relative to the repository root (the app folder's parent)
_SOURCE_BUNDLE = "monai_bundle"


def _inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, root]) == root


def _shipped_model(app_dir: str | os.PathLike) -> Path | None:
    """The project's shipped model (also looked for in this repository's bundle folder), or None when absent."""
    try:
        return shipped_model_path(extra_dirs=[Path(app_dir).resolve().parent / _SOURCE_BUNDLE])
    except FileNotFoundError as e:
        logger.info("%s", e)
        return None


class RFRInpaintApp(MONAILabelApp):
    """The app: one :class:`lib.infers.inpaint.InpaintTask` per inpainting method.

    Args:
        app_dir: this folder.
        studies: the studies folder (or a DICOMweb URL).
        conf: ``--conf`` values: ``model`` (RFR-Net checkpoint or bundle folder), ``device`` (RFR-Net's device).

    Raises:
        FileNotFoundError: ``--conf model`` names a missing file.
    """

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]):
        conf = dict(conf or {})
        model = conf.get("model")
        if model is not None and not Path(model).exists():
            raise FileNotFoundError(f"--conf model {model}: RFR-Net model file or bundle folder not found")
        self.model_path = Path(model).resolve() if model else _shipped_model(app_dir)
        self.device = conf.get("device", "auto")
        # MONAI Label's infer endpoint writes uploads to tempfile's folder; a private one keeps patients' images out
        # of the shared /tmp and tells uploads apart from every other server path
        self.upload_dir = tempfile.mkdtemp(prefix="rfr-inpaint-monailabel-")
        atexit.register(shutil.rmtree, self.upload_dir, True)
        tempfile.tempdir = self.upload_dir
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="RFR Inpaint",
            description="Inpainting of masked regions (e.g. metal) of CT volumes and images with RFR-Net or "
            "classical methods; results keep the input's grid and pixel type",
            version="1",
        )

    def init_infers(self) -> dict[str, InferTask]:
        """One task per method; ``rfr`` only with a model."""
        infers: dict[str, InferTask] = {}
        for method in METHODS:
            if method == "rfr":
                if self.model_path is None:
                    logger.warning("method 'rfr' not offered: no --conf model and no %s", SHIPPED_MODEL)
                    continue
                infers[method] = InpaintTask(method, self.model_path, device=self.device)
            else:
                infers[method] = InpaintTask(method)
        return infers

    def _is_upload(self, path: Any) -> bool:
        return isinstance(path, str) and os.path.isfile(path) and _inside(path, self.upload_dir)

    def _check_request(self, request: dict[str, Any]) -> dict[str, Any]:
        """Refuse what the task must never see: unknown methods or parameters, server paths, bad numbers.

        Returns:
            the request with a study id replaced by its file.

        Raises:
            RequestError: the problem, with its HTTP status.
        """
        model = request.get("model")
        if model not in self._infers:
            offered = ", ".join(self._infers)
            hint = " ('rfr' needs a model: start the server with --conf model PATH)" if model == "rfr" else ""
            raise RequestError(404, f"unknown method {model!r}; this server offers {offered}{hint}")
        unknown = sorted(set(request) - {*_ENDPOINT_KEYS, *PARAMETERS, *CLIENT_KEYS})
        if unknown:
            raise RequestError(
                400, f"unknown parameter(s) {', '.join(map(repr, unknown))}; accepted: {', '.join(PARAMETERS)}"
            )
        label = request.get("label")
        if label is not None and not self._is_upload(label):
            raise RequestError(403, "the label must be uploaded as the request's 'label' file, not named by a path")
        image = request.get("image")
        if not isinstance(image, str) or not image:
            raise RequestError(400, "no image: upload it as the request's 'file' or give the id of a study (?image=)")
        if not self._is_upload(image):
            if os.path.isabs(image) or os.sep in image or "/" in image or image in (".", ".."):
                raise RequestError(403, f"image {image!r}: give the id of a study of the studies folder, not a path")
            uri = self.datastore().get_image_uri(image)
            if not uri:
                raise RequestError(404, f"image {image!r}: no such study in the studies folder")
            if isinstance(self.datastore(), LocalDatastore) and not _inside(uri, self.studies):
                raise RequestError(403, f"image {image!r}: the study's file lies outside the studies folder")
            request = {**request, "image": uri}
        parse_params(request, model, has_label=label is not None)  # bad numbers fail before any file is read
        return request

    def infer(self, request: dict[str, Any], datastore: Any = None) -> dict[str, Any]:
        """MONAI Label's inference, with the checks above and every refusal answered as a 4xx naming the problem.

        Raises:
            fastapi.HTTPException: the request was refused (4xx) or failed (5xx); ``detail`` says why.
        """
        uploads = [request.get(key) for key in ("image", "label") if self._is_upload(request.get(key))]
        try:
            request = self._check_request(dict(request))
            return super().infer(request, datastore)
        except RequestError as e:
            logger.info("refused (%d): %s", e.status, e.message)
            raise HTTPException(status_code=e.status, detail=e.message) from e
        except HTTPException:
            raise
        except Exception as e:
            logger.exception("inference failed")
            detail = f"inference failed: {type(e).__name__}: {e}"
            for folder, name in ((self.upload_dir, "<upload>"), (os.path.realpath(self.studies), "<studies>")):
                detail = detail.replace(folder, name)  # server paths stay on the server
            raise HTTPException(status_code=500, detail=detail) from e
        finally:
            # read by now: removed before the answer goes out, so no later request can name them (MONAI Label's own
            # clean-up runs after the answer)
            for path in uploads:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
