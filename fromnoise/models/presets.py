"""Named network presets: every architecture of the reference documents, plus CPU presets.

A preset is a function returning a ``ModelSpec`` (``fromnoise.models.config.ModelConfig``): which network
to build and its keyword arguments, JSON-able so a checkpoint can rebuild it. No torch here: the
configs and ``--help`` read the presets. Parameter counts are pinned in ``tests/models/test_presets.py``.

| preset | what | params |
|---|---|---|
| ``tiny`` | reference 001's SimpleUNet for 28x28 grayscale | 2.15M |
| ``reference004`` | ``DiffusionModel(image_size, channels, [32, 64, 128], 128)`` | 2.06M |
| ``anime`` | reference 002: 3 levels, down flags [T, T, F], attention in the blocks | 12.3M |
| ``youandme`` | reference 000: 64-128-256-512-512, 2 ResBlocks, attention at 32, 16, 8 | 84.3M (see below) |
| ``cifar`` | DDPM's CIFAR-10 U-Net (Ho et al. 2020) | 35.7M |
| ``fashion`` | the CPU demo preset: recognisable Fashion-MNIST in ~10 CPU-minutes | 2.21M |
| ``micro`` | a smoke-test network for CI | 0.05M |
| ``cpu32`` | a CPU preset for 32x32 RGB folders (emoji, CIFAR) | 4.70M |
| ``youandme-latent`` | reference 000's task in latent space: 4x64x64 latents of 256x256 images | 3.48M |
| ``youandme-patch`` | reference 000's task in pixel space with an 8x8 patch stem and a shifted schedule | see tests |
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UserError
from .config import ModelSpec, UNetConfig

# The training recipe of the CPU presets (issue 17's ablation, see ``fashion``): suggested settings
# that ``fromnoise train`` uses unless its options say otherwise.
RECIPE = {"t_sampling": "lognormal", "lr_decay": "cosine", "ema_std": 0.05}
# The flagship presets' own (youandme-patch's measured against RECIPE at 256x256, see its docstring; every
# youandme-latent run measured trained with it too): TrainingConfig's plain defaults
FLAGSHIP_RECIPE = {"t_sampling": "uniform", "lr_decay": "none", "ema_std": None}


def _unet(**kw) -> dict:
    """UNetConfig keyword arguments with the config's own validation applied."""
    return UNetConfig(**kw).to_dict()


def tiny(image_size=28, channels=1) -> ModelSpec:
    """Reference 001's SimpleUNet scale: 64-128-128 channels, one ResBlock per level, ~2M parameters."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels,
                                   channels=(64, 128), num_res_blocks=1, attention=(False, False),
                                   downsample=(True, True), skips="level", mid_attention=False, groups=8,
                                   scale_shift=False, emb_dim=256),
                     {"lr": 2e-4, "batch_size": 128, "schedule": "linear", "prediction": "eps"})


def reference004(image_size=32, channels=3) -> ModelSpec:
    """``DiffusionModel(image_size, channels, hidden_dims=[32, 64, 128], time_dim=128)`` of reference 004."""
    return ModelSpec("reference004", {"image_size": image_size, "channels": channels,
                                      "hidden_dims": [32, 64, 128], "time_dim": 128},
                     {"lr": 2e-4, "batch_size": 128, "schedule": "linear", "prediction": "eps"})


def anime(image_size=64, channels=3) -> ModelSpec:
    """Reference 002: widths 64-128-256 after a 32 stem, down-sample flags [True, True, False],
    2 ResBlocks per level with self-attention in every block, conv + max-pool downsampling."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels,
                                   channels=(64, 128, 256), num_res_blocks=2, attention=(True, True, True),
                                   downsample=(True, True, False), down_kind="conv_pool", groups=8, skips="level",
                                   scale_shift=False, emb_dim=128, time_freq_dim=128),
                     {"lr": 1e-4, "batch_size": 64, "schedule": "linear", "prediction": "eps"})


def youandme(image_size=256, channels=3) -> ModelSpec:
    """Reference 000 (YouAndMeNet): levels of 64-128-256-512-512 at 256..16 px, 2 ResBlocks per
    level, one skip per level, an 8x8 bottleneck (ResBlock, attention, ResBlock), self-attention
    at 32x32 and 16x16, GroupNorm(32), dropout 0.1, sum of time and 32-feature embeddings (256),
    RGB + mask in (the mask encoder adds its channel at build time), RGB out. Built literally this has 84.3M
    parameters, not the document's "~48M": the 512-wide levels alone (encoder, decoder, bottleneck) hold
    ~60M, so no reading of the listed widths and block counts gives 48M; we keep the listed architecture
    and pin its true count."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels,
                                   channels=(64, 128, 256, 512, 512), num_res_blocks=2,
                                   attention=(False, False, False, True, True), downsample=(True,) * 5,
                                   skips="level", mid_attention=True, groups=32, dropout=0.1, scale_shift=False,
                                   time_freq_dim=64, emb_dim=256),
                     {"lr": 1e-4, "batch_size": 4, "schedule": "cosine", "prediction": "eps", "condition": "features",
                      "mask": True})


def cifar(image_size=32, channels=3) -> ModelSpec:
    """DDPM's CIFAR-10 network (Ho et al. 2020): 128 x (1, 2, 2, 2), 2 ResBlocks, attention at 16x16, dropout 0.1."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels,
                                   channels=(128, 256, 256, 256), num_res_blocks=2,
                                   attention=(False, True, False, False), groups=32, dropout=0.1,
                                   scale_shift=False, heads=1),
                     {"lr": 2e-4, "batch_size": 128, "schedule": "linear", "prediction": "eps"})


