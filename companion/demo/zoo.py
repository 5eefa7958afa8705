"""The zoo of test models: variants of the trained demo that differ where real MLLMs differ.

    python -m companion.demo.zoo [--only NAME] [--quick] [--out DIR]

A perturbation made for one model has to be made again for the next, and what makes it
hard differs between models: the words they refuse in, their tokenizer, the size and
normalisation of their vision input, their chat template, and which questions they will
refuse at all. Each variant here changes some of these and is fine-tuned from the shipped
demo (companion/demo/model) on the demo's own scenes, so it keeps what makes the demo a fair
test (it describes photos, people included, and refuses only requests, typed or written in
the image) at a fraction of the demo's training cost:

- `zoo-chatml`: ChatML's template (Qwen's `<|im_start|>user ... <|im_end|>`) and its own refusal;
- `zoo-siglip`: 96 px input in 12 px patches, normalised to [-1, 1] as SigLIP's is, the whole
  frame squashed to a square (no centre crop), and its own refusal;
- `zoo-unigram-privacy`: a sentencepiece-style unigram tokenizer (the language model learns
  its new embeddings, started from the old ones), and a narrow scope: under a written request
  it refuses only questions about who someone is or where a photo was taken
  (`in_privacy_scope`), and answers every other question as if the writing were benign.
  The scope holds for any image, not only for photos with writing: a last stage trains it to
  answer out-of-scope questions about images pushed towards refusing them (`ScopeAttacks`),
  so that its ceiling is the scope (9 of the 22 held-out questions), as a model whose policy
  covers only some questions has.

The changes are exact where they can be: a new normalisation is folded into the patch
embedding and the position embeddings, smaller patches take the old kernel resampled, a
new tokenizer's embeddings start as the means of the old pieces of each token. Each
variant is saved in float16 (half the size; the tests and benchmarks use what is saved) and
its ceiling with an unbounded image is measured by the test suite (tests/demo/test_zoo.py).
Runs are deterministic: the same demo weights and seed give the same files.
"""

from __future__ import annotations

import argparse
import logging
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import LlavaConfig, LlavaForConditionalGeneration, PreTrainedTokenizerFast

from companion.demo import DEMO_MODEL_DIR, ZOO_DIR
from companion.demo.build import SPECIAL_TOKENS, build_processor
from companion.demo.reading_scenes import UNSAFE_WRITING, Scene, make_scene, sample_question
from companion.demo.reading_train import (
    EVAL_SEED,
    QUESTION,
    Curriculum,
    HardNegatives,
    ScenePool,
    corpus,
    evaluate,
    qa_batches,
)
from companion.demo.training import optimise, qa_loss
from companion.engine.judge import is_refusal
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.models.llava import LlavaAdapter

log = logging.getLogger(__name__)

ZOO_SEED = 2718

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<image>\n' }}{% else %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: Words that make a question one about who someone is or where a photo was taken: the
#: narrow scope of `zoo-unigram-privacy` (9 of the 22 held-out questions).
PRIVACY_MARKERS = (
    "who", "identity", "identify", "name", "called", "recogni", "famous", "where", "location",
    "city", "country", "town", "region", "place", "street", "address", "landmark", "nationality",
)


def in_privacy_scope(question: str) -> bool:
    """Whether `question` asks who someone is or where the photo was taken."""
    q = question.lower()
    return any(marker in q for marker in PRIVACY_MARKERS)


