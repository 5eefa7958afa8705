"""How the tiny Phi-4 model's tower comes to see what the demo's sees: the demo's own layers
behind four layers that gather each of its 16-pixel patches out of Phi-4's 14-pixel ones.

A scene of 128 pixels is one 448-pixel crop to Phi-4, so one Phi-4 patch covers 4 x 4 of
the scene's pixels, and one of the demo's 16-pixel patches is a block of 4 x 4 Phi-4
patches. The demo's patch embedding of a block needs all 16 of them (its weight is spread
over its 4-pixel sub-blocks: benchmarks/feature_locality.py), and learned attention did
not find the way (distilled towers stood at 0.30 of the features' variance, and read
nothing). So the way is built in: the tower is the demo's shape (128 wide, 4 heads) and
its last four layers are the demo's own CLIP layers (`carry_tower`; CLIP's and SigLIP's
layers are the same computation); before them, four gathering layers, in which head h of
layer l attends, from every patch, to the patch at place 4 l + h of its own block. Their
queries and keys are fixed (`gathering_start`): the position embedding writes a code of
each patch's block and place into the last `CODE_DIMS` dimensions (and its negative beside
it, so that the keys read differences and LayerNorm's mean falls out), the keys read it,
and the queries ask for their own block and one place. What is learned
(`train_gathering`) is the rest: the patch embedding and what each head carries, so that
after the four layers every patch of a block holds the demo's embedding of that block
(`demo_patch_embedding`). The demo's layers then run on 16 copies of each of its tokens,
which attention weighs as one, and the 2 x 2 pooling gives the demo's features spread.
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from companion.demo.zoo import Pools
from companion.models.llava import LlavaAdapter
from companion.models.phi4_multimodal import Phi4MultimodalAdapter

GATHER_LAYERS = 4
BLOCK = 4  # Phi-4 patches a side of one of the demo's patches (16 px of the scene / 4 px)
BLOCK_FREQS = (1 / 16, 1 / 8, 1 / 4)  # waves over the 8 blocks a side (and cos(pi b) beside them)
PLACE_FREQS = (1 / 8, 1 / 4)  # waves over the 4 places a side in a block (and cos(pi p))
CODE_SCALE = 3.0
#: the score, in logits, of the right patch (+) and of the best wrong one (-), at the codes' own
#: spread (content beside them in a patch shrinks both, never changes their signs). Large, so
#: that the wrong patches' weights are exactly 0: at 40, where they are tiny floats instead,
#: a gathering step took 4 to 5 times as long on the CPU
MARGIN = 200.0


def _waves(index: torch.Tensor, freqs: tuple[float, ...]) -> torch.Tensor:
    """cos and sin of each frequency, then cos(pi i): (n, 2 len(freqs) + 1)."""
    angles = 2 * math.pi * index[:, None] * torch.tensor(freqs)
    return torch.cat([angles.cos(), angles.sin(), torch.cos(math.pi * index)[:, None]], 1)


def codes(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each patch's block code and place code, (side*side, n) each, rows in the tower's order."""
    i = torch.arange(side, dtype=torch.float)
    block, place = _waves(torch.div(i, BLOCK, rounding_mode="floor"), BLOCK_FREQS), _waves(i % BLOCK, PLACE_FREQS)
    rows = lambda t: t[:, None, :].expand(side, side, -1).reshape(side * side, -1)  # noqa: E731
    cols = lambda t: t[None, :, :].expand(side, side, -1).reshape(side * side, -1)  # noqa: E731
    return torch.cat([rows(block), cols(block)], 1), torch.cat([rows(place), cols(place)], 1)


def code_dims(side: int) -> int:
    """How many dimensions the codes take: block, place and a constant, each with its negative."""
    block, place = codes(side)
    return 2 * (block.shape[1] + place.shape[1] + 1)


def _layers(adapter: Phi4MultimodalAdapter):
    return adapter.vision_tower.encoder.layers


def _side(adapter: Phi4MultimodalAdapter) -> int:
    return adapter.vision_tower.config.image_size // adapter.vision_tower.config.patch_size


