"""What ``fromnoise train`` does, separated from its option parsing.

The options become typed configs (``fromnoise.config``) and every one of them is validated
before any data is loaded: a misspelt preset or a text model that would need a download fails
in a second, not after decoding 60,000 images.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import click

from ..build import make_config, network_spec
from ..conditioning.tables import setup_conditioning
from ..conditioning.text import resolve_model
from ..config import ConditioningConfig, DataConfig, DiffusionConfig, TrainingConfig
from ..config.training import SUGGESTED_AUGMENT, memorization_interval, suggests_augment
from ..data import canonical_source, composite_alpha, load_dataset
from ..errors import UserError
from ..evaluation.in_training import make_kid_hook, make_memorization_hook
from ..models import count_parameters, get_preset
from ..training import Trainer
from ..training.augment import AUGMENT_DIM, LATENT_REFUSAL
from ..training.latent import LatentTrainer, check_latent_options, latent_tables, prepare_latent_run
from ..training.launch import check_not_nested, launch

# Training fields a run may leave open: they then come from the preset's suggested settings (its
# recipe), horizontal flips from the data (on for folders and CIFAR-10).
AUTO_FIELDS = frozenset({"batch_size", "lr", "hflip", "lr_decay", "t_sampling", "min_snr_gamma", "ema_std",
                         "condition_dropout"})


def _default_preset(data) -> str:
    return "fashion" if data.image_size <= 28 and data.channels == 1 else "cpu32"


def configs_from_options(params: dict) -> dict:
    """``run_training`` keyword arguments from ``fromnoise train``'s options (None: not given)."""
    p = dict(params)
    data = DataConfig(source=p.pop("dataset"), image_size=p.pop("image_size"),
                      channels=int(p["channels"]) if p.get("channels") is not None else None, limit=p.pop("limit"))
    p.pop("channels", None)
    diffusion = DiffusionConfig(schedule=p.pop("schedule"), timesteps=p.pop("timesteps"),
                                prediction=p.pop("prediction"))
    templates = p.pop("caption_template")
    conditioning = ConditioningConfig(kind=p.pop("condition"),
                                      caption_templates=tuple([templates] if isinstance(templates, str)
                                                              else templates or ()),
                                      token_dropout=p.pop("token_dropout"), text_encoder=p.pop("text_encoder"),
                                      allow_download=bool(p.pop("allow_download")), mask=p.pop("mask"),
                                      mask_dropout=p.pop("mask_dropout", None))
    preset = p.pop("preset")
    autoencoder = p.pop("autoencoder", None)
    processes = int(p.pop("processes", None) or 1)
    p["compile"] = p.pop("compile_")
    p["out"] = p.get("out") or default_out(data.source)
    auto = {k for k in AUTO_FIELDS if p.get(k) is None}
    if p.get("ema_decay") is None:
        p.pop("ema_decay", None)  # the config's default decay
    elif p.get("ema_std") is None:
        auto.discard("ema_std")  # a decay given alone asks for the classic EMA, not the preset's power EMA
    known = {f.name for f in fields(TrainingConfig)}
    unknown = sorted(set(p) - known)
    if unknown:  # a programming error between train.py and this module, not a user's
        raise TypeError(f"options without a config field: {unknown}")
    training = TrainingConfig(**{k: v for k, v in p.items() if v is not None or k not in auto})
    return {"data": data, "training": training, "preset": preset, "diffusion": diffusion,
            "conditioning": conditioning, "auto": frozenset(auto), "processes": processes, "autoencoder": autoencoder}


