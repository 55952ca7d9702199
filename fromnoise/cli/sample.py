"""``fromnoise sample`` (alias ``inference``): generate images from a checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..sampling.samplers import DEFAULT_SAMPLER, SAMPLERS, SPACINGS
from .options import done, process_role


@click.command("sample", context_settings={"show_default": True})
@click.argument("checkpoint", required=False)
@click.option("--checkpoint", "checkpoint_opt", default=None, help="Run or checkpoint directory (same as the argument).")
@click.option("--num-images", "--num_images", "-n", "num_images", type=click.IntRange(1, 100000), default=64,
              help="Images to generate (per class or prompt when several are given).")
@click.option("--sampler", type=click.Choice(list(SAMPLERS)), default=DEFAULT_SAMPLER,
              help="Sampling method (tutorial 01 compares them).")
@click.option("--steps", type=click.IntRange(1, 100000), default=20, help="Sampler steps (ddpm: use 1000 for DDPM).")
@click.option("--spacing", type=click.Choice(list(SPACINGS)), default="trailing",
              help="Step spacing: trailing (even in t), karras (rho 7: more steps at low noise) or logsnr.")
@click.option("--eta", type=click.FloatRange(0, 1), default=0.0, help="DDIM stochasticity.")
@click.option("--seed", type=int, default=0, help="Seed of image 0; image i uses seed + i.")
@click.option("--guidance", type=click.FloatRange(0, 50), default=1.0,
              help="Classifier-free guidance scale (conditional models): 1 = plain conditional.")
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
@click.option("--strength", type=float, default=None,
              help="In (0, 1]: how far the input is noised (default 0.6 for --init, 1 for --inpaint or --invert).")
@click.option("--invert", is_flag=True, help="Start from the DDIM inversion of the input instead of noise "
              "(deterministic samplers: ddim, dpmpp_2m, euler, heun); strength 1 then gives the input back.")
@click.option("--from-class", default=None, help="Edit: the input's own class. With --invert the input is inverted "
              "under it, and --guidance pushes from it to the new --class (instead of from the null class).")
@click.option("--from-prompt", default=None, help="Edit: the input's own prompt, as --from-class for text models.")
@click.option("--negative-class", default=None, help="Guide away from this class (needs --guidance > 1).")
@click.option("--negative-prompt", default=None, help="Guide away from this prompt (needs --guidance > 1).")
@click.option("--resample", type=click.IntRange(1, 100), default=1,
              help="RePaint resampling: each stretch of the walk is denoised this many times (1: plain replacement).")
@click.option("--jump-length", type=click.IntRange(1, 1000), default=10, help="RePaint: grid points per jump back.")
@click.option("--feather", type=click.FloatRange(0, 64), default=1.0,
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
def sample(checkpoint, checkpoint_opt, num_images, sampler, steps, spacing, eta, seed, guidance, classes, prompts, features,
           like, set_, mask, init_path, inpaint_path, strength, invert, from_class, from_prompt, negative_class,
           negative_prompt, resample, jump_length, feather, interpolate,
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
          --sampler ddim --strength 0.7 --guidance 5 -n 4
      fromnoise sample runs/fashion --interpolate 16 --seed 3 --seed-to 8 --sampler dpmpp_2m
      fromnoise sample runs/fashion -n 10000 --processes 2 --batch-size 256    # both cores
      fromnoise inference --checkpoint outputs --num_images 64                 # reference 001/002 style
    """
    params = dict(locals())
    from ..training.launch import launch

    launch(run_sample, (params,), processes=processes)


def run_sample(params: dict) -> None:
    """``fromnoise sample`` in one process (of one, of --processes N, or of accelerate launch)."""
    _sample(**{k: v for k, v in params.items() if k != "processes"})


