"""How local are the demo's image features? What a student tower must copy (issue 14).

    python benchmarks/feature_locality.py [--scenes 24]

A family's tiny model learns to see by copying the demo's image features token by token
(companion/demo/families.py, `distill`). How much of a token's feature comes from its own
16 px block, and how much from the rest of the scene, says how far a student's tower must
gather. For each token of each scene the demo's tower is given the scene with only that
token's block kept (then its 3x3 neighbourhood, then its whole row of blocks) and the rest
grey; prints the squared error of that token's feature against the whole scene's, as a
share of the features' variance, for tokens without writing and under writing.

Then the first step of that gathering: a Phi-4 patch (14 px of a 448 px crop) covers 4 px of
the 128 px scene, so the demo's 16 px patch embedding is a sum of 16 maps, one per 4 px
sub-block. One attention layer with H heads gives a token at most H position-selective
mixtures of its neighbours, each through one shared map; printed is how much of the
embedding's weight (its squared norm) the best k shared maps capture, k = 1 to 16 (the
singular values of the kernel laid out as offsets x the rest).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.demo import DEMO_MODEL_DIR  # noqa: E402
from companion.demo.reading_train import _patch_labels  # noqa: E402
from companion.demo.zoo import Pools  # noqa: E402
from companion.models.llava import LlavaAdapter  # noqa: E402

GRID, PATCH = 8, 16
#: (rows, columns) kept around a token at (r, c)
KEPT = {
    "own block": lambda r, c: (r, r + 1, c, c + 1),
    "3x3 blocks": lambda r, c: (r - 1, r + 2, c - 1, c + 2),
    "its row": lambda r, c: (r, r + 1, 0, GRID),
}


@torch.no_grad()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    scenes, facts = Pools.drawn(64, 16, args.seed).scenes.batch(random.Random(args.seed), args.scenes)
    written = _patch_labels(facts, GRID, PATCH) > 0
    whole = demo.image_features(demo.pixel_values(scenes))
    variance = whole.reshape(-1, whole.shape[-1]).var(0).sum()
    errors: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in KEPT}
    for r in range(GRID):
        for c in range(GRID):
            for name, kept in KEPT.items():
                top, bottom, left, right = kept(r, c)
                top, left, bottom, right = max(0, top) * PATCH, max(0, left) * PATCH, min(GRID, bottom) * PATCH, \
                    min(GRID, right) * PATCH
                masked = torch.full_like(scenes, 0.5)
                masked[..., top:bottom, left:right] = scenes[..., top:bottom, left:right]
                token = r * GRID + c
                seen = demo.image_features(demo.pixel_values(masked))[:, token]
                share = ((seen - whole[:, token]) ** 2).sum(-1) / variance
                for n in range(len(scenes)):
                    errors[name][int(written[n, token])].append(share[n].item())
    print(f"The demo's features with part of the scene kept ({args.scenes} scenes): squared error against "
          "the whole scene's, as a share of the features' variance")
    print(f"{'kept':>12} | {'no writing':>10} | {'under writing':>13}")
    for name, (plain, under) in errors.items():
        print(f"{name:>12} | {sum(plain) / len(plain):10.3f} | {sum(under) / max(1, len(under)):13.3f}")
    print(f"({len(errors['own block'][1])} tokens under writing)")
    kernel = demo.model.model.vision_tower.embeddings.patch_embedding.weight  # (width, 3, 16, 16)
    width, sub = kernel.shape[0], PATCH // 4
    by_offset = kernel.reshape(width, 3, 4, sub, 4, sub).permute(2, 4, 0, 1, 3, 5).reshape(16, -1)
    energy = torch.linalg.svdvals(by_offset) ** 2
    captured = energy.cumsum(0) / energy.sum()
    print("\nThe demo's patch embedding as 16 maps of 4 px sub-blocks: share of its weight in the best k shared maps")
    print(" | ".join(f"k={k}: {captured[k - 1]:.2f}" for k in (1, 2, 4, 8, 12, 16)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
