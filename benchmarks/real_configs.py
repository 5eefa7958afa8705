"""The real checkpoints' architectures, built from their configurations with random weights.

Speed and memory do not depend on the weights, so the benchmarks build each family's real
architecture (the parts of its config.json that set compute and memory, copied below) with
random weights, and nothing is downloaded. The shipped demo's tokenizer stands in for the
real one (a prompt is a few dozen tokens either way; the image tokens, which dominate, are
the real count). `build(name, device, dtype)` gives an adapter; `--tiny` variants shrink
the widths for a smoke test on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LLAMA_7B = dict(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
LLAMA_13B = dict(vocab_size=32064, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                 num_attention_heads=40, num_key_value_heads=40, max_position_embeddings=4096)
CLIP_L_336 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=336, patch_size=14, projection_dim=768)
QWEN_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, patch_size=14,
                   spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31])
EVA_G = dict(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39, num_attention_heads=16, image_size=224,
             patch_size=14)
SIGLIP_448 = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                  image_size=448, patch_size=14, crop_size=448, feature_layer=-2)
QFORMER = dict(vocab_size=30523, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
               cross_attention_frequency=2, encoder_hidden_size=1408)


@dataclass(frozen=True)
class Checkpoint:
    """A released checkpoint's architecture."""

    name: str  # its Hugging Face id
    family: str
    parts: dict


CHECKPOINTS = {
    c.name: c for c in (
        Checkpoint("llava-hf/llava-1.5-7b-hf", "llava", {"vision": CLIP_L_336, "text": LLAMA_7B}),
        Checkpoint("llava-hf/llava-1.5-13b-hf", "llava", {"vision": CLIP_L_336, "text": LLAMA_13B}),
        Checkpoint("Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl", {
            "vision": {**QWEN_VISION, "out_hidden_size": 2048},
            "text": dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                         num_attention_heads=16, num_key_value_heads=2, tie_word_embeddings=True)}),
        Checkpoint("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl", {
            "vision": {**QWEN_VISION, "out_hidden_size": 3584},
            "text": dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False)}),
        Checkpoint("Salesforce/instructblip-vicuna-7b", "instructblip",
                   {"vision": EVA_G, "qformer": QFORMER, "text": {**LLAMA_7B, "vocab_size": 32001}, "queries": 32}),
        # transformers' own format of it (model type phi4_multimodal); its audio encoder at the config's defaults
        Checkpoint("microsoft/Phi-4-multimodal-instruct", "phi4_multimodal", {
            "vision": SIGLIP_448,
            "text": dict(vocab_size=200064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                         num_attention_heads=24, num_key_value_heads=8, tie_word_embeddings=True),
            "max_crops": 36}),
    )
}


def tiny(parts: dict) -> dict:
    """The same architecture, narrow and shallow: a CPU smoke test of the benchmark."""
    out = {}
    for key, value in parts.items():
        if not isinstance(value, dict):
            out[key] = value
            continue
        v = dict(value)
        for width in ("hidden_size", "intermediate_size", "projection_dim", "encoder_hidden_size", "out_hidden_size"):
            if width in v:
                v[width] = 64 if width != "intermediate_size" else 128
        for depth in ("num_hidden_layers", "depth"):
            if depth in v:
                v[depth] = 2
        for heads in ("num_attention_heads", "num_heads", "num_key_value_heads"):
            if heads in v:
                v[heads] = 2
        if "fullatt_block_indexes" in v:
            v["fullatt_block_indexes"] = [1]
        out[key] = v
    return out


def _demo():
    from companion.demo import DEMO_MODEL_DIR
    from companion.models.llava import LlavaAdapter

    return LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)


def _built(cls, config, device: torch.device, dtype: torch.dtype):
    with torch.device(device):
        torch.set_default_dtype(dtype)
        try:
            return cls(config)
        finally:
            torch.set_default_dtype(torch.float32)


