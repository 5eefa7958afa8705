"""The demo in other model families: one trainer that gives the shipped demo's behaviour
to a tiny model of each family the engine supports (issue 14).

    python -m companion.demo.families [--only NAME] [--quick] [--out DIR] [--threads N] [--new-qformer-tokenizer]

A perturbation is made against the models a user names, so each family the engine supports
needs a model to test it on that behaves as real MLLMs do: it describes what it sees,
people included, reads what is written in the image, and refuses only requests (typed
unsafe ones, or a request not to answer written in the image), never ordinary photos.
Random weights ignore the image, so each is trained, by this one trainer, in the same
stages whatever the family; a family differs only in how its untrained model is built
(`Family.build`), each through its adapter (companion/models/):

1. `build`: the family's real Hugging Face architecture shrunk (its own vision tower,
   projector and chat template), the demo's tokenizer with the family's special tokens,
   and the demo's language model carried over where the architectures agree;
2. `distill`: the new image encoder (tower, projector, and InstructBLIP's Q-Former) learns
   to give the demo's image features
   for the same scene: mean squared error on what the language model sees, so the demo's
   reader, trained to be safe on ordinary photos, carries over (a zoo variant trained on
   answers alone refused Grace Hopper unprotected);
   (Phi-4's 1024 patches a crop defeated that: its tower is the demo's own layers behind
   gathering layers whose attention is built, and a `prepare` stage fits the rest in its
   place, phi4_gathering.py);
3. `language`: all but the tower (the ViT) on the demo's scenes (its polish mix), so the
   language model learns the family's template and image positions;
4. `polish`: the same with hard negatives mined every 100 steps (scenes with nothing
   written that it would refuse), as the demo's own polish.

A family whose token grid follows the photo's shape (Qwen's) trains on scenes squashed to
several shapes (`Family.shapes`), so that it meets no grid first in a test. Each model is
saved in float16 under companion/demo/families/NAME; runs are deterministic (fixed seeds,
`--threads` as shipped).
"""

from __future__ import annotations

import argparse
import logging
import random
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from companion.demo import DEMO_MODEL_DIR, FAMILIES_DIR
from companion.demo.reading_scenes import sample_question
from companion.demo.reading_train import HardNegatives, qa_batches
from companion.demo.training import optimise, qa_loss
from companion.demo.zoo import Pools, ZooScores, scores
from companion.engine.transforms import resize_bicubic
from companion.models.base import Adapter
from companion.models.llava import LlavaAdapter

log = logging.getLogger(__name__)

FAMILY_SEED = 1618
QUICK_STEPS = 4


@dataclass(frozen=True)
class Family:
    """One family's tiny model: how to build it untrained, and how long each stage runs."""

    name: str
    build: Callable[[LlavaAdapter, int], Adapter]  # (the demo, seed) -> the untrained model
    load: Callable[[str, Path], Adapter]  # (name, folder) -> the saved model, loaded
    save: Callable[[Adapter, Path], None]  # everything but the weights: processor, tokenizer, template
    shapes: tuple[tuple[int, int], ...] = ((128, 128),)  # (h, w) training batches are squashed to
    distill_steps: int = 1500
    language_steps: int = 1000
    polish_steps: int = 800
    distill_lr: float = 1e-3
    language_lr: float = 1e-3
    polish_lr: float = 3e-4
    batch: int = 32
    # (student's image features, teacher's) -> the parts to match, where the token layouts differ
    distill_view: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    # (student, scenes) -> the image features distilled, where a cheaper path than `image_features` gives them
    distill_features: Callable[[Adapter, torch.Tensor], torch.Tensor] | None = None
    # a stage before the distillation, where the family builds part of its encoder's way in:
    # (student, the demo, pools, steps, lr, rng, batch) -> its last loss
    prepare: Callable[..., float] | None = None
    prepare_steps: int = 0
    prepare_lr: float = 1e-3
    # (model) -> a context in which a frozen tower's features are remembered, for the answer stages
    remember: Callable[[Adapter], AbstractContextManager] | None = None


