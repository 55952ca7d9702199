"""DC-AE's residual autoencoding (arxiv 2410.10733): the parameter-free shortcuts and the switch that adds them."""

import pytest
import torch
import torch.nn.functional as F

from fromnoise.autoencoder import Autoencoder, AutoencoderConfig
from fromnoise.autoencoder.model import average_channels, channel_to_space, space_to_channel
from fromnoise.errors import UserError


def test_space_to_channel_at_equal_width_is_2x2_average_pooling():
    x = torch.randn(2, 6, 8, 8)
    assert torch.allclose(space_to_channel(x, 6), F.avg_pool2d(x, 2), atol=1e-6)


def test_space_to_channel_to_more_channels_keeps_every_pixel():
    x = torch.randn(1, 2, 4, 4)
    out = space_to_channel(x, 8)  # 4 * 2 channels: a pure rearrangement, nothing averaged
    assert out.shape == (1, 8, 2, 2)
    assert torch.equal(F.pixel_shuffle(out, 2), x)


def test_channel_to_space_at_equal_width_is_nearest_upsampling():
    x = torch.randn(2, 6, 4, 4)
    assert torch.equal(channel_to_space(x, 6), F.interpolate(x, scale_factor=2.0, mode="nearest"))


def test_average_channels_averages_consecutive_groups():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert average_channels(x, 2).flatten().tolist() == [1.5, 5.5]


@pytest.mark.parametrize("factor", [4, 8])
def test_shortcuts_alone_carry_a_flat_colour_to_the_latent_and_back(factor):
    """With every learned conv but the first zeroed (and that one picking channels), the shortcuts alone take a
    flat grey image to a flat latent of its value and back to the decoder's last hidden state (before its
    output norm and conv); without them both are 0."""
    x = torch.full((1, 4, 32, 32), 0.6)
    for shortcut in (False, True):
        ae = Autoencoder(AutoencoderConfig(image_size=32, channels=4, factor=factor, widths=(8,) * (3 if factor == 4
                                           else 4), latent_channels=4, groups=4, shortcut=shortcut))
        with torch.no_grad():
            for m in ae.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.zero_()
                    m.bias.zero_()
            for k in range(8):  # the ends pick channels: width k <- image channel k % 4, and back
                ae.encoder.conv_in.weight[k, k % 4, 1, 1] = 1.0
            for conv in (ae.quant_conv, ae.post_quant_conv):  # identity 1x1 convs around the latent
                conv.weight.copy_(torch.eye(conv.weight.shape[0]).view_as(conv.weight))
            seen: list[torch.Tensor] = []
            hook = ae.decoder.norm_out.register_forward_hook(lambda m, args, out, seen=seen: seen.append(args[0]))
            z = ae.encode(x).mode()
            ae.decode(z)
            hook.remove()
        out = seen[0]
        if shortcut:
            assert torch.allclose(z, torch.full_like(z, 0.6), atol=1e-6)
            assert out.shape[-1] == 32 and torch.allclose(out, torch.full_like(out, 0.6), atol=1e-6)
        else:
            assert z.abs().max() < 1e-6 and out.abs().max() < 1e-6


def test_shortcut_keeps_the_parameter_count_and_the_old_layout_without_it():
    base = dict(image_size=32, channels=4, factor=4, widths=(8, 8, 8), groups=4)
    old, new = Autoencoder(AutoencoderConfig(**base, shortcut=False)), Autoencoder(AutoencoderConfig(**base))
    assert new.config.shortcut is True  # the default for new runs
    assert sum(p.numel() for p in old.parameters()) == sum(p.numel() for p in new.parameters())
    # checkpoints written before the option: the down conv sits directly in the Sequential, the up block in two
    assert "encoder.blocks.1.weight" in old.state_dict() and "decoder.blocks.5.weight" in old.state_dict()
    assert AutoencoderConfig.from_dict(dict(base)).shortcut is False


def test_shortcut_needs_widths_divisible_by_the_latent_channels():
    with pytest.raises(UserError, match="not a multiple of autoencoder.latent_channels"):
        AutoencoderConfig(image_size=32, channels=4, factor=4, widths=(8, 8, 12), groups=4, latent_channels=8,
                          shortcut=True)


def test_pixel_loss_l2_is_the_mean_squared_error_and_l1_the_absolute():
    from fromnoise.autoencoder.losses import reconstruction_loss

    x = torch.zeros(2, 3, 8, 8)
    x_hat = torch.zeros(2, 3, 8, 8)
    x_hat[0] = 0.5  # image 0 off by 0.5 everywhere, image 1 exact
    assert torch.allclose(reconstruction_loss(x, x_hat, 0.0, "l1"), torch.tensor([0.5, 0.0]))
    assert torch.allclose(reconstruction_loss(x, x_hat, 0.0, "l2"), torch.tensor([0.25, 0.0]))


def test_train_autoencoder_takes_the_shortcut_and_the_squared_error(tmp_path):
    """The CLI's --shortcut and --pixel-loss reach the saved config, and the run trains."""
    import json

    import numpy as np
    from PIL import Image

    from tests.cli_runner import run

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (16, 16, 4), dtype=np.uint8), "RGBA").save(folder / f"{i}.png")
    out = tmp_path / "ae"
    result = run("train-autoencoder", folder, "--channels", 4, "--factor", 4, "--widths", "8,8,8", "--steps", 2,
                 "--batch-size", 2, "--shortcut", "--pixel-loss", "l2", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    config = json.loads(next(out.glob("checkpoints/step_*/config.json")).read_text())
    assert config["autoencoder"]["shortcut"] is True and config["training"]["pixel_loss"] == "l2"
