"""Weights resting in host memory between turns: the rule, the moves, and the engine
keeping every use of a model (forward, backward, answers) inside its own turn."""

from __future__ import annotations

import pytest
import torch

from companion.engine.attack import AttackConfig, ImageProtector
from companion.engine.imageio import to_tensor
from companion.engine.receipt import ask
from companion.models.offload import MODES, SHARE, HostWeights, needs_offload
from companion.models.registry import load_adapter, locate, weight_size
from tests.conftest import natural_photo

GIB = 2**30
CUDA = torch.device("cuda:0")


def test_the_rule_offloads_only_several_models_too_big_for_one_gpu_together():
    capacity = 80 * GIB
    big = int(SHARE * capacity / 2) + 1
    assert needs_offload([big, big], [CUDA, CUDA], capacity)
    assert not needs_offload([big, big - 2], [CUDA, CUDA], capacity)
    assert not needs_offload([3 * capacity], [CUDA], capacity)  # one model: nothing to take turns with
    assert not needs_offload([big, big], [torch.device("cuda:0"), torch.device("cuda:1")], capacity)  # a GPU each
    assert not needs_offload([big, big], [torch.device("cpu")] * 2, capacity)


def test_the_user_may_always_or_never_offload_an_ensemble_on_one_gpu():
    capacity, small, big = 80 * GIB, GIB, 80 * GIB
    assert needs_offload([small, small], [CUDA, CUDA], capacity, mode="always")
    assert not needs_offload([big, big], [CUDA, CUDA], capacity, mode="never")
    # still nothing to take turns with, or no GPU to make room on
    assert not needs_offload([small], [CUDA], capacity, mode="always")
    assert not needs_offload([small, small], [torch.device("cpu")] * 2, capacity, mode="always")
    with pytest.raises(ValueError, match="auto, always, never"):
        needs_offload([small, small], [CUDA, CUDA], capacity, mode="sometimes")


def test_the_config_offers_the_rules_modes():
    from companion.server.config import OFFLOAD_MODES  # written out there so that the native host never imports torch

    assert OFFLOAD_MODES == MODES


def test_weight_size_reads_the_safetensors_headers_as_bfloat16():
    adapter = load_adapter("demo", device="cpu")
    params = sum(t.numel() for t in adapter.model.state_dict().values())
    tied = adapter.model.config.get_text_config().tie_word_embeddings
    assert not tied
    assert weight_size(locate("demo").path) == 2 * params


class _Tied(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3)
        self.head = torch.nn.Linear(3, 5, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("scale", torch.tensor([2.0, 3.0]))


def test_host_weights_move_in_for_a_turn_and_out_after_it_tied_weights_staying_tied():
    model = _Tied()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    host = HostWeights(model, torch.device("meta"))  # meta: a device that is not the host
    assert all(t.device.type == "cpu" for t in (*model.parameters(), *model.buffers()))
    with host.turn():
        assert host.resident
        assert all(t.device.type == "meta" for t in (*model.parameters(), *model.buffers()))
        assert model.head.weight is model.embed.weight
        with host.turn():  # re-entrant: an inner turn does not send the weights out
            pass
        assert model.embed.weight.device.type == "meta"
    assert not host.resident
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.head.weight is model.embed.weight


@pytest.fixture()
def offloaded_pair():
    """Two tiny models as an offloaded ensemble: their weights rest in host memory between turns."""
    adapters = [load_adapter("demo", device="cpu"), load_adapter("demo-face", device="cpu")]
    for adapter in adapters:
        adapter.host_weights = HostWeights(adapter.model, adapter.device)
    return adapters


def _spy_on_turns(adapters, seen):
    """Record, at each model's forward and at its backward, which models' weights are in."""
    for adapter in adapters:
        own_loss, own_generate = adapter.loss, adapter.generate_from_pixels

        def loss(pixels, batch, adapter=adapter, own_loss=own_loss):
            out = own_loss(pixels, batch)
            seen.append((adapter.name, "forward", [a.name for a in adapters if a.host_weights.resident]))
            if out.requires_grad:  # the attack's step (choosing targets asks without gradients)
                out.register_hook(lambda grad, name=adapter.name: seen.append(
                    (name, "backward", [a.name for a in adapters if a.host_weights.resident])))
            return out

        def generate(*args, adapter=adapter, own_generate=own_generate, **kwargs):
            seen.append((adapter.name, "answer", [a.name for a in adapters if a.host_weights.resident]))
            return own_generate(*args, **kwargs)

        adapter.loss, adapter.generate_from_pixels = loss, generate


def test_each_model_runs_forward_backward_and_checks_inside_its_own_turn_and_the_result_is_unchanged(offloaded_pair):
    image = to_tensor(natural_photo("coffee", (96, 72)))
    config = AttackConfig(steps=3, check_every=2, seed=3)
    plain = ImageProtector([load_adapter("demo", device="cpu"), load_adapter("demo-face", device="cpu")],
                           config).perturb(image).image
    seen = []
    _spy_on_turns(offloaded_pair, seen)
    result = ImageProtector(offloaded_pair, config).perturb(image).image
    assert torch.equal(result, plain)
    assert {(name, kind) for name, kind, _ in seen} >= {(n, k) for n in ("demo", "demo-face")
                                                        for k in ("forward", "backward", "answer")}
    assert all(resident == [name] for name, _, resident in seen)  # its own weights in, and only its own
    assert not any(a.host_weights.resident for a in offloaded_pair)


def test_the_receipt_asks_each_model_inside_its_turn(offloaded_pair):
    answered = []
    for adapter in offloaded_pair:
        own = adapter.answer

        def answer(image, questions, adapter=adapter, own=own):
            answered.append([a.name for a in offloaded_pair if a.host_weights.resident])
            return own(image, questions)

        adapter.answer = answer
    receipts = ask(natural_photo("coffee", (96, 72)), offloaded_pair, ["What is in this photo?"])
    assert [r.model for r in receipts] == ["demo", "demo-face"]
    assert answered == [["demo"], ["demo-face"]]
