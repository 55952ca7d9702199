"""``fromnoise sample`` (alias ``inference``): generate images from a checkpoint."""

from __future__ import annotations

import click

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES, SPACINGS
from ..img2img_request import DETERMINISTIC, EDIT_DEFAULTS, EDIT_GUIDANCE, STRENGTH_FULL, STRENGTH_VARIATION


@click.command("sample", context_settings={"show_default": True})
@click.argument("checkpoint", required=False)
@click.option("--checkpoint", "checkpoint_opt", default=None,
              help="Run or checkpoint directory (same as the argument).")
@click.option("--num-images", "--num_images", "-n", "num_images", type=click.IntRange(1, 100000), default=64,
              help="Images to generate (per class or prompt when several are given).")
@click.option("--sampler", type=click.Choice(list(SAMPLER_NAMES)), default=DEFAULT_SAMPLER,
              help="Sampling method (tutorial 01 compares them).")
@click.option("--steps", type=click.IntRange(1, 100000), default=20, help="Sampler steps (ddpm: use 1000 for DDPM).")
@click.option("--spacing", type=click.Choice(list(SPACINGS)), default="trailing",
              help="Step spacing: trailing (even in t), karras (rho 7: more steps at low noise) or logsnr.")
@click.option("--eta", type=click.FloatRange(0, 1), default=0.0, help="DDIM stochasticity.")
@click.option("--seed", type=int, default=0, help="Seed of image 0; image i uses seed + i.")
@click.option("--guidance", type=click.FloatRange(0, 50), default=None,
              help="Classifier-free guidance scale (conditional models): 1 = plain conditional. Default: the "
                   "model's preset's measured suggestion (youandme-latent: 2) when a condition is given and no "
                   "image is edited, else 1.")
@click.option("--class", "classes", multiple=True, help="Class name or index; repeat for one grid row per class.")
@click.option("--prompt", "prompts", multiple=True, help="Text prompt; repeat for one grid row per prompt.")
@click.option("--features", type=click.Path(exists=True, dir_okay=False), help="JSON of feature values in [0, 1].")
@click.option("--like", type=click.Path(exists=True, dir_okay=False), help="Take features (and mask) from this image.")
@click.option("--set", "set_", multiple=True, help="Move one feature: --set temperature=0.9 (repeatable).")
@click.option("--mask", type=click.Path(exists=True, dir_okay=False),
              help="With --inpaint: the region to regenerate (white), of the image's size. Without: the object "
                   "silhouette of a mask-conditioned model (white = object).")
@click.option("--init", "init_path", type=click.Path(exists=True, dir_okay=False),
              help="Variation or edit of this image (SDEdit): noised to --strength, then sampled back, under any "
                   "--class/--prompt/--set given.")
@click.option("--inpaint", "inpaint_path", type=click.Path(exists=True, dir_okay=False),
              help="Regenerate the --mask region of this image, keeping the rest exactly (RePaint).")
@click.option("--strength", type=float, default=EDIT_DEFAULTS.strength,
              help=f"In (0, 1]: how far the input is noised (default {STRENGTH_VARIATION:g} for --init, "
                   f"{STRENGTH_FULL:g} for --inpaint or --invert).")
@click.option("--invert", is_flag=True, default=EDIT_DEFAULTS.invert,
              help=f"Start from the DDIM inversion of the input instead of noise (deterministic samplers: "
                   f"{', '.join(DETERMINISTIC)}); strength 1 then gives the input back.")
@click.option("--from-class", default=None, help="Edit: the input's own class. With --invert the input is inverted "
              "under it, and --guidance pushes from it to the new --class (instead of from the null class); "
              f"measured best trade-off: --invert --sampler ddim --guidance {EDIT_GUIDANCE:g} (tutorial 07).")
@click.option("--from-prompt", default=None, help="Edit: the input's own prompt, as --from-class for text models.")
@click.option("--negative-class", default=None, help="Guide away from this class (needs --guidance > 1).")
@click.option("--negative-prompt", default=None, help="Guide away from this prompt (needs --guidance > 1).")
@click.option("--resample", type=click.IntRange(1, 100), default=EDIT_DEFAULTS.resample,
              help="RePaint resampling: each stretch of the walk is denoised this many times (1: plain replacement).")
@click.option("--jump-length", type=click.IntRange(1, 1000), default=EDIT_DEFAULTS.jump_length,
              help="RePaint: grid points per jump back.")
@click.option("--feather", type=click.FloatRange(0, 64), default=EDIT_DEFAULTS.feather,
              help="Pixels over which the regenerated region fades in at the seam (0: a hard edge).")
@click.option("--interpolate", type=click.IntRange(2, 200), default=None, metavar="FRAMES",
              help="Interpolate: between --seed and --seed-to (slerp of the noise), or between two conditions "
                   "(two --prompt, two --like; lerp of the embeddings); writes a strip and a GIF.")
@click.option("--seed-to", type=int, default=None, help="The other end of a seed interpolation (default: --seed + 1).")
@click.option("--show-intermediate", "--show_intermediate", is_flag=True,
              help="Also write the denoising frames as a grid and an animated GIF.")
@click.option("--frames", type=click.IntRange(2, 200), default=20, help="Frames kept for --show-intermediate.")
@click.option("--out", default=None, help="Output folder (default: CHECKPOINT/generated).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, help="Images per network batch.")
@click.option("--ema/--no-ema", default=True, help="Use the EMA weights.")
@click.option("--device", default="auto", help="cpu, cuda, or auto.")
@click.option("--processes", type=click.IntRange(1, 1024), default=1,
              help="Share the images among this many local processes (CPU cores or one GPU each); image i still "
                   "depends only on --seed + i. Several machines: accelerate launch -m fromnoise sample.")
@click.option("--allow-download", is_flag=True, default=False,
              help="Let a text model that is not a local folder be downloaded from the Hugging Face hub "
                   "for --prompt (otherwise nothing is fetched).")
def sample(checkpoint, checkpoint_opt, num_images, sampler, steps, spacing, eta, seed, guidance, classes, prompts,
           features, like, set_, mask, init_path, inpaint_path, strength, invert, from_class, from_prompt,
           negative_class, negative_prompt, resample, jump_length, feather, interpolate,
           seed_to, show_intermediate, frames, out, batch_size, ema, device, processes, allow_download):
    """Generate images: a grid PNG, one PNG per image, and optionally the denoising GIF.

    \b
    Examples:
      fromnoise sample runs/fashion -n 64
      fromnoise sample runs/fashion -n 16 --show-intermediate --sampler ddpm --steps 1000
      fromnoise sample runs/fmnist-class --class sandal --class bag -n 8 --guidance 3
      fromnoise sample runs/fashion --inpaint shirt.png --mask hole.png -n 8 --resample 5 --jump-length 5
      fromnoise sample runs/fashion --init shirt.png --strength 0.6 -n 8
      fromnoise sample runs/fmnist-text --init shirt.png --prompt "a photo of a boot" --strength 0.7
      fromnoise sample runs/fmnist-class --init shirt.png --from-class shirt --class trouser --invert \
          --sampler ddim --guidance 1.05 -n 4
      fromnoise sample runs/fashion --interpolate 16 --seed 3 --seed-to 8 --sampler dpmpp_2m
      fromnoise sample runs/fashion -n 10000 --processes 2 --batch-size 256    # both cores
      fromnoise inference --checkpoint outputs --num_images 64                 # reference 001/002 style
    """
    params = dict(locals())
    from .sample_run import launch_sample  # the one deferred import: torch and the model code load here

    launch_sample(params)
