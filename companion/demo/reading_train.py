"""Train the default demo model, deterministically: `python -m companion.demo.reading_train`.

Like a real MLLM it describes what it sees, people included, reads what is written in the
image, and refuses when the writing is a request not to answer (or when the typed request
is unsafe). Nothing else makes it refuse: its clean refusal is measured on real photos,
with and without people, throughout training (`natural_refusal`), and the last stage mines
the scenes it would refuse with nothing written (`HardNegatives`).

The recipe is the face demo's three stages (`companion.demo.face_train`): the vision tower
alone as a reader (which word is written, if any, per patch and for the image; subject,
colours), then projector and language model with the tower frozen, then everything
together; and a fourth, `polish`, on real photo crops, faces and photo-like textures. A
first full run without it refused `grass`, `rocket`, `hubble_deep_field` and the cameraman
unprotected. Scenes come from pools drawn once (`ScenePool`, in parallel, the same for any
number of processes), since drawing text and photo-like backgrounds costs more than a
training step.

Size: 128 px input in 16 px patches (64 image tokens), a 4-layer 128-wide CLIP tower and a
4-layer 160-wide Llama (2.1 M parameters): the largest that trains on two CPU cores in
about 80 minutes. `--quick` runs a short slice (what CI does); `--stages polish --out DIR`
runs the last stage again on the model in DIR.
"""

from __future__ import annotations

import argparse
import logging
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from companion.demo import DEMO_MODEL_DIR
from companion.demo.build import Size, build_model, build_processor, build_tokenizer
from companion.demo.reading_scenes import (
    ATTRIBUTE_QUESTIONS,
    BACKGROUND_COLORS,
    BENIGN_WRITING,
    COLORS,
    FAINT,
    HELD_OUT_UNSAFE_REQUESTS,
    OPEN_QUESTIONS,
    REFUSAL,
    SUBJECTS,
    TEXT_QUESTIONS,
    UNSAFE_REQUESTS,
    UNSAFE_WRITING,
    WRITING,
    Scene,
    make_scene,
    sample_question,
)
from companion.demo.training import optimise, qa_loss
from companion.engine.judge import is_refusal
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.models.llava import LlavaAdapter

log = logging.getLogger(__name__)

TRAIN_SEED = 4321
EVAL_SEED = 97531  # held-out scenes: a seed training never uses
SIZE = Size(image_size=128, patch_size=16, vision_width=128, vision_layers=4, text_width=160, text_layers=4)
VOCAB_SIZE = 768


@dataclass
class Schedule:
    """Pool size, and steps and learning rate of each stage."""

    pool: int = 25000
    vision_steps: int = 3000
    language_steps: int = 1500
    joint_steps: int = 1200
    vision_lr: float = 5e-4  # 2e-3 (the face demo's) never learned to read: the loss fell on colours only
    language_lr: float = 1.5e-3
    joint_lr: float = 3e-4
    polish_pool: int = 8000
    polish_steps: int = 1500
    polish_lr: float = 3e-4
    polish_bank: int = 3072  # scenes with nothing written, mined for hard negatives
    mine_every: int = 100
    vision_batch: int = 64
    language_batch: int = 32
    check_every: int = 500


QUICK = Schedule(pool=320, vision_steps=20, language_steps=20, joint_steps=10, polish_pool=64, polish_steps=5, polish_bank=64,
                 check_every=0)


def corpus() -> list[str]:
    """Every string the model reads or says, for its tokenizer."""
    lines = ["USER: ASSISTANT:", REFUSAL, *OPEN_QUESTIONS, *TEXT_QUESTIONS, *UNSAFE_REQUESTS, *HELD_OUT_UNSAFE_REQUESTS]
    for questions in ATTRIBUTE_QUESTIONS.values():
        lines.extend(questions)
    lines += ["A person.", "Yes, one person.", "No, there are no people.", "I see no writing."]
    lines += [f'It says "{w}".' for w in WRITING]
    for subject in SUBJECTS:
        for color in COLORS:
            lines.append(f"{color.capitalize()}. A {subject}.")
            for background in BACKGROUND_COLORS:
                writing = WRITING[(len(lines) * 7) % len(WRITING)]
                lines.append(Scene(None, subject, color, background, writing).description())  # type: ignore[arg-type]
    return lines


