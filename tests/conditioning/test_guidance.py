"""Condition dropout and classifier-free guidance, for the class and the text encoder."""

import pytest
import torch

from fromnoise.build import build_denoiser, make_config
from fromnoise.conditioning import dropout_mask
from fromnoise.conditioning.text import TextEncoder
from fromnoise.data import ImageData
from fromnoise.errors import UserError
from fromnoise.sampling import generate
from fromnoise.training import Trainer, TrainOptions

P, T, L = 12, 10, 5  # small stand-in widths for the frozen text model's outputs


def text_kwargs():
    return {"model": "unused", "emb_dim": 128, "context_dim": 32, "pooled_dim": P, "token_dim": T, "max_tokens": L}


def text_cond(b):
    mask = torch.arange(L).expand(b, L) < torch.randint(1, L + 1, (b, 1))
    return {"text_pooled": torch.randn(b, P), "text_tokens": torch.randn(b, L, T) * mask.unsqueeze(-1),
            "text_mask": mask}


def model(kind):
    kw = {"num_classes": 3, "emb_dim": 128} if kind == "class" else text_kwargs()
    d = build_denoiser(make_config("micro", image_size=16, channels=1, conditioning={kind: kw},
                                  model_overrides={"emb_dim": 128}))
    # a trained model: the zero-initialised output layer and a null condition near the others would hide
    # the difference between guided and unguided predictions that these tests compare
    with torch.no_grad():
        for p in d.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for p in d.encoders.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return d.eval()


def cond_for(kind, b):
    return {"labels": torch.randint(0, 3, (b,))} if kind == "class" else text_cond(b)


def test_dropout_mask_rate():
    g = torch.Generator().manual_seed(1)
    for p in (0.1, 0.5):
        rate = dropout_mask(20000, p, generator=g).float().mean().item()
        assert abs(rate - p) < 4 * (p * (1 - p) / 20000) ** 0.5
    assert not dropout_mask(100, 0.0).any()


@pytest.mark.parametrize("kind", ["class", "text"])
def test_dropped_rows_get_the_null_condition(kind):
    enc = model(kind).encoders[kind]
    cond = cond_for(kind, 6)
    drop = torch.tensor([True, False, True, False, False, True])
    emb, ctx = enc.encode(cond, drop)
    null_emb, null_ctx = enc.encode(enc.null_condition(6, "cpu"), torch.ones(6, dtype=torch.bool))
    assert torch.equal(emb[drop], null_emb[drop])
    assert not torch.isclose(emb[~drop], null_emb[~drop]).all(dim=1).any()
    if kind == "text":
        assert torch.equal(ctx[drop], null_ctx[drop])
        # padding tokens all read the one learned pad token, whatever the padded values were
        row = int((~drop).nonzero()[0])
        pads = ctx[row][~cond["text_mask"][row]]
        assert torch.equal(pads, enc.pad_token.expand_as(pads))


def test_trainer_drops_at_the_configured_rate(tmp_path):
    data = ImageData(torch.randint(0, 256, (64, 1, 16, 16), dtype=torch.uint8), torch.arange(64) % 3, ["a", "b", "c"])
    config = make_config("micro", image_size=16, channels=1,
                         conditioning={"class": {"num_classes": 3, "emb_dim": 128, "class_names": ["a", "b", "c"]}},
                         model_overrides={"emb_dim": 128})
    trainer = Trainer(config, data, TrainOptions(out=str(tmp_path), steps=1, batch_size=64, condition_dropout=0.3,
                                                 progress=False), {"labels": data.labels})
    seen = []

    def forward(x, t, cond, drop):  # records the mask; the network itself is not what this test is about
        seen.append(drop)
        return torch.zeros_like(x, requires_grad=True)

    trainer.forward = forward
    batches = iter(trainer.batches)
    for _ in range(25):
        trainer.train_step(*next(batches))
    rate = torch.cat(seen).float().mean().item()
    assert abs(rate - 0.3) < 4 * (0.3 * 0.7 / 1600) ** 0.5


@pytest.mark.parametrize("kind", ["class", "text"])
def test_guidance_one_is_conditional_and_zero_unconditional(kind):
    d = model(kind)
    b = 4
    x, t, cond = torch.randn(b, 1, 16, 16), torch.randint(0, 1000, (b,)), cond_for(kind, b)
    with torch.no_grad():
        out_c = d(x, t, cond)
        out_u = d(x, t, cond, torch.ones(b, dtype=torch.bool))
        out_none = d(x, t, None)
    assert torch.allclose(out_u, out_none, atol=1e-5)  # no condition at all = the null condition
    assert (out_c - out_u).abs().max() > 1e-3  # otherwise the test below could not fail
    for w, _want in ((1.0, out_c), (0.0, out_u)):
        eps, x0 = d.predict(x, t, cond, guidance=w)
        eps_ref, x0_ref = d.predict(x, t, None) if w == 0.0 else d.predict(x, t, cond)
        assert torch.allclose(eps, eps_ref, atol=1e-4) and torch.allclose(x0, x0_ref, atol=1e-4)
    # w = 3 extrapolates: eps_u + 3 (eps_c - eps_u)
    e3, _ = d.predict(x, t, cond, guidance=3.0)
    e1, _ = d.predict(x, t, cond, guidance=1.0)
    e0, _ = d.predict(x, t, cond, guidance=0.0)
    assert torch.allclose(e3, e0 + 3 * (e1 - e0), atol=1e-4)


