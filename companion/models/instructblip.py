"""Adapter for InstructBLIP (`InstructBlipForConditionalGeneration` with a decoder-only
language model): `Salesforce/instructblip-vicuna-7b`, `-vicuna-13b` and the shipped
`demo-instructblip`.

InstructBLIP reads a photo in three parts: a ViT (BLIP-2's, on the whole frame squashed to
a square: no crop), a Q-Former that turns the ViT's patches into a fixed number of query
tokens, and the language model, which gets the query tokens (projected) in front of the
prompt. The Q-Former also reads the instruction, in its own tokenizer (BERT's, not the
language model's), so what the language model sees of the image depends on the question:
`encode` writes the question twice, once per tokenizer (`BlipTokenBatch`).

The prompt is the question as written (the checkpoints have no chat template; LAVIS feeds
Vicuna the bare instruction), after `num_query_tokens` image tokens, as the processor
writes it. The receipt (`answer`) goes through the real `InstructBlipProcessor`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoProcessor, InstructBlipForConditionalGeneration

from companion.engine.transforms import resize_bicubic
from companion.models.base import Adapter, TokenBatch, left_padded, right_padded

log = logging.getLogger(__name__)


@dataclass
class BlipTokenBatch(TokenBatch):
    """A TokenBatch with the questions again in the Q-Former's tokenizer (right-padded)."""

    qformer_input_ids: torch.Tensor = None  # type: ignore[assignment]
    qformer_attention_mask: torch.Tensor = None  # type: ignore[assignment]


class InstructBlipAdapter(Adapter):
    family = "instructblip"

    def __init__(self, name: str, model: InstructBlipForConditionalGeneration, processor, device: torch.device,
                 dtype: torch.dtype) -> None:
        super().__init__(name, device, dtype)
        if model.config.use_decoder_only_language_model is False:
            raise ValueError("InstructBLIP with an encoder-decoder language model (Flan-T5) is not supported yet")
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.qformer_tokenizer = processor.qformer_tokenizer
        self.model = model.to(device=device, dtype=dtype).eval()
        self.model.requires_grad_(False)  # the attack needs gradients for pixels only
        ip = processor.image_processor
        self.size = (ip.size["height"], ip.size["width"])
        self._mean = torch.tensor(ip.image_mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(ip.image_std, device=device).view(1, 3, 1, 1)
        self.image_token_id = model.config.image_token_id
        self.num_query_tokens = model.config.num_query_tokens
        self._cache: dict[tuple[str, str], tuple[list[int], list[int]]] = {}

    @classmethod
    def from_pretrained(cls, name: str, path: str | Path, device: torch.device,
                        dtype: torch.dtype) -> "InstructBlipAdapter":
        """Load model and processor (image processor, both tokenizers) from a Hugging Face folder."""
        processor = AutoProcessor.from_pretrained(path)
        model = InstructBlipForConditionalGeneration.from_pretrained(path, dtype=dtype)
        return cls(name, model, processor, device, dtype)

    # -- pixels -----------------------------------------------------------------------
    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        """The whole frame squashed to the processor's square, normalised: (B, 3, h, w)."""
        x = resize_bicubic(image, *self.size)
        return ((x - self._mean) / self._std).to(self.dtype)

    def image_features(self, pixel_values: torch.Tensor, questions: Sequence[str] | None = None) -> torch.Tensor:
        """The projected query tokens, for the given questions (default: an empty instruction)."""
        q = self._qformer_ids(list(questions) if questions else [""] * len(pixel_values))
        return self.model.get_image_features(pixel_values, q[0], q[1]).pooler_output

    @property
    def vision_tower(self) -> torch.nn.Module:
        """The ViT alone: the Q-Former and projection stay trainable with the language model."""
        return self.model.vision_model

    # -- text -------------------------------------------------------------------------
    def prompt_text(self, question: str) -> str:
        return question

    def _prompt_ids(self, question: str) -> list[int]:
        return [self.image_token_id] * self.num_query_tokens + self.tokenizer(question).input_ids

    def _pair_ids(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        key = (question, answer)
        if key not in self._cache:
            prompt = self.tokenizer(question).input_ids
            joint = self.tokenizer(question + " " + answer).input_ids
            if joint[: len(prompt)] == prompt:
                answer_ids = joint[len(prompt):]
            else:
                answer_ids = self.tokenizer(" " + answer, add_special_tokens=False).input_ids
            self._cache[key] = (self._prompt_ids(question), answer_ids + [self.tokenizer.eos_token_id])
        return self._cache[key]

    def _qformer_ids(self, questions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self._qformer_padded([self.qformer_tokenizer(q).input_ids for q in questions])

    def _qformer_padded(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The Q-Former's questions right-padded, as in training (its positions are absolute):
        (ids, attention mask), the same for the attack's batches and for answers."""
        q = right_padded([(r, []) for r in rows], self.qformer_tokenizer.pad_token_id or 0, self.device)
        return q.input_ids, q.attention_mask

    @property
    def _pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def encode(self, pairs: Sequence[tuple[str, str]]) -> BlipTokenBatch:
        batch = right_padded([self._pair_ids(q, a) for q, a in pairs], self._pad_id, self.device)
        q_ids, q_mask = self._qformer_ids([q for q, _ in pairs])
        return BlipTokenBatch(batch.input_ids, batch.attention_mask, batch.labels, q_ids, q_mask)

    def model_inputs(self, pixel_values: torch.Tensor, batch: TokenBatch) -> dict[str, torch.Tensor]:
        inputs = super().model_inputs(pixel_values, batch)
        inputs["qformer_input_ids"] = batch.qformer_input_ids
        inputs["qformer_attention_mask"] = batch.qformer_attention_mask
        return inputs

    # -- answers ----------------------------------------------------------------------
    def _batched(self, prompts: list[list[int]], qformer: list[list[int]]) -> dict[str, torch.Tensor]:
        """Prompts left-padded (generation appends on the right); the Q-Former's questions
        right-padded (`_qformer_padded`)."""
        ids, mask = left_padded(prompts, self._pad_id, self.device)
        q_ids, q_mask = self._qformer_padded(qformer)
        return {"input_ids": ids, "attention_mask": mask, "qformer_input_ids": q_ids, "qformer_attention_mask": q_mask}

    @torch.no_grad()
    def generate_from_pixels(
        self, pixel_values: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 24
    ) -> list[str]:
        inputs = self._batched([self._prompt_ids(q) for q in questions],
                               [self.qformer_tokenizer(q).input_ids for q in questions])
        inputs["pixel_values"] = pixel_values.to(self.dtype).expand(len(questions), -1, -1, -1)
        return self._generate(inputs, max_new_tokens)

    @torch.no_grad()
    def answer(self, image: Image.Image, questions: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        """Each question through the real processor on its own (so no question's answer
        depends on the others' lengths), then batched."""
        encoded = [self.processor(images=image.convert("RGB"), text=q, return_tensors="pt") for q in questions]
        inputs = self._batched([e["input_ids"][0].tolist() for e in encoded],
                               [e["qformer_input_ids"][0].tolist() for e in encoded])
        pixels = encoded[0]["pixel_values"].to(self.device, self.dtype)
        inputs["pixel_values"] = pixels.expand(len(questions), -1, -1, -1)
        return self._generate(inputs, max_new_tokens)

    def _generate(self, inputs: dict[str, torch.Tensor], max_new_tokens: int) -> list[str]:
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                  pad_token_id=self._pad_id)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