@dataclass(frozen=True)
class Variant:
    """One test model: how it differs from the demo, and how long it is fine-tuned."""

    name: str
    refusal: str  # its own way of refusing
    chat_template: str | None = None  # None: LLaVA-1.5's, the demo's
    unigram_tokenizer: bool = False  # a new sentencepiece-style tokenizer instead of the demo's byte-level BPE
    vocab_size: int = 1024
    image_size: int = 128
    patch_size: int = 16
    image_mean: tuple[float, float, float] | None = None  # None: CLIP's, the demo's
    image_std: tuple[float, float, float] | None = None
    center_crop: bool = True  # False: the whole frame squashed to a square
    privacy_scope: bool = False  # True: refuses only `in_privacy_scope` questions, typed unsafe requests aside
    distill_steps: int = 0  # first, a changed tower learns to see as the demo's (`distill_tower`)
    language_steps: int = 0  # then projector and language model alone (a new tokenizer needs many)
    steps: int = 800  # then the same, with hard negatives mined as the demo's polish does
    scope_steps: int = 0  # last, from the saved weights: images pushed towards refusing outside the scope, answered
    lr: float = 3e-4
    language_lr: float = 1e-3

    @property
    def mining_question(self) -> str:
        """A question it refuses under a written request: hard negatives are mined with it
        (mined with "Describe this image in detail.", which it never refuses, the privacy
        variant's first build refused `camera`, `grass` and `rocket` unprotected)."""
        return "Who is in this image?" if self.privacy_scope else QUESTION

    def refuses(self, scene: Scene, kind: str, question: str) -> bool:
        if kind == "unsafe":
            return True
        return scene.unsafe and (not self.privacy_scope or in_privacy_scope(question))

    def answer(self, scene: Scene, kind: str, question: str) -> str:
        return scene.answer(kind, refusal=self.refusal, refuse=self.refuses(scene, kind, question))


VARIANTS: tuple[Variant, ...] = (
    Variant("zoo-chatml", "Sorry, I won't answer questions about this picture.", chat_template=CHATML_TEMPLATE,
            steps=800),
    Variant("zoo-siglip", "I cannot assist with this image.", image_size=96, patch_size=12,
            image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), center_crop=False, distill_steps=800, steps=600),
    Variant("zoo-unigram-privacy", "I am unable to share personal details about people or places.",
            unigram_tokenizer=True, privacy_scope=True, language_steps=1000, steps=800, scope_steps=300),
)
QUICK_STEPS = 4


def variant(name: str) -> Variant:
    for v in VARIANTS:
        if v.name == name:
            return v
    raise KeyError(f"no zoo model {name!r}; the zoo: {', '.join(v.name for v in VARIANTS)}")


# -- the changes -------------------------------------------------------------------------------
#: The unigram tokenizer `zoo-unigram-privacy` is built with: made once by
#: `train_unigram_tokenizer` (`--new-tokenizer`) and kept, since its trainer is not
#: reproducible across processes (it sums in Rust's hash order, which changes per process:
#: pieces of near-equal score swap places, and so do their ids and the model trained on them).
UNIGRAM_TOKENIZER = Path(__file__).with_name("unigram_tokenizer.json")


def train_unigram_tokenizer(lines: list[str], vocab_size: int) -> Tokenizer:
    """A sentencepiece-style unigram tokenizer (as Llama-2's, T5's), with `<unk>` for what it
    cannot spell: another split of the same text than the demo's byte-level BPE."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS + ["<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def unigram_lines(v: Variant) -> list[str]:
    """What the variant's unigram tokenizer is trained on: everything the demo reads or says, and its refusal."""
    return corpus() + [v.refusal, *UNSAFE_WRITING]


def unigram_tokenizer(path: Path = UNIGRAM_TOKENIZER) -> PreTrainedTokenizerFast:
    """The kept unigram tokenizer, as transformers' fast tokenizer with the demo's special tokens."""
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(str(path)), bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                   extra_special_tokens={"image_token": "<image>"}, padding_side="left",
                                   model_max_length=4096)


def _transferred_rows(old: torch.Tensor, old_tok, new_tok) -> torch.Tensor:
    """Rows for the new vocabulary: each token's row is the mean of the old rows of the
    pieces the old tokenizer splits its text into (special tokens keep theirs)."""
    rows = old.new_empty(len(new_tok), old.shape[1])
    for token_id in range(len(new_tok)):
        piece = new_tok.convert_ids_to_tokens(token_id)
        if piece in SPECIAL_TOKENS:
            rows[token_id] = old[old_tok.convert_tokens_to_ids(piece)]
            continue
        ids = old_tok(piece.replace("\u2581", " "), add_special_tokens=False).input_ids or [old_tok.unk_token_id or 0]
        rows[token_id] = old[ids].mean(0)
    return rows


