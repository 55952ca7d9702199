"""What autoencoder to build and how to train it: the two configs of ``fromnoise train-autoencoder``.

    AutoencoderConfig(image_size=256, channels=4, factor=8)            the network (config.json "autoencoder")
    AutoencoderTrainingConfig(out="runs/ae", minutes=30)               how to train it (config.json "training")

Both are validated on construction (a UserError naming the field); their defaults are the CLI's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..errors import UserError
from ..models.config import RECIPE_RULES
from ..rules import Field, check_dataclass_fields, check_keys, located

KIND = "autoencoder"  # config.json's "kind" for an autoencoder run
FACTORS = (4, 8)


# ------------------------------------------------------------------------------------ config
def default_widths(factor: int) -> tuple[int, ...]:
    """Channel widths per level when none are given: one level per halving, plus the full-size one."""
    return (16, 32, 64) if factor == 4 else (16, 32, 64, 64)


def default_latent_channels(factor: int) -> int:
    """Latent channels when none are given: LDM's 4 at factor 4; 8 at factor 8, where 4 channels hold a 48th
    of an RGB image's numbers (measured, issue 24: 29.9 dB on held-out 256x256 clip art after 30 CPU-minutes
    against 27.5 with 4, bench/results/autoencoder_stack_ssim05_c8_f8.json)."""
    return 4 if factor == 4 else 8


def parse_widths(text: str | None) -> tuple[int, ...] | None:
    """``"16,32,64"`` -> ``(16, 32, 64)``; None stays None (the factor's default). A UserError otherwise."""
    if text is None:
        return None
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise UserError(f"--widths '{text}' is not a comma-separated list of integers; "
                        "give e.g. 16,32,64,128") from None


@dataclass
class AutoencoderConfig:
    """What autoencoder to build; validated on construction (a UserError naming the field).

    ``widths`` has one entry per resolution level: ``log2(factor) + 1`` of them (3 for factor 4,
    4 for factor 8); the image is halved between consecutive levels. ``None`` takes
    :func:`default_widths`. Each width must be divisible by ``groups`` (GroupNorm). ``shortcut`` adds
    DC-AE's residual autoencoding (Chen et al. 2024, arxiv 2410.10733): around every down- and
    upsampling and at both ends of the latent, a parameter-free space-to-channel (or channel-to-space)
    shortcut, so the convolutions learn a residual on top of an average that already carries colour.
    """

    image_size: int = 256            # side of the square images it was trained on
    channels: int = 3                # image channels: 1, 3 or 4 (RGB + alpha = object mask)
    factor: int = 8                  # spatial downsampling factor: 4 or 8
    latent_channels: int | None = None  # None: default_latent_channels(factor), 4 at factor 4, 8 at factor 8
    widths: tuple[int, ...] | None = None  # per-level widths (None: default_widths(factor))
    num_res_blocks: int = 1          # ResBlocks per level (the decoder has one more, as in LDM)
    groups: int = 8                  # GroupNorm groups
    shortcut: bool = True            # DC-AE's parameter-free space-to-channel shortcuts (arxiv 2410.10733);
    #                                  a checkpoint written before they existed has no key and reads as False

    _RULES = {
        "image_size": Field("int", 8, 4096), "channels": Field("choice", choices=(1, 3, 4)),
        "factor": Field("choice", choices=FACTORS), "latent_channels": Field("int", 1, 64, none=True),
        "widths": Field("ints", 1, 4096, none=True, length=(1, 8)), "num_res_blocks": Field("int", 1, 8),
        "groups": Field("int", 1, 256), "shortcut": Field("bool"),
    }

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            rule = self._RULES[f.name]
            if rule.kind == "choice":  # integer choices: Field's "choice" checks strings
                if isinstance(value, bool) or value not in rule.choices:
                    raise UserError(f"autoencoder.{f.name} = {value!r} is not one of "
                                    f"{', '.join(map(str, rule.choices))}")
            else:
                setattr(self, f.name, rule.check(f"autoencoder.{f.name}", value))
        self.widths = tuple(self.widths) if self.widths is not None else default_widths(self.factor)
        if self.latent_channels is None:
            self.latent_channels = default_latent_channels(self.factor)
        levels = int(math.log2(self.factor)) + 1
        if len(self.widths) != levels:
            raise UserError(f"autoencoder.widths has {len(self.widths)} entries but factor {self.factor} needs "
                            f"{levels} (one per level: log2(factor) + 1); give e.g. "
                            f"{','.join(map(str, default_widths(self.factor)))}")
        bad = [w for w in self.widths if w % self.groups]
        if bad:
            raise UserError(f"autoencoder.widths {bad[0]} is not divisible by autoencoder.groups = {self.groups}; "
                            "use multiples of the group count")
        if self.shortcut and self.widths[-1] % self.latent_channels:
            raise UserError(f"autoencoder.widths' last entry {self.widths[-1]} is not a multiple of "
                            f"autoencoder.latent_channels = {self.latent_channels}, which the shortcut averages it "
                            "down to; choose widths that are multiples of the latent channels")
        if self.image_size % self.factor:
            raise UserError(f"autoencoder.image_size = {self.image_size} is not divisible by the factor "
                            f"{self.factor}; use a multiple of {self.factor}")

    @property
    def latent_size(self) -> int:
        """Side of the latent grid: image_size / factor."""
        return self.image_size // self.factor

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> AutoencoderConfig:
        """A validated config from JSON (unknown keys and bad values are a UserError naming the field)."""
        try:
            check_keys("autoencoder", d, [f.name for f in fields(cls)])
            return cls(**{"shortcut": False, **d})  # runs from before the shortcuts have no such key
        except UserError as err:
            raise located(where, err) from None


def autoencoder_config(config: dict, where: str = "the checkpoint") -> AutoencoderConfig:
    """The validated AutoencoderConfig of a checkpoint's config.json; a UserError when it is not an autoencoder."""
    if not isinstance(config, dict) or config.get("kind") != KIND or "autoencoder" not in config:
        raise UserError(f"{where} is not an autoencoder run (its config.json lacks \"kind\": \"autoencoder\"); "
                        "pass the --out directory of 'fromnoise train-autoencoder'")
    return AutoencoderConfig.from_dict(config["autoencoder"], where=f"{where}: config.json")


@dataclass
class AutoencoderTrainingConfig:
    """How to train the autoencoder; validated on construction. Its defaults are the CLI's."""

    out: str = "runs/autoencoder"      # run directory: checkpoints, samples, logs
    steps: int | None = None           # stop after this many optimizer steps in total
    minutes: float | None = None       # ... or after this much time in this invocation (see clock)
    clock: str = "wall"                # minutes of "wall" time, or of this process's "cpu" time (benchmarks)
    # the defaults are the recipe measured per CPU-minute (bench/bench_autoencoder.py, report.md "The
    # autoencoder per CPU-minute"): 64x64 crops, batch 16, lr 1e-3 with a cosine decay, squared error + 0.05 SSIM
    batch_size: int = 16
    lr: float = 1e-3                   # peak AdamW learning rate
    warmup: int = 50                   # linear lr warm-up steps
    lr_decay: str = "cosine"           # "cosine": to 0 at the end of the budget (steps or minutes); or "none"
    crop_size: int | None = 64         # train on random crops of this side (a multiple of the factor; images no
    #                                    larger than it train whole); None: whole images
    grad_clip: float = 1.0             # max gradient norm (0: off)
    kl_weight: float = 1e-6            # LDM's KL weight (see fromnoise.autoencoder.losses)
    pixel_loss: str = "l2"             # "l2" (the squared error: keeps colour, see .losses) or "l1" (LDM's)
    ssim_weight: float = 0.05          # weight of (1 - SSIM) beside the pixel loss (0.25 let SSIM's term, 3x the
    #                                    squared error's at 31 dB, steer the steps; 0.05 won PSNR and SSIM alike)
    disc_start: int | None = None      # step at which the PatchGAN discriminator switches on (None: never)
    disc_weight: float = 0.5           # LDM's discriminator weight (times the adaptive weight)
    hflip: bool = True                 # random horizontal flips (the mask channel flips with the image)
    # the second round of levers (report.md, "Second round"): each measured at 30 CPU-minutes
    posterior: str = "mode"            # what the decoder sees in training: the "mode" of q(z | x) (its mean, what
    #                                    encoding for diffusion uses; DC-AE trains deterministically) or a "sample"
    adam_beta1: float = 0.9            # AdamW's betas for the autoencoder (LDM's (0.5, 0.9) were set for its
    adam_beta2: float = 0.99           # discriminator, which keeps them)
    channels_last: bool = True         # NHWC convolutions (5-15% faster steps on the CPU: bench_autoencoder_speed)
    sample_every: int = 500            # steps between reconstruction grids (and loss plots)
    save_every: int = 1000             # steps between checkpoints
    keep: int = 3                      # checkpoints kept
    num_samples: int = 8               # images in each reconstruction grid
    log_every: int = 10
    seed: int = 0
    progress: bool = True

    _RULES = {
        "out": Field("str"), "steps": Field("int", 1, None, none=True),
        "minutes": Field("float", 0, None, none=True, lo_open=True),
        "clock": Field("choice", choices=("wall", "cpu")), "batch_size": Field("int", 1, 65536),
        "lr": Field("float", 0, 1, lo_open=True), "warmup": Field("int", 0, None),
        "lr_decay": RECIPE_RULES["lr_decay"], "crop_size": Field("int", 1, 4096, none=True),
        "grad_clip": Field("float", 0, None), "kl_weight": Field("float", 0, 1),
        "pixel_loss": Field("choice", choices=("l1", "l2")), "ssim_weight": Field("float", 0, 100),
        "disc_start": Field("int", 0, None, none=True),
        "disc_weight": Field("float", 0, 100), "hflip": Field("bool"),
        "posterior": Field("choice", choices=("sample", "mode")), "adam_beta1": Field("float", 0, 1, hi_open=True),
        "adam_beta2": Field("float", 0, 1, hi_open=True), "channels_last": Field("bool"),
        "sample_every": Field("int", 1, None),
        "save_every": Field("int", 1, None), "keep": Field("int", 1, None), "num_samples": Field("int", 1, 256),
        "log_every": Field("int", 1, None), "seed": Field("int"), "progress": Field("bool"),
    }

    def __post_init__(self):
        try:
            check_dataclass_fields(self, "autoencoder training")
        except UserError as err:
            raise UserError(f"{err}; fix that training option") from None

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> AutoencoderTrainingConfig:
        try:
            check_keys("training", d, [f.name for f in fields(cls)])
            return cls(**d)
        except UserError as err:
            raise located(where, err) from None
