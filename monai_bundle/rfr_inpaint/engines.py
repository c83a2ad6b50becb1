"""The RFR-Net training and evaluation iterations on MONAI's Ignite engines.

:class:`RFRTrainer` and :class:`RFREvaluator` are :class:`monai.engines.SupervisedTrainer` and
:class:`monai.engines.SupervisedEvaluator` whose iteration is the one of RFR-Net: the network receives the image and
the hole mask (``network(image, hole)``; it masks the image itself), its raw prediction is composited with the known
pixels (:func:`rfr_inpaint.networks.composite`), and the loss (:class:`rfr_inpaint.losses.RFRLoss`) sees the raw
prediction, the ground truth and the hole. Everything else (data loading, events, handlers, metrics, AMP on CUDA,
``state_dict`` for resume, ``ValidationHandler``, checkpoints, TensorBoard) is MONAI's / Ignite's machinery.

Each iteration stores these keys in ``engine.state.output`` (batch-first tensors before MONAI's decollation):

* ``image``: the network's input as a person sees it, the image with the hole zero-filled;
* ``label``: the ground truth (the complete image);
* ``hole``: the hole mask, 1 = hole;
* ``raw``: the network's raw prediction;
* ``pred``: the composited result, known pixels copied from the input, hole pixels from ``raw`` clipped to [0, 1];
* ``loss`` (trainer only): the total loss as a Python float, plus one ``loss_<term>`` entry per loss term when the
  loss function exposes them (``last_terms``).

The metric handlers of :mod:`rfr_inpaint.metrics` read ``pred``, ``label`` and ``hole`` from that output.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.engines.utils import IterationEvents, PrepareBatch
from monai.utils import CommonKeys as Keys
from torch.nn.modules.batchnorm import _BatchNorm

from rfr_inpaint.networks import composite

__all__ = [
    "PrepareInpaintingBatch",
    "RFRTrainer",
    "RFREvaluator",
    "freeze_batchnorm",
    "unwrap",
    "HOLE_KEY",
    "RAW_KEY",
    "GUIDE_KEY",
]

#: output / batch key of the hole mask.
HOLE_KEY = "hole"
#: output key of the network's raw (not composited) prediction.
RAW_KEY = "raw"
#: batch key of the guide channels of the RFR-Net variants (prior fill, neighbouring slices).
GUIDE_KEY = "guide"

logger = logging.getLogger(__name__)


class PrepareInpaintingBatch(PrepareBatch):
    """Turn a batch dict ``{"image", "hole"[, "label"]}`` into ``(image, target, (hole,), {})`` on the device.

    The 4-tuple form is the one MONAI's engines accept for extra network arguments, so the same batches also work
    with a plain :class:`~monai.engines.SupervisedEvaluator` (``network(image, hole)``). The target is ``label``
    when the batch holds one (e.g. a clean image whose corrupted version is ``image``), else the image itself.

    Args:
        image_key: key of the image, (N, C, H, W) in [0, 1] ((N, C, D, H, W) volumes for inference).
        hole_key: key of the hole mask, (N, 1, H, W), 1 = hole.
        label_key: key of the ground truth; when missing from a batch the image is its own ground truth.
        guide_key: key of the guide channels (:mod:`rfr_inpaint.guides`); when a batch holds it, it is passed as the
            network's third argument.
    """

    def __init__(
        self,
        image_key: str = Keys.IMAGE,
        hole_key: str = HOLE_KEY,
        label_key: str = Keys.LABEL,
        guide_key: str = GUIDE_KEY,
    ) -> None:
        self.image_key = image_key
        self.hole_key = hole_key
        self.label_key = label_key
        self.guide_key = guide_key

    def __call__(
        self,
        batchdata: Mapping[str, Any],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor], dict]:
        """Select, check and move the tensors.

        Raises:
            KeyError: the batch lacks the image or the hole.
            ValueError: image and hole are not 4D tensors of the same batch size and spatial shape.
        """
        if not isinstance(batchdata, Mapping):
            raise TypeError(
                f"expected a batch dict with {self.image_key!r} and {self.hole_key!r}, got {type(batchdata)}"
            )
        for key in (self.image_key, self.hole_key):
            if key not in batchdata:
                raise KeyError(f"batch has no {key!r} entry (keys: {sorted(map(str, batchdata))})")
        image = torch.as_tensor(batchdata[self.image_key])
        hole = torch.as_tensor(batchdata[self.hole_key])
        if image.dim() not in (4, 5) or hole.dim() != image.dim():
            raise ValueError(
                f"expected (N, C, H, W) (or (N, C, D, H, W) volumes) {self.image_key!r} and {self.hole_key!r}, got "
                f"{list(image.shape)} and {list(hole.shape)}"
            )
        if image.shape[0] != hole.shape[0] or image.shape[2:] != hole.shape[2:]:
            raise ValueError(f"image {list(image.shape)} and hole {list(hole.shape)} do not match")
        label = batchdata.get(self.label_key)
        to = {"device": device, "non_blocking": non_blocking, **kwargs}
        image = image.to(**to)
        target = label.to(**to) if isinstance(label, torch.Tensor) else image
        hole = hole.to(**to).to(image.dtype)
        guide = batchdata.get(self.guide_key)
        if isinstance(guide, torch.Tensor):  # the guided RFR-Net variants: network(image, hole, guide)
            return image, target, (hole, guide.to(**to).to(image.dtype)), {}
        return image, target, (hole,), {}


def freeze_batchnorm(network: torch.nn.Module) -> int:
    """Put every BatchNorm layer of ``network`` in eval mode (running statistics used and no longer updated).

    The fine-tuning stage of RFR-Net keeps all BatchNorm layers in eval mode while the rest of the network trains,
    as the reference does. Their affine weights still receive gradients.

    Args:
        network: the (possibly DDP-wrapped) network.

    Returns:
        the number of BatchNorm layers switched.
    """
    count = 0
    for module in network.modules():
        if isinstance(module, _BatchNorm):
            module.eval()
            count += 1
    return count


def _autocast(engine: Any) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on CUDA when the engine uses AMP; nothing otherwise (CPU runs stay in float32)."""
    device = torch.device(engine.state.device) if engine.state.device is not None else torch.device("cpu")
    if engine.amp and device.type == "cuda":
        return torch.autocast("cuda", **engine.amp_kwargs)
    return contextlib.nullcontext()


