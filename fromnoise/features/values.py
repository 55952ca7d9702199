"""Read feature values a user asks for (a JSON file, a dict, ``name=value`` overrides).

Values are *normalised* ([0, 1], see :mod:`.normalize`) unless ``raw=True``, in which case
they are raw measurements turned into normalised ones with the model's normaliser.
Features not given take ``base`` (default 0.5, the middle of the training range).
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fromnoise.errors import UserError
from fromnoise.features.names import FEATURE_NAMES, index_of
from fromnoise.features.normalize import FeatureNormalizer


def _check_name(name: str, where: str) -> int:
    try:
        return index_of(name)
    except KeyError:
        close = difflib.get_close_matches(name, FEATURE_NAMES, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `fromnoise features --help` for the 32 names."
        raise UserError(f"unknown feature '{name}' in {where}; {hint}") from None


def _check_value(name: str, value: object, where: str, raw: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"feature '{name}' in {where} has value {value!r}; give a finite number.")
    if not raw and not 0.0 <= value <= 1.0:
        raise UserError(f"feature '{name}' in {where} is {value}, outside the normalised range [0, 1].")
    return float(value)


def parse_feature_values(source: str | os.PathLike | Mapping[str, float], normalizer: FeatureNormalizer | None = None,
                         *, raw: bool = False, base: np.ndarray | float = 0.5) -> np.ndarray:
    """Validated normalised feature vector (32,) in [0, 1] from a JSON file or a dict.

    Args:
        source: path to a JSON object ``{"temperature": 0.9, ...}`` (optionally nested
            under a ``"features"`` key), or such a dict.
        normalizer: needed when ``raw`` is True.
        raw: the values are raw measurements, not normalised ones.
        base: value(s) for the features not given, normalised: a scalar or (32,).
    Raises:
        UserError: unreadable file, unknown name (with close matches), non-number or
            out-of-range value.
    """
    where = "the feature values"
    if isinstance(source, (str, os.PathLike)):
        where = f"'{source}'"
        try:
            source = json.loads(Path(source).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"cannot read feature values from {where}: {err}.") from None
    if isinstance(source, Mapping) and isinstance(source.get("features"), Mapping):
        source = source["features"]
    if not isinstance(source, Mapping):
        raise UserError(f"{where} must be a JSON object of feature name -> value.")
    if raw and normalizer is None:
        raise UserError("raw feature values need the model's feature normaliser to be converted.")
    vector = np.broadcast_to(np.asarray(base, dtype=np.float64), (len(FEATURE_NAMES),)).copy()
    given = {_check_name(str(k), where): _check_value(str(k), v, where, raw) for k, v in source.items()}
    if raw:
        raw_vec = normalizer.inverse(vector)
        for i, v in given.items():
            raw_vec[i] = v
        return normalizer.transform(raw_vec)
    for i, v in given.items():
        vector[i] = v
    return vector


def apply_overrides(vector: np.ndarray, overrides: Sequence[str]) -> np.ndarray:
    """Copy of a normalised (32,) vector with ``["temperature=0.9", ...]`` applied.

    Raises:
        UserError: malformed item, unknown name, or value outside [0, 1].
    """
    out = np.array(vector, dtype=np.float64, copy=True)
    if out.shape != (len(FEATURE_NAMES),):
        raise UserError(f"feature vector has shape {out.shape}; expected ({len(FEATURE_NAMES)},).")
    for item in overrides:
        name, sep, text = item.partition("=")
        if not sep:
            raise UserError(f"feature override '{item}' is not NAME=VALUE, e.g. temperature=0.9.")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"feature override '{item}': '{text}' is not a number.") from None
        out[_check_name(name, f"override '{item}'")] = _check_value(name, value, f"override '{item}'", False)
    return out
