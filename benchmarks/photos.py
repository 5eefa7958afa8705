"""Natural photos for benchmarks: real photographs shipped with scikit-image."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

#: colour photographs scikit-image ships (no download needed)
PHOTO_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "stereo_motorcycle",
    "immunohistochemistry",
    "camera",
    "moon",
    "coins",
    "text",
    "grass",
    "brick",
)


#: photos of people shipped with scikit-image and matplotlib: two portraits and a cameraman,
#: and four faces of scikit-image's Labeled Faces in the Wild subset (25 px, upscaled; its
#: images 0-99 are faces, 100-199 non-faces). The reading demo trains on faces 10-79 and
#: watches 0-9, never these.
PEOPLE_PHOTOS = ("astronaut", "camera", "grace_hopper", "lfw_80", "lfw_85", "lfw_90", "lfw_95")


def natural_photo(name: str, size: tuple[int, int] | None = None) -> Image.Image:
    """The photo `name` (PHOTO_NAMES, PEOPLE_PHOTOS) as RGB, optionally resized (bicubic) to (width, height)."""
    import skimage.data

    if name == "grace_hopper":
        import matplotlib.cbook

        image = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
        return image.resize(size, Image.BICUBIC) if size else image
    if name.startswith("lfw_"):
        face = skimage.data.lfw_subset()[int(name[4:])]
        image = Image.fromarray((face * 255).astype(np.uint8)).convert("RGB").resize((200, 200), Image.BICUBIC)
        return image.resize(size, Image.BICUBIC) if size else image
    arr = getattr(skimage.data, name)()
    if isinstance(arr, tuple):  # stereo pairs
        arr = arr[0]
    image = Image.fromarray(np.asarray(arr)).convert("RGB")
    return image.resize(size, Image.BICUBIC) if size else image


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def encode_jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
