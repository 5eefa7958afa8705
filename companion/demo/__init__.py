"""The shipped demo models, tiny trained LLaVAs, and the scripts that build and train them.

`demo` (model/, reading_train.py), the default, behaves as real MLLMs do: it describes
photos, people included, reads what is written in them, and refuses only requests (typed
unsafe ones, or a request not to answer written in the image), so protection reaches it
through its reading of the image, a visual prompt injection. `demo-face` (face_model/,
face_train.py), the first demo, refuses whenever a face shows; it stays for the tests of
mechanics that need a model any photo of a face moves at once. The zoo (zoo/, zoo.py) holds
variants of `demo` that differ where real MLLMs differ, for testing the attack on models
it was not tuned on.
"""

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "model"
FACE_MODEL_DIR = Path(__file__).resolve().parent / "face_model"
ZOO_DIR = Path(__file__).resolve().parent / "zoo"
FAMILIES_DIR = Path(__file__).resolve().parent / "families"
