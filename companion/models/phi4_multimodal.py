"""Adapter for Phi-4-multimodal (`Phi4MultimodalForCausalLM`, transformers' own port):
`microsoft/Phi-4-multimodal-instruct` in its Hugging Face format, and the shipped
`demo-phi4_multimodal` once it is trained.

Phi-4 reads a photo as dynamic HD crops of 448 pixels and a global view (phi4_vision.py),
so its image token count follows the photo's size, as Qwen's does: the chat template holds
one `<|image|>` (the vision config's `image_token_id`), which `encode` keeps once per
question and every call that meets an image repeats to that image's count.

The checkpoint's vision LoRA (`vision-lora/`, which its model card turns on for images) is
merged into the language model's weights when it is loaded (lora.py).

The attack's loss runs the vision tower once per step for all the questions (the crops of
a 12 MP photo are 37 of 1024 patches each) and hands the language model its input
embeddings with the image's in place; the image's embeddings are the model's own
(`Phi4MultimodalImageEmbedding`, asked with only image tokens). Greedy answers do the same:
the tower runs once for all the questions asked about one image.

The receipt (`answer`) goes through the real `Phi4MultimodalImageProcessor` where it can be
built. It needs torchvision, which the CPU build of torch this project pins has no
matching release of; without it the receipt answers from our pixels of the decoded file,
and says so once in the log. A test in an environment with torchvision
(tests/models/test_phi4_multimodal.py, run by scripts/test.sh) compares the two.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoTokenizer, Phi4MultimodalForCausalLM

from companion.engine.errors import ProtectError
from companion.engine.imageio import to_tensor
from companion.models.base import (Adapter, TemplatedPrompts, TokenBatch, answer_loss,
                                    with_repeated_token)
from companion.models.lora import merge_lora
from companion.models.phi4_vision import Crops, Phi4VisionConfig, crops, hd_pixels

log = logging.getLogger(__name__)


def real_image_processor(path: Path):
    """The checkpoint's own image processor, or None where it cannot be built (no torchvision)."""
    from transformers import AutoImageProcessor
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        log.info("Phi-4's image processor needs torchvision, which is not installed: "
                 "receipts answer from our own pixels of the decoded file")
        return None
    return AutoImageProcessor.from_pretrained(path)


VISION_LORA = "vision-lora"


def with_vision_lora(model, path: Path) -> None:
    """Merge the checkpoint's vision LoRA (its `vision-lora/` folder) into the language
    model, as Phi-4's model card turns it on for images: without it the model answers
    about images "very likely not well". A checkpoint without the folder (the shipped tiny
    model, or one with the LoRA merged already) is used as it is."""
    if not (path / VISION_LORA).is_dir():
        return
    try:
        layers = merge_lora(model, path / VISION_LORA)
    except (ValueError, KeyError, OSError) as error:
        raise ProtectError("bad_model", f"{path.name}'s {VISION_LORA}/ could not be merged: {error}") from error
    log.info("%s: vision LoRA merged from %s/ into %d layers", path.name, VISION_LORA, layers)


def bidirectional_vision(model) -> int:
    """Make the vision tower's attention see every patch, as Phi-4's SigLIP tower was
    trained to. transformers (5.24) marks `Phi4MultimodalVisionAttention` causal, so under
    SDPA, whenever the photo fills its crops (no mask is built), each patch sees only the
    patches before it, and a padded crop is read otherwise than a full one; eager attention
    was never causal. The same slip, fixed upstream for Qwen2.5-VL and Mllama
    (huggingface/transformers#39231, #48172). Returns how many attention layers it set."""
    layers = [m for m in model.model.embed_tokens_extend.image_embed.img_processor.modules()
              if type(m).__name__ == "Phi4MultimodalVisionAttention"]
    for layer in layers:
        layer.is_causal = False
    return len(layers)


