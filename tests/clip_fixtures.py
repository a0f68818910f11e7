"""Tiny random CLIP models in the transformers folder layout, with a character-level tokenizer (offline)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")), len(vocab)


def tiny_clip(folder: Path, *, seed: int = 0, layers: int = 2, image_size: int = 32, save: bool = True):
    """A random ``CLIPModel`` (width 32, ``layers`` per tower) and its processor; saved to ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder.mkdir(parents=True, exist_ok=True)
    tok, n = _tokenizer(folder)
    torch.manual_seed(seed)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=2)
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=n,
            max_position_embeddings=77,
            bos_token_id=n - 2,
            eos_token_id=n - 1,
            pad_token_id=n - 1,
            **small,
        ),
        vision_config=dict(image_size=image_size, patch_size=8, **small),
        projection_dim=16,
    )
    model = CLIPModel(cfg).eval()
    with torch.no_grad():
        model.logit_scale.fill_(math.log(100.0))  # CLIP's trained value, as torchmetrics assumes
        # text embeddings close to one shared direction, so 100 * cos differences stay O(1) and the
        # CLIP-IQA probabilities are not saturated at 0 or 1 (random weights would saturate them)
        w = model.text_projection.weight
        w.copy_(torch.outer(torch.randn(w.shape[0]), torch.randn(w.shape[1])) + 0.02 * w)
    ip = CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    proc = CLIPProcessor(image_processor=ip, tokenizer=tok)
    if save:
        model.save_pretrained(str(folder))
        proc.save_pretrained(str(folder))
    return model, proc
