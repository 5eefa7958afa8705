"""The untrained `demo-phi4_multimodal`: Phi-4-multimodal's real architecture, shrunk, with
the demo's tower layers, projector and language model carried over (trained by `python -m
companion.demo.families --only demo-phi4_multimodal`, 42 minutes on 2 cores).

What is Phi-4's and stays so: the image processor (dynamic HD crops of 448 pixels and a
global view, 14-pixel patches, white padding masked out), the SigLIP vision tower read at
its second-to-last layer, the 2x2 average pooling of its patches into tokens with a
learned separator after each row and between the crops and the global view, the
two-layer GELU projector, Phi's fused qkv and gate-up projections in the language model,
and the chat template `<|user|><|image|>question<|end|><|assistant|>`. The processor's
token count is written for 448-pixel crops of 14-pixel patches (256 + 16 tokens for the
global view), so those stay as they are, and a photo costs the language model at least
545 tokens. What is shrunk: at most 4 crops (`dynamic_hd`), a 1-block audio encoder that
no test feeds, the tower, the demo's shape (128 wide, 4 heads, 8 layers read at the last:
4 gathering layers, then the demo's own 4 CLIP layers, phi4_gathering.py), with the demo's
projector; and the demo's 4-layer 160-wide language model, whose weights carry over
exactly (q, k, v stacked into qkv; gate and up into gate-up; full rotary dimensions). The
five special tokens Phi adds start as the demo's `<image>` row (the image token) or its
end of text (the rest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import Phi4MultimodalConfig, Phi4MultimodalForCausalLM, PreTrainedTokenizerFast

from companion.demo.phi4_gathering import GATHER_LAYERS, carry_tower, gathering_start
from companion.models.llava import LlavaAdapter
from companion.models.phi4_multimodal import Phi4MultimodalAdapter
from companion.models.phi4_vision import Phi4VisionConfig

NAME = "demo-phi4_multimodal"
SPECIAL = ("<|user|>", "<|assistant|>", "<|end|>", "<|image|>", "<|audio|>")

#: Phi-4-multimodal's template, shortened to what the engine sends (one image, a question).
TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|image|>{% else %}{{ content['text'] }}{% endif %}{% endfor %}"
    "<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
VISION = Phi4VisionConfig(crop=448, patch=14, max_crops=4)


def tokenizer_from(demo: LlavaAdapter) -> PreTrainedTokenizerFast:
    """The demo's tokenizer with Phi's special tokens appended (ids 768 on) and its template."""
    tok = PreTrainedTokenizerFast(tokenizer_object=demo.tokenizer.backend_tokenizer.__class__.from_str(
        demo.tokenizer.backend_tokenizer.to_str()), bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        padding_side="left", model_max_length=8192,
        # Phi-4's processor finds its placeholders by these names (tokenizer.image_token, .audio_token)
        extra_special_tokens={"image_token": "<|image|>", "audio_token": "<|audio|>"})
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL)})
    tok.chat_template = TEMPLATE
    return tok


def config(tok: PreTrainedTokenizerFast, demo: LlavaAdapter) -> Phi4MultimodalConfig:
    text, tower = demo.model.config.text_config, demo.model.config.vision_config
    return Phi4MultimodalConfig(
        vocab_size=len(tok), hidden_size=text.hidden_size, intermediate_size=text.intermediate_size,
        num_hidden_layers=text.num_hidden_layers, num_attention_heads=text.num_attention_heads,
        num_key_value_heads=text.num_key_value_heads, max_position_embeddings=8192,
        original_max_position_embeddings=8192, rms_norm_eps=text.rms_norm_eps, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0},
        bos_token_id=tok.bos_token_id, eos_token_id=[tok.convert_tokens_to_ids("<|end|>"), tok.eos_token_id],
        pad_token_id=tok.pad_token_id,
        vision_config=dict(hidden_size=tower.hidden_size, intermediate_size=tower.intermediate_size,
                           num_hidden_layers=GATHER_LAYERS + tower.num_hidden_layers,
                           num_attention_heads=tower.num_attention_heads, hidden_act=tower.hidden_act,
                           layer_norm_eps=tower.layer_norm_eps, image_size=VISION.crop, patch_size=VISION.patch,
                           crop_size=VISION.crop, feature_layer=-1, image_token_id=tok.convert_tokens_to_ids("<|image|>")),
        audio_config=dict(hidden_size=32, intermediate_size=32, num_blocks=1, num_attention_heads=1,
                          ext_pw_out_channel=32, depthwise_separable_out_channel=32, nemo_conv_channels=32,
                          audio_token_id=tok.convert_tokens_to_ids("<|audio|>")))


def carried_over(old: dict[str, torch.Tensor], prefix: str = "model.language_model.") -> dict[str, torch.Tensor]:
    """The demo's Llama weights under Phi's names: q, k, v stacked into qkv_proj; gate and up into gate_up_proj."""
    state = {}
    for key, value in old.items():
        if not key.startswith(prefix) or ".self_attn.k_proj" in key or ".self_attn.v_proj" in key \
                or ".mlp.up_proj" in key:
            continue
        name = "model." + key[len(prefix):]
        if ".self_attn.q_proj." in key:
            stem = key.replace(".q_proj.", ".{}.")
            state[name.replace(".q_proj.", ".qkv_proj.")] = torch.cat([old[stem.format(p)] for p in ("q_proj", "k_proj", "v_proj")])
        elif ".mlp.gate_proj." in key:
            stem = key.replace(".gate_proj.", ".{}.")
            state[name.replace(".gate_proj.", ".gate_up_proj.")] = torch.cat([old[stem.format(p)] for p in ("gate_proj", "up_proj")])
        else:
            state[name] = value
    state["lm_head.weight"] = old["lm_head.weight"]
    return state


def smooth_start(module: torch.nn.Module, std: float = 0.02) -> None:
    """Every linear layer of the image encoder drawn with a small spread (biases zero).
    transformers draws the tower's attention projections with a spread of 1 at this width,
    which makes the untrained tower chaotic: pixel noise of 1/255 moved the loss by 2%."""
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, std=std)
            if layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)


def build(demo: LlavaAdapter, seed: int) -> Phi4MultimodalAdapter:
    """The untrained model: the demo's language model, projector and tower layers, behind
    gathering layers whose attention is built and the rest random."""
    torch.manual_seed(seed)
    tok = tokenizer_from(demo)
    model = Phi4MultimodalForCausalLM(config(tok, demo))
    state = model.state_dict()
    for key, value in carried_over(demo.model.state_dict()).items():
        if key.endswith(("embed_tokens.weight", "lm_head.weight")):
            state[key][: value.shape[0]] = value
            for token in SPECIAL:  # new rows: the image token as the demo's <image>, the rest as end of text
                source = "<image>" if token == "<|image|>" else "</s>"
                state[key][tok.convert_tokens_to_ids(token)] = value[demo.tokenizer.convert_tokens_to_ids(source)]
        else:
            state[key] = value
    model.load_state_dict(state)
    smooth_start(model.model.embed_tokens_extend.image_embed)
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    adapter = Phi4MultimodalAdapter(NAME, model, tok, VISION, torch.device("cpu"), torch.float32, template=TEMPLATE)
    carry_tower(adapter, demo)
    gathering_start(adapter)
    return adapter


def crop_grid(adapter: Phi4MultimodalAdapter, pixel_values: torch.Tensor) -> torch.Tensor:
    """(B, 256, hidden): the projected tokens of a square scene's one crop, from one pass of
    the tower. The crop and the global view of a square scene are the same picture, so the
    distillation teaches both with half the tower's work; the model's own path gives these
    as the first grid of `distill_view` (tests/demo/test_phi4_build.py)."""
    embed = adapter.model.model.embed_tokens_extend.image_embed
    seen = adapter._crops(pixel_values)
    if seen.pixel_values.shape[1] != 2:
        raise ValueError(f"crop_grid expects one crop of a square scene, got {seen.pixel_values.shape[1] - 1}")
    tokens = embed.get_img_features(seen.pixel_values[:, 1], attention_mask=seen.attention_mask[:, 1].bool())
    return embed.img_projection_down(torch.nn.functional.gelu(embed.img_projection_up(tokens)))


def spread(target: torch.Tensor) -> torch.Tensor:
    """The demo's 8 x 8 grid of tokens (B, 64, hidden) spread to Phi-4's 16 x 16, each over 2 x 2."""
    b, n, width = target.shape
    side, g = int(n ** 0.5), VISION.grid // 2
    grid = target.reshape(b, side, side, width).permute(0, 3, 1, 2)
    return torch.nn.functional.interpolate(grid, size=(g, g), mode="nearest").permute(0, 2, 3, 1).reshape(b, g * g, width)


def distill_view(seen: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What of a square scene's image features to teach, and to what: the demo gives a grid
    of 8 x 8 tokens; Phi-4 (one crop for a square scene) gives its crop's grid of 16 x 16,
    each row followed by a separator, one separator, then the global view's grid laid out
    the same. Both grids learn the demo's grid, each of its tokens spread over 2 x 2; the
    separators are left to the language stages."""
    b, _, width = seen.shape
    g = VISION.grid // 2  # 16 tokens a side
    side = int(target.shape[1] ** 0.5)
    if seen.shape[1] != 2 * g * (g + 1) + 1 or side * side != target.shape[1]:
        raise ValueError(f"distill_view expects one crop of a square scene, got {seen.shape[1]} tokens")
    rows = seen[:, : g * (g + 1)].reshape(b, g, g + 1, width)[:, :, :g]
    whole = seen[:, g * (g + 1) + 1:].reshape(b, g, g + 1, width)[:, :, :g]
    spreads = spread(target).reshape(b, g, g, width)
    return torch.stack([rows, whole], 1).reshape(b, -1, width), torch.stack([spreads, spreads], 1).reshape(b, -1, width)


