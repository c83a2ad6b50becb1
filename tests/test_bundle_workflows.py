"""The bundle's run commands, each with a tiny budget, from inside ``monai_bundle/`` as users run them.

One training run (the MONAI CLI, 2 iterations on 32 x 32 synthetic slices) is shared by the tests of fine-tuning,
evaluation, inference and export of a trained (faithful) network, which they take with ``--model_path``: training
writes its best model to ``models/train/model.pt``, never to the shipped ``models/model.pt``. The tests of the
shipped model run on a copy of the bundle's configs whose ``models/model.pt`` is a tiny guided RFR-Net.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _bundle_helpers import (
    CONFIGS,
    LOGGING,
    META,
    TINY,
    cli_args,
    run_bundle,
    write_inference_inputs,
    write_radiograph_dicom,
)
from ignite.engine import Events
from monai.bundle import ConfigWorkflow
from PIL import Image
from rfr_inpaint.defaults import SHIPPED_MODEL
from rfr_inpaint.networks import RFRNet, load_network
from rfr_inpaint.safe_io import load_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """``python -m monai.bundle run training ...`` with the tiny budget; returns the bundle root it wrote to."""
    root = tmp_path_factory.mktemp("bundle")
    run_bundle(
        [
            "run",
            "training",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "configs/train.json",
            "--logging_file",
            "configs/logging.conf",
            "--bundle_root",
            str(root),
            *cli_args(TINY),
        ]
    )
    return root


def _workflow(configs: list[str], run_id: str, workflow_type: str = "train", **override) -> ConfigWorkflow:
    wf = ConfigWorkflow(
        config_file=[str(CONFIGS / c) for c in configs],
        meta_file=META,
        logging_file=LOGGING,
        run_id=run_id,
        workflow_type=workflow_type,
        **override,
    )
    wf.initialize()
    return wf


def _trained_model(root: Path) -> Path:
    """The best model of the ``train`` stage of a bundle root."""
    return root / "models" / "train" / "model.pt"


def test_training_writes_model_checkpoint_metrics_and_pngs(trained: Path):
    model = _trained_model(trained)
    assert model.is_file()
    assert not (trained / SHIPPED_MODEL).exists()  # training never writes (or overwrites) the shipped model
    net = load_network(model)  # a bare state dict of RFRNet
    assert isinstance(net, RFRNet) and net.in_channels == 1
    ckpt = load_checkpoint(trained / "models" / "train" / "checkpoint_2.pt")
    assert set(ckpt) == {"network", "optimizer", "lr_scheduler", "best_model", "trainer"}
    assert ckpt["trainer"]["iteration"] == 2 and ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2e-4)
    with open(trained / "eval" / "validation_history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [2]
    for name in ("val_ssim", "val_psnr", "val_rmse", "val_mae"):
        assert math.isfinite(float(rows[0][name]))
    assert -1.0 <= float(rows[0]["val_ssim"]) <= 1.0
    metrics = dict(line.split(",") for line in (trained / "eval" / "metrics.csv").read_text().split())
    assert float(metrics["val_ssim"]) == pytest.approx(float(rows[0]["val_ssim"]), rel=1e-4)
    assert ckpt["best_model"]["best_metric"] == pytest.approx(float(rows[0]["val_ssim"]), rel=1e-4)
    examples = trained / "eval" / "examples"
    for k in range(2):  # 2 validation images
        views = {
            v: np.asarray(Image.open(examples / f"example_{k}_{v}.png"))
            for v in ("input", "result", "truth", "difference", "panel")
        }
        for v in ("input", "result", "truth", "difference"):
            assert views[v].shape == (32, 32) and views[v].dtype == np.uint8
        assert views["panel"].shape == (32, 4 * 32 + 3 * 2)
        known = views["input"] != 128  # the hole is drawn mid-gray in the input view
        assert np.array_equal(views["result"][known], views["truth"][known])
        assert (views["difference"][known] == 0).all()  # composited: no difference outside the hole


def test_bundle_properties_are_complete(tmp_path: Path):
    train = _workflow(["train.json"], "training", bundle_root=str(tmp_path), **TINY)
    assert not train.check_properties()
    write_inference_inputs(tmp_path / "in")
    _guided_checkpoint(tmp_path / SHIPPED_MODEL, perturbed=False)  # network_def is built from the shipped model
    infer = _workflow(
        ["inference.json"], "inference", "infer", bundle_root=str(tmp_path), dataset_dir=str(tmp_path / "in")
    )
    assert not infer.check_properties()


def test_resume_continues_from_the_last_checkpoint_after_a_crash(tmp_path: Path):
    budget = dict(TINY, max_epochs=2, checkpoint_interval=2)
    first = _workflow(["train.json"], "training", bundle_root=str(tmp_path), **budget)
    trainer = first.parser.get_parsed_content("train#trainer")

    @trainer.on(Events.ITERATION_COMPLETED(once=3))
    def crash(engine):
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="Failed to evaluate"):
        first.run()
    ckpt_dir = tmp_path / "models" / "train"
    assert sorted(p.name for p in ckpt_dir.glob("checkpoint_*.pt")) == ["checkpoint_2.pt"]
    saved = load_checkpoint(ckpt_dir / "checkpoint_2.pt")

    second = _workflow(["train.json"], "training", bundle_root=str(tmp_path), **budget)
    trainer = second.parser.get_parsed_content("train#trainer")
    started: list[int] = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda e: started.append(e.state.iteration))
    network = second.parser.get_parsed_content("network")
    net_state: dict = {}
    trainer.add_event_handler(
        Events.ITERATION_STARTED(once=3),
        lambda e: net_state.update({k: v.clone() for k, v in network.state_dict().items()}),
    )
    second.run()
    assert started == [3, 4]  # iterations 1-2 were checkpointed before the crash at iteration 3
    for key, value in saved["network"].items():  # the network was the checkpoint's when iteration 3 started
        assert torch.equal(net_state[key], value), key
    optimizer = second.parser.get_parsed_content("optimizer")
    steps = {float(s["step"]) for s in optimizer.state_dict()["state"].values()}
    assert steps == {4.0}  # Adam's moments continued from step 2
    assert second.parser.get_parsed_content("lr_scheduler").last_epoch == 2
    with open(tmp_path / "eval" / "validation_history.csv") as f:
        assert [int(r["iteration"]) for r in csv.DictReader(f)] == [2, 4]
    second.finalize()

    # A finished run restarted with the same budget does nothing more.
    third = _workflow(["train.json"], "training", bundle_root=str(tmp_path), **dict(budget, max_epochs=2))
    third.run()
    assert third.parser.get_parsed_content("train#trainer").state.iteration == 4


def test_finetune_starts_from_trained_model_with_frozen_batchnorm(trained: Path, tmp_path: Path):
    root = tmp_path / "ft"
    shutil.copytree(trained / "models", root / "models")
    wf = _workflow(["train.json", "finetune.json"], "training", bundle_root=str(root), **dict(TINY, max_epochs=1))
    optimizer = wf.parser.get_parsed_content("optimizer")
    assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-5)
    trained_state = load_checkpoint(trained / "models" / "train" / "model.pt")
    network = wf.parser.get_parsed_content("network")
    for key, value in trained_state.items():
        assert torch.equal(network.state_dict()[key], value), key
    wf.run()
    wf.finalize()
    after = load_checkpoint(root / "models" / "finetune" / "checkpoint_2.pt")["network"]
    bn_buffers = [k for k in trained_state if k.endswith(("running_mean", "running_var"))]
    assert bn_buffers and all(torch.equal(after[k], trained_state[k]) for k in bn_buffers)
    assert not torch.equal(after["head_pconv1.weight"], trained_state["head_pconv1.weight"])
    assert (root / "models" / "finetune" / "model.pt").is_file() and not (root / SHIPPED_MODEL).exists()


def test_evaluation_against_baselines_is_written_and_reproducible(trained: Path, tmp_path: Path):
    budget = {k: v for k, v in TINY.items() if k in ("image_size", "batch_size", "device")}
    outputs = [tmp_path / "eval_cli", tmp_path / "eval_list_form"]
    # the documented command: evaluate.json on its own
    run_bundle(
        [
            "run",
            "evaluating",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "configs/evaluate.json",
            "--logging_file",
            "configs/logging.conf",
            *cli_args(
                {
                    "bundle_root": trained,
                    "model_path": _trained_model(trained),
                    "output_dir": outputs[0],
                    "num_test_images": 3,
                    **budget,
                }
            ),
        ]
    )
    # the model-zoo list form, through MONAI's workflow API
    wf = _workflow(
        ["train.json", "evaluate.json"],
        "evaluating",
        bundle_root=str(trained),
        model_path=str(_trained_model(trained)),
        output_dir=str(outputs[1]),
        num_test_images=3,
        **budget,
    )
    wf.run()
    wf.finalize()
    summary = json.loads((outputs[0] / "summary.json").read_text())
    assert list(summary["metrics"]) == ["rfr", "biharmonic", "telea", "ns", "mean"]
    for method, metrics in summary["metrics"].items():
        for name in ("ssim", "psnr", "rmse", "mae"):
            assert metrics[name]["n"] == 3 and math.isfinite(metrics[name]["mean"]) and metrics[name]["std"] >= 0
    with open(outputs[0] / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 5 and {r["index"] for r in rows} == {"0", "1", "2"}
    for index in "012":  # every method saw the same hole
        assert len({r["hole_fraction"] for r in rows if r["index"] == index}) == 1
    means = {m: float(np.mean([float(r["ssim"]) for r in rows if r["method"] == m])) for m in summary["metrics"]}
    for method, value in means.items():
        assert value == pytest.approx(summary["metrics"][method]["ssim"]["mean"], abs=1e-5)
    table = (outputs[0] / "summary.md").read_text().splitlines()
    assert len(table) == 2 + 5 and table[2].startswith("| rfr |")
    # the same images and seeded masks (and the same model results) in the second run, from the list form
    assert (outputs[1] / "per_image.csv").read_text() == (outputs[0] / "per_image.csv").read_text()


def test_inference_writes_results_in_the_inputs_format_and_units(trained: Path, tmp_path: Path):
    inputs = write_inference_inputs(tmp_path / "in")
    out = tmp_path / "out"
    run_bundle(
        [
            "run",
            "inference",
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "configs/inference.json",
            "--logging_file",
            "configs/logging.conf",
            "--bundle_root",
            str(trained),
            "--model_path",
            str(_trained_model(trained)),
            "--dataset_dir",
            str(tmp_path / "in"),
            "--output_dir",
            str(out),
            "--device",
            "$torch.device('cpu')",
        ]
    )
    for name, result_name in (("volume", "ct_inpainted.nii.gz"), ("slice", "slice_inpainted.nrrd")):
        src = sitk.ReadImage(str(inputs[name]))
        res = sitk.ReadImage(str(out / result_name))
        assert res.GetPixelID() == src.GetPixelID() == sitk.sitkInt16
        assert res.GetSize() == src.GetSize() and res.GetSpacing() == pytest.approx(src.GetSpacing())
        assert res.GetOrigin() == pytest.approx(src.GetOrigin())
        a, b = sitk.GetArrayFromImage(src), sitk.GetArrayFromImage(res)
        hole = sitk.GetArrayFromImage(sitk.ReadImage(str(inputs[f"{name}_mask"]))) > 0
        assert np.array_equal(a[~hole], b[~hole])  # known pixels bit-identical, in HU
        assert not np.array_equal(a[hole], b[hole])  # the hole was filled
        assert b.min() >= -1024 and b.max() <= 3071  # the CT window's range


def test_inference_inverts_monochrome1_and_writes_it_back_in_its_own_convention(trained: Path, tmp_path: Path):
    """A MONOCHROME1 radiograph reaches the network inverted, as in training (bone bright), and its result is stored
    back as MONOCHROME1: the same numbers as for the MONOCHROME2 twin of the image, re-inverted."""
    import pydicom

    rng = np.random.default_rng(4)
    cols = np.mgrid[0:48, 0:56][1]
    display = np.clip(600 + 40 * cols + rng.normal(0, 30, (48, 56)), 0, 4095).round()  # MONOCHROME2 values
    write_radiograph_dicom(tmp_path / "in" / "m1.dcm", 4095 - display, "MONOCHROME1")
    write_radiograph_dicom(tmp_path / "in" / "m2.dcm", display, "MONOCHROME2")
    out = tmp_path / "out"
    wf = _workflow(  # the plain `run` id: the alias of `inference`
        ["inference.json"],
        "run",
        "infer",
        bundle_root=str(trained),
        model_path=str(_trained_model(trained)),
        dataset_dir=str(tmp_path / "in"),
        output_dir=str(out),
        intensity_mode="percentile",
        device="$torch.device('cpu')",
    )
    pre = wf.parser.get_parsed_content("preprocessing")
    net_in = {
        n: pre({"image": str(tmp_path / "in" / f"{n}.dcm"), "mask": str(tmp_path / "in" / f"{n}_mask.nrrd")})
        for n in ("m1", "m2")
    }
    assert torch.equal(net_in["m1"]["image"], net_in["m2"]["image"])  # inverted on the way in
    assert float(net_in["m1"]["image"][..., 0].mean()) < float(net_in["m1"]["image"][..., -1].mean())
    wf.run()
    wf.finalize()
    src = {n: pydicom.dcmread(tmp_path / "in" / f"{n}.dcm") for n in ("m1", "m2")}
    res = {n: pydicom.dcmread(out / f"{n}_inpainted.dcm") for n in ("m1", "m2")}
    assert res["m1"].PhotometricInterpretation == "MONOCHROME1" and res["m2"].PhotometricInterpretation == "MONOCHROME2"
    assert res["m1"].Modality == "DX" and res["m1"].SOPInstanceUID != src["m1"].SOPInstanceUID
    hole = np.zeros((48, 56), bool)
    hole[20:28, 24:36] = True
    for n in ("m1", "m2"):
        a, b = src[n].pixel_array, res[n].pixel_array
        assert np.array_equal(a[~hole], b[~hole]) and not np.array_equal(a[hole], b[hole])
    assert np.array_equal(res["m1"].pixel_array.astype(int), 4095 - res["m2"].pixel_array.astype(int))


def test_ckpt_export_torchscript_matches_eager(trained: Path, tmp_path: Path):
    ts = tmp_path / "model.ts"
    run_bundle(
        [
            "ckpt_export",
            "network_def",
            "--filepath",
            str(ts),
            "--ckpt_file",
            str(_trained_model(trained)),
            "--model_path",  # the network is rebuilt from the checkpoint of model_path
            str(_trained_model(trained)),
            "--meta_file",
            "configs/metadata.json",
            "--config_file",
            "configs/inference.json",
        ]
    )
    scripted = torch.jit.load(str(ts), map_location="cpu").eval()
    eager = load_network(_trained_model(trained)).eval()
    torch.manual_seed(0)
    image = torch.rand(2, 1, 40, 44)  # not a multiple of 16: the padding path is exported too
    hole = torch.zeros(2, 1, 40, 44)
    hole[:, :, 10:22, 8:30] = 1
    with torch.no_grad():
        expected, got = eager(image, hole), scripted(image, hole)
    assert got.shape == (2, 1, 40, 44)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    extra = {"metadata.json": ""}
    torch.jit.load(str(ts), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["network_data_format"]["inputs"]["hole"]["num_channels"] == 1


def test_dataset_dir_and_datalist_overrides_train_on_real_files(tmp_path: Path):
    folder = tmp_path / "xrays"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(5):
        Image.fromarray((rng.random((40, 30)) * 255).astype(np.uint8)).save(folder / f"img{k}.png")
    wf = _workflow(
        ["train.json"],
        "training",
        bundle_root=str(tmp_path),
        dataset_dir=str(folder),
        intensity_mode="percentile",
        **TINY,
    )
    train, val = wf.parser.get_parsed_content("train#dataset"), wf.parser.get_parsed_content("validate#dataset")
    assert len(train) == 4 and len(val) == 1  # the last sorted file is held out
    item = train[0]
    assert set(item) == {"image", "hole", "image_intensity_mapping"}  # the record maps results back to the file's units
    assert item["image"].shape == (1, 32, 32) and item["hole"].shape == (1, 32, 32)
    record = item["image_intensity_mapping"]
    assert record["method"] == "percentile" and record["dtype"] == "uint8"
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0 and float(item["hole"].sum()) > 0
    datalist = tmp_path / "datalist.json"
    datalist.write_text(
        json.dumps(
            {
                "training": [{"image": "xrays/img0.png"}, {"image": "xrays/img1.png"}],
                "validation": [{"image": "xrays/img4.png"}],
            }
        )
    )
    wf = _workflow(["train.json"], "training", bundle_root=str(tmp_path), datalist=str(datalist), **TINY)
    assert len(wf.parser.get_parsed_content("train#dataset")) == 2
    assert len(wf.parser.get_parsed_content("validate#dataset")) == 1
    missing = tmp_path / "nothing"
    wf = _workflow(["train.json"], "training", bundle_root=str(tmp_path), dataset_dir=str(missing), **TINY)
    with pytest.raises(RuntimeError) as info:
        wf.parser.get_parsed_content("train#dataset")
    assert "nothing: data folder not found" in str(info.value.__cause__)  # the error names the folder


def test_shipped_sample_data_is_an_inference_input_and_reproducible(tmp_path: Path):
    import importlib.util

    from _bundle_helpers import BUNDLE_DIR
    from rfr_inpaint.bundle.inference_pipeline import inference_items

    items = inference_items(BUNDLE_DIR / "sample_data")
    assert [Path(i["image"]).name for i in items] == ["ct_slice.nrrd", "ct_volume_metal.nii.gz"]
    assert [Path(i["mask"]).name for i in items] == ["ct_slice_mask.nrrd", "ct_volume_metal_mask.nii.gz"]
    spec = importlib.util.spec_from_file_location("make_sample_data", BUNDLE_DIR / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fresh in module.make_sample_data(tmp_path):
        a, b = sitk.ReadImage(str(BUNDLE_DIR / "sample_data" / fresh.name)), sitk.ReadImage(str(fresh))
        assert np.array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b)) and a.GetSpacing() == b.GetSpacing()
    mask = sitk.GetArrayFromImage(sitk.ReadImage(items[0]["mask"]))
    image = sitk.GetArrayFromImage(sitk.ReadImage(items[0]["image"]))
    assert mask.sum() > 0 and (image[mask > 0] == 3071).all()  # the hole is the inserted metal


def _guided_checkpoint(path: Path, perturbed: bool) -> Path:
    """A tiny guided RFR-Net (prior, one context slice), stored in float16 like the shipped model; untrained it returns
    the biharmonic prior, ``perturbed`` it corrects the prior (every weight moved away from its initial value)."""
    from _variant_helpers import perturb

    torch.manual_seed(0)
    network = RFRNet(width=8, prior=True, context_slices=1)
    if perturbed:
        perturb(network, seed=3, scale=0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}, path)
    return path


def _bundle_copy(root: Path, perturbed: bool) -> Path:
    """A bundle folder: a copy of the bundle's configs and a tiny guided network as its shipped model."""
    shutil.copytree(CONFIGS, root / "configs")
    _guided_checkpoint(root / SHIPPED_MODEL, perturbed)
    return root