def run_training(data: DataConfig, training: TrainingConfig, *, preset: str | None = None,
                 diffusion: DiffusionConfig | None = None, conditioning: ConditioningConfig | None = None,
                 auto: frozenset[str] = frozenset(), processes: int = 1, autoencoder: str | None = None,
                 model_overrides: dict | None = None) -> Path:
    """Load the data, build the model a preset describes, train it; returns the run directory.

    Args:
        data: which images.
        training: how to train; the fields named in ``auto`` (of ``AUTO_FIELDS``: batch size, lr, its decay,
            noise-level sampling, EMA, condition dropout, flips) are replaced by the preset's suggestion or the
            data's default.
        preset: network preset (None: fashion for 28x28 grayscale data, cpu32 otherwise).
        diffusion: schedule, T, prediction (None fields: the preset's suggestions).
        conditioning: what to condition on.
        processes: data-parallel training in this many local processes (``fromnoise.training.launch``),
            started after the data is loaded (it reaches them through shared memory); 1 under
            ``accelerate launch``, which starts the processes itself.
        autoencoder: a ``fromnoise train-autoencoder`` run: train a latent diffusion model on its latents
            (the data is loaded at its image size and channels unless told otherwise; the default
            preset is then youandme-latent).
        model_overrides: network settings that replace the preset's (``make_config``'s; the benches that
            choose a preset's width, depth or attention by measurement use them).
    """
    diffusion = (diffusion or DiffusionConfig()).validate(complete=False)
    conditioning = conditioning or ConditioningConfig()
    # everything that can be checked without the images is checked before they are loaded
    if training.steps is None and training.epochs is None and training.minutes is None:
        raise UserError("say how long to train: --steps N, --epochs N or --minutes N")
    check_not_nested(processes)  # before any data is loaded
    if preset is not None:
        get_preset(preset)  # an unknown name is a UserError listing the presets
    if conditioning.kind == "text":
        resolve_model(conditioning.text_encoder, conditioning.allow_download)
    named = canonical_source(data.source)
    ae = None
    if autoencoder is not None:  # checked before the images are loaded
        if training.augment:
            raise UserError(LATENT_REFUSAL)
        ae = check_latent_options(autoencoder, training, auto)
        data = replace(data, image_size=data.image_size or ae.image_size, channels=data.channels or ae.channels)

    images = load_dataset(data.source, image_size=data.image_size, channels=data.channels, limit=data.limit)
    if ae is None:  # RGBA: the colour under transparent pixels is arbitrary; learn the object on white + its alpha
        images = composite_alpha(images)  # (the autoencoder composites its own images the same way)
    preset = preset or ("youandme-latent" if ae is not None else _default_preset(images))
    out = Path(training.out)
    latents = latent = None
    if ae is not None:
        latents, latent = prepare_latent_run(autoencoder, images, out)
    # the network as make_config will build it: a changed width changes the embedding the encoders plug into
    spec = network_spec(preset, image_size=images.image_size, channels=images.channels, latent=latent,
                        model_overrides=model_overrides)
    conditioning_kwargs, tables = {}, {}
    if conditioning.kind != "none":
        options: dict = {}
        if conditioning.kind == "text":
            options = {"template": list(conditioning.caption_templates) or None, "encoder": conditioning.text_encoder,
                       "token_dropout": conditioning.token_dropout, "allow_download": conditioning.allow_download}
        if conditioning.kind == "features":
            options = {"mask": spec.defaults.get("mask", False) if conditioning.mask is None else conditioning.mask}
            if conditioning.mask_dropout is not None:
                if not options["mask"]:
                    raise UserError(f"--mask-dropout drops the object mask alone, but the preset '{preset}' has no "
                                    "mask input: add --mask or leave --mask-dropout out")
                options["mask_dropout"] = conditioning.mask_dropout
        conditioning_kwargs, tables = setup_conditioning(conditioning.kind, images, spec.embedding_width, **options)
    if training.augment and spec.arch != "unet":
        raise UserError(f"--augment needs a U-Net preset (the network takes the augmentation label as extra "
                        f"conditioning); the preset '{preset}' is a {spec.arch} network: choose another --preset")
    if latent is not None:  # features stay measured on the full-resolution images; the mask goes to latent size
        tables = latent_tables(tables, latent, images.image_size)
    config = make_config(preset, image_size=images.image_size, channels=images.channels, schedule=diffusion.schedule,
                         timesteps=diffusion.timesteps, prediction=diffusion.prediction,
                         conditioning=conditioning_kwargs, latent=latent,
                         model_overrides={**(model_overrides or {}),
                                          **({"augment_dim": AUGMENT_DIM} if training.augment else {})} or None)
    suggested = {k: spec.defaults.get(k, getattr(TrainingConfig, k)) for k in AUTO_FIELDS if k != "hflip"}
    suggested["hflip"] = named in (None, "cifar10") and latent is None
    training = replace(training, out=str(out), **{k: suggested[k] for k in auto})
    if training.batch_size % processes:
        raise UserError(f"the batch size {training.batch_size} does not split into {processes} processes; "
                        f"--batch-size is the global batch, so give a multiple of {processes}")
    hooks = []
    if training.eval_every:
        hooks.append(make_kid_hook(named or data.source, every=training.eval_every, n=training.eval_samples))
    every = memorization_interval(training, len(images))
    if every:  # copies of the training images, checked during training (on by default on a small data set)
        hooks.append(make_memorization_hook(every, n=training.memorization_samples, sampler=training.sampler,
                                            steps=training.sample_steps))
    if processes > 1:
        launch(_train, (config, images, training, tables, hooks, preset, latents), processes)
        return out
    return _train(config, images, training, tables, hooks, preset, latents)


def _train(config: dict, images, training: TrainingConfig, tables: dict, hooks: list, preset: str,
           latents=None) -> Path:
    """Build the Trainer (on ``latents``: the LatentTrainer, fromnoise.training.latent) and run it (in each
    process of a data-parallel run)."""
    if latents is not None:
        trainer = LatentTrainer(config, images, latents, training, tables, hooks=hooks)
    else:
        trainer = Trainer(config, images, training, tables, hooks=hooks)
    if trainer.main:
        world = f", {trainer.world} processes of {training.batch_size // trainer.world}" if trainer.world > 1 else ""
        click.echo(f"training {preset} ({count_parameters(trainer.denoiser) / 1e6:.2f}M parameters) on "
                   f"{images.description.get('source')} ({len(images)} images, {images.channels}x{images.image_size}x"
                   f"{images.image_size}){_latent_note(config)}, {config['diffusion']['prediction']}-prediction, "
                   f"{config['diffusion']['schedule']} schedule -> {training.out}{world}"
                   + (f" (resuming at step {trainer.step})" if trainer.step else ""), err=True)
        if (not trainer.step and latents is None and config["model"]["arch"] == "unet"
                and suggests_augment(training, len(images))):
            click.echo(f"note: {len(images)} training images is a small data set, on which a diffusion model "
                       f"learns to copy its images; consider --augment {SUGGESTED_AUGMENT} (non-leaking "
                       "augmentation) and watch memorized_share in metrics.jsonl", err=True)
    return trainer.run()


def _latent_note(config: dict) -> str:
    lat = config.get("latent")
    if not lat:
        return ""
    side = config["image"]["size"] // lat["factor"]
    return f" as {lat['latent_channels']}x{side}x{side} latents (factor {lat['factor']}, scale {lat['scale']:.3g})"


def default_out(source: str) -> str:
    """The run directory when --out is not given: runs/<data set or folder name>."""
    return f"runs/{(canonical_source(source) or Path(source).name).replace('/', '_')}"
