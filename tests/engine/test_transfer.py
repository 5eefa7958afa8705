"""Transfer: which sets protect, how rows are named, and the table a user reads."""

from __future__ import annotations

from types import SimpleNamespace

from companion.engine.transfer import CLEAN, TransferReport, protecting_sets, set_label, table


def _models(*names):
    return [SimpleNamespace(name=n) for n in names]


def test_each_model_alone_then_all_together():
    a, b, c = _models("a", "b", "c")
    sets = protecting_sets([a, b, c])
    assert [[m.name for m in s] for s in sets] == [["a"], ["b"], ["c"], ["a", "b", "c"]]
    assert [set_label(s, 3) for s in sets] == ["a", "b", "c", "all 3"]
    assert protecting_sets([a]) == [[a]]  # one model: no ensemble row


def test_the_table_has_a_matrix_per_distortion_with_means_over_photos():
    report = TransferReport(["a", "bb"], ["none", "site:x"], {"epsilon": 8, "site": "x"}, photos=["p1", "p2"])
    for label, rates in ((CLEAN, (0.0, 0.1)), ("a", (1.0, 0.5)), ("bb", (0.25, 1.0))):
        for distortion in report.distortions:
            for model, rate in zip(report.models, rates):
                report.add(label, distortion, model, rate)
                report.add(label, distortion, model, rate / 2)
    assert report.mean("a", "none", "bb") == 0.375
    text = table(report)
    assert "after: none" in text and "after: site:x" in text and "2 photo(s), eps 8/255, site x" in text
    rows = [line for line in text.splitlines() if line.strip().startswith(("clean", "a |", "bb |"))]
    assert len(rows) == 6
    assert [c.strip() for c in rows[1].split("|")[1:]] == ["0.75", "0.38"]  # a's row: 0.75 on a, 0.375 on bb
    assert report.to_dict()["refusal"]["bb"]["site:x"] == {"a": 0.1875, "bb": 0.75}


def test_the_json_keeps_each_photos_rate_in_the_order_of_the_photos():
    """A mean of 0.5 can be one photo left unprotected or every photo half refused: the
    per-photo rates tell a user which photo to protect again."""
    report = TransferReport(["a", "b"], ["none"], {"epsilon": 8, "site": "x"}, photos=["p1", "p2"])
    for label, per_photo in (("a", ((1.0, 0.0), (1.0, 1.0))), ("all 2", ((1.0, 1.0), (0.0, 1.0)))):
        for rates in per_photo:
            for model, rate in zip(report.models, rates):
                report.add(label, "none", model, rate)
    out = report.to_dict()
    assert out["refusal"]["all 2"]["none"] == {"a": 0.5, "b": 1.0}
    assert out["per_photo"]["all 2"]["none"] == {"a": [1.0, 0.0], "b": [1.0, 1.0]}
    assert out["per_photo"]["a"]["none"]["b"] == [0.0, 1.0]
    assert len(out["per_photo"]["a"]["none"]["a"]) == len(out["photos"])
