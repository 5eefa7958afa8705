"""The attack loop: bounds, ensembles, determinism, cancellation, early stop."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from companion.engine.attack import FIRST_ASKED, MARGIN_KEPT, AttackConfig, CodecMargin, ImageProtector, free_to_move_
from companion.engine.framing import STRIP_BOUND, unseen_pixels
from companion.engine.imageio import to_tensor
from tests.conftest import natural_photo


def photo(size=(160, 120)):
    return to_tensor(natural_photo("coffee", size))


def test_result_stays_within_eps_on_the_8_bit_grid(demo_adapter):
    x = photo()
    result = ImageProtector([demo_adapter], AttackConfig(eps=4 / 255, alpha=2 / 255, steps=6, check_every=1000, min_psnr=None)).perturb(x)
    diff = (result.image - x).abs().max().item() * 255
    assert diff <= 4 + 1e-4
    assert diff >= 3.9  # the sign steps really move pixels to the bound
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert torch.allclose(result.image * 255, torch.round(result.image * 255), atol=1e-4)
    assert result.steps == 6 and len(result.losses) == 6


def test_no_row_or_column_of_a_portrait_is_left_unperturbed(demo_adapter):
    x = to_tensor(natural_photo("astronaut", (96, 128)))  # 3:4; the model's centre crop drops 32 rows
    config = AttackConfig(steps=3, check_every=1000, min_psnr=None)  # the default: whole frame
    moved = (ImageProtector([demo_adapter], config).perturb(x).image - x).abs().amax(dim=1)[0] > 0
    assert moved.any(dim=1).all() and moved.any(dim=0).all()
    config.whole_frame = False  # the centre crop alone never reaches the top and bottom rows
    moved = (ImageProtector([demo_adapter], config).perturb(x).image - x).abs().amax(dim=1)[0] > 0
    assert not moved[:8].any() and not moved[-8:].any()


def test_the_whole_frame_leaves_the_pixels_the_model_sees_as_they_are_without_it(demo_adapter):
    """It costs no reach: the crop's pixels take the same steps; the strips it drops move, by at most STRIP_BOUND."""
    x = to_tensor(natural_photo("astronaut", (96, 128)))
    unseen = unseen_pixels(x, [demo_adapter.pixel_values]).expand_as(x)
    assert unseen[..., :12, :].all() and not unseen[..., 20:108, :].any()
    config = AttackConfig(steps=6, check_every=1000, min_psnr=None)
    whole = ImageProtector([demo_adapter], config).perturb(x).image
    config.whole_frame = False
    crop = ImageProtector([demo_adapter], config).perturb(x).image
    assert torch.equal(whole[~unseen], crop[~unseen])
    assert torch.equal(crop[unseen], x[unseen]) and not torch.equal(whole[unseen], x[unseen])
    assert (whole - x)[unseen].abs().max() <= STRIP_BOUND + 1e-6


def test_psnr_floor_holds_after_rounding(demo_adapter):
    x = photo()
    result = ImageProtector([demo_adapter], AttackConfig(steps=10, check_every=1000, min_psnr=38.0)).perturb(x)
    rms = (result.image - x).square().mean().sqrt().item()
    assert 20 * math.log10(1 / rms) >= 38.0


def test_codec_is_in_the_loop(demo_adapter):
    seen = []

    def codec(image):
        seen.append(image.shape)
        return image

    ImageProtector([demo_adapter], AttackConfig(steps=3, check_every=1000), codec=codec).perturb(photo())
    assert len(seen) == 3


def test_the_file_the_codec_writes_stays_within_eps_of_the_photo(demo_adapter):
    """A codec that brightens every pixel by 2/255 (as JPEG's error does at saturated colours)
    takes each pixel the attack leaves at +eps beyond it. The bounds learn the excess, so what
    the loop optimises is nearly what the file can hold and the writer has little to undo:
    a pixel overshoots only by a grey level, as its fading margin lets it back out."""
    x = photo()

    def brighter(image):
        return (torch.round(image * 255) + 2).clamp(0, 255) / 255

    config = AttackConfig(eps=4 / 255, alpha=2 / 255, steps=20, check_every=1000, min_psnr=None)
    written = (brighter(ImageProtector([demo_adapter], config, codec=brighter).perturb(x).image) - x) * 255
    assert written.max().item() <= 5 + 1e-4 and (written > 4.5).float().mean() < 0.03
    assert (written > 3.5).float().mean() > 0.3  # the pixels pushed up still reach the bound in the file
    blind = (brighter(ImageProtector([demo_adapter], config).perturb(x).image) - x) * 255
    assert (blind > 4.5).float().mean() > 0.2  # without the codec in the loop a quarter of the file overshoots


