"""The tiny Phi-4 model's built-in way to the demo's patches (companion/demo/phi4_gathering.py):
each gathering head reads the patch it is meant to, on ordinary scenes and written ones;
the cheap block-local training path is the model's own; the demo's carried layers give the
demo's features from 16 copies of each of its tokens."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from companion.demo import DEMO_MODEL_DIR, phi4_build, phi4_gathering
from companion.demo.phi4_gathering import (GATHER_LAYERS, demo_patch_embedding, gathered, gathering_attention,
                                           gathering_targets)
from companion.demo.reading_scenes import make_scene
from companion.engine.imageio import to_tensor
from companion.models.llava import LlavaAdapter


@pytest.fixture(scope="module")
def demo():
    return LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)


@pytest.fixture(scope="module")
def student(demo):
    return phi4_build.build(demo, seed=3)


def _scenes(n: int, seed: int) -> torch.Tensor:
    rng = random.Random(seed)
    return torch.cat([to_tensor(make_scene(rng, real_photos=True).image) for _ in range(n)])


def _right_weight(adapter, scenes: torch.Tensor, layer: int) -> torch.Tensor:
    with torch.no_grad():
        att = gathering_attention(adapter, adapter.pixel_values(scenes), layer)
    targets = gathering_targets(32, layer, att.shape[1])
    return att.gather(-1, targets[None, :, :, None].expand(att.shape[0], -1, -1, 1))[..., 0]


@pytest.mark.parametrize("kind", ["random", "scenes"])
def test_each_gathering_head_reads_its_own_place_of_its_own_block(student, kind):
    scenes = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1)) if kind == "random" \
        else _scenes(2, seed=4)
    for layer in range(GATHER_LAYERS):
        assert _right_weight(student, scenes, layer).min() > 0.99, layer


def test_a_few_gathering_steps_leave_the_codes_clean_and_the_heads_on_their_places(demo):
    from companion.demo.zoo import Pools

    student = phi4_build.build(demo, seed=5)
    phi4_gathering.train_gathering(student, demo, Pools.drawn(8, 4, 2, workers=1), steps=3, lr=1e-2,
                                   rng=random.Random(0), batch=2)
    start = phi4_gathering._code_start(student)
    assert all((p[start:] == 0).all() for p in phi4_gathering._code_writers(student))
    assert (student.vision_tower.embeddings.patch_embedding.weight[:start] != 0).any()  # it did learn
    scenes = _scenes(2, seed=6)
    assert min(_right_weight(student, scenes, layer).min() for layer in range(GATHER_LAYERS)) > 0.99


def test_the_block_local_training_path_is_the_models_own(student):
    scenes = _scenes(2, seed=7)
    with torch.no_grad():
        pixels = student.pixel_values(scenes)
        assert torch.allclose(gathered(student, pixels, local=True), gathered(student, pixels), atol=1e-5)


def test_the_demos_carried_layers_give_its_features_from_copies_of_its_tokens(demo, student):
    """Given the demo's patch embedding in every patch of each block, the tower's last layers
    give the demo's own last layer (its class token aside), pooled and spread."""
    scenes = _scenes(2, seed=8)
    with torch.no_grad():
        hidden = demo_patch_embedding(demo, scenes, 32)
        for layer in student.vision_tower.encoder.layers[GATHER_LAYERS:]:
            hidden = layer(hidden, None)
        vision = demo.model.model.vision_tower
        once = vision.pre_layrnorm(vision.embeddings(demo.pixel_values(scenes)))[:, 1:]  # without the class token
        for layer in vision.encoder.layers:
            once = layer(once, None)
        assert torch.allclose(hidden, _spread(once, 32), atol=1e-4)
        real = vision(demo.pixel_values(scenes), output_hidden_states=True).hidden_states[-1][:, 1:]
        assert F.mse_loss(once, real) < 0.1 * real.var()  # the class token's share is small


def _spread(tokens: torch.Tensor, side: int) -> torch.Tensor:
    """Each of the demo's tokens given to every patch of its block, as demo_patch_embedding does."""
    b, n, width = tokens.shape
    grid = int(n ** 0.5)
    block = side // grid
    return tokens.reshape(b, grid, 1, grid, 1, width).expand(b, grid, block, grid, block, width).reshape(b, -1, width)
