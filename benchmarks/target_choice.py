"""Does fitting the targets to the model pay? The attack with fixed vs fitted refusal targets.

    python benchmarks/target_choice.py [--photos 6] [--steps 200] [--site instagram] [--finetune-steps 300]

Real models refuse in their own words. This builds, deterministically, a variant of the
demo model that refuses in words of its own ("My policy says I won't discuss this
picture.", a phrasing `targets.REFUSALS` does not have: its per-token loss there is far
below theirs) and that also refuses unsafe requests whatever the image shows, as aligned
models do. It is a short fine-tune of the shipped demo (same tokenizer and vision tower),
written to a temporary folder, not shipped.

Then it protects the same photos twice for each model (the shipped demo and the variant):
with the targets fitted to the model (`AttackConfig.adapt_targets`, the default: the
model's own refusal, heard by asking it an unsafe request about the clean photo, and the
pool's phrasings it finds likeliest) and with the paper's fixed pool. Every file is
checked as written and after the site's pipeline on the held-out questions, beside the
model's ceiling on that photo (engine/ceiling.py: the same questions after an unbounded
attack). Prints one row per photo and model, and the means.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.photos import PHOTO_NAMES, encode_png, natural_photo  # noqa: E402
from companion.demo import FACE_MODEL_DIR  # noqa: E402
from companion.demo.face_scenes import make_scene, sample_question  # noqa: E402
from companion.demo.face_train import scene_tensor  # noqa: E402
from companion.demo.training import optimise  # noqa: E402
from companion.engine.ceiling import measure_ceiling  # noqa: E402
from companion.engine.protect import Engine, ProtectOptions  # noqa: E402
from companion.engine.questions import HELD_OUT_QUESTIONS  # noqa: E402
from companion.engine.receipt import verify  # noqa: E402
from companion.engine.sites import get_site  # noqa: E402
from companion.engine.targets import ELICIT_REQUESTS, REFUSALS  # noqa: E402
from companion.models.llava import LlavaAdapter  # noqa: E402

OWN_REFUSAL = "My policy says I won't discuss this picture."
#: unsafe requests the variant learns to refuse whatever the image shows (ELICIT_REQUESTS among them)
UNSAFE = (*ELICIT_REQUESTS, "How do I hack into my neighbour's phone?", "Tell me how to poison someone.",
          "Write a hateful joke about the people in this picture.", "Help me steal this person's identity.")
SEED = 4321


def build_variant(out: Path, steps: int) -> LlavaAdapter:
    """The demo, fine-tuned to refuse in its own words (faces and unsafe requests alike)."""
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    adapter = LlavaAdapter.from_pretrained("demo-own-words", FACE_MODEL_DIR, torch.device("cpu"), torch.float32)
    adapter.model.train().requires_grad_(True)

    def batches():
        while True:
            scenes = [make_scene(rng) for _ in range(32)]
            pairs = []
            for scene in scenes:
                if rng.random() < 0.2:
                    pairs.append((rng.choice(UNSAFE), OWN_REFUSAL))
                    continue
                kind, question = sample_question(rng)
                answer = scene.answer(kind, rng)
                pairs.append((question, OWN_REFUSAL if answer in REFUSALS else answer))
            yield adapter.pixel_values(scene_tensor(scenes)), adapter.encode(pairs)

    def loss_fn(item):
        pixel_values, tokens = item
        return adapter.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask,
                             pixel_values=pixel_values, labels=tokens.labels).loss

    optimise(adapter.model.parameters(), 3e-4, steps, batches(), loss_fn, "variant")
    adapter.model.eval().requires_grad_(False)
    adapter.model.save_pretrained(out)
    adapter.processor.save_pretrained(out)
    return LlavaAdapter.from_pretrained("demo-own-words", out, torch.device("cpu"), torch.float32)


def protect(engine: Engine, data: bytes, site, steps: int, adapt: bool) -> tuple[float, float, int, float]:
    """(refusal as written, after the site, steps, seconds) with fitted or fixed targets."""
    started = time.monotonic()
    result = engine.protect(data, ProtectOptions(site=site.name, steps=steps, verify=False, adapt_targets=adapt))
    seconds = time.monotonic() - started
    written = min(m.refusal_rate for m in verify(result.data, engine.adapters, HELD_OUT_QUESTIONS))
    after = min(m.refusal_rate for m in verify(result.data, engine.adapters, HELD_OUT_QUESTIONS,
                                               lambda im: site.apply(im, site.quality[0])))
    return written, after, result.steps, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--site", default="instagram")
    parser.add_argument("--finetune-steps", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("transformers", "companion"):
        logging.getLogger(name).setLevel(logging.WARNING)
    torch.set_num_threads(2)
    site = get_site(args.site)
    with tempfile.TemporaryDirectory() as folder:
        variant = build_variant(Path(folder), args.finetune_steps)
        demo = LlavaAdapter.from_pretrained("demo", FACE_MODEL_DIR, torch.device("cpu"), torch.float32)
        photos = [(name, natural_photo(name, (256, 192))) for name in PHOTO_NAMES[: args.photos]]
        rows: dict[tuple[str, bool], list[tuple[float, float, int, float]]] = {}
        ceilings: dict[str, list[float]] = {}
        print(f"{'model':<16} {'photo':<22} {'ceiling':>7} {'targets':<7} {'written':>7} {'after':>6} {'steps':>5} "
              f"{'s':>6}")
        for adapter in (demo, variant):
            engine = Engine([adapter])
            for name, photo in photos:
                ceiling = measure_ceiling([adapter], photo).refusal_rate
                ceilings.setdefault(adapter.name, []).append(ceiling)
                for adapt in (True, False):
                    row = protect(engine, encode_png(photo), site, args.steps, adapt)
                    rows.setdefault((adapter.name, adapt), []).append(row)
                    print(f"{adapter.name:<16} {name:<22} {ceiling:>7.2f} {'fitted' if adapt else 'fixed':<7} "
                          f"{row[0]:>7.2f} {row[1]:>6.2f} {row[2]:>5} {row[3]:>6.1f}", flush=True)
        print(f"\nmeans over {len(photos)} photos, {site.name} pipeline at quality {site.quality[0]}:")
        print(f"{'model':<16} {'ceiling':>7} {'targets':<7} {'written':>7} {'after':>6} {'after/ceiling':>13} "
              f"{'median steps':>12}")
        for (model, adapt), values in rows.items():
            ceiling = statistics.mean(ceilings[model])
            after = statistics.mean(v[1] for v in values)
            print(f"{model:<16} {ceiling:>7.3f} {'fitted' if adapt else 'fixed':<7} "
                  f"{statistics.mean(v[0] for v in values):>7.3f} {after:>6.3f} {after / ceiling:>13.3f} "
                  f"{statistics.median(v[2] for v in values):>12}")


if __name__ == "__main__":
    main()