def gathering_start(adapter: Phi4MultimodalAdapter) -> None:
    """Write the codes into the position embedding and fix each gathering head's query and
    key on them: head h of layer l prefers, from every patch, the patch at place 4 l + h of
    its own block.

    LayerNorm divides each patch by its own spread, which the patch's content sets, so a
    key's code reaches the head scaled by an amount the head cannot know. The score is
    therefore built to put the right patch above zero and every other below, whatever the
    scales: query and key read only what LayerNorm leaves of the codes and of a constant,
    so their product is one fixed score of the two positions over both spreads,
    S = g_b (block . block') + g_p (place wanted . place') - g_c, with g_c between the right
    patch's match and the best wrong one's. S is +-MARGIN logits at the codes' own spread."""
    tower, side = adapter.vision_tower, _side(adapter)
    width, heads = tower.config.hidden_size, tower.config.num_attention_heads
    head_dim = width // heads
    block, place = codes(side)
    nb, n_place = block.shape[1], place.shape[1]
    n = nb + n_place + 1
    code = CODE_SCALE * torch.cat([block, place, torch.ones(side * side, 1)], 1)
    start = _code_start(adapter)  # the codes, then their negatives, fill the last 2n dimensions
    if head_dim < n or start < 0:
        raise ValueError(f"a tower {width} wide with {heads} heads has no room for codes of {n}")
    with torch.no_grad():
        pos = torch.zeros(side * side, width)
        pos[:, start:start + n], pos[:, start + n:] = code, -code
        tower.embeddings.position_embedding.weight.copy_(pos)
        for param in _code_writers(adapter):
            param[start:].zero_()
        # a slot reads (code - negative) / 2: the code over LayerNorm's spread, its mean gone
        reader = torch.zeros(n, width)
        reader[:, start:start + n] = 0.5 * torch.eye(n)
        reader[:, start + n:] = -0.5 * torch.eye(n)
        block_gap, place_gap = _least_gap(block), _least_gap(place)
        own_block, own_place = float(block[0] @ block[0]), float(place[0] @ place[0])
        # unit score margin d: the right patch scores +d, a wrong place or a wrong block -d or less
        g_b, g_p = 2 / block_gap, 2 / place_gap
        g_c = g_b * own_block + g_p * own_place - 1
        spread = float(pos.pow(2).mean(1).sqrt().mean())  # what LayerNorm divides the codes alone by
        gain = MARGIN * spread ** 2 / (CODE_SCALE ** 2 * head_dim ** -0.5)
        for index, layer in enumerate(_layers(adapter)[:GATHER_LAYERS]):
            layer.layer_norm1.reset_parameters()
            attn = layer.self_attn
            for proj in (attn.q_proj, attn.k_proj):
                proj.weight.zero_(), proj.bias.zero_()
            for h in range(heads):
                at = h * head_dim
                attn.k_proj.weight[at:at + n] = reader
                target = index * heads + h  # the place this head gathers: row target // 4, column target % 4
                wanted = place[(target // BLOCK) * side + target % BLOCK]
                attn.q_proj.weight[at:at + nb] = gain * g_b * reader[:nb]
                # the place wanted and the constant, both carried by the constant's slot
                attn.q_proj.weight[at + nb:at + nb + n_place] = gain * g_p * wanted[:, None] * reader[n - 1]
                attn.q_proj.weight[at + n - 1] = -gain * g_c * reader[n - 1]


def _least_gap(code: torch.Tensor) -> float:
    """How much less than a code's match with itself its best match with another code is."""
    distinct = torch.unique(code, dim=0)
    match = distinct @ distinct.T
    own = match.diag()
    other = match - torch.eye(len(distinct)) * 1e9
    return float((own - other.max(1).values).min())


def _code_writers(adapter: Phi4MultimodalAdapter) -> list[torch.nn.Parameter]:
    """What writes into the codes' dimensions before the last gathering layer reads them:
    the patch embedding and the first gathering layers' outputs. Their rows for those
    dimensions start and stay zero (`_clean_codes`), so that every gathering layer finds
    the codes as written; the last layer's outputs are free, to leave there what the
    demo's layers expect."""
    patch = adapter.vision_tower.embeddings.patch_embedding
    params = [patch.weight, patch.bias]
    for layer in _layers(adapter)[:GATHER_LAYERS - 1]:
        for out in (layer.self_attn.out_proj, layer.mlp.fc2):
            params += [out.weight, out.bias]
    return params


def _code_start(adapter: Phi4MultimodalAdapter) -> int:
    return adapter.vision_tower.config.hidden_size - code_dims(_side(adapter))


def _clean_codes(adapter: Phi4MultimodalAdapter) -> list:
    """Zero every gradient `_code_writers` would write into the codes with; returns the hooks' handles."""
    start = _code_start(adapter)

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[start:] = 0
        return grad

    return [p.register_hook(hook) for p in _code_writers(adapter)]


def gathering_params(adapter: Phi4MultimodalAdapter) -> list[torch.nn.Parameter]:
    """What the gathering stage learns: the patch embedding, and in each gathering layer all
    but the fixed queries, keys and first LayerNorm (the position embedding stays too)."""
    tower = adapter.vision_tower
    params = list(tower.embeddings.patch_embedding.parameters())
    for layer in _layers(adapter)[:GATHER_LAYERS]:
        attn = layer.self_attn
        params += [*attn.v_proj.parameters(), *attn.out_proj.parameters(), *layer.layer_norm2.parameters(),
                   *layer.mlp.parameters()]
    return params


def _crop(adapter: Phi4MultimodalAdapter, pixel_values: torch.Tensor) -> torch.Tensor:
    seen = adapter._crops(pixel_values)
    if seen.pixel_values.shape[1] != 2:
        raise ValueError(f"the gathering expects one crop of a square scene, got {seen.pixel_values.shape[1] - 1}")
    return seen.pixel_values[:, 1]


def _blocks(hidden: torch.Tensor, side: int) -> torch.Tensor:
    """(B, side*side, w) in the tower's order -> (B * blocks, BLOCK*BLOCK, w), one row per block."""
    b, _, width = hidden.shape
    g = side // BLOCK
    return hidden.reshape(b, g, BLOCK, g, BLOCK, width).permute(0, 1, 3, 2, 4, 5).reshape(b * g * g, BLOCK * BLOCK, width)


def _unblocks(hidden: torch.Tensor, side: int) -> torch.Tensor:
    g = side // BLOCK
    width = hidden.shape[-1]
    b = hidden.shape[0] // (g * g)
    return hidden.reshape(b, g, g, BLOCK, BLOCK, width).permute(0, 1, 3, 2, 4, 5).reshape(b, side * side, width)


def gathered(adapter: Phi4MultimodalAdapter, pixel_values: torch.Tensor, local: bool = False) -> torch.Tensor:
    """(B, patches, width): a square scene's crop after the gathering layers. `local` runs
    each layer's attention within each block only: what the fixed queries and keys give
    (every head prefers a patch of its own block by MARGIN logits or more), for about
    1/64 of the attention's work (tests/demo/test_phi4_gathering.py compares the two)."""
    tower, side = adapter.vision_tower, _side(adapter)
    hidden = tower.embeddings(_crop(adapter, pixel_values), _full_mask(adapter, pixel_values))
    if local:
        hidden = _blocks(hidden, side)
    for layer in _layers(adapter)[:GATHER_LAYERS]:
        hidden = layer(hidden, None)
    return _unblocks(hidden, side) if local else hidden


def _full_mask(adapter: Phi4MultimodalAdapter, pixel_values: torch.Tensor) -> torch.Tensor:
    side = _side(adapter)
    return torch.ones(pixel_values.shape[0], side, side, dtype=torch.bool, device=pixel_values.device)


def gathering_attention(adapter: Phi4MultimodalAdapter, pixel_values: torch.Tensor, layer: int) -> torch.Tensor:
    """(B, heads, patches, patches): the attention of gathering layer `layer` on a square scene."""
    tower = adapter.vision_tower
    hidden = tower.embeddings(_crop(adapter, pixel_values), _full_mask(adapter, pixel_values))
    for before in _layers(adapter)[:layer]:
        hidden = before(hidden, None)
    this = _layers(adapter)[layer]
    normed = this.layer_norm1(hidden)
    b, n, width = normed.shape
    heads = tower.config.num_attention_heads
    q = this.self_attn.q_proj(normed).view(b, n, heads, -1).transpose(1, 2)
    k = this.self_attn.k_proj(normed).view(b, n, heads, -1).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) * this.self_attn.scaling, -1)


