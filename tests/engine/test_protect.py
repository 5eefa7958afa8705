"""End to end on natural photos: protected files refuse, clean ones do not, within bounds.

A smaller version of the acceptance run in benchmarks/protect_photos.py (which uses 20+
photos up to 12 MP). Clean photos are checked through the same receipt path.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from companion.engine.protect import Engine, ProtectOptions
from companion.engine.questions import HELD_OUT_QUESTIONS
from companion.engine.receipt import verify
from tests.conftest import encode, natural_photo

PHOTOS = [
    ("astronaut", None, "PNG"),
    ("chelsea", None, "JPEG"),
    ("stereo_motorcycle", (1200, 810), "PNG"),
    ("coffee", (640, 480), "JPEG"),
    ("hubble_deep_field", None, "PNG"),
]


@pytest.fixture(scope="module")
def results(engine):
    out = []
    for name, size, fmt in PHOTOS:
        data = encode(natural_photo(name, size), fmt, **({"quality": 92} if fmt == "JPEG" else {}))
        out.append((name, data, engine.protect(data, ProtectOptions(seed=1))))
    return out


def test_protected_photos_are_refused_on_held_out_questions(results):
    rates = [r.receipt.refusal_rate for _, _, r in results]
    assert sum(rates) / len(rates) >= 0.95, rates


def test_clean_photos_are_answered(engine, results):
    rates = [verify(data, engine.adapters, HELD_OUT_QUESTIONS)[0].refusal_rate for _, data, _ in results]
    assert sum(rates) / len(rates) <= 0.05, rates


def test_bounds_and_quality(results):
    for name, data, r in results:
        original = Image.open(io.BytesIO(data)).convert("RGB")
        protected = Image.open(io.BytesIO(r.data)).convert("RGB")
        assert protected.size == original.size
        assert r.receipt.linf <= 8, (name, r.receipt.linf)
        assert r.receipt.psnr >= 35, (name, r.receipt.psnr)


def test_format_is_kept_and_attack_stopped_early(results):
    for name, data, r in results:
        assert Image.open(io.BytesIO(r.data)).format == Image.open(io.BytesIO(data)).format
        assert r.succeeded and r.steps < ProtectOptions().steps, (name, r.steps)


def test_receipt_replays_the_site_pipeline(results):
    for name, _, r in results:
        assert r.receipt.site == "generic"
        assert 0.9 <= r.receipt.site_refusal_rate <= 1 and r.receipt.protected, name
        assert len(r.receipt.site_models[0].answers) == len(HELD_OUT_QUESTIONS)


def test_robust_protection_survives_a_jpeg_75_upload_where_plain_does_not(face_adapter):
    """coins: a small photo the face demo sees in detail, whose plain protection a site's JPEG
    undoes. (The default demo's refusal, once reached, survives the JPEG either way.)"""
    from companion.engine.sites import get_site

    engine = Engine([face_adapter])
    data = encode(natural_photo("coins"))
    facebook = get_site("facebook")

    def after_upload(result):
        return verify(result.data, engine.adapters, HELD_OUT_QUESTIONS, lambda im: facebook.apply(im, 75))[0]

    plain = engine.protect(data, ProtectOptions(site="facebook", robust=False, verify=False))
    robust = engine.protect(data, ProtectOptions(site="facebook", verify=False))
    assert after_upload(plain).refusal_rate <= 0.5
    assert after_upload(robust).refusal_rate >= 0.9
    assert Image.open(io.BytesIO(robust.data)).format == "JPEG"


def test_check_reads_untrusted_photos_safely(engine):
    from companion.engine.errors import ProtectError
    from companion.engine.protect import check

    with pytest.raises(ProtectError) as info:
        check(b"\x89PNG\r\n\x1a\n" + b"\0" * 30, engine.adapters)
    assert info.value.code in ("not_an_image", "corrupt")
    receipts = check(encode(natural_photo("coffee", (150, 100))), engine.adapters)
    assert receipts[0].model == "demo" and receipts[0].refusal_rate <= 0.1
