"""Inpainting on a MONAI Label server running the RFR Inpaint app (``monailabel_app/``): the client side.

The volume and its hole are written as NRRD files (voxel spacing kept) and sent to ``POST /infer/<method>``, MONAI
Label's ``MONAILabelClient.infer(model, image_id, params, label_in=mask, file=volume)``; the answer is the inpainted
volume with the input's pixel type. No Qt: used by the Slicer module's logic, by ``PythonSlicer`` and by plain Python.

Which HTTP client (:attr:`InpaintingServerClient.backend`):

* ``monailabel``: MONAI Label's own ``MONAILabelClient``, from the ``monailabel`` package or, inside 3D Slicer, from
  the MONAILabel extension's ``MONAILabelLib`` (the same class), when one of them imports;
* ``requests``: otherwise, the same request with ``requests`` (shipped with 3D Slicer), the answer's multipart body
  parsed with the standard library's ``email`` package. It honours ``timeout``; MONAI Label's client has none.

Example::

    client = InpaintingServerClient("http://127.0.0.1:8000")
    result, info = client.inpaint_array(volume, hole, spacing=(3.0, 0.8, 0.8), method="biharmonic")
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import importlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

__all__ = ["CLIENT_MODULES", "InpaintingServerClient", "ServerError", "monailabel_client_class"]

#: modules searched, in order, for MONAI Label's ``MONAILabelClient``
CLIENT_MODULES: tuple[str, ...] = ("monailabel.client", "MONAILabelLib")


class ServerError(RuntimeError):
    """The server refused or failed a request, or cannot be reached.

    Attributes:
        status: the HTTP status (None when no answer came).
        message: the server's explanation (its ``detail``), or why no answer came.
    """

    def __init__(self, status: int | None, message: str):
        super().__init__(f"MONAI Label server: {message}" + (f" (HTTP {status})" if status else ""))
        self.status = status
        self.message = message


def monailabel_client_class() -> type | None:
    """MONAI Label's ``MONAILabelClient`` class from the first module of :data:`CLIENT_MODULES` that imports, or
    None."""
    for name in CLIENT_MODULES:
        try:
            return importlib.import_module(name).MONAILabelClient
        except (ImportError, AttributeError):  # absent, or unusable here (e.g. no ``cgi`` in Python >= 3.13)
            continue
    return None


def _detail(status: int | None, body: Any) -> ServerError:
    """A :class:`ServerError` with the ``detail`` of a FastAPI error body (or the body itself)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    return ServerError(status, str(detail).strip() or "no message")


def _write_nrrd(array: np.ndarray, spacing: Sequence[float], path: Path) -> None:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(tuple(float(s) for s in reversed(tuple(spacing))))
    sitk.WriteImage(image, str(path), useCompression=True)


