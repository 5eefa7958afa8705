"""Site profiles: what each social site does to an uploaded photo.

One table, used three ways: the engine writes its output already at the profile's size
(so the site's own resize has little left to wash out), the attack optimises through
samples of the profile's re-encoding (expectation over transformations, see robust.py),
and the receipt replays the profile's pipeline with a real Pillow round trip at the
profile's lowest typical quality.

The figures are defaults gathered from public sources; sites change them without notice,
which is why `imageprotector check` exists (verify a photo downloaded back from the site).
Sources:
- facebook: 2048 px long edge for photos uploaded in "high quality"; JPEG quality
  estimated at 71-85 from the quantisation tables of downloaded photos (Facebook's help
  centre on photo sizes; forensic studies of social network JPEGs, e.g. Giudice et al.,
  "A classification engine for image ballistics of social data", 2017).
- instagram: 1080 px wide (aspect 1.91:1 to 4:5, so at most 1080x1350); newer clients
  keep 1440 px, which the small rescales of the robust attack cover. JPEG 75-85 with
  4:2:0 chroma (Instagram help centre; the same forensic studies).
- x (twitter): 4096 px long edge; JPEG 85 reported for most re-encodes, lower for large
  files (X developer docs on media upload; community measurements), so 75-85 here.
- reddit: i.redd.it keeps the original file; previews are 1080 px WebP, which is what
  most readers (and scrapers) fetch.
- linkedin: size undocumented; JPEG about 70-80 from downloaded photos.
- mastodon: at most 3840x2160 pixels (8.3 MP, mastodon's MediaAttachment limits),
  re-encoded as JPEG at quality 90.
- bluesky: 2000 px long edge and a 1 MB cap; the app lowers JPEG quality until the file
  fits, typically 75-95 for a 2000 px photo.
- generic: no site in particular: the size kept (up to our 2048 px default cap, since a
  larger output only costs time), JPEG anywhere from 75 to 95.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from companion.engine import imageio
from companion.engine.errors import ProtectError

#: the long edge the engine writes when nothing else says so (fast, and more than most sites keep)
DEFAULT_MAX_EDGE = 2048


@dataclass(frozen=True)
class SiteProfile:
    """What a site does to an upload: the size it keeps and how it re-encodes."""

    name: str
    long_edge: int | None  # longest side the site keeps (None: any)
    max_width: int | None = None  # widest the site keeps (Instagram's 1080)
    max_pixels: int | None = None  # most pixels the site keeps (Mastodon's 3840x2160)
    codec: str = "jpeg"  # what the site re-encodes to: "jpeg" or "webp"
    quality: tuple[int, int] = (75, 95)  # typical quality range of that re-encoding
    subsampling: str = "4:2:0"  # chroma subsampling of the re-encoding
    output_format: str | None = "jpeg"  # what we write for it (None: keep the original's)

    @property
    def lowest_quality(self) -> int:
        return self.quality[0]

    def fit(self, width: int, height: int, max_edge: int | None = None) -> tuple[int, int]:
        """The size the site keeps for a width x height photo (never larger than the photo).

        `max_edge` caps the long edge further (the user's --max-size).
        """
        scale = 1.0
        for limit, value in ((self.long_edge, max(width, height)), (max_edge, max(width, height)),
                             (self.max_width, width)):
            if limit and value > limit:
                scale = min(scale, limit / value)
        if self.max_pixels and width * height * scale * scale > self.max_pixels:
            scale = min(scale, (self.max_pixels / (width * height)) ** 0.5)
        if scale >= 1.0:
            return width, height
        return max(1, round(width * scale)), max(1, round(height * scale))

    def resize(self, image: Image.Image) -> Image.Image:
        """The site's resize: down to `fit`, never up (Pillow's bicubic, as most pipelines)."""
        size = self.fit(*image.size)
        return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)

    def reencode(self, image: Image.Image, quality: int | None = None) -> Image.Image:
        """The site's re-encoding, decoded again: a real Pillow (libjpeg / libwebp) round trip."""
        return round_trip(image, self.codec, self.lowest_quality if quality is None else quality, self.subsampling)

    def apply(self, image: Image.Image, quality: int | None = None) -> Image.Image:
        """The whole pipeline: resize, then re-encode at `quality` (default: the lowest typical)."""
        return self.reencode(self.resize(image.convert("RGB")), quality)


_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def round_trip(image: Image.Image, codec: str, quality: int, subsampling: str = "4:2:0") -> Image.Image:
    """Encode `image` with Pillow as a site would, and decode it again (RGB)."""
    buf = io.BytesIO()
    if codec == "jpeg":
        image.convert("RGB").save(buf, "JPEG", quality=quality, subsampling=_SUBSAMPLING[subsampling])
    elif codec == "webp":
        image.convert("RGB").save(buf, "WEBP", quality=quality)
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return imageio.decode_rgb(buf.getvalue())


#: how the robust loop models a site's JPEG (robust.py): Pillow straight-through, or kornia's
#: differentiable codec (here, not in robust.py, so the command line can list them without torch)
JPEG_BACKENDS = ("pillow", "kornia")

SITES: dict[str, SiteProfile] = {
    p.name: p
    for p in (
        SiteProfile("generic", long_edge=None, quality=(75, 95), output_format=None),
        SiteProfile("facebook", long_edge=2048, quality=(71, 85)),
        SiteProfile("instagram", long_edge=1350, max_width=1080, quality=(75, 85)),
        SiteProfile("x", long_edge=4096, quality=(75, 85)),
        SiteProfile("reddit", long_edge=1080, codec="webp", quality=(75, 85)),
        SiteProfile("linkedin", long_edge=None, quality=(70, 80)),
        SiteProfile("mastodon", long_edge=None, max_pixels=3840 * 2160, quality=(90, 90)),
        SiteProfile("bluesky", long_edge=2000, quality=(75, 95)),
    )
}


def get_site(name: str) -> SiteProfile:
    """The profile called `name`, or a ProtectError listing the known ones."""
    try:
        return SITES[name.lower()]
    except KeyError:
        raise ProtectError("unknown_site", f"unknown site {name!r}; known: {', '.join(SITES)}") from None
