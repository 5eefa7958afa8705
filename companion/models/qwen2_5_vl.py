"""Adapter for Qwen2.5-VL and Qwen2-VL (`Qwen2_5_VLForConditionalGeneration`,
`Qwen2VLForConditionalGeneration`): `Qwen/Qwen2.5-VL-3B-Instruct`, `-7B-Instruct`,
`Qwen/Qwen2-VL-2B-Instruct`, `-7B-Instruct` and the shipped `demo-qwen2_5_vl`.

Qwen's vision input follows the photo's size: the processor resizes it to its "smart" size
(both sides multiples of patch * merge, the pixel count kept between its bounds), so the
number of image tokens changes with the photo, and the chat template holds one
`<|image_pad|>` that the processor repeats once per token. `encode` therefore writes one
pad per question, and every call that meets an image (`model_inputs`, `generate_from_pixels`)
repeats it to that image's count (`with_image_tokens`); the differentiable pixels are
qwen_vision.py's (`normalised`, then cut into patches by `patches`).

The receipt (`answer`) goes through the family's real image processor (the Pillow one,
which transformers picks when torchvision is missing), the tokenizer and the checkpoint's
chat template, and repeats the pad as Qwen's processor does (`replace_image_token`:
grid_t * grid_h * grid_w / merge^2). It does not build `Qwen2_5_VLProcessor` itself:
without torchvision, transformers 5 cannot build any processor with a video part (it looks
for `VideoProcessorMixin`, which it only defines with torchvision). A test compares our
token ids with that processor's, lent a stand-in for the missing class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoTokenizer
from transformers.modeling_outputs import BaseModelOutputWithPooling

from companion.models.base import (Adapter, TemplatedPrompts, TokenBatch, answer_loss, left_padded,
                                    with_repeated_token)
from companion.models.qwen_vision import QwenVisionConfig, normalised, patches

log = logging.getLogger(__name__)

IMAGE_PAD = "<|image_pad|>"


def model_class(model_type: str):
    """The Hugging Face class of a Qwen vision-language checkpoint's `model_type`."""
    if model_type == "qwen2_vl":
        from transformers import Qwen2VLForConditionalGeneration

        return Qwen2VLForConditionalGeneration
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration


