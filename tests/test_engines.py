"""The RFR iteration on MONAI's engines and the bundle's handlers, with a tiny stand-in network (fast)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events
from PIL import Image
from rfr_inpaint.engines import PrepareInpaintingBatch, RFREvaluator, RFRTrainer, freeze_batchnorm
from rfr_inpaint.handlers import (
    BestModelSaver,
    ExampleImageSaver,
    ResumeFromCheckpoint,
    TrainingCheckpointSaver,
    example_panel,
    latest_checkpoint,
)
from rfr_inpaint.losses import RFRLoss
from rfr_inpaint.safe_io import CheckpointError, load_checkpoint
from torch import nn


class TinyInpainter(nn.Module):
    """A two-input network with a BatchNorm, standing in for RFR-Net (same call signature)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3, padding=1)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.bn(self.conv(torch.cat([image * (1 - hole), hole], dim=1))))


def _batches(n: int = 2, size: int = 16) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        image = torch.rand(2, 1, size, size, generator=g)
        hole = torch.zeros(2, 1, size, size)
        hole[:, :, 4:10, 3:9] = 1
        out.append({"image": image, "hole": hole})
    return out


def _loss() -> RFRLoss:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RFRLoss(vgg_weights=None)


def _trainer(net: nn.Module, freeze_bn: bool = False, handlers: list | None = None, epochs: int = 1) -> RFRTrainer:
    return RFRTrainer(
        device="cpu",
        max_epochs=epochs,
        train_data_loader=_batches(),
        network=net,
        optimizer=torch.optim.Adam(net.parameters(), 1e-2),
        loss_function=_loss(),
        freeze_bn=freeze_bn,
        train_handlers=handlers,
        decollate=False,
    )


def test_prepare_batch_checks_and_moves():
    prep = PrepareInpaintingBatch()
    b = _batches(1)[0]
    image, target, args, kwargs = prep(b, "cpu")
    assert target is image and args[0].shape == (2, 1, 16, 16) and kwargs == {}
    label = torch.zeros_like(b["image"])
    _, target, _, _ = prep({**b, "label": label}, "cpu")
    assert torch.equal(target, label)
    with pytest.raises(KeyError, match="'hole'"):
        prep({"image": b["image"]}, "cpu")
    with pytest.raises(ValueError, match="do not match"):
        prep({"image": b["image"], "hole": b["hole"][:, :, :8]}, "cpu")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        prep({"image": b["image"][0], "hole": b["hole"][0]}, "cpu")


def test_trainer_iteration_outputs_and_loss_terms():
    net = TinyInpainter()
    trainer = _trainer(net)
    outputs = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(e.state.output))
    before = net.conv.weight.detach().clone()
    trainer.run()
    assert len(outputs) == 2 and not torch.equal(before, net.conv.weight)
    out = outputs[-1]
    assert {"image", "label", "hole", "raw", "pred", "loss", "loss_hole", "loss_valid", "loss_tv"} <= set(out)
    known = out["hole"] < 0.5
    assert torch.equal(out["pred"][known], out["label"][known])  # composited
    assert torch.equal(out["image"][~known], torch.zeros_like(out["image"][~known]))  # input shown zero-filled
    assert 0.0 <= float(out["pred"].min()) and float(out["pred"].max()) <= 1.0
    expected = 6 * out["loss_hole"] + out["loss_valid"] + 0.1 * out["loss_tv"]
    assert out["loss"] == pytest.approx(expected, rel=1e-5)


def test_freeze_bn_keeps_running_statistics():
    for freeze, changes in ((True, False), (False, True)):
        net = TinyInpainter()
        stats = net.bn.running_mean.clone()
        _trainer(net, freeze_bn=freeze).run()
        assert (not torch.equal(stats, net.bn.running_mean)) == changes
    net = TinyInpainter().train()
    assert freeze_batchnorm(net) == 1 and not net.bn.training and net.conv.training


def test_non_finite_loss_stops_training():
    net = TinyInpainter()
    trainer = RFRTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=_batches(),
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), 0.1),
        loss_function=lambda p, t, h: (p * float("nan")).mean(),
        decollate=False,
    )
    with pytest.raises(ValueError, match="non-finite training loss"):
        trainer.run()
    with pytest.raises(ValueError, match="accumulation_steps"):
        RFRTrainer(device="cpu", max_epochs=1, train_data_loader=_batches(), network=net,
                   optimizer=torch.optim.SGD(net.parameters(), 0.1), loss_function=_loss(), accumulation_steps=2)