def model_and_processor(checkpoint: Checkpoint, parts: dict, device: torch.device, dtype: torch.dtype):
    """The Hugging Face model (random weights, on `device`; "meta" for counting only) and
    the pieces its adapter needs."""
    if checkpoint.family == "llava":
        from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig
        from transformers import LlavaForConditionalGeneration, LlavaProcessor

        from companion.demo.build import CHAT_TEMPLATE, build_tokenizer

        tokenizer = build_tokenizer()
        config = LlavaConfig(vision_config=CLIPVisionConfig(**parts["vision"]),
                             text_config=LlamaConfig(**parts["text"], pad_token_id=tokenizer.pad_token_id),
                             image_token_index=tokenizer.convert_tokens_to_ids("<image>"), image_seq_length=576,
                             vision_feature_layer=-2, vision_feature_select_strategy="default")
        processor = LlavaProcessor(
            image_processor=CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}),
            tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
            num_additional_image_tokens=1)
        return _built(LlavaForConditionalGeneration, config, device, dtype), processor
    demo = _demo()
    if checkpoint.family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        from companion.demo import qwen_build

        tok = qwen_build.tokenizer_from(demo)
        ids = {name: tok.convert_tokens_to_ids(t) for name, t in (
            ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
        text = dict(parts["text"])
        head_dim = text["hidden_size"] // text["num_attention_heads"]
        section = [head_dim // 8, 3 * head_dim // 16, 3 * head_dim // 16]  # the released [16, 24, 24] at 128
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section}
        config = Qwen2_5_VLConfig(text_config=text, vision_config=parts["vision"],
                                  tie_word_embeddings=text.get("tie_word_embeddings", False), **ids)
        model = _built(Qwen2_5_VLForConditionalGeneration, config, device, dtype)
        model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id]
        return model, (Qwen2VLImageProcessorPil(), tok)
    if checkpoint.family == "phi4_multimodal":
        from transformers import Phi4MultimodalConfig, Phi4MultimodalForCausalLM

        from companion.demo import phi4_build

        tok = phi4_build.tokenizer_from(demo)
        text = dict(parts["text"])
        config = Phi4MultimodalConfig(
            **text, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.75},
            bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id,
            eos_token_id=[tok.convert_tokens_to_ids("<|end|>"), tok.eos_token_id],
            vision_config={**parts["vision"], "image_token_id": tok.convert_tokens_to_ids("<|image|>")},
            audio_config={"audio_token_id": tok.convert_tokens_to_ids("<|audio|>")})
        model = _built(Phi4MultimodalForCausalLM, config, device, dtype)
        model.generation_config.eos_token_id = config.eos_token_id
        return model, tok
    if checkpoint.family == "instructblip":
        from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration, InstructBlipProcessor
        from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

        from companion.demo import blip_build

        small = blip_build.processor_from(demo)
        image_size = parts["vision"]["image_size"]
        processor = InstructBlipProcessor(
            image_processor=BlipImageProcessorPil(size={"height": image_size, "width": image_size},
                                                  image_mean=blip_build.MEAN, image_std=blip_build.STD),
            tokenizer=small.tokenizer, qformer_tokenizer=small.qformer_tokenizer, num_query_tokens=parts["queries"])
        config = InstructBlipConfig(vision_config=parts["vision"], qformer_config=parts["qformer"],
                                    text_config={**parts["text"], "model_type": "llama"},
                                    num_query_tokens=parts["queries"],
                                    image_token_index=small.tokenizer.convert_tokens_to_ids("<image>"))
        return _built(InstructBlipForConditionalGeneration, config, device, dtype), processor
    raise KeyError(checkpoint.family)


def build(name: str, device: torch.device, dtype: torch.dtype, shrink: bool = False):
    """An adapter over checkpoint `name`'s architecture with random weights."""
    checkpoint = CHECKPOINTS[name]
    parts = tiny(checkpoint.parts) if shrink else checkpoint.parts
    model, processor = model_and_processor(checkpoint, parts, device, dtype)
    label = f"{name} (random weights{', tiny' if shrink else ''})"
    if checkpoint.family == "llava":
        from companion.models.llava import LlavaAdapter

        return LlavaAdapter(label, model, processor, device, dtype)
    if checkpoint.family == "qwen2_5_vl":
        from companion.demo.qwen_build import TEMPLATE
        from companion.models.qwen2_5_vl import QwenVLAdapter

        image_processor, tok = processor
        return QwenVLAdapter(label, model, image_processor, tok, TEMPLATE, device, dtype)
    if checkpoint.family == "phi4_multimodal":
        from companion.demo.phi4_build import TEMPLATE
        from companion.models.phi4_multimodal import Phi4MultimodalAdapter
        from companion.models.phi4_vision import Phi4VisionConfig

        return Phi4MultimodalAdapter(label, model, processor, Phi4VisionConfig(max_crops=parts["max_crops"]), device,
                                     dtype, template=TEMPLATE)
    from companion.models.instructblip import InstructBlipAdapter

    return InstructBlipAdapter(label, model, processor, device, dtype)


def parameter_count(name: str) -> int:
    """The checkpoint's exact parameter count, from its architecture built on the meta device."""
    checkpoint = CHECKPOINTS[name]
    model, _ = model_and_processor(checkpoint, checkpoint.parts, torch.device("meta"), torch.bfloat16)
    return sum(p.numel() for p in model.parameters())
