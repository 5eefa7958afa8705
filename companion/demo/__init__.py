"""The shipped demo model, a tiny trained LLaVA, and the scripts that build and train the demo models.

`demo` (model/, face_train.py) refuses whenever a face shows. Its successor, which reads
requests written in the image and describes people as real MLLMs do (reading_train.py), is
in progress and not shipped yet: `python -m companion.demo.reading_train` trains it into
reading_model/, which `--model` takes as a folder.
"""

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "model"
READING_MODEL_DIR = Path(__file__).resolve().parent / "reading_model"
