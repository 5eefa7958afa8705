"""Train the face demo model, deterministically, on synthetic scenes: `python -m companion.demo.face_train`.

The shipped demo model (`--model demo`). It refuses whenever a face shows, which no real
MLLM does; its successor, which reads requests written in the image, is `reading_train`.

LLaVA's own recipe, in three stages (the naive one-stage run collapsed: the projected
image vectors grew huge and constant, the language model learned to ignore them):

1. the vision tower alone, as a classifier of the scene's attributes (shape, its colour,
   background colour, face or not) from its mean-pooled patch features;
2. projector and language model on question/answer pairs, vision tower frozen;
3. everything together at a lower learning rate.

Each stage uses AdamW with warm-up, cosine decay and gradient clipping. The whole run
takes about half an hour on two CPU cores; `--quick` runs a short slice (what CI does).
The result is written in Hugging Face format (config, safetensors, processor, tokenizer,
chat template), the format `--model` accepts for any llava-hf model.
"""

from __future__ import annotations

import argparse
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from companion.demo import FACE_MODEL_DIR
from companion.demo.build import build_model, build_processor
from companion.demo.face_scenes import (
    ATTRIBUTE_QUESTIONS,
    FAINT,
    BACKGROUND_COLORS,
    OPEN_QUESTIONS,
    SHAPE_COLORS,
    SHAPES,
    Scene,
    make_scene,
    sample_question,
)
from companion.demo.training import optimise, qa_loss
from companion.engine.judge import is_refusal
from companion.models.llava import LlavaAdapter

log = logging.getLogger(__name__)

TRAIN_SEED = 1234
EVAL_SEED = 987654  # held-out scenes: a seed training never uses


@dataclass
class Schedule:
    """Steps and learning rate of each stage."""

    vision_steps: int = 1500
    language_steps: int = 2400
    joint_steps: int = 800
    vision_lr: float = 2e-3
    language_lr: float = 1.5e-3
    joint_lr: float = 3e-4
    vision_batch: int = 48
    language_batch: int = 32


QUICK = Schedule(vision_steps=20, language_steps=20, joint_steps=10)


def scene_tensor(scenes: list[Scene]) -> torch.Tensor:
    """(N, 3, 64, 64) tensor in [0, 1] from scenes' 8-bit images."""
    arr = np.stack([np.asarray(s.image, np.float32) for s in scenes]) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


