"""RFR-Net and its building blocks."""

from __future__ import annotations

from .attention import AttentionModule, KnowledgeConsistentAttention
from .partial_conv import PartialConv2d
from .rfr_module import RFRModule
from .rfrnet import Bottleneck, RFRNet, composite, crop_padding, pad_to_multiple
from .reference import convert_reference_state_dict, load_network, load_reference_checkpoint, reference_to_grayscale

__all__ = [
    "AttentionModule",
    "Bottleneck",
    "KnowledgeConsistentAttention",
    "PartialConv2d",
    "RFRModule",
    "RFRNet",
    "composite",
    "convert_reference_state_dict",
    "crop_padding",
    "load_network",
    "load_reference_checkpoint",
    "pad_to_multiple",
    "reference_to_grayscale",
]