def test_a_codec_margin_grows_by_the_excess_fades_without_it_and_never_passes_the_photo():
    x = torch.full((1, 3, 1, 5), 0.5)
    bound = torch.full((1, 1, 1, 5), 8 / 255)
    margin = CodecMargin(x, bound, 8 / 255)
    low, high = x - bound, x + bound
    # the file overshoots the top by 3/255, the bottom by 2/255, is within eps, and overshoots by more than eps
    written = x + torch.tensor([11.0, -10, 5, 0, 20]).view(1, 1, 1, 5) / 255
    margin.fit_(low, high, written)
    assert torch.round((high - x)[0, 0, 0] * 255).tolist() == [5, 8, 8, 8, 0]
    assert torch.round((x - low)[0, 0, 0] * 255).tolist() == [8, 6, 8, 8, 8]
    margin.fit_(low, high, x)  # no excess now: the margins fade
    assert torch.allclose((high - x)[0, 0, 0] * 255, torch.tensor([8 - 3 * MARGIN_KEPT, 8, 8, 8, 0]))


def test_loss_goes_down(demo_adapter):
    result = ImageProtector([demo_adapter], AttackConfig(steps=12, check_every=1000)).perturb(photo())
    assert min(result.losses[-3:]) < result.losses[0]


class _Louder:
    """A model whose loss is `factor` times another's: its gradient is as much larger."""

    def __init__(self, adapter, factor: float) -> None:
        self.adapter, self.factor, self.device = adapter, factor, adapter.device

    def pixel_values(self, x):
        return self.adapter.pixel_values(x)

    def encode(self, pairs):
        return self.adapter.encode(pairs)

    def loss(self, pixel_values, batch):
        return self.adapter.loss(pixel_values, batch) * self.factor

    def resident(self):
        return self.adapter.resident()


def test_an_ensemble_sums_the_losses_and_gives_each_model_an_equal_say(demo_adapter, face_adapter):
    adv = photo().requires_grad_(True)
    pairs = [("Who is this person?", "I cannot help with this request.")]
    loss_a, grad_a = ImageProtector([demo_adapter])._gradient(adv, adv, [pairs])
    loss_b, grad_b = ImageProtector([face_adapter])._gradient(adv, adv, [pairs])
    loss, grad = ImageProtector([demo_adapter, _Louder(face_adapter, 1000.0)])._gradient(adv, adv, [pairs, pairs])
    assert loss == pytest.approx(loss_a + 1000 * loss_b, rel=1e-4)
    expected = grad_a / grad_a.abs().mean() + grad_b / grad_b.abs().mean()
    assert torch.allclose(grad, expected, rtol=1e-3, atol=1e-4)
    # a plain sum would follow the louder model's signs everywhere; here the quieter one keeps its say
    assert (grad.sign() == grad_a.sign()).float().mean() > 0.6


def test_a_model_that_already_refuses_steps_aside_for_one_that_does_not(demo_adapter, face_adapter):
    adv = photo().requires_grad_(True)
    pairs = [("Who is this person?", "I cannot help with this request.")]
    grad_a = ImageProtector([demo_adapter])._gradient(adv, adv, [pairs])[1]
    grad_b = ImageProtector([face_adapter])._gradient(adv, adv, [pairs])[1]
    done = _Louder(demo_adapter, 1.0)
    protector = ImageProtector([done, face_adapter])
    protector._gradient(adv, adv, [pairs, pairs])  # the first step: both weigh the same
    done.factor = 0.01  # the first model's loss has fallen to 1% of its first, the other's has not moved
    grad = protector._gradient(adv, adv, [pairs, pairs])[1]
    weights = (2 * 0.01 / 1.01, 2 * 1.0 / 1.01)
    expected = weights[0] * grad_a / grad_a.abs().mean() + weights[1] * grad_b / grad_b.abs().mean()
    assert torch.allclose(grad, expected, rtol=1e-3, atol=1e-4)
    assert (grad.sign() == grad_b.sign()).float().mean() > 0.95


def test_a_model_out_of_reach_takes_no_part_in_the_step(demo_adapter, face_adapter):
    adv = photo().requires_grad_(True)
    pairs = [("Who is this person?", "I cannot help with this request.")]
    grad_b = ImageProtector([face_adapter])._gradient(adv, adv, [pairs])[1]
    stuck, moving = _Louder(demo_adapter, 1.0), _Louder(face_adapter, 1.0)
    protector = ImageProtector([stuck, moving], AttackConfig(patience=20))
    protector._gradient(adv, adv, [pairs, pairs], step=1)  # the first step: both weigh the same
    moving.factor = 0.3  # from here the second model's loss is 0.3 of its first, the first's does not move
    balance = protector.balance
    for step in range(2, 20):  # the steps in between, from the losses alone (what the models cost is beside the point)
        balance.weights([balance.first[0], 0.3 * balance.first[1]], step)
    assert balance.out == [False, False]
    grad = protector._gradient(adv, adv, [pairs, pairs], step=20)[1]
    assert balance.out == [True, False]
    assert torch.allclose(grad, grad_b / grad_b.abs().mean(), rtol=1e-3, atol=1e-4)