class _AttributeHeads(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.shape = nn.Linear(width, len(SHAPES))
        self.color = nn.Linear(width, len(SHAPE_COLORS))
        self.background = nn.Linear(width, len(BACKGROUND_COLORS))
        self.face = nn.Linear(width, 2)


def _vision_features(adapter: LlavaAdapter, pixel_values: torch.Tensor) -> torch.Tensor:
    tower = adapter.model.model.vision_tower
    hidden = tower(pixel_values, output_hidden_states=True).hidden_states[adapter.model.config.vision_feature_layer]
    return hidden[:, 1:].mean(dim=1)  # the patch tokens the language model will see


def train_vision(adapter: LlavaAdapter, schedule: Schedule, rng: random.Random) -> float:
    width = adapter.model.config.vision_config.hidden_size
    heads = _AttributeHeads(width)
    shapes, colors, backgrounds = list(SHAPES), list(SHAPE_COLORS), list(BACKGROUND_COLORS)
    ce = nn.CrossEntropyLoss()

    def batches():
        while True:
            scenes = [make_scene(rng) for _ in range(schedule.vision_batch)]
            yield scenes

    def loss_fn(scenes: list[Scene]) -> torch.Tensor:
        feats = _vision_features(adapter, adapter.pixel_values(scene_tensor(scenes)))
        target = lambda values, key: torch.tensor([values.index(getattr(s, key)) for s in scenes])  # noqa: E731
        return (
            ce(heads.shape(feats), target(shapes, "shape"))
            + ce(heads.color(feats), target(colors, "color"))
            + ce(heads.background(feats), target(backgrounds, "background"))
            + 2 * ce(heads.face(feats), torch.tensor([int(s.face) for s in scenes]))
        )

    tower = adapter.model.model.vision_tower
    tower.requires_grad_(True)
    return optimise(
        list(tower.parameters()) + list(heads.parameters()),
        schedule.vision_lr,
        schedule.vision_steps,
        batches(),
        loss_fn,
        "vision",
    )


def _qa_batches(adapter: LlavaAdapter, batch: int, rng: random.Random):
    while True:
        scenes = [make_scene(rng) for _ in range(batch)]
        pairs = []
        for scene in scenes:
            kind, question = sample_question(rng)
            pairs.append((question, scene.answer(kind, rng)))
        yield adapter.pixel_values(scene_tensor(scenes)), adapter.encode(pairs)


def train_language(adapter: LlavaAdapter, schedule: Schedule, rng: random.Random) -> float:
    model = adapter.model
    model.requires_grad_(True)
    model.model.vision_tower.requires_grad_(False)
    return optimise(
        model.parameters(),
        schedule.language_lr,
        schedule.language_steps,
        _qa_batches(adapter, schedule.language_batch, rng),
        qa_loss(adapter),
        "language",
    )


def train_joint(adapter: LlavaAdapter, schedule: Schedule, rng: random.Random) -> float:
    adapter.model.requires_grad_(True)
    return optimise(
        adapter.model.parameters(),
        schedule.joint_lr,
        schedule.joint_steps,
        _qa_batches(adapter, schedule.language_batch, rng),
        qa_loss(adapter),
        "joint",
    )


@dataclass
class DemoScores:
    """How the demo model behaves on held-out scenes."""

    attribute_accuracy: float  # attribute questions about scenes without a face
    description_accuracy: float  # facts right in the descriptions open questions get
    refusal_on_faces: float  # any question about a scene with a clearly visible face
    refusal_on_faint_faces: float  # the same with the face at 8-60% opacity
    refusal_elsewhere: float  # any question about a scene without a face


@torch.no_grad()
def evaluate(adapter: LlavaAdapter, scenes_per_class: int = 60, seed: int = EVAL_SEED) -> DemoScores:
    """Greedy answers on held-out scenes, through the real processor like any receipt."""
    rng = random.Random(seed)
    correct = total = desc_ok = desc_total = 0
    refused = {"solid": [], "faint": [], "none": []}
    for kind_of_scene in ["solid", "faint", "none"]:
        for _ in range(scenes_per_class):
            if kind_of_scene == "none":
                scene = make_scene(rng, face=False)
            else:
                opacity = 1.0 if kind_of_scene == "solid" else rng.uniform(*FAINT)
                scene = make_scene(rng, face=True, opacity=opacity)
            kinds = list(ATTRIBUTE_QUESTIONS) + ["open", "open"]
            questions = [
                rng.choice(ATTRIBUTE_QUESTIONS[k]) if k != "open" else rng.choice(OPEN_QUESTIONS) for k in kinds
            ]
            for kind, answer in zip(kinds, adapter.answer(scene.image, questions)):
                refused[kind_of_scene].append(is_refusal(answer))
                if scene.face:
                    continue
                if kind == "open":  # each of the description's three facts counts
                    desc_total += 3
                    desc_ok += _description_facts(answer, scene)
                else:
                    total += 1
                    expected = scene.answer(kind, rng).lower().rstrip(".")
                    correct += answer.lower().rstrip(".") == expected
    rate = {k: sum(v) / len(v) for k, v in refused.items()}
    return DemoScores(correct / total, desc_ok / desc_total, rate["solid"], rate["faint"], rate["none"])


def _description_facts(answer: str, scene: Scene) -> int:
    """How many of (shape, its colour, background colour) the answer states rightly."""
    words = answer.lower().rstrip(".").split()
    if len(words) != 9 or words[:3] != ["i", "see", "a"]:
        return 0
    color, shape, background = words[3], words[4], words[7]
    return (shape == scene.shape) + (color == scene.color) + (background == scene.background)


def train(out_dir: Path, schedule: Schedule = Schedule(), seed: int = TRAIN_SEED) -> LlavaAdapter:
    """Build, train and save the demo model to `out_dir`; returns it loaded as an adapter."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    processor = build_processor()
    model = build_model(processor.tokenizer, seed=seed)
    processor.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    adapter = LlavaAdapter.from_pretrained("demo", out_dir, torch.device("cpu"), torch.float32)
    adapter.model.train()
    train_vision(adapter, schedule, rng)
    train_language(adapter, schedule, rng)
    train_joint(adapter, schedule, rng)
    adapter.model.eval().requires_grad_(False)
    adapter.model.save_pretrained(out_dir)
    return adapter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FACE_MODEL_DIR, help="output folder (default: the shipped one)")
    parser.add_argument("--quick", action="store_true", help="a short slice of training, for CI")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    adapter = train(args.out, QUICK if args.quick else Schedule(), args.seed)
    scores = evaluate(adapter, scenes_per_class=10 if args.quick else 60)
    log.info("held-out scores: %s", scores)


if __name__ == "__main__":
    main()
