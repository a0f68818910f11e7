"""genrefocus.flux end to end on tiny random FLUX components (CPU, offline).

Checks the released conditioning scheme: conditions at timestep 0 with output-aligned position ids,
attention blocked between condition branches, LoRA on condition tokens only, the defocus-map
condition, released prompts/steps/guidance, tiling, K = 0, and LoRA file I/O.
"""

from __future__ import annotations

import pytest
import torch

from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.models import create_model
from refocus_bench.models.genrefocus.flux import pipeline as flux_pipeline
from refocus_bench.models.genrefocus.flux.lora import GatedLoRALinear, adapter_state, parse_lora_state, set_active
from refocus_bench.models.genrefocus.flux.pipeline import BOKEH, DEBLUR, PRE_DEBLUR
from refocus_bench.models.genrefocus.flux.transformer import (
    Branch,
    _double_block,
    branch_mask,
    latent_ids,
    multi_branch_forward,
)
from refocus_bench.optics import genrefocus_defocus_map


@pytest.fixture(scope="module")
def model():
    return create_model("genrefocus.flux", tiny={}, deblur_lora="random", bokeh_lora="random", steps=2)


@pytest.fixture(scope="module")
def prompt(model):
    return model.sampler.encode_prompt(DEBLUR.prompt)


def test_released_stage_settings():
    assert (DEBLUR.prompt, DEBLUR.steps, DEBLUR.guidance, DEBLUR.seed) == (
        "a sharp photo with everything in focus",
        28,
        3.5,
        42,
    )
    assert (BOKEH.prompt, BOKEH.steps, BOKEH.guidance, BOKEH.seed, BOKEH.generator_seed) == (
        "an excellent photo with a large aperture",
        28,
        1.0,
        42,
        1234,
    )
    assert (PRE_DEBLUR.prompt, PRE_DEBLUR.guidance, PRE_DEBLUR.adapter) == (DEBLUR.prompt, 3.5, "pre_deblur")


def test_without_conditions_the_forward_is_the_base_model_even_with_lora_active(model, prompt):
    tr = model.transformer
    emb, pooled, txt_ids = prompt
    lat = torch.randn(2, 16, tr.config.in_channels, generator=torch.Generator().manual_seed(0))
    ids, t, g = latent_ids(4, 4), torch.tensor([0.7]), torch.tensor([3.5])
    with torch.no_grad():
        set_active(tr, None)
        ref = tr(
            hidden_states=lat,
            encoder_hidden_states=emb.expand(2, -1, -1),
            pooled_projections=pooled.expand(2, -1),
            timestep=t.expand(2),
            img_ids=ids,
            txt_ids=txt_ids,
            guidance=g.expand(2),
        ).sample
        set_active(tr, "deblur")
        mine = multi_branch_forward(tr, lat, ids, [], emb.expand(2, -1, -1), txt_ids, pooled.expand(2, -1), t, g)
        set_active(tr, None)
    torch.testing.assert_close(mine, ref, atol=1e-5, rtol=0)


def test_lora_is_gated_to_condition_tokens(model, prompt, monkeypatch):
    tr = model.transformer
    emb, pooled, txt_ids = prompt
    seen = []
    original = GatedLoRALinear.forward

    def spy(self, x):
        if self.active is not None:
            g = self.gate
            seen.append(
                (x.shape[-2] if x.ndim == 3 else None, g.flatten().tolist() if isinstance(g, torch.Tensor) else g)
            )
        return original(self, x)

    monkeypatch.setattr(GatedLoRALinear, "forward", spy)
    lat = torch.randn(1, 16, tr.config.in_channels)
    cond = Branch(torch.randn(1, 16, tr.config.in_channels), latent_ids(4, 4))
    set_active(tr, "bokeh")
    with torch.no_grad():
        multi_branch_forward(
            tr, lat, latent_ids(4, 4), [cond], emb, txt_ids, pooled, torch.tensor([0.5]), torch.tensor([1.0])
        )
    set_active(tr, None)
    n_txt = emb.shape[1]
    token_gates = [g for _, g in seen if isinstance(g, list)]
    assert token_gates, "no per-token gate was used"
    for gates in token_gates:  # [text?, image] -> 0, condition -> 1
        assert gates[-16:] == [1.0] * 16 and set(gates[:-16]) == {0.0} and len(gates) in (32, 32 + n_txt)
    assert {g for _, g in seen if not isinstance(g, list)} == {0.0, 1.0}  # per-branch calls (embedder, AdaLN)


