"""Build the demo model's untrained parts: tokenizer, processor and architecture.

The demo model is a LlavaForConditionalGeneration (CLIP vision tower, two-layer MLP
projector, Llama language model) shrunk to a few hundred thousand parameters, with the
llava-hf processor (CLIP image processor + tokenizer + LLaVA-1.5 chat template). Being the
same classes as `llava-hf/llava-1.5-7b-hf`, it exercises exactly the code paths a real
model does, offline.

The tokenizer is a byte-level BPE trained on the demo's own text, so it can encode any
question (no unknown tokens) and decodes back to readable text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from companion.demo.face_scenes import (
    ATTRIBUTE_QUESTIONS,
    BACKGROUND_COLORS,
    IMAGE_SIZE,
    OPEN_QUESTIONS,
    SHAPE_COLORS,
    SHAPES,
)
from companion.engine.targets import REFUSALS

PATCH_SIZE = 16
VOCAB_SIZE = 640
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<image>"]

# The chat template of llava-hf/llava-1.5-7b-hf: "USER: <image>\n{question} ASSISTANT:".
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def _corpus() -> list[str]:
    lines = ["USER: ASSISTANT:", *OPEN_QUESTIONS, *REFUSALS]
    for questions in ATTRIBUTE_QUESTIONS.values():
        lines.extend(questions)
    for shape in SHAPES:
        for color in SHAPE_COLORS:
            lines.append(f"A {shape}. {color.capitalize()}.")
            for background in BACKGROUND_COLORS:
                lines.append(f"I see a {color} {shape} on a {background} background. {background.capitalize()}.")
    return lines


def build_tokenizer(corpus: list[str] | None = None, vocab_size: int = VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train the byte-level BPE tokenizer on `corpus` (default: the face demo's), deterministic
    for a fixed corpus."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus() if corpus is None else corpus, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
        padding_side="left",
        model_max_length=4096,
    )


def build_processor(
    tokenizer: PreTrainedTokenizerFast | None = None,
    image_size: int = IMAGE_SIZE,
    patch_size: int = PATCH_SIZE,
    center_crop: bool = True,
    image_mean: list[float] | None = None,
    image_std: list[float] | None = None,
    chat_template: str = CHAT_TEMPLATE,
) -> LlavaProcessor:
    """The llava-hf processor: CLIP resize and centre crop to `image_size` (`center_crop`
    False: the whole frame squashed to a square instead), CLIP's normalisation unless
    `image_mean`/`image_std` are given, the tokenizer (default: the face demo's) and
    LLaVA-1.5's chat template unless another is given."""
    normalisation = {} if image_mean is None else {"image_mean": image_mean, "image_std": image_std}
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size} if center_crop else {"height": image_size, "width": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=center_crop,
        **normalisation,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer or build_tokenizer(),
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=chat_template,
        num_additional_image_tokens=1,
    )


@dataclass(frozen=True)
class Size:
    """The architecture's dimensions (defaults: the face demo's)."""

    image_size: int = IMAGE_SIZE
    patch_size: int = PATCH_SIZE
    vision_width: int = 96
    vision_layers: int = 3
    text_width: int = 128
    text_layers: int = 3


def build_model(tokenizer: PreTrainedTokenizerFast, seed: int = 0, size: Size = Size()) -> LlavaForConditionalGeneration:
    """The untrained demo architecture of dimensions `size`, initialised from `seed`."""
    import torch

    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        hidden_size=size.vision_width,
        intermediate_size=2 * size.vision_width,
        num_hidden_layers=size.vision_layers,
        num_attention_heads=4,
        image_size=size.image_size,
        patch_size=size.patch_size,
        projection_dim=size.vision_width,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.text_width,
        intermediate_size=int(size.text_width * 2.5),
        num_hidden_layers=size.text_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(size.image_size // size.patch_size) ** 2,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model
