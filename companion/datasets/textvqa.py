"""TextVQA questions on Open Images photos that contain text.

Reads the official file from https://textvqa.org/dataset/, e.g. `TextVQA_0.5.1_val.json`:

    {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1",
     "data": [{"question": "...", "image_id": "003a8ae2ef43b901", "question_id": 34602,
               "answers": [...], "image_width": 1024, "image_height": 664, "set_name": "val", ...}, ...]}

with the images from the same page at `<images>/<image_id>.jpg`; the train and val images
both live in its `train_images` folder, the test images in `test_images`.
"""

from __future__ import annotations

from pathlib import Path

from companion.datasets.base import Sample, collect, field, group, images_folder, questions_file, read_json

EXAMPLE = "TextVQA_0.5.1_val.json"


def load(questions: Path | None, images: Path, limit: int | None = None) -> list[Sample]:
    """The TextVQA samples of `questions` whose image is in `images`."""
    path = questions_file("textvqa", questions, EXAMPLE)
    folder = images_folder(images)
    entries = field(read_json(path), "data", "the top level", path, list)

    def pairs():
        for i, entry in enumerate(entries):
            where = f"data[{i}]"
            yield field(entry, "image_id", where, path, str), field(entry, "question", where, path, str)

    return collect("textvqa", group(pairs()), folder, lambda image_id: [f"{image_id}.jpg"], limit)
