"""Attack speed and memory of a real-size model on a GPU, one command.

    python benchmarks/gpu_speed.py                                   # every family's real architectures, random bf16 weights
    python benchmarks/gpu_speed.py --arch Qwen/Qwen2.5-VL-7B-Instruct  # one of them
    python benchmarks/gpu_speed.py --model llava-hf/llava-1.5-7b-hf  # the real weights, from the HF cache

Speed and memory do not depend on the weights, so by default each real architecture
(benchmarks/real_configs.py: LLaVA-1.5 7B and 13B, Qwen2.5-VL 3B and 7B,
InstructBLIP-Vicuna-7B, Phi-4-multimodal) is built from its configuration with random weights (nothing is
downloaded) and the demo tokenizer stands in for the real one. Prints seconds per attack step and peak GPU
memory on photos of about 0.3, 3 and 12 megapixels, and the bare forward+backward of the
model on the same batch; then, for the robust optimisation (issue 3), seconds per step
and peak memory at the sizes the site profiles write (instagram 1080 px, facebook 2048 px,
x 4000 px) for plain, plain with our JPEG output in the loop, robust with the Pillow
codec and robust with kornia's differentiable JPEG. Exits with a message and status 0
where there is no CUDA GPU.
`--device cpu --tiny` runs the same code on a shrunken config (a smoke test); `--checkpointing`
measures the same with activation checkpointing (`protect --checkpointing`). `--ensemble`
instead times one perturbation against all the `--arch` models together on a 12 MP photo,
their weights kept on the GPU and then resting in host memory between turns (the offload
an ensemble gets where its weights do not fit, companion/models/offload.py).
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
from benchmarks.real_configs import CHECKPOINTS, build  # noqa: E402
from benchmarks.robust_speed import codec_seconds, step_seconds  # noqa: E402
from companion.engine.attack import AttackConfig, ImageProtector  # noqa: E402
from companion.engine.imageio import to_tensor  # noqa: E402

#: the output sizes of the instagram, facebook and x profiles for a 12 MP photo
ROBUST_SIZES = {"1080x810": (1080, 810), "2048x1536": (2048, 1536), "4000x3000": (4000, 3000)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a real model (HF id or folder) instead of the random-weight architectures")
    parser.add_argument("--arch", action="append", choices=list(CHECKPOINTS),
                        help="a checkpoint's architecture, random weights (repeatable; default: every family's)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="shrunken config: a smoke test of this script")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-robust", action="store_true", help="leave out the robust optimisation table")
    parser.add_argument("--checkpointing", action="store_true",
                        help="activation checkpointing on every layer, as `protect --checkpointing`")
    parser.add_argument("--ensemble", action="store_true",
                        help="one perturbation against all the --arch models: resident, then offloaded")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_speed: no CUDA GPU here; nothing to measure (skipped).")
        return 0
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.model:
        from companion.models.registry import load_adapter

        adapters = [lambda: load_adapter(args.model, args.device)]
    else:
        adapters = [lambda name=name: build(name, device, dtype, shrink=args.tiny) for name in args.arch or CHECKPOINTS]
    if args.ensemble:
        ensemble_table([make() for make in adapters], device, args.repeats, "0.3 MP" if args.tiny else "12 MP")
        return 0
    for make in adapters:
        adapter = make()
        if args.checkpointing:
            from companion.models.checkpointing import checkpoint_layers

            checkpoint_layers(adapter.model)
            adapter.name += " (checkpointing)"
        speed_table(adapter, device, args.repeats)
        if not args.skip_robust:
            robust_table(adapter, device, args.repeats)
        del adapter
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


def timed_steps(adapters, image: torch.Tensor, repeats: int) -> tuple[float, str]:
    """Seconds per attack step against `adapters` on `image` (after one warm-up step) and the
    peak GPU memory, as printed ("-" off CUDA)."""
    cuda = image.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    ImageProtector(adapters, AttackConfig(steps=1, check_loss=-1.0)).perturb(image)  # warm-up
    start = time.perf_counter()
    ImageProtector(adapters, AttackConfig(steps=repeats, check_loss=-1.0)).perturb(image)
    if cuda:
        torch.cuda.synchronize()
    step = (time.perf_counter() - start) / repeats
    return step, f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else "-"


def speed_table(adapter, device: torch.device, repeats: int) -> None:
    """Seconds per attack step and peak memory at about 0.3, 3 and 12 megapixels."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"\n{adapter.name} on {name}, {adapter.dtype}, 3 questions per step, {repeats} steps")
    print(f"{'photo':>8} | {'bare f+b (s)':>12} | {'engine step (s)':>15} | {'ratio':>5} | {'peak GPU memory':>15}")
    for label, size in SIZES.items():
        image = to_tensor(natural_photo("astronaut", size)).to(device)
        bare = bare_step_seconds(adapter, image, repeats)
        step, peak = timed_steps([adapter], image, repeats)
        print(f"{label:>8} | {bare:12.3f} | {step:15.3f} | {step / bare:5.2f} | {peak:>15}", flush=True)


def ensemble_table(adapters, device: torch.device, repeats: int, size: str = "12 MP") -> None:
    """Seconds per ensemble step and peak GPU memory on a photo of `size`, the models' weights
    all on the GPU, then each resting in host memory between its turns."""
    from companion.models.offload import HostWeights, weight_bytes

    image = to_tensor(natural_photo("astronaut", SIZES[size])).to(device)
    weights = sum(weight_bytes(a.model) for a in adapters) / 2**30
    print(f"\nensemble of {', '.join(a.name for a in adapters)} ({weights:.1f} GiB of weights), {size}, {repeats} steps")
    print(f"{'weights':>22} | {'step (s)':>8} | {'peak GPU memory':>15}")
    for label in ("on the GPU together", "host memory, in turn"):
        if label.startswith("host"):
            for adapter in adapters:
                adapter.host_weights = HostWeights(adapter.model, device)
        step, peak = timed_steps(adapters, image, repeats)
        print(f"{label:>22} | {step:8.3f} | {peak:>15}", flush=True)


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
