"""The forward process's config (:class:`DiffusionConfig`) and the names it is checked against, without torch.

``fromnoise.config`` and ``--help`` read this module; the torch code (``schedules.py``,
``process.py``) defines the schedules and parametrisations these names stand for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import UserError
from ..rules import Field, check_keys, located

# the keys of schedules.SCHEDULES (checked there); cosine-shiftS: simple diffusion's shifted cosine (arxiv 2301.11093)
SCHEDULE_NAMES = ("linear", "cosine", "sigmoid", "cosine-shift2", "cosine-shift4", "cosine-shift8")
PREDICTIONS = ("eps", "x0", "v")                  # what the network may predict (process.to_eps_x0)


@dataclass
class DiffusionConfig:
    """The forward process: noise schedule, number of steps T, and what the network predicts.

    None (only before a preset is chosen) means "the preset's suggestion"; a stored config is complete.
    """

    schedule: str | None = None     # linear | cosine | sigmoid | cosine-shift2/4/8 (fromnoise.diffusion.SCHEDULES)
    timesteps: int = 1000           # diffusion steps T
    prediction: str | None = None   # eps | x0 | v (fromnoise.diffusion.PREDICTIONS)

    def validate(self, complete: bool = True) -> DiffusionConfig:
        table = {"schedule": Field("choice", choices=SCHEDULE_NAMES, none=not complete),
                 "timesteps": Field("int", 2, 100_000),
                 "prediction": Field("choice", choices=PREDICTIONS, none=not complete)}
        for key, rule in table.items():
            rule.check(f"diffusion.{key}", getattr(self, key))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> DiffusionConfig:
        try:
            check_keys("diffusion", d, [f.name for f in fields(cls)], ("schedule", "timesteps", "prediction"))
            return cls(**d).validate()
        except UserError as err:
            raise located(where, err) from None
