"""Map raw feature values to [0, 1] with dataset statistics, and back.

Each feature is rescaled between robust percentiles of the training table (2nd and 98th
by default), so outliers do not squash everyone else into a corner, then clipped. The
fitted bounds travel with the model (``to_dict`` is plain JSON) so that a value asked for
at generation time means what it meant in training. Circular features (hue) keep their
fixed range [0, 1]: percentiles of an angle would cut the colour wheel in the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fromnoise.errors import UserError
from fromnoise.features.names import CIRCULAR, FEATURE_DOCS, FEATURE_NAMES

FORMAT_VERSION = 1


@dataclass
class FeatureNormalizer:
    """Per-feature affine map ``(raw - low) / (high - low)``, clipped to [0, 1]."""

    low: np.ndarray  # (32,) raw value mapped to 0
    high: np.ndarray  # (32,) raw value mapped to 1, always > low
    names: tuple[str, ...] = FEATURE_NAMES

    @classmethod
    def fit(cls, table: np.ndarray, low_pct: float = 2.0, high_pct: float = 98.0) -> FeatureNormalizer:
        """Fit on raw features (N, 32), N >= 1.

        Where the percentiles coincide (a feature nearly constant in the data, e.g. most
        objects have one component) the bounds widen to min/max, and failing that to the
        documented raw range around the value, so the map stays invertible.
        """
        table = np.asarray(table, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != len(FEATURE_NAMES) or table.shape[0] < 1:
            raise UserError(f"feature table has shape {table.shape}; expected (N, {len(FEATURE_NAMES)}) with N >= 1.")
        if not np.isfinite(table).all():
            raise UserError("feature table contains NaN or infinite values; re-extract the features.")
        if not 0 <= low_pct < high_pct <= 100:
            raise UserError(f"percentiles must satisfy 0 <= low < high <= 100, got {low_pct}, {high_pct}.")
        low, high = np.percentile(table, [low_pct, high_pct], axis=0)
        lo_all, hi_all = table.min(axis=0), table.max(axis=0)
        for i, name in enumerate(FEATURE_NAMES):
            doc_lo, doc_hi = FEATURE_DOCS[name].raw_range
            if name in CIRCULAR:
                low[i], high[i] = doc_lo, doc_hi
            elif high[i] - low[i] < 1e-9:
                low[i], high[i] = lo_all[i], hi_all[i]
                if high[i] - low[i] < 1e-9:  # constant: centre it in a unit-ish window
                    half = max((doc_hi - doc_lo) / 2, 1e-6)
                    low[i], high[i] = table[0, i] - half, table[0, i] + half
        return cls(low=low, high=high)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw (..., 32) -> normalised (..., 32) in [0, 1] (clipped)."""
        raw = np.asarray(raw, dtype=np.float64)
        return np.clip((raw - self.low) / (self.high - self.low), 0.0, 1.0)

    def inverse(self, norm: np.ndarray) -> np.ndarray:
        """Normalised (..., 32) in [0, 1] -> raw (..., 32)."""
        return self.low + np.asarray(norm, dtype=np.float64) * (self.high - self.low)

    def to_dict(self) -> dict:
        """JSON-able form, stored beside the model weights."""
        return {"version": FORMAT_VERSION, "names": list(self.names),
                "low": [float(v) for v in self.low], "high": [float(v) for v in self.high]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureNormalizer:
        """Inverse of :meth:`to_dict`; checks the feature names match this version of fromnoise."""
        try:
            names, low, high = tuple(data["names"]), data["low"], data["high"]
        except (KeyError, TypeError):
            raise UserError("feature normaliser data lacks 'names', 'low' or 'high'; "
                            "the checkpoint was not saved by fromnoise.features.") from None
        if names != FEATURE_NAMES:
            unknown = sorted(set(names) - set(FEATURE_NAMES))
            raise UserError(f"feature normaliser names differ from this fromnoise's 32 features "
                            f"(unknown: {unknown or 'none'}, order may differ); re-fit it on your data.")
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if low.shape != (len(names),) or high.shape != low.shape or not np.all(high > low):
            raise UserError("feature normaliser bounds are malformed (need 32 lows < 32 highs); re-fit it.")
        return cls(low=low, high=high)
