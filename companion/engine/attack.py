"""ImageProtector's attack: iterative gradient descent (BIM) towards a refusal.

Shao, Liu, Hu, Gong, "Leave My Images Alone: Preventing Multi-Modal Large Language
Models from Analyzing Images via Visual Prompt Injection" (ACL 2026). For a photo x it
finds delta with |delta|_inf <= eps and x + delta in [0, 1] minimising

    sum over models M and shadow questions q of CE(M(x + delta, q), R),

with R a refusal drawn from several phrasings. Each step takes a mini-batch of shadow
questions; the losses of all adapters are summed, and their gradients balanced (`_gradient`).
Besides the L-infinity bound we keep delta's energy under a PSNR floor (35 dB by default):
sign steps push every pixel to +-eps, which alone would cost about 30 dB and show as grain.
Under that floor the steps follow the gradient itself, scaled to a root-mean-square of 1
and clipped at STEP_CLIP (the steepest descent for an energy bound, where the sign is the
steepest for the L-infinity bound alone): a sign step spends as much energy on a pixel
that hardly matters as on one that decides, and once the floor binds, that energy is
taken from the pixels that decide. Measured on hubble_deep_field for instagram (three
demo families at once, 36 dB, 40 steps; benchmarks/robust_photos.py runs the full set):
the sign steps left the LLaVA and Qwen demos refusing 0.05 and 0.10 of held-out
questions, the scaled gradient 1.00 for all three; without the floor both reach 1.00 at
32.6 dB. With `min_psnr=None` the steps are sign steps, as in the paper.

delta lives at the photo's own resolution (the output's, which for a site profile is
already the size the site keeps): each adapter's differentiable preprocessing carries the
gradient from its model input back to every pixel. A lower-resolution delta, upsampled
before the model, was measured (benchmarks/robust_speed.py, table 2): it is not cheaper
(1.1-1.3 times the full-size step on 2 CPU cores, since the model's own resize runs at
full size either way and the upsampling adds to it), and it would make the L-infinity
bound after 8-bit rounding harder to hold, so delta stays at full size.

With `views` (robust.py), each step's gradient goes through a random view of the image
as a site would serve it (expectation over transformations), and success needs both the
file and the site's worst typical pipeline to refuse. With `whole_frame` (the default),
step 1 and every fourth step also take the gradient through the whole frame padded to a
square, for the pixels no model's own view reads, within 2/255 (framing.py): no part of
the frame is left out, and the pixels the models see take the steps they would take
without it. Each pixel's bound follows the photo's texture (budget.py: less on a flat
sky than in foliage, never above eps).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from companion.engine.balance import Balance
from companion.engine.budget import pixel_bounds
from companion.engine.framing import STRIP_BOUND, adds_whole_frame, padded, step_direction, unseen_pixels
from companion.engine.judge import is_refusal
from companion.engine.questions import SHADOW_QUESTIONS
from companion.engine.robust import SiteViews, straight_through
from companion.engine.targets import REFUSALS, TargetChoice, choose_targets
from companion.engine.transforms import quantize
from companion.models.base import Adapter

log = logging.getLogger(__name__)

#: Under a PSNR floor, a step moves no pixel by more than this many step sizes.
STEP_CLIP = 3.0
#: A check asks this many of its questions first and the rest only if all of these refuse.
FIRST_ASKED = 4


def free_to_move_(grad: torch.Tensor, adv: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """`grad` with zeros (in place) where a descent step would push `adv` past its bound.

    Such a pixel is clamped back at once, so under the PSNR floor its share of the step's
    energy would be lost; without it the step (scaled to a root-mean-square of 1) goes to
    the pixels still free to move. Measured on `coffee` for instagram with the tiny Phi-4
    (40 steps): the protected image, after the site's worst typical pipeline, was refused on
    0.23 of the held-out questions without it and on 1.00 with it."""
    return grad.masked_fill_(((adv >= high) & (grad < 0)) | ((adv <= low) & (grad > 0)), 0)


#: How much of a pixel's codec margin (`CodecMargin`) is kept each step it does not overshoot.
MARGIN_KEPT = 0.9


class CodecMargin:
    """Each pixel's margin for the codec's error, learnt as the attack goes.

    The saved file must stay within eps. A JPEG's own error (a few /255 at saturated
    colours even at quality 100) takes pixels the attack leaves at their bound beyond it;
    the writer then moves them back (`protect._encode_within`), and every pixel moved also
    shifts the rest of its 8x8 block, so the file becomes a different image from the one
    the attack optimised and checked. Here a pixel whose file overshoots has its bound
    lowered by as much (the margin grows by the excess), so the steps that follow work with
    what the file can hold; where it no longer overshoots the margin fades by MARGIN_KEPT a
    step, since the codec's error moves with the pixels around it and a margin kept for
    ever would take more of the budget than the codec does. On astronaut (512 px, four
    families, 40 steps) the writer had lowered 1284 of the 4096 blocks and the demo's loss
    on the file was 2.6 times the attack's; with the margin none was, and the file's losses
    were within 14% of the loop's (the demo's; 2-5% for the others). After
    200 steps and instagram the four refused 1.00 / 0.73 / 0.55 / 1.00 of the held-out
    questions (0.00 / 0.59 / 0.05 / 1.00 before); a margin that never faded took coffee's
    Phi-4 from 1.00 to 0.73, this one leaves it at 1.00, in 36 steps instead of 72."""

    def __init__(self, x: torch.Tensor, bound: torch.Tensor, eps: float) -> None:
        self.x, self.bound = x, bound
        self.limit = math.floor(eps * 255 + 1e-6) / 255
        self.up = torch.zeros_like(x)
        self.down = torch.zeros_like(x)

    @torch.no_grad()
    def fit_(self, low: torch.Tensor, high: torch.Tensor, written: torch.Tensor) -> None:
        """Update the margins from `written` (the codec's round trip of the attack's image)
        and set `low` and `high` (in place) to each pixel's bound less its margin, never past
        the photo itself."""
        x = self.x
        for margin, excess in ((self.up, written - (x + self.limit)), (self.down, (x - self.limit) - written)):
            torch.where(excess > 0, margin + excess, margin * MARGIN_KEPT, out=margin)
        torch.maximum((x + self.bound).clamp_(max=1).sub_(self.up), x, out=high)
        torch.minimum((x - self.bound).clamp_(min=0).add_(self.down), x, out=low)


def unit_rms_(grad: torch.Tensor) -> torch.Tensor:
    """`grad` scaled in place to a root-mean-square of 1 and clipped at STEP_CLIP: a step
    of the same energy as a sign step, put where the gradient is."""
    rms = grad.square().mean().sqrt().clamp_min(1e-30)
    return grad.div_(rms).clamp_(-STEP_CLIP, STEP_CLIP)


@dataclass
class AttackConfig:
    """Hyperparameters; eps and alpha are in [0, 1] units (8/255 is the paper's default)."""

    eps: float = 8 / 255
    alpha: float = 1 / 255  # first step size, decays on a cosine to alpha_min
    alpha_min: float = 0.1 / 255
    steps: int = 200  # the most steps; the attack stops as soon as it has succeeded
    min_psnr: float | None = 35.0  # also keep the perturbation's energy below this PSNR (dB)
    questions_per_step: int = 3
    check_every: int = 2  # how often to check for success once the loss is low
    check_loss: float = 1.0  # loss below which checking is worth its cost
    check_questions: int = 16  # shadow questions asked, greedily, in a check
    check_tokens: int = 12  # answer length in a check: a refusal shows in its first words
    settle: float = 0.0  # after the first passed check, go on for this share of the steps so far, then check again
    patience: int | None = 40  # steps before a model of an ensemble can be judged out of reach (balance.py)
    seed: int = 0
    questions: Sequence[str] = SHADOW_QUESTIONS
    targets: Sequence[str] = REFUSALS
    adapt_targets: bool = True  # fit the targets to each model (targets.choose_targets); False: `targets` for all
    targets_kept: int = 3  # how many of the likeliest refusals each model is taught
    whole_frame: bool = True  # the pixels no model sees move through the padded whole frame (framing.py)
    shaped_budget: bool = True  # less change in flat regions than in texture, within eps (budget.py)

    @property
    def max_rms(self) -> float | None:
        """Largest root-mean-square of delta that keeps PSNR at min_psnr (in [0, 1] units)."""
        return None if self.min_psnr is None else 10 ** (-self.min_psnr / 20)

    def step_size(self, step: int) -> float:
        progress = step / max(1, self.steps - 1)
        return self.alpha_min + 0.5 * (self.alpha - self.alpha_min) * (1 + math.cos(math.pi * progress))


@dataclass
class StepInfo:
    """What a progress callback learns after each step."""

    step: int
    max_steps: int
    loss: float
    seconds: float

    @property
    def eta(self) -> float:
        """Seconds left if every remaining step is needed (an upper bound: it may stop early)."""
        return self.seconds / self.step * (self.max_steps - self.step)


@dataclass
class AttackResult:
    image: torch.Tensor  # (1, 3, H, W), on the 8-bit grid, within eps of the input
    steps: int
    succeeded: bool  # the last check saw every check question refused
    cancelled: bool = False
    losses: list[float] = field(default_factory=list)


class Cancelled(Exception):
    """Raised inside the loop when the caller's cancel check says stop."""


class ImageProtector:
    """The attack over one or more adapters (an ensemble sums their losses)."""

    def __init__(
        self,
        adapters: Sequence[Adapter],
        config: AttackConfig | None = None,
        codec: Callable[[torch.Tensor], torch.Tensor] | None = None,
        views: SiteViews | None = None,
    ) -> None:
        """`codec`, when given, maps an image to what the output file will decode to (for
        example a JPEG round trip); the attack optimises and checks through it. `views`,
        when given, adds a site's pipeline (expectation over transformations)."""
        if not adapters:
            raise ValueError("ImageProtector needs at least one model adapter")
        self.adapters = list(adapters)
        self.config = config or AttackConfig()
        self.codec = codec
        self.views = views
        self.choices: list[TargetChoice] | None = None  # set on the first perturb when adapting
        self.balance: Balance | None = None  # each model's share of the step (ensembles), kept across a continuation

    def _targets(self, image: torch.Tensor, rng: random.Random) -> list[list[str]]:
        """Each adapter's targets: fitted to it on the clean image (once), or the configured pool."""
        cfg = self.config
        if not cfg.adapt_targets:
            return [list(cfg.targets)] * len(self.adapters)
        if self.choices is None:
            probe = rng.sample(list(cfg.questions), k=min(4, len(cfg.questions)))
            self.choices = [choose_targets(a, image, probe, cfg.targets, cfg.targets_kept) for a in self.adapters]
            for choice in self.choices:
                log.info("targets for %s: %s (own refusal heard: %s)", choice.model,
                         "; ".join(f"{t!r} {choice.losses[t]:.2f}" for t in choice.targets), choice.elicited or "none")
        return [c.targets for c in self.choices]

    def _through(self, image: torch.Tensor) -> torch.Tensor:
        """The image as the saved file will hold it: the codec's round trip in the forward
        pass, identity in the backward pass (a straight-through estimator)."""
        return image if self.codec is None else straight_through(image, self.codec)

    def _gradient(self, view: torch.Tensor, adv: torch.Tensor, pairs: Sequence[list[tuple[str, str]]],
                  keep_graph: bool = False, step: int = 0, track: bool = True) -> tuple[float, torch.Tensor]:
        """The summed loss of every model on its own (question, target) pairs about `view`
        (a function of `adv`), and the step's gradient with respect to `adv`.

        The models are taken in turn, each back-propagated before the next runs, so only
        one model's activations are held at a time. With several, each model's gradient is
        scaled to a mean magnitude of 1, so that no model decides the step by the scale of
        its gradient alone (a larger model's, or one with a finer input grid, can be orders
        of magnitude larger), and then weighted by how far it still is from refusing
        (balance.py, which `step` and `track` are for). One model's gradient is its own."""
        losses, grads = [], []
        for i, (adapter, own) in enumerate(zip(self.adapters, pairs)):
            with adapter.resident():  # forward and backward inside the model's turn (offload.py)
                loss = adapter.loss(adapter.pixel_values(view.to(adapter.device)), adapter.encode(own))
                (g,) = torch.autograd.grad(loss, adv, retain_graph=keep_graph or i < len(self.adapters) - 1)
                losses.append(loss.item())
                del loss  # this model's part of the graph (its activations) goes before the next model runs
            grads.append(g)
        if len(grads) == 1:
            return losses[0], grads[0]
        if self.balance is None:
            self.balance = Balance([getattr(a, "name", str(i)) for i, a in enumerate(self.adapters)],
                                   self.config.patience)
        weights = self.balance.weights(losses, step, track)
        grad = torch.zeros_like(grads[0])
        for weight, g in zip(weights, grads):
            if weight > 0:
                grad.add_(g, alpha=weight / g.abs().mean().clamp_min(1e-20).item())
        if log.isEnabledFor(logging.DEBUG):  # what each model costs and how much of the step it takes
            total = sum(weights)
            log.debug("step %d: %s", step, ", ".join(
                f"{name} {loss:.4f} ({share:.2f} of its first, {weight / total:.2f} of the step)"
                for name, loss, share, weight in zip(self.balance.names, losses, self.balance.left, weights)))
        return sum(losses), grad

    def check_questions(self, rng: random.Random | None = None) -> list[str]:
        """A random draw of `config.check_questions` shadow questions."""
        rng = rng or random.Random(self.config.seed + 1)
        return rng.sample(list(self.config.questions), k=min(self.config.check_questions, len(self.config.questions)))

    def protected(self, image: torch.Tensor, questions: Sequence[str]) -> bool:
        """Whether `image` (as the file will decode) is refused, and so is what the site's
        worst typical pipeline makes of it when there are views. (The padded whole frame is
        not asked: it only moves pixels the models never see, see framing.py.)"""
        if not self.refuses(image, questions):
            return False
        return self.views is None or self.refuses(self.views.worst(image), questions)

    @torch.no_grad()
    def refuses(self, image: torch.Tensor, questions: Sequence[str]) -> bool:
        """Whether every adapter refuses every question about `image` (greedy answers).

        The first FIRST_ASKED questions are asked alone, the rest only if they all refuse:
        most checks come before the photo is protected and fail on those, at a quarter of
        the cost (a model whose loss is below `check_loss` from the start, as the tiny
        Phi-4's is, is checked every other step)."""
        rounds = [questions[:FIRST_ASKED], questions[FIRST_ASKED:]]
        for adapter in self.adapters:
            with adapter.resident():
                pixels = adapter.pixel_values(image.to(adapter.device))
                for asked in filter(None, rounds):
                    answers = adapter.generate_from_pixels(pixels, asked, max_new_tokens=self.config.check_tokens)
                    if not all(is_refusal(a) for a in answers):
                        return False
        return True

    def perturb(
        self,
        image: torch.Tensor,
        progress: Callable[[StepInfo], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        start: torch.Tensor | None = None,
        first_step: int = 0,
    ) -> AttackResult:
        """Protect `image`, a (1, 3, H, W) tensor in [0, 1] already on the 8-bit grid.

        Returns the protected image on the 8-bit grid. Stops early once the loss is low and
        a greedy check on the quantised image refuses every check question; `cancel` is
        polled between steps. `start` continues from an earlier result (projected back
        into the bounds) after `first_step` steps were taken: the step sizes go on along
        their schedule from there (a continuation that began again at the first, largest
        steps would undo the fine ones that came before) and the draws of questions and
        views are new ones; at most `config.steps - first_step` steps are taken.
        """
        cfg = self.config
        rng = random.Random(cfg.seed if first_step == 0 else f"{cfg.seed}:{first_step}")
        x = image.detach()
        # The adversarial image itself is the variable (delta = adv - x), which saves a
        # full-size addition per step; its bounds are each pixel's budget (at most eps)
        # intersected with [0, 1].
        bound = pixel_bounds(x, cfg.eps, cfg.shaped_budget)
        unseen = unseen_pixels(x, [a.pixel_values for a in self.adapters]) if cfg.whole_frame else None
        if unseen is not None:  # the strips no model sees: moved, but within STRIP_BOUND (framing.py)
            bound = torch.where(unseen, bound.clamp(max=STRIP_BOUND), bound)
        low, high = (x - bound).clamp(min=0), (x + bound).clamp(max=1)
        margin = CodecMargin(x, bound, cfg.eps) if self.codec is not None else None
        adv = (x.clone() if start is None else torch.clamp(start.detach().to(x), low, high)).requires_grad_(True)
        max_norm = None if cfg.max_rms is None else cfg.max_rms * math.sqrt(x.numel())
        normalise = torch.Tensor.sign_ if max_norm is None else unit_rms_
        losses: list[float] = []
        began = time.monotonic()
        step = 0
        succeeded = False
        confirm_at: int | None = None  # the step of the settling check, once a check has passed
        total = cfg.steps - first_step
        targets = self._targets(x, random.Random(cfg.seed + 2))
        if start is None:  # a continuation keeps measuring progress from the photo's first step
            self.balance = None
        for step in range(1, total + 1):
            if cancel is not None and cancel():
                return AttackResult(self._rounded(x, adv, bound), step - 1, False, True, losses)
            questions = rng.sample(list(cfg.questions), k=min(cfg.questions_per_step, len(cfg.questions)))
            picks = [rng.random() for _ in questions]  # the same draw picks each model's own phrasing
            pairs = [[(q, own[int(p * len(own))]) for q, p in zip(questions, picks)] for own in targets]
            written = self._through(adv)
            view = written if self.views is None else self.views.sample(written, rng)
            whole = unseen is not None and adds_whole_frame(step)
            loss, grad = self._gradient(view, adv, pairs, keep_graph=whole, step=first_step + step)
            grad_whole = (self._gradient(padded(view), adv, pairs, step=first_step + step, track=False)[1]
                          if whole else None)
            with torch.no_grad():  # in place: at 12 MP every full-size temporary costs
                if max_norm is not None:
                    free_to_move_(grad, adv, low, high)
                    if grad_whole is not None:
                        free_to_move_(grad_whole, adv, low, high)
                adv.add_(step_direction(grad, grad_whole, unseen, normalise),
                         alpha=-cfg.step_size(first_step + step - 1))
                if margin is not None:
                    margin.fit_(low, high, written.detach())
                torch.clamp(adv, low, high, out=adv)
                if max_norm is not None:
                    norm = torch.dist(adv, x).item()
                    if norm > max_norm:  # shrinking towards x keeps both the eps box and [0, 1]
                        adv.sub_(x).mul_(max_norm / norm).add_(x)
            losses.append(loss)
            if progress is not None:
                progress(StepInfo(step, total, losses[-1], time.monotonic() - began))
            if confirm_at is None:
                if step % cfg.check_every != 0 or losses[-1] >= cfg.check_loss:
                    continue
                if not self.protected(self._through(self._rounded(x, adv, bound)), self.check_questions(rng)):
                    log.debug("step %d: a check question is still answered", step)
                    continue
                if cfg.settle <= 0:
                    succeeded = True
                    break
                # A margin: a perturbation that only just passes on 16 questions can fail
                # some of the receipt's held-out ones, more so after a site's re-encoding.
                confirm_at = min(total, step + max(2, math.ceil(step * cfg.settle)))
                log.debug("check passed after %d steps; settling until step %d", step, confirm_at)
            elif step >= confirm_at:
                if self.protected(self._through(self._rounded(x, adv, bound)), self.check_questions(rng)):
                    succeeded = True
                    break
                confirm_at = None
        if succeeded:
            log.debug("refused every check question after %d steps", step)
        return AttackResult(self._rounded(x, adv, bound), step, succeeded, False, losses)

    def _rounded(self, x: torch.Tensor, adv: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
        """adv on the 8-bit grid, within each pixel's `bound` (whole /255) of x and above the PSNR floor.

        Rounding can add energy (a delta of 0.6/255 becomes 1/255), so the PSNR floor is
        checked again on the rounded result and delta shrunk until it holds.
        """
        d = adv.detach() - x
        for _ in range(20):
            q = (quantize(x + d) - x).clamp(-bound, bound)
            rms = q.square().mean().sqrt().item()
            if self.config.max_rms is None or rms <= self.config.max_rms:
                break
            d = d * (0.98 * self.config.max_rms / rms)
        return x + q
