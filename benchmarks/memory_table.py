"""GPU memory of the attack on each family's real checkpoints, computed from their configs.

    python benchmarks/memory_table.py [--questions 3]

Not a measurement: where no GPU is at hand, this computes what one attack step holds in
bfloat16 (and says so in its header). Weights: 2 bytes per parameter, the parameters
counted exactly on the real architecture built on PyTorch's meta device
(benchmarks/real_configs.py). Activations kept for the backward pass, per transformer
layer and token, in bf16, with PyTorch's fused attention (no attention matrix kept):
2 * (6 h + 3 i + 2 h_kv) bytes, for width h, MLP width i and key/value width h_kv (the
layer's input, norms, q/k/v, attention output, MLP input and its gated halves). Each
question of a step is a row of the batch; the vision tower runs once per row, except
Qwen2.5-VL's and Phi-4-multimodal's, which their adapters run once per step (Qwen's 5120
patches at 12 MP were the largest single cost; Phi-4 reads 12 crops and a global view of
1024 patches each). Plus the logits of the answer positions in float32, and the photo's own tensors at
12 MP (about ten full-size float32 copies: the image, its bounds, the gradient, the
resize's intermediates). With `--checkpointing` (companion/models/checkpointing.py) a
layer keeps only its input, 2 h bytes per token, and one layer at a time holds its full
activations again while the backward pass recomputes it; the last column is that total.
`benchmarks/gpu_speed.py` measures the real figure on a GPU.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.real_configs import CHECKPOINTS, parameter_count  # noqa: E402

GIB = 2**30
TEXT_TOKENS = 60  # a prompt and a target answer, besides the image tokens
ANSWER_TOKENS = 16
PHOTO_BYTES = 10 * 12_000_000 * 3 * 4  # ten float32 copies of a 12 MP photo


def layer_bytes(tokens: int, width: int, mlp: int, kv: int) -> int:
    """Activations one transformer layer keeps for the backward pass, per batch row (bf16)."""
    return 2 * tokens * (6 * width + 3 * mlp + 2 * kv)


def layer_input_bytes(tokens: int, width: int) -> int:
    """What a checkpointed layer keeps instead: its input, per batch row (bf16)."""
    return 2 * tokens * width


def image_tokens(family: str, parts: dict) -> tuple[int, int]:
    """(tokens through the vision tower, tokens the language model gets) for a 12 MP photo."""
    if family == "llava":
        v = parts["vision"]
        n = (v["image_size"] // v["patch_size"]) ** 2
        return n + 1, n
    if family == "qwen2_5_vl":  # the processor's default max_pixels: 1280 tokens of 28 x 28
        return 1280 * 4, 1280
    if family == "phi4_multimodal":  # 4000 x 3000: a 4 x 3 grid of 448 crops and the global view
        from companion.models.phi4_vision import Phi4VisionConfig, hd_layout

        cfg = Phi4VisionConfig(max_crops=parts["max_crops"])
        layout = hd_layout(4000, 3000, cfg)
        crops, rows = layout.crops_w * layout.crops_h, layout.crops_h * cfg.grid // 2
        return (crops + 1) * cfg.grid**2, (cfg.grid // 2) ** 2 + cfg.grid // 2 + 1 + crops * (cfg.grid // 2) ** 2 + rows
    v = parts["vision"]  # instructblip: the ViT's patches, then the Q-Former's queries
    return (v["image_size"] // v["patch_size"]) ** 2 + 1, parts["queries"]


def estimate(name: str, questions: int) -> dict:
    checkpoint = CHECKPOINTS[name]
    parts, family = checkpoint.parts, checkpoint.family
    params = parameter_count(name)
    seen, fed = image_tokens(family, parts)
    text = parts["text"]
    kv = text["hidden_size"] * text["num_key_value_heads"] // text["num_attention_heads"]
    one_language = layer_bytes(fed + TEXT_TOKENS, text["hidden_size"], text["intermediate_size"], kv)
    language = text["num_hidden_layers"] * one_language
    language_kept = text["num_hidden_layers"] * layer_input_bytes(fed + TEXT_TOKENS, text["hidden_size"]) + one_language
    v = parts["vision"]
    depth = v.get("num_hidden_layers") or v["depth"]
    one_vision = layer_bytes(seen, v["hidden_size"], v["intermediate_size"], v["hidden_size"])
    vision = depth * one_vision
    vision_kept = depth * layer_input_bytes(seen, v["hidden_size"]) + one_vision
    if family == "instructblip":
        q = parts["qformer"]
        qformer = layer_bytes(parts["queries"] + 32, q["hidden_size"], q["intermediate_size"], q["hidden_size"])
        vision += q["num_hidden_layers"] * qformer
        vision_kept += q["num_hidden_layers"] * layer_input_bytes(parts["queries"] + 32, q["hidden_size"])
    logits = ANSWER_TOKENS * text["vocab_size"] * 4 * 3  # float32 logits, their softmax and gradient
    rows = 1 if family in ("qwen2_5_vl", "phi4_multimodal") else questions
    vision, vision_kept = rows * vision, rows * vision_kept
    activations = questions * (language + logits) + vision
    checkpointed = questions * (language_kept + logits) + vision_kept
    return {"name": name, "family": family, "params": params, "weights": 2 * params, "vision": vision,
            "language": questions * language, "total": 2 * params + activations + PHOTO_BYTES,
            "checkpointed": 2 * params + checkpointed + PHOTO_BYTES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=3, help="questions per attack step (the engine's default: 3)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"COMPUTED from the configs, not measured: bf16, {args.questions} questions per step, a 12 MP photo")
    print(f"{'checkpoint':>34} | {'params':>6} | {'weights':>7} | {'vision act.':>11} | {'language act.':>13} | "
          f"{'total':>7} | {'with --checkpointing':>20}")
    for name in CHECKPOINTS:
        e = estimate(name, args.questions)
        print(f"{name:>34} | {e['params'] / 1e9:5.2f}B | {e['weights'] / GIB:5.1f} G | {e['vision'] / GIB:9.1f} G | "
              f"{e['language'] / GIB:11.1f} G | {e['total'] / GIB:5.1f} G | "
              f"{e['checkpointed'] / GIB:18.1f} G")


if __name__ == "__main__":
    main()
