"""The autoencoder of latent diffusion: shapes, the posterior's KL, SSIM, tiling, the latent cache,
bad input, training, resume and the discriminator's adaptive weight. Tiny: 16x16, widths 8."""

import contextlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fromnoise.autoencoder import (
    Autoencoder,
    AutoencoderConfig,
    DiagonalGaussian,
    cached_latents,
    encode_dataset,
    load_autoencoder,
)
from fromnoise.autoencoder import latents as latents_module
from fromnoise.autoencoder.config import parse_widths
from fromnoise.autoencoder.losses import adaptive_weight, ssim
from fromnoise.autoencoder.tiling import tiled
from fromnoise.checkpoint import list_checkpoints, read_checkpoint
from fromnoise.data import load_dataset, to_float
from fromnoise.errors import UserError
from tests.cli_runner import run


def tiny(factor=4, size=16, channels=4, latent_channels=None):
    return AutoencoderConfig(image_size=size, channels=channels, factor=factor, latent_channels=latent_channels,
                             widths=(8,) * (3 if factor == 4 else 4), groups=4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """12 RGBA PNGs, 16x16: a coloured disc on a transparent background (alpha = the object)."""
    root = tmp_path_factory.mktemp("discs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]
    for i in range(12):
        cy, cx, r = rng.uniform(5, 11), rng.uniform(5, 11), rng.uniform(3, 5)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        arr = np.zeros((16, 16, 4), np.uint8)
        arr[..., :3] = rng.integers(0, 256, 3)  # the colour under the transparent pixels is junk...
        arr[inside, :3] = rng.integers(0, 256, 3)
        arr[..., 3] = np.where(inside, 255, 0)
        Image.fromarray(arr, "RGBA").save(root / f"disc_{i:02d}.png")
    return root


@pytest.mark.parametrize("factor", [4, 8])
def test_shapes_at_factor_4_and_8(factor):
    ae = Autoencoder(tiny(factor, size=32))
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    posterior = ae.encode(x)
    channels = 4 if factor == 4 else 8  # the default latent channels: LDM's 4 at factor 4, 8 at factor 8
    assert ae.config.latent_channels == channels
    assert posterior.mean.shape == (2, channels, 32 // factor, 32 // factor)
    assert ae.decode(posterior.sample(torch.Generator().manual_seed(0))).shape == (2, 4, 32, 32)
    assert ae.config.latent_size == 32 // factor


def test_kl_matches_the_closed_form():
    g = torch.Generator().manual_seed(1)
    params = torch.randn(3, 8, 4, 4, generator=g)
    post = DiagonalGaussian(params)
    mean, logvar = params[:, :4], params[:, 4:]
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=(1, 2, 3))
    torch.testing.assert_close(post.kl(), expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(post.mode(), mean)
    # sample(): mean + std * eps, with eps from the given generator
    s1, s2 = post.sample(torch.Generator().manual_seed(5)), post.sample(torch.Generator().manual_seed(5))
    assert torch.equal(s1, s2) and not torch.equal(s1, mean)
    zero = DiagonalGaussian(torch.zeros(1, 8, 2, 2))  # q = N(0, I): no divergence
    assert float(zero.kl()) == 0.0


def test_ssim_matches_skimage():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 24, 24, generator=g)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ours = ssim(x.double(), y.double(), reduction="none")
    for i in range(2):
        ref = structural_similarity(x[i].double().numpy(), y[i].double().numpy(), channel_axis=0,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        assert abs(float(ours[i]) - ref) < 1e-6
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)


def test_tiled_blending_is_exact_for_a_local_map_and_close_for_the_decoder():
    # A map with no spatial context (1x1 conv + nearest upsampling): tiles blended = untiled, exactly.
    conv = torch.nn.Conv2d(4, 3, 1)
    def fn(z):
        return torch.nn.functional.interpolate(conv(z), scale_factor=4, mode="nearest")
    z = torch.randn(2, 4, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(tiled(fn, z, tile=8, overlap=3, scale=4, out_channels=3), fn(z))
        # The real decoder: tiles differ by the context they lack and, mostly, by GroupNorm's
        # statistics, which are the tile's own (diffusers' tiled_decode shares the caveat).
        ae = Autoencoder(tiny(8, size=320, latent_channels=4)).eval()
        z = torch.randn(1, 4, 40, 40)
        full = ae.decode(z)
        tiles = ae.decode(z, tile=32, overlap=16)
        one_tile = ae.decode(z, tile=40)
        assert torch.equal(one_tile, full)
        assert tiles.shape == full.shape
        err = (tiles - full).abs().mean() / full.std()
        assert err < 0.08, float(err)
        x = full.clamp(-1, 1)  # tiled encoding, and batches, give the same posterior up to the seams
        mean = ae.encode(x).mean
        assert torch.allclose(ae.encode(x, batch_size=1).mean, mean, atol=1e-5)
        enc = ae.encode(x, tile=256, overlap=128).mean
    assert enc.shape == mean.shape
    err = (enc - mean).abs().mean() / mean.std()
    assert err < 0.15, float(err)


def test_latent_cache_equals_fresh_encoding_and_is_reused(folder, tmp_path, monkeypatch):
    data = load_dataset(folder, channels=4)
    ae = Autoencoder(tiny()).eval()
    latents, scale = cached_latents(ae, data, cache_dir=tmp_path)
    fresh = encode_dataset(ae, data)
    torch.testing.assert_close(latents, fresh * scale)
    assert latents.shape == (12, 4, 4, 4)
    assert float(latents.double().std()) == pytest.approx(1.0, abs=1e-6)
    assert len(list(tmp_path.glob("latents_*.safetensors"))) == 1

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(latents_module, "encode_dataset", no_encoding)
    again, scale2 = cached_latents(ae, data, cache_dir=tmp_path)
    assert torch.equal(again, latents) and scale2 == scale
    with torch.no_grad():  # other weights: another key, so a fresh encoding
        ae.decoder.conv_out.bias.add_(0.0)
        ae.encoder.conv_out.bias.add_(1.0)
    with pytest.raises(AssertionError, match="not used"):
        cached_latents(ae, data, cache_dir=tmp_path)


def test_rgba_is_composited_over_white_and_keeps_alpha(folder):
    data = load_dataset(folder, channels=4)
    from fromnoise.autoencoder import composite_alpha

    out = composite_alpha(data)
    transparent = data.images[:, 3] == 0
    assert transparent.any()
    assert bool((out.images[:, :3].permute(1, 0, 2, 3)[:, transparent] == 255).all())
    assert torch.equal(out.images[:, 3], data.images[:, 3])


def test_mismatched_data_or_config_is_a_user_error(folder, tmp_path):
    ae = Autoencoder(tiny())
    with pytest.raises(UserError, match="trained on 4x16x16"):
        cached_latents(ae, load_dataset(folder, channels=3))
    with pytest.raises(UserError, match="trained on 4x16x16"):
        cached_latents(ae, load_dataset(folder, channels=4, image_size=8))
    with pytest.raises(UserError, match="takes \\(B, 4, H, W\\)"):
        ae.encode(torch.zeros(1, 3, 16, 16))
    with pytest.raises(UserError, match="autoencoder.widths has 3 entries"):
        AutoencoderConfig(factor=8, widths=(8, 8, 8))
    with pytest.raises(UserError, match="autoencoder.factor = 2"):
        AutoencoderConfig(factor=2)
    with pytest.raises(UserError, match="config.json: autoencoder has unknown key"):
        from fromnoise.autoencoder import autoencoder_config
        autoencoder_config({"kind": "autoencoder", "autoencoder": {"image_size": 16, "foo": 1}})
    result = run("train-autoencoder", folder, "--image-size", 12, "--factor", 8, "--steps", 1,
                 "--out", tmp_path / "bad", ok=False)
    assert result.exit_code == 2 and "not divisible by the factor 8" in result.output
    assert "Traceback" not in result.output


def _train(folder, out, steps, *extra):
    run("train-autoencoder", folder, "--channels", 4, "--factor", 4, "--widths", "8,8,8", "--steps", steps,
        "--batch-size", 4, "--lr", 3e-3, "--warmup", 0, "--sample-every", 1000, "--save-every", 1000,
        "--log-every", 1, "--no-progress", "--out", out, *extra)


def _recon_error(ae, data):
    from fromnoise.autoencoder import composite_alpha

    x = to_float(composite_alpha(data).images)
    with torch.no_grad():
        return float((ae.decode(ae.encode(x).mode()) - x).abs().mean())


def test_training_round_trips_the_folder_and_writes_its_files(folder, tmp_path):
    data = load_dataset(folder, channels=4)
    out = tmp_path / "ae"
    torch.manual_seed(0)  # the trainer's seed: these are the weights it starts from
    before = _recon_error(Autoencoder(tiny()).eval(), data)
    _train(folder, out, 15)  # measured: the error falls to ~0.34x of the untrained one
    after = _recon_error(load_autoencoder(out), data)
    assert after < 0.6 * before, (before, after)
    for name in ("loss.png", "samples/latest.png", "metrics.jsonl", "log.txt"):
        assert (out / name).is_file(), name
    grid = Image.open(out / "samples" / "latest.png")
    assert grid.size[1] > grid.size[0] / 8  # two rows: originals, reconstructions
    _, config, _ = read_checkpoint(out)
    assert config["kind"] == "autoencoder" and config["autoencoder"]["factor"] == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "rec", "kl", "psnr"} <= set(rows[-1])


def test_resume_continues_the_step_count_and_replays_the_same_run(folder, tmp_path):
    # a constant rate: the default cosine decay follows the budget each invocation gives (2, then 4 steps)
    _train(folder, tmp_path / "straight", 4, "--lr-decay", "none")
    _train(folder, tmp_path / "split", 2, "--lr-decay", "none")
    _train(folder, tmp_path / "split", 4, "--lr-decay", "none")
    assert [p.name for p in list_checkpoints(tmp_path / "split")][-1] == "step_00000004"
    assert "resumed from" in (tmp_path / "split" / "log.txt").read_text()
    a, b = load_autoencoder(tmp_path / "straight"), load_autoencoder(tmp_path / "split")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    result = run("train-autoencoder", folder, "--channels", 4, "--factor", 8, "--widths", "8,8,8,8", "--steps", 5,
                 "--out", tmp_path / "split", "--no-progress", ok=False)
    assert result.exit_code == 2 and "other settings" in result.output


def test_discriminator_switches_on_saves_and_resumes(folder, tmp_path):
    out = tmp_path / "gan"
    _train(folder, out, 2, "--disc-start", 1)
    ckpt = list_checkpoints(out)[-1]
    assert (ckpt / "discriminator.safetensors").is_file() and (ckpt / "disc_optimizer.safetensors").is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "d_loss" not in rows[0] and "d_loss" in rows[1]  # off before disc_start, on from it
    assert all(np.isfinite(r["loss"]) for r in rows)
    _train(folder, out, 3, "--disc-start", 1)
    assert "holds no discriminator" not in (out / "log.txt").read_text()


def test_cpu_clock_budget_counts_process_time(folder, tmp_path, monkeypatch):
    """--clock cpu: --minutes is this process's CPU time (a fake clock advancing 20 s a read stops a
    1-minute run within a few steps); --clock wall does not read it."""
    import fromnoise.training.schedule as train_module  # the loop's budget clock

    fake = {"now": 0.0}

    def process_time():
        fake["now"] += 20.0
        return fake["now"]

    monkeypatch.setattr(train_module.time, "process_time", process_time)
    _train(folder, tmp_path / "cpu", 50, "--minutes", 1, "--clock", "cpu")
    steps = int(read_checkpoint(tmp_path / "cpu")[2]["step"])
    assert 1 <= steps <= 3, steps
    before = fake["now"]
    _train(folder, tmp_path / "wall", 2, "--minutes", 1, "--clock", "wall")
    assert fake["now"] == before  # the wall clock's run never consulted the CPU clock


def test_adaptive_weight_is_the_ratio_of_gradient_norms():
    w = torch.randn(5, requires_grad=True)
    rec = (w ** 2).sum()
    g = 4.0 * rec  # the adversarial term's gradient is 4x the reconstruction's: lambda = 1/4
    lam = adaptive_weight(rec, g, w)
    grad_norm = float((2 * w).detach().norm())
    assert float(lam) == pytest.approx(grad_norm / (4 * grad_norm + 1e-4), rel=1e-6)
    assert not lam.requires_grad


def test_posterior_mode_trains_the_decoder_on_the_mean(folder):
    """posterior="mode": the loss is the mean's reconstruction (the same on every call); "sample" draws."""
    from fromnoise.autoencoder import composite_alpha
    from fromnoise.autoencoder.config import AutoencoderTrainingConfig
    from fromnoise.autoencoder.losses import reconstruction_loss
    from fromnoise.autoencoder.objective import AutoencoderObjective

    torch.manual_seed(0)
    ae = Autoencoder(tiny())
    x = to_float(composite_alpha(load_dataset(folder, channels=4)).images[:4])

    def losses(posterior):
        opt = AutoencoderTrainingConfig(posterior=posterior, kl_weight=0.0)
        objective = AutoencoderObjective(opt, 4, 16, torch.device("cpu"), contextlib.nullcontext, lambda: 0, None)
        return [objective(ae, x, {})[0] for _ in range(2)]

    with torch.no_grad():
        a, b = losses("mode")
        o = AutoencoderTrainingConfig()
        expected = reconstruction_loss(x, ae.decode(ae.encode(x).mode()), o.ssim_weight, o.pixel_loss)
        assert torch.allclose(a, expected) and torch.equal(a, b)
        c, d = losses("sample")
        assert not torch.allclose(c, d)


def test_channels_last_and_betas_train_the_same_numbers_and_resume(folder, tmp_path):
    """--channels-last changes the memory layout only: the same losses as NCHW within float error (Adam
    amplifies rounding in near-zero gradients, so the weights drift apart by ~1e-3), a checkpoint that
    loads and resumes; --adam-beta1/2 reach the optimizer."""
    _train(folder, tmp_path / "nchw", 3, "--lr-decay", "none", "--no-channels-last")
    _train(folder, tmp_path / "nhwc", 3, "--lr-decay", "none", "--channels-last")
    rows = [[json.loads(line)["loss"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("nchw", "nhwc")]
    assert len(rows[0]) == 3 and np.allclose(rows[0], rows[1], rtol=1e-3), rows
    _train(folder, tmp_path / "nhwc", 4, "--lr-decay", "none", "--channels-last")
    assert "resumed from" in (tmp_path / "nhwc" / "log.txt").read_text()

    from fromnoise.autoencoder.config import AutoencoderTrainingConfig
    from fromnoise.training.autoencoder import AutoencoderTrainer

    trainer = AutoencoderTrainer(tiny(), load_dataset(folder, channels=4),
                                 AutoencoderTrainingConfig(out=str(tmp_path / "betas"), steps=1, adam_beta1=0.8,
                                                           adam_beta2=0.95, disc_start=0, progress=False))
    assert trainer.optimizer.param_groups[0]["betas"] == (0.8, 0.95)
    assert trainer.objective.disc_opt.param_groups[0]["betas"] == (0.5, 0.9)  # the discriminator keeps LDM's
    with pytest.raises(UserError, match="posterior"):
        AutoencoderTrainingConfig(posterior="mean")


def test_widths_text_parses_or_names_the_bad_value():
    assert parse_widths("16,32,64") == (16, 32, 64)
    assert parse_widths(None) is None
    with pytest.raises(UserError, match="'16,x,64' is not a comma-separated list"):
        parse_widths("16,x,64")
