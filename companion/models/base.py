"""The one interface every model family implements for the engine.

The engine never knows which MLLM it attacks. An adapter gives it three things (see
DESIGN.md, "The engine contract"):

1. `pixel_values(image)`: a differentiable path from an RGB tensor in [0, 1] at any
   resolution to the model's own `pixel_values`, matching the family's processor;
2. `encode(pairs)`: token ids and labels for (question, target answer) pairs in the
   model's own chat template, cached because the same pairs recur every step;
3. `loss(pixel_values, batch)`: the teacher-forced cross-entropy of the targets.

plus two ways to let the model answer: from pixel values (the cheap check the attack
uses to know it is done) and from a decoded file through the family's real Hugging Face
processor (the receipt, which must not trust our differentiable path).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image


@dataclass
class TokenBatch:
    """Right-padded (question, answer) sequences; `labels` is -100 outside the answers."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]


class Adapter(ABC):
    """One loaded MLLM of one family, ready for the attack loop and the receipt."""

    #: short family name, e.g. "llava"
    family: str = ""

    def __init__(self, name: str, device: torch.device, dtype: torch.dtype) -> None:
        self.name = name
        self.device = device
        self.dtype = dtype

    @abstractmethod
    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        """Map a (1, 3, H, W) RGB tensor in [0, 1] to the model's pixel_values, differentiably."""

    @abstractmethod
    def encode(self, pairs: Sequence[tuple[str, str]]) -> TokenBatch:
        """Token ids and labels for (question, answer) pairs, on this adapter's device."""

    @abstractmethod
    def loss(self, pixel_values: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """Mean teacher-forced cross-entropy of the batch's answers given one image."""

    @abstractmethod
    def generate_from_pixels(
        self, pixel_values: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 24
    ) -> list[str]:
        """Greedy answers to `questions` about one image given as pixel_values."""

    @abstractmethod
    def answer(self, image: Image.Image, questions: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        """Greedy answers to `questions` about a decoded image, through the real processor."""
