"""``fromnoise sample`` (alias ``inference``): generate images from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from ..sampling.samplers import DEFAULT_SAMPLER, SAMPLERS
from .options import done, pick_device


@click.command("sample", context_settings={"show_default": True})
@click.argument("checkpoint", required=False)
@click.option("--checkpoint", "checkpoint_opt", default=None, help="Run or checkpoint directory (same as the argument).")
@click.option("--num-images", "--num_images", "-n", "num_images", type=click.IntRange(1, 100000), default=64,
              help="Images to generate (per class or prompt when several are given).")
@click.option("--sampler", type=click.Choice(list(SAMPLERS)), default=DEFAULT_SAMPLER,
              help="Sampling method (tutorial 01 compares them).")
@click.option("--steps", type=click.IntRange(1, 100000), default=20, help="Sampler steps (ddpm: use 1000 for DDPM).")
@click.option("--eta", type=click.FloatRange(0, 1), default=0.0, help="DDIM stochasticity.")
@click.option("--seed", type=int, default=0, help="Seed of image 0; image i uses seed + i.")
@click.option("--guidance", type=click.FloatRange(0, 50), default=1.0,
              help="Classifier-free guidance scale (conditional models): 1 = plain conditional.")
@click.option("--class", "classes", multiple=True, help="Class name or index; repeat for one grid row per class.")
@click.option("--prompt", "prompts", multiple=True, help="Text prompt; repeat for one grid row per prompt.")
@click.option("--features", type=click.Path(exists=True, dir_okay=False), help="JSON of feature values in [0, 1].")
@click.option("--like", type=click.Path(exists=True, dir_okay=False), help="Take features (and mask) from this image.")
@click.option("--set", "set_", multiple=True, help="Move one feature: --set temperature=0.9 (repeatable).")
@click.option("--mask", type=click.Path(exists=True, dir_okay=False), help="Object mask PNG (mask-conditioned models).")
@click.option("--show-intermediate", "--show_intermediate", is_flag=True,
              help="Also write the denoising frames as a grid and an animated GIF.")
@click.option("--frames", type=click.IntRange(2, 200), default=20, help="Frames kept for --show-intermediate.")
@click.option("--out", default=None, help="Output folder (default: CHECKPOINT/generated).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, help="Images per network batch.")
@click.option("--ema/--no-ema", default=True, help="Use the EMA weights.")
@click.option("--device", default="auto", help="cpu, cuda, or auto.")
@click.option("--allow-download", is_flag=True, default=False,
              help="Let a text model that is not a local folder be downloaded from the Hugging Face hub "
                   "for --prompt (otherwise nothing is fetched).")
def sample(checkpoint, checkpoint_opt, num_images, sampler, steps, eta, seed, guidance, classes, prompts, features,
           like, set_, mask, show_intermediate, frames, out, batch_size, ema, device, allow_download):
    """Generate images: a grid PNG, one PNG per image, and optionally the denoising GIF.

    \b
    Examples:
      fromnoise sample runs/fashion -n 64
      fromnoise sample runs/fashion -n 16 --show-intermediate --sampler ddpm --steps 1000
      fromnoise sample runs/fmnist-class --class sandal --class bag -n 8 --guidance 3
      fromnoise inference --checkpoint outputs --num_images 64                 # reference 001/002 style
    """
    import torch

    import fromnoise
    from ..conditioning.request import build_condition
    from ..errors import UserError
    from ..viz import save_gif, save_grid, save_images

    ckpt = checkpoint or checkpoint_opt
    if not ckpt:
        raise UserError("say which model to sample: fromnoise sample RUN_DIR (or --checkpoint RUN_DIR)")
    denoiser = fromnoise.load(ckpt, ema=ema, device=pick_device(device))
    if "text" in denoiser.encoders:  # a checkpoint never grants downloads; only this flag does
        denoiser.encoders["text"].allow_download = allow_download
    request = {"classes": list(classes), "prompts": list(prompts), "features": features, "like": like,
               "set": list(set_), "mask": mask}
    condition, rows = build_condition(denoiser, request, num_images)
    total = num_images * max(1, len(rows))
    if guidance != 1.0 and condition is None:
        if not denoiser.conditional:
            raise UserError(f"--guidance {guidance} needs a conditional model; this one is unconditional")
        raise UserError("--guidance needs a condition: give --class, --prompt, --features or --like")
    out_dir = Path(out) if out else Path(denoiser.checkpoint).parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)

    keep_frames: list = []
    callback = None
    if show_intermediate:
        n_show = min(total, 8)
        grid_ts = steps  # number of sampler steps
        picks = set(torch.linspace(0, grid_ts - 1, min(frames, grid_ts)).round().long().tolist())

        def callback(d):
            if d["offset"] == 0 and d["i"] in picks:
                keep_frames.append(((d["x"][:n_show].float().clamp(-1, 1) + 1) / 2).cpu())

    images = fromnoise.generate(denoiser, total, sampler=sampler, steps=steps, seed=seed, guidance=guidance,
                                condition=condition, callback=callback, batch_size=batch_size, eta=eta, progress=True)
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