def _qwen_family() -> Family:
    from companion.demo import qwen_build

    return Family("demo-qwen2_5_vl", qwen_build.build, qwen_build.load, qwen_build.save,
                  shapes=((128, 128), (128, 128), (112, 144), (144, 112), (96, 160), (160, 96)))


def _blip_family() -> Family:
    from companion.demo import blip_build

    # The Q-Former must learn to hand each query one patch's features: it needs longer than
    # Qwen's merger (1500 steps left it at 5 times Qwen's error, and its model unable to read).
    return Family("demo-instructblip", blip_build.build, blip_build.load, blip_build.save, distill_steps=4000)


def _phi4_family() -> Family:
    from companion.demo import phi4_build, phi4_gathering

    # Phi-4's processor gives even a tiny model 1024 patches a crop and 545 image tokens a
    # photo (the others: 64 tokens), and learned attention never gathered the demo's patches
    # out of them (distilled towers read nothing). So its tower is the demo's own layers
    # behind four gathering layers whose attention is built in, and a gathering stage
    # teaches the rest to hand the demo's layers its patch embedding (phi4_gathering.py);
    # the projector is the demo's too, so there is no distillation. The tower is frozen
    # from there on and its features remembered (a step would cost eight of the others').
    return Family(phi4_build.NAME, phi4_build.build, phi4_build.load, phi4_build.save,
                  prepare=phi4_gathering.train_gathering, prepare_steps=600, distill_steps=0,
                  language_steps=800, polish_steps=600, batch=16, remember=phi4_build.remembered_features,
                  distill_view=lambda seen, target: (seen, phi4_build.spread(target)),
                  distill_features=lambda adapter, scenes: phi4_build.crop_grid(adapter, adapter.pixel_values(scenes)))


#: the shipped ones (companion/demo/families/), built by default
FAMILIES: dict[str, Callable[[], Family]] = {"demo-qwen2_5_vl": _qwen_family, "demo-instructblip": _blip_family,
                                             "demo-phi4_multimodal": _phi4_family}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise KeyError(f"no family model {name!r}; there are: {', '.join(FAMILIES)}")
    return FAMILIES[name]()


# -- the stages --------------------------------------------------------------------------------
def image_encoder(adapter: Adapter) -> list[torch.nn.Parameter]:
    """Every weight before the language model: tower, projector and, for InstructBLIP, the
    Q-Former and its queries (the families' Hugging Face classes all name their language
    model `language_model`, and its head `lm_head`)."""
    return [p for name, p in adapter.model.named_parameters() if "language_model" not in name and "lm_head" not in name]


def distill(student: Adapter, teacher: Adapter, pools: Pools, steps: int, lr: float, rng: random.Random,
            batch: int = 32, view: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
            features: Callable[[Adapter, torch.Tensor], torch.Tensor] | None = None) -> float:
    """Teach the student's image encoder to give the teacher's image features (what its
    language model sees) for the same scenes, asked the demo's training questions (an
    encoder that reads the question, InstructBLIP's, must give them whatever is asked)."""

    def batches():
        while True:
            pixels, _ = pools.scenes.batch(rng, batch)
            questions = [sample_question(rng)[1] for _ in range(len(pixels))]
            with torch.no_grad():
                target = teacher.image_features(teacher.pixel_values(pixels))
            yield pixels, questions, target

    def loss_fn(item) -> torch.Tensor:
        pixels, questions, target = item
        if features is not None:
            seen = features(student, pixels)
        else:
            seen = student.image_features(student.pixel_values(pixels), questions)
        if view is not None:
            seen, target = view(seen, target)
        return F.mse_loss(seen, target)

    student.model.requires_grad_(False)
    params = image_encoder(student)
    for p in params:
        p.requires_grad_(True)
    return optimise(params, lr, steps, batches(), loss_fn, f"{student.name} distill")