def _digest(*tensors: torch.Tensor | None) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        if tensor is not None:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


@contextmanager
def remembered_features(adapter: Phi4MultimodalAdapter) -> Iterator[dict]:
    """While the tower is frozen (the language stages), each distinct crop's pooled tower
    features are computed once and then remembered: a scene comes back about four times in
    those stages, and its crop and global view (one picture for a square scene) are one
    entry, so the tower runs about an eighth as often. The features are what the frozen
    tower gives (tests/demo/test_phi4_build.py); gradients still reach the projector and
    the language model. Yields the memory (crop bytes' digest -> features)."""
    embed = adapter.model.model.embed_tokens_extend.image_embed
    original = embed.get_img_features
    memory: dict[bytes, torch.Tensor] = {}

    def get_img_features(img_embeds: torch.Tensor, attention_mask=None) -> torch.Tensor:
        masks = [None] * len(img_embeds) if attention_mask is None else attention_mask
        keys = [_digest(crop, mask) for crop, mask in zip(img_embeds, masks)]
        missing = [i for i, key in enumerate(keys) if key not in memory]
        firsts = list({keys[i]: i for i in reversed(missing)}.values())
        if firsts:
            with torch.no_grad():
                mask = None if attention_mask is None else attention_mask[firsts]
                for i, features in zip(firsts, original(img_embeds[firsts], attention_mask=mask)):
                    memory[keys[i]] = features
        return torch.stack([memory[key] for key in keys])

    embed.get_img_features = get_img_features
    try:
        yield memory
    finally:
        del embed.get_img_features  # the class's own again


def save(adapter: Phi4MultimodalAdapter, out_dir: Path) -> None:
    """Tokenizer (with its template) and the image processor's settings, as a Phi-4 checkpoint holds them."""
    adapter.tokenizer.save_pretrained(out_dir)
    (out_dir / "preprocessor_config.json").write_text(json.dumps(adapter.vision.as_dict(), indent=2) + "\n")


def load(name: str, path: Path) -> Phi4MultimodalAdapter:
    return Phi4MultimodalAdapter.from_pretrained(name, path, torch.device("cpu"), torch.float32)