def _outputs(image: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, raw: torch.Tensor) -> dict[str, Any]:
    with torch.no_grad():
        pred = composite(image, raw.detach().float().clamp(0.0, 1.0), hole)
        masked = image * (1.0 - hole)
    return {Keys.IMAGE: masked, Keys.LABEL: target, HOLE_KEY: hole, RAW_KEY: raw.detach(), Keys.PRED: pred}


class RFRTrainer(SupervisedTrainer):
    """MONAI :class:`~monai.engines.SupervisedTrainer` running the RFR-Net iteration.

    One iteration: ``raw = inferer(image, network, hole)``, ``loss = loss_function(raw, target, hole)``, backward,
    optimizer step (with MONAI's gradient scaler when ``amp`` is on CUDA). With ``freeze_bn`` (the fine-tuning
    stage) every BatchNorm layer is kept in eval mode. The iteration fires MONAI's ``IterationEvents``.

    Args:
        device: the device of the run.
        max_epochs: number of epochs.
        train_data_loader: loader of ``{"image", "hole"}`` batches.
        network: the RFR-Net (or a DDP wrapper of it).
        optimizer: the optimizer of the network.
        loss_function: callable ``(raw, target, hole) -> loss``, e.g. :class:`rfr_inpaint.losses.RFRLoss`. When it
            has a ``last_terms`` dict of the unweighted terms after a call, they are logged as ``loss_<term>``.
        freeze_bn: keep BatchNorm in eval mode (fine-tuning).
        prepare_batch: defaults to :class:`PrepareInpaintingBatch`.
        kwargs: the other arguments of :class:`~monai.engines.SupervisedTrainer` (``epoch_length``, ``inferer``,
            ``postprocessing``, ``key_train_metric``, ``train_handlers``, ``amp``, ``decollate``...).

    Raises:
        ValueError: ``accumulation_steps`` other than 1 (the RFR step updates the weights every iteration).
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable,
        network: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_function: Callable,
        freeze_bn: bool = False,
        prepare_batch: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        device = torch.device(device)
        if int(kwargs.get("accumulation_steps", 1)) != 1:
            raise ValueError("RFRTrainer steps the optimizer every iteration; accumulation_steps must be 1")
        if kwargs.get("amp") and device.type != "cuda":
            warnings.warn("amp=True only applies on CUDA; training in float32 on " + str(device), stacklevel=2)
            kwargs["amp"] = False
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=loss_function,
            prepare_batch=prepare_batch or PrepareInpaintingBatch(),
            **kwargs,
        )
        self.freeze_bn = freeze_bn

    def _iteration(self, engine: RFRTrainer, batchdata: dict[str, Any]) -> dict:  # type: ignore[override]
        """One RFR training step; returns the output dict described in the module docstring.

        Raises:
            ValueError: ``batchdata`` is None or the loss is not finite.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        image, target, args, kwargs = engine.prepare_batch(
            batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs
        )
        hole = args[0]
        engine.network.train()
        if engine.freeze_bn:
            freeze_batchnorm(engine.network)
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        with _autocast(engine):
            raw = engine.inferer(image, engine.network, *args, **kwargs)
            engine.state.output = _outputs(image, target, hole, raw)
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            loss = engine.loss_function(raw.float(), target.float(), hole.float())
            loss = loss.mean()
        if not torch.isfinite(loss):
            raise ValueError(f"non-finite training loss {loss.item()} at iteration {engine.state.iteration}")
        engine.state.output[Keys.LOSS] = loss.item()
        for name, value in dict(getattr(engine.loss_function, "last_terms", None) or {}).items():
            if name != "total":
                engine.state.output[f"loss_{name}"] = float(value)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        if engine.amp and engine.scaler is not None:
            engine.scaler.scale(loss).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.scaler.step(engine.optimizer)
            engine.scaler.update()
        else:
            loss.backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


