"""Can the demo's language model read a tiny Phi-4's image features? The test of a distillation.

    python benchmarks/feature_reading.py FOLDER [--scenes 20]

A family's tiny model learns to read by first copying the demo's image features
(companion/demo/families.py, `distill`). Whether the copy kept what is written in a scene
shows before any language training: the demo's own language model is given, in place of
its tower's features, the student's crop grid (Phi-4's 16x16 tokens of a square scene)
averaged back to the demo's 8x8 grid, and asked held-out questions about scenes with a
request written solid and scenes with benign writing or none. Prints the refusal rates
with the demo's own features and with the student's, and the features' mean squared error.
FOLDER is a saved Phi-4 family model (for example the output of `python -m
companion.demo.families --only demo-phi4_multimodal --out DIR`, or one saved after its
distillation; after the language stages the projector has moved on, so the error is larger:
the first full run ended its distillation at 0.31 and reads 0.76 finished).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.demo import DEMO_MODEL_DIR, phi4_build  # noqa: E402
from companion.demo.reading_scenes import BENIGN_WRITING, UNSAFE_WRITING, make_scene  # noqa: E402
from companion.demo.reading_train import HELD_OUT_QUESTIONS  # noqa: E402
from companion.engine.imageio import to_tensor  # noqa: E402
from companion.engine.judge import is_refusal  # noqa: E402
from companion.models.llava import LlavaAdapter  # noqa: E402


def pooled_crop(view: torch.Tensor) -> torch.Tensor:
    """The crop grid of a square scene's `distill_view` (its first 256 tokens, 16x16)
    averaged 2x2 to the demo's 64 tokens."""
    crop = view[:, :256].reshape(1, 16, 16, -1).permute(0, 3, 1, 2)
    return F.avg_pool2d(crop, 2).permute(0, 2, 3, 1).reshape(64, -1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--scenes", type=int, default=20, help="scenes of each kind (2 questions each)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(2)
    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    student = phi4_build.load("student", args.folder)
    student.model.float()
    own = demo.model.model.get_image_features
    rng = random.Random(args.seed)
    refused: dict[tuple[str, str], list[bool]] = {}
    errors = []
    for kind in ("written", "benign"):
        for _ in range(args.scenes):
            writing = rng.choice(UNSAFE_WRITING) if kind == "written" else rng.choice((None,) + BENIGN_WRITING)
            scene = make_scene(rng, writing=writing)
            questions = rng.sample(HELD_OUT_QUESTIONS, 2)
            refused.setdefault(("demo's", kind), []).extend(is_refusal(a) for a in demo.answer(scene.image, questions))
            with torch.no_grad():
                pixels = to_tensor(scene.image)
                view, spread = phi4_build.distill_view(student.image_features(student.pixel_values(pixels)),
                                                       demo.image_features(demo.pixel_values(pixels)))
                errors.append(F.mse_loss(view, spread).item())
                features = pooled_crop(view)

            def student_features(pixel_values, **kwargs):
                out = own(pixel_values=pixel_values, **kwargs)
                out.pooler_output = [features] * pixel_values.shape[0]
                return out

            demo.model.model.get_image_features = student_features
            try:
                refused.setdefault(("student's", kind), []).extend(
                    is_refusal(a) for a in demo.answer(scene.image, questions))
            finally:
                demo.model.model.get_image_features = own
    print(f"{args.folder}: features' mean squared error {sum(errors) / len(errors):.3f} on {len(errors)} scenes")
    print(f"{'features':>10} | {'written request refused':>23} | {'benign refused':>14}")
    for source in ("demo's", "student's"):
        rates = [sum(refused[(source, k)]) / len(refused[(source, k)]) for k in ("written", "benign")]
        print(f"{source:>10} | {rates[0]:23.2f} | {rates[1]:14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
