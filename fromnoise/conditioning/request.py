"""From a user's sampling request (CLI options, web form) to the condition of every image.

Each conditioning encoder turns the parts of the request it understands into grid
rows (``ConditionEncoder.rows``); this module combines them: several classes or
prompts give one grid row each, ``per_row`` images per row.
"""

from __future__ import annotations

import json

import torch

from ..errors import UserError
from ..image_files import UnreadableImage, check_regular_file, read_image, shown

_FLAG = {"classes": "--class", "prompts": "--prompt", "set": "--set"}
_KNOWN = {"classes": "class", "prompts": "text", "features": "features", "like": "features", "set": "features",
          "mask": "mask"}


def _flag(key: str) -> str:
    return _FLAG.get(key, "--" + key)


def check_request_files(request: dict) -> None:
    """Refuse unreadable files named by a request before any encoder opens them.

    ``like`` and ``mask`` must be images :func:`fromnoise.image_files.read_image` can decode (a
    FIFO, a broken link, a decompression bomb or a corrupt file is one UserError, never a hang or
    a traceback); ``features`` must be a regular file of UTF-8 JSON.
    """
    for key in ("like", "mask"):
        if request.get(key):
            try:
                read_image(request[key])
            except UnreadableImage as err:
                raise UserError(f"{_flag(key)}: {err}") from None
    path = request.get("features")
    if path:
        try:
            check_regular_file(path)
            with open(path, "rb") as f:
                json.loads(f.read().decode("utf-8"))
        except UnreadableImage as err:
            raise UserError(f"--features: {str(err).replace('the image', 'the file')}") from None
        except (OSError, ValueError) as err:  # ValueError: not UTF-8 or not JSON
            raise UserError(f"--features: cannot read '{shown(path)}' as JSON ({err}); give a JSON object "
                            'of feature name -> value, e.g. {"temperature": 0.8}.') from None


def build_condition(denoiser, request: dict, per_row: int) -> tuple[dict | None, list[str]]:
    """(condition dict with len(rows) * per_row rows or None, the row labels).

    An unconditional model with a condition in the request, or a request that no encoder of
    this model understands, is a UserError that says what the model does take.
    """
    asked = {k: v for k, v in request.items() if v not in (None, (), [], "")}
    if not denoiser.encoders:
        if asked:
            raise UserError(f"this model is unconditional; it cannot take {', '.join(_flag(k) for k in asked)} "
                            "(train with --condition class|text|features)")
        return None, []
    check_request_files(asked)
    rows_by_kind = {}
    for kind, enc in denoiser.encoders.items():
        rows = enc.rows(asked)
        if rows:
            rows_by_kind[kind] = rows
    unused = [k for k in asked if _KNOWN.get(k) not in denoiser.encoders and k not in ("guidance",)]
    if unused:
        kinds = ", ".join(denoiser.encoders)
        raise UserError(f"this model is conditioned on {kinds}; it cannot take {', '.join(_flag(k) for k in unused)}")
    if not rows_by_kind:
        return None, []
    # encoders with one row (a feature vector, a mask) apply to every row of the others
    n_rows = max(len(r) for r in rows_by_kind.values())
    labels = [""] * n_rows
    cond: dict[str, list] = {}
    for rows in rows_by_kind.values():
        if len(rows) not in (1, n_rows):
            raise UserError(f"cannot combine {len(rows)} rows with {n_rows} rows in one grid")
        rows = rows * n_rows if len(rows) == 1 else rows
        for i, (label, entries) in enumerate(rows):
            labels[i] = f"{labels[i]} {label}".strip()
            for key, value in entries.items():
                cond.setdefault(key, []).append(value)
    out = {k: torch.cat(v).repeat_interleave(per_row, dim=0) for k, v in cond.items()}
    return out, labels
