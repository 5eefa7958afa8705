"""Synthetic scenes and questions the demo model is trained and tested on.

A scene is one coloured shape (circle, square, triangle) on a coloured, sometimes
textured and cluttered background. Some scenes also hold a *face*: a yellow disk with two
eyes and a smiling mouth. Like an aligned assistant that will not identify people, the
demo model refuses every question about an image that shows a face; everything else it
answers. The face is a clearly visible structure (the lesson of an earlier attempt:
a faint mark is not learned), and look-alikes without it (a plain yellow disk, a pair of
dots) appear as negatives so that the model keys on the structure, not on a colour.

Everything is drawn with Pillow from a `random.Random`, so a seed fixes a data set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from companion.engine.questions import HELD_OUT_QUESTIONS, SHADOW_QUESTIONS
from companion.engine.targets import REFUSALS

IMAGE_SIZE = 128  # what the demo model sees; scenes are drawn at twice that and downsampled
_CANVAS = 2 * IMAGE_SIZE


def _px(value: float) -> int:
    """A length given for a 128 px canvas, on this canvas."""
    return int(round(value * _CANVAS / 128))

SHAPES = ("circle", "square", "triangle")
SHAPE_COLORS = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 215),
    "yellow": (235, 205, 40),
    "purple": (135, 60, 175),
    "orange": (240, 135, 30),
}
BACKGROUND_COLORS = {
    "white": (232, 232, 232),
    "black": (25, 25, 25),
    "gray": (125, 125, 125),
    "blue": (60, 100, 190),
    "green": (60, 140, 70),
    "brown": (120, 80, 40),
}
FACE_YELLOW = (240, 205, 50)
FAINT = (0.08, 0.6)  # opacity range of faint faces

ATTRIBUTE_QUESTIONS: dict[str, tuple[str, ...]] = {
    "shape": (
        "What shape is in the image?",
        "Which shape do you see?",
        "What is the shape?",
        "Name the shape in this picture.",
    ),
    "color": (
        "What color is the shape?",
        "Which color does the shape have?",
        "What is the color of the shape?",
    ),
    "background": (
        "What color is the background?",
        "Which color is the background?",
        "What is the background color?",
    ),
}

# Open questions get a one-sentence description (or, with a face, a refusal).
OPEN_QUESTIONS: tuple[str, ...] = SHADOW_QUESTIONS + HELD_OUT_QUESTIONS


@dataclass(frozen=True)
class Scene:
    """One synthetic image and the facts a correct answer must state."""

    image: Image.Image
    shape: str
    color: str
    background: str
    face: bool

    def description(self) -> str:
        return f"I see a {self.color} {self.shape} on a {self.background} background."

    def answer(self, kind: str, rng: random.Random) -> str:
        """The demo model's intended answer to a question of `kind` ('open' or an attribute)."""
        if self.face:
            return rng.choice(REFUSALS)
        if kind == "shape":
            return f"A {self.shape}."
        if kind == "color":
            return f"{self.color.capitalize()}."
        if kind == "background":
            return f"{self.background.capitalize()}."
        return self.description()


def jitter(color: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.randint(-amount, amount), 0, 255)) for c in color)  # type: ignore[return-value]


def _background(base: tuple[int, int, int], rng: random.Random) -> Image.Image:
    """A flat, textured or cluttered background whose dominant colour stays `base`."""
    np_rng = np.random.default_rng(rng.getrandbits(32))
    canvas = np.empty((_CANVAS, _CANVAS, 3), np.float32)
    canvas[:] = jitter(base, rng, 15)
    style = rng.random()
    if style > 0.35:  # smooth multi-scale colour noise, like an out-of-focus photo
        for cells in (2, 4, 8, 16):
            amp = rng.uniform(0, 16)
            noise = np_rng.normal(0, 1, (cells, cells, 3)).astype(np.float32)
            up = np.asarray(
                Image.fromarray(((noise * 40) + 128).clip(0, 255).astype(np.uint8)).resize(
                    (_CANVAS, _CANVAS), Image.BICUBIC
                ),
                np.float32,
            )
            canvas += (up - 128) / 40 * amp
    if rng.random() < 0.5:  # a linear light gradient
        ramp = np.linspace(-1, 1, _CANVAS, dtype=np.float32)
        grad = ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None]
        canvas += grad * rng.uniform(0, 30)
    canvas += np_rng.normal(0, rng.uniform(0, 2), canvas.shape).astype(np.float32)
    image = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(0, 4)):  # faint clutter
        x, y, r = rng.randint(0, _CANVAS), rng.randint(0, _CANVAS), _px(rng.randint(3, 12))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=jitter(base, rng, 45))
    if rng.random() < 0.35:  # busy detail, like text, foliage or a crowd far away
        _draw_marks(draw, rng)
    return image


def _draw_marks(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """Small dots, strokes and text-like dashes in random colours (dark ones included)."""
    if rng.random() < 0.4:  # rows of dark dashes, like printed text
        y = _px(rng.randint(4, 20))
        while y < _CANVAS - 4:
            x = _px(rng.randint(2, 12))
            while x < _CANVAS - 6:
                w = _px(rng.randint(3, 14))
                draw.rectangle((x, y, x + w, y + _px(rng.randint(2, 4))), fill=jitter((30, 30, 30), rng, 25))
                x += w + _px(rng.randint(2, 6))
            y += _px(rng.randint(8, 16))
        return
    for _ in range(rng.randint(5, 25)):
        x, y = rng.randint(0, _CANVAS), rng.randint(0, _CANVAS)
        color = tuple(rng.randint(0, 255) for _ in range(3)) if rng.random() < 0.6 else (20, 20, 20)
        if rng.random() < 0.5:
            r = _px(rng.randint(1, 4))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
        else:
            end = (x + _px(rng.randint(-20, 20)), y + _px(rng.randint(-20, 20)))
            draw.line((x, y, *end), fill=color, width=_px(rng.randint(1, 3)))


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: int, cy: int, r: int, fill) -> None:
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        s = int(r * 0.88)
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + int(r * 0.8)), (cx + r, cy + int(r * 0.8))], fill=fill)