def fashion(image_size=28, channels=1) -> ModelSpec:
    """The CPU demo preset, chosen for quality per CPU-minute (the width rows of bench/bench_ablation.py): 2x2 pixels
    folded into channels (the U-Net runs at 14x14, 7x7, 4x4: a third of the FLOPs of a 28x28 U-Net
    of the same widths; 0.37 GFLOP per image per training step), one skip per level, attention only at 4x4 and
    in the middle, FiLM embeddings; trained with v-prediction, a cosine schedule and lr 2e-3 (see ``defaults``).

    Its recipe (issue 17, ``bench/bench_ablation.py``, 15 one-core CPU-minutes, KID at N = 600 against
    the test images): EDM's log-normal noise levels (``t_sampling="lognormal"``, arxiv 2206.00364) took
    KID from 0.048 to 0.035; the cosine decay of the learning rate to 0 over the budget made no
    difference alone (0.046 -> 0.048) and is kept with it, as measured; min-SNR-5 (arxiv 2303.09556) on
    top made it worse (0.049) and is off. EDM2's power-function EMA with sigma_rel 0.05 (``ema_std``, arxiv
    2312.02696) beat decay 0.999 at N = 2,000 (0.0206 -> 0.0195, ablation_wave5)."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels, patch=2,
                                   channels=(32, 64, 128), num_res_blocks=1, attention=(False, False, True),
                                   skips="level", mid_attention=True, groups=8, scale_shift=True, heads=4),
                     {"lr": 2e-3, "batch_size": 64, "schedule": "cosine", "prediction": "v", **RECIPE})


def cpu32(image_size=32, channels=3) -> ModelSpec:
    """A CPU preset for small RGB folders (32x32): like ``fashion`` one level deeper, with its recipe."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels,
                                   channels=(32, 64, 128, 128), num_res_blocks=1, attention=(False, False, True, True),
                                   mid_attention=True, groups=8, scale_shift=True, heads=4),
                     {"lr": 1e-3, "batch_size": 64, "schedule": "cosine", "prediction": "v", **RECIPE})


