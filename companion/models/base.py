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

The shipped test models of every family are trained by one trainer (companion/demo), which
needs two more things of an adapter: `model_inputs` (the keyword arguments of the Hugging
Face model's forward for a text batch whose row i is about image i) and `image_features`
(what the language model sees of each image, for teaching a new tower to see as another).
`pixel_values` of a batch of B images of one size gives B images' pixel values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from PIL import Image

from companion.models.offload import HostWeights


@dataclass
class TokenBatch:
    """Right-padded (question, answer) sequences; `labels` is -100 outside the answers."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of the labelled tokens under `logits` (B, T', V) of a causal
    LM, whose last `labels.shape[1]` positions are the labelled sequence (a family may put
    tokens of its own before it, as InstructBLIP did its queries in older transformers):
    the model's own loss, with only the answer positions taken to float32. The model's loss upcasts the logits of
    every position, image tokens included, and keeps them for the backward pass: for a
    real Qwen2.5-VL or Phi-4 (vocabularies of 152k and 200k) reading a 1080 px photo with
    three questions, gigabytes of float32 for the few dozen answer tokens that matter."""
    logits = logits[:, -labels.shape[1]:][:, :-1]
    targets = labels[:, 1:].to(logits.device)
    mask = targets != -100
    return torch.nn.functional.cross_entropy(logits[mask].float(), targets[mask])


def right_padded(rows: Sequence[tuple[list[int], list[int]]], pad: int, device: torch.device) -> TokenBatch:
    """(prompt ids, answer ids) rows as one right-padded batch, labelled on the answers only."""
    length = max(len(p) + len(a) for p, a in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length), -100, dtype=torch.long)
    for i, (prompt, answer) in enumerate(rows):
        n = len(prompt) + len(answer)
        ids[i, :n] = torch.tensor(prompt + answer)
        mask[i, :n] = 1
        labels[i, len(prompt) : n] = torch.tensor(answer)
    return TokenBatch(ids.to(device), mask.to(device), labels.to(device))


def left_padded(rows: Sequence[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts left-padded, as generation needs (it appends on the right): (ids, attention mask)."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, length - len(r) :] = torch.tensor(r)
        mask[i, length - len(r) :] = 1
    return ids.to(device), mask.to(device)


def with_repeated_token(batch: TokenBatch, token: int, count: int) -> TokenBatch:
    """`batch` with each row's one `token` (a family's image placeholder) repeated `count`
    times, as its processor writes the prompt for an image of `count` tokens; never labelled."""
    rows = []
    for ids, mask, labels in zip(batch.input_ids, batch.attention_mask, batch.labels):
        (at,) = (ids == token).nonzero()[0]
        repeat = lambda t, fill: torch.cat([t[:at], t.new_full((count,), fill), t[at + 1:]])  # noqa: E731
        rows.append((repeat(ids, token), repeat(mask, 1), repeat(labels, -100)))
    return TokenBatch(*(torch.stack(parts) for parts in zip(*rows)))


class Adapter(ABC):
    """One loaded MLLM of one family, ready for the attack loop and the receipt."""

    #: short family name, e.g. "llava"
    family: str = ""

    def __init__(self, name: str, device: torch.device, dtype: torch.dtype) -> None:
        self.name = name
        self.device = device
        self.dtype = dtype
        self.host_weights: HostWeights | None = None  # set where an ensemble's weights rest in host memory

    def resident(self) -> AbstractContextManager:
        """The model's weights on its device for the block: a no-op unless they rest in host
        memory between turns (offload.py), where the engine holds every use of the model,
        forward and backward, inside one."""
        return nullcontext() if self.host_weights is None else self.host_weights.turn()

    @abstractmethod
    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        """Map a (1, 3, H, W) RGB tensor in [0, 1] to the model's pixel_values, differentiably."""

    @abstractmethod
    def encode(self, pairs: Sequence[tuple[str, str]]) -> TokenBatch:
        """Token ids and labels for (question, answer) pairs, on this adapter's device."""

    def loss(self, pixel_values: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """Mean teacher-forced cross-entropy of the batch's answers given one image (the
        image repeated for each row; a family whose tower can run once overrides this)."""
        pv = pixel_values.expand(len(batch), *pixel_values.shape[1:])
        inputs = self.model_inputs(pv, batch)
        del inputs["labels"]  # the model's own loss would upcast every position's logits (answer_loss)
        return answer_loss(self.model(**inputs).logits, batch.labels)

    def model_inputs(self, pixel_values: torch.Tensor, batch: TokenBatch) -> dict[str, torch.Tensor]:
        """The keyword arguments of `self.model`'s forward for `batch`, row i about image i of
        `pixel_values` (labels included: the model's output then has its loss)."""
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": batch.labels,
                "pixel_values": pixel_values}

    @abstractmethod
    def image_features(self, pixel_values: torch.Tensor, questions: Sequence[str] | None = None) -> torch.Tensor:
        """(B, tokens, text width): the embeddings the language model gets for each image
        (asked `questions[i]`, for a family whose image encoder reads the question too)."""

    @property
    @abstractmethod
    def vision_tower(self) -> torch.nn.Module:
        """The vision encoder (without the projector into the language model)."""

    @abstractmethod
    def generate_from_pixels(
        self, pixel_values: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 24
    ) -> list[str]:
        """Greedy answers to `questions` about one image given as pixel_values."""

    @abstractmethod
    def answer(self, image: Image.Image, questions: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        """Greedy answers to `questions` about a decoded image, through the real processor."""


class TemplatedPrompts:
    """Token ids for adapters whose prompt is the chat template's text tokenised whole, with
    one image placeholder that the adapter repeats where an image is met (Qwen's, Phi-4's).
    Needs `tokenizer`, `end_id` (the token that ends the model's turn), `device` and
    `prompt_text(question)`; caches every prompt and pair, since the same recur each step."""

    tokenizer: object
    end_id: int
    device: torch.device

    def prompt_text(self, question: str) -> str:
        raise NotImplementedError

    def _prompt_ids(self, question: str) -> list[int]:
        cache = self.__dict__.setdefault("_prompt_cache", {})
        if question not in cache:
            cache[question] = self.tokenizer(self.prompt_text(question)).input_ids
        return cache[question]

    def _pair_ids(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        cache = self.__dict__.setdefault("_pair_cache", {})
        if (question, answer) not in cache:
            prompt = self._prompt_ids(question)
            # The reply follows the prompt at once; tokenised with it, so that the word
            # boundaries are the ones generation produces.
            joint = self.tokenizer(self.prompt_text(question) + answer).input_ids
            if joint[: len(prompt)] == prompt:
                answer_ids = joint[len(prompt):]
            else:
                answer_ids = self.tokenizer(answer, add_special_tokens=False).input_ids
            cache[(question, answer)] = (prompt, answer_ids + [self.end_id])
        return cache[(question, answer)]

    @property
    def _text_pad(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.end_id

    def image_prompts(self, questions: Sequence[str], token: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each question's prompt with its one placeholder `token` repeated `count` times
        (an image of `count` tokens), left-padded for generation: (ids, attention mask)."""
        rows = []
        for q in questions:
            ids = self._prompt_ids(q)
            at = ids.index(token)
            rows.append(ids[:at] + [token] * count + ids[at + 1:])
        return left_padded(rows, self._text_pad, self.device)

    def encode(self, pairs: Sequence[tuple[str, str]]) -> TokenBatch:
        """Right-padded rows with one image placeholder each (repeated where an image is met)."""
        return right_padded([self._pair_ids(q, a) for q, a in pairs], self._text_pad, self.device)
