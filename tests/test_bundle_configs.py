"""The bundle's config files: each of the three documented ``run`` configs is self-contained (every ``@id`` it
references exists in it), ``evaluate.json`` is the current merge of ``train.json`` and ``evaluate_overrides.json``
(``scripts/build_configs.py``), the model-zoo list form gives the same configuration, and ``run`` is an alias of each
config's named run id. Fast: only config parsing, nothing is instantiated."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from _bundle_helpers import BUNDLE_DIR, CONFIGS
from monai.bundle import ConfigParser

#: the documented commands: config file -> its named run id
RUN_CONFIGS = {"train.json": "training", "evaluate.json": "evaluating", "inference.json": "inference"}
_REFERENCE = re.compile(r"@([A-Za-z_][\w]*(?:(?:#|::)[\w]+)*)")


def _build_configs():
    spec = importlib.util.spec_from_file_location("build_configs", BUNDLE_DIR / "scripts" / "build_configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _references(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set(_REFERENCE.findall(value)) if isinstance(value, str) else set()


@pytest.mark.parametrize("name", sorted(RUN_CONFIGS))
def test_run_configs_are_self_contained_and_run_is_an_alias(name: str):
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / name))  # a single file, as `--config_file configs/<name>` reads it
    refs = _references(parser.get())
    assert refs, name
    missing = sorted(r for r in refs if r.replace("::", "#") not in parser)
    assert not missing, f"{name} references ids it does not define: {missing}"
    assert parser["run"] == parser[RUN_CONFIGS[name]], f"'run' of {name} is not an alias of {RUN_CONFIGS[name]!r}"
    for other in set(RUN_CONFIGS.values()) - {RUN_CONFIGS[name]}:  # no config runs another stage by mistake
        assert other not in parser.get(), f"{name} defines the run id {other!r}"


def test_evaluate_json_is_the_current_merge_of_train_and_overrides(tmp_path: Path):
    build = _build_configs()
    assert build.build(CONFIGS, check=True) == [], "run `python scripts/build_configs.py` in monai_bundle/"
    committed = json.loads((CONFIGS / "evaluate.json").read_text())
    # the overrides are applied: the test pipeline, the baseline comparison and the evaluation run id
    assert committed["validate"]["dataset"]["dataset"]["split"] == "test"
    assert committed["validate"]["hole_transforms"][0].endswith("**@test_mask)")
    assert committed["validate"]["handlers"][-1] == "@validate#comparison"
    # the model-zoo list form gives the same configuration as the standalone file
    assert ConfigParser.load_config_files([str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")]) == {
        **committed,
        "training": json.loads((CONFIGS / "train.json").read_text())["training"],
    }
    # the check notices drift: an edited override makes the committed file stale until it is rebuilt
    for f in ("train.json", "evaluate_overrides.json", "evaluate.json"):
        (tmp_path / f).write_text((CONFIGS / f).read_text())
    overrides = json.loads((tmp_path / "evaluate_overrides.json").read_text())
    overrides["num_test_images"] = 5
    (tmp_path / "evaluate_overrides.json").write_text(json.dumps(overrides))
    assert build.build(tmp_path, check=True) == [tmp_path / "evaluate.json"]
    assert build.main(["--config_dir", str(tmp_path), "--check"]) == 1
    assert build.build(tmp_path) == [tmp_path / "evaluate.json"]
    assert json.loads((tmp_path / "evaluate.json").read_text())["num_test_images"] == 5
    assert build.main(["--config_dir", str(tmp_path), "--check"]) == 0


def test_merge_errors_name_the_file_and_the_problem(tmp_path: Path):
    build = _build_configs()
    with pytest.raises(FileNotFoundError, match="train.json"):
        build.merged_config(("train.json",), config_dir=tmp_path)
    (tmp_path / "base.json").write_text("{}")
    (tmp_path / "over.json").write_text('{"validate#dataset": 1}')
    with pytest.raises(KeyError, match="validate"):
        build.merged_config(("base.json", "over.json"), config_dir=tmp_path)


def test_the_configs_record_the_package_defaults_and_one_mapping():
    """The configs record the mapping their model is trained and run with (data a bundle reader reads, so literals);
    they are the package's defaults and the same in training and inference."""
    from rfr_inpaint.defaults import DEFAULT_CT_WINDOW, DEFAULT_PERCENTILES, INTENSITY_MODES

    train, infer = (json.loads((CONFIGS / name).read_text()) for name in ("train.json", "inference.json"))
    for config in (train, infer):
        assert tuple(config["ct_window"]) == DEFAULT_CT_WINDOW and tuple(config["percentiles"]) == DEFAULT_PERCENTILES
        assert config["intensity_mode"] in INTENSITY_MODES
    assert train["intensity_mode"] == infer["intensity_mode"]
    assert infer["mask_margin_mm"] == "$rfr_inpaint.defaults.MASK_MARGIN_MM"


#: each training command of the docs (config files in list order) -> its stage folder under models/
TRAINING_CONFIGS = {
    ("train.json",): "train",
    ("train.json", "finetune.json"): "finetune",
    ("train.json", "gpu_train.json"): "train",
    ("train.json", "gpu_train.json", "finetune.json"): "finetune",
    ("train.json", "multi_gpu_train.json"): "train",
    ("train_real_ct.json",): "real_ct",
}


@pytest.mark.parametrize("configs", sorted(TRAINING_CONFIGS), ids=lambda c: "+".join(c))
def test_training_never_writes_the_shipped_model(configs: tuple[str, ...], tmp_path: Path):
    """Every training command writes its best model to its stage folder, never to the shipped ``models/model.pt``
    that inference, evaluation and export read; fine-tuning starts from the training stage's best model."""
    from rfr_inpaint.defaults import SHIPPED_MODEL

    parser = ConfigParser(ConfigParser.load_config_files([str(CONFIGS / c) for c in configs]))
    parser["bundle_root"] = str(tmp_path)
    stage_model = tmp_path / "models" / TRAINING_CONFIGS[configs] / "model.pt"
    saved = [Path(p) for p in parser.get_parsed_content("validate#best_model_saver#save_paths")]
    assert saved == [stage_model] and tmp_path / SHIPPED_MODEL not in saved
    if "finetune.json" in configs:
        assert Path(parser.get_parsed_content("pretrained_model")) == tmp_path / "models" / "train" / "model.pt"


@pytest.mark.parametrize("name", ["inference.json", "evaluate.json"])
def test_inference_and_evaluation_build_the_network_from_the_shipped_model(name: str, tmp_path: Path):
    """``model_path`` defaults to the shipped model, and the network is whatever its checkpoint holds
    (``load_network``), not a fixed architecture that would have to match it."""
    from rfr_inpaint.defaults import SHIPPED_MODEL

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / name))
    parser["bundle_root"] = str(tmp_path)
    assert Path(parser.get_parsed_content("model_path")) == tmp_path / SHIPPED_MODEL
    assert parser["network_def"] == {
        "_target_": "rfr_inpaint.networks.load_network",
        "path": "@model_path",
        "in_channels": 1,
    }
    assert parser["network"] == "$@network_def.to(@device)"
    inferer = parser["validate#inferer" if name == "evaluate.json" else "inferer"]
    assert inferer["_target_"] == "rfr_inpaint.bundle.inference_pipeline.VolumeInpaintingInferer"  # builds guides
