"""How well protection holds up, in the paper's terms and beyond: the engine of `imageprotector evaluate`.

For every photo: protect it with the given options, then put the clean photo (at the
protected output's size, so both see the same pipeline) and the protected one through each
distortion (distortions.py) and ask every model the photo's questions. The report gives,
per distortion and model, the refusal rate on clean and on protected photos and the clean
answers' rate of non-refusal (what an analyst still gets from unprotected photos), plus
PSNR, SSIM and seconds per photo.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace

from PIL import Image

from companion.engine import imageio, quality
from companion.engine.distortions import Distortion
from companion.engine.errors import ProtectError
from companion.engine.judge import refusal_rate
from companion.engine.protect import Engine, ProtectOptions

log = logging.getLogger(__name__)


@dataclass
class EvalItem:
    """One photo to evaluate and the questions to ask about it."""

    name: str
    data: bytes
    questions: list[str]


@dataclass
class PhotoResult:
    name: str
    error: str | None = None  # why this photo could not be evaluated
    width: int = 0
    height: int = 0
    seconds: float = 0.0  # protection, end to end
    steps: int = 0
    psnr: float = math.nan
    ssim: float = math.nan
    linf: int = 0
    clean: dict[str, dict[str, float]] = field(default_factory=dict)  # distortion -> model -> refusal rate
    protected: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class SummaryRow:
    distortion: str
    model: str
    clean_refusal: float
    protected_refusal: float

    @property
    def clean_utility(self) -> float:
        """The share of clean answers that are not refusals: what the analyst keeps."""
        return 1.0 - self.clean_refusal


@dataclass
class Report:
    distortions: list[str]
    models: list[str]
    settings: dict
    photos: list[PhotoResult]

    @property
    def evaluated(self) -> list[PhotoResult]:
        return [p for p in self.photos if p.error is None]

    def summary(self) -> list[SummaryRow]:
        """Mean refusal rates over the evaluated photos, per distortion and model."""
        done = self.evaluated
        rows = []
        for name in self.distortions:
            for model in self.models:
                clean = [p.clean[name][model] for p in done]
                protected = [p.protected[name][model] for p in done]
                rows.append(SummaryRow(name, model, _mean(clean), _mean(protected)))
        return rows

    def to_dict(self) -> dict:
        done = self.evaluated
        return {
            "settings": self.settings,
            "models": self.models,
            "distortions": self.distortions,
            "summary": [{**asdict(r), "clean_utility": r.clean_utility} for r in self.summary()],
            "psnr": _mean([p.psnr for p in done]),
            "ssim": _mean([p.ssim for p in done]),
            "seconds_per_photo": _mean([p.seconds for p in done]),
            "photos": [asdict(p) for p in self.photos],
        }


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def evaluate(
    engine: Engine,
    items: Sequence[EvalItem],
    options: ProtectOptions,
    distortions: dict[str, Distortion],
    progress: Callable[[int, int, str], None] | None = None,
    per_photo: Callable[[EvalItem], AbstractContextManager] | None = None,
) -> Report:
    """Protect and evaluate every item; a photo that cannot be read is reported, not fatal.

    `per_photo(item)`, when given, is entered around each photo and yields the
    (step progress, phase) callbacks for Engine.protect; the questions asked afterwards are
    the phase "asking"."""
    models = [a.name for a in engine.adapters]
    settings = {"site": options.site, "epsilon": options.epsilon, "robust": options.robust, "steps": options.steps,
                "seed": options.seed}
    report = Report(list(distortions), models, settings, [])
    for index, item in enumerate(items):
        if progress is not None:
            progress(index, len(items), item.name)
        try:
            with per_photo(item) if per_photo is not None else nullcontext((None, None)) as (on_step, phase):
                report.photos.append(_evaluate_one(engine, item, options, distortions, on_step, phase))
        except ProtectError as exc:
            log.warning("%s: %s", item.name, exc.message)
            report.photos.append(PhotoResult(item.name, error=f"{exc.message} [{exc.code}]"))
    if progress is not None:
        progress(len(items), len(items), "")
    return report


def _evaluate_one(engine: Engine, item: EvalItem, options: ProtectOptions, distortions: dict[str, Distortion],
                  on_step=None, phase=None) -> PhotoResult:
    if not item.questions:
        raise ProtectError("no_questions", "no questions to ask about this photo")
    result = engine.protect(item.data, replace(options, verify=False), progress=on_step, phase=phase)
    if phase is not None:
        phase("asking")
    clean = imageio.resize_to(imageio.read_photo(item.data, options.max_pixels).rgb, result.size)
    protected = imageio.decode_rgb(result.data)
    out = PhotoResult(
        item.name, width=result.size[0], height=result.size[1], seconds=result.seconds, steps=result.steps,
        psnr=quality.psnr(clean, protected), ssim=quality.ssim(clean, protected), linf=quality.linf(clean, protected),
    )
    for name, distort in distortions.items():
        out.clean[name] = _refusal(engine, distort(clean), item.questions)
        out.protected[name] = _refusal(engine, distort(protected), item.questions)
    return out


def _refusal(engine: Engine, image: Image.Image, questions: list[str]) -> dict[str, float]:
    rates = {}
    for a in engine.adapters:
        with a.resident():
            rates[a.name] = refusal_rate(a.answer(image, questions))
    return rates
