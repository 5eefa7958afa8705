"""The shipped demo models: tiny, trained LLaVAs, and the scripts that build and train them.

`demo` (the default) reads: it describes what it sees, people included, and refuses a
request written in the image (reading_train.py). `demo-face` refuses whenever a face shows
(face_train.py); no real MLLM does that, so it is never the default.
"""

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "model"
FACE_MODEL_DIR = Path(__file__).resolve().parent / "face_model"
