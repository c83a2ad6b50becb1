"""``rfr-inpaint``: inpaint a masked region of a 2D image or a 3D volume from the command line.

Example::

    rfr-inpaint --image ct.nii.gz --mask metal.nii.gz --output ct_inpainted.nii.gz      # the shipped RFR-Net
    rfr-inpaint --image ct.nii.gz --mask metal.nii.gz --output out.nii.gz --method rfr --model model.pt
    rfr-inpaint --image dicom_series/ --metal-threshold 2500 --output inpainted_series/ --method biharmonic
    rfr-inpaint --image ct.nii.gz --metal-threshold 2500 --output out.nii.gz --preview before_after.png

Every failure ends with one line ``rfr-inpaint: error: <file>: <problem>`` on stderr and a distinct exit code
(:data:`EXIT_CODES`); see ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["EXIT_CODES", "build_parser", "main", "CLIError"]

#: exit status of each kind of failure
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "usage": 2,  # argparse's own code for bad arguments
    "input": 3,  # image missing, unreadable, not scalar / 2D / 3D
    "mask": 4,  # mask missing, unreadable, on another grid
    "output": 5,  # output exists (no --overwrite), would overwrite the input (no --in-place), unsupported format
    "model": 6,  # model missing or not a loadable RFR-Net checkpoint, bad method options
    "inpaint": 7,  # inpainting failed
    "write": 8,  # writing the output failed
    "interrupted": 130,  # Ctrl-C
}


class CLIError(Exception):
    """A failure with its exit code and one-line message."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.code = EXIT_CODES[kind]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rfr-inpaint``."""
    from rfr_inpaint.defaults import (
        DEFAULT_CT_WINDOW,
        DEFAULT_INTENSITY_MODE,
        DEFAULT_METHOD,
        DEFAULT_PERCENTILES,
        HU_AIR_THRESHOLD,
        INTENSITY_MODES,
        MASK_MARGIN_MM,
        SHIPPED_MODEL,
        THRESHOLD_MARGIN_MM,
    )
    from rfr_inpaint.inpainters import METHODS
    from rfr_inpaint.volume import DEFAULT_METAL_THRESHOLD_HU

    parser = argparse.ArgumentParser(
        prog="rfr-inpaint",
        description="Inpaint a masked region (e.g. metal) of a 2D image (PNG / JPEG) or a 3D volume (NIfTI, NRRD, "
        "DICOM series folder) slice by slice with RFR-Net or a classical method. Voxels outside the (dilated) mask "
        "are written back unchanged, with the input's geometry and pixel type.",
    )
    parser.add_argument("--image", required=True, type=Path, help="input image file or DICOM series folder")
    region = parser.add_mutually_exclusive_group(required=True)
    region.add_argument("--mask", type=Path, help="label image on the image's grid; nonzero voxels are inpainted")
    region.add_argument(
        "--metal-threshold",
        type=float,
        metavar="HU",
        nargs="?",
        const=DEFAULT_METAL_THRESHOLD_HU,
        help=f"inpaint voxels >= HU instead of a mask (without a value: {DEFAULT_METAL_THRESHOLD_HU:g})",
    )
    parser.add_argument("--output", type=Path, help="output file or DICOM folder (format from the name)")
    parser.add_argument(
        "--method",
        default=None,
        choices=METHODS,
        help=f"inpainting method (default: {DEFAULT_METHOD}; rfr when --model is given); biharmonic3d fills the hole "
        "in 3D from the neighbouring slices too, biharmonic3d_mm the same with the slices weighed by their distance "
        "in mm, biharmonic3d_auto with that weighing chosen per volume from the known voxels around the hole (slower), "
        "the others slice by slice",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help=f"RFR-Net checkpoint or MONAI bundle folder (method rfr; default: the shipped model, {SHIPPED_MODEL} of "
        "the bundle folder: the current folder when it is one, else monai_bundle/ of the source)",
    )
    parser.add_argument(
        "--axis",
        type=int,
        default=0,
        choices=(0, 1, 2),
        help="slicing axis in NumPy order (z, y, x) of the volume: 0 = axial (default), 1 = coronal, "
        "2 = sagittal for axial acquisitions; ignored for 2D images",
    )
    parser.add_argument(
        "--margin-mm",
        type=float,
        default=None,
        help=f"dilate the region by this many mm (default: {MASK_MARGIN_MM:g} for --mask, the mask is inpainted as "
        f"drawn; {THRESHOLD_MARGIN_MM:g} for --metal-threshold, to cover streaks and partial-volume voxels)",
    )
    parser.add_argument(
        "--intensity",
        default=DEFAULT_INTENSITY_MODE,
        choices=INTENSITY_MODES,
        help="mapping to [0, 1], fitted on the known voxels: ct = HU window (--window), range = the pixel type's "
        f"range, percentile = {DEFAULT_PERCENTILES[0]:g}-{DEFAULT_PERCENTILES[1]:g} percentiles; auto (default) = "
        "the mapping recorded by a bundle given as --model, else ct for images holding air (values below "
        f"{HU_AIR_THRESHOLD:g}), range for 8-bit images and percentile otherwise",
    )
    parser.add_argument(
        "--window",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=DEFAULT_CT_WINDOW,
        help=f"HU window of --intensity ct / auto (default {DEFAULT_CT_WINDOW[0]:g} {DEFAULT_CT_WINDOW[1]:g})",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N (method rfr)")
    parser.add_argument("--batch-size", type=int, default=8, help="slices per inpainter call (default 8)")
    parser.add_argument(
        "--mode",
        default="roi",
        choices=("roi", "full"),
        help="rfr only: roi (default) runs the network on a crop around each hole component with --context pixels "
        "of known context; full runs whole slices (slower, see docs/performance.md)",
    )
    parser.add_argument(
        "--context", type=int, default=16, help="rfr --mode roi: known context around each hole, in pixels (default 16)"
    )
    parser.add_argument(
        "--preview",
        type=Path,
        metavar="FILE.png",
        help="also write a PNG of the most affected slice: before (hole outlined), after, and after - before",
    )
    parser.add_argument("--in-place", action="store_true", help="write the result over the input image")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--progress",
        default="bar",
        choices=("bar", "json", "none"),
        help="bar: a progress bar on stderr (default); json: one JSON object per line on stdout (events start, "
        "progress, done, error) for programs that run the command, e.g. the 3D Slicer module; none: nothing",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no final message")
    return parser


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


def _intensity(args: argparse.Namespace) -> Any:
    """The intensity mapping of the call (the one resolver of every entry point; fitted later on the known voxels)."""
    from rfr_inpaint.transforms.intensity import resolve_intensity

    model = args.model if args.method == "rfr" else None  # a classical method needs no model's mapping
    return resolve_intensity(args.intensity, model_path=model, window=args.window)


def _margin_mm(args: argparse.Namespace) -> float:
    """The dilation of the region: ``--margin-mm``, else the default of the region's source (mask or threshold)."""
    from rfr_inpaint.defaults import MASK_MARGIN_MM, THRESHOLD_MARGIN_MM

    if args.margin_mm is not None:
        return float(args.margin_mm)
    return MASK_MARGIN_MM if args.mask is not None else THRESHOLD_MARGIN_MM


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _resolve_method(args: argparse.Namespace) -> None:
    """``--method`` when given; else ``rfr`` when ``--model`` names a model, else ``rfr_inpaint.defaults.DEFAULT_METHOD``."""
    if args.method is None:
        from rfr_inpaint import defaults

        args.method = "rfr" if args.model is not None else defaults.DEFAULT_METHOD


def run(args: argparse.Namespace) -> int:
    """Carry out one ``rfr-inpaint`` call: resolve the output, load the inputs, build the hole, build the method,
    inpaint, write (and ``--preview``). Everything that can be checked without reading data is checked first.

    Args:
        args: parsed arguments (see :func:`build_parser`).

    Returns:
        0 on success.

    Raises:
        CLIError: any failure, with its exit code.
    """
    _resolve_method(args)
    output, out_format = _resolve_output(args)
    _check_options(args)
    _resolve_model(args)
    image = _load_image(args, output, out_format)
    hole = _build_hole(args, image)
    inpainter, intensity = _build_method(args, hole)
    start = time.perf_counter()
    result = _inpaint(args, image, hole, inpainter, intensity, output)
    _write(args, image, result, output)
    _write_preview(args, image, result, hole)
    done = {"event": "done", "output": str(output), "seconds": round(time.perf_counter() - start, 3)}
    _emit(args, {**done, "preview": str(args.preview)} if args.preview is not None else done)
    if not args.quiet and args.progress != "json":
        for path in (output, args.preview) if args.preview is not None else (output,):
            print(f"rfr-inpaint: wrote {path}", file=sys.stderr)
    return EXIT_CODES["ok"]


def _resolve_output(args: argparse.Namespace) -> tuple[Path, str]:
    """Where to write and in which format, decided before any work: the output path and its format name."""
    from rfr_inpaint.image_io import ImageIOError, image_format

    if args.in_place:
        if args.output is not None and not _same_path(args.output, args.image):
            raise CLIError("usage", "--in-place writes over --image; do not give a different --output")
        output = args.image
    elif args.output is None:
        raise CLIError("usage", "--output is required (or --in-place to overwrite the input)")
    else:
        output = args.output
        if _same_path(output, args.image):
            raise CLIError("output", f"{output}: output is the input image; use --in-place to overwrite it")
        if output.exists() and not args.overwrite:
            raise CLIError("output", f"{output}: output exists; use --overwrite to replace it")
    try:
        return output, image_format(output)
    except ImageIOError as e:
        raise CLIError("output", _one_line(e)) from e


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values and combinations argparse cannot check."""
    if args.margin_mm is not None and args.margin_mm < 0:
        raise CLIError("usage", f"--margin-mm must be >= 0, got {args.margin_mm}")
    if args.batch_size < 1:
        raise CLIError("usage", f"--batch-size must be >= 1, got {args.batch_size}")
    if args.method != "rfr" and args.model is not None:
        raise CLIError("usage", f"--model is only used by --method rfr, not {args.method}")
    if args.preview is not None:
        if args.preview.suffix.lower() != ".png":
            raise CLIError("usage", f"{args.preview}: --preview writes a PNG image; name it *.png")
        if _same_path(args.preview, args.image) or (args.output is not None and _same_path(args.preview, args.output)):
            raise CLIError("output", f"{args.preview}: --preview must not be the input or the output")
        if args.preview.exists() and not args.overwrite:
            raise CLIError("output", f"{args.preview}: preview exists; use --overwrite to replace it")


def _resolve_model(args: argparse.Namespace) -> None:
    """``--method rfr`` without ``--model``: the shipped model (``args.model`` set to it), before any data is read."""
    if args.method != "rfr" or args.model is not None:
        return
    from rfr_inpaint.inpainters import CLASSICAL_METHODS
    from rfr_inpaint.locations import shipped_model_path

    try:
        args.model = shipped_model_path()
    except FileNotFoundError as e:
        raise CLIError(
            "model", f"{_one_line(e)} (--model), or choose a classical --method ({', '.join(CLASSICAL_METHODS)})"
        ) from e


def _load_image(args: argparse.Namespace, output: Path, out_format: str) -> Any:
    """Read ``--image`` and check that the output format can hold it."""
    from rfr_inpaint.image_io import FORMATS_2D, ImageIOError, read_image

    try:
        image = read_image(args.image)
    except (FileNotFoundError, ImageIOError) as e:
        raise CLIError("input", _one_line(e)) from e
    if out_format in FORMATS_2D.values() and image.ndim != 2:
        raise CLIError(
            "output",
            f"{output}: a {image.ndim}D image cannot be written as {out_format.upper()}; use "
            ".nii.gz, .nrrd or a DICOM folder",
        )
    return image


def _build_hole(args: argparse.Namespace, image: Any) -> np.ndarray:
    """The region to inpaint, before its margin: ``--mask`` on the image's grid, or ``--metal-threshold``."""
    from rfr_inpaint.image_io import ImageIOError, read_mask
    from rfr_inpaint.volume import metal_mask

    if args.mask is not None:
        try:
            hole = read_mask(args.mask, image)
        except (FileNotFoundError, ImageIOError) as e:
            raise CLIError("mask", _one_line(e)) from e
    else:
        hole = metal_mask(image.array, args.metal_threshold)
    if not hole.any():
        source = args.mask if args.mask is not None else f"--metal-threshold {args.metal_threshold:g}"
        print(f"rfr-inpaint: warning: {source}: empty mask; the output is a copy of the input", file=sys.stderr)
    return hole


def _build_method(args: argparse.Namespace, hole: np.ndarray) -> tuple[Any, Any]:
    """The inpainter (None for an empty hole: no model is loaded) and the intensity mapping."""
    # PyTorch and MONAI are imported only now that the arguments are known to be usable
    from rfr_inpaint.inpainters import get_inpainter
    from rfr_inpaint.safe_io import CheckpointError

    try:
        options = (
            {"batch_size": args.batch_size, "mode": args.mode, "context": args.context} if args.method == "rfr" else {}
        )
        inpainter = (
            get_inpainter(args.method, model_path=args.model, device=args.device, **options) if hole.any() else None
        )
        return inpainter, _intensity(args)
    except (FileNotFoundError, CheckpointError, ValueError, KeyError, RuntimeError) as e:
        raise CLIError("model", _one_line(e)) from e


def _inpaint(
    args: argparse.Namespace, image: Any, hole: np.ndarray, inpainter: Any, intensity: Any, output: Path
) -> np.ndarray:
    """Run :func:`rfr_inpaint.volume.inpaint_volume` with the progress reporting of ``--progress``."""
    from rfr_inpaint.volume import InpaintingCancelled, inpaint_volume

    _emit(
        args,
        {
            "event": "start",
            "image": str(args.image),
            "output": str(output),
            "method": args.method,
            "hole_voxels": int(hole.sum()),
        },
    )
    if inpainter is None:
        return image.array
    progress = _Progress(args)
    try:
        result, _ = inpaint_volume(
            image.array,
            hole,
            inpainter,
            axis=args.axis,
            spacing=image.spacing_numpy,
            margin_mm=_margin_mm(args),
            intensity=intensity,
            batch_size=args.batch_size,
            progress=progress,
        )
        return result
    except InpaintingCancelled as e:
        raise CLIError("interrupted", _one_line(e)) from e
    except (ValueError, RuntimeError, TypeError, MemoryError) as e:
        raise CLIError("inpaint", f"{args.image}: inpainting failed: {_one_line(e)}") from e
    finally:
        progress.close()


def _write(args: argparse.Namespace, image: Any, result: np.ndarray, output: Path) -> None:
    """Write the result with the input's grid and pixel type (atomically)."""
    from rfr_inpaint.image_io import ImageIOError, write_image

    try:
        write_image(image, result, output, overwrite=args.overwrite or args.in_place)
    except FileExistsError as e:
        raise CLIError("output", _one_line(e)) from e
    except (ImageIOError, OSError) as e:
        raise CLIError("write", f"{output}: cannot be written: {_one_line(e)}") from e


def _write_preview(args: argparse.Namespace, image: Any, result: np.ndarray, hole: np.ndarray) -> None:
    """``--preview``: the before / after / difference PNG of the most affected slice (atomically)."""
    if args.preview is None:
        return
    from rfr_inpaint.preview import write_preview

    try:
        write_preview(
            args.preview, image.array, result, hole, axis=args.axis, title=args.method, overwrite=args.overwrite
        )
    except FileExistsError as e:
        raise CLIError("output", _one_line(e)) from e
    except (ValueError, OSError) as e:
        raise CLIError("write", f"{args.preview}: cannot be written: {_one_line(e)}") from e


class _Progress:
    """The ``progress(done, total)`` callback of ``--progress``: JSON events, a tqdm bar on stderr, or nothing."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.args.progress == "json":
            _emit(self.args, {"event": "progress", "done": done, "total": total})
            return
        if self.args.quiet or self.args.progress == "none":
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="slice", desc="inpainting", file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _emit(args: argparse.Namespace, event: dict[str, Any]) -> None:
    """Print one machine-readable JSON line on stdout in ``--progress json`` mode."""
    if getattr(args, "progress", None) == "json":
        print(json.dumps(event), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rfr-inpaint``.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        the exit status (also passed to ``sys.exit`` by the console script).
    """
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 and a usage line on bad arguments
    try:
        return run(args)
    except CLIError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        _emit(args, {"event": "error", "code": e.code, "message": str(e)})
        return e.code
    except KeyboardInterrupt:
        print(f"{parser.prog}: error: interrupted; no output written", file=sys.stderr)
        _emit(args, {"event": "error", "code": EXIT_CODES["interrupted"], "message": "interrupted"})
        return EXIT_CODES["interrupted"]


if __name__ == "__main__":  # pragma: no cover - ``python -m rfr_inpaint.cli``
    sys.exit(main())