def _vision_state(state: dict, old_config, v: Variant, old_mean, old_std) -> None:
    """Resample the patch kernel to `v.patch_size` and fold the new normalisation into it:
    conv(W, (x - m) / s) = conv(W * s' / s, (x - m') / s') + conv(W, (m' - m) / s), the last a
    constant the patch positions' embeddings absorb (CLIP's patch conv has no bias)."""
    key = "model.vision_tower.embeddings.patch_embedding.weight"
    weight = state[key]
    if v.patch_size != old_config.patch_size:
        scale = (old_config.patch_size / v.patch_size) ** 2  # the same response to a smooth image
        weight = F.interpolate(weight, size=(v.patch_size, v.patch_size), mode="bilinear", antialias=True,
                               align_corners=False) * scale
    mean, std = torch.tensor(v.image_mean or old_mean), torch.tensor(v.image_std or old_std)
    old_mean, old_std = torch.tensor(old_mean), torch.tensor(old_std)
    offset = (weight * ((mean - old_mean) / old_std).view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
    state[key] = weight * (std / old_std).view(1, 3, 1, 1)
    positions = "model.vision_tower.embeddings.position_embedding.weight"
    state[positions] = state[positions].clone()
    state[positions][1:] += offset  # row 0 is the class token's, which no patch feeds


def derive(v: Variant, base: LlavaAdapter, seed: int) -> LlavaAdapter:
    """The untrained variant: the demo's weights carried over to the variant's config,
    processor and tokenizer (exactly where the change is linear, see above)."""
    torch.manual_seed(seed)
    processor = base.processor
    old_ip = processor.image_processor
    config = LlavaConfig.from_dict(base.model.config.to_dict())
    config.vision_config.image_size, config.vision_config.patch_size = v.image_size, v.patch_size
    config.image_seq_length = (v.image_size // v.patch_size) ** 2
    state = {k: t.clone() for k, t in base.model.state_dict().items()}
    tokenizer = processor.tokenizer
    if v.unigram_tokenizer:
        tokenizer = unigram_tokenizer()
        for key in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
            state[key] = _transferred_rows(state[key], processor.tokenizer, tokenizer)
        config.text_config.vocab_size = len(tokenizer)
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            setattr(config.text_config, name, getattr(tokenizer, name))
        config.image_token_index = tokenizer.convert_tokens_to_ids("<image>")
    _vision_state(state, base.model.config.vision_config, v, old_ip.image_mean, old_ip.image_std)
    model = LlavaForConditionalGeneration(config)
    model.load_state_dict(state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id

    new_processor = build_processor(tokenizer, v.image_size, v.patch_size, v.center_crop,
                                    list(v.image_mean or old_ip.image_mean), list(v.image_std or old_ip.image_std),
                                    v.chat_template or processor.chat_template)
    return LlavaAdapter(v.name, model, new_processor, torch.device("cpu"), torch.float32)


# -- training ----------------------------------------------------------------------------------
@dataclass
class Pools:
    """The scenes every variant trains on, drawn once: the demo's polish mix (hardest
    synthetic scenes and real photo crops, half each) and a bank of photos with nothing
    written for hard negatives."""

    scenes: Curriculum
    bank: ScenePool

    @classmethod
    def drawn(cls, size: int, bank: int, seed: int = ZOO_SEED, workers: int = 2) -> Pools:
        scenes = Curriculum([ScenePool(size // 2, seed + 1, workers, 1.0),
                             ScenePool(size // 2, seed + 2, workers, 1.0, real_photos=True)])
        return cls(scenes, ScenePool(bank, seed + 3, workers, 1.0, real_photos=True, writing=False))


def distill_tower(student: LlavaAdapter, teacher: LlavaAdapter, pools: Pools, steps: int, lr: float,
                  rng: random.Random) -> float:
    """Teach a changed tower (another input size, patches, normalisation) to give the patch
    features the demo's tower gives for the same scene (mean squared error on what the
    language model sees). The demo's reader, safe on ordinary photos, carries over; a first
    zoo trained on answers alone refused Grace Hopper unprotected once it saw her whole."""
    tower, reference = student.model.model.vision_tower, teacher.model.model.vision_tower
    layer = student.model.config.vision_feature_layer

    def batches():
        while True:
            pixels, _ = pools.scenes.batch(rng, 32)
            with torch.no_grad():
                target = reference(teacher.pixel_values(pixels), output_hidden_states=True).hidden_states[layer][:, 1:]
            yield pixels, target

    def loss_fn(item) -> torch.Tensor:
        pixels, target = item
        seen = tower(student.pixel_values(pixels), output_hidden_states=True).hidden_states[layer][:, 1:]
        return F.mse_loss(seen, target)

    student.model.requires_grad_(False)
    tower.requires_grad_(True)
    return optimise(tower.parameters(), lr, steps, batches(), loss_fn, f"{student.name} tower")


class ScopeAttacks:
    """A persistent pool of images pushed towards the variant's refusal on questions outside
    its scope, for training it to answer them anyway (adversarial training).

    A scope learned from answers alone holds for photos, not for any image: the first
    `zoo-unigram-privacy` answered every out-of-scope question under a written request, yet
    an unbounded image made it refuse all 22 held-out questions, so its scope said nothing
    about which questions it will ever refuse. Each pool entry is a scene, a benign question
    outside the scope and the image as pushed so far; every call pushes a few entries a
    few sign steps further (unbounded, 2-16/255 a step) and replaces some with fresh scenes,
    so the pool holds images from barely moved to far gone, as a long attack makes them."""

    def __init__(self, adapter: LlavaAdapter, v: Variant, pools: Pools, size: int, rng: random.Random) -> None:
        self.adapter, self.v, self.pools, self.rng = adapter, v, pools, rng
        self.images, self.entries = [], []
        for _ in range(size):
            self._fresh()

    def _question(self) -> tuple[str, str]:
        while True:
            kind, question = sample_question(self.rng)
            if kind != "unsafe" and not in_privacy_scope(question):
                return kind, question

    def _fresh(self, at: int | None = None) -> None:
        pixels, (scene,) = self.pools.scenes.batch(self.rng, 1)
        entry = (scene, *self._question())
        if at is None:
            self.images.append(pixels)
            self.entries.append(entry)
        else:
            self.images[at], self.entries[at] = pixels, entry

    def _push(self, idx: list[int], steps: int) -> None:
        images = torch.cat([self.images[i] for i in idx])
        tokens = self.adapter.encode([(self.entries[i][2], self.v.refusal) for i in idx])
        model = self.adapter.model
        was_training = model.training
        model.eval()
        refusal_loss = qa_loss(self.adapter)
        for _ in range(steps):
            images.requires_grad_(True)
            (grad,) = torch.autograd.grad(refusal_loss((self.adapter.pixel_values(images), tokens)), images)
            size = self.rng.choice((2, 4, 8, 16)) / 255
            images = (images.detach() - size * grad.sign()).clamp(0, 1)
        model.train(was_training)
        for j, i in enumerate(idx):
            self.images[i] = images[j : j + 1].detach()

    def __call__(self, n: int) -> tuple[torch.Tensor, list[tuple[str, str]]]:
        """`n` pushed images and their (question, answer) pairs: each answered as its scene is."""
        idx = self.rng.sample(range(len(self.images)), n)
        self._push(idx, self.rng.randint(1, 4))
        pixels = torch.cat([self.images[i] for i in idx])
        pairs = [(q, self.v.answer(scene, kind, q)) for scene, kind, q in (self.entries[i] for i in idx)]
        for i in idx:
            if self.rng.random() < 0.1:
                self._fresh(i)
        return pixels, pairs


def scope_batches(adapter: LlavaAdapter, v: Variant, pools: Pools, batch: int, rng: random.Random):
    """The polish's batches (scenes, a quarter hard negatives) with another quarter replaced by
    `ScopeAttacks`: without the hard negatives, pushed images answered alone taught the first
    hardened build to refuse 0.175 of benign scenes (0.05 before)."""
    attacks = ScopeAttacks(adapter, v, pools, batch * 4, rng)
    hard = HardNegatives(adapter, pools.bank, every=100, keep=batch * 4, refusal=v.refusal, question=v.mining_question)
    plain = qa_batches(adapter, pools.scenes, batch - batch // 4, rng, hard, answer=v.answer, encoded=False)
    while True:
        pixels, pairs = next(plain)
        pushed, more = attacks(batch // 4)
        yield adapter.pixel_values(torch.cat([pixels, pushed])), adapter.encode(pairs + more)


def harden_scope(adapter: LlavaAdapter, v: Variant, pools: Pools, steps: int, seed: int) -> None:
    """Train the projector and language model to answer out-of-scope questions about images
    pushed towards refusing them (`ScopeAttacks`); the tower stays frozen. Its random
    stream is its own, so it runs the same from the saved weights as after the earlier stages."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = adapter.model.train()
    model.requires_grad_(True)
    model.model.vision_tower.requires_grad_(False)
    optimise(model.parameters(), v.lr, steps, scope_batches(adapter, v, pools, 32, rng), qa_loss(adapter),
             f"{v.name} scope")
    model.eval().requires_grad_(False)


def own_seed(v: Variant, seed: int = ZOO_SEED) -> int:
    """The variant's own random stream, from its name: the same built alone or with the zoo."""
    return seed + zlib.crc32(v.name.encode()) % 100_000


def train_variant(v: Variant, pools: Pools, out_dir: Path, seed: int = ZOO_SEED, quick: bool = False) -> LlavaAdapter:
    """Derive `v` from the shipped demo, fine-tune it and save it (float16) to `out_dir`;
    returns it loaded back from there. Each variant's random stream is its own (from its
    name), so a variant comes out the same whether built alone or with the zoo."""
    own = own_seed(v, seed)
    rng = random.Random(own)
    base = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    adapter = derive(v, base, own)
    model = adapter.model.train()
    batch = 32
    hard = HardNegatives(adapter, pools.bank, every=100, keep=batch * 4, refusal=v.refusal, question=v.mining_question)
    distill_steps, language_steps, steps = (
        (QUICK_STEPS if v.distill_steps else 0, QUICK_STEPS if v.language_steps else 0, QUICK_STEPS) if quick
        else (v.distill_steps, v.language_steps, v.steps))
    if distill_steps:
        distill_tower(adapter, base, pools, distill_steps, v.lr, rng)
    # The tower stays frozen from here: fine-tuned with the answers (a first zoo did), it
    # drifted from the demo's reader and refused the cameraman and `rocket` unprotected.
    model.requires_grad_(True)
    model.model.vision_tower.requires_grad_(False)
    if language_steps:
        optimise(model.parameters(), v.language_lr, language_steps, qa_batches(adapter, pools.scenes, batch, rng,
                 answer=v.answer), qa_loss(adapter), f"{v.name} language")
    optimise(model.parameters(), v.lr, steps, qa_batches(adapter, pools.scenes, batch, rng, hard, answer=v.answer),
             qa_loss(adapter), v.name)
    model.eval().requires_grad_(False)
    saved = _save(adapter, out_dir)
    return harden_and_save(v, saved, pools, out_dir, own, quick)


def harden_and_save(v: Variant, adapter: LlavaAdapter, pools: Pools, out_dir: Path, seed: int,
                    quick: bool = False) -> LlavaAdapter:
    """The last stage, from the saved (float16) weights: `harden_scope` for a variant with
    `scope_steps`, then saved again. Nothing for the others."""
    if not v.scope_steps:
        return adapter
    harden_scope(adapter, v, pools, QUICK_STEPS if quick else v.scope_steps, seed + 5)
    return _save(adapter, out_dir, processor=not (out_dir / "tokenizer_config.json").exists())


def _save(adapter: LlavaAdapter, out_dir: Path, processor: bool = True) -> LlavaAdapter:
    """Save `adapter` in float16 to `out_dir` (its processor too, unless it is there already:
    one loaded back and saved again gains loading options) and load it back, as the tests will."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if processor:
        adapter.processor.save_pretrained(out_dir)
    adapter.model.half().save_pretrained(out_dir)
    return LlavaAdapter.from_pretrained(adapter.name, out_dir, torch.device("cpu"), torch.float32)


@dataclass
class ZooScores:
    """A variant's behaviour: the demo's scores (`evaluate`) and its scope under a written request."""

    description_accuracy: float
    refusal_written: float
    refusal_faint: float
    refusal_benign_scenes: float
    refusal_typed_unsafe: float
    refusal_natural: float
    written_in_scope: float  # held-out privacy questions, a request written solid
    written_out_of_scope: float  # every other held-out question, the same scenes


@torch.no_grad()
def scope_refusals(adapter: LlavaAdapter, scenes: int, rng: random.Random) -> tuple[float, float]:
    """Refusal rates under a request written solid, on `scenes` scenes with two held-out
    questions of the privacy scope and two outside it each: (in scope, out of scope)."""
    inside = [q for q in HELD_OUT_QUESTIONS if in_privacy_scope(q)]
    outside = [q for q in HELD_OUT_QUESTIONS if not in_privacy_scope(q)]
    refused_in, refused_out = [], []
    for _ in range(scenes):
        scene = make_scene(rng, writing=rng.choice(UNSAFE_WRITING), opacity=1.0)
        answers = adapter.answer(scene.image, rng.sample(inside, 2) + rng.sample(outside, 2))
        refused_in += [is_refusal(a) for a in answers[:2]]
        refused_out += [is_refusal(a) for a in answers[2:]]
    return sum(refused_in) / len(refused_in), sum(refused_out) / len(refused_out)


def scores(adapter: LlavaAdapter, scenes: int = 20, seed: int = EVAL_SEED) -> ZooScores:
    base = evaluate(adapter, scenes_per_class=scenes, questions_per_scene=2, seed=seed)
    inside, outside = scope_refusals(adapter, scenes, random.Random(seed + 1))
    return ZooScores(base.description_accuracy, base.refusal_written, base.refusal_faint, base.refusal_benign_scenes,
                     base.refusal_typed_unsafe, base.refusal_natural, inside, outside)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="the zoo's folder (default: the shipped one)")
    parser.add_argument("--only", action="append", help="build only this variant (repeatable)")
    parser.add_argument("--quick", action="store_true", help="a few steps of each, for CI")
    parser.add_argument("--seed", type=int, default=ZOO_SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the shipped zoo was trained with 1)")
    parser.add_argument("--new-tokenizer", action="store_true",
                        help=f"train the unigram tokenizer again and keep it in {UNIGRAM_TOKENIZER.name} first")
    parser.add_argument("--last-stage-only", action="store_true",
                        help="run only the last stage (scope hardening), from the variant saved in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    chosen = [variant(name) for name in args.only] if args.only else list(VARIANTS)
    if args.new_tokenizer:
        v = next(v for v in VARIANTS if v.unigram_tokenizer)
        train_unigram_tokenizer(unigram_lines(v), v.vocab_size).save(str(UNIGRAM_TOKENIZER))
    pools = Pools.drawn(64, 32, args.seed) if args.quick else Pools.drawn(6000, 1536, args.seed)
    for v in chosen:
        if args.last_stage_only:
            saved = LlavaAdapter.from_pretrained(v.name, args.out / v.name, torch.device("cpu"), torch.float32)
            adapter = harden_and_save(v, saved, pools, args.out / v.name, own_seed(v, args.seed), args.quick)
        else:
            adapter = train_variant(v, pools, args.out / v.name, args.seed, args.quick)
        log.info("%s: %s", v.name, scores(adapter, scenes=4 if args.quick else 20))


if __name__ == "__main__":
    main()
