"""Weights in host memory between turns, for ensembles whose weights do not fit on one GPU.

The attack takes an ensemble's models in turn within each step (attack.py, `_gradient`):
each model runs forward and backward, and its activations are freed, before the next
runs. When every model's weights fit on the GPU together they all stay there. When they
do not, each model's weights rest in host memory (pinned, so the copy runs at the bus's
full speed) and are copied to the GPU for the model's turn only; at the turn's end the
GPU copy is dropped, not copied back, since the attack never changes a weight. Peak GPU
memory is then the largest model's weights and activations, not the sum of all weights;
the price is one host-to-GPU copy of each model's weights per step (a 7B model in
bfloat16 is 14 GiB: about half a second over PCIe 4 x16, far less than its step).

The rule (`needs_offload`): weights are offloaded when the ensemble has more than one
model on one CUDA device and its weights come to more than `SHARE` of that device's
memory, the rest being left for one model's activations (see the README's memory table).
A user may override the size test (`offload` in config.json, `--offload`): `always`, for a
GPU shared with other programs, or `never`, for models known to fit with room to spare.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: the part of a GPU's memory an ensemble's weights may take before they are offloaded
SHARE = 0.6
#: `auto`: the size test decides; `always` / `never`: offload every ensemble that can be
#: (several models on one CUDA device) / none (config.json's `offload`, OFFLOAD_MODES there)
MODES = ("auto", "always", "never")


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters and buffers (each shared tensor counted once)."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


def needs_offload(sizes: list[int], devices: list[torch.device], capacity: int | None = None,
                  mode: str = "auto") -> bool:
    """Whether an ensemble of models of `sizes` bytes on `devices` must rest in host memory:
    several models on one CUDA device whose weights together exceed `SHARE` of its
    `capacity` (by default the device's total memory), or whatever their size with `mode`
    `always`. A single model, models on several devices, or on the CPU never are: they
    have no one else's turn to make room for."""
    if mode not in MODES:
        raise ValueError(f"offload must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "never" or len(sizes) < 2 or len(set(devices)) != 1 or devices[0].type != "cuda":
        return False
    if mode == "always":
        return True
    if capacity is None:
        capacity = torch.cuda.get_device_properties(devices[0]).total_memory
    return sum(sizes) > SHARE * capacity


class HostWeights:
    """One model's weights kept in host memory and brought to `device` for a turn."""

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.device = device
        self.depth = 0
        pin = device.type == "cuda"
        self.slots: list[tuple[torch.nn.Module, str, bool, torch.Tensor]] = []
        hosts: dict[int, torch.Tensor] = {}  # a tensor two modules share (tied embeddings) is kept once
        for module in model.modules():
            for is_param, table in ((True, module._parameters), (False, module._buffers)):
                for name, tensor in table.items():
                    if tensor is None:
                        continue
                    if id(tensor) not in hosts:
                        host = tensor.detach().to("cpu")
                        hosts[id(tensor)] = host.pin_memory() if pin else host
                    self.slots.append((module, name, is_param, hosts[id(tensor)]))
        self._place(lambda host: host)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def _place(self, where) -> None:
        """Each weight replaced by `where(its host copy)`: new Parameter objects, so that a graph
        still holding the GPU copies keeps them alive rather than seeing them moved."""
        done: dict[int, torch.Tensor] = {}  # a shared tensor moves once, and stays shared
        for module, name, is_param, host in self.slots:
            if id(host) not in done:
                moved = where(host)
                done[id(host)] = torch.nn.Parameter(moved, requires_grad=False) if is_param else moved
            if is_param:
                module._parameters[name] = done[id(host)]
            else:
                module._buffers[name] = done[id(host)]

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The weights on the device for the block (re-entrant: an inner turn keeps them)."""
        if self.depth == 0:
            self._place(lambda host: host.to(self.device, non_blocking=True))
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                self._place(lambda host: host)

    @property
    def resident(self) -> bool:
        return self.depth > 0
