"""Engine speed on the demo model: step overhead, steps to success, seconds per photo.

    python benchmarks/engine_speed.py [--model demo] [--device cpu] [--repeats 20]

Prints three tables:
1. seconds per attack step of the engine vs. a bare forward+backward of the same model
   on the same token batch (pixel_values leaf at the model's resolution, gradient for it
   only), and their ratio (the engine's overhead: the differentiable resize of the whole
   photo, question sampling, the sign step and projection);
2. steps to success (the engine's own early stop) over natural photos;
3. seconds per photo, end to end (decode, attack, encode, receipt), at about 0.3, 3 and
   12 megapixels, with the output kept at full size (PNG).

All of it with plain optimisation (no site views); benchmarks/robust_speed.py measures
what the robust optimisation adds per step and what it buys after a JPEG 75 upload.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.engine.attack import AttackConfig, ImageProtector  # noqa: E402
from companion.engine.imageio import to_tensor  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.engine.questions import SHADOW_QUESTIONS  # noqa: E402
from companion.engine.targets import REFUSALS  # noqa: E402
from companion.models.registry import load_adapter  # noqa: E402
from benchmarks.photos import encode_png, natural_photo  # noqa: E402

SIZES = {"0.3 MP": (640, 480), "3 MP": (2000, 1500), "12 MP": (4000, 3000)}


def bare_step_seconds(adapter, image: torch.Tensor, repeats: int, pixel_path: bool = False) -> float:
    """A hand-written forward + backward on the same token batches.

    pixel_path=False: the model alone, on pixel_values already at the model's size.
    pixel_path=True: plus the differentiable resize from the photo's own size, the least
    any attack at full resolution has to compute.
    """
    rng = random.Random(0)
    leaf = (image if pixel_path else adapter.pixel_values(image)).detach().requires_grad_(True)
    batches = [
        adapter.encode([(q, rng.choice(REFUSALS)) for q in rng.sample(SHADOW_QUESTIONS, 3)]) for _ in range(repeats)
    ]

    def step(batch):
        pv = adapter.pixel_values(leaf) if pixel_path else leaf
        return torch.autograd.grad(adapter.loss(pv, batch), leaf)

    step(batches[0])  # warm-up
    _sync(adapter.device)
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    _sync(adapter.device)
    return (time.perf_counter() - start) / repeats


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def engine_step_seconds(adapter, image: torch.Tensor, repeats: int) -> float:
    """The engine's attack step on the full photo (no early-stop checks)."""
    cfg = AttackConfig(steps=repeats, check_loss=-1.0)
    ImageProtector([adapter], AttackConfig(steps=1, check_loss=-1.0)).perturb(image)  # warm-up
    start = time.perf_counter()
    ImageProtector([adapter], cfg).perturb(image)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-12mp", action="store_true", help="leave out the slow 12 MP end-to-end row")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    adapter = load_adapter(args.model, args.device)

    print(f"\n1. Step cost ({args.model}, {adapter.device}, {torch.get_num_threads()} threads, {args.repeats} steps,"
          " 3 questions per step)")
    print("   A: bare forward+backward of the model on pixel_values at its own size")
    print("   B: A plus the differentiable resize from the photo's size (what any full-size attack computes)")
    print(f"{'photo':>16} | {'A (s)':>8} | {'B (s)':>8} | {'engine (s)':>10} | {'engine/A':>8} | {'engine/B':>8}")
    for label, size in [("model size", (128, 128)), *SIZES.items()]:
        image = to_tensor(natural_photo("astronaut", size))
        bare = bare_step_seconds(adapter, image, args.repeats)
        with_pixels = bare_step_seconds(adapter, image, args.repeats, pixel_path=True)
        eng = engine_step_seconds(adapter, image, args.repeats)
        print(f"{label:>16} | {bare:8.4f} | {with_pixels:8.4f} | {eng:10.4f} | {eng / bare:8.2f} | "
              f"{eng / with_pixels:8.2f}", flush=True)

    engine = Engine([adapter])
    names = ["astronaut", "chelsea", "coffee", "hubble_deep_field", "retina", "stereo_motorcycle", "camera", "moon"]
    print("\n2. Steps to success (early stop), photo at its own size")
    print(f"{'photo':>22} | {'steps':>5} | {'refusal':>7}")
    steps = []
    for name in names:
        result = engine.protect(encode_png(natural_photo(name)), ProtectOptions(robust=False))
        steps.append(result.steps)
        print(f"{name:>22} | {result.steps:5d} | {result.receipt.refusal_rate:7.2f}")
    print(f"{'median':>22} | {statistics.median(steps):5.0f} |")

    print("\n3. Seconds per photo, end to end, output at full size")
    print(f"{'photo':>8} | {'pixels':>11} | {'steps':>5} | {'seconds':>8}")
    for label, size in SIZES.items():
        if label == "12 MP" and args.skip_12mp:
            continue
        data = encode_png(natural_photo("astronaut", size))
        result = engine.protect(data, ProtectOptions(max_edge=0, robust=False))
        print(f"{label:>8} | {size[0]}x{size[1]:<5} | {result.steps:5d} | {result.seconds:8.1f}")


if __name__ == "__main__":
    main()
