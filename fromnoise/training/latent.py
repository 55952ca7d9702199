"""Training a diffusion model on an autoencoder's latents: ``fromnoise train DATA --autoencoder AE_RUN``.

    ae, latents, latent = prepare_latent_run("runs/ae", images, "runs/latent")
    # runs/latent/autoencoder/  the autoencoder's weights + config (the run decodes with its own copy)
    # runs/latent/latents/      the cached latents (keyed by the autoencoder's weights and the images)
    LatentTrainer(config, images, latents, options, tables).run()

The images are encoded once (:func:`fromnoise.autoencoder.cached_latents`, scaled to unit
variance) and the trainer batches those latents instead of pixels; everything else (the diffusion
objective, the one training loop's EMA, checkpoints, resume; sample grids) is the diffusion trainer's
own. No augmentation: a latent is encoded once per image, and the latent of a flipped image is not
the flipped latent.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..autoencoder.latent_config import LatentConfig
from ..autoencoder.latent_model import AUTOENCODER_DIR, copy_autoencoder, mask_to_latent, read_run_autoencoder
from ..autoencoder.latents import cached_latents, check_data
from ..autoencoder.model import autoencoder_config, load_autoencoder, weights_digest
from ..checkpoint import list_checkpoints, read_checkpoint
from ..config import TrainingConfig
from ..data import ImageData, TensorBatches
from ..errors import UserError
from .trainer import Trainer

LATENT_CACHE_DIR = "latents"  # RUN/latents/: the encoded training images


class LatentBatches(TensorBatches):
    """:class:`~fromnoise.data.TensorBatches` over cached latents (N, c, h, w) float32 instead of images:
    the same seeded stream of indices (and labels, captions), no augmentation."""

    def __init__(self, latents: torch.Tensor, data: ImageData, batch_size: int, *, seed: int = 0,
                 device: str | torch.device = "cpu", rank: int = 0, world: int = 1):
        if latents.shape[0] != len(data):
            raise ValueError(f"{latents.shape[0]} latents for {len(data)} images")
        # the index stream needs only the number of images (and their labels): a 1-pixel stand-in,
        # so the pixels are never copied to the device
        stand_in = ImageData(images=torch.zeros(len(data), 1, 1, 1, dtype=torch.uint8), labels=data.labels,
                             class_names=data.class_names, captions=data.captions, description=data.description)
        super().__init__(stand_in, batch_size, seed=seed, device=device, rank=rank, world=world)
        self.images = latents.to(self.device, torch.float32)

    def _inputs(self, dev_idx, gen, part):
        return self.images.index_select(0, dev_idx)


class LatentTrainer(Trainer):
    """The diffusion trainer on a latent model: it batches ``latents`` and decodes its sample grids
    with the run's autoencoder (``RUN/autoencoder``, attached to the model and its EMA copy)."""

    def __init__(self, config: dict, data: ImageData, latents: torch.Tensor, options: TrainingConfig,
                 tables: dict | None = None, hooks: list | None = None):
        self.latents = latents
        super().__init__(config, data, options, tables, hooks)
        ae = read_run_autoencoder(Path(options.out) / AUTOENCODER_DIR, self.denoiser.latent)
        for model in (self.denoiser, self.ema.model):
            model.attach_autoencoder(ae)

    def make_batches(self, data: ImageData, options: TrainingConfig) -> TensorBatches:
        return LatentBatches(self.latents, data, options.batch_size, seed=options.seed, device=self.acc.device,
                             rank=self.rank, world=self.world)


def check_latent_options(ae_run: str | Path, training: TrainingConfig, auto: frozenset = frozenset()):
    """The AutoencoderConfig of ``ae_run`` (validated, no weights read), refusing the training options a
    latent run cannot honour: augmentations of images that are encoded once."""
    _, config, _ = read_checkpoint(ae_run)
    ae = autoencoder_config(config, where=f"--autoencoder '{ae_run}'")
    if training.hflip and "hflip" not in auto:
        raise UserError("--hflip does not apply to latent diffusion (--autoencoder): the images are encoded once, "
                        "unflipped; leave --hflip out")
    if training.color_jitter > 0:
        raise UserError("--color-jitter does not apply to latent diffusion (--autoencoder): the images are encoded "
                        "once; leave --color-jitter at 0")
    return ae


def prepare_latent_run(ae_run: str | Path, data: ImageData, run_dir: str | Path,
                       ) -> tuple[torch.Tensor, LatentConfig]:
    """Check the autoencoder against ``data``, copy it into ``run_dir/autoencoder`` and encode ``data`` once.

    Returns (scaled latents (N, c, H/f, W/f), the model's LatentConfig). A run that already holds
    another autoencoder is refused (its checkpoints were trained on that one's latents).
    """
    ckpt, _, _ = read_checkpoint(ae_run)
    ae = load_autoencoder(ckpt)
    check_data(ae, data, "the training images")
    digest = weights_digest(ae)
    run_dir = Path(run_dir)
    mine, trained = run_dir / AUTOENCODER_DIR, bool(list_checkpoints(run_dir))
    if trained and not mine.is_dir():
        raise UserError(f"'{run_dir}' already holds a pixel-space run; train the latent model into a new --out")
    if mine.is_dir():
        try:
            theirs = weights_digest(load_autoencoder(mine))
        except UserError:
            theirs = None  # a damaged copy in a run without checkpoints is replaced below
        if theirs is None and trained:
            read_run_autoencoder(mine, _saved_latent(run_dir))  # raises the UserError saying what is wrong
        if theirs != digest and trained:
            raise UserError(f"'{run_dir}' was trained on the latents of another autoencoder ('{mine}' differs "
                            f"from '{ckpt}'); resume it with that one, or train into a new --out")
        if theirs != digest:
            copy_autoencoder(ckpt, run_dir)
    else:
        copy_autoencoder(ckpt, run_dir)
    latents, scale = cached_latents(ae, data, cache_dir=run_dir / LATENT_CACHE_DIR)
    latent = LatentConfig(factor=ae.config.factor, latent_channels=ae.config.latent_channels, scale=scale,
                          autoencoder=ae.config.to_dict(), autoencoder_sha256=digest).validate()
    return latents, latent


def latent_tables(tables: dict, latent: LatentConfig, image_size: int) -> dict:
    """The per-image condition tables of a latent run: the object mask at the latent size (area average),
    the rest as measured on the full-resolution images."""
    if "mask" not in tables:
        return tables
    side = image_size // latent.factor
    return dict(tables, mask=torch.cat([mask_to_latent(m, (side, side)) for m in tables["mask"].split(256)]))


def _saved_latent(run_dir: Path) -> LatentConfig:
    """The LatentConfig of a run's newest checkpoint."""
    ckpt, config, _ = read_checkpoint(run_dir)
    if not config.get("latent"):
        raise UserError(f"'{run_dir}' holds a run that is not a latent model; train into a new --out")
    return LatentConfig.from_dict(config["latent"], where=f"'{ckpt / 'config.json'}'")