def test_attention_is_blocked_between_condition_branches(model, prompt):
    mask = branch_mask(2, 3, [2, 2])
    assert mask[:5].all() and mask[:, :5].all()  # text and image see and are seen by everything
    assert mask[5:7, 5:7].all() and not mask[5:7, 7:9].any() and not mask[7:9, 5:7].any()
    tr = model.transformer
    block = tr.transformer_blocks[0]
    emb, pooled, txt_ids = prompt
    d = tr.inner_dim
    g = torch.Generator().manual_seed(3)
    img, c1, c2 = (torch.randn(1, 16, d, generator=g) for _ in range(3))
    txt = tr.context_embedder(emb)
    temb = tr.time_text_embed(torch.tensor([500.0]), torch.tensor([1000.0]), pooled)
    ids = torch.cat([txt_ids, latent_ids(4, 4), latent_ids(4, 4), latent_ids(4, 4)])
    rope = tr.pos_embed(ids)
    m = branch_mask(txt.shape[1], 16, [16, 16])
    with torch.no_grad():
        (o_img, o_c1, _), _ = _double_block(block, [img, c1, c2], txt, [temb] * 3, temb, [0.0, 1.0, 1.0], rope, m)
        (p_img, p_c1, _), _ = _double_block(
            block, [img, c1, torch.randn(1, 16, d, generator=g)], txt, [temb] * 3, temb, [0.0, 1.0, 1.0], rope, m
        )
    torch.testing.assert_close(p_c1, o_c1)  # condition 1 does not see condition 2
    assert (p_img - o_img).abs().max() > 1e-4  # the image does


def test_conditions_ids_prompts_guidance_and_defocus_map(model, monkeypatch):
    calls, encoded = [], []
    real_forward, real_encode = flux_pipeline.multi_branch_forward, model.sampler.encode_image

    def spy_forward(tr, latents, img_ids, conds, text, txt_ids, pooled, t, guidance):
        calls.append((img_ids.clone(), [c.ids.clone() for c in conds], float(guidance[0])))
        return real_forward(tr, latents, img_ids, conds, text, txt_ids, pooled, t, guidance)

    def spy_encode(x, normalize=True, rng=None):
        encoded.append((x.clone(), normalize))
        return real_encode(x, normalize, rng)

    monkeypatch.setattr(flux_pipeline, "multi_branch_forward", spy_forward)
    monkeypatch.setattr(model.sampler, "encode_image", spy_encode)
    image = torch.randint(0, 256, (1, 3, 32, 32)).float() / 255
    depth = torch.linspace(1.0, 5.0, 32).expand(1, 1, 32, 32).contiguous()
    model.refocus(image, depth, focus_distance_m=2.0, k_px_m=300.0)
    assert len(calls) == 4  # 2 deblur steps + 2 bokeh steps
    (img_ids, (blurry,), g_deblur), (_, (aif_ids, map_ids), g_bokeh) = calls[0], calls[2]
    torch.testing.assert_close(blurry, img_ids)  # one condition, at offset (0, 0), as released
    torch.testing.assert_close(aif_ids, img_ids) and torch.testing.assert_close(map_ids, img_ids)
    assert (g_deblur, g_bokeh) == (3.5, 1.0)
    (x_blurry, r1), (x_aif, r2), (x_map, r3) = encoded
    assert (r1, r2, r3) == (True, True, False)  # the defocus map skips the [-1, 1] rescale
    assert torch.equal(x_blurry, image)
    assert torch.equal(x_aif * 255, (x_aif * 255).round())  # the 8-bit hand-off
    ref = genrefocus_defocus_map(depth, 300.0, 2.0).expand(1, 3, 32, 32)
    torch.testing.assert_close(x_map, ref, atol=1e-5, rtol=0)


