"""Which network to build, without torch (the presets, ``fromnoise.config`` and ``--help`` read it).

:class:`ModelConfig` names an architecture and its keyword arguments: :class:`UNetConfig`'s fields
for the U-Net, or reference 004's ``DiffusionModel`` arguments. Each UNetConfig field carries its check
(``rules.ruled``), so that dataclass is the one schema of the U-Net's arguments:
:meth:`ModelConfig.validate` checks a checkpoint's ``model.kwargs`` against it before anything is built
(``fromnoise.models.network.build_network`` builds it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UserError
from ..rules import MAX_SIDE, MAX_WIDTH, Field, check_fields, check_keys, field_rules, located, ruled

# The largest network a config may describe: 1e9 parameters are 4 GB of float32 weights and ~20 GB
# of training state (weights, gradients, EMA, AdamW's two moments). Every preset is far below:
# youandme 84.3M, cifar 35.7M. (fromnoise.build.check_size counts a config's network on the meta device.)
MAX_PARAMETERS = 1_000_000_000
BYTES_PER_TRAINED_PARAMETER = 20  # float32 weights + gradient + EMA copy + AdamW exp_avg + exp_avg_sq

_FLAGS = Field("bools", length=(1, 8))  # one flag per level (at most 8 levels)
_OPTIONAL_WIDTH = Field("int", 1, MAX_WIDTH, none=True)


@dataclass
class UNetConfig:
    image_size: int = ruled(28, Field("int", 1, MAX_SIDE))     # square input side; documentation + checks
    in_channels: int = ruled(1, Field("int", 1, 64))            # image channels (+1 with a mask channel)
    out_channels: int = ruled(1, Field("int", 1, 64))           # predicted channels
    channels: tuple[int, ...] = ruled((32, 64, 128), Field("ints", 1, MAX_WIDTH, length=(1, 8)))  # width per level
    num_res_blocks: int = ruled(1, Field("int", 1, 8))          # ResBlocks per encoder level (decoder: one more)
    attention: tuple[bool, ...] = ruled((False, False, True), _FLAGS)  # self-attention after each level's blocks
    downsample: tuple[bool, ...] | None = ruled(None, Field("bools", none=True, length=(1, 8)))
    # ^ halve resolution after level i (default: all but last)
    mid_attention: bool = ruled(True, Field("bool"))            # self-attention in the middle block
    heads: int = ruled(4, Field("int", 1, 128))                 # attention heads
    groups: int = ruled(32, Field("int", 1, 1024))              # GroupNorm groups (reduced to divide the width)
    dropout: float = ruled(0.0, Field("float", 0, 1, hi_open=True))
    scale_shift: bool = ruled(True, Field("bool"))              # FiLM embedding injection (ADM) instead of a bias
    time_freq_dim: int | None = ruled(None, Field("int", 2, MAX_WIDTH, none=True))  # sinusoid width (channels[0])
    emb_dim: int | None = ruled(None, _OPTIONAL_WIDTH)          # time/condition embedding width (4 * channels[0])
    time_act: str = ruled("silu", Field("choice", choices=("silu", "gelu")))
    down_kind: str = ruled("conv", Field("choice", choices=("conv", "conv4", "conv_pool")))
    up_kind: str = ruled("conv", Field("choice", choices=("conv", "transpose")))
    context_dim: int | None = ruled(None, _OPTIONAL_WIDTH)      # cross-attention token width (None: none)
    cross_attention: tuple[bool, ...] | None = ruled(None, Field("bools", none=True, length=(1, 8)))
    # ^ levels with cross-attention (default: where self-attention is)
    patch: int = ruled(1, Field("int", 1, 16))                  # space-to-depth factor: the U-Net runs at size / patch
    skips: str = ruled("block", Field("choice", choices=("block", "level")))
    # ^ "block": a skip per encoder block (DDPM/ADM); "level": one per level, decoder = num_res_blocks (000-004)
    augment_dim: int = ruled(0, Field("int", 0, 64))           # augmentation-label width (0: none; --augment)
    # ^ non-leaking augmentation (EDM, 2206.00364): the label's linear map is summed into the time embedding

    def __post_init__(self):
        self.channels = tuple(self.channels)
        n = len(self.channels)
        self.attention = tuple(self.attention) if self.attention is not None else (False,) * n
        self.downsample = tuple(self.downsample) if self.downsample is not None else (True,) * (n - 1) + (False,)
        if self.cross_attention is not None:
            self.cross_attention = tuple(self.cross_attention)
        for name in ("attention", "downsample") + (("cross_attention",) if self.cross_attention else ()):
            if len(getattr(self, name)) != n:
                raise ValueError(f"UNetConfig.{name} needs one flag per level ({n}), got {getattr(self, name)}")

    @property
    def emb_width(self) -> int:
        return self.emb_dim or 4 * self.channels[0]

    def to_dict(self) -> dict:
        return asdict(self)


REFERENCE004_TIME_DIM = 128  # reference 004's default time-embedding width (DiffusionModel's time_dim)

# reference 004's DiffusionModel(image_size, channels, hidden_dims, time_dim, cond_dim): plain arguments,
# no dataclass, so its rules are this table (a test keeps it in step with the signature).
REFERENCE004_FIELDS: dict[str, Field] = {
    "image_size": Field("int", 1, MAX_SIDE),
    "channels": Field("int", 1, 64),
    "hidden_dims": Field("ints", 1, MAX_WIDTH, length=(1, 8)),
    "time_dim": Field("int", 2, MAX_WIDTH),
    "cond_dim": _OPTIONAL_WIDTH,
}
ARCH_FIELDS = {"unet": field_rules(UNetConfig), "reference004": REFERENCE004_FIELDS}
ARCH_REQUIRED = {"unet": (), "reference004": ("image_size", "channels")}

# The training fields a preset may suggest (its recipe): checked alike in a preset and in TrainingConfig.
RECIPE_RULES: dict[str, Field] = {
    "lr": Field("float", 0, 1, lo_open=True),
    "batch_size": Field("int", 1, 65536),
    "lr_decay": Field("choice", choices=("none", "cosine")),
    "t_sampling": Field("choice", choices=("uniform", "lognormal")),
    "min_snr_gamma": Field("float", 0, None, none=True),
    "ema_std": Field("float", 0, 0.288, none=True, lo_open=True),
    "condition_dropout": Field("float", 0, 1),
}

# A preset's suggested training settings (informational, kept in the checkpoint), and the guidance scale its
# conditional samples take when the user gives none (fromnoise.sampling.generate.resolve_guidance).
PRESET_DEFAULT_FIELDS: dict[str, Field] = {
    **RECIPE_RULES,
    "schedule": Field("str"),
    "prediction": Field("str"),
    "condition": Field("str"),
    "mask": Field("bool"),
    "guidance": Field("float", 0, 50),
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

    def validate(self) -> ModelConfig:
        """Known keys and ranges of the network's arguments (a UserError naming the field)."""
        arch = Field("choice", choices=tuple(ARCH_FIELDS)).check("model.arch", self.arch)
        self.kwargs = check_fields(f"model.kwargs ({arch})", self.kwargs, ARCH_FIELDS[arch], ARCH_REQUIRED[arch])
        self.defaults = check_fields("model.defaults", self.defaults, PRESET_DEFAULT_FIELDS)
        if arch == "unet":
            n = len(self.kwargs.get("channels", UNetConfig.channels))
            for name in ("attention", "downsample", "cross_attention"):
                flags = self.kwargs.get(name)
                if flags is not None and len(flags) != n:
                    raise UserError(f"model.kwargs.{name} has {len(flags)} flags but there are {n} levels "
                                    "(model.kwargs.channels); give one flag per level")
        return self

    @property
    def out_channels(self) -> int:
        """Channels the network predicts (the image channels)."""
        if self.arch == "unet":
            return int(self.kwargs.get("out_channels", UNetConfig.out_channels))
        return int(self.kwargs.get("channels", 1))  # reference004: required, so validate() refuses it missing

    @property
    def embedding_width(self) -> int:
        """Width of the time embedding that condition embeddings are summed into."""
        if self.arch == "unet":
            return int(self.kwargs.get("emb_dim") or 4 * self.kwargs.get("channels", UNetConfig.channels)[0])
        return int(self.kwargs.get("time_dim", REFERENCE004_TIME_DIM))

    def to_dict(self) -> dict:
        return {"arch": self.arch, "kwargs": dict(self.kwargs), "defaults": dict(self.defaults)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> ModelConfig:
        try:
            check_keys("model", d, ("arch", "kwargs", "defaults"), ("arch", "kwargs"))
            return cls(d["arch"], d["kwargs"], d.get("defaults", {})).validate()
        except UserError as err:
            raise located(where, err) from None


# What to build: ``arch`` and its keyword arguments (the presets' name for a ModelConfig).
ModelSpec = ModelConfig