def _sample(checkpoint, checkpoint_opt, num_images, sampler, steps, spacing, eta, seed, guidance, classes, prompts, features,
            like, set_, mask, init_path, inpaint_path, strength, invert, from_class, from_prompt, negative_class,
            negative_prompt, resample, jump_length, feather, interpolate,
            seed_to, show_intermediate, frames, out, batch_size, ema, device, allow_download):
    """Every process generates its share of the images; the main process gathers them and writes the files."""
    import torch

    import fromnoise

    from ..conditioning.request import build_condition
    from ..errors import UserError
    from ..sampling.img2img_request import EditRequest
    from ..sampling.generate import generate_across_processes
    from ..viz import save_gif, save_grid, save_images

    ckpt = checkpoint or checkpoint_opt
    if not ckpt:
        raise UserError("say which model to sample: fromnoise sample RUN_DIR (or --checkpoint RUN_DIR)")
    from ..autoencoder.reconstruct import is_autoencoder_run, sample_autoencoder

    main, device = process_role(device)
    if is_autoencoder_run(ckpt):  # an autoencoder run: originals beside their reconstructions
        return done(sample_autoencoder(ckpt, num_images, out, device=device)) if main else None
    denoiser = fromnoise.load(ckpt, ema=ema, device=device)
    if "text" in denoiser.encoders:  # a checkpoint never grants downloads; only this flag does
        denoiser.encoders["text"].allow_download = allow_download
    edit_request = EditRequest(init=init_path, inpaint=inpaint_path, mask=mask, strength=strength, invert=invert,
                               resample=resample, jump_length=jump_length, feather=feather, from_class=from_class,
                               from_prompt=from_prompt, negative_class=negative_class, negative_prompt=negative_prompt)
    with _notes():
        edit = edit_request.generate_kwargs(denoiser)
    if interpolate and edit_request.image:
        raise UserError("--interpolate starts from noise; it cannot take --init or --inpaint")
    if not main and (interpolate or edit_request.image):
        return  # one process does these; the main one below
    if main and int(os.environ.get("WORLD_SIZE", 1)) > 1 and (interpolate or edit_request.image):
        click.echo("note: --interpolate, --init and --inpaint run on the main process only", err=True)
    request = {"classes": list(classes), "prompts": list(prompts), "features": features, "like": like,
               "set": list(set_), "mask": edit_request.condition_mask}
    if interpolate:
        return _interpolate(denoiser, request, interpolate, seed, seed_to, out, sampler=sampler, steps=steps,
                            spacing=spacing, guidance=guidance, eta=eta, batch_size=batch_size)
    condition, rows = build_condition(denoiser, request, num_images)
    total = num_images * max(1, len(rows))
    if guidance != 1.0 and condition is None:
        if not denoiser.conditional:
            raise UserError(f"--guidance {guidance} needs a conditional model; this one is unconditional")
        raise UserError("--guidance needs a condition: give --class, --prompt, --features or --like")
    edit.update(edit_request.condition_kwargs(denoiser, total, condition, guidance))
    out_dir = Path(out) if out else Path(denoiser.checkpoint).parent.parent / "generated"
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)

    keep_frames: list = []
    callback = None
    if show_intermediate:  # every step of the first batch; an image-to-image walk has its own length
        n_show = min(total, 8)

        def callback(d):
            if d["offset"] == 0:
                keep_frames.append(((d["x"][:n_show].float().clamp(-1, 1) + 1) / 2).cpu())

    run = fromnoise.generate if edit_request.image else generate_across_processes  # edits: the main process alone
    with _notes():
        images = run(denoiser, total, sampler=sampler, steps=steps, spacing=spacing, seed=seed, guidance=guidance,
                     condition=condition, callback=callback, batch_size=batch_size, eta=eta, progress=main, **edit)
    if not main:
        return
    if keep_frames:
        picks = torch.linspace(0, len(keep_frames) - 1, min(frames, len(keep_frames))).round().long().tolist()
        keep_frames = [keep_frames[i] for i in picks]
    nrow = num_images if rows else None
    grid_path = save_grid(images, out_dir / "grid.png", nrow=nrow if nrow and nrow <= 32 else None)
    save_images(images, out_dir / "images")
    msg = [f"wrote {grid_path} and {len(images)} images in {out_dir / 'images'}"]
    if rows:
        msg.append("rows: " + " | ".join(rows))
    if show_intermediate and keep_frames:
        # frames: (F, n_show, C, H, W) -> a grid with one row per image, one column per frame
        stack = torch.stack(keep_frames)
        f, n_show = stack.shape[:2]
        save_grid(stack.transpose(0, 1).reshape(f * n_show, *stack.shape[2:]), out_dir / "denoising.png", nrow=f)
        gif = save_gif([save_grid_frame(s) for s in keep_frames], out_dir / "denoising.gif")
        msg.append(f"denoising frames: {out_dir / 'denoising.png'} and {gif}")
    done("\n".join(msg))


def save_grid_frame(batch):
    from ..viz import grid

    return grid(batch, nrow=min(4, batch.shape[0]))


# ------------------------------------------------------------------------------ image-to-image
class _notes:
    """Print generate()'s adaptation warnings (a resize, a thresholded mask) as one 'note:' line each."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self._seen = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        from ..sampling.img2img import Img2ImgWarning

        self._ctx.__exit__(*exc)
        for w in self._seen:
            if issubclass(w.category, Img2ImgWarning):
                click.echo(f"note: {w.message}", err=True)
        return False


def _interpolate(denoiser, request, frames, seed, seed_to, out, **kwargs):
    """--interpolate: a strip (one row) and a GIF between two seeds or two conditions."""
    from ..sampling.img2img_request import interpolation
    from ..viz import save_gif, save_grid, save_images

    images, rows, seeds = interpolation(denoiser, request, frames, seed, seed_to, progress=True, **kwargs)
    out_dir = Path(out) if out else Path(denoiser.checkpoint).parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    strip = save_grid(images, out_dir / "interpolation.png", nrow=frames)
    gif = save_gif(list(images), out_dir / "interpolation.gif", duration_ms=120, hold_last_ms=600)
    save_images(images, out_dir / "interpolation")
    ends = f"'{rows[0]}' -> '{rows[1]}'" if len(rows) == 2 else f"seed {seeds[0]} -> seed {seeds[1]}"
    done(f"wrote {strip} and {gif} ({frames} frames, {ends})")
