"""Loading the weights of an earlier stage (or the authors' checkpoint) into the network a bundle config builds."""

from __future__ import annotations

import logging
import os

import torch

from rfr_inpaint.engines import unwrap
from rfr_inpaint.networks.reference import convert_reference_state_dict, extract_state_dict
from rfr_inpaint.safe_io import CheckpointError, load_checkpoint

__all__ = ["load_pretrained"]

logger = logging.getLogger(__name__)


def load_pretrained(
    network: torch.nn.Module, path: str | os.PathLike | None, map_location: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Load weights of an earlier stage (or an authors' checkpoint) into ``network``; ``path=None`` keeps it as is.

    Used by ``finetune.json`` to start from the trained model. Accepts the bundle's ``model.pt`` (bare state dict),
    resume checkpoints (``{"network": ...}``) and the authors' files (converted).

    Args:
        network: the network (possibly DDP-wrapped).
        path: checkpoint file, or None.
        map_location: device of the loaded tensors.

    Returns:
        ``network``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file does not hold weights of this network.
    """
    if path is None or str(path) == "":
        return network
    state, is_reference = extract_state_dict(load_checkpoint(path, map_location=map_location), str(path))
    target = unwrap(network)
    if is_reference:
        state = convert_reference_state_dict(state, in_channels=getattr(target, "in_channels", 3))
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = "; ".join(ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()) or str(e).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the configured network: {detail}") from e
    logger.info(f"loaded pretrained weights from {path}")
    return network