class RFREvaluator(SupervisedEvaluator):
    """MONAI :class:`~monai.engines.SupervisedEvaluator` running RFR-Net inference: ``inferer(image, network, hole)``
    in eval mode without gradients, then compositing.

    Args:
        device: the device of the run.
        val_data_loader: loader of ``{"image", "hole"}`` batches.
        network: the RFR-Net.
        prepare_batch: defaults to :class:`PrepareInpaintingBatch`.
        kwargs: the other arguments of :class:`~monai.engines.SupervisedEvaluator` (``inferer``,
            ``key_val_metric``, ``additional_metrics``, ``val_handlers``, ``amp``, ``postprocessing``...).
    """

    def __init__(
        self,
        device: str | torch.device,
        val_data_loader: Iterable,
        network: torch.nn.Module,
        prepare_batch: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        device = torch.device(device)
        if kwargs.get("amp") and device.type != "cuda":
            kwargs["amp"] = False
        super().__init__(
            device=device,
            val_data_loader=val_data_loader,
            network=network,
            prepare_batch=prepare_batch or PrepareInpaintingBatch(),
            **kwargs,
        )

    def _iteration(self, engine: RFREvaluator, batchdata: dict[str, Any]) -> dict:  # type: ignore[override]
        """One inference step; returns the output dict described in the module docstring.

        Raises:
            ValueError: ``batchdata`` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        image, target, args, kwargs = engine.prepare_batch(
            batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs
        )
        with engine.mode(engine.network), torch.no_grad(), _autocast(engine):
            raw = engine.inferer(image, engine.network, *args, **kwargs)
        engine.state.output = _outputs(image, target, args[0], raw.float())
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The module inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper (or ``network`` itself)."""
    wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    return network.module if isinstance(network, wrappers) else network
