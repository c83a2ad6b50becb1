"""Loading networks: this project's checkpoints and the authors' RFR-Net checkpoints.

The authors' code names its layers ``Pconv1``, ``bn20``, ``RFRModule.enc_1.0``, ... (the full list with shapes is
``tests/data/rfrnet_reference_keys.txt``); :func:`convert_reference_state_dict` renames them to this package's
layer names and, for a grayscale network, folds the RGB weights into one channel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..guides import AUTO_SPACING_EXPONENT
from ..safe_io import CheckpointError, load_checkpoint
from .rfrnet import RFRNet, guide_channels

__all__ = [
    "REFERENCE_PREFIXES",
    "convert_reference_state_dict",
    "reference_to_grayscale",
    "load_reference_checkpoint",
    "load_network",
    "extract_state_dict",
]

# Reference prefix -> this package's prefix (longest match wins; the layer's own suffix is kept).
REFERENCE_PREFIXES: dict[str, str] = {
    "Pconv1.": "head_pconv1.",
    "bn1.": "head_bn1.",
    "Pconv2.": "head_pconv2.",
    "bn20.": "head_bn2.",
    "Pconv21.": "step_pconv1.",
    "Pconv22.": "step_pconv2.",
    "bn2.": "step_bn.",
    "RFRModule.att.att.": "rfr.attention.kca.",
    "RFRModule.att.combiner.": "rfr.attention.combiner.",
    "Tconv.": "up_deconv.",
    "bn3.": "up_bn.",
    "tail1.": "tail_pconv.",
    "tail2.": "tail_bottleneck.",
    "out.": "out_conv.",
}
_RFR_BLOCK = re.compile(r"^RFRModule\.(enc|dec)_(\d)\.(.*)$")


def _rename(key: str) -> str | None:
    match = _RFR_BLOCK.match(key)
    if match:
        return f"rfr.{match.group(1)}{match.group(2)}.{match.group(3)}"
    for old in sorted(REFERENCE_PREFIXES, key=len, reverse=True):
        if key.startswith(old):
            return REFERENCE_PREFIXES[old] + key[len(old) :]
    return None


def reference_to_grayscale(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fold a converted 3-channel state dict into a 1-channel one.

    Replicating a gray image into 3 channels and averaging the 3 outputs is exactly a one-channel network whose
    first layer and the image part of the tail's partial convolution sum their weights over the 3 input channels,
    whose output layer averages its weights over the 3 output channels, and whose mask renormalisation still
    counts the image mask as 3 channels (``image_mask_channels = 3``).

    Args:
        state_dict: a state dict with this package's names and 3 image channels.

    Returns:
        a new state dict for ``RFRNet(in_channels=1)``.
    """
    out = dict(state_dict)
    w = state_dict["head_pconv1.weight"]
    if w.shape[1] != 3:
        raise ValueError(f"expected a 3-channel network to fold, head_pconv1.weight has shape {list(w.shape)}")
    out["head_pconv1.weight"] = w.sum(dim=1, keepdim=True)
    tail = state_dict["tail_pconv.weight"]
    out["tail_pconv.weight"] = torch.cat([tail[:, :3].sum(dim=1, keepdim=True), tail[:, 3:]], dim=1)
    out["out_conv.weight"] = state_dict["out_conv.weight"].mean(dim=0, keepdim=True)
    out["image_mask_channels"] = torch.tensor(3.0)
    return out


def convert_reference_state_dict(
    state_dict: Mapping[str, torch.Tensor], in_channels: int = 3
) -> dict[str, torch.Tensor]:
    """Rename the authors' RFR-Net state dict to this package's names.

    Args:
        state_dict: the ``generator`` state dict of an authors' checkpoint (a ``module.`` prefix from
            ``DataParallel`` is accepted).
        in_channels: 3 keeps the RGB network; 1 folds it into a grayscale network (:func:`reference_to_grayscale`).

    Returns:
        a state dict that loads into ``RFRNet(in_channels=in_channels)`` with strict key checking.

    Raises:
        KeyError: a key is not part of the reference architecture (the message lists every such key).
    """
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        plain = key[len("module.") :] if key.startswith("module.") else key
        new = _rename(plain)
        if new is None:
            unknown.append(key)
        else:
            converted[new] = value
    if unknown:
        raise KeyError(f"keys that are not part of the RFR-Net reference architecture: {unknown}")
    w = converted.get("head_pconv1.weight")
    if w is not None:
        converted.setdefault("image_mask_channels", torch.tensor(float(w.shape[1])))
    if in_channels == 1 and w is not None and w.shape[1] == 3:
        converted = reference_to_grayscale(converted)
    elif w is not None and w.shape[1] != in_channels:
        raise ValueError(f"cannot convert a {w.shape[1]}-channel checkpoint to {in_channels} channels")
    return converted