class Phi4MultimodalAdapter(TemplatedPrompts, Adapter):
    family = "phi4_multimodal"

    def __init__(self, name: str, model, tokenizer, vision: Phi4VisionConfig, device: torch.device,
                 dtype: torch.dtype, image_processor=None, template: str | None = None) -> None:
        super().__init__(name, device, dtype)
        self.tokenizer = tokenizer
        self.vision = vision
        self.image_processor = image_processor
        self.template = template
        self.model = model.to(device=device, dtype=dtype).eval()
        self.model.requires_grad_(False)  # the attack needs gradients for pixels only
        bidirectional_vision(self.model)
        self.image_id = model.config.vision_config.image_token_id
        self.image_token = tokenizer.convert_ids_to_tokens(self.image_id)
        eos = self.model.generation_config.eos_token_id
        self.end_id = eos[0] if isinstance(eos, list) else eos  # <|end|>: the turn's end comes first

    @classmethod
    def from_pretrained(cls, name: str, path: str | Path, device: torch.device,
                        dtype: torch.dtype) -> "Phi4MultimodalAdapter":
        """Load model, tokenizer and the image settings from a Hugging Face folder."""
        path = Path(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = Phi4MultimodalForCausalLM.from_pretrained(path, dtype=dtype)
        with_vision_lora(model, path)
        return cls(name, model, tokenizer, Phi4VisionConfig.from_folder(path), device, dtype,
                   real_image_processor(path))

    # -- pixels -----------------------------------------------------------------------
    def pixel_values(self, image: torch.Tensor) -> torch.Tensor:
        """The normalised canvas of crops and where the photo lies in it, (B, 4, h, w):
        the crops and the global view are cut where the model is called."""
        return hd_pixels(image, self.vision).to(self.dtype)

    def _crops(self, pixel_values: torch.Tensor) -> Crops:
        return crops(pixel_values, self.vision)

    def model_inputs(self, pixel_values: torch.Tensor, batch: TokenBatch) -> dict[str, torch.Tensor]:
        seen = self._crops(pixel_values)
        batch = with_repeated_token(batch, self.image_id, seen.tokens)
        return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": batch.labels,
                "image_pixel_values": seen.pixel_values, "image_sizes": seen.sizes,
                "image_attention_mask": seen.attention_mask}

    def _embedded(self, seen: Crops) -> torch.Tensor:
        """(B, tokens, hidden): the model's own embeddings of each image, asked with a
        prompt of image tokens only (so every position is one of the image's)."""
        embed = self.model.model.embed_tokens_extend.image_embed
        b = seen.pixel_values.shape[0]
        ids = torch.full((b, seen.tokens), self.image_id, device=self.device)
        blank = torch.zeros(b, seen.tokens, self.model.config.hidden_size, device=self.device, dtype=self.dtype)
        return embed(ids, blank, image_pixel_values=seen.pixel_values, image_sizes=seen.sizes,
                     image_attention_mask=seen.attention_mask)

    def image_features(self, pixel_values: torch.Tensor, questions: Sequence[str] | None = None) -> torch.Tensor:
        return self._embedded(self._crops(pixel_values))

    @property
    def vision_tower(self) -> torch.nn.Module:
        return self.model.model.embed_tokens_extend.image_embed.img_processor

    # -- text -------------------------------------------------------------------------
    def prompt_text(self, question: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        text = self.tokenizer.apply_chat_template(messages, chat_template=self.template, add_generation_prompt=True,
                                                  tokenize=False)
        if text.count(self.image_token) != 1:
            raise ValueError(f"{self.name}'s chat template does not place one {self.image_token} for an image")
        return text

    def _with_image(self, input_ids: torch.Tensor, seen: Crops) -> torch.Tensor:
        """The input embeddings of every row of `input_ids`, each row's image tokens
        replaced by the one image's embeddings: the vision tower runs once for all rows."""
        features = self._embedded(seen)[0]
        embeds = self.model.get_input_embeddings()(input_ids)
        where = (input_ids == self.image_id).unsqueeze(-1)
        return embeds.masked_scatter(where, features.expand(len(input_ids), -1, -1).to(embeds.dtype))

    def loss(self, pixel_values: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """The batch's loss about one image, the vision tower run once for all the questions."""
        seen = self._crops(pixel_values)
        batch = with_repeated_token(batch, self.image_id, seen.tokens)
        embeds = self._with_image(batch.input_ids, seen)
        logits = self.model(inputs_embeds=embeds, attention_mask=batch.attention_mask).logits
        return answer_loss(logits, batch.labels)

    # -- answers ----------------------------------------------------------------------
    @torch.no_grad()
    def generate_from_pixels(
        self, pixel_values: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 24
    ) -> list[str]:
        return self._generate(questions, self._crops(pixel_values.to(self.dtype)), max_new_tokens)

    @torch.no_grad()
    def answer(self, image: Image.Image, questions: Sequence[str], max_new_tokens: int = 24) -> list[str]:
        image = image.convert("RGB")
        if self.image_processor is None:
            return self.generate_from_pixels(self.pixel_values(to_tensor(image, self.device)), questions, max_new_tokens)
        inputs = self.image_processor(images=[image], return_tensors="pt")
        seen = Crops(inputs["image_pixel_values"].to(self.device, self.dtype), inputs["image_attention_mask"].to(self.device),
                     inputs["image_sizes"].to(self.device), int(inputs["num_img_tokens"][0]))
        return self._generate(questions, seen, max_new_tokens)

    def _generate(self, questions: Sequence[str], seen: Crops, max_new_tokens: int) -> list[str]:
        """Greedy answers about the one image `seen`, whose embeddings are computed once and
        put in every question's prompt (handing the model the crops once per question ran
        the vision tower as many times: most of the cost of the attack's checks)."""
        input_ids, attention_mask = self.image_prompts(questions, self.image_id, seen.tokens)
        out = self.model.generate(
            input_ids=input_ids,
            inputs_embeds=self._with_image(input_ids, seen),
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self._text_pad,
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)]
