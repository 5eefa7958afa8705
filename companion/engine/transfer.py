"""Transfer: how a perturbation made against some models holds on others (`evaluate --transfer`).

A user is protected against the models the perturbation was made for, and partly against
the rest; which is which is a figure, not a promise. For N models this protects every photo
N + 1 times (against each model alone, then against all of them at once) and asks every
model about each protected photo, as written and after each given distortion (a site's
pipeline, typically). The report is a matrix per distortion: a row per protecting set, a
column per model asked, each cell the mean refusal rate over the photos; plus the clean row.
The diagonal is protection as made; the rest is transfer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

from companion.engine import imageio
from companion.engine.distortions import Distortion
from companion.engine.errors import ProtectError
from companion.engine.evaluate import EvalItem
from companion.engine.judge import refusal_rate
from companion.engine.protect import Engine, ProtectOptions
from companion.models.base import Adapter

log = logging.getLogger(__name__)

CLEAN = "clean"


def protecting_sets(adapters: Sequence[Adapter]) -> list[list[Adapter]]:
    """Each model alone, then (for two or more) all of them as one ensemble."""
    sets = [[a] for a in adapters]
    return sets + [list(adapters)] if len(adapters) > 1 else sets


def set_label(models: Sequence[Adapter], total: int) -> str:
    return "all " + str(total) if len(models) == total > 1 else " + ".join(a.name for a in models)


@dataclass
class TransferReport:
    models: list[str]  # the models asked, in order (the columns)
    distortions: list[str]
    settings: dict
    photos: list[str] = field(default_factory=list)  # the photos evaluated
    failed: dict[str, str] = field(default_factory=dict)  # photo -> why it could not be evaluated
    # rows[label][distortion][model] = refusal rate on each photo, in order
    rows: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)

    def add(self, label: str, distortion: str, model: str, rate: float) -> None:
        self.rows.setdefault(label, {}).setdefault(distortion, {}).setdefault(model, []).append(rate)

    def mean(self, label: str, distortion: str, model: str) -> float:
        rates = self.rows[label][distortion][model]
        return sum(rates) / len(rates)

    def to_dict(self) -> dict:
        """The means (`refusal`) and, in the order of `photos`, each photo's rate (`per_photo`):
        a mean short of 1 says how much is left unprotected, the per-photo rates say where."""
        return {"models": self.models, "distortions": self.distortions, "settings": self.settings,
                "photos": self.photos, "failed": self.failed,
                "refusal": {label: {d: {m: round(self.mean(label, d, m), 4) for m in self.models} for d in by_d}
                            for label, by_d in self.rows.items()},
                "per_photo": {label: {d: {m: [round(r, 4) for r in by_m[m]] for m in self.models}
                                      for d, by_m in by_d.items()}
                              for label, by_d in self.rows.items()}}


def transfer(adapters: Sequence[Adapter], items: Sequence[EvalItem], options: ProtectOptions,
             distortions: dict[str, Distortion],
             per_photo: Callable[[EvalItem, str], AbstractContextManager] | None = None) -> TransferReport:
    """Protect each item against every protecting set and ask every model (see the module).

    `per_photo(item, label)`, when given, is entered around each protection and yields the
    (step progress, phase) callbacks for Engine.protect."""
    settings = {"site": options.site, "epsilon": options.epsilon, "robust": options.robust, "steps": options.steps,
                "seed": options.seed}
    report = TransferReport([a.name for a in adapters], list(distortions), settings)
    sets = protecting_sets(adapters)
    for item in items:
        try:
            rows = _one_photo(adapters, sets, item, options, distortions, per_photo)
        except ProtectError as exc:
            log.warning("%s: %s", item.name, exc.message)
            report.failed[item.name] = f"{exc.message} [{exc.code}]"
            continue
        report.photos.append(item.name)
        for label, distortion, model, rate in rows:
            report.add(label, distortion, model, rate)
    if not report.photos:
        raise ProtectError("nothing_evaluated", "no photo could be evaluated")
    return report


def _one_photo(adapters, sets, item: EvalItem, options: ProtectOptions, distortions: dict[str, Distortion],
               per_photo) -> list[tuple[str, str, str, float]]:
    """(row label, distortion, model asked, refusal rate) for one photo."""
    if not item.questions:
        raise ProtectError("no_questions", "no questions to ask about this photo")
    rows = []
    clean = None
    for models in sets:
        label = set_label(models, len(adapters))
        with per_photo(item, label) if per_photo is not None else nullcontext((None, None)) as (on_step, phase):
            result = Engine(models).protect(item.data, replace(options, verify=False), progress=on_step, phase=phase)
            if phase is not None:
                phase("asking")
            protected = imageio.decode_rgb(result.data)
            if clean is None:  # at the protected output's size, so both meet the same pipeline
                clean = imageio.resize_to(imageio.read_photo(item.data, options.max_pixels).rgb, result.size)
                rows += _asked(adapters, CLEAN, clean, item.questions, distortions)
            rows += _asked(adapters, label, protected, item.questions, distortions)
    return rows


def _asked(adapters, label: str, image, questions: list[str], distortions: dict[str, Distortion]):
    out = []
    for name, distort in distortions.items():
        seen = distort(image)
        for a in adapters:
            with a.resident():
                out.append((label, name, a.name, refusal_rate(a.answer(seen, questions))))
    return out


def table(report: TransferReport) -> str:
    """One matrix per distortion: rows protected with, columns the model asked."""
    width = max(len(m) for m in report.models + [CLEAN, "protected with"])
    lines = [f"transfer: mean refusal on {len(report.photos)} photo(s), eps {report.settings['epsilon']}/255, "
             f"site {report.settings['site']}; the diagonal is protection as made, the rest is transfer"]
    for distortion in report.distortions:
        cell = {m: max(len(m), 4) for m in report.models}
        lines += ["", f"after: {distortion}",
                  f"{'protected with':>{width}} | " + " | ".join(f"{m:>{cell[m]}}" for m in report.models)]
        lines.append("-" * len(lines[-1]))
        for label in report.rows:
            cells = [f"{report.mean(label, distortion, m):>{cell[m]}.2f}" for m in report.models]
            lines.append(f"{label:>{width}} | " + " | ".join(cells))
    for name, why in report.failed.items():
        lines.append(f"not evaluated: {name}: {why}")
    return "\n".join(lines)