def extract_state_dict(checkpoint: Any, source: str = "checkpoint") -> tuple[dict[str, torch.Tensor], bool]:
    """Find the network's state dict in a loaded checkpoint.

    Accepts a bare state dict, this bundle's checkpoints (``{"network": ...}``, ``{"model": ...}``,
    ``{"state_dict": ...}``) and the authors' files (``{"n_iter", "generator", "optimizer_G"}``).

    Returns:
        the state dict and whether it uses the authors' names.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{source}: expected a dict of tensors, found {type(checkpoint).__name__}")
    if "generator" in checkpoint:
        return dict(checkpoint["generator"]), True
    for key in ("network", "model", "state_dict", "net"):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            checkpoint = checkpoint[key]
            break
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in checkpoint.items()}
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: does not hold a network state dict (keys: {list(checkpoint)[:8]})")
    is_reference = "Pconv1.weight" in state
    return state, is_reference


def _load_strict(net: RFRNet, state: Mapping[str, torch.Tensor], source: str) -> None:
    result = net.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing keys {result.missing_keys}")
    if result.unexpected_keys:
        problems.append(f"unexpected keys {result.unexpected_keys}")
    if problems:
        raise CheckpointError(f"{source}: not an RFR-Net checkpoint of this configuration: " + "; ".join(problems))


def _network_options(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    head = state.get("head_pconv1.weight")
    step = state.get("head_pconv2.weight")
    options: dict[str, Any] = {}
    guide = state.get("guide_config")
    if guide is not None:
        prior, context_slices = (int(v) for v in guide.tolist())
        options.update(prior=bool(prior), context_slices=context_slices)
    if head is not None:
        options["in_channels"] = int(head.shape[1]) - guide_channels(bool(options.get("prior")), options.get("context_slices", 0))
        options["width"] = int(head.shape[0])
    if step is not None:
        options["small_hole"] = int(step.shape[-1]) == 5
    prior_config = state.get("prior_config")
    if prior_config is not None:
        values = prior_config.reshape(-1).tolist()
        options["prior_spacing_exponent"] = AUTO_SPACING_EXPONENT if len(values) > 1 and values[1] else float(values[0])
    recurrences = state.get("recurrence_config")
    if recurrences is not None:
        options["num_recurrences"] = int(recurrences.item())
    return options


def load_network(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", in_channels: int | None = None, **kwargs: Any
) -> RFRNet:
    """Build an :class:`RFRNet` from a checkpoint file of this project or of the authors' code, in eval mode.

    The architecture (channels, width, kernel variant, the prior / context-slice guide of the variants, which
    travel as the ``guide_config`` buffer, the prior's spacing exponent as ``prior_config``, and a number of
    recurrences other than the paper's 6, as ``recurrence_config``) is read from the state dict; weights stored in float16 are loaded into the
    float32 network; the file is loaded with
    ``weights_only=True``. Shapes that do not match and missing or unexpected keys raise an error naming them.

    Args:
        path: checkpoint file.
        map_location: device for the weights.
        in_channels: for an authors' RGB checkpoint, 1 converts it to a grayscale network (default keeps 3).
        kwargs: further :class:`RFRNet` options (e.g. ``attention_chunk_elements``); they override the recorded
            ones.

    Returns:
        the network in eval mode.
    """
    checkpoint = load_checkpoint(Path(path), map_location=map_location)
    return _network_from_checkpoint(checkpoint, str(path), map_location, in_channels, **kwargs)


def _network_from_checkpoint(
    checkpoint: Any, source: str, map_location: str | torch.device, in_channels: int | None, **kwargs: Any
) -> RFRNet:
    state, is_reference = extract_state_dict(checkpoint, source)
    if is_reference:
        try:
            state = convert_reference_state_dict(state, in_channels=in_channels or 3)
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{source}: {e}") from e
    options = _network_options(state)
    if "head_pconv1.weight" not in state:
        raise CheckpointError(f"{source}: not an RFR-Net checkpoint (no head_pconv1.weight; keys: {list(state)[:8]})")
    if in_channels is not None and not is_reference and options.get("in_channels") != in_channels:
        raise CheckpointError(f"{source}: holds a {options.get('in_channels')}-channel network, not {in_channels}")
    options.update(kwargs)
    net = RFRNet(**options)
    try:
        _load_strict(net, state, source)
    except RuntimeError as e:
        if isinstance(e, CheckpointError):
            raise
        detail = "; ".join(ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()) or str(e).splitlines()[0]
        raise CheckpointError(f"{source}: weights do not fit RFR-Net: {detail}") from e
    return net.to(map_location).eval()


def load_reference_checkpoint(
    path: str | os.PathLike, in_channels: int = 3, map_location: str | torch.device = "cpu", **kwargs: Any
) -> RFRNet:
    """Load an authors' checkpoint file (``{'n_iter', 'generator', 'optimizer_G'}``) into an :class:`RFRNet`.

    Args:
        path: the ``.pth`` file written by the authors' training code.
        in_channels: 3 for the RGB network, 1 to fold it into an exactly equivalent grayscale network.
        map_location: device for the weights.
        kwargs: further :class:`RFRNet` options.

    Returns:
        the network in eval mode.
    """
    checkpoint = load_checkpoint(Path(path), map_location=map_location)
    if not isinstance(checkpoint, Mapping) or "generator" not in checkpoint:
        keys = list(checkpoint)[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise CheckpointError(f"{path}: not an authors' RFR-Net checkpoint (expected a 'generator' entry; got {keys})")
    return _network_from_checkpoint(checkpoint, str(path), map_location, in_channels, **kwargs)
