"""``fromnoise train-autoencoder``: train the autoencoder of latent diffusion on a folder of images."""

from __future__ import annotations

import click

from ..autoencoder.config import AutoencoderConfig, AutoencoderTrainingConfig, parse_widths
from .options import done

# Every default below is read from the dataclasses, the one place they live.
A, T = AutoencoderConfig, AutoencoderTrainingConfig


@click.command("train-autoencoder", context_settings={"show_default": True})
@click.argument("data")
@click.option("--factor", type=click.Choice(["4", "8"]), default=str(A.factor),
              help="Spatial downsampling: 256x256 images become 64x64 (4) or 32x32 (8) latents.")
@click.option("--image-size", "--image_size", type=click.IntRange(8, 4096), default=None,
              help="Resize and centre-crop images to this side (default: the data's own size); a multiple of --factor.")
@click.option("--channels", type=click.Choice(["1", "3", "4"]), default=None,
              help="Image channels; 4 keeps a PNG's alpha (the object mask) beside its colour composited on white "
                   "(default: inferred).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N images.")
@click.option("--widths", default=None,
              help="Channel widths per level, comma-separated: log2(factor)+1 of them "
                   "(default: 16,32,64 for factor 4, 16,32,64,64 for factor 8).")
@click.option("--latent-channels", type=click.IntRange(1, 64), default=A.latent_channels,
              help="Latent channels (default: 4 at factor 4, 8 at factor 8, as measured on 256x256 clip art).")
@click.option("--res-blocks", type=click.IntRange(1, 8), default=A.num_res_blocks, help="ResBlocks per level.")
@click.option("--shortcut/--no-shortcut", default=A.shortcut,
              help="DC-AE's parameter-free space-to-channel shortcuts around every resampling and the latent "
                   "(arxiv 2410.10733).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Stop at this many optimizer steps in total.")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this much time in this run (a checkpoint and a grid are written at the end).")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default=T.clock,
              help="What --minutes counts: wall time, or this process's CPU time (a fair budget on a shared machine).")
@click.option("--batch-size", "--batch_size", "batch_size", type=click.IntRange(1, 4096), default=T.batch_size,
              help="Images per batch.")
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), default=T.lr, help="Peak learning rate (AdamW).")
@click.option("--warmup", type=click.IntRange(0), default=T.warmup, help="Linear learning-rate warm-up steps.")
@click.option("--lr-decay", type=click.Choice(["none", "cosine"]), default=T.lr_decay,
              help="After the warm-up: a constant rate, or a cosine decay to 0 at the end of --steps / --minutes.")
@click.option("--crop-size", type=click.IntRange(0, 4096), default=T.crop_size,
              help="Train on one random crop of this side per image (a multiple of --factor): many more steps per "
                   "minute; reconstructions and encoding stay on whole images. Images no larger than it, and "
                   "--crop-size 0, train whole.")
@click.option("--kl-weight", type=click.FloatRange(0, 1), default=T.kl_weight,
              help="Weight of the KL term (LDM: 1e-6).")
@click.option("--pixel-loss", type=click.Choice(["l1", "l2"]), default=T.pixel_loss,
              help="Pixel loss: l1 (LDM's) or l2, the squared error, which keeps colour where many images are grey.")
@click.option("--ssim-weight", type=click.FloatRange(0, 100), default=T.ssim_weight,
              help="Weight of 1 - SSIM beside the pixel loss.")
@click.option("--disc-start", type=click.IntRange(0), default=None,
              help="Switch the PatchGAN discriminator on at this step (default: off).")
@click.option("--disc-weight", type=click.FloatRange(0, 100), default=T.disc_weight,
              help="Weight of the adversarial term (times the adaptive weight).")
@click.option("--hflip/--no-hflip", default=T.hflip, help="Random horizontal flips.")
@click.option("--posterior", type=click.Choice(["sample", "mode"]), default=T.posterior,
              help="What the decoder trains on: the mean of the encoder's Gaussian (what encoding for diffusion "
                   "uses; deterministic, as DC-AE) or a sample of it (LDM).")
@click.option("--adam-beta1", type=click.FloatRange(0, 1, max_open=True), default=T.adam_beta1,
              help="AdamW's first beta for the autoencoder (the discriminator keeps LDM's 0.5 and 0.9).")
@click.option("--adam-beta2", type=click.FloatRange(0, 1, max_open=True), default=T.adam_beta2,
              help="AdamW's second beta.")
@click.option("--channels-last/--no-channels-last", default=T.channels_last,
              help="NHWC convolutions (the same numbers, a different memory layout).")
@click.option("--out", "--output-dir", "out", default=T.out,
              help="Run directory. Rerunning with the same --out resumes.")
@click.option("--sample-every", type=click.IntRange(1), default=T.sample_every,
              help="Steps between reconstruction grids and loss plots.")
@click.option("--save-every", type=click.IntRange(1), default=T.save_every, help="Steps between checkpoints.")
@click.option("--log-every", type=click.IntRange(1), default=T.log_every, help="Steps between lines in metrics.jsonl.")
@click.option("--keep", type=click.IntRange(1), default=T.keep, help="Checkpoints kept.")
@click.option("--seed", type=int, default=T.seed, help="Random seed.")
@click.option("--progress/--no-progress", default=T.progress, help="Show a progress bar.")
def train_autoencoder(data, factor, image_size, channels, limit, widths, latent_channels, res_blocks, shortcut,
                      **options):
    """Train a KL autoencoder from scratch on DATA (a folder of images or a named data set).

    Its latents are what 'fromnoise train --autoencoder' trains a diffusion model on. OUT gets
    checkpoints, samples/ (originals on top, reconstructions below), loss.png and metrics.jsonl.
    The defaults are the recipe measured per CPU-minute on 256x256 clip art (bench/results/report.md):
    DC-AE shortcuts, 64x64 crops, batch 16, lr 1e-3 with a cosine decay, squared error + 0.05 SSIM,
    the decoder trained on the posterior mean, AdamW betas (0.9, 0.99), NHWC convolutions.

    \b
    Examples:
      fromnoise train-autoencoder ./clipart --channels 4 --image-size 256 --factor 8 --minutes 30 --out runs/ae8
      fromnoise train-autoencoder ./photos --image-size 128 --factor 4 --steps 2000 --out runs/ae4
      fromnoise train-autoencoder ./clipart --channels 4 --image-size 256 --disc-start 5000 --minutes 120
      fromnoise train-autoencoder ./clipart --channels 4 --image-size 256 --crop-size 0 --pixel-loss l1 \\
          --ssim-weight 1 --no-shortcut --lr 4e-4 --lr-decay none --minutes 30 --out runs/ldm  (LDM's way)
    """
    from .train_autoencoder_run import run  # the one deferred import: torch, the data and the trainer load here

    network = dict(factor=int(factor), latent_channels=latent_channels, widths=parse_widths(widths),
                   num_res_blocks=res_blocks, shortcut=shortcut)
    options["crop_size"] = options["crop_size"] or None  # 0: whole images
    out = run(data, network, image_size, int(channels) if channels else None, limit,
              AutoencoderTrainingConfig(**options))
    done(f"done: checkpoints in {out / 'checkpoints'}, reconstructions in {out / 'samples'}, "
         f"loss plot {out / 'loss.png'}\n"
         f"next: fromnoise train {data} --autoencoder {out}   (latent diffusion)")