class InpaintingServerClient:
    """Calls of the RFR Inpaint app on a MONAI Label server.

    Args:
        server_url: e.g. ``http://127.0.0.1:8000``.
        timeout: seconds to wait for an answer (``requests`` backend only).
        backend: ``monailabel``, ``requests``, or None: ``monailabel`` when its client imports.

    Raises:
        ValueError: a URL that is not http(s), or an unknown backend.
        ImportError: ``backend="monailabel"`` and MONAI Label's client does not import.
    """

    def __init__(self, server_url: str, timeout: float = 600.0, backend: str | None = None):
        url = str(server_url).strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"server URL {server_url!r} must start with http:// or https://")
        self.server_url = url
        self.timeout = float(timeout)
        client_class = monailabel_client_class() if backend in (None, "monailabel") else None
        if backend == "monailabel" and client_class is None:
            raise ImportError(f"MONAI Label's client is not importable (looked in {', '.join(CLIENT_MODULES)})")
        if backend not in (None, "monailabel", "requests"):
            raise ValueError(f"unknown backend {backend!r}; choose monailabel or requests")
        self._client_class = client_class
        self.backend = "monailabel" if client_class is not None else "requests"

    # ------------------------------------------------------------------------------------------------- requests
    def methods(self) -> list[str]:
        """The methods (MONAI Label models) the server offers, from ``GET /info/``.

        Raises:
            ServerError: no answer or an error answer.
        """
        if self._client_class is not None:
            info = self._call(lambda client: client.info())
        else:
            response = self._requests("get", f"{self.server_url}/info/")
            info = response.json()
        return list(info.get("models", {}))

    def infer_file(
        self,
        method: str,
        image: str | os.PathLike | None = None,
        label: str | os.PathLike | None = None,
        params: Mapping[str, Any] | None = None,
        image_id: str = "",
        output_dir: str | os.PathLike | None = None,
    ) -> tuple[Path, dict[str, Any]]:
        """Inpaint an image file (uploaded) or a study of the server's studies folder (``image_id``).

        Args:
            method: the method (MONAI Label model), e.g. ``rfr`` or ``biharmonic``.
            image: image file to upload; None: use ``image_id``.
            label: hole mask file on the image's grid (nonzero = hole); None: the server thresholds metal
                (``params["metal_threshold"]``).
            params: request parameters (``margin_mm``, ``metal_threshold``, ``axis``, ``intensity``...; see
                ``docs/monailabel.md``).
            image_id: id of a study on the server, when no ``image`` is uploaded.
            output_dir: folder of the result file (default: a new temporary folder).

        Returns:
            ``(result file, result JSON)``; the JSON holds ``hole_voxels``, ``slices``, ``seconds``...

        Raises:
            ServerError: the server refused the request (its message) or cannot be reached.
            ValueError: neither ``image`` nor ``image_id``.
        """
        if image is None and not image_id:
            raise ValueError("give an image file to upload or the image_id of a study on the server")
        out = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="RFRInpaint-server-"))
        out.mkdir(parents=True, exist_ok=True)
        params = dict(params or {})
        if self._client_class is not None:
            # MONAILabelClient saves the answer's file under its own name in ``tmpdir``: a folder of this call only
            scratch = Path(tempfile.mkdtemp(prefix="RFRInpaint-answer-"))
            try:
                result, info = self._call(
                    lambda client: client.infer(
                        method,
                        image_id,
                        params,
                        label_in=str(label) if label is not None else None,
                        file=str(image) if image is not None else None,
                    ),
                    tmpdir=str(scratch),
                )
                if not result:
                    raise ServerError(200, f"the answer to {method!r} holds no image")
                target = out / Path(result).name
                shutil.move(result, target)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return target, dict(info or {})
        return self._infer_requests(method, image, label, params, image_id, out)

    def inpaint_array(
        self,
        volume: np.ndarray,
        hole: np.ndarray | None,
        spacing: Sequence[float],
        method: str,
        params: Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Inpaint a NumPy volume on the server.

        Args:
            volume: ``(z, y, x)`` (or 2D ``(y, x)``) values, any real dtype (kept).
            hole: mask of the same shape (nonzero = hole), or None: the server thresholds metal.
            spacing: voxel spacing in NumPy axis order, mm.
            method: the method (MONAI Label model).
            params: request parameters (see :meth:`infer_file`).

        Returns:
            ``(result, result JSON)``: the result has ``volume``'s shape and dtype.

        Raises:
            ServerError: the server refused the request or cannot be reached, or its answer does not fit the volume.
            ValueError: ``hole`` and ``volume`` shapes differ, or ``spacing`` does not fit.
        """
        volume = np.asarray(volume)
        if hole is not None and np.shape(hole) != volume.shape:
            raise ValueError(f"hole of shape {np.shape(hole)} does not match the volume of shape {volume.shape}")
        if len(spacing) != volume.ndim:
            raise ValueError(f"spacing {tuple(spacing)} has {len(spacing)} values for a {volume.ndim}D volume")
        import SimpleITK as sitk

        work = Path(tempfile.mkdtemp(prefix="RFRInpaint-upload-"))
        try:
            _write_nrrd(volume, spacing, work / "volume.nrrd")
            label = None
            if hole is not None:
                label = work / "hole.nrrd"
                _write_nrrd((np.asarray(hole) != 0).astype(np.uint8), spacing, label)
            result_file, info = self.infer_file(
                method, work / "volume.nrrd", label, {"result_extension": ".nrrd", **dict(params or {})}, "", work
            )
            result = sitk.GetArrayFromImage(sitk.ReadImage(str(result_file)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if result.shape != volume.shape or result.dtype != volume.dtype:
            raise ServerError(
                200, f"the answer is a {result.dtype} array of shape {result.shape}, not {volume.dtype} {volume.shape}"
            )
        return result, info

    # ---------------------------------------------------------------------------------------------- transports
    def _call(self, call: Any, tmpdir: str | None = None) -> Any:
        """Run ``call(MONAILabelClient)``, turning its exceptions into :class:`ServerError`."""
        client = self._client_class(self.server_url, tmpdir=tmpdir)
        try:
            return call(client)
        except OSError as e:
            raise ServerError(None, f"cannot reach {self.server_url}: {e}") from e
        except Exception as e:
            message = str(getattr(e, "msg", e))
            found = re.match(r"Status: (\d+); Response: (.*)", message, re.DOTALL)
            if found is None:
                raise ServerError(getattr(e, "status_code", None), message) from e
            raise _detail(int(found.group(1)), found.group(2)) from e

    def _requests(self, verb: str, url: str, **kwargs: Any) -> Any:
        import requests

        try:
            response = getattr(requests, verb)(url, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise ServerError(None, f"cannot reach {self.server_url}: {e}") from e
        if response.status_code != 200:
            raise _detail(response.status_code, response.content)
        return response

    def _infer_requests(
        self,
        method: str,
        image: str | os.PathLike | None,
        label: str | os.PathLike | None,
        params: dict[str, Any],
        image_id: str,
        out: Path,
    ) -> tuple[Path, dict[str, Any]]:
        with contextlib.ExitStack() as stack:
            files = {
                key: (Path(path).name, stack.enter_context(open(path, "rb")))
                for key, path in (("file", image), ("label", label))
                if path is not None
            }
            response = self._requests(
                "post",
                f"{self.server_url}/infer/{quote(method, safe='')}",
                params={"image": image_id},
                data={"params": json.dumps(params)},
                files=files,
            )
        content_type = response.headers.get("content-type", "")
        if "multipart" not in content_type:
            raise ServerError(200, f"the answer to {method!r} holds no image ({content_type or 'no content type'})")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + response.content
        )
        info: dict[str, Any] = {}
        target = None
        for part in message.iter_parts():
            name = part.get_filename()
            if name:
                target = out / Path(name).name  # never a path the server chose
                target.write_bytes(part.get_payload(decode=True))
            elif part.get_param("name", header="content-disposition") == "params":
                info = json.loads(part.get_payload(decode=True) or b"{}")
        if target is None:
            raise ServerError(200, f"the answer to {method!r} holds no image")
        return target, info