def chat_template(path: Path, tokenizer) -> str:
    """The checkpoint's chat template: the tokenizer's, else the processor's file."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    if (path / "chat_template.jinja").is_file():
        return (path / "chat_template.jinja").read_text()
    if (path / "chat_template.json").is_file():
        return json.loads((path / "chat_template.json").read_text())["chat_template"]
    raise FileNotFoundError(f"{path} has no chat template (chat_template.jinja or chat_template.json)")


class QwenVLAdapter(TemplatedPrompts, Adapter):
    family = "qwen2_5_vl"

    def __init__(self, name: str, model, image_processor, tokenizer, template: str, device: torch.device,
                 dtype: torch.dtype) -> None:
        super().__init__(name, device, dtype)
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.template = template
        self.vision = QwenVisionConfig.from_processor(image_processor)
        self.model = model.to(device=device, dtype=dtype).eval()
        self.model.requires_grad_(False)  # the attack needs gradients for pixels only
        self.pad_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        eos = self.model.generation_config.eos_token_id
        self.end_id = eos[0] if isinstance(eos, list) else eos  # <|im_end|>: the turn's end comes first

    @classmethod
    def from_pretrained(cls, name: str, path: str | Path, device: torch.device, dtype: torch.dtype) -> "QwenVLAdapter":
        """Load model, image processor, tokenizer and chat template from a Hugging Face folder."""
        path = Path(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        image_processor = AutoImageProcessor.from_pretrained(path)
        model_type = json.loads((path / "config.json").read_text())["model_type"]
        model = model_class(model_type).from_pretrained(path, dtype=dtype)
        adapter = cls(name, model, image_processor, tokenizer, chat_template(path, tokenizer), device, dtype)
        adapter.family = model_type  # qwen2_5_vl or qwen2_vl
        return adapter

    # -- pixels -----------------------------------------------------------------------
    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        """The images resized to Qwen's size for them and normalised, (B, 3, h, w): the
        patches are cut where the model is called, so this stays an image."""
        return normalised(image, self.vision).to(self.dtype)

    def image_tokens(self, pixel_values: torch.Tensor) -> int:
        """How many tokens the language model gets for one image of these pixel values."""
        h, w = pixel_values.shape[-2:]
        return (h // self.vision.patch_size) * (w // self.vision.patch_size) // self.vision.merge_size**2

    def model_inputs(self, pixel_values: torch.Tensor, batch: TokenBatch) -> dict[str, torch.Tensor]:
        flat, grid = patches(pixel_values, self.vision)
        batch = self.with_image_tokens(batch, self.image_tokens(pixel_values))
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": batch.labels,
                "pixel_values": flat, "image_grid_thw": grid}

    def image_features(self, pixel_values: torch.Tensor, questions: Sequence[str] | None = None) -> torch.Tensor:
        flat, grid = patches(pixel_values, self.vision)
        return torch.stack(list(self.model.model.get_image_features(flat, grid).pooler_output))

    @property
    def vision_tower(self) -> torch.nn.Module:
        return self.model.model.visual

    # -- text -------------------------------------------------------------------------
    def prompt_text(self, question: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.tokenizer.apply_chat_template(messages, chat_template=self.template, add_generation_prompt=True,
                                                  tokenize=False)

    def with_image_tokens(self, batch: TokenBatch, count: int) -> TokenBatch:
        """`batch` with each row's one image pad repeated `count` times (as the processor
        writes it for an image of `count` tokens), never labelled."""
        return with_repeated_token(batch, self.pad_id, count)

    def loss(self, pixel_values: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """The batch's loss about one image, its vision tower run once for all the questions
        (the same image each row): at 12 MP the tower reads 5120 patches, and running it per
        question, as a batch of images would, held three times its activations."""
        flat, grid = patches(pixel_values, self.vision)
        (features,) = self.model.model.get_image_features(flat, grid).pooler_output
        batch = self.with_image_tokens(batch, self.image_tokens(pixel_values))
        seen = BaseModelOutputWithPooling(pooler_output=(features,) * len(batch))
        logits = self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                            image_grid_thw=grid.expand(len(batch), -1), mm_encoder_outputs={"image": seen}).logits
        return answer_loss(logits, batch.labels)

    # -- answers ----------------------------------------------------------------------
    @torch.no_grad()
    def generate_from_pixels(
        self, pixel_values: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 24
    ) -> list[str]:
        count = self.image_tokens(pixel_values)
        ids, mask = self.image_prompts(questions, self.pad_id, count)
        flat, grid = patches(pixel_values.to(self.dtype).expand(len(questions), -1, -1, -1), self.vision)
        return self._generate(ids, mask, flat, grid, max_new_tokens)

    @torch.no_grad()
    def answer(self, image: Image.Image, questions: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        inputs = self.image_processor(images=[image.convert("RGB")], return_tensors="pt")
        grid = inputs["image_grid_thw"]
        count = int(grid[0].prod()) // self.vision.merge_size**2
        texts = [self.prompt_text(q).replace(IMAGE_PAD, IMAGE_PAD * count) for q in questions]
        prompts = [self.tokenizer(t).input_ids for t in texts]
        ids, mask = left_padded(prompts, self._text_pad, self.device)
        flat = inputs["pixel_values"].to(self.device, self.dtype).repeat(len(prompts), 1)
        return self._generate(ids, mask, flat, grid.repeat(len(prompts), 1).to(self.device), max_new_tokens)

    def _generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, flat: torch.Tensor, grid: torch.Tensor,
                  max_new_tokens: int) -> list[str]:
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=flat,
            image_grid_thw=grid,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self._text_pad,
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)]