def youandme_latent(image_size=64, channels=4) -> ModelSpec:
    """Reference 000's task (256x256 art objects from 32 features + an object mask, cosine schedule) in
    latent space (``fromnoise train --autoencoder``): ``image_size`` and ``channels`` are the latents'
    (64 and 4 for a factor-4 autoencoder of 256x256 images, 32 at factor 8). Sized for quality per
    CPU-minute like ``fashion``: 2x2 latent pixels folded into channels (levels at 32, 16, 8, 4),
    widths 32-64-128-128, one ResBlock and one skip per level, attention at 8x8, 4x4 and in the middle,
    FiLM embeddings, v-prediction. On one CPU thread it trains at ~16 latents/s (batch 8) and takes
    ~21 ms per image and network evaluation, against 135 s per step of 4 images for ``youandme``
    at 256x256 in pixel space. The mask encoder adds its input channel at build time. It suggests the
    flagship's plain training settings (constant lr, uniform t, EMA decay 0.999): every latent run measured
    (flagship_versus.py, flagship_guidance.py) trained with them, and ``fashion``'s recipe lost to them on the
    patch model at 256x256; ``fashion``'s recipe in latent space is not measured.

    It suggests no guidance scale (samples take 1 unless told), measured: on the 2-CPU-hour flagship
    (bench/flagship_guidance.py, all 197 held-out objects) guidance 1 / 1.5 / 2 / 3 gave KID 0.052 / 0.045 /
    0.041 / 0.039, shape r 0.74 / 0.74 / 0.78 / 0.77, topology r 0.58 / 0.62 / 0.64 / 0.60, but the COLOR
    sliders (bench_sliders.py, four colourful held-out objects) passed 6 / 3 / 2 of 8 at 1 / 1.5 / 2: guidance
    helps whole held-out feature vectors and breaks one-feature moves. Give ``--guidance 2`` for the former."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels, patch=2,
                                   channels=(32, 64, 128, 128), num_res_blocks=1, attention=(False, False, True, True),
                                   skips="level", mid_attention=True, groups=8, scale_shift=True, heads=4),
                     {"lr": 1e-3, "batch_size": 32, "schedule": "cosine", "prediction": "v", "condition": "features",
                      "mask": True, **FLAGSHIP_RECIPE})


def youandme_patch(image_size=256, channels=3) -> ModelSpec:
    """Reference 000's task in pixel space at CPU cost (issue 24's contender to the latent model): 8x8 pixel
    patches folded into channels (the U-Net runs at 32, 16, 8, 4 for 256x256 images, as ``fashion`` folds
    2x2), widths 48-96-192-192 (8.1M parameters with the mask input), one ResBlock and one skip per level,
    attention at 8x8, 4x4 and in the middle, FiLM embeddings, x0-prediction, and simple diffusion's shifted
    cosine (``cosine-shift4``: the noise of a 64-px image at every t, arxiv 2301.11093), trained without
    condition dropout (so without guidance). No autoencoder, so no reconstruction ceiling and no second model
    to train; RGB + the mask channel in, RGB out; features + mask conditioned.

    Measured limit (issue 24): its last feature map (64 x 32 x 32 for 256x256 images) has a quarter of the
    numbers of the output (4 x 256 x 256), and the output is a linear function of it, so a v- or
    eps-prediction cannot express the per-pixel noise: samples keep visible pixel noise
    (bench/results/flagship_patch_grid.png). Full rank needs the first width >= patch^2 x channels
    (patch 4: 29 GFLOP per image and step; patch 8 with width 256: 38) or an x0-prediction, whose target is
    the smooth image and whose noise estimate comes from x_t itself: a 10-CPU-minute probe with
    ``--prediction x0`` has no pixel noise (bench/results/patch_probe_x0_10min.png). So it predicts x0: at
    2 CPU-hours (bench_latent.py --part patch --prediction x0, all 197 held-out objects) KID 0.043 against v's
    0.094, 0.6% outside the mask against 24.6%, feature r colour 0.77, lighting 0.83, material 0.78, shape 0.80,
    topology 0.52 (the latent flagship: 0.052, 1.5%, 0.77 / 0.85 / 0.79 / 0.74 / 0.58, in an earlier run).

    Its training recipe is not ``fashion``'s (measured, bench/flagship_recipe.py, 40 CPU-minutes each side by
    side, all 197 held-out objects): a constant learning rate, uniform t and EMA decay 0.999 gave KID 0.045,
    colour r 0.71, lighting 0.80; ``fashion``'s cosine decay, log-normal t and power EMA 0.05 gave 0.068, 0.61,
    0.72 (its post-hoc EMA 0.10: 0.069), with noisy interiors. The three were measured together, not apart.
    On that recipe at 40 CPU-minutes, widths 48-96-192-192 (colour r 0.76, lighting 0.81) and no condition
    dropout (0.77, 0.81) beat it, both together more (4 of issue 24's 7 goals: lighting 0.83, shape 0.81,
    topology 0.58); attention without 8x8, a mask dropout of 0.3 and two ResBlocks per level did not. At
    make art's 120 CPU-minutes, side by side (2026-12-05), the two together (7,905 steps) against the widths
    64-128-256-256 with dropout 0.1 (5,300 steps): KID 0.041 and 0.041, colour r 0.83 / 0.78, lighting 0.85 /
    0.84, material 0.79 / 0.78, shape 0.84 / 0.79, topology 0.64 / 0.53, 0.5% outside the mask each: 4 of
    the goals against 3, so they are the preset's. Give ``--condition-dropout 0.1`` to train for guidance."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels, patch=8,
                                   channels=(48, 96, 192, 192), num_res_blocks=1, attention=(False, False, True, True),
                                   skips="level", mid_attention=True, groups=8, scale_shift=True, heads=4),
                     {"lr": 1e-3, "batch_size": 16, "schedule": "cosine-shift4", "prediction": "x0",
                      "condition": "features", "mask": True, **FLAGSHIP_RECIPE, "condition_dropout": 0.0})


def micro(image_size=28, channels=1) -> ModelSpec:
    """A ~40k-parameter network for smoke tests and CI: trains in seconds, learns little."""
    return ModelSpec("unet", _unet(image_size=image_size, in_channels=channels, out_channels=channels,
                                   channels=(8, 16), num_res_blocks=1, attention=(False, True), groups=4,
                                   scale_shift=True, heads=2),
                     {"lr": 2e-3, "batch_size": 16, "schedule": "cosine", "prediction": "v"})


PRESETS: dict[str, Callable[..., ModelSpec]] = {
    "micro": micro, "tiny": tiny, "reference004": reference004, "anime": anime, "youandme": youandme,
    "cifar": cifar, "fashion": fashion, "cpu32": cpu32, "youandme-latent": youandme_latent,
    "youandme-patch": youandme_patch,
}


def get_preset(name: str, *, image_size: int | None = None, channels: int | None = None, **extra) -> ModelSpec:
    """Return the ``ModelSpec`` of preset ``name`` for images of ``image_size`` and ``channels``."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    kw = {k: v for k, v in (("image_size", image_size), ("channels", channels)) if v is not None}
    return PRESETS[name](**kw, **extra)
