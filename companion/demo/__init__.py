"""The shipped demo model: a tiny, trained LLaVA, and the scripts that build and train it."""

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).resolve().parent / "model"
