"""What ``fromnoise train`` does, separated from its option parsing."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError


def _default_preset(data) -> str:
    return "fashion" if data.image_size <= 28 and data.channels == 1 else "cpu32"


def run_training(*, dataset, preset, image_size, channels, limit, steps, epochs, minutes, batch_size, lr, warmup,
                 lr_decay,
                 schedule, timesteps, prediction, min_snr_gamma, ema_decay, grad_clip, grad_accum, condition,
                 condition_dropout, caption_template, token_dropout, text_encoder, mask, hflip, color_jitter, out, sample_every,
                 save_every, keep, num_samples, eval_every, eval_samples, seed, compile_, progress) -> Path:
    from ..build import make_config
    from ..data import canonical_source, load_dataset
    from ..models import get_preset
    from ..training import Trainer, TrainOptions
    from ..training.conditions import setup_conditioning

    if steps is None and epochs is None and minutes is None:
        raise UserError("say how long to train: --steps N, --epochs N or --minutes N")
    named = canonical_source(str(dataset))
    data = load_dataset(dataset, image_size=image_size, channels=int(channels) if channels else None, limit=limit)
    preset = preset or _default_preset(data)
    spec = get_preset(preset, image_size=data.image_size, channels=data.channels)
    out = Path(out or f"runs/{(named or Path(dataset).name).replace('/', '_')}")
    emb_dim = spec.kwargs.get("emb_dim") or (4 * spec.kwargs["channels"][0] if spec.arch == "unet"
                                              else spec.kwargs.get("time_dim", 128))
    conditioning, tables = {}, {}
    if condition != "none":
        options = ({"template": caption_template, "encoder": text_encoder, "token_dropout": token_dropout}
                   if condition == "text" else {})
        if condition == "features":
            options = {"mask": spec.defaults.get("mask", False) if mask is None else mask}
        conditioning, tables = setup_conditioning(condition, data, emb_dim, **options)
    config = make_config(preset, image_size=data.image_size, channels=data.channels, schedule=schedule,
                         timesteps=timesteps, prediction=prediction, conditioning=conditioning)
    d = spec.defaults
    if hflip is None:
        hflip = named in (None, "cifar10")
    opts = TrainOptions(out=str(out), steps=steps, epochs=epochs, minutes=minutes,
                        batch_size=batch_size or d.get("batch_size", 64), lr=lr or d.get("lr", 2e-4), warmup=warmup,
                        lr_decay=lr_decay,
                        grad_clip=grad_clip, grad_accum=grad_accum, ema_decay=ema_decay, min_snr_gamma=min_snr_gamma,
                        condition_dropout=condition_dropout, hflip=hflip, color_jitter=color_jitter,
                        sample_every=sample_every, save_every=save_every, keep=keep, num_samples=num_samples,
                        seed=seed, compile=compile_, progress=progress)
    hooks = []
    if eval_every:
        from ..evaluation.in_training import make_kid_hook

        hooks.append(make_kid_hook(named or str(dataset), every=eval_every, n=eval_samples))
    trainer = Trainer(config, data, opts, tables, hooks=hooks)
    from ..models import count_parameters

    click.echo(f"training {preset} ({count_parameters(trainer.denoiser) / 1e6:.2f}M parameters) on "
               f"{data.description.get('source')} ({len(data)} images, {data.channels}x{data.image_size}x"
               f"{data.image_size}), {config['diffusion']['prediction']}-prediction, "
               f"{config['diffusion']['schedule']} schedule -> {out}"
               + (f" (resuming at step {trainer.step})" if trainer.step else ""), err=True)
    return trainer.run()