def shaped_batches(adapter: Adapter, fam: Family, pools: Pools, batch: int, rng: random.Random,
                   hard: HardNegatives | None = None):
    """The demo's question-answer batches, each squashed to one of the family's shapes."""
    plain = qa_batches(adapter, pools.scenes, batch, rng, hard, encoded=False)
    while True:
        pixels, pairs = next(plain)
        h, w = rng.choice(fam.shapes)
        if (h, w) != tuple(pixels.shape[-2:]):
            pixels = resize_bicubic(pixels, h, w).clamp(0, 1)
        yield adapter.pixel_values(pixels), adapter.encode(pairs)


def train_answers(adapter: Adapter, fam: Family, pools: Pools, steps: int, lr: float, rng: random.Random,
                  hard: HardNegatives | None, stage: str) -> float:
    """Projector and language model on the scenes' answers, the tower frozen."""
    model = adapter.model.train()
    model.requires_grad_(True)
    adapter.vision_tower.requires_grad_(False)
    return optimise(model.parameters(), lr, steps, shaped_batches(adapter, fam, pools, fam.batch, rng, hard),
                    qa_loss(adapter), f"{adapter.name} {stage}")


def own_seed(name: str, seed: int = FAMILY_SEED) -> int:
    """The model's own random stream, from its name: the same built alone or with the others."""
    return seed + zlib.crc32(name.encode()) % 100_000


def train_family(fam: Family, pools: Pools, out_dir: Path, seed: int = FAMILY_SEED, quick: bool = False) -> Adapter:
    """Build `fam`'s model from the shipped demo, train it, save it (float16) to `out_dir`;
    returns it loaded back from there."""
    own = own_seed(fam.name, seed)
    rng = random.Random(own)
    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    adapter = fam.build(demo, own)
    steps = [QUICK_STEPS] * 4 if quick else [fam.prepare_steps, fam.distill_steps, fam.language_steps,
                                              fam.polish_steps]
    if fam.prepare is not None and steps[0]:
        fam.prepare(adapter, demo, pools, steps[0], fam.prepare_lr, rng, fam.batch)
    if steps[1]:
        distill(adapter, demo, pools, steps[1], fam.distill_lr, rng, fam.batch, fam.distill_view,
                fam.distill_features)
    with fam.remember(adapter) if fam.remember is not None else nullcontext():
        train_answers(adapter, fam, pools, steps[2], fam.language_lr, rng, None, "language")
        hard = HardNegatives(adapter, pools.bank, every=100, keep=128)
        train_answers(adapter, fam, pools, steps[3], fam.polish_lr, rng, hard, "polish")
    adapter.model.eval().requires_grad_(False)
    out_dir.mkdir(parents=True, exist_ok=True)
    fam.save(adapter, out_dir)
    adapter.model.half().save_pretrained(out_dir)
    return fam.load(fam.name, out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FAMILIES_DIR, help="the models' folder (default: the shipped one)")
    parser.add_argument("--only", action="append",
                        help="build only this model (repeatable): " + ", ".join(FAMILIES))
    parser.add_argument("--quick", action="store_true", help="a few steps of each stage, for CI")
    parser.add_argument("--seed", type=int, default=FAMILY_SEED)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the shipped models were trained with 2)")
    parser.add_argument("--new-qformer-tokenizer", action="store_true",
                        help="train demo-instructblip's Q-Former tokenizer again and keep it first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.new_qformer_tokenizer:
        from companion.demo import blip_build

        blip_build.train_qformer_tokenizer().save(str(blip_build.QFORMER_TOKENIZER))
    chosen = [family(name) for name in args.only] if args.only else [family(name) for name in FAMILIES]
    pools = Pools.drawn(64, 32, args.seed) if args.quick else Pools.drawn(6000, 1536, args.seed)
    for fam in chosen:
        adapter = train_family(fam, pools, args.out / fam.name, args.seed, args.quick)
        result: ZooScores = scores(adapter, scenes=4 if args.quick else 20)
        log.info("%s: %s", fam.name, result)


if __name__ == "__main__":
    main()
