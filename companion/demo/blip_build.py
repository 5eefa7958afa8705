"""The untrained `demo-instructblip`: InstructBLIP's real architecture, shrunk, with the
demo's language model carried over (trained by companion/demo/families.py).

What is InstructBLIP's and stays so: BLIP-2's ViT on the whole frame squashed to a square
(no crop), the Q-Former (BERT layers whose learned queries cross-attend to the ViT's patches
and self-attend with the instruction), which reads the question in its own tokenizer (a
lower-cased WordPiece, as BERT's, trained here on the demo's text), the linear projection of
the queries into the language model, which gets them before the prompt, and the prompt as
the bare question (no chat template), as LAVIS gives Vicuna. The ViT starts as the demo's
CLIP tower (the same kind of layers), the language model as the demo's. What is shrunk: 128 px in 16 px
patches (the demo's), a 4-layer 128-wide ViT, a 2-layer 128-wide Q-Former with cross-attention
in every layer and 64 queries (the released models have 32; 64 is the demo's token count, so
the new tower can learn the demo's features query by query), and the demo's 4-layer 160-wide
Llama, carried over exactly (it is Vicuna's architecture).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertTokenizerFast,
    InstructBlipConfig,
    InstructBlipForConditionalGeneration,
    InstructBlipProcessor,
    PreTrainedTokenizerFast,
)
from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

from companion.demo.reading_train import corpus
from companion.models.instructblip import InstructBlipAdapter
from companion.models.llava import LlavaAdapter

IMAGE_SIZE, PATCH = 128, 16
QUERIES = 64
QFORMER_VOCAB = 512
QFORMER_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
#: OpenAI CLIP's normalisation, which BLIP-2's image processor uses
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


#: The Q-Former's tokenizer, made once by `train_qformer_tokenizer` (`python -m
#: companion.demo.families --new-qformer-tokenizer`) and kept: like the zoo's unigram
#: tokenizer, its trainer breaks ties in an order that changes from process to process (two
#: runs differ even in which pieces they keep), and the model trained on it changes with it.
QFORMER_TOKENIZER = Path(__file__).with_name("qformer_tokenizer.json")


def qformer_tokenizer(path: Path = QFORMER_TOKENIZER) -> BertTokenizerFast:
    """The kept Q-Former tokenizer, as transformers' BERT tokenizer."""
    return _bert(Tokenizer.from_file(str(path)))


def _bert(tok: Tokenizer) -> BertTokenizerFast:
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", do_lower_case=True, model_max_length=128)


def train_qformer_tokenizer() -> Tokenizer:
    """BERT's kind of tokenizer (lower-cased WordPiece, [CLS] ... [SEP]) on the demo's text."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=QFORMER_VOCAB, special_tokens=QFORMER_SPECIAL, show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def processor_from(demo: LlavaAdapter) -> InstructBlipProcessor:
    # The demo's tokenizer, without its `image_token` attribute: InstructBlipProcessor then
    # adds `<image>` itself (it is in the vocabulary already, so its id stays), as for Vicuna.
    backend = demo.tokenizer.backend_tokenizer
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend.__class__.from_str(backend.to_str()), bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>", padding_side="left",
                                        model_max_length=4096)
    image_processor = BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=MEAN,
                                            image_std=STD)
    return InstructBlipProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 qformer_tokenizer=qformer_tokenizer(), num_query_tokens=QUERIES)


def config(processor: InstructBlipProcessor, demo: LlavaAdapter) -> InstructBlipConfig:
    text = demo.model.config.text_config.to_dict()
    return InstructBlipConfig(
        # the demo's CLIP tower's sizes and activation, so its weights carry over (`_tower_from`)
        vision_config=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                           image_size=IMAGE_SIZE, patch_size=PATCH, initializer_range=0.02, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5),
        qformer_config=dict(vocab_size=len(processor.qformer_tokenizer), hidden_size=128, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=256, max_position_embeddings=128,
                            cross_attention_frequency=1, encoder_hidden_size=128,
                            pad_token_id=processor.qformer_tokenizer.pad_token_id),
        text_config=text, num_query_tokens=QUERIES,
        image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"))


def build(demo: LlavaAdapter, seed: int) -> InstructBlipAdapter:
    """The untrained model: a random Q-Former and projection; the demo's tower and language model."""
    torch.manual_seed(seed)
    processor = processor_from(demo)
    model = InstructBlipForConditionalGeneration(config(processor, demo))
    old = demo.model.state_dict()
    carried = {"language_model.model." + key[len("model.language_model."):]: value for key, value in old.items()
               if key.startswith("model.language_model.")}
    carried["language_model.lm_head.weight"] = old["lm_head.weight"]
    state = model.state_dict()
    missing = [key for key in carried if key not in state]
    if missing:
        raise KeyError(f"InstructBLIP's language model has no {missing[:3]}")
    state.update(carried)
    state.update(_tower_from(old, demo.model.config.vision_config.num_hidden_layers))
    model.load_state_dict(state)
    for name in ("pad_token_id", "eos_token_id", "bos_token_id"):
        setattr(model.generation_config, name, getattr(demo.tokenizer, name))
    return InstructBlipAdapter("demo-instructblip", model, processor, torch.device("cpu"), torch.float32)


def _tower_from(old: dict, layers: int) -> dict:
    """The demo's CLIP tower as BLIP-2's ViT: the same layers (q, k and v fused into one
    projection), embeddings and final norm. CLIP's extra layer norm before the first layer
    has no place in BLIP's ViT and is left out, so the tower starts near the demo's, not at
    it; distillation closes the gap (from random weights, the first build's distillation
    stalled at 5 times Qwen's error and its model never learned to read)."""
    src, dst = "model.vision_tower.", "vision_model."
    out = {
        dst + "embeddings.patch_embedding.weight": old[src + "embeddings.patch_embedding.weight"],
        dst + "embeddings.patch_embedding.bias": torch.zeros(old[src + "embeddings.patch_embedding.weight"].shape[0]),
        dst + "embeddings.class_embedding": old[src + "embeddings.class_embedding"].view(1, 1, -1),
        dst + "embeddings.position_embedding": old[src + "embeddings.position_embedding.weight"].unsqueeze(0),
        dst + "post_layernorm.weight": old[src + "post_layernorm.weight"],
        dst + "post_layernorm.bias": old[src + "post_layernorm.bias"],
    }
    for i in range(layers):
        a, b = f"{src}encoder.layers.{i}.", f"{dst}encoder.layers.{i}."
        for kind in ("weight", "bias"):
            out[b + f"self_attn.qkv.{kind}"] = torch.cat([old[a + f"self_attn.{x}_proj.{kind}"] for x in "qkv"])
            out[b + f"self_attn.projection.{kind}"] = old[a + f"self_attn.out_proj.{kind}"]
            for name in ("layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"):
                out[b + f"{name}.{kind}"] = old[a + f"{name}.{kind}"]
    return out


def save(adapter: InstructBlipAdapter, out_dir: Path) -> None:
    """The processor (image processor, tokenizer, Q-Former tokenizer), as a checkpoint holds it."""
    adapter.processor.save_pretrained(out_dir)


def load(name: str, path: Path) -> InstructBlipAdapter:
    return InstructBlipAdapter.from_pretrained(name, path, torch.device("cpu"), torch.float32)