def test_guidance_on_an_unconditional_model_is_a_user_error():
    d = build_denoiser(make_config("micro", image_size=16, channels=1))
    with pytest.raises(UserError, match="unconditional"):
        generate(d, 1, steps=1, guidance=2.0)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_guidance_on_a_model_trained_without_condition_dropout_is_a_user_error(tmp_path, dropout):
    from fromnoise import load

    data = ImageData(torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8), torch.arange(8) % 3, ["a", "b", "c"])
    config = make_config("micro", image_size=16, channels=1,
                         conditioning={"class": {"num_classes": 3, "emb_dim": 128, "class_names": ["a", "b", "c"]}},
                         model_overrides={"emb_dim": 128})
    Trainer(config, data, TrainOptions(out=str(tmp_path), steps=1, batch_size=8, condition_dropout=dropout,
                                       num_samples=1, sample_steps=1, progress=False), {"labels": data.labels}).run()
    d, cond = load(tmp_path), {"labels": torch.tensor([1])}
    generate(d, 1, steps=1, guidance=1.0, condition=cond)  # unguided: fine either way
    if dropout == 0:  # its null condition was never trained: guidance would extrapolate from noise
        with pytest.raises(UserError, match="condition-dropout 0"):
            generate(d, 1, steps=1, guidance=2.0, condition=cond)
    else:
        generate(d, 1, steps=1, guidance=2.0, condition=cond)


def test_text_encoder_config_round_trip():
    enc = TextEncoder(**text_kwargs(), captions=["a photo of a cat"])
    again = TextEncoder(**enc.config())
    assert again.config() == enc.config()
    assert sum(p.numel() for p in enc.parameters()) < 50_000  # projections only: no frozen model inside


@pytest.mark.parametrize("kind", ["class", "text"])
def test_negative_guidance_pushes_from_the_negative_condition(kind):
    """eps = eps_n + w (eps_c - eps_n): the null condition's place taken by the negative one."""
    d = model(kind)
    b = 4
    x, t, cond, neg = torch.randn(b, 1, 16, 16), torch.randint(0, 1000, (b,)), cond_for(kind, b), cond_for(kind, b)
    if kind == "class":
        neg = {"labels": (cond["labels"] + 1) % 3}
    e_c, _ = d.predict(x, t, cond)
    e_n, _ = d.predict(x, t, neg)
    e_u, _ = d.predict(x, t, None)
    assert (e_n - e_u).abs().max() > 1e-3  # otherwise a negative ignored would pass
    e3, x3 = d.predict(x, t, cond, guidance=3.0, negative=neg)
    assert torch.allclose(e3, e_n + 3 * (e_c - e_n), atol=1e-4)
    with pytest.raises(UserError, match="negative condition has"):
        d.predict(x, t, cond, guidance=3.0, negative={"features": torch.zeros(b, 32)})


def test_generate_inverts_under_the_source_and_guides_from_the_negative():
    d = model("class")
    n = 3
    init = torch.rand(n, 1, 16, 16)
    src, new = {"labels": torch.tensor([0, 1, 2])}, {"labels": torch.tensor([1, 2, 0])}
    seen = []
    predict = d.predict

    def spy(x, t, cond=None, guidance=1.0, negative=None):
        seen.append((None if cond is None else cond["labels"].tolist(), guidance,
                     None if negative is None else negative["labels"].tolist()))
        return predict(x, t, cond, guidance, negative)

    d.predict = spy
    common = {"sampler": "ddim", "steps": 4, "strength": 0.5, "invert": True, "seed": 0}
    generate(d, n, init=init, condition=new, source=src, negative=src, guidance=3.0, **common)
    inversion, walk = seen[:3], seen[-2:]  # 2 grid steps up (1 + 2 refinements each) ... then 2 steps down
    assert all(c == [0, 1, 2] and g == 1.0 and neg is None for c, g, neg in seen[:-2])
    assert all(c == [1, 2, 0] and g == 3.0 and neg == [0, 1, 2] for c, g, neg in walk), (inversion, walk)
    seen.clear()
    generate(d, n, init=init, condition=new, source={}, guidance=3.0, **common)  # {}: the null condition
    assert all(c is None for c, _, _ in seen[:-2])
    with pytest.raises(UserError, match="invert"):
        generate(d, n, init=init, condition=new, source=src, strength=0.5)
    with pytest.raises(UserError, match="guidance"):
        generate(d, n, condition=new, negative=src)
