import pytest
import torch

import fromnoise
from fromnoise.build import build_denoiser, make_config
from fromnoise.errors import UserError
from fromnoise.models import PRESETS, UNet, UNetConfig, build_network, count_parameters, get_preset

# Parameter counts pinned: a change to a preset's architecture must update this table on purpose.
PINNED = {
    "micro": 48_401,           # the smoke-test network
    "tiny": 2_260_289,         # reference 001's ~2M SimpleUNet
    "reference004": 2_057_123,
    "anime": 12_287_811,
    "youandme": 84_261_699,    # reference 000 (RGB in; the mask channel adds 576, see presets.youandme)
    "cifar": 35_746_307,       # DDPM CIFAR-10: 35.7M
    "fashion": 2_209_252,
    "cpu32": 4_697_219,
    "youandme-latent": 3_481_968,  # 4x64x64 latents (the mask channel adds its input at build time)
    "youandme-patch": 7_969_488,   # 256x256 RGB in 8x8 patches (the mask channel adds its input at build time)
}


def test_every_preset_is_pinned():
    assert set(PINNED) == set(PRESETS)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_parameter_count_and_shape(name):
    spec = get_preset(name)
    model = build_network(spec)
    assert count_parameters(model) == PINNED[name]
    size = 32 if name == "youandme" else spec.kwargs["image_size"]  # any size divisible by 2^levels
    c_in = spec.kwargs.get("in_channels", spec.kwargs.get("channels"))
    c_out = spec.kwargs.get("out_channels", spec.kwargs.get("channels"))
    with torch.no_grad():
        y = model(torch.randn(2, c_in, size, size), torch.tensor([0, 999]))
    assert y.shape == (2, c_out, size, size)


def test_tiny_is_about_two_million():
    assert abs(PINNED["tiny"] - 2e6) / 2e6 < 0.15


def test_cifar_matches_ddpm():
    assert abs(PINNED["cifar"] - 35.7e6) / 35.7e6 < 0.01


def test_youandme_with_mask_takes_four_channels():
    conditioning = {"class": {"num_classes": 2, "emb_dim": 256}}
    d = build_denoiser(make_config("youandme", image_size=32, conditioning=conditioning))
    assert d.net.config.in_channels == 3
    assert d.net.config.channels == (64, 128, 256, 512, 512)


def test_reference004_usage_example_verbatim():
    from fromnoise import DiffusionModel

    model = DiffusionModel(image_size=32, channels=3, hidden_dims=[64, 128, 256], time_dim=128)
    batch_size = 8
    noisy_images = torch.randn(batch_size, 3, 32, 32)
    timesteps = torch.randint(0, 1000, (batch_size,))
    predicted_noise = model(noisy_images, timesteps)
    assert predicted_noise.shape == torch.Size([8, 3, 32, 32])
    true_noise = torch.randn_like(noisy_images)
    loss = torch.nn.functional.mse_loss(predicted_noise, true_noise)
    loss.backward()
    assert model.init_conv.weight.grad is not None
    for attr in ("time_mlp", "init_conv", "down_blocks", "bottleneck", "up_blocks", "out_norm", "out_conv"):
        assert hasattr(model, attr)
    assert model.out_norm.num_groups == 8


@pytest.mark.parametrize("size", [28, 32, 7 * 4])
def test_odd_sizes_round_trip(size):
    m = UNet(UNetConfig(image_size=size, channels=(8, 16, 16), attention=(False, False, True), groups=4))
    assert m(torch.randn(1, 1, size, size), torch.tensor([3])).shape == (1, 1, size, size)


def test_cond_and_context_slots_change_the_output():
    m = UNet(UNetConfig(channels=(8, 16), attention=(False, True), groups=4, emb_dim=32, context_dim=12))
    for p in m.parameters():  # zero-initialised output layers would hide the slots
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 5])
    base = m(x, t)
    assert not torch.allclose(base, m(x, t, cond_emb=torch.randn(2, 32)))
    assert not torch.allclose(base, m(x, t, context=torch.randn(2, 3, 12)))


def test_unknown_preset_is_a_user_error():
    with pytest.raises(UserError, match="unknown preset"):
        get_preset("huge")


def test_build_and_generate_api():
    d = fromnoise.build_model("fashion")
    imgs = fromnoise.generate(d, 3, steps=2)
    assert imgs.shape == (3, 1, 28, 28) and 0 <= imgs.min() and imgs.max() <= 1
