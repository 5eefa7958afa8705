"""The evaluation engine: every distortion applied to clean and protected photos alike."""

from __future__ import annotations

import json
import math

from companion.engine.distortions import distortions
from companion.engine.evaluate import EvalItem, evaluate
from companion.engine.protect import ProtectOptions
from tests.conftest import encode, natural_photo

QUESTIONS = ["Who is this?", "Where is this place?"]


def test_report_covers_every_distortion_and_goes_on_after_a_bad_photo(engine):
    items = [
        EvalItem("astronaut", encode(natural_photo("astronaut", (200, 200))), QUESTIONS),
        EvalItem("broken", b"GIF89a", QUESTIONS),
        EvalItem("no questions", encode(natural_photo("coffee", (60, 40))), []),
    ]
    seen = []
    report = evaluate(engine, items, ProtectOptions(site="instagram"), distortions("instagram"),
                      lambda done, total, name: seen.append((done, total)))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert [p.name for p in report.evaluated] == ["astronaut"]
    assert [p.error is not None for p in report.photos] == [False, True, True]
    photo = report.evaluated[0]
    assert set(photo.clean) == set(photo.protected) == set(distortions("instagram"))
    assert photo.protected["none"]["demo"] == 1.0 and photo.clean["none"]["demo"] == 0.0
    assert photo.psnr >= 35 and 0.5 < photo.ssim < 1 and photo.linf <= 8
    rows = report.summary()
    assert len(rows) == len(distortions("instagram"))
    data = json.loads(json.dumps(report.to_dict()))  # serialisable
    assert data["summary"][0]["clean_utility"] == 1.0


def test_summary_of_nothing_is_nan_not_an_error(engine):
    report = evaluate(engine, [EvalItem("x", b"", QUESTIONS)], ProtectOptions(), distortions())
    assert all(math.isnan(r.protected_refusal) for r in report.summary())
