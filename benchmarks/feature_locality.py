"""How local are the demo's image features? What a student tower must copy (issue 14).

    python benchmarks/feature_locality.py [--scenes 24]

A family's tiny model learns to see by copying the demo's image features token by token
(companion/demo/families.py, `distill`). How much of a token's feature comes from its own
16 px block, and how much from the rest of the scene, says how far a student's tower must
gather. For each token of each scene the demo's tower is given the scene with only that
token's block kept (then its 3x3 neighbourhood, then its whole row of blocks) and the rest
grey; prints the squared error of that token's feature against the whole scene's, as a
share of the features' variance, for tokens without writing and under writing.
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