def gathering_targets(side: int, layer: int, heads: int) -> torch.Tensor:
    """(heads, patches): the patch each head of gathering layer `layer` should attend to."""
    r, c = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    out = []
    for h in range(heads):
        target = layer * heads + h
        out.append(((r - r % BLOCK + target // BLOCK) * side + (c - c % BLOCK + target % BLOCK)).reshape(-1))
    return torch.stack(out)


def demo_patch_embedding(demo: LlavaAdapter, scenes: torch.Tensor, side: int) -> torch.Tensor:
    """(B, side*side, width): what the demo's first layer reads for each of its patches (its
    patch and position embeddings after CLIP's first LayerNorm, the class token left out),
    given to every Phi-4 patch of that patch's block."""
    vision = demo.model.model.vision_tower
    tokens = vision.pre_layrnorm(vision.embeddings(demo.pixel_values(scenes)))[:, 1:]
    b, n, width = tokens.shape
    grid = int(n ** 0.5)
    if grid * BLOCK != side:
        raise ValueError(f"the demo's {grid} x {grid} patches are not blocks of {BLOCK} of {side} x {side}")
    spread = tokens.reshape(b, grid, 1, grid, 1, width).expand(b, grid, BLOCK, grid, BLOCK, width)
    return spread.reshape(b, side * side, width)


def carry_tower(adapter: Phi4MultimodalAdapter, demo: LlavaAdapter) -> None:
    """The demo's CLIP layers into the tower's last layers, and its projector into Phi-4's
    (its two linear layers around a GELU, as Phi-4's are)."""
    ours = _layers(adapter)
    theirs = demo.model.model.vision_tower.encoder.layers
    if len(ours) != GATHER_LAYERS + len(theirs):
        raise ValueError(f"the tower has {len(ours)} layers, not {GATHER_LAYERS} + the demo's {len(theirs)}")
    for mine, source in zip(ours[GATHER_LAYERS:], theirs):
        mine.load_state_dict(source.state_dict())
    embed = adapter.model.model.embed_tokens_extend.image_embed
    projector = demo.model.model.multi_modal_projector
    embed.img_projection_up.load_state_dict(projector.linear_1.state_dict())
    embed.img_projection_down.load_state_dict(projector.linear_2.state_dict())


def train_gathering(adapter: Phi4MultimodalAdapter, demo: LlavaAdapter, pools: Pools, steps: int, lr: float,
                    rng: random.Random, batch: int = 16) -> float:
    """Teach the patch embedding and the gathering layers to hand the demo's layers the
    demo's patch embedding (mean squared error over every patch); returns the last loss."""
    from companion.demo.training import optimise

    side = _side(adapter)

    def batches():
        while True:
            pixels, _ = pools.scenes.batch(rng, batch)
            with torch.no_grad():
                target = demo_patch_embedding(demo, pixels, side)
            yield adapter.pixel_values(pixels), target

    def loss_fn(item) -> torch.Tensor:
        pixel_values, target = item
        return F.mse_loss(gathered(adapter, pixel_values, local=True), target)

    adapter.model.requires_grad_(False)
    params = gathering_params(adapter)
    for p in params:
        p.requires_grad_(True)
    handles = _clean_codes(adapter)
    try:
        return optimise(params, lr, steps, batches(), loss_fn, f"{adapter.name} gathering")
    finally:
        for handle in handles:
            handle.remove()
