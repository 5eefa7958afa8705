"""What every dataset loader shares: the Sample record, the error, and grouping questions by image.

The loaders read the files the datasets publish, from local paths the user points to; nothing
is ever downloaded. Each turns its format into (image id, question) pairs; `collect` groups
them by image in order of first appearance, drops repeated questions, keeps the first `limit`
images whose file exists, and warns once about the ones that do not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from companion.engine.errors import ProtectError

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """One image of a dataset and the questions asked about it."""

    image: Path  # the image file
    questions: list[str]  # questions about this image, in file order, no duplicates
    id: str  # the dataset's image id as a string


class DatasetError(ProtectError):
    """A dataset could not be loaded; the code is always "dataset"."""

    def __init__(self, message: str) -> None:
        super().__init__("dataset", message)


def images_folder(images: Path) -> Path:
    """`images` as a Path, or DatasetError when it is not an existing folder."""
    path = Path(images)
    if not path.exists():
        raise DatasetError(f"images folder not found: {path}")
    if not path.is_dir():
        raise DatasetError(f"not a folder: {path}; give the folder that holds the image files")
    return path


def questions_file(kind: str, questions: Path | None, example: str) -> Path:
    """`questions` as a Path, or DatasetError when it is not given or not an existing file."""
    if questions is None:
        raise DatasetError(f"{kind} needs its questions file, e.g. {example}")
    path = Path(questions)
    if not path.exists():
        raise DatasetError(f"questions file not found: {path}")
    if not path.is_file():
        raise DatasetError(f"not a file: {path}; give the {kind} questions file, e.g. {example}")
    return path


def read_json(path: Path) -> Any:
    """The parsed JSON of `path`, with unreadable or invalid files as DatasetError."""
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); is the download complete?") from None


def field(record: Any, key: str, where: str, path: Path, kinds: type | tuple[type, ...] = object) -> Any:
    """`record[key]`, or DatasetError naming the missing key when `record` is not shaped as expected."""
    if not isinstance(record, dict):
        raise DatasetError(f"{path.name}: {where} should be a JSON object, not {type(record).__name__}")
    if key not in record:
        raise DatasetError(f"{path.name}: {where} has no {key!r} key; is this the right questions file?")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise DatasetError(f"{path.name}: {where} has {key!r} of unexpected type {type(value).__name__}")
    return value


def group(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Questions by image id, both in order of first appearance, each question once per image."""
    grouped: dict[str, dict[str, None]] = {}
    for image_id, question in pairs:
        if not image_id or image_id in (".", "..") or "/" in image_id or "\\" in image_id:
            raise DatasetError(f"image id {image_id!r} is not a plain file name; is this the right questions file?")
        grouped.setdefault(image_id, {})[question] = None
    return {image_id: list(questions) for image_id, questions in grouped.items()}


def collect(
    kind: str,
    grouped: dict[str, list[str]],
    images: Path,
    names: Callable[[str], list[str]],
    limit: int | None,
) -> list[Sample]:
    """Samples for the first `limit` images (all when None) found under `images`.

    `names(image_id)` lists the file names the image may have, most likely first. Images with
    none of them are skipped and counted in a single warning; finding none at all is an error,
    since it almost always means the wrong folder.
    """
    if not grouped:
        raise DatasetError(f"the {kind} questions file lists no questions")
    samples: list[Sample] = []
    missing: list[str] = []
    for image_id, questions in grouped.items():
        if limit is not None and len(samples) >= limit:
            break
        found = next((images / name for name in names(image_id) if (images / name).is_file()), None)
        if found is None:
            missing.append(image_id)
        else:
            samples.append(Sample(found, questions, image_id))
    if not samples:
        raise DatasetError(
            f"none of the {len(missing)} {kind} images are in {images} "
            f"(looked for e.g. {names(missing[0])[0]}); give the folder that holds them"
        )
    if missing:
        log.warning(
            "%s: skipped %d of %d images whose file is not in %s (e.g. %s)",
            kind, len(missing), len(missing) + len(samples), images, names(missing[0])[0],
        )
    return samples
