"""The untrained Phi-4 model's distillation view: which of its image tokens learn which of
the demo's (the layouts differ: 545 tokens with separators against an 8 x 8 grid); and the
remembered tower features its answer stages train with."""

from __future__ import annotations

import pytest
import torch

from companion.demo.phi4_build import distill_view


def test_both_grids_learn_the_demos_grid_each_token_over_2x2_and_the_separators_nothing():
    b, width, g = 2, 3, 16
    seen = torch.full((b, 2 * g * (g + 1) + 1, width), -1.0)  # separators stay -1
    for block, start in ((0, 0), (1, g * (g + 1) + 1)):  # the crop's grid, then the global view's
        for r in range(g):
            for c in range(g):
                seen[:, start + r * (g + 1) + c] = 1000 * block + 100 * r + c
    target = torch.arange(64, dtype=torch.float).repeat_interleave(width).reshape(1, 64, width).repeat(b, 1, 1)
    ours, theirs = distill_view(seen, target)
    assert ours.shape == theirs.shape == (b, 2 * g * g, width)
    assert (ours >= 0).all()  # no separator is taught
    ours, theirs = ours[0, :, 0].reshape(2, g, g), theirs[0, :, 0].reshape(2, g, g)
    assert ours[0, 5, 7] == 507 and ours[1, 5, 7] == 1507
    assert theirs[0, 5, 7] == theirs[1, 5, 7] == 8 * (5 // 2) + 7 // 2  # the demo's token (2, 3)


def test_a_scene_that_is_not_one_square_crop_is_refused():
    with pytest.raises(ValueError, match="one crop of a square scene"):
        distill_view(torch.zeros(1, 700, 4), torch.zeros(1, 64, 4))


@pytest.fixture(scope="module")
def student():
    from companion.demo import DEMO_MODEL_DIR, phi4_build
    from companion.models.llava import LlavaAdapter

    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    return phi4_build.build(demo, seed=3)


def test_the_one_pass_crop_grid_is_what_the_model_gives_for_both_grids(student):
    from companion.demo.phi4_build import crop_grid

    scenes = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = crop_grid(student, student.pixel_values(scenes))
        model, _ = distill_view(student.image_features(student.pixel_values(scenes)), torch.zeros(2, 64, ours.shape[-1]))
    assert ours.shape == (2, 256, student.model.config.hidden_size)
    assert torch.equal(model[:, :256], ours) and torch.equal(model[:, 256:], ours)


def test_a_wide_photo_has_more_than_one_crop_and_no_crop_grid(student):
    from companion.demo.phi4_build import crop_grid

    with pytest.raises(ValueError, match="one crop of a square scene"):
        crop_grid(student, student.pixel_values(torch.rand(1, 3, 448, 1344)))


def test_spread_gives_each_demo_token_to_the_2x2_phi_tokens_over_it():
    from companion.demo.phi4_build import spread

    target = torch.arange(64, dtype=torch.float).reshape(1, 64, 1)
    out = spread(target)[0, :, 0].reshape(16, 16)
    assert out[5, 7] == 8 * 2 + 3 and out[4, 6] == out[5, 7] and out[15, 15] == 63


def test_remembered_features_are_the_towers_and_run_it_once_a_square_scene(student):
    from companion.demo.phi4_build import remembered_features

    scenes = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(9))
    pixels = student.pixel_values(scenes)
    batch = student.encode([("What is written here?", "Nothing."), ("Who is this?", "A person.")])
    embed = student.model.model.embed_tokens_extend.image_embed
    proj = embed.img_projection_up.weight
    proj.requires_grad_(True)
    try:
        plain = student.model(**student.model_inputs(pixels, batch)).loss
        (grad,) = torch.autograd.grad(plain, proj)
        with remembered_features(student) as memory:
            first = student.model(**student.model_inputs(pixels, batch)).loss
            assert len(memory) == 2  # the crop and the global view of each scene: one entry
            again = student.model(**student.model_inputs(pixels, batch)).loss
            (remembered,) = torch.autograd.grad(again, proj)
            assert len(memory) == 2
        assert "get_img_features" not in vars(embed)  # the model's own path once more
    finally:
        proj.requires_grad_(False)
    assert first.item() == pytest.approx(plain.item(), rel=1e-5) and again.item() == pytest.approx(plain.item(), rel=1e-5)
    assert torch.allclose(remembered, grad, rtol=1e-4, atol=1e-7)
