"""Guarantee "safe loading": no user file can run code. Every ``torch.load`` uses ``weights_only=True`` (source scan),
a checkpoint carrying a pickled callable is refused without running it on every path that loads one, nothing in the
package evaluates user strings, and the Slicer module installs packages only after the user agrees."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _reliability_helpers import (
    BUNDLE_DIR,
    PACKAGE_DIR,
    ROOT,
    SLICER_MODULE_DIR,
    ct_like,
    last_error_line,
    run_cli,
    save_malicious_checkpoint,
    tiny_network,
    write_sitk,
)
from rfr_inpaint.safe_io import CheckpointError

SOURCE_DIRS = [PACKAGE_DIR, SLICER_MODULE_DIR, ROOT / "bench", BUNDLE_DIR / "scripts"]
REFUSED = r"refused to load.*pickled code is never executed"


def _python_files() -> list[Path]:
    files = [p for d in SOURCE_DIRS if d.is_dir() for p in d.rglob("*.py")]
    assert len(files) > 20 and any(p.name == "safe_io.py" for p in files)
    return files


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def unsafe_calls(source: str) -> list[str]:
    """Calls in ``source`` that may run code from data: ``torch.load`` without ``weights_only=True``, pickle / marshal /
    dill loads, ``numpy.load(allow_pickle=True)``, ``yaml.load`` / ``unsafe_load``, ``eval`` / ``exec`` / ``compile``
    / ``__import__``, ``os.system`` and ``subprocess`` with ``shell=True``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        is_true = lambda v: isinstance(v, ast.Constant) and v.value is True
        if name == "torch.load" and not is_true(kw.get("weights_only")):
            found.append(f"line {node.lineno}: torch.load without weights_only=True")
        elif name in ("pickle.load", "pickle.loads", "marshal.load", "marshal.loads", "dill.load", "cloudpickle.load"):
            found.append(f"line {node.lineno}: {name}")
        elif name in ("np.load", "numpy.load") and is_true(kw.get("allow_pickle")):
            found.append(f"line {node.lineno}: {name}(allow_pickle=True)")
        elif name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load") or name in (
            "eval",
            "exec",
            "compile",
            "__import__",
            "builtins.eval",
            "builtins.exec",
            "os.system",
            "os.popen",
        ):
            found.append(f"line {node.lineno}: {name}")
        elif name.startswith("subprocess.") and is_true(kw.get("shell")):
            found.append(f"line {node.lineno}: {name}(shell=True)")
    return found


def test_the_scanner_finds_unsafe_calls():
    bad = (
        "import torch, pickle, yaml\n"
        "torch.load(p)\ntorch.load(p, weights_only=False)\npickle.loads(b)\nyaml.load(s)\neval(s)\nexec(s)\n"
        "subprocess.run(c, shell=True)\n"
    )
    assert len(unsafe_calls(bad)) == 7
    assert unsafe_calls("torch.load(p, map_location='cpu', weights_only=True)\nnet.eval()\n") == []


def test_no_unsafe_loading_or_evaluation_in_the_sources():
    problems = {str(p.relative_to(ROOT)): unsafe_calls(p.read_text(encoding="utf-8")) for p in _python_files()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_checkpoint_loading_goes_through_safe_io():
    """Only safe_io calls torch.load; the other modules load checkpoints through it."""
    callers = [
        str(p.relative_to(ROOT))
        for p in _python_files()
        if "torch.load(" in p.read_text(encoding="utf-8") and p.name != "safe_io.py"
    ]
    assert callers == []


# -------------------------------------------------------------------------------------------------- behaviour
@pytest.fixture
def payload(tmp_path: Path):
    """``(checkpoint path, marker)``: a bundle-format checkpoint whose unpickling would create ``marker``."""
    marker = tmp_path / "PWNED"
    path = save_malicious_checkpoint(tmp_path / "model.pt", marker)
    return path, marker


def test_the_payload_is_live_when_loaded_unsafely(payload):
    path, marker = payload
    torch.load(path, weights_only=False)  # what a careless loader would do
    assert marker.is_dir()


def test_pickled_code_is_refused_by_load_network_and_the_inpainters(payload):
    from rfr_inpaint.inference import RFRInpainter
    from rfr_inpaint.inpainters import get_inpainter
    from rfr_inpaint.networks import load_network
    from rfr_inpaint.safe_io import load_checkpoint

    path, marker = payload
    for load in (load_checkpoint, load_network, lambda p: get_inpainter("rfr", p), lambda p: RFRInpainter(p)):
        with pytest.raises(CheckpointError, match=REFUSED) as info:
            load(path)
        assert str(path) in str(info.value)
    assert not marker.exists()


def test_pickled_code_is_refused_by_the_command_line(payload, tmp_path: Path):
    path, marker = payload
    image = write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "ct.nrrd")
    code, err = run_cli(["--image", image, "--metal-threshold", "0", "--output", tmp_path / "o.nrrd", "--model", path])
    assert code == 6 and str(path) in last_error_line(err) and "pickled code is never executed" in err
    # a bundle folder holding it as models/model.pt
    bundle = tmp_path / "bundle"
    (bundle / "models").mkdir(parents=True)
    path.rename(bundle / "models" / "model.pt")
    code, err = run_cli(
        ["--image", image, "--metal-threshold", "0", "--output", tmp_path / "o.nrrd", "--model", bundle]
    )
    assert code == 6 and "refused to load" in err
    assert not marker.exists() and not (tmp_path / "o.nrrd").exists()


