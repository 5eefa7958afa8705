"""VQAv2 questions on COCO images.

Reads the official questions file, e.g. `v2_OpenEnded_mscoco_val2014_questions.json` from
https://visualqa.org/download.html:

    {"info": ..., "task_type": ..., "data_type": "mscoco", "license": ..., "data_subtype": "val2014",
     "questions": [{"image_id": 262148, "question": "...", "question_id": 262148000}, ...]}

and the COCO images (https://cocodataset.org) of that split, named
`COCO_{data_subtype}_{image_id:012d}.jpg` (COCO 2014 folders) or `{image_id:012d}.jpg`
(COCO 2017 folders, which hold the same images). The test-dev questions
(`data_subtype` "test-dev2015") use images of the test2015 folder.
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

EXAMPLE = "v2_OpenEnded_mscoco_val2014_questions.json"


def load(questions: Path | None, images: Path, limit: int | None = None) -> list[Sample]:
    """The VQAv2 samples of `questions` whose COCO image is in `images`."""
    path = questions_file("vqav2", questions, EXAMPLE)
    folder = images_folder(images)
    data = read_json(path)
    entries = field(data, "questions", "the top level", path, list)
    subtype = data.get("data_subtype")
    subtype = "test2015" if subtype == "test-dev2015" else subtype

    def pairs():
        for i, entry in enumerate(entries):
            where = f"questions[{i}]"
            image_id = field(entry, "image_id", where, path, (int, str))
            if isinstance(image_id, str) and not image_id.isdigit():
                raise DatasetError(f"{path.name}: {where} has image_id {image_id!r}, expected a number")
            yield str(int(image_id)), field(entry, "question", where, path, str)

    def names(image_id: str) -> list[str]:
        plain = f"{int(image_id):012d}.jpg"
        return [f"COCO_{subtype}_{plain}", plain] if isinstance(subtype, str) else [plain]

    return collect("vqav2", group(pairs()), folder, names, limit)
