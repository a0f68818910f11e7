"""Tiny, randomly initialised FLUX components built from config, fully offline (for tests).

Same classes as FLUX.1-dev (``FluxTransformer2DModel``, ``AutoencoderKL``, CLIP and T5 text encoders,
``FlowMatchEulerDiscreteScheduler``) at toy sizes, plus word-level tokenizers built in memory with
the ``tokenizers`` library from the vocabulary of the released prompts. Deterministic by seed.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["TINY_DEFAULTS", "build_tiny_pipeline"]

TINY_DEFAULTS: dict[str, Any] = {
    "dim_head": 8,
    "heads": 2,
    "double_layers": 1,
    "single_layers": 1,
    "latent_channels": 4,
    "vae_channels": [8, 16],
    "text_dim": 16,
    "max_sequence_length": 16,
    "seed": 0,
}

_WORDS = "a sharp photo with everything in focus an excellent large aperture".split()


def _word_tokenizer(max_length: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for word in _WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        model_max_length=max_length,
    ), len(vocab)


def build_tiny_pipeline(**overrides: Any):
    """A ``FluxPipeline`` with toy-sized random components (keys of :data:`TINY_DEFAULTS`).

    The components are initialised in a fixed order after ``torch.manual_seed(seed)``: transformer,
    VAE, CLIP text encoder, T5 encoder; the same ``overrides`` give the same weights.
    """
    from diffusers import FluxPipeline

    c = {**TINY_DEFAULTS, **overrides}
    torch.manual_seed(int(c["seed"]))
    transformer = _tiny_transformer(c)
    vae = _tiny_vae(c)
    tokenizer, vocab = _word_tokenizer(c["max_sequence_length"])
    tokenizer_2, _ = _word_tokenizer(c["max_sequence_length"])
    clip, t5 = _tiny_text_encoders(c, vocab)
    pipe = FluxPipeline(
        scheduler=_tiny_scheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=tokenizer,
        text_encoder_2=t5,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    for m in (transformer, vae, clip, t5):
        m.eval()
    return pipe


def _tiny_transformer(c: dict[str, Any]):
    """A ``FluxTransformer2DModel`` of ``double_layers`` + ``single_layers`` blocks; rope axes sum to ``dim_head``."""
    from diffusers import FluxTransformer2DModel

    n_rope = c["dim_head"] // 4 * 2  # rope axes (id, row, col) must sum to dim_head
    axes = (c["dim_head"] - 2 * n_rope, n_rope, n_rope)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * c["latent_channels"],
        num_layers=c["double_layers"],
        num_single_layers=c["single_layers"],
        attention_head_dim=c["dim_head"],
        num_attention_heads=c["heads"],
        joint_attention_dim=c["text_dim"],
        pooled_projection_dim=c["text_dim"],
        guidance_embeds=True,
        axes_dims_rope=axes,
    )


def _tiny_vae(c: dict[str, Any]):
    """An ``AutoencoderKL`` with ``latent_channels`` latents and one block per ``vae_channels`` entry."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=c["latent_channels"],
        block_out_channels=tuple(c["vae_channels"]),
        down_block_types=("DownEncoderBlock2D",) * len(c["vae_channels"]),
        up_block_types=("UpDecoderBlock2D",) * len(c["vae_channels"]),
        layers_per_block=1,
        norm_num_groups=4,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.1,
        scaling_factor=0.5,
    )


def _tiny_text_encoders(c: dict[str, Any], vocab: int):
    """One-layer CLIP and T5 text encoders of width ``text_dim`` over the word tokenizer's ``vocab``."""
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab,
            hidden_size=c["text_dim"],
            intermediate_size=2 * c["text_dim"],
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=c["max_sequence_length"],
            projection_dim=c["text_dim"],
            bos_token_id=2,
            eos_token_id=3,
            pad_token_id=0,
        )
    )
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=vocab,
            d_model=c["text_dim"],
            d_ff=2 * c["text_dim"],
            d_kv=8,
            num_layers=1,
            num_heads=2,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=3,
        )
    )
    return clip, t5


def _tiny_scheduler():
    """FLUX's flow-matching Euler scheduler with dynamic shifting, for 16..256-token images."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_image_seq_len=16,
        max_image_seq_len=256,
        base_shift=0.5,
        max_shift=1.15,
    )
