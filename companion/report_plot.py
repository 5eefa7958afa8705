"""A chart of an evaluation: refusal rate per distortion, clean vs protected.

One panel per model, two bars per distortion (clean in grey, protected in blue), the
refusal rate on the y axis from 0 to 1, with the protection setting in the title. Written
as a PNG with matplotlib's non-interactive backend, so it works without a display.
"""

from __future__ import annotations

from pathlib import Path

from companion.engine.evaluate import Report
from companion.engine.errors import MissingDependency


def plot_report(report: Report, path: Path) -> None:
    """Write `report`'s refusal rates as a bar chart to `path` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependency("matplotlib", "evaluate") from None
    rows = report.summary()
    models = report.models
    names = report.distortions
    fig, axes = plt.subplots(len(models), 1, figsize=(max(8, 0.8 * len(names) + 2), 3.6 * len(models)), squeeze=False)
    width = 0.38
    for ax, model in zip(axes[:, 0], models):
        mine = {r.distortion: r for r in rows if r.model == model}
        xs = range(len(names))
        clean = [mine[n].clean_refusal for n in names]
        protected = [mine[n].protected_refusal for n in names]
        for offset, values, label, colour in ((-width / 2, clean, "clean", "#9e9e9e"),
                                              (width / 2, protected, "protected", "#1f6fb4")):
            bars = ax.bar([x + offset for x in xs], values, width, label=label, color=colour)
            ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=2)
        ax.set_xticks(list(xs), names, rotation=30, ha="right")
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("refusal rate")
        ax.set_title(f"{model}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    s = report.settings
    fig.suptitle(
        f"Refusal rate per distortion, {len(report.evaluated)} photos "
        f"(site {s['site']}, eps {s['epsilon']}/255, robust {'on' if s['robust'] else 'off'})",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
