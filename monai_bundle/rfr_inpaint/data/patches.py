"""Training patches for the guided RFR-Net variants (classical prior, 2.5D context): real CT sub-volumes with holes.

Each sample is what :class:`rfr_inpaint.inference.RFRInpainter` feeds the network in ROI mode: a ``patch`` x ``patch``
crop of one slice with its hole, and the guide channels built by the same code as at inference
(:mod:`rfr_inpaint.guides`): the 3-D biharmonic prior of the crop's sub-volume and the neighbouring slices. A share of
the samples are single 2-D images (a CT slice, an MR slice or a radiograph-like DRR) whose neighbours are the image
itself and whose prior is 2-D, as when a 2-D image is inpainted.

Holes (drawn in the crop, seeded per sample):

* ``square``: 1-4 squares of 8-64 px (the seed's hole-ratio-8 squares are 64 px on a 512 px slice), through 1-3
  contiguous slices;
* ``strip``: 1-4 strips 8-20 px wide across the crop, orientations by the seed's mixed rule
  (:func:`rfr_inpaint.transforms.masks.strip_orientations`), through 1-3 contiguous slices;
* ``metal``: a metal-like 3-D region in mm (:func:`rfr_inpaint.transforms.holes3d.metal_holes_3d`: ellipsoid, screw,
  dental cluster).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from rfr_inpaint.defaults import DEFAULT_CT_WINDOW, DEFAULT_PERCENTILES, HU_AIR_THRESHOLD
from rfr_inpaint.guides import PRIOR_CONTEXT_SLICES, SpacingExponent, prior_fill, prior_spacing_option, slice_guide
from rfr_inpaint.transforms.holes3d import metal_holes_3d
from rfr_inpaint.transforms.masks import strip_orientations

__all__ = [
    "BANK_RECIPE_FILE",
    "HOLE_FAMILIES",
    "NETWORK_RECIPE_KEYS",
    "BankRefresher",
    "GuidedPatchDataset",
    "PatchBankDataset",
    "check_bank_for_network",
    "load_volumes",
    "read_bank_recipe",
    "write_patch_bank",
]

#: hole families of the training patches and their default probabilities.
HOLE_FAMILIES: dict[str, float] = {"square": 0.35, "strip": 0.3, "metal": 0.35}
#: the record of the recipe a bank was drawn with, in the bank's folder
BANK_RECIPE_FILE = "bank.json"
#: the network options a bank's guide depends on (attributes of ``RFRNet``, keys of the record)
NETWORK_RECIPE_KEYS = ("prior", "context_slices", "prior_spacing_exponent")


def load_volumes(datalist: str | os.PathLike, split: str, modalities: Sequence[str] = ("CT", "MR", "DRR")) -> list[dict]:
    """Read the images of one split of a datalist written by :mod:`rfr_inpaint.data.real_ct`.

    Args:
        datalist: the ``datalist.json`` file (paths relative to its folder).
        split: ``training``, ``validation`` or ``test``.
        modalities: modalities kept.

    Returns:
        dicts ``{"array": float32 (D, H, W) or (H, W), "spacing": tuple, "modality", "patient"}``.

    Raises:
        FileNotFoundError: the datalist or an image is missing.
        ValueError: the split is not in the datalist.
    """
    from rfr_inpaint.image_io import read_image

    path = Path(datalist)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: datalist not found (write it with python -m rfr_inpaint.data.real_ct)")
    items = json.loads(path.read_text(encoding="utf-8")).get(split)
    if items is None:
        raise ValueError(f"{path}: no {split!r} split")
    out = []
    for item in items:
        if item.get("modality") not in modalities:
            continue
        image = read_image(path.parent / item["image"])
        out.append(
            {
                "array": np.asarray(image.array, dtype=np.float32),
                "spacing": tuple(float(s) for s in image.spacing_numpy),
                "modality": item["modality"],
                "patient": item.get("patient", item["image"]),
            }
        )
    return out


class GuidedPatchDataset(Dataset):
    """Random guided training patches (or a fixed, seeded set for validation) from real volumes.

    Args:
        volumes: output of :func:`load_volumes` (CT in HU, MR / DRR raw).
        num_samples: length of the dataset (samples per epoch).
        patch: crop side in pixels.
        prior: the network has a prior channel.
        context_slices: neighbours on each side (the network's ``context_slices``).
        two_d_fraction: share of CT samples made as single 2-D images (MR and DRR are always 2-D).
        families: hole family probabilities (keys of :data:`HOLE_FAMILIES`).
        ct_window: HU window mapped to [0, 1] for CT (the mapping inference uses).
        deterministic: sample ``i`` is always the same (validation); else every call draws anew.
        seed: base seed.
        prior_spacing_exponent: the 3-D prior's recipe (the network's ``prior_spacing_exponent``: 0 ``biharmonic3d``,
            ``e > 0`` ``biharmonic3d_mm`` with the volume's spacing, ``"auto"`` ``biharmonic3d_auto``).

    Each item is ``{"image": (1, P, P) truth in [0, 1], "hole": (1, P, P) 1 = hole, "guide": (G, P, P)}``.
    """

    def __init__(
        self,
        volumes: Sequence[Mapping[str, Any]],
        num_samples: int = 512,
        patch: int = 96,
        prior: bool = True,
        context_slices: int = 2,
        two_d_fraction: float = 0.2,
        families: Mapping[str, float] | None = None,
        ct_window: Sequence[float] = DEFAULT_CT_WINDOW,
        deterministic: bool = False,
        seed: int = 0,
        prior_spacing_exponent: SpacingExponent = 0.0,
    ) -> None:
        if not volumes:
            raise ValueError("GuidedPatchDataset needs at least one volume")
        self.volumes = [self._prepare(v, ct_window) for v in volumes]
        self.num_samples = int(num_samples)
        self.patch = int(patch)
        self.prior = bool(prior)
        self.context_slices = int(context_slices)
        self.two_d_fraction = float(two_d_fraction)
        fams = dict(families or HOLE_FAMILIES)
        unknown = set(fams) - set(HOLE_FAMILIES)
        if unknown:
            raise ValueError(f"unknown hole families {sorted(unknown)}; choose from {sorted(HOLE_FAMILIES)}")
        total = sum(fams.values())
        self.families = list(fams)
        self.family_probs = np.array([fams[k] / total for k in self.families])
        self.deterministic = bool(deterministic)
        self.seed = int(seed)
        self.prior_spacing_exponent = prior_spacing_option(prior_spacing_exponent)
        self.ct_window = [float(ct_window[0]), float(ct_window[1])]
        self.patients = sorted({str(v.get("patient", "")) for v in volumes})
        sizes = np.array([v["image"].size for v in self.volumes], dtype=np.float64)
        self.volume_probs = np.sqrt(sizes) / np.sqrt(sizes).sum()  # large volumes more often, small ones still seen

    @property
    def recipe(self) -> dict[str, Any]:
        """What a bank of these samples was drawn with (JSON-ready): the network options its guide was made for
        (:data:`NETWORK_RECIPE_KEYS`), and the patch size, hole families, CT window, seed and patients."""
        return {
            "prior": self.prior,
            "context_slices": self.context_slices,
            "prior_spacing_exponent": self.prior_spacing_exponent,
            "patch": self.patch,
            "two_d_fraction": self.two_d_fraction,
            "families": {k: float(f"{p:.12g}") for k, p in zip(self.families, self.family_probs.tolist())},
            "ct_window": self.ct_window,
            "seed": self.seed,
            "patients": self.patients,
        }

    @staticmethod
    def _prepare(volume: Mapping[str, Any], ct_window: Sequence[float]) -> dict[str, Any]:
        array = np.asarray(volume["array"], dtype=np.float32)
        if array.ndim == 2:
            array = array[None]
        modality = volume.get("modality", "CT")
        if modality == "CT":
            lo, hi = float(ct_window[0]), float(ct_window[1])
            image = np.clip((array - lo) / (hi - lo), 0.0, 1.0)
            body = array > HU_AIR_THRESHOLD  # crops centred on anatomy rather than air
        else:
            lo, hi = np.percentile(array, DEFAULT_PERCENTILES)
            image = np.clip((array - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
            body = image > 0.05
        spacing = tuple(volume.get("spacing", (1.0,) * array.ndim))
        if len(spacing) == 2:
            spacing = (1.0, *spacing)
        return {"image": image.astype(np.float32), "body": body, "spacing": spacing, "modality": modality}

    def __len__(self) -> int:
        return self.num_samples

    def _rng(self, index: int) -> np.random.Generator:
        if self.deterministic:
            return np.random.default_rng([self.seed, index])
        return np.random.default_rng()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        vol = self.volumes[int(rng.choice(len(self.volumes), p=self.volume_probs))]
        two_d = vol["modality"] != "CT" or vol["image"].shape[0] == 1 or rng.random() < self.two_d_fraction
        family = self.families[int(rng.choice(len(self.families), p=self.family_probs))]
        stack, holes, centre = self._draw(vol, rng, family, two_d)
        filled = prior_fill(
            stack, holes, consecutive=not two_d, spacing=vol["spacing"], spacing_exponent=self.prior_spacing_exponent
        )
        guide = slice_guide(filled, holes, centre, self.prior, self.context_slices)
        if rng.random() < 0.5:  # left-right flip: anatomy is roughly symmetric
            stack, holes, guide = stack[..., ::-1], holes[..., ::-1], guide[..., ::-1]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(stack[centre][None])),
            "hole": torch.from_numpy(np.ascontiguousarray(holes[centre][None]).astype(np.float32)),
            "guide": torch.from_numpy(np.ascontiguousarray(guide)),
        }

    def _crop_origin(self, vol: Mapping[str, Any], rng: np.random.Generator, z: int) -> tuple[int, int]:
        d, h, w = vol["image"].shape
        p = self.patch
        body = vol["body"][z]
        ys, xs = np.nonzero(body)
        for _ in range(20):
            if ys.size:
                k = int(rng.integers(ys.size))
                y0, x0 = int(ys[k]) - p // 2, int(xs[k]) - p // 2
            else:
                y0, x0 = int(rng.integers(max(h - p, 0) + 1)), int(rng.integers(max(w - p, 0) + 1))
            y0, x0 = min(max(y0, 0), max(h - p, 0)), min(max(x0, 0), max(w - p, 0))
            if body[y0 : y0 + p, x0 : x0 + p].mean() > 0.3:
                break
        return y0, x0

    def _draw(
        self, vol: Mapping[str, Any], rng: np.random.Generator, family: str, two_d: bool
    ) -> tuple[np.ndarray, np.ndarray, int]:
        image = vol["image"]
        d, h, w = image.shape
        p = self.patch
        if h < p or w < p:  # a small image: pad by reflection up to the patch size
            pad = ((0, 0), (0, max(p - h, 0)), (0, max(p - w, 0)))
            image = np.pad(image, pad, mode="reflect")
            vol = {**vol, "image": image, "body": np.pad(vol["body"], pad, mode="reflect")}
            d, h, w = image.shape
        reach = max(self.context_slices, PRIOR_CONTEXT_SLICES) + 3
        if two_d:
            z0, z1 = (z := int(rng.integers(d))), z + 1
        else:
            z = int(rng.integers(d))
            z0, z1 = max(z - reach, 0), min(z + reach + 1, d)
        y0, x0 = self._crop_origin(vol, rng, z)
        stack = image[z0:z1, y0 : y0 + p, x0 : x0 + p].copy()
        centre = z - z0
        holes = self._holes(stack.shape, centre, family, rng, vol, (z0, y0, x0), two_d)
        if not holes[centre].any():  # a 3-D region that misses the chosen slice: take a slice it crosses
            centre = int(rng.choice(np.flatnonzero(holes.any(axis=(1, 2)))))
        return stack, holes, centre

    def _holes(
        self,
        shape: tuple[int, int, int],
        centre: int,
        family: str,
        rng: np.random.Generator,
        vol: Mapping[str, Any],
        origin: tuple[int, int, int],
        two_d: bool,
    ) -> np.ndarray:
        d, h, w = shape
        holes = np.zeros(shape, dtype=bool)
        if family == "metal":
            z0, y0, x0 = origin
            body = vol["body"][z0 : z0 + d, y0 : y0 + h, x0 : x0 + w]
            if two_d:
                sub = metal_holes_3d((1, h, w), vol["spacing"], rng, body=body if body.any() else None)
                return sub
            region = metal_holes_3d(shape, vol["spacing"], rng, body=body if body.any() else None)
            return region
        depth = 1 if two_d else int(rng.integers(1, 4))
        first = max(0, min(centre - int(rng.integers(depth)), d - depth))
        plane = np.zeros((h, w), dtype=bool)
        count = int(rng.integers(1, 5))
        if family == "square":
            for _ in range(count):
                side = int(rng.integers(8, min(64, h - 8, w - 8) + 1))
                r0, c0 = int(rng.integers(4, h - side - 3)), int(rng.integers(4, w - side - 3))
                plane[r0 : r0 + side, c0 : c0 + side] = True
        else:
            for orientation in strip_orientations(count, "mixed", np.random.RandomState(int(rng.integers(2**31)))):
                width = int(rng.integers(8, 21))
                if orientation == "horizontal":
                    r0 = int(rng.integers(4, h - width - 3))
                    plane[r0 : r0 + width, :] = True
                else:
                    c0 = int(rng.integers(4, w - width - 3))
                    plane[:, c0 : c0 + width] = True
        holes[first : first + depth] = plane
        return holes


def write_patch_bank(
    dataset: GuidedPatchDataset,
    out_dir: str | os.PathLike,
    num_samples: int,
    shard_size: int = 64,
    start: int = 0,
    progress: Any = None,
) -> list[Path]:
    """Draw samples of ``dataset`` and store them in shards ``bank_<k>.npz`` (the 3-D biharmonic prior costs about
    a second per sample on one CPU core, so patches are drawn once and reused with :class:`PatchBankDataset`).

    Shards already present are kept, so an interrupted run continues where it stopped. The dataset's
    :attr:`GuidedPatchDataset.recipe` is recorded in ``bank.json``; a folder whose record differs is refused, so one
    bank never mixes two recipes.

    Args:
        dataset: the generator of samples (seeded, ``deterministic=True``, for a reproducible bank).
        out_dir: folder of the shards.
        num_samples: samples in the bank.
        shard_size: samples per shard file.
        start: index of the first sample (with a deterministic dataset, the bank is ``dataset[start:start+n]``).
        progress: a tqdm bar updated once per shard.

    Returns:
        the shard files.

    Raises:
        ValueError: ``out_dir`` holds a bank of another recipe.
    """
    from rfr_inpaint.safe_io import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recipe = getattr(dataset, "recipe", None)
    if recipe is not None:
        record = out / BANK_RECIPE_FILE
        if record.is_file():
            found, expected = read_bank_recipe(out), json.loads(json.dumps(recipe))  # compared as stored
            if found != expected:
                changed = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
                raise ValueError(
                    f"{out}: the bank was drawn with another recipe ({', '.join(changed)} differ from "
                    f"{record.name}); write the new bank to another folder"
                )
        else:
            with atomic_path(record) as tmp:
                Path(tmp).write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    files = []
    for first in range(start, start + num_samples, shard_size):
        path = out / f"bank_{first:07d}.npz"
        files.append(path)
        if progress is not None:
            progress.update(1)
        if path.is_file():
            continue
        items = [dataset[i] for i in range(first, min(first + shard_size, start + num_samples))]
        arrays = {key: np.stack([item[key].numpy() for item in items]) for key in ("image", "hole", "guide")}
        arrays["hole"] = arrays["hole"].astype(np.uint8)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    return files


def read_bank_recipe(bank_dir: str | os.PathLike) -> dict[str, Any]:
    """The recipe :func:`write_patch_bank` recorded in ``bank_dir/bank.json``.

    Raises:
        FileNotFoundError: no record (a bank written before recipes were recorded: draw it again).
        ValueError: the record is not a JSON object.
    """
    path = Path(bank_dir) / BANK_RECIPE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no recipe record, so the bank cannot be checked against the network; draw the bank again "
            "with scripts/make_patch_bank.py"
        )
    try:
        recipe = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON recipe record: {e}") from e
    if not isinstance(recipe, dict):
        raise ValueError(f"{path}: not a JSON recipe record (a JSON object)")
    return recipe


def check_bank_for_network(bank_dir: str | os.PathLike, network: Any) -> dict[str, Any]:
    """Refuse a bank whose guide was drawn for other network options than ``network``'s.

    A bank drawn with another prior or number of context slices fails at the first step; one drawn with another
    ``prior_spacing_exponent`` would train silently on the wrong prior, so every key of :data:`NETWORK_RECIPE_KEYS`
    must match.

    Args:
        bank_dir: folder of a bank written by :func:`write_patch_bank`.
        network: an ``RFRNet`` (any object with the attributes of :data:`NETWORK_RECIPE_KEYS`).

    Returns:
        the bank's recipe.

    Raises:
        FileNotFoundError: the bank has no recipe record.
        ValueError: a key differs (the message names the bank, the keys and both values).
    """
    recipe = read_bank_recipe(bank_dir)
    wrong = [
        f"{key}: bank {recipe.get(key)!r}, network {getattr(network, key)!r}"
        for key in NETWORK_RECIPE_KEYS
        if recipe.get(key) != getattr(network, key)
    ]
    if wrong:
        raise ValueError(f"{bank_dir}: the bank was drawn for another network ({'; '.join(wrong)})")
    return recipe


class PatchBankDataset(Dataset):
    """Samples of the shards written by :func:`write_patch_bank`, with the eight flips / quarter turns of the
    square (exact for the prior too: the biharmonic stencil is symmetric under them).

    Shards are re-listed by :meth:`refresh` (a bank still being written grows between epochs).

    Args:
        bank_dir: folder of ``bank_*.npz`` shards.
        num_samples: length per epoch (samples drawn at random from the bank); ``None``: the bank's size, in order
            and without augmentation (validation).
        augment: apply a random flip / quarter turn.
        crop: train on random ``crop`` x ``crop`` windows of the patches that hold hole pixels (a smaller window costs
            proportionally less per step; the guide was computed on the whole patch, as inference computes it on the
            whole slice); ``None`` keeps the patches whole.
        network: the network to be trained on the bank: refused unless the bank's recorded recipe matches it
            (:func:`check_bank_for_network`); ``None`` skips the check.
    """

    def __init__(
        self,
        bank_dir: str | os.PathLike,
        num_samples: int | None = None,
        augment: bool = True,
        crop: int | None = None,
        network: Any = None,
    ) -> None:
        self.bank_dir = Path(bank_dir)
        self.recipe = None if network is None else check_bank_for_network(self.bank_dir, network)
        self.num_samples = num_samples
        self.augment = augment
        self.crop = None if crop is None else int(crop)
        self.refresh()

    def refresh(self) -> None:
        """Load the shards present now."""
        files = sorted(self.bank_dir.glob("**/bank_*.npz"))
        if not files:
            raise FileNotFoundError(f"{self.bank_dir}: no bank_*.npz shard (write them with write_patch_bank)")
        parts: dict[str, list[np.ndarray]] = {"image": [], "hole": [], "guide": []}
        for path in files:
            with np.load(path) as data:
                for key in parts:
                    parts[key].append(data[key])
        self.arrays = {key: np.concatenate(v) for key, v in parts.items()}

    def _window(self, i: int, rng: np.random.Generator) -> tuple[slice, slice]:
        """A random crop window of sample ``i`` around one of its hole pixels."""
        hole = self.arrays["hole"][i][0]
        h, w = hole.shape
        c = min(self.crop, h, w)  # type: ignore[type-var]
        ys, xs = np.nonzero(hole)
        k = int(rng.integers(ys.size))
        y0 = int(np.clip(ys[k] - rng.integers(c // 4, 3 * c // 4), 0, h - c))
        x0 = int(np.clip(xs[k] - rng.integers(c // 4, 3 * c // 4), 0, w - c))
        return slice(y0, y0 + c), slice(x0, x0 + c)

    @property
    def bank_size(self) -> int:
        """Samples in the bank."""
        return int(self.arrays["image"].shape[0])

    def __len__(self) -> int:
        return self.bank_size if self.num_samples is None else int(self.num_samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.num_samples is None:
            i, turns, flip = int(index), 0, False
        else:
            rng = np.random.default_rng()
            i = int(rng.integers(self.bank_size))
            turns, flip = (int(rng.integers(4)), bool(rng.integers(2))) if self.augment else (0, False)
        window = (slice(None), slice(None))
        if self.crop is not None and self.num_samples is not None:
            window = self._window(i, rng)
        out = {}
        for key in ("image", "hole", "guide"):
            x = self.arrays[key][i][(slice(None), *window)].astype(np.float32)
            x = np.rot90(x, turns, axes=(-2, -1))
            if flip:
                x = x[..., ::-1]
            out[key] = torch.from_numpy(np.ascontiguousarray(x))
        return out


class BankRefresher:
    """Ignite handler: re-list a :class:`PatchBankDataset`'s shards at every epoch start (the bank may still be
    written by ``scripts/make_patch_bank.py`` while training starts on its first shards).

    Args:
        dataset: the training bank.
    """

    def __init__(self, dataset: PatchBankDataset) -> None:
        self.dataset = dataset

    def attach(self, engine: Any) -> None:
        """Register on ``EPOCH_STARTED``."""
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_STARTED, lambda _: self.dataset.refresh())
