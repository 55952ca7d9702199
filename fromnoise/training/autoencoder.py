"""Training the autoencoder from scratch: the one training loop with the autoencoder objective.

    AutoencoderTrainer(AutoencoderConfig(image_size=256, channels=4, factor=8), data,
                       AutoencoderTrainingConfig(out="runs/ae", minutes=30)).run()

The loop (:mod:`.loop`) is the diffusion trainer's: accelerate (bf16 autocast on a cuda device, fp32 on the
CPU; data parallel under ``--processes`` / ``accelerate launch``), AdamW with a linear warm-up,
gradient clipping, the finite-loss check before every step, a tqdm bar, crash-safe checkpoints that
hold the weights, the optimizer, the data order and every random generator's state (rerunning the
same command resumes where it stopped), SIGINT / SIGTERM save and stop. What differs is the
objective (:class:`fromnoise.autoencoder.objective.AutoencoderObjective`: L1 + SSIM + KL, the
optional discriminator saved beside the checkpoint's files) and the pictures:
``samples/step_*.png`` with the originals in the top row and their reconstructions below, and ``loss.png``.

With ``crop_size`` each step trains on one random ``crop_size`` square per image
(:class:`~fromnoise.data.crops.CropBatches`, corners on the factor's grid): the network is fully
convolutional, so what it learns on crops holds on whole images, at a fraction of the cost per step;
the pictures stay on whole images.
``lr_decay="cosine"`` takes the learning rate to 0 at the end of the budget (the loop's schedule).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..autoencoder.config import KIND, AutoencoderConfig, AutoencoderTrainingConfig, autoencoder_config
from ..autoencoder.latents import check_data
from ..autoencoder.model import Autoencoder
from ..autoencoder.objective import AutoencoderObjective
from ..data import ImageData, TensorBatches, composite_alpha, to_float
from ..data.crops import CropBatches
from ..errors import UserError
from ..viz import save_grid
from .loop import TrainingLoop
from .runtime import optimizer_options

GAN_BETAS = (0.5, 0.9)  # LDM's AdamW betas for the discriminator (and, before stop 26, the autoencoder)


def effective_crop(crop_size: int | None, config: AutoencoderConfig) -> int | None:
    """The crop side training uses: None (whole images) when ``crop_size`` is None or not smaller than the
    images; a UserError unless it is a multiple of the factor (a crop's latent is then a window of the whole
    image's latent)."""
    if crop_size is None or crop_size >= config.image_size:
        return None
    if crop_size % config.factor:
        raise UserError(f"--crop-size {crop_size} must be a multiple of the factor {config.factor}; give e.g. "
                        f"{max(config.factor, crop_size // config.factor * config.factor)}, or --crop-size 0 for "
                        "whole images")
    return crop_size


class AutoencoderTrainer(TrainingLoop):
    """Trains an :class:`Autoencoder` described by ``config`` on ``data`` (RGBA composited over white)."""

    desc = "train-autoencoder"
    no_budget = "say how long to train the autoencoder: --steps or --minutes"

    def __init__(self, config: AutoencoderConfig, data: ImageData, options: AutoencoderTrainingConfig,
                 hooks: list | None = None):
        crop = effective_crop(options.crop_size, config)
        super().__init__(options, data, hooks)
        if options.channels_last and self.world > 1:
            # NHWC under DDP is not verified (a two-process NHWC step's gradients failed the one-process
            # comparison of tests/training/test_multiprocess.py, whose runs are NCHW); several processes train NCHW
            self.opt = options = replace(options, channels_last=False)
        self.ae = Autoencoder(config)
        if options.channels_last:
            self.ae.to(memory_format=torch.channels_last)
        check_data(self.ae, data, "the training images")
        self.data = composite_alpha(data)
        self.config = {"kind": KIND, "autoencoder": config.to_dict(), "data": data.description,
                       "training": asdict(options)}
        optimizer = self._adamw(self.ae.parameters(), (options.adam_beta1, options.adam_beta2))
        # the discriminator sees what the autoencoder trains on: its depth fits the crop
        self.objective = AutoencoderObjective(options, config.channels, crop or config.image_size,
                                              self.acc.device, self.acc.autocast, lambda: self.step,
                                              lambda p: self._adamw(p, GAN_BETAS))
        common = dict(hflip=options.hflip, seed=options.seed, device=self.acc.device, rank=self.rank,
                      world=self.world)
        if crop is None:
            batches = TensorBatches(self.data, options.batch_size, **common)
        else:  # crops aligned to the factor: a crop's latent is a window of the whole image's latent
            batches = CropBatches(self.data, options.batch_size, crop, align=config.factor, **common)
        self.start(self.ae, optimizer, batches, self.objective)

    def _adamw(self, parameters, betas: tuple[float, float]) -> torch.optim.AdamW:
        """AdamW at the options' learning rate: the autoencoder's betas are the options' (measured: (0.9, 0.99)),
        the discriminator's LDM's (0.5, 0.9), which suit its adversarial game."""
        return torch.optim.AdamW(parameters, lr=self.opt.lr, betas=betas, **optimizer_options(self.acc.device))

    @property
    def disc(self):
        """The PatchGAN discriminator (``disc_start``), or None."""
        return self.objective.disc

    def check_same_model(self, ckpt: Path, saved: dict) -> None:
        if autoencoder_config(saved, where=f"'{ckpt}'").to_dict() != self.config["autoencoder"]:
            raise UserError(f"'{self.out}' already holds an autoencoder of other settings ({ckpt.name}); resume it "
                            "with the same --factor, --image-size, channels and widths, or train into a new --out")

    def postfix(self, values: dict) -> dict:
        return {"loss": f"{values['loss']:.4f}", "psnr": f"{values['psnr']:.1f}"}

    @torch.no_grad()
    def reconstruct(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(originals, reconstructions) of the first ``n`` training images, in [0, 1], from the posterior mode."""
        ae = self.acc.unwrap_model(self.model)
        was = ae.training
        ae.eval()
        x = to_float(self.data.images[:n]).to(self.acc.device)
        rec = ae.decode(ae.encode(x).mode()).float().clamp(-1, 1)
        ae.train(was)
        return ((x + 1) / 2).cpu(), ((rec + 1) / 2).cpu()

    def pictures(self) -> None:
        """``samples/step_*.png`` (originals on top, reconstructions below; the colour of RGBA images) and loss.png."""
        if not self.main:
            return
        orig, rec = self.reconstruct(min(self.opt.num_samples, len(self.data)))
        show = torch.cat([orig, rec])[:, :3]
        path = save_grid(show, self.out / "samples" / f"step_{self.step:08d}.png", nrow=orig.shape[0])
        save_grid(show, self.out / "samples" / "latest.png", nrow=orig.shape[0])
        self.logger.images(self.step, show, path)
        self.logger.plot()