def test_inference_and_export_use_the_shipped_guided_model_by_default(tmp_path: Path):
    """The documented inference command, run inside a bundle folder without ``--model_path``, inpaints with the
    shipped model, whatever variant it holds: the results are those of the one volume path (``inpaint_volume`` with
    the model's :class:`RFRInpainter`, which builds the guides), not the classical prior the variant starts from."""
    from rfr_inpaint.inference import RFRInpainter
    from rfr_inpaint.inpainters import get_inpainter
    from rfr_inpaint.volume import inpaint_volume

    bundle = _bundle_copy(tmp_path / "bundle", perturbed=True)
    inputs = write_inference_inputs(tmp_path / "in")
    out = tmp_path / "out"
    args = ["run", "inference", "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json"]
    args += ["--dataset_dir", str(tmp_path / "in"), "--output_dir", str(out), "--device", "$torch.device('cpu')"]
    run_bundle(args, cwd=bundle)
    model = load_network(bundle / SHIPPED_MODEL)
    assert model.prior and model.context_slices == 1 and model.width == 8
    direct = RFRInpainter(model, device="cpu")
    for name, result_name, classical in (
        ("volume", "ct_inpainted.nii.gz", "biharmonic3d"),
        ("slice", "slice_inpainted.nrrd", "biharmonic"),
    ):
        src = sitk.GetArrayFromImage(sitk.ReadImage(str(inputs[name])))
        hole = sitk.GetArrayFromImage(sitk.ReadImage(str(inputs[f"{name}_mask"]))) > 0
        got = sitk.GetArrayFromImage(sitk.ReadImage(str(out / result_name)))
        expected, _ = inpaint_volume(src, hole, direct, margin_mm=0.0)
        prior, _ = inpaint_volume(src, hole, get_inpainter(classical), margin_mm=0.0)
        assert got.dtype == src.dtype and np.array_equal(got[~hole], src[~hole]), name
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1, name  # 1 HU: rounding of float noise
        assert np.abs(got[hole].astype(int) - prior[hole].astype(int)).mean() > 5, name  # the network's correction

    # TorchScript export of the shipped model with the documented command's defaults (--ckpt_file models/model.pt)
    from monai.bundle import ckpt_export

    ts = tmp_path / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(ts),
        meta_file=str(bundle / "configs" / "metadata.json"),
        config_file=str(bundle / "configs" / "inference.json"),
        bundle_root=str(bundle),
    )
    scripted = torch.jit.load(str(ts), map_location="cpu").eval()
    torch.manual_seed(1)
    image, guide = torch.rand(1, 1, 36, 40), torch.rand(1, model.guide_channels, 36, 40)
    hole = torch.zeros(1, 1, 36, 40)
    hole[..., 8:20, 10:26] = 1
    with torch.no_grad():
        assert torch.allclose(scripted(image, hole, guide), model(image, hole, guide), atol=1e-5, rtol=0)


