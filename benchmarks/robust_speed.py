"""What robust protection costs per step, and what it buys: refusal after JPEG 75 vs steps.

    python benchmarks/robust_speed.py [--model demo] [--device cpu] [--repeats 10] [--skip-12mp]

Prints three tables (demo model unless --model says otherwise):
1. seconds per attack step at 1080x810, 2048x1536 and 4000x3000: plain (the file only,
   PNG), plain with our JPEG output in the loop, robust with the Pillow straight-through
   codec (facebook profile), robust with kornia's differentiable JPEG; and the codec's
   own cost, forward and backward (Pillow round trip with its stand-in gradient; kornia);
2. where delta lives: the cost of a step's forward+backward with delta at the output's
   size vs. delta at half that size, upsampled (bilinear) before the model;
3. refusal rate after a real Pillow JPEG 75 (4:2:0) of the saved file, as a function of
   the number of steps (no early stop), plain vs robust-Pillow vs robust-kornia, mean over
   photos that need the robustness most (small ones, where the model sees the most detail).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_speed import _sync  # noqa: E402
from benchmarks.photos import natural_photo  # noqa: E402
from companion.engine import imageio  # noqa: E402
from companion.engine.attack import AttackConfig, ImageProtector  # noqa: E402
from companion.engine.questions import HELD_OUT_QUESTIONS, SHADOW_QUESTIONS  # noqa: E402
from companion.engine.receipt import verify  # noqa: E402
from companion.engine.robust import EOTConfig, SiteViews  # noqa: E402
from companion.engine.sites import get_site  # noqa: E402
from companion.engine.targets import REFUSALS  # noqa: E402
from companion.models.registry import load_adapter  # noqa: E402

SIZES = {"1080x810": (1080, 810), "2048x1536": (2048, 1536), "4000x3000": (4000, 3000)}
FACEBOOK = get_site("facebook")


def protector(adapter, mode: str, steps: int) -> ImageProtector:
    """An attack without early stop in one of the compared modes."""
    cfg = AttackConfig(steps=steps, check_loss=-1.0, min_psnr=36.0)
    codec = partial(imageio.jpeg_round_trip, quality=95) if mode != "plain" else None
    views = None
    if mode.startswith("robust"):
        views = SiteViews(EOTConfig(site=FACEBOOK, jpeg=mode.split("-")[1]))
    return ImageProtector([adapter], cfg, codec, views)


def step_seconds(adapter, image: torch.Tensor, mode: str, repeats: int) -> float:
    protector(adapter, mode, 1).perturb(image)  # warm-up
    _sync(image.device)
    start = time.perf_counter()
    protector(adapter, mode, repeats).perturb(image)
    _sync(image.device)
    return (time.perf_counter() - start) / repeats


def codec_seconds(image: torch.Tensor, backend: str, repeats: int) -> float:
    views = SiteViews(EOTConfig(site=FACEBOOK, jpeg=backend))
    leaf = image.clone().requires_grad_(True)
    _sync(image.device)
    start = time.perf_counter()
    for _ in range(repeats):
        out = views.codec(leaf, 75)
        torch.autograd.grad(out.sum(), leaf)
    _sync(image.device)
    return (time.perf_counter() - start) / repeats


def parametrisation_seconds(adapter, image: torch.Tensor, factor: int, repeats: int) -> float:
    """Forward+backward with delta at 1/factor of the image's size, upsampled (factor 1: full size)."""
    h, w = image.shape[-2:]
    delta = torch.zeros(1, 3, h // factor, w // factor, requires_grad=True)
    batch = adapter.encode([(q, REFUSALS[0]) for q in SHADOW_QUESTIONS[:3]])
    start = time.perf_counter()
    for _ in range(repeats):
        d = delta if factor == 1 else F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=False)
        loss = adapter.loss(adapter.pixel_values((image + d).clamp(0, 1)), batch)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta.add_(grad.sign(), alpha=-1 / 255).clamp_(-8 / 255, 8 / 255)
    return (time.perf_counter() - start) / repeats


def refusal_after_jpeg75(adapter, image, mode: str, steps: int) -> float:
    x = imageio.to_tensor(image)
    result = protector(adapter, mode, steps).perturb(x)
    data = imageio.encode(imageio.to_image(result.image), "jpeg", quality=95)
    return verify(data, [adapter], HELD_OUT_QUESTIONS, lambda im: FACEBOOK.apply(im, 75))[0].refusal_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-12mp", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    adapter = load_adapter(args.model, args.device)
    modes = ["plain", "plain-jpeg", "robust-pillow", "robust-kornia"]

    print(f"\n1. Seconds per step ({args.model}, {adapter.device}, {torch.get_num_threads()} threads, "
          f"{args.repeats} steps, facebook profile for the robust modes)")
    print(f"{'size':>10} | " + " | ".join(f"{m:>13}" for m in modes) + f" | {'robust/plain':>12} | "
          f"{'Pillow codec':>12} | {'kornia f+b':>10}")
    for label, size in SIZES.items():
        if label == "4000x3000" and args.skip_12mp:
            continue
        image = imageio.to_tensor(natural_photo("astronaut", size))
        times = {m: step_seconds(adapter, image, m, args.repeats) for m in modes}
        pil, kor = codec_seconds(image, "pillow", 3), codec_seconds(image, "kornia", 3)
        print(f"{label:>10} | " + " | ".join(f"{times[m]:13.3f}" for m in modes)
              + f" | {times['robust-pillow'] / times['plain']:12.2f} | {pil:12.3f} | {kor:10.3f}", flush=True)

    print("\n2. Where delta lives: forward+backward+sign step, delta at full size vs half size upsampled")
    print(f"{'size':>10} | {'full (s)':>9} | {'half (s)':>9} | {'half/full':>9}")
    for label, size in SIZES.items():
        if label == "4000x3000" and args.skip_12mp:
            continue
        image = imageio.to_tensor(natural_photo("astronaut", size))
        full = parametrisation_seconds(adapter, image, 1, args.repeats)
        half = parametrisation_seconds(adapter, image, 2, args.repeats)
        print(f"{label:>10} | {full:9.3f} | {half:9.3f} | {half / full:9.2f}", flush=True)

    photos = [("coins", None), ("camera", None), ("astronaut", None), ("text", None), ("chelsea", None)]
    budgets = [4, 8, 16, 32, 64]
    print(f"\n3. Refusal after a real Pillow JPEG 75 (4:2:0) of the saved JPEG, mean over {len(photos)} photos "
          "at their own size, no early stop")
    print(f"{'steps':>5} | " + " | ".join(f"{m:>13}" for m in ["plain-jpeg", "robust-pillow", "robust-kornia"]))
    for steps in budgets:
        rates = {
            m: statistics.mean(refusal_after_jpeg75(adapter, natural_photo(n, s), m, steps) for n, s in photos)
            for m in ["plain-jpeg", "robust-pillow", "robust-kornia"]
        }
        print(f"{steps:5d} | " + " | ".join(f"{rates[m]:13.3f}" for m in rates), flush=True)


if __name__ == "__main__":
    main()
