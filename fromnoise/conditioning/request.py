"""From a user's sampling request (CLI options, web form) to the condition of every image.

Each conditioning encoder turns the parts of the request it understands into grid
rows (``ConditionEncoder.rows``); this module combines them: several classes or
prompts give one grid row each, ``per_row`` images per row.
"""

from __future__ import annotations

import torch

from ..errors import UserError

_FLAG = {"classes": "--class", "prompts": "--prompt", "set": "--set"}
_KNOWN = {"classes": "class", "prompts": "text", "features": "features", "like": "features", "set": "features",
          "mask": "mask"}


def _flag(key: str) -> str:
    return _FLAG.get(key, "--" + key)


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