def test_evaluation_of_a_guided_model_gives_each_2d_image_its_2d_prior(tmp_path: Path):
    """``evaluate.json`` with the shipped guided model (default ``model_path``): each independent 2-D test image is
    its own slab (the 2-D prior, the image as its own neighbour), so the untrained variant scores exactly as
    biharmonic inpainting, image by image."""
    bundle = _bundle_copy(tmp_path / "bundle", perturbed=False)
    budget = {k: v for k, v in TINY.items() if k in ("image_size", "batch_size", "device")}
    wf = ConfigWorkflow(
        config_file=str(bundle / "configs" / "evaluate.json"),
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=LOGGING,
        run_id="evaluating",
        bundle_root=str(bundle),
        num_test_images=3,
        baselines=["biharmonic", "telea"],
        **budget,
    )
    wf.initialize()
    assert wf.parser.get_parsed_content("model_path") == str(bundle / SHIPPED_MODEL)
    wf.run()
    wf.finalize()
    with open(bundle / "eval" / "per_image.csv") as f:
        rows = {(r["method"], r["index"]): r for r in csv.DictReader(f)}
    assert {m for m, _ in rows} == {"rfr", "biharmonic", "telea"} and len(rows) == 9
    for index in "012":
        rfr, biharmonic, telea = (rows[(m, index)] for m in ("rfr", "biharmonic", "telea"))
        for metric in ("ssim", "psnr", "rmse", "mae"):
            assert float(rfr[metric]) == pytest.approx(float(biharmonic[metric]), abs=1e-5), (index, metric)
        assert float(rfr["mae"]) != pytest.approx(float(telea["mae"]), abs=1e-5)  # a different fill scores apart
    assert not (bundle / "models" / "train").exists()  # evaluating writes no model
