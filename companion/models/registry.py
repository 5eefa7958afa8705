"""Find a model by name, pick its adapter, device and dtype, and load it.

A model is named by `demo` (the tiny trained LLaVA shipped in the package) or another
shipped test model, a local folder in Hugging Face format, or a Hugging Face id such as
`llava-hf/llava-1.5-7b-hf` or `Qwen/Qwen2.5-VL-7B-Instruct`, which is taken from the local
Hugging Face cache. The family comes from the folder's config.json (`model_type`); each
family is one adapter file in this package.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from companion.demo import DEMO_MODEL_DIR, FACE_MODEL_DIR, FAMILIES_DIR, ZOO_DIR
from companion.engine.errors import ProtectError
from companion.models.base import Adapter
from companion.models.offload import HostWeights, needs_offload

log = logging.getLogger(__name__)

DEMO = "demo"
#: the zoo: test variants of the demo that differ where real models differ (companion/demo/zoo.py)
ZOO = ("zoo-chatml", "zoo-siglip", "zoo-unigram-privacy")
#: the demo in the other families the engine supports (companion/demo/families.py)
FAMILY_DEMOS = ("demo-qwen2_5_vl", "demo-instructblip", "demo-phi4_multimodal")
#: the models shipped in the package, by name
SHIPPED = {DEMO: DEMO_MODEL_DIR, "demo-face": FACE_MODEL_DIR, **{name: ZOO_DIR / name for name in ZOO},
           **{name: FAMILIES_DIR / name for name in FAMILY_DEMOS}}
#: config.json model_type -> adapter family
FAMILIES = {"llava": "llava", "qwen2_5_vl": "qwen2_5_vl", "qwen2_vl": "qwen2_vl", "instructblip": "instructblip",
            "phi4_multimodal": "phi4_multimodal"}
#: model_type -> why it is refused, for checkpoints a user may well try
REFUSED = {
    "phi4mm": "this is Phi-4-multimodal's remote-code format (model type 'phi4mm', its vision LoRA unmerged); "
              "ImageProtector reads transformers' own format (model type 'phi4_multimodal'): use a checkpoint "
              "converted to it",
}
#: family -> (module, adapter class)
ADAPTERS = {
    "llava": ("companion.models.llava", "LlavaAdapter"),
    "qwen2_5_vl": ("companion.models.qwen2_5_vl", "QwenVLAdapter"),
    "qwen2_vl": ("companion.models.qwen2_5_vl", "QwenVLAdapter"),
    "instructblip": ("companion.models.instructblip", "InstructBlipAdapter"),
    "phi4_multimodal": ("companion.models.phi4_multimodal", "Phi4MultimodalAdapter"),
}


#: Named ensembles (`--model strong`); config.json's "presets" adds to them or replaces one.
#: `fast`: one small model, quick on a laptop GPU; `strong`: the most used open families at
#: 7B, one perturbation against all (see "Ensembles" in the README for memory);
#: `demo-families`: the shipped tiny models of every family, offline.
PRESETS: dict[str, list[str]] = {
    "fast": ["Qwen/Qwen2.5-VL-3B-Instruct"],
    "strong": ["llava-hf/llava-1.5-7b-hf", "Qwen/Qwen2.5-VL-7B-Instruct", "Salesforce/instructblip-vicuna-7b"],
    "demo-families": [DEMO, *FAMILY_DEMOS],
}


def expand(names: list[str], presets: dict[str, list[str]] | None = None) -> list[str]:
    """`names` with each preset replaced by its models (`presets` over the built-in ones),
    each model once, in order."""
    table = {**PRESETS, **(presets or {})}
    out: list[str] = []
    for name in names:
        for model in table.get(name, [name]):
            if model not in out:
                out.append(model)
    return out


@dataclass
class ModelInfo:
    name: str
    path: Path
    family: str


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; an unavailable choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ProtectError("device_unavailable", "--device cuda asked for, but torch sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ProtectError("device_unavailable", "--device mps asked for, but torch sees no Apple GPU")
    if name.startswith("cuda:") and name[5:].isdigit():
        if int(name[5:]) >= torch.cuda.device_count():
            raise ProtectError("device_unavailable", f"--device {name} asked for, but torch sees "
                                                     f"{torch.cuda.device_count()} CUDA GPU(s)")
        return torch.device(name)
    if name not in ("cpu", "cuda", "mps"):
        raise ProtectError("bad_device", f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return torch.device(name)


def spread(count: int, device: str = "auto") -> list[str]:
    """The device for each of `count` models: with several CUDA GPUs (and `device` auto or
    cuda) model i goes on GPU i mod N, so an ensemble's models do not share one GPU's memory
    while others idle; otherwise all on `device`."""
    if device in ("auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        return [f"cuda:{i % torch.cuda.device_count()}" for i in range(count)]
    return [device] * count


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (what the 7B models ship in, half the memory), float32 elsewhere."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _from_hf_cache(model_id: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure here means "not in the cache"
        return None


def _download(model_id: str) -> Path | None:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get("IMAGEPROTECTOR_NO_DOWNLOAD"):
        return None
    try:
        from huggingface_hub import snapshot_download

        log.info("%s is not in the Hugging Face cache; downloading it (several GB for a 7B model)", model_id)
        return Path(snapshot_download(model_id))
    except Exception as exc:  # noqa: BLE001
        log.debug("download of %s failed: %s", model_id, exc)
        return None


def locate(name: str, allow_download: bool = False) -> ModelInfo:
    """Where the model named `name` lies and which family it is, or a ProtectError."""
    if name in SHIPPED:
        path = SHIPPED[name]
    elif Path(name).expanduser().is_dir():
        path = Path(name).expanduser()
    elif "/" in name and not Path(name).expanduser().exists():
        path = _from_hf_cache(name) or (_download(name) if allow_download else None)
        if path is None:
            raise ProtectError(
                "model_not_found",
                f"model {name!r} is not in the Hugging Face cache; get it with "
                f"`hf download {name}` (or pass a local folder)",
            )
    else:
        raise ProtectError(
            "model_not_found",
            f"unknown model {name!r}: use {', '.join(map(repr, SHIPPED))}, a local folder or a Hugging Face id (org/name)",
        )
    config = path / "config.json"
    if not config.is_file():
        raise ProtectError("model_not_found", f"{path} has no config.json; is it a Hugging Face model folder?")
    model_type = json.loads(config.read_text()).get("model_type", "")
    if model_type in REFUSED:
        raise ProtectError("unsupported_model", f"{name}: {REFUSED[model_type]}")
    if model_type not in FAMILIES:
        raise ProtectError(
            "unsupported_model", f"model type {model_type!r} is not supported yet; supported: {', '.join(FAMILIES)}"
        )
    return ModelInfo(name, path, FAMILIES[model_type])


def load_adapter(name: str, device: str = "auto", allow_download: bool = False, checkpointing: bool = False) -> Adapter:
    """Load the model `name` behind its family's adapter on `device`; with `checkpointing`,
    its layers recompute their activations in the backward pass (less memory, same result)."""
    info = locate(name, allow_download)
    dev = resolve_device(device)
    dtype = default_dtype(dev)
    log.info("loading %s (%s) from %s on %s as %s", name, info.family, info.path, dev, dtype)
    module, cls = ADAPTERS[info.family]
    adapter = getattr(importlib.import_module(module), cls).from_pretrained(name, info.path, dev, dtype)
    if checkpointing:
        from companion.models.checkpointing import checkpoint_layers

        log.info("%s: activation checkpointing on %d layers", name, checkpoint_layers(adapter.model))
    return adapter


def load_adapters(names: list[str], device: str = "auto", allow_download: bool = False,
                  presets: dict[str, list[str]] | None = None, checkpointing: bool = False,
                  offload_mode: str = "auto") -> list[Adapter]:
    """Load an ensemble (presets expanded): each model on its own GPU where there are several
    (`spread`); on one GPU all kept there if their weights fit together, else each resting
    in host memory between its turns (offload.py's rule; `offload_mode` `always` or `never`
    overrides its size test)."""
    names = expand(names, presets)
    devices = [resolve_device(d) for d in spread(len(names), device)]
    sizes = [weight_size(locate(name, allow_download).path) for name in names]
    offload = needs_offload(sizes, devices, mode=offload_mode)
    if offload:
        why = ("asked for" if offload_mode == "always"
               else f"the {len(names)} models' weights do not fit on {devices[0]} together")
        log.info("%s: each model rests in host memory and is copied to the GPU for its turn in each step", why)
    adapters = []
    for name, dev in zip(names, devices):
        adapter = load_adapter(name, str(dev), allow_download, checkpointing)
        if offload:  # moved out before the next loads: loading never holds two models' weights on the GPU
            adapter.host_weights = HostWeights(adapter.model, dev)
        adapters.append(adapter)
    return adapters


def weight_size(path: Path) -> int:
    """The bytes of a model folder's weights as they will be loaded in bfloat16 (2 bytes a
    parameter, whatever the files' dtype): from the safetensors headers, nothing loaded."""
    total = 0
    for file in sorted(path.glob("*.safetensors")):
        with open(file, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        for key, entry in header.items():
            if key != "__metadata__":
                total += 2 * math.prod(entry["shape"])
    return total


def cached_models() -> list[ModelInfo]:
    """Models this machine can use now: the shipped demos and supported models in the Hugging Face cache."""
    found = [locate(name) for name in SHIPPED]
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir().repos
    except Exception:  # noqa: BLE001 - no cache yet
        repos = []
    for repo in sorted(repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        try:
            found.append(locate(repo.repo_id))
        except ProtectError:
            continue
    return found
