"""The Phi-4-multimodal adapter must feed the model what Phi-4's own processor would.

Everywhere: the model built by companion/demo/phi4_build.py (random tower, the demo's
language model carried over) reads our crops: its own image embedding gives as many
tokens as we write placeholders for, the loss that runs the tower once equals the
model's loss on its forward's own inputs, and the gradient reaches every pixel.

Against the real processor (`Phi4MultimodalImageProcessor` and `Phi4MultimodalProcessor`):
they need torchvision, which has no release beside the CPU torch this project pins, so
these run where torchvision is (scripts/test.sh makes that environment and runs them
there, with IMAGEPROTECTOR_REQUIRE_TORCHVISION=1 so that a missing torchvision fails
instead of skipping): the crop layout at the released checkpoint's settings (36 crops)
for many sizes, pixels, masks and token counts on photos from 63x65 to 4000x3000, the
token ids, and the loss on our pixel values against the loss on the processor's.
"""

from __future__ import annotations

import os

import pytest
import torch

from companion.demo import DEMO_MODEL_DIR, phi4_build
from companion.engine.imageio import to_tensor
from companion.engine.targets import REFUSALS
from companion.models.llava import LlavaAdapter
from companion.models.phi4_vision import Phi4VisionConfig, crops, hd_layout, patch_mask
from tests.conftest import natural_photo

# The processor resizes the 8-bit photo and rounds the result to 8 bits; we resize in
# floating point (the rounding has no gradient). Measured on PHOTOS: the crops differ by at
# most 1.00/255; the global view, a bicubic resize of the rounded canvas whose kernel
# overshoots, by at most 1.22/255; the mean by at most 0.26/255.
MAX_DIFF = 1.0 / 255
MAX_DIFF_GLOBAL = 1.25 / 255
MEAN_DIFF = 0.3 / 255
LOSS_TOLERANCE = 0.01

PHOTOS = [("astronaut", (64, 64)), ("chelsea", None), ("coffee", (4000, 3000)), ("rocket", (427, 640)),
          ("retina", (63, 65)), ("astronaut", (1500, 200)), ("chelsea", (56, 1400))]


def _torchvision_or_skip():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        if os.environ.get("IMAGEPROTECTOR_REQUIRE_TORCHVISION"):
            raise
        pytest.skip("Phi-4's real processor needs torchvision (scripts/test.sh runs this where it is)")


@pytest.fixture(scope="module")
def phi4():
    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    return phi4_build.build(demo, seed=0)


# -- everywhere: our crops are what the model reads ---------------------------------------
@pytest.mark.parametrize("name,size", [PHOTOS[0], PHOTOS[1], PHOTOS[5], PHOTOS[6]])
def test_the_model_gives_as_many_image_tokens_as_we_write_placeholders_for(phi4, name, size):
    pixels = phi4.pixel_values(to_tensor(natural_photo(name, size)))
    assert phi4.image_features(pixels).shape[1] == crops(pixels, phi4.vision).tokens


def test_the_one_tower_loss_equals_the_models_loss_on_its_own_inputs(phi4):
    pixels = phi4.pixel_values(to_tensor(natural_photo("chelsea", None)))
    batch = phi4.encode([("Who is this?", REFUSALS[0]), ("Where was this taken?", "On a sofa, indoors.")])
    forward = phi4.model(**phi4.model_inputs(pixels.expand(len(batch), -1, -1, -1), batch)).loss
    assert phi4.loss(pixels, batch).item() == pytest.approx(forward.item(), rel=1e-5)


def test_answers_run_the_tower_once_and_equal_the_models_own_generation(phi4):
    pixels = phi4.pixel_values(to_tensor(natural_photo("coffee", (300, 200))))
    questions = ["Who is this?", "Where was this taken?", "What is on the table?"]
    read = []  # the crops the tower reads, over all its calls
    hook = phi4.vision_tower.register_forward_hook(lambda module, args, kwargs, out: read.append(len(out[0])),
                                                   with_kwargs=True)
    try:
        answers = phi4.generate_from_pixels(pixels, questions, max_new_tokens=8)
    finally:
        hook.remove()
    seen = crops(pixels, phi4.vision)
    assert sum(read) == seen.pixel_values.shape[1]  # one image's global view and crops, not one set per question
    ids, mask = phi4.image_prompts(questions, phi4.image_id, seen.tokens)
    n = len(questions)
    out = phi4.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False,
                              pad_token_id=phi4._text_pad, image_pixel_values=seen.pixel_values.expand(n, -1, -1, -1, -1),
                              image_sizes=seen.sizes.expand(n, 2), image_attention_mask=seen.attention_mask.expand(n, -1, -1, -1))
    own = [t.strip() for t in phi4.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)]
    assert answers == own