def test_pickled_code_is_refused_by_the_bundle(tmp_path: Path):
    from ignite.engine import Engine
    from monai.bundle import ConfigWorkflow
    from rfr_inpaint.handlers import ResumeFromCheckpoint
    from rfr_inpaint.bundle.weights import load_pretrained

    marker = tmp_path / "PWNED"
    model = save_malicious_checkpoint(tmp_path / "model.pt", marker)
    with pytest.raises(CheckpointError, match=REFUSED):  # finetune's pretrained_model, inference's model_path
        load_pretrained(tiny_network(), model)
    wf = ConfigWorkflow(
        config_file=str(BUNDLE_DIR / "configs" / "inference.json"),
        meta_file=str(BUNDLE_DIR / "configs" / "metadata.json"),
        workflow_type="infer",
        bundle_root=str(tmp_path),
        model_path=str(model),
        device="$torch.device('cpu')",
    )
    wf.initialize()
    with pytest.raises(Exception) as info:
        wf.parser.get_parsed_content("network")
    assert "pickled code is never executed" in repr(info.value) + repr(info.value.__cause__)
    # resuming from a planted training checkpoint
    ckpt_dir = tmp_path / "models" / "train"
    ckpt_dir.mkdir(parents=True)
    save_malicious_checkpoint(ckpt_dir / "checkpoint_3.pt", marker, layout="resume")
    engine = Engine(lambda e, b: None)
    resume = ResumeFromCheckpoint(ckpt_dir, {"network": tiny_network()})
    resume.attach(engine)
    with pytest.raises(CheckpointError, match=REFUSED):
        engine.run([0], max_epochs=1)
    assert not marker.exists()


def test_pickled_code_is_refused_as_vgg_weights(tmp_path: Path):
    from rfr_inpaint.losses import RFRLoss
    from rfr_inpaint.vgg import VGG16Features

    marker = tmp_path / "PWNED"
    weights = save_malicious_checkpoint(tmp_path / "vgg16-397923af.pth", marker, layout="vgg")
    for build in (VGG16Features, lambda p: RFRLoss(vgg_weights=p)):
        with pytest.raises(CheckpointError, match=REFUSED):
            build(weights)
    assert not marker.exists()


def test_pickled_code_is_refused_by_the_slicer_logic(tmp_path: Path):
    slicer = pytest.importorskip("slicer")
    if str(SLICER_MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(SLICER_MODULE_DIR))
    from RFRInpaintLib.logic import InpaintOptions, RFRInpaintProcessor

    marker = tmp_path / "PWNED"
    model = save_malicious_checkpoint(tmp_path / "model.pt", marker)
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    volume = ct_like((4, 32, 32), np.int16)
    volume[2, 10:14, 10:14] = 3000
    slicer.util.updateVolumeFromArray(node, volume)
    with pytest.raises(CheckpointError, match=REFUSED):
        RFRInpaintProcessor().process(node, InpaintOptions(method="rfr", modelPath=str(model), device="cpu"))
    assert not marker.exists()
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1  # no output volume was created


def test_bundle_configs_are_read_as_data_by_the_command_line_and_slicer(tmp_path: Path):
    """The CLI and the Slicer module read a model's bundle configs as JSON (the intensity mapping it was trained
    with); an expression planted there is ignored, never evaluated."""
    from rfr_inpaint.transforms.intensity import intensity_for_model

    marker = tmp_path / "PWNED"
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    torch.save(tiny_network().state_dict(), bundle / "models" / "model.pt")
    expression = f"$__import__('os').makedirs({str(marker)!r}) or 'ct'"
    (bundle / "configs" / "inference.json").write_text(json.dumps({"intensity_mode": expression, "ct_window": [0, 1]}))
    assert intensity_for_model(bundle) is None
    image = write_sitk(ct_like((4, 32, 32), np.int16), tmp_path / "ct.nrrd")
    code, err = run_cli(
        [
            "--image",
            image,
            "--metal-threshold",
            "300",
            "--output",
            tmp_path / "o.nrrd",
            "--model",
            bundle,
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0, err
    assert not marker.exists()


# ------------------------------------------------------------------------------------------- Slicer dependencies
def _dependencies():
    if str(SLICER_MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(SLICER_MODULE_DIR))
    from RFRInpaintLib import dependencies

    return dependencies


def test_slicer_module_installs_nothing_without_consent():
    deps = _dependencies()
    asked, installed = [], []
    missing = "rfr-surely-not-installed-package>=1.0"

    def decline(message: str) -> bool:
        asked.append(message)
        return False

    with pytest.raises(deps.DependencyError, match="declined"):
        deps.ensure_dependencies(
            decline, requirements=[missing], pip_install=installed.append, torch_installer=lambda: installed.append(1)
        )
    assert len(asked) == 1 and "rfr-surely-not-installed-package" in asked[0]
    assert installed == []
    # with consent the same request installs (here: records) exactly the missing package
    with pytest.raises(deps.DependencyError, match="still missing"):
        deps.ensure_dependencies(lambda m: True, requirements=[missing, "numpy"], pip_install=installed.append)
    assert installed == [[missing]]
    # nothing missing: the user is not even asked
    assert deps.ensure_dependencies(lambda m: pytest.fail("asked for nothing"), requirements=["numpy"]) is True


def test_slicer_module_asks_before_installing():
    """The GUI passes a confirmation dialog to ensure_dependencies and never calls pip itself."""
    gui = (SLICER_MODULE_DIR / "RFRInpaint.py").read_text(encoding="utf-8")
    tree = ast.parse(gui)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _dotted(n.func).endswith("ensure_dependencies")]
    assert calls, "the module does not check its dependencies"
    for call in calls:
        confirm = next((k.value for k in call.keywords if k.arg == "confirm"), call.args[0] if call.args else None)
        assert confirm is not None and "confirmOkCancelDisplay" in ast.unparse(confirm)
    for path in _python_files():
        if path.name != "dependencies.py":
            assert "pip_install(" not in path.read_text(encoding="utf-8"), path
