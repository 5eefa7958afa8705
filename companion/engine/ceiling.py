"""A model's ceiling: how often it refuses when the image may be anything at all.

Whatever a bounded perturbation achieves, it cannot make a model refuse more often than
the model refuses for the most persuasive image there is. A tiny model whose refusal
depends on the typed words alone cannot be moved by any image, and a 0.7 reached at
8/255 means something different against a ceiling of 0.75 than against one of 1.0. So
the ceiling is measured, not assumed: the same attack with no bound (eps = 1: every
pixel may take any value), no PSNR floor and no codec, then the held-out questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from companion.engine import imageio
from companion.engine.attack import AttackConfig, ImageProtector
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.engine.receipt import ModelReceipt, ask
from companion.engine.robust import EOTConfig, SiteViews
from companion.engine.sites import SiteProfile
from companion.models.base import Adapter


@dataclass
class Ceiling:
    refusal_rate: float  # the lowest over the models, on the held-out questions
    models: list[ModelReceipt]
    steps: int


def measure_ceiling(
    adapters: Sequence[Adapter],
    photo: Image.Image,
    steps: int = 200,
    questions: Sequence[str] = HELD_OUT_QUESTIONS,
    seed: int = 0,
    site: SiteProfile | None = None,
    quality: int = 75,
) -> Ceiling:
    """The refusal rate on `questions` after an unbounded attack starting from `photo`
    (large steps: 8/255 falling to 1/255; it stops early once the check questions refuse).
    An attack finds a lower bound of the true ceiling: more steps or restarts can only raise it.
    With `site`, the ceiling after that site's pipeline: the unbounded attack is made robust
    for the site (its views, as protection's) and the questions are asked after the site's
    resize and JPEG at `quality`. What a site's re-encoding destroys, no image can keep."""
    # settle: once the check questions refuse, go on for half as many steps again (as robust
    # protection does), so that held-out questions the check never asked refuse too
    config = AttackConfig(eps=1.0, alpha=8 / 255, alpha_min=1 / 255, steps=steps, min_psnr=None, seed=seed,
                          settle=0.5)
    views = None if site is None else SiteViews(EOTConfig(site=site))
    result = ImageProtector(adapters, config, views=views).perturb(imageio.to_tensor(photo, adapters[0].device))
    image = imageio.to_image(result.image)
    models = ask(image if site is None else site.apply(image, quality), adapters, questions)
    return Ceiling(min(m.refusal_rate for m in models), models, result.steps)