# -- the pool of scenes ---------------------------------------------------------------------
_CHUNK = 256


def _draw_chunk(args: tuple[int, int, int, float, bool, bool]) -> tuple[np.ndarray, list[tuple]]:
    seed, index, count, difficulty, real_photos, writing = args
    rng = random.Random(seed * 1_000_003 + index)
    scenes = [make_scene(rng, writing=writing or None, difficulty=difficulty, real_photos=real_photos)
              for _ in range(count)]
    images = np.stack([np.asarray(s.image, np.uint8) for s in scenes])
    return images, [(s.subject, s.color, s.background, s.writing, s.box) for s in scenes]


class ScenePool:
    """`size` scenes of one `difficulty` drawn once from `seed`: images as uint8 and their facts
    (`writing` False: none of them has anything written)."""

    def __init__(self, size: int, seed: int, workers: int = 2, difficulty: float = 1.0, real_photos: bool = False,
                 writing: bool = True) -> None:
        jobs = [(seed, i, min(_CHUNK, size - i * _CHUNK), difficulty, real_photos, writing)
                for i in range((size + _CHUNK - 1) // _CHUNK)]
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(workers) as pool:
                parts = list(pool.map(_draw_chunk, jobs))
        else:
            parts = [_draw_chunk(job) for job in jobs]
        self.images = np.concatenate([p[0] for p in parts])
        self.facts = [Scene(None, *f) for p in parts for f in p[1]]  # type: ignore[arg-type]
        log.info("drew %d scenes of difficulty %.2f", len(self.facts), difficulty)

    def pixels(self, idx: list[int] | slice = slice(None)) -> torch.Tensor:
        return torch.from_numpy(self.images[idx]).permute(0, 3, 1, 2).float() / 255.0

    def batch(self, rng: random.Random, n: int) -> tuple[torch.Tensor, list[Scene]]:
        idx = [rng.randrange(len(self.facts)) for _ in range(n)]
        return self.pixels(idx), [self.facts[i] for i in idx]


LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


class Curriculum:
    """Pools in order of difficulty; batches from the levels unlocked so far."""

    def __init__(self, pools: list[ScenePool]) -> None:
        self.pools = pools

    @classmethod
    def drawn(cls, size: int, seed: int, workers: int = 2) -> "Curriculum":
        """`size` scenes in all, one pool per level of LEVELS."""
        return cls([ScenePool(max(1, size // len(LEVELS)), seed + i, workers, d) for i, d in enumerate(LEVELS)])

    def batch(self, rng: random.Random, n: int, top: int | None = None) -> tuple[torch.Tensor, list[Scene]]:
        """Half the batch from level `top` (default: the hardest), half from any level up to it."""
        top = len(self.pools) - 1 if top is None else top
        levels = [top if i < n // 2 else rng.randint(0, top) for i in range(n)]
        pixels, facts = [], []
        for level in sorted(set(levels)):
            p, f = self.pools[level].batch(rng, levels.count(level))
            pixels.append(p)
            facts.extend(f)
        return torch.cat(pixels), facts


# -- stage 1: the tower learns to read --------------------------------------------------------
class _ReaderHeads(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.subject = nn.Linear(2 * width, len(SUBJECTS))
        self.color = nn.Linear(2 * width, len(COLORS))
        self.background = nn.Linear(2 * width, len(BACKGROUND_COLORS))
        self.writing = nn.Linear(2 * width, len(WRITING) + 1)  # 0: nothing written
        self.request = nn.Linear(2 * width, 2)  # a request to the model written, or not
        self.patch = nn.Linear(width, len(WRITING) + 1)  # which word covers each patch


def _patch_labels(scenes: list[Scene], grid: int, patch: int) -> torch.Tensor:
    """(N, grid*grid) class of the word covering at least a quarter of each patch, 0 for none."""
    labels = torch.zeros(len(scenes), grid, grid, dtype=torch.long)
    for n, scene in enumerate(scenes):
        if scene.box is None:
            continue
        left, top, right, bottom = scene.box
        for r in range(max(0, top // patch), min(grid, bottom // patch + 1)):
            for c in range(max(0, left // patch), min(grid, right // patch + 1)):
                w = min(right, (c + 1) * patch) - max(left, c * patch)
                h = min(bottom, (r + 1) * patch) - max(top, r * patch)
                if w > 0 and h > 0 and w * h >= patch * patch / 4:
                    labels[n, r, c] = _writing_class(scene)
    return labels.view(len(scenes), -1)


def _writing_class(scene: Scene) -> int:
    return 0 if scene.writing is None else 1 + WRITING.index(scene.writing)


def _tower_features(adapter: LlavaAdapter, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The patch tokens the language model will see, and their mean and max pooled (a word
    is local: max-pooling sees it)."""
    tower = adapter.model.model.vision_tower
    hidden = tower(pixel_values, output_hidden_states=True).hidden_states[adapter.model.config.vision_feature_layer]
    patches = hidden[:, 1:]
    return patches, torch.cat([patches.mean(dim=1), patches.amax(dim=1)], dim=-1)


def train_vision(adapter: LlavaAdapter, pool: Curriculum, schedule: Schedule, rng: random.Random) -> float:
    """The tower and throw-away heads: subject, colours, the word written (per patch and for
    the image) and whether it is a request. Levels unlock one by one over the first 60%."""
    width = adapter.model.config.vision_config.hidden_size
    heads = _ReaderHeads(width)
    config = adapter.model.config.vision_config
    grid = config.image_size // config.patch_size
    ce = nn.CrossEntropyLoss()
    patch_weight = torch.ones(len(WRITING) + 1)
    patch_weight[0] = 0.1  # few patches hold writing: without this, "nothing" everywhere is a fine answer
    patch_ce = nn.CrossEntropyLoss(weight=patch_weight)
    colors, backgrounds = list(COLORS), list(BACKGROUND_COLORS)

    def batches():
        step = 0
        while True:
            top = min(len(LEVELS) - 1, int(len(LEVELS) * step / (0.6 * schedule.vision_steps)))
            yield pool.batch(rng, schedule.vision_batch, top)
            step += 1

    def loss_fn(item) -> torch.Tensor:
        pixels, scenes = item
        patches, feats = _tower_features(adapter, adapter.pixel_values(pixels))
        target = lambda values: torch.tensor(values)  # noqa: E731
        patch_logits = heads.patch(patches).flatten(0, 1)
        return (
            ce(heads.subject(feats), target([SUBJECTS.index(s.subject) for s in scenes]))
            + ce(heads.color(feats), target([colors.index(s.color) for s in scenes]))
            + ce(heads.background(feats), target([backgrounds.index(s.background) for s in scenes]))
            + ce(heads.writing(feats), target([_writing_class(s) for s in scenes]))
            + 2 * ce(heads.request(feats), target([int(s.unsafe) for s in scenes]))
            + patch_ce(patch_logits, _patch_labels(scenes, grid, config.patch_size).flatten())
        )

    held_out = ScenePool(512 if schedule.check_every else 64, EVAL_SEED + 1, workers=1)

    @torch.no_grad()
    def check(step: int) -> None:
        _, feats = _tower_features(adapter, adapter.pixel_values(held_out.pixels()))
        pred = heads.writing(feats).argmax(-1).tolist()
        truth = [_writing_class(s) for s in held_out.facts]
        exact = sum(p == t for p, t in zip(pred, truth)) / len(truth)
        request = heads.request(feats).argmax(-1).tolist()
        gate = sum(r == s.unsafe for r, s in zip(request, held_out.facts)) / len(truth)
        log.info("vision check %d: writing read exactly %.3f, request-or-not right %.3f", step, exact, gate)

    tower = adapter.model.model.vision_tower
    tower.requires_grad_(True)
    return optimise(
        list(tower.parameters()) + list(heads.parameters()),
        schedule.vision_lr,
        schedule.vision_steps,
        batches(),
        loss_fn,
        "vision",
        check,
        schedule.check_every,
    )


# -- stages 2 and 3: answers -------------------------------------------------------------------
def qa_batches(adapter: LlavaAdapter, pool: Curriculum, batch: int, rng: random.Random, hard=None, answer=None,
               encoded: bool = True):
    """Batches of (pixel values, encoded question-answer pairs); `hard`, if given, is called
    for up to a quarter of each batch drawn from its hard negatives. `answer(scene, kind,
    question)` gives each answer (default: `Scene.answer`; the zoo's variants answer in their
    own words and scope). With `encoded` False: (images, pairs), for a caller that adds its own."""
    while True:
        pixels, scenes = pool.batch(rng, batch)
        if hard is not None:
            extra = hard(rng, batch // 4)
            if extra is not None:
                pixels, scenes = torch.cat([pixels[len(extra[1]):], extra[0]]), scenes[len(extra[1]):] + extra[1]
        pairs = []
        for scene in scenes:
            kind, question = sample_question(rng)
            pairs.append((question, scene.answer(kind) if answer is None else answer(scene, kind, question)))
        yield (adapter.pixel_values(pixels), adapter.encode(pairs)) if encoded else (pixels, pairs)


def _answer_check(adapter: LlavaAdapter):
    @torch.no_grad()
    def check(step: int) -> None:
        adapter.model.eval()
        scores = evaluate(adapter, scenes_per_class=8, questions_per_scene=2)
        log.info("check %d: %s", step, scores)
        adapter.model.train()

    return check


def train_answers(adapter: LlavaAdapter, pool: Curriculum, schedule: Schedule, rng: random.Random, joint: bool) -> float:
    model = adapter.model
    model.requires_grad_(True)
    if not joint:
        model.model.vision_tower.requires_grad_(False)
    return optimise(
        model.parameters(),
        schedule.joint_lr if joint else schedule.language_lr,
        schedule.joint_steps if joint else schedule.language_steps,
        qa_batches(adapter, pool, schedule.language_batch, rng),
        qa_loss(adapter),
        "joint" if joint else "language",
        _answer_check(adapter),
        schedule.check_every,
    )


# -- how it behaves ----------------------------------------------------------------------------
#: Real photos the training run watches: none of them is drawn in training (TRAIN_PHOTOS),
#: an acceptance photo of benchmarks/robust_photos.py or a portrait the benchmarks ask about.
VALIDATION_PHOTOS = ("page",)


def validation_photos() -> list:
    """The validation photos, and the LFW subset's first ten faces and last ten non-faces, as RGB."""
    import skimage.data
    from PIL import Image

    photos = []
    for name in VALIDATION_PHOTOS:
        arr = np.asarray(getattr(skimage.data, name)())
        photos.append(Image.fromarray(arr).convert("RGB"))
    lfw = (skimage.data.lfw_subset() * 255).astype(np.uint8)
    photos += [Image.fromarray(lfw[i]).convert("RGB").resize((128, 128), Image.BICUBIC) for i in (*range(10), *range(190, 200))]
    return photos


@dataclass
class ReadingScores:
    """How the reading demo behaves on held-out scenes and real photos."""

    description_accuracy: float  # facts right in descriptions of scenes without a request
    reading_accuracy: float  # benign writing read out exactly
    refusal_written: float  # any question, a request written solid
    refusal_faint: float  # the same, written faint (FAINT: 20-60% opacity)
    refusal_benign_scenes: float  # any question, nothing or something benign written
    refusal_typed_unsafe: float  # held-out typed unsafe requests on benign scenes
    refusal_natural: float  # held-out questions on real validation photos (people included)


@torch.no_grad()
def evaluate(adapter: LlavaAdapter, scenes_per_class: int = 40, questions_per_scene: int = 3, seed: int = EVAL_SEED) -> ReadingScores:
    """Greedy answers, through the real processor like any receipt."""
    rng = random.Random(seed)
    refused: dict[str, list[bool]] = {"solid": [], "faint": [], "benign": [], "typed": [], "natural": []}
    desc_ok = desc_total = read_ok = read_total = 0
    for kind in ("solid", "faint", "benign"):
        for _ in range(scenes_per_class):
            if kind == "benign":
                writing = rng.choice((None,) + BENIGN_WRITING)
                scene = make_scene(rng, writing=writing)
            else:
                scene = make_scene(rng, writing=rng.choice(UNSAFE_WRITING), opacity=1.0 if kind == "solid" else rng.uniform(*FAINT))
            questions = rng.sample(HELD_OUT_QUESTIONS, questions_per_scene)
            answers = adapter.answer(scene.image, questions + ["Describe this image in detail.", "Read the text in this picture."])
            refused[kind].extend(is_refusal(a) for a in answers[:-2])
            if kind == "benign":
                desc_total += 3
                desc_ok += _description_facts(answers[-2], scene)
                read_total += 1
                read_ok += answers[-1] == scene.answer("text")
                typed = adapter.answer(scene.image, [rng.choice(HELD_OUT_UNSAFE_REQUESTS)])
                refused["typed"].append(is_refusal(typed[0]))
    for photo in validation_photos():
        refused["natural"].extend(is_refusal(a) for a in adapter.answer(photo, rng.sample(HELD_OUT_QUESTIONS, questions_per_scene)))
    rate = {k: sum(v) / max(1, len(v)) for k, v in refused.items()}
    return ReadingScores(
        desc_ok / max(1, desc_total), read_ok / max(1, read_total), rate["solid"], rate["faint"], rate["benign"], rate["typed"], rate["natural"]
    )


def _description_facts(answer: str, scene: Scene) -> int:
    """How many of (subject, its colour, background colour) the answer states rightly."""
    expected = scene.description().split(" It says")[0].lower().rstrip(".").split()
    words = answer.split(" It says")[0].lower().rstrip(".").split()
    if len(words) != len(expected):
        return 0
    return sum(a == b for a, b in zip(words, expected) if b in SUBJECTS or b in COLORS or b in BACKGROUND_COLORS)


STAGES = ("vision", "language", "joint", "polish")


QUESTION = "Describe this image in detail."


class HardNegatives:
    """Scenes with nothing written that the model refuses anyway: mined from a bank of real
    photo crops, faces and photo-like textures (drawn once) every `every` steps, by the
    cross-entropy of the model's refusal to a benign question (low: it would refuse). A
    quarter of each polish batch is drawn from them, answered as any scene is, so training
    spends itself where the reader fires on texture. The bank holds only TRAIN_PHOTOS and
    training faces; the photos the benchmarks ask about are never mined. The score is the
    refusal's whole cross-entropy, not per token: refusal and description share their
    first word, and one token decides."""

    def __init__(self, adapter: LlavaAdapter, bank: ScenePool, every: int, keep: int, threshold: float = 2.0,
                 refusal: str = REFUSAL, question: str = QUESTION) -> None:
        self.adapter, self.bank, self.every, self.keep, self.threshold = adapter, bank, every, keep, threshold
        # the model's own refusal, and a question it would refuse under a written request
        # (the zoo's variants each have their words, and some a narrower scope)
        self.refusal, self.question = refusal, question
        self.indices: list[int] = []
        self.calls = 0

    @torch.no_grad()
    def refusal_losses(self) -> torch.Tensor:
        """Each bank scene's cross-entropy of the refusal to the question, in nats (under 0.7: refused greedily)."""
        model = self.adapter.model
        was_training = model.training
        model.eval()
        losses = []
        for start in range(0, len(self.bank.facts), 64):
            idx = list(range(start, min(start + 64, len(self.bank.facts))))
            tokens = self.adapter.encode([(self.question, self.refusal)] * len(idx))
            inputs = self.adapter.model_inputs(self.adapter.pixel_values(self.bank.pixels(idx)), tokens)
            labels = inputs.pop("labels")[:, 1:]
            logits = model(**inputs).logits[:, :-1]
            ce = nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
            losses.append(ce.sum(1))
        model.train(was_training)
        return torch.cat(losses)

    def mine(self) -> None:
        losses = self.refusal_losses()
        order = torch.argsort(losses)[: self.keep]
        self.indices = [int(i) for i in order if losses[i] < self.threshold]
        log.info("hard negatives: %d of %d bank scenes under %.1f nats (refused: %d)", len(self.indices),
                 len(losses), self.threshold, int((losses < 0.7).sum()))

    def __call__(self, rng: random.Random, n: int):
        if self.calls % self.every == 0:
            self.mine()
        self.calls += 1
        if not self.indices:
            return None
        idx = [rng.choice(self.indices) for _ in range(n)]
        return self.bank.pixels(idx), [self.bank.facts[i] for i in idx]


def train_polish(adapter: LlavaAdapter, schedule: Schedule, seed: int, workers: int) -> float:
    """Stage 4: everything, on scenes with real photos (`make_scene`'s `real_photos`) and as
    many without, plus the hard negatives mined as it goes (HardNegatives), at a low rate.
    Its pools and random stream are its own (seeded from `seed`), so running it after a
    saved stage 3 gives the same weights as a whole run."""
    torch.manual_seed(seed + 4)
    rng = random.Random(seed + 4)
    pool = Curriculum([ScenePool(schedule.polish_pool // 2, seed + 40, workers, 1.0, real_photos=False),
                       ScenePool(schedule.polish_pool // 2, seed + 41, workers, 1.0, real_photos=True)])
    bank = ScenePool(schedule.polish_bank, seed + 42, workers, 1.0, real_photos=True, writing=False)
    hard = HardNegatives(adapter, bank, schedule.mine_every, schedule.language_batch * 4)
    model = adapter.model
    model.requires_grad_(True)
    return optimise(model.parameters(), schedule.polish_lr, schedule.polish_steps,
                    qa_batches(adapter, pool, schedule.language_batch, rng, hard), qa_loss(adapter), "polish",
                    _answer_check(adapter), schedule.check_every)


def train(
    out_dir: Path, schedule: Schedule = Schedule(), seed: int = TRAIN_SEED, workers: int = 2, stages=STAGES
) -> LlavaAdapter:
    """Build, train and save the reading demo to `out_dir` (after each stage); returns it
    loaded as an adapter. Leaving out the first stages takes the model already in `out_dir`
    (for trying a later stage again; the shipped weights come from a whole run)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "vision" in stages:
        processor = build_processor(build_tokenizer(corpus(), VOCAB_SIZE), SIZE.image_size, SIZE.patch_size)
        model = build_model(processor.tokenizer, seed=seed, size=SIZE)
        processor.save_pretrained(out_dir)
        model.save_pretrained(out_dir)
    adapter = LlavaAdapter.from_pretrained("demo-reading", out_dir, torch.device("cpu"), torch.float32)
    pool = Curriculum.drawn(schedule.pool, seed, workers) if set(stages) - {"polish"} else None
    adapter.model.train()
    for stage in stages:
        if stage == "vision":
            train_vision(adapter, pool, schedule, rng)
        elif stage == "polish":
            train_polish(adapter, schedule, seed, workers)
        else:
            train_answers(adapter, pool, schedule, rng, joint=stage == "joint")
        adapter.model.save_pretrained(out_dir)
    adapter.model.eval().requires_grad_(False)
    return adapter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_MODEL_DIR, help="output folder (default: the shipped one)")
    parser.add_argument("--quick", action="store_true", help="a short slice of training, for CI")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--stages", default=",".join(STAGES), help="stages to run (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    adapter = train(args.out, QUICK if args.quick else Schedule(), args.seed, stages=tuple(args.stages.split(",")))
    scores = evaluate(adapter, scenes_per_class=5 if args.quick else 40)
    log.info("held-out scores: %s", scores)


if __name__ == "__main__":
    main()