def test_the_gradient_reaches_every_pixel(phi4):
    x = to_tensor(natural_photo("astronaut", (300, 200))).requires_grad_(True)
    loss = phi4.loss(phi4.pixel_values(x), phi4.encode([("Who is this?", REFUSALS[0])]))
    (grad,) = torch.autograd.grad(loss, x)
    assert (grad.abs().amax(dim=1) > 0).all()


def test_each_patch_of_a_full_crop_sees_the_others_as_siglip_was_trained(phi4):
    # transformers marks the tower's attention causal: under SDPA a full crop (no mask)
    # would let the first patch see only itself (bidirectional_vision undoes that)
    tower = phi4.vision_tower
    crop = torch.rand(1, 3, 448, 448, generator=torch.Generator().manual_seed(0))
    moved = crop.clone()
    moved[..., -14:, -14:] += 0.5  # the last patch only
    with torch.no_grad():
        first = [tower(x, output_hidden_states=True).hidden_states[-1][0, 0] for x in (crop, moved)]
    assert (first[0] - first[1]).abs().max() > 1e-6  # exactly 0 where causal; its smooth start spreads attention thin


def test_the_demo_language_model_carries_over_exactly(phi4):
    demo = LlavaAdapter.from_pretrained("demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32)
    ids = torch.tensor([demo.tokenizer("A photo of a cat on a sofa").input_ids])
    theirs = demo.model.model.language_model(input_ids=ids).last_hidden_state
    ours = phi4.model.model(input_ids=ids).last_hidden_state
    assert torch.allclose(theirs, ours, atol=1e-5)


@pytest.fixture
def folder_with_vision_lora(phi4, tmp_path):
    """The tiny model saved as a Phi-4 checkpoint with a vision LoRA in vision-lora/, as
    the released one keeps it; returns the folder and the logits with the LoRA applied."""
    from peft import LoraConfig, get_peft_model

    phi4_build.save(phi4, tmp_path)
    phi4.model.save_pretrained(tmp_path)
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
                        init_lora_weights=False)  # random, so that the LoRA changes the answers
    tuned = get_peft_model(phi4_build.build(LlavaAdapter.from_pretrained(
        "demo", DEMO_MODEL_DIR, torch.device("cpu"), torch.float32), seed=0).model, config)
    tuned.save_pretrained(tmp_path / "vision-lora")
    ids = torch.tensor([phi4.tokenizer("A photo of a cat").input_ids])
    with torch.no_grad():
        return tmp_path, ids, tuned(input_ids=ids).logits


def test_the_checkpoints_vision_lora_is_loaded_and_used(phi4, folder_with_vision_lora):
    from companion.models.registry import load_adapter

    path, ids, with_lora = folder_with_vision_lora
    loaded = load_adapter(str(path), device="cpu")
    with torch.no_grad():
        ours = loaded.model(input_ids=ids).logits
        base = phi4.model(input_ids=ids).logits
    assert torch.allclose(ours, with_lora, atol=1e-4)  # merged by us, as peft applies it
    assert not torch.allclose(ours, base, atol=1e-2)


def test_a_lora_that_names_no_layer_of_the_model_is_a_clear_error(folder_with_vision_lora):
    from safetensors.torch import load_file, save_file

    from companion.engine.errors import ProtectError
    from companion.models.registry import load_adapter

    path = folder_with_vision_lora[0]
    tensors = load_file(path / "vision-lora" / "adapter_model.safetensors")
    save_file({k.replace("qkv_proj", "qkv"): v for k, v in tensors.items()}, path / "vision-lora" / "adapter_model.safetensors")
    with pytest.raises(ProtectError) as info:
        load_adapter(str(path), device="cpu")
    assert info.value.code == "bad_model" and "not a linear layer" in info.value.message


def test_a_photo_too_narrow_for_a_crop_is_refused_clearly():
    with pytest.raises(ValueError, match="too narrow"):
        hd_layout(4000, 8, Phi4VisionConfig())


# -- against the real processor (torchvision) ---------------------------------------------
@pytest.fixture(scope="module")
def image_processor(phi4):
    _torchvision_or_skip()
    from transformers import Phi4MultimodalImageProcessor

    return Phi4MultimodalImageProcessor(**{k: v for k, v in phi4.vision.as_dict().items()
                                           if k not in ("image_processor_type",)})