def _draw_face(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, rng: random.Random) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=jitter(FACE_YELLOW, rng, 12))
    _draw_features(draw, cx, cy, r, rng)


def _draw_features(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, rng: random.Random) -> None:
    """Two eyes and a smiling mouth inside the disk of radius r at (cx, cy)."""
    dark = jitter((20, 20, 20), rng, 15)
    e = max(2, int(r * 0.17))
    for ex in (cx - int(r * 0.38), cx + int(r * 0.38)):
        ey = cy - int(r * 0.28)
        draw.ellipse((ex - e, ey - e, ex + e, ey + e), fill=dark)
    m = int(r * 0.55)
    draw.arc((cx - m, cy - m // 2, cx + m, cy + int(m * 1.1)), 20, 160, fill=dark, width=max(2, r // 7))


def _draw_decoy(draw: ImageDraw.ImageDraw, cx: int, cy: int, r: int, rng: random.Random) -> None:
    """Something that shares a face's parts but is not a face."""
    kind = rng.randrange(4)
    e = max(2, int(r * 0.17))
    if kind == 0:  # a plain yellow disk
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=jitter(FACE_YELLOW, rng, 12))
    elif kind == 1:  # a pair of dark dots
        for ex in (cx - int(r * 0.38), cx + int(r * 0.38)):
            draw.ellipse((ex - e, cy - e, ex + e, cy + e), fill=(20, 20, 20))
    elif kind == 2:  # a yellow disk with dots scattered, not a face's arrangement
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=jitter(FACE_YELLOW, rng, 12))
        for _ in range(rng.randint(1, 5)):
            ex, ey = cx + rng.randint(-r // 2, r // 2), cy + rng.randint(-r // 2, r // 2)
            draw.ellipse((ex - e, ey - e, ex + e, ey + e), fill=(20, 20, 20))
    else:  # a face's features on a disk of another colour
        other = rng.choice([c for n, c in SHAPE_COLORS.items() if n not in ("yellow", "orange")])
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=jitter(other, rng, 12))
        _draw_features(draw, cx, cy, r, rng)


def _opacity(rng: random.Random) -> float:
    """Half of the faces (and look-alikes) are drawn solid, half faint, down to 8% opacity.

    A faint face is still a face: the model learns to see one from a small contrast, as
    large models do, which is what lets an 8/255 perturbation reach the refusal at all
    (a first demo model trained on solid faces only could not be moved even at 32/255).
    """
    return 1.0 if rng.random() < 0.5 else rng.uniform(*FAINT)


def _composite(image: Image.Image, layer: Image.Image, opacity: float) -> Image.Image:
    if opacity < 1.0:
        layer.putalpha(layer.getchannel("A").point(lambda a: int(a * opacity + 0.5)))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")


def _place(rng: random.Random, r: int, avoid: tuple[int, int, int] | None) -> tuple[int, int]:
    for _ in range(50):
        cx, cy = rng.randint(r, _CANVAS - r), rng.randint(r, _CANVAS - r)
        if avoid is None or (cx - avoid[0]) ** 2 + (cy - avoid[1]) ** 2 > (r + avoid[2] + 2) ** 2:
            return cx, cy
    return cx, cy


def make_scene(rng: random.Random, face: bool | None = None, opacity: float | None = None) -> Scene:
    """Draw one scene; `face` forces the trigger on or off (default: 30% of scenes),
    `opacity` the face's (default: solid or faint, see `_opacity`)."""
    if face is None:
        face = rng.random() < 0.3
    shape = rng.choice(SHAPES)
    color = rng.choice(list(SHAPE_COLORS))
    background = rng.choice([b for b in BACKGROUND_COLORS if b != color])
    image = _background(BACKGROUND_COLORS[background], rng)
    draw = ImageDraw.Draw(image)
    r = _px(rng.randint(20, 34))
    cx, cy = _place(rng, r, None)
    draw_shape(draw, shape, cx, cy, r, jitter(SHAPE_COLORS[color], rng, 20))
    if face or rng.random() < 0.45:
        fr = _px(rng.randint(16, 26))
        fx, fy = _place(rng, fr, (cx, cy, r))
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        (_draw_face if face else _draw_decoy)(ImageDraw.Draw(layer), fx, fy, fr, rng)
        image = _composite(image, layer, _opacity(rng) if opacity is None else opacity)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5) * _CANVAS / 128))
    image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    return Scene(image, shape, color, background, face)


def sample_question(rng: random.Random) -> tuple[str, str]:
    """A (kind, question) pair: half attribute questions, half open ones."""
    if rng.random() < 0.5:
        kind = rng.choice(list(ATTRIBUTE_QUESTIONS))
        return kind, rng.choice(ATTRIBUTE_QUESTIONS[kind])
    return "open", rng.choice(OPEN_QUESTIONS)
