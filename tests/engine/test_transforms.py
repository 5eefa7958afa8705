import torch
from PIL import Image

from companion.engine import transforms
from companion.engine.imageio import to_image, to_tensor
from tests.conftest import natural_photo


def test_shortest_edge_size_floors_the_long_edge_like_transformers():
    assert transforms.shortest_edge_size(3000, 4000, 336) == (336, 448)
    assert transforms.shortest_edge_size(1001, 700, 64) == (91, 64)


def test_center_crop_rounds_down():
    x = torch.arange(5 * 6).view(1, 1, 5, 6).float()
    assert transforms.center_crop(x, 2, 3)[0, 0, 0].tolist() == [7.0, 8.0, 9.0]


def test_resize_matches_pillow_bicubic():
    image = natural_photo("coffee")
    ours = to_image(transforms.resize_bicubic(to_tensor(image), 100, 150))
    ref = image.resize((150, 100), Image.BICUBIC)
    diff = (to_tensor(ours) - to_tensor(ref)).abs()
    assert diff.max() <= 1.5 / 255


def test_quantize_lands_on_the_8_bit_grid():
    q = transforms.quantize(torch.rand(1, 3, 8, 8) * 1.2 - 0.1)
    assert torch.equal(q, torch.round(q * 255) / 255) and q.min() >= 0 and q.max() <= 1