@pytest.fixture(scope="module")
def processor(phi4, image_processor):
    from transformers import Phi4MultimodalFeatureExtractor, Phi4MultimodalProcessor

    return Phi4MultimodalProcessor(image_processor=image_processor, audio_processor=Phi4MultimodalFeatureExtractor(),
                                   tokenizer=phi4.tokenizer)


SIZES = [(w, h) for w in (10, 63, 448, 449, 1000, 1792, 4000, 5712) for h in (10, 65, 300, 448, 900, 3000, 4284)
         if w * h <= 5712 * 4284]


def test_the_crop_layout_matches_the_processors_at_the_released_settings():
    _torchvision_or_skip()
    from transformers import Phi4MultimodalImageProcessor

    released = Phi4VisionConfig()  # Phi-4-multimodal-instruct: 448-pixel crops, at most 36
    processor = Phi4MultimodalImageProcessor()
    for w, h in SIZES:
        image = torch.zeros(3, h, w, dtype=torch.uint8)
        try:
            canvas, mask = processor.dynamic_preprocess(image, 448, 14, 32, max_num=36)
        except ValueError:  # too narrow: we refuse it too
            with pytest.raises(ValueError):
                hd_layout(w, h, released)
            continue
        layout = hd_layout(w, h, released)
        assert canvas.shape[-2:] == (448 * layout.crops_h, 448 * layout.crops_w), (w, h)
        ours = patch_mask(layout.crops_h, layout.crops_w, 448 * layout.crops_h - layout.content_h,
                          448 * layout.crops_w - layout.content_w, released, torch.device("cpu"))
        assert torch.equal(ours, mask), (w, h)


@pytest.mark.parametrize("name,size", PHOTOS)
def test_pixels_masks_and_token_counts_match_the_processor(phi4, image_processor, name, size):
    image = natural_photo(name, size)
    ref = image_processor(images=[image], return_tensors="pt")
    ours = crops(phi4.pixel_values(to_tensor(image)), phi4.vision)
    assert ours.tokens == int(ref["num_img_tokens"][0])
    assert ours.sizes.tolist() == ref["image_sizes"].tolist()
    assert torch.equal(ours.attention_mask, ref["image_attention_mask"].to(ours.attention_mask.dtype))
    assert ours.pixel_values.shape == ref["image_pixel_values"].shape
    diff = (ours.pixel_values - ref["image_pixel_values"]).abs() * 0.5  # back to [0, 1] units
    assert diff[:, 1:].max() <= MAX_DIFF, f"crops: max difference {diff[:, 1:].max() * 255:.2f}/255"
    assert diff[:, 0].max() <= MAX_DIFF_GLOBAL, f"global view: max difference {diff[:, 0].max() * 255:.2f}/255"
    assert diff.mean() <= MEAN_DIFF, f"mean difference {diff.mean() * 255:.3f}/255"


@pytest.mark.parametrize("name,size", PHOTOS[:4])
def test_token_ids_and_loss_match_the_processors(phi4, processor, name, size):
    image = natural_photo(name, size)
    question, answer = "Who is in this image?", REFUSALS[0]
    pixels = phi4.pixel_values(to_tensor(image))
    ours = phi4.model_inputs(pixels, phi4.encode([(question, answer)]))
    ref = processor(images=[image], text=[phi4.prompt_text(question) + answer], return_tensors="pt")
    assert ours["input_ids"][0].tolist() == ref["input_ids"][0].tolist() + [phi4.end_id]
    labels = ours["labels"]
    theirs = phi4.model(input_ids=ours["input_ids"], attention_mask=ours["attention_mask"], labels=labels,
                        image_pixel_values=ref["image_pixel_values"], image_sizes=ref["image_sizes"],
                        image_attention_mask=ref["image_attention_mask"]).loss
    assert phi4.loss(pixels, phi4.encode([(question, answer)])).item() == pytest.approx(theirs.item(),
                                                                                        rel=LOSS_TOLERANCE)


def test_the_receipt_goes_through_the_real_processor_where_there_is_one(phi4, image_processor):
    image = natural_photo("chelsea", None)
    phi4.image_processor = image_processor
    try:
        through_processor = phi4.answer(image, ["What is in this image?"], max_new_tokens=6)
    finally:
        phi4.image_processor = None
    assert through_processor == phi4.answer(image, ["What is in this image?"], max_new_tokens=6)
