"""The untrained `demo-qwen2_5_vl`: Qwen2.5-VL's real architecture, shrunk, with the demo's
language model carried over (trained by companion/demo/families.py).

What is Qwen's and stays so: the vision tower (patches cut from two identical frames by a
3-D convolution, 2-D rotary positions, windowed attention with some full-attention blocks,
RMSNorm and SwiGLU), the merger of 2x2 patches into one token, the multimodal rotary
positions (mrope) in the language model, the ChatML template with
`<|vision_start|><|image_pad|><|vision_end|>`, and the image processor's smart resize, so
the number of image tokens follows the photo's shape. What is shrunk: 8 px patches merged
into 16 px tokens (the demo's), at most 128x128 pixels (64 tokens for a square photo), a
4-block 128-wide tower with windows of 64 px, and the demo's 4-layer 160-wide language
model. Qwen2's language model is Llama's with biases on q, k and v, so the demo's weights
carry over exactly with those biases zero; the six special tokens Qwen adds start as the
demo's `<image>` row (the pad) or its end of text (the rest).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from companion.models.llava import LlavaAdapter
from companion.models.qwen2_5_vl import QwenVLAdapter

SPECIAL = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

#: Qwen2.5-VL-Instruct's template, shortened to what the engine sends (one image, a question).
TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PATCH, MERGE = 8, 2
MAX_PIXELS = 128 * 128
MIN_PIXELS = 32 * 32


def tokenizer_from(demo: LlavaAdapter) -> PreTrainedTokenizerFast:
    """The demo's tokenizer with Qwen's special tokens appended (ids 768 on) and its template."""
    tok = PreTrainedTokenizerFast(tokenizer_object=demo.tokenizer.backend_tokenizer.__class__.from_str(
        demo.tokenizer.backend_tokenizer.to_str()), bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        padding_side="left", model_max_length=4096)
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL)})
    tok.chat_template = TEMPLATE
    return tok


def image_processor() -> Qwen2VLImageProcessorPil:
    return Qwen2VLImageProcessorPil(patch_size=PATCH, merge_size=MERGE, temporal_patch_size=2,
                                    size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS})


def config(tok: PreTrainedTokenizerFast, demo: LlavaAdapter) -> Qwen2_5_VLConfig:
    text = demo.model.config.text_config
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    return Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=text.hidden_size, intermediate_size=text.intermediate_size,
                         num_hidden_layers=text.num_hidden_layers, num_attention_heads=text.num_attention_heads,
                         num_key_value_heads=text.num_key_value_heads, max_position_embeddings=512,
                         rms_norm_eps=text.rms_norm_eps, tie_word_embeddings=False,
                         # head_dim 40: 20 rotary frequencies, split over (time, height, width)
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 8, 8]},
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(depth=4, hidden_size=128, intermediate_size=256, num_heads=4, patch_size=PATCH,
                           spatial_merge_size=MERGE, temporal_patch_size=2, window_size=64,
                           out_hidden_size=text.hidden_size, fullatt_block_indexes=[1, 3]),
        tie_word_embeddings=False, **ids)


def build(demo: LlavaAdapter, seed: int) -> QwenVLAdapter:
    """The untrained model: a random tower and merger, the demo's language model."""
    torch.manual_seed(seed)
    tok = tokenizer_from(demo)
    model = Qwen2_5_VLForConditionalGeneration(config(tok, demo))
    state = model.state_dict()
    old = demo.model.state_dict()
    for key, value in old.items():
        if key.startswith("model.language_model.") or key == "lm_head.weight":
            if key.endswith(("embed_tokens.weight", "lm_head.weight")):
                rows = value.shape[0]
                state[key][:rows] = value
                for token in SPECIAL:  # new rows: the pad as the demo's image token, the rest as end of text
                    source = "<image>" if token == "<|image_pad|>" else "</s>"
                    state[key][tok.convert_tokens_to_ids(token)] = value[demo.tokenizer.convert_tokens_to_ids(source)]
            else:
                state[key] = value
    for key in state:  # Qwen2's q, k, v biases: zero, so the carried-over layers compute what they did
        if key.startswith("model.language_model.") and key.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias")):
            state[key] = torch.zeros_like(state[key])
    model.load_state_dict(state)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.eos_token_id = [end, tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    return QwenVLAdapter("demo-qwen2_5_vl", model, image_processor(), tok, TEMPLATE, torch.device("cpu"),
                         torch.float32)


def save(adapter: QwenVLAdapter, out_dir: Path) -> None:
    """Tokenizer (with its template) and image processor, as a Qwen checkpoint holds them."""
    adapter.tokenizer.save_pretrained(out_dir)
    adapter.image_processor.save_pretrained(out_dir)


def load(name: str, path: Path) -> QwenVLAdapter:
    return QwenVLAdapter.from_pretrained(name, path, torch.device("cpu"), torch.float32)
