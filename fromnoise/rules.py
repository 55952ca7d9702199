"""The checks behind every typed config: one rule per value (:class:`Field`), known keys, and
dataclasses whose fields are checked on construction. Each failure is one
:class:`~fromnoise.errors.UserError` naming the field (``diffusion.prediction 'foo' is not one of ...``).
No torch here: ``--help`` reads the configs.
"""

from __future__ import annotations

import math
from dataclasses import field, fields
from typing import Any

from .errors import UserError

MAX_WIDTH = 8192  # any channel / embedding width a config may ask for
MAX_SIDE = 4096  # any image side in pixels


class Field:
    """How one config value is checked: kind ("int", "float", "bool", "str", "choice", "ints", "bools",
    "strs", "dict", "any"), a closed range [lo, hi] (``lo_open``: lo excluded), choices, list lengths,
    and whether None is allowed."""

    def __init__(self, kind: str, lo: float | None = None, hi: float | None = None, *, none: bool = False,
                 choices: tuple | None = None, lo_open: bool = False, hi_open: bool = False,
                 length: tuple[int, int] | None = None):
        self.kind, self.lo, self.hi, self.none, self.choices = kind, lo, hi, none, choices
        self.lo_open, self.hi_open, self.length = lo_open, hi_open, length

    def range_text(self) -> str:
        lo = "(" if self.lo_open else "["
        hi = ")" if self.hi_open else "]"
        return f"{lo}{self.lo if self.lo is not None else '-inf'}, {self.hi if self.hi is not None else 'inf'}{hi}"

    def check_number(self, name: str, value) -> None:
        if not math.isfinite(value):
            raise UserError(f"{name} = {value!r} is not a finite number")
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low_bad or high_bad:
            raise UserError(f"{name} = {value!r} is out of range {self.range_text()}")

    def check(self, name: str, value) -> Any:
        """The checked value (lists become tuples of checked items); UserError naming ``name`` otherwise."""
        if value is None:
            if self.none or self.kind == "any":
                return None
            raise UserError(f"{name} is missing (null); it needs a value")
        kind = self.kind
        if kind == "any":
            return value
        if kind in ("ints", "bools", "strs"):
            if not isinstance(value, (list, tuple)):
                raise UserError(f"{name} must be a list, got {value!r}")
            if self.length and not self.length[0] <= len(value) <= self.length[1]:
                raise UserError(f"{name} has {len(value)} entries; it must have {self.length[0]} to {self.length[1]}")
            item = Field(kind[:-1], self.lo, self.hi, choices=self.choices)
            return tuple(item.check(f"{name}[{i}]", v) for i, v in enumerate(value))
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{name} must be an integer, got {value!r}")
            self.check_number(name, value)
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{name} must be a number, got {value!r}")
            self.check_number(name, float(value))
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise UserError(f"{name} must be true or false, got {value!r}")
            return value
        if kind in ("str", "choice"):
            if not isinstance(value, str):
                raise UserError(f"{name} must be a string, got {value!r}")
            if kind == "choice" and value not in self.choices:
                raise UserError(f"{name} {value!r} is not one of {', '.join(self.choices)}")
            if len(value) > 4096:
                raise UserError(f"{name} is a string of {len(value)} characters; at most 4096 are allowed")
            return value
        if kind == "dict":
            if not isinstance(value, dict):
                raise UserError(f"{name} must be a JSON object, got {value!r}")
            return value
        raise AssertionError(kind)


def check_keys(section: str, given: dict, known, required=()) -> None:
    """UserError unless ``given`` is a dict of ``known`` keys holding every ``required`` one."""
    if not isinstance(given, dict):
        raise UserError(f"{section} must be a JSON object, got {type(given).__name__}")
    unknown = sorted(k for k in given if k not in known)
    if unknown:
        raise UserError(f"{section} has unknown key(s) {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(known)}")
    missing = [k for k in required if k not in given]
    if missing:
        raise UserError(f"{section} lacks {', '.join(map(repr, missing))}")


def check_fields(section: str, given: dict, table: dict[str, Field], required=()) -> dict:
    """``given`` checked against ``table`` (known keys, then each value); lists come back as lists."""
    check_keys(section, given, list(table), required)
    out = {}
    for key, value in given.items():
        checked = table[key].check(f"{section}.{key}", value)
        out[key] = list(checked) if isinstance(checked, tuple) else checked
    return out


def located(where: str, err: UserError) -> UserError:
    """``err`` prefixed by where it was found (a file, a section), when known."""
    return UserError(f"{where}: {err}" if where else str(err))


def ruled(default, rule: Field):
    """A dataclass field checked by ``rule``: the rule sits in the field's metadata, so the dataclass is
    the one schema (its names, defaults and checks in one place)."""
    return field(default=default, metadata={"rule": rule})


def field_rules(cls) -> dict[str, Field]:
    """``{field name: rule}`` of a dataclass: each field's :func:`ruled` metadata, else the class's ``_RULES``."""
    return {f.name: f.metadata["rule"] if "rule" in f.metadata else cls._RULES[f.name] for f in fields(cls)}


def check_dataclass_fields(obj, where: str) -> None:
    """Check (and normalise) every field of a dataclass against its rule (:func:`field_rules`); an int given
    for a float field becomes a float. Raises UserError naming ``where.field``."""
    rules = field_rules(type(obj))
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, int) and not isinstance(value, bool) and rules[f.name].kind == "float":
            value = float(value)
        setattr(obj, f.name, rules[f.name].check(f"{where}.{f.name}", value))
