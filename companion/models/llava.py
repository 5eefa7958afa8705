"""Adapter for the llava-hf format: `LlavaForConditionalGeneration` and its processor.

Covers `llava-hf/llava-1.5-7b-hf`, `llava-hf/llava-1.5-13b-hf`, bakLlava and the shipped
demo model. The processor (CLIP image processor) resizes the shortest edge with Pillow's
bicubic, centre-crops to a square, rescales and normalises; `pixel_values` redoes those
steps in torch so the attack's gradient reaches every pixel of the full photo. The part of
the photo the centre crop drops reaches the model through the attack's other framings
(engine/framing.py: padded whole, squares elsewhere), so the whole frame is protected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration

from companion.engine.transforms import center_crop, resize_bicubic, shortest_edge_size
from companion.models.base import Adapter, TokenBatch, left_padded, right_padded

log = logging.getLogger(__name__)


class LlavaAdapter(Adapter):
    family = "llava"

    def __init__(
        self, name: str, model: LlavaForConditionalGeneration, processor, device: torch.device, dtype: torch.dtype
    ) -> None:
        super().__init__(name, device, dtype)
        self.processor = processor
        self.processor.tokenizer.padding_side = "left"
        self.model = model.to(device=device, dtype=dtype).eval()
        self.model.requires_grad_(False)  # the attack needs gradients for pixels only
        self.tokenizer = self.processor.tokenizer
        ip = self.processor.image_processor
        self._mean = torch.tensor(ip.image_mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(ip.image_std, device=device).view(1, 3, 1, 1)
        self._cache: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        self._prompt_cache: dict[str, list[int]] = {}

    @classmethod
    def from_pretrained(cls, name: str, path: str | Path, device: torch.device, dtype: torch.dtype) -> "LlavaAdapter":
        """Load model and processor from a Hugging Face folder (or cache snapshot)."""
        processor = AutoProcessor.from_pretrained(path)
        model = LlavaForConditionalGeneration.from_pretrained(path, dtype=dtype)
        return cls(name, model, processor, device, dtype)

    # -- pixels -----------------------------------------------------------------------
    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        ip = self.processor.image_processor
        x = image
        if getattr(ip, "do_pad", False):
            x = self._pad_to_square(x)
        if ip.do_resize:
            size = dict(ip.size)
            h, w = x.shape[-2:]
            if size.get("shortest_edge"):
                h, w = shortest_edge_size(h, w, size["shortest_edge"])
            else:
                h, w = size["height"], size["width"]
            x = resize_bicubic(x, h, w)
        if ip.do_center_crop:
            x = center_crop(x, ip.crop_size["height"], ip.crop_size["width"])
        if ip.do_normalize:
            x = (x - self._mean) / self._std
        return x.to(self.dtype)

    def _pad_to_square(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        side = max(h, w)
        fill = torch.round(self._mean * 255) / 255  # the processor pads with int(mean * 255)
        out = fill.expand(x.shape[0], 3, side, side).clone()
        top, left = (side - h) // 2, (side - w) // 2
        out[..., top : top + h, left : left + w] = x
        return out

    def image_features(self, pixel_values: torch.Tensor, questions: Sequence[str] | None = None) -> torch.Tensor:
        return torch.stack(list(self.model.model.get_image_features(pixel_values=pixel_values).pooler_output))

    @property
    def vision_tower(self) -> torch.nn.Module:
        return self.model.model.vision_tower

    # -- text -------------------------------------------------------------------------
    @property
    def num_image_tokens(self) -> int:
        ip, p = self.processor.image_processor, self.processor
        crop = ip.crop_size if ip.do_center_crop else ip.size
        n = (crop["height"] // p.patch_size) * (crop["width"] // p.patch_size) + p.num_additional_image_tokens
        return n - 1 if p.vision_feature_select_strategy == "default" else n

    def prompt_text(self, question: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def _expanded_prompt(self, question: str) -> str:
        """The prompt with `<image>` repeated once per image token, as the processor writes it."""
        image_token = self.processor.image_token
        return self.prompt_text(question).replace(image_token, image_token * self.num_image_tokens)

    def _prompt_ids(self, question: str) -> list[int]:
        if question not in self._prompt_cache:
            self._prompt_cache[question] = self.tokenizer(self._expanded_prompt(question)).input_ids
        return self._prompt_cache[question]

    @property
    def _pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def _pair_ids(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        key = (question, answer)
        if key not in self._cache:
            prompt = self._prompt_ids(question)
            # The reply follows "ASSISTANT:" after one space, as in LLaVA's training data.
            # Tokenising prompt and reply together keeps sentencepiece's word boundaries right.
            joint = self.tokenizer(self._expanded_prompt(question) + " " + answer).input_ids
            if joint[: len(prompt)] == prompt:
                answer_ids = joint[len(prompt) :]
            else:
                answer_ids = self.tokenizer(" " + answer, add_special_tokens=False).input_ids
            self._cache[key] = (prompt, answer_ids + [self.tokenizer.eos_token_id])
        return self._cache[key]

    def encode(self, pairs: Sequence[tuple[str, str]]) -> TokenBatch:
        return right_padded([self._pair_ids(q, a) for q, a in pairs], self._pad_id, self.device)

    # -- answers ----------------------------------------------------------------------
    @torch.no_grad()
    def generate_from_pixels(
        self, pixel_values: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 24
    ) -> list[str]:
        ids, mask = left_padded([self._prompt_ids(q) for q in questions], self._pad_id, self.device)
        pv = pixel_values.to(self.dtype).expand(len(questions), -1, -1, -1)
        return self._generate(ids, mask, pv, max_new_tokens)

    @torch.no_grad()
    def answer(self, image: Image.Image, questions: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        prompts = [self.prompt_text(q) for q in questions]
        inputs = self.processor(images=[image] * len(prompts), text=prompts, return_tensors="pt", padding=True)
        pv = inputs["pixel_values"].to(self.device, self.dtype)
        return self._generate(
            inputs["input_ids"].to(self.device), inputs["attention_mask"].to(self.device), pv, max_new_tokens
        )

    def _generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor, max_new_tokens: int
    ) -> list[str]:
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out[:, input_ids.shape[1] :], skip_special_tokens=True)]