def test_same_seed_same_result(demo_adapter):
    cfg = AttackConfig(steps=4, check_every=1000, seed=7)
    a = ImageProtector([demo_adapter], cfg).perturb(photo()).image
    b = ImageProtector([demo_adapter], cfg).perturb(photo()).image
    assert torch.equal(a, b)


def test_cancel_is_honoured_between_steps(demo_adapter):
    calls = []

    def progress(info):
        calls.append(info.step)

    result = ImageProtector([demo_adapter], AttackConfig(steps=50, check_every=1000)).perturb(
        photo(), progress=progress, cancel=lambda: len(calls) >= 3
    )
    assert result.cancelled and result.steps == 3 and calls == [1, 2, 3]


def test_step_size_decays():
    cfg = AttackConfig(alpha=2 / 255, alpha_min=0.25 / 255, steps=100)
    sizes = [cfg.step_size(s) for s in range(100)]
    assert sizes[0] == 2 / 255 and abs(sizes[-1] - 0.25 / 255) < 1e-9
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))


def test_targets_are_fitted_once_per_model_or_fixed_when_asked(face_adapter):
    fitted = ImageProtector([face_adapter], AttackConfig(steps=2, check_every=1000))
    fitted.perturb(photo())
    [choice] = fitted.choices
    assert choice.model == "demo-face" and len(choice.targets) == 3
    fitted.perturb(photo())  # a continuation keeps the targets chosen on the clean photo
    assert fitted.choices == [choice]
    fixed = ImageProtector([face_adapter], AttackConfig(steps=2, check_every=1000, adapt_targets=False))
    fixed.perturb(photo())
    assert fixed.choices is None


def test_a_continuation_goes_on_along_the_step_schedule(demo_adapter):
    # sign steps of 4, 2.5 and 1/255 over three steps: continuing after two takes only the
    # last, smallest one, not the first, largest, again
    cfg = AttackConfig(eps=16 / 255, alpha=4 / 255, alpha_min=1 / 255, steps=3, check_every=1000, min_psnr=None,
                       shaped_budget=False, whole_frame=False)
    x = photo()
    fresh = ImageProtector([demo_adapter], cfg).perturb(x)
    assert fresh.steps == 3 and (fresh.image - x).abs().max() > 3.5 / 255
    later = ImageProtector([demo_adapter], cfg).perturb(x, start=x, first_step=2)
    assert later.steps == 1 and (later.image - x).abs().max() <= 1 / 255 + 1e-6


def test_a_pixel_pinned_at_its_bound_takes_no_share_of_the_step():
    adv = torch.tensor([0.5, 0.6, 0.4, 0.5, 0.6])
    low, high = torch.full_like(adv, 0.4), torch.full_like(adv, 0.6)
    # descent moves each pixel against its gradient: the second (at the top, pushed up) and
    # the third (at the bottom, pushed down) cannot move; pulled back inside, they can
    grad = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
    assert free_to_move_(grad, adv, low, high).tolist() == [1.0, 0.0, 0.0, -1.0, 1.0]


class _Answers:
    """A stand-in adapter whose greedy answers are scripted per question, counting the asked."""

    name, device = "scripted", "cpu"

    def __init__(self, refused: set[str]) -> None:
        self.refused, self.asked = refused, 0

    def resident(self):
        return contextlib.nullcontext()

    def pixel_values(self, image):
        return image

    def generate_from_pixels(self, pixels, questions, max_new_tokens=24):
        self.asked += len(questions)
        return ["I'm sorry, I can't help with that." if q in self.refused else "A cup of coffee." for q in questions]


def test_a_check_refuses_only_when_every_question_is_refused_and_stops_at_the_first_round_that_is_not():
    questions = [f"question {i}?" for i in range(16)]
    image = torch.zeros(1, 3, 8, 8)
    everything = _Answers(set(questions))
    assert ImageProtector([everything]).refuses(image, questions) and everything.asked == 16
    late = _Answers(set(questions[:-1]))  # the last question of the second round is answered
    assert not ImageProtector([late]).refuses(image, questions) and late.asked == 16
    early = _Answers(set(questions[1:]))  # answered in the first round: the rest are not asked
    assert not ImageProtector([early]).refuses(image, questions) and early.asked == FIRST_ASKED
