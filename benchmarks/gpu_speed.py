"""Attack speed and memory of a real-size model on a GPU, one command.

    python benchmarks/gpu_speed.py                                   # LLaVA-1.5-7B architecture, random bf16 weights
    python benchmarks/gpu_speed.py --model llava-hf/llava-1.5-7b-hf  # the real weights, from the HF cache

Speed and memory do not depend on the weights, so by default the real architecture is
built from LLaVA-1.5-7B's configuration with random weights (nothing is downloaded) and
the demo tokenizer stands in for Llama's. Prints seconds per attack step and peak GPU
memory on photos of about 0.3, 3 and 12 megapixels, and the bare forward+backward of the
model on the same batch; then, for the robust optimisation (issue 3), seconds per step
and peak memory at the sizes the site profiles write (instagram 1080 px, facebook 2048 px,
x 4000 px) for plain, plain with our JPEG output in the loop, robust with the Pillow
codec and robust with kornia's differentiable JPEG. Exits with a message and status 0
where there is no CUDA GPU.
`--device cpu --tiny` runs the same code on a shrunken config (a smoke test).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_speed import SIZES, bare_step_seconds  # noqa: E402
from benchmarks.photos import natural_photo  # noqa: E402
from benchmarks.robust_speed import codec_seconds, step_seconds  # noqa: E402
from companion.engine.attack import AttackConfig, ImageProtector  # noqa: E402
from companion.engine.imageio import to_tensor  # noqa: E402

# llava-hf/llava-1.5-7b-hf's config.json, the parts that set compute and memory
LLAVA_15_7B = {
    "vision": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                   image_size=336, patch_size=14, projection_dim=768),
    "text": dict(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096),
}
#: the output sizes of the instagram, facebook and x profiles for a 12 MP photo
ROBUST_SIZES = {"1080x810": (1080, 810), "2048x1536": (2048, 1536), "4000x3000": (4000, 3000)}
TINY = {
    "vision": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   image_size=336, patch_size=14, projection_dim=64),
    "text": dict(vocab_size=32064, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096),
}


def adapter_from_config(spec: dict, device: torch.device, dtype: torch.dtype):
    """LLaVA-1.5's architecture with random weights and a 336 px CLIP processor."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig
    from transformers import LlavaForConditionalGeneration, LlavaProcessor

    from companion.demo.build import CHAT_TEMPLATE, build_tokenizer
    from companion.models.llava import LlavaAdapter

    tokenizer = build_tokenizer()
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**spec["vision"]),
        text_config=LlamaConfig(**spec["text"], pad_token_id=tokenizer.pad_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=576,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    with torch.device(device):
        torch.set_default_dtype(dtype)
        model = LlavaForConditionalGeneration(config)
        torch.set_default_dtype(torch.float32)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    return LlavaAdapter("llava-1.5-7b (random weights)", model, processor, device, dtype)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a real model (HF id or folder) instead of the random-weight architecture")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="shrunken config: a smoke test of this script")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-robust", action="store_true", help="leave out the robust optimisation table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_speed: no CUDA GPU here; nothing to measure (skipped).")
        return 0
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.model:
        from companion.models.registry import load_adapter

        adapter = load_adapter(args.model, args.device)
    else:
        adapter = adapter_from_config(TINY if args.tiny else LLAVA_15_7B, device, dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"\n{adapter.name} on {name}, {adapter.dtype}, 3 questions per step, {args.repeats} steps")
    print(f"{'photo':>8} | {'bare f+b (s)':>12} | {'engine step (s)':>15} | {'ratio':>5} | {'peak GPU memory':>15}")
    for label, size in SIZES.items():
        image = to_tensor(natural_photo("astronaut", size)).to(device)
        bare = bare_step_seconds(adapter, image, args.repeats)
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        ImageProtector([adapter], AttackConfig(steps=1, check_loss=-1.0)).perturb(image)  # warm-up
        start = time.perf_counter()
        ImageProtector([adapter], AttackConfig(steps=args.repeats, check_loss=-1.0)).perturb(image)
        if device.type == "cuda":
            torch.cuda.synchronize()
        step = (time.perf_counter() - start) / args.repeats
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else "-"
        print(f"{label:>8} | {bare:12.3f} | {step:15.3f} | {step / bare:5.2f} | {peak:>15}", flush=True)
    if not args.skip_robust:
        robust_table(adapter, device, args.repeats)
    return 0


def robust_table(adapter, device: torch.device, repeats: int) -> None:
    """Seconds per step and peak memory of plain vs robust protection, Pillow vs kornia codec."""
    modes = ["plain", "plain-jpeg", "robust-pillow", "robust-kornia"]
    print(f"\nRobust optimisation (facebook profile's views), {repeats} steps; peak memory of robust-kornia")
    print(f"{'size':>10} | " + " | ".join(f"{m:>13}" for m in modes)
          + f" | {'robust/plain':>12} | {'Pillow codec':>12} | {'kornia f+b':>10} | {'peak memory':>11}")
    for label, size in ROBUST_SIZES.items():
        image = to_tensor(natural_photo("astronaut", size)).to(device)
        times = {}
        for mode in modes:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times[mode] = step_seconds(adapter, image, mode, repeats)
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else "-"
        pil, kor = codec_seconds(image, "pillow", 3), codec_seconds(image, "kornia", 3)
        print(f"{label:>10} | " + " | ".join(f"{times[m]:13.3f}" for m in modes)
              + f" | {times['robust-pillow'] / times['plain']:12.2f} | {pil:12.3f} | {kor:10.3f} | {peak:>11}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
