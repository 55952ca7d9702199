"""The body of ``fromnoise sample`` (:mod:`.sample` is its options): load, generate, write the files.

Imported only when the command runs, so ``fromnoise sample --help`` does not import torch.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import click
import torch

from ..api import load
from ..autoencoder.reconstruct import is_autoencoder_run, sample_autoencoder
from ..conditioning.request import build_condition
from ..errors import UserError
from ..image_files import shown
from ..img2img_request import EditRequest
from ..sampling.generate import check_guidance, generate, generate_across_processes, resolve_guidance
from ..sampling.img2img import Img2ImgWarning
from ..sampling.img2img_files import condition_kwargs, edit_kwargs
from ..sampling.interpolation import interpolation
from ..training.launch import launch
from ..viz import save_frames, save_gif, save_grid, save_images
from .options import done, process_role


def launch_sample(params: dict) -> None:
    """``fromnoise sample`` in ``--processes`` processes (one: this one)."""
    launch(run_sample, (params,), processes=params["processes"])


def run_sample(params: dict) -> None:
    """``fromnoise sample`` in one process (of one, of --processes N, or of accelerate launch)."""
    _sample(**{k: v for k, v in params.items() if k != "processes"})


def _sample(checkpoint, checkpoint_opt, num_images, sampler, steps, spacing, eta, seed, guidance, classes, prompts,
            features, like, set_, mask, init_path, inpaint_path, strength, invert, from_class, from_prompt,
            negative_class, negative_prompt, resample, jump_length, feather, interpolate,
            seed_to, show_intermediate, frames, out, batch_size, ema, device, allow_download):
    """Every process generates its share of the images; the main process gathers them and writes the files."""
    ckpt = checkpoint or checkpoint_opt
    if not ckpt:
        raise UserError("say which model to sample: fromnoise sample RUN_DIR (or --checkpoint RUN_DIR)")
    main, device = process_role(device)
    if is_autoencoder_run(ckpt):  # an autoencoder run: originals beside their reconstructions
        return done(sample_autoencoder(ckpt, num_images, out, device=device)) if main else None
    denoiser = load(ckpt, ema=ema, device=device)
    if "text" in denoiser.encoders:  # a checkpoint never grants downloads; only this flag does
        denoiser.encoders["text"].allow_download = allow_download
    edit_request = EditRequest(init=init_path, inpaint=inpaint_path, mask=mask, strength=strength, invert=invert,
                               resample=resample, jump_length=jump_length, feather=feather, from_class=from_class,
                               from_prompt=from_prompt, negative_class=negative_class, negative_prompt=negative_prompt)
    with _notes():
        edit = edit_kwargs(edit_request, denoiser)
    if interpolate and edit_request.image:
        raise UserError("--interpolate starts from noise; it cannot take --init or --inpaint")
    if not main and (interpolate or edit_request.image):
        return  # one process does these; the main one below
    if main and int(os.environ.get("WORLD_SIZE", 1)) > 1 and (interpolate or edit_request.image):
        click.echo("note: --interpolate, --init and --inpaint run on the main process only", err=True)
    request = {"classes": list(classes), "prompts": list(prompts), "features": features, "like": like,
               "set": list(set_), "mask": edit_request.condition_mask}
    if edit_request.keep_own_condition(request, denoiser.encoders) and main:
        click.echo(f"note: the edit keeps the input's own features (--like {shown(edit_request.image)}); --set "
                   "moves the ones it names", err=True)
    if interpolate:
        return _interpolate(denoiser, request, interpolate, seed, seed_to, out, sampler=sampler, steps=steps,
                            spacing=spacing, guidance=guidance, eta=eta, batch_size=batch_size)
    condition, rows = build_condition(denoiser, request, num_images)
    total = num_images * max(1, len(rows))
    guidance = resolve_guidance(denoiser, guidance, condition, editing=bool(edit_request.image))
    check_guidance(denoiser, guidance, condition, option="--guidance",
                   give="give --class, --prompt, --features or --like")
    edit.update(condition_kwargs(edit_request, denoiser, total, condition, guidance))
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

    run = generate if edit_request.image else generate_across_processes  # edits: the main process alone
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
        png, gif = save_frames(keep_frames, out_dir / "denoising.png", out_dir / "denoising.gif")
        msg.append(f"denoising frames: {png} and {gif}")
    done("\n".join(msg))


class _notes:
    """Print generate()'s adaptation warnings (a resize, a thresholded mask) as one 'note:' line each."""

    def __enter__(self):
        self._ctx = warnings.catch_warnings(record=True)
        self._seen = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        for w in self._seen:
            if issubclass(w.category, Img2ImgWarning):
                click.echo(f"note: {w.message}", err=True)
        return False


def _interpolate(denoiser, request, frames, seed, seed_to, out, **kwargs):
    """--interpolate: a strip (one row) and a GIF between two seeds or two conditions."""
    images, rows, seeds = interpolation(denoiser, request, frames, seed, seed_to, progress=True, **kwargs)
    out_dir = Path(out) if out else Path(denoiser.checkpoint).parent.parent / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    strip = save_grid(images, out_dir / "interpolation.png", nrow=frames)
    gif = save_gif(list(images), out_dir / "interpolation.gif", duration_ms=120, hold_last_ms=600)
    save_images(images, out_dir / "interpolation")
    ends = f"'{rows[0]}' -> '{rows[1]}'" if len(rows) == 2 else f"seed {seeds[0]} -> seed {seeds[1]}"
    done(f"wrote {strip} and {gif} ({frames} frames, {ends})")
