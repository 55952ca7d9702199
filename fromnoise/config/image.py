"""The generated images (:class:`ImageConfig`): channels and side in pixels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import UserError
from ..rules import MAX_SIDE, Field, check_keys, located


@dataclass
class ImageConfig:
    """The generated images: channels (1, 3 or 4) and side in pixels."""

    channels: int = 1
    size: int = 28

    def validate(self) -> ImageConfig:
        Field("int", 1, 4).check("image.channels", self.channels)
        Field("int", 1, MAX_SIDE).check("image.size", self.size)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> ImageConfig:
        try:
            check_keys("image", d, ("channels", "size"), ("channels", "size"))
            return cls(**d).validate()
        except UserError as err:
            raise located(where, err) from None
