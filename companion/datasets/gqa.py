"""GQA questions on Visual Genome images.

Reads the official balanced questions files from https://cs.stanford.edu/people/dorarad/gqa/download.html,
e.g. `val_balanced_questions.json` or `testdev_balanced_questions.json`: one JSON object keyed
by question id,

    {"20968379": {"imageId": "2375429", "question": "...", "answer": "...", "fullAnswer": ..., ...}, ...}

with the images from the same page (`images.zip`) at `<images>/<imageId>.jpg`.
"""

from __future__ import annotations

from pathlib import Path

from companion.datasets.base import (
    DatasetError,
    Sample,
    collect,
    field,
    group,
    images_folder,
    questions_file,
    read_json,
)

EXAMPLE = "val_balanced_questions.json"


def load(questions: Path | None, images: Path, limit: int | None = None) -> list[Sample]:
    """The GQA samples of `questions` whose image is in `images`."""
    path = questions_file("gqa", questions, EXAMPLE)
    folder = images_folder(images)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path.name}: expected a JSON object keyed by question id, not {type(data).__name__}")

    def pairs():
        for question_id, entry in data.items():
            where = f"question {question_id}"
            image_id = field(entry, "imageId", where, path, (str, int))
            yield str(image_id), field(entry, "question", where, path, str)

    return collect("gqa", group(pairs()), folder, lambda image_id: [f"{image_id}.jpg"], limit)
