"""Merging a LoRA adapter saved in peft's format into a model's weights, without peft.

Phi-4-multimodal keeps the LoRA its language model reads images through in its
checkpoint's `vision-lora/` folder (peft's `adapter_config.json` and
`adapter_model.safetensors`); transformers' `load_adapter` would need peft 0.22 or newer,
which is not on the package index this project installs from. A LoRA is W + s * B A (s =
alpha / r, or alpha / sqrt(r) with rsLoRA), so merging it is exact for inference and for
the attack's gradients (no dropout in eval), and it costs nothing per step afterwards.
Only plain LoRA on linear layers is merged; anything else is refused clearly.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from safetensors.torch import load_file

log = logging.getLogger(__name__)

PREFIX = "base_model.model."


def lora_scale(config: dict) -> float:
    """The factor on B A: alpha / r, or alpha / sqrt(r) for rsLoRA."""
    r, alpha = config["r"], config.get("lora_alpha", config["r"])
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def merge_lora(model: torch.nn.Module, folder: Path) -> int:
    """Add the LoRA saved in `folder` to `model`'s weights, in place; returns how many
    layers it changed. Raises ValueError for adapters that are not plain LoRA."""
    config = json.loads((folder / "adapter_config.json").read_text())
    if config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{folder} holds a {config.get('peft_type')} adapter; only LoRA can be merged")
    for unsupported in ("use_dora", "rank_pattern", "alpha_pattern"):
        if config.get(unsupported):
            raise ValueError(f"{folder}: LoRA with {unsupported} is not supported")
    scale = lora_scale(config)
    tensors = load_file(folder / "adapter_model.safetensors")
    modules = dict(model.named_modules())
    merged = 0
    for key, a in tensors.items():
        if not key.endswith(".lora_A.weight"):
            continue
        b = tensors[key.replace(".lora_A.weight", ".lora_B.weight")]
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        name = name[: -len(".lora_A.weight")]
        layer = modules.get(name)
        if not isinstance(layer, torch.nn.Linear):
            raise ValueError(f"{folder}: the LoRA names {name!r}, which is not a linear layer of this model")
        delta = (b.float() @ a.float()) * scale
        if config.get("fan_in_fan_out"):
            delta = delta.T
        with torch.no_grad():
            layer.weight.add_(delta.to(layer.weight))
        merged += 1
    if merged == 0:
        raise ValueError(f"{folder}: no LoRA weights found in adapter_model.safetensors")
    return merged