def test_k_zero_returns_the_all_in_focus_result(model):
    x = torch.rand(2, 3, 32, 32)
    depth = torch.full((2, 1, 32, 32), 3.0)
    aif = model.deblur(x)
    out = model.refocus(x, depth, focus_distance_m=2.0, k_px_m=torch.tensor([0.0, 50.0]))
    torch.testing.assert_close(out[0], aif[0])
    assert (out[1] - aif[1]).abs().max() > 1e-3


def test_tiled_inference(model):
    s = model.sampler
    emb, pooled, txt_ids = s.encode_prompt(BOKEH.prompt)
    lat = torch.randn(1, 64, model.transformer.config.in_channels, generator=torch.Generator().manual_seed(5))
    conds = [(torch.randn(1, 64, lat.shape[-1]), latent_ids(8, 8))]
    t, g = torch.tensor([0.5]), torch.tensor([1.0])
    old = s.tile
    try:
        s.tile = 9  # 8x8 grid < 9x9: one untiled pass
        full = s._predict(lat, (8, 8), conds, (emb, pooled, txt_ids), t, g, tiled=False)
        s.tile = 8  # exactly one tile: the tiled path must agree
        one = s._predict(lat, (8, 8), conds, (emb, pooled, txt_ids), t, g, tiled=True)
        torch.testing.assert_close(one, full, atol=1e-5, rtol=0)
        s.tile, s.tiling = 4, "on"  # 4x4 tiles on the 3x3 token grid of a 48 px image
        out = model.bokeh(torch.rand(1, 3, 48, 48), torch.full((1, 1, 48, 48), 3.0), focus_distance_m=2.0, k_px_m=200.0)
        assert out.shape == (1, 3, 48, 48) and bool(torch.isfinite(out).all())
    finally:
        s.tile, s.tiling = old, "auto"


def test_odd_sizes_are_resized_to_the_grid_and_back(model):
    assert model.deblur(torch.rand(1, 3, 30, 37)).shape == (1, 3, 30, 37)


def test_lora_files_round_trip(model, tmp_path):
    from safetensors.torch import save_file

    state = {f"transformer.{k}": v for k, v in adapter_state(model.transformer, "deblur").items()}
    path = tmp_path / "deblurNet.safetensors"
    save_file(state, str(path))
    other = create_model("genrefocus.flux", tiny={}, deblur_lora=str(path), bokeh_lora=None, steps=2)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(other.deblur(x), model.deblur(x))
    with pytest.raises(InvalidInputError, match="unrecognised LoRA key"):
        parse_lora_state({"transformer.x_embedder.weight": torch.zeros(2, 2)})
    with pytest.raises(InvalidInputError, match="A without B"):
        parse_lora_state({"x_embedder.lora_A.weight": torch.zeros(2, 4)})
    parsed = parse_lora_state(
        {"x.lora_A.weight": torch.ones(4, 3), "x.lora_B.weight": torch.ones(5, 4), "x.alpha": torch.tensor(8.0)}
    )
    assert parsed["x"][2] == 1.0  # the release applies scale 1 whatever alpha / rank says


def test_missing_weights_and_unsupported_apertures(model, tmp_path, monkeypatch):
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path))
    with pytest.raises(MissingFileError, match="FLUX.1-dev"):
        create_model("genrefocus.flux")
    with pytest.raises(MissingFileError, match="deblurNet.safetensors"):
        create_model("genrefocus.flux", tiny={}, bokeh_lora=None)
    with pytest.raises(InvalidInputError, match="round aperture only"):
        model.bokeh(
            torch.rand(1, 3, 32, 32),
            torch.full((1, 1, 32, 32), 3.0),
            focus_distance_m=2.0,
            k_px_m=5.0,
            aperture="heart",
        )