def test_evaluator_composites_in_eval_mode(tmp_path: Path):
    net = TinyInpainter().train()
    saver = ExampleImageSaver(tmp_path / "png", num_images=3)
    evaluator = RFREvaluator(device="cpu", val_data_loader=_batches(), network=net, val_handlers=[saver])
    modes = []
    net.register_forward_hook(lambda module, args, output: modes.append((module.training, torch.is_grad_enabled())))
    evaluator.run()
    assert modes == [(False, False)] * 2 and net.training  # eval mode without gradients during the run only
    out = evaluator.state.output  # decollated: a list of (1, H, W) dicts
    assert isinstance(out, list) and out[0]["pred"].shape == (1, 16, 16)
    known = out[0]["hole"] < 0.5
    assert torch.equal(out[0]["pred"][known], out[0]["label"][known])
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert len(names) == 3 * 5 and "example_2_panel.png" in names
    panel = np.asarray(Image.open(tmp_path / "png" / "example_0_panel.png"))
    assert panel.shape == (16, 4 * 16 + 6)


def test_example_panel_views():
    image = np.full((8, 8), 0.2, np.float32)
    hole = np.zeros((8, 8), np.float32)
    hole[2:4, 2:4] = 1
    result, truth = image.copy(), image.copy()
    result[2:4, 2:4] = 0.3
    views = example_panel(image, result, truth, hole, diff_gain=4.0)
    assert views["input"][2, 2] == 128 and views["input"][0, 0] == 51
    assert views["difference"][2, 2] == round(0.1 * 4 * 255) and views["difference"][0, 0] == 0
    assert views["panel"].shape == (8, 4 * 8 + 6)


def test_checkpoint_saver_resume_and_errors(tmp_path: Path):
    net = TinyInpainter()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    saver = TrainingCheckpointSaver(tmp_path, {"network": net, "optimizer": opt}, save_interval=1, n_saved=2)
    trainer = RFRTrainer(
        device="cpu",
        max_epochs=2,
        train_data_loader=_batches(),
        network=net,
        optimizer=opt,
        loss_function=_loss(),
        train_handlers=[saver],
        decollate=False,
    )
    trainer.run()
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["checkpoint_3.pt", "checkpoint_4.pt"]
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint_4.pt"
    assert latest_checkpoint(tmp_path / "missing") is None
    final = load_checkpoint(tmp_path / "checkpoint_4.pt")
    assert final["trainer"]["iteration"] == 4

    net2 = TinyInpainter()
    opt2 = torch.optim.Adam(net2.parameters(), 1e-2)
    resume = ResumeFromCheckpoint(tmp_path, {"network": net2, "optimizer": opt2})
    trainer2 = RFRTrainer(
        device="cpu",
        max_epochs=3,
        train_data_loader=_batches(),
        network=net2,
        optimizer=opt2,
        loss_function=_loss(),
        train_handlers=[resume],
        decollate=False,
    )
    seen = []
    trainer2.add_event_handler(Events.ITERATION_STARTED, lambda e: seen.append(e.state.iteration))
    trainer2.run()
    assert resume.loaded_from == tmp_path / "checkpoint_4.pt" and seen == [5, 6]

    (tmp_path / "checkpoint_9.pt").write_bytes(b"not a checkpoint")
    broken = ResumeFromCheckpoint(tmp_path, {"network": TinyInpainter()})
    trainer3 = RFRTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=_batches(),
        network=net2,
        optimizer=opt2,
        loss_function=_loss(),
        train_handlers=[broken],
        decollate=False,
    )
    with pytest.raises(CheckpointError, match="checkpoint_9.pt"):
        trainer3.run()
    disabled = ResumeFromCheckpoint(tmp_path, {"network": TinyInpainter()}, enabled=False)
    disabled(trainer3)
    assert disabled.loaded_from is None


def test_best_model_saver_keeps_the_best_across_resume(tmp_path: Path):
    net = TinyInpainter()
    saver = BestModelSaver(net, [tmp_path / "model.pt", tmp_path / "stage" / "model.pt"])
    assert saver.state_dict() == {"best_metric": -1.0, "best_metric_epoch": -1}
    saver.load_state_dict({"best_metric": 0.99, "best_metric_epoch": 3})  # before attach: applied when attached
    from rfr_inpaint.metrics import MaskedSSIMHandler

    evaluator = RFREvaluator(
        device="cpu",
        val_data_loader=_batches(),
        network=net,
        key_val_metric={"val_ssim": MaskedSSIMHandler()},
        val_handlers=[saver],
    )
    assert evaluator.state.best_metric == 0.99
    evaluator.run(global_epoch=4)
    assert not (tmp_path / "model.pt").exists()  # the tiny network does not beat 0.99
    saver.load_state_dict({"best_metric": -1.0, "best_metric_epoch": -1})
    evaluator.run(global_epoch=5)
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "stage" / "model.pt").is_file()
    state = load_checkpoint(tmp_path / "stage" / "model.pt")
    assert set(state) == set(net.state_dict())
