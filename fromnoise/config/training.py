"""How to train (:class:`TrainingConfig`): budget, optimisation, augmentation, pictures, checkpoints.

Each field carries its default and its check (``rules.ruled``): the dataclass is the one schema, and
``fromnoise train`` takes its option defaults from it (``default=TrainingConfig.warmup``). No torch
here: ``fromnoise train --help`` reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES
from ..errors import UserError
from ..models.config import RECIPE_RULES
from ..rules import Field, check_dataclass_fields, check_keys, located, ruled

_STEPS = Field("int", 1, None)       # a positive number of steps
# Fewer training images than this is a small data set: the model can learn to copy them (issue 25), so
# `fromnoise train` checks for copies during training by default and suggests --augment SUGGESTED_AUGMENT.
SMALL_DATA = 2000
SUGGESTED_AUGMENT = 0.15  # EDM's augment_p for CIFAR-10 was 0.12; 0.15 for a few hundred images
_POSITIVE = Field("float", 0, None, none=True, lo_open=True)


@dataclass
class TrainingConfig:
    """How to train: budget, optimisation, augmentation, pictures, checkpoints.

    The defaults here are the defaults of ``fromnoise train`` too. ``batch_size`` and ``lr`` are
    what is used when neither the user nor the preset says (every preset suggests its own).
    """

    out: str = ruled("runs/fashion", Field("str"))          # run directory: checkpoints, samples, logs
    steps: int | None = ruled(None, Field("int", 1, None, none=True))  # stop after this many optimizer steps in total
    epochs: float | None = ruled(None, _POSITIVE)           # ... or this many passes over the data
    minutes: float | None = ruled(None, _POSITIVE)          # ... or after this much time in this invocation (see clock)
    clock: str = ruled("wall", Field("choice", choices=("wall", "cpu")))
    # ^ minutes of "wall" time, or of this process's "cpu" time (benchmarks)
    batch_size: int = ruled(64, RECIPE_RULES["batch_size"])
    lr: float = ruled(2e-4, RECIPE_RULES["lr"])             # peak learning rate (DDPM's; the presets suggest their own)
    warmup: int = ruled(100, Field("int", 0, None))         # linear lr warm-up steps
    lr_decay: str = ruled("none", RECIPE_RULES["lr_decay"])  # "cosine": to 0 at the end of the budget
    weight_decay: float = ruled(0.0, Field("float", 0, None))
    grad_clip: float = ruled(1.0, Field("float", 0, None))  # max gradient norm (0: off)
    grad_accum: int = ruled(1, Field("int", 1, 1024))       # batches per optimizer step
    ema_decay: float = ruled(0.999, Field("float", 0, 1))
    ema_std: float | None = ruled(None, RECIPE_RULES["ema_std"])
    # ^ EDM2's power-function EMA of this relative width instead (2312.02696)
    ema_snapshots: int = ruled(0, Field("int", 0, None))    # steps between post-hoc EMA snapshots (0: none)
    min_snr_gamma: float | None = ruled(None, RECIPE_RULES["min_snr_gamma"])  # arxiv 2303.09556; None or 0: plain MSE
    loss_weighting: str = ruled("none", Field("choice", choices=("none", "uncertainty")))
    # ^ "uncertainty": EDM2's learned per-noise-level weighting (2312.02696)
    t_sampling: str = ruled("uniform", RECIPE_RULES["t_sampling"])
    # ^ training noise levels: uniform t, or EDM's "lognormal" sigma (2206.00364)
    lognormal_mean: float = ruled(-1.2, Field("float", -20, 20))  # ln sigma ~ N(mean, std^2) (EDM's P_mean, P_std)
    lognormal_std: float = ruled(1.2, Field("float", 0, 20, lo_open=True))
    condition_dropout: float = ruled(0.1, RECIPE_RULES["condition_dropout"])  # classifier-free guidance
    hflip: bool = ruled(False, Field("bool"))               # random horizontal flips (on for folders and CIFAR-10)
    color_jitter: float = ruled(0.0, Field("float", 0, 1))
    augment: float = ruled(0.0, Field("float", 0, 1))      # non-leaking geometric augmentation: each of
    # ^ x-flip, translation, scaling, rotation, anisotropy with this probability, labelled (EDM, 2206.00364; 0: off)
    memorization_every: int | None = ruled(None, Field("int", 0, None, none=True))
    # ^ steps between in-training memorization checks (0: off; None: memorization_interval's rule)
    memorization_samples: int = ruled(64, Field("int", 2, 4096))  # images per in-training memorization check
    sample_every: int = ruled(500, _STEPS)                  # steps between sample grids (and loss plots)
    save_every: int = ruled(1000, _STEPS)                   # steps between checkpoints
    keep: int = ruled(3, Field("int", 1, None))             # checkpoints kept
    num_samples: int = ruled(64, Field("int", 1, 1024))     # images in each sample grid
    sampler: str | None = ruled(None, Field("str", none=True))  # sampler of the grids (None: DEFAULT_SAMPLER)
    sample_steps: int = ruled(20, Field("int", 1, 100_000))
    eval_every: int = ruled(0, Field("int", 0, None))       # steps between in-training KID evaluations (0: off)
    eval_samples: int = ruled(256, Field("int", 16, 100_000))  # images per in-training KID
    seed: int = ruled(0, Field("int"))
    compile: bool = ruled(False, Field("bool"))             # torch.compile the network (x1.2 on the CPU, slow 1st step)
    log_every: int = ruled(10, _STEPS)
    progress: bool = ruled(True, Field("bool"))

    def __post_init__(self):
        try:
            check_dataclass_fields(self, "training")
            self.sampler = self.sampler or DEFAULT_SAMPLER
            Field("choice", choices=SAMPLER_NAMES).check("training.sampler", self.sampler)
        except UserError as err:
            raise UserError(f"{err}; fix that training option") from None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> TrainingConfig:
        try:
            check_keys("training", d, [f.name for f in fields(cls)])
            return cls(**d)
        except UserError as err:
            raise located(where, err) from None


def memorization_interval(options: TrainingConfig, n_images: int) -> int:
    """Steps between in-training memorization checks (0: none): ``options.memorization_every`` when given,
    else every ``sample_every`` steps on a small data set (fewer than SMALL_DATA images) and never on a
    larger one, where a check costs more and copying is rare."""
    if options.memorization_every is not None:
        return int(options.memorization_every)
    return int(options.sample_every) if n_images < SMALL_DATA else 0


def suggests_augment(options: TrainingConfig, n_images: int) -> bool:
    """Should ``fromnoise train`` suggest ``--augment`` (a small data set, trained without it)?"""
    return n_images < SMALL_DATA and not options.augment
