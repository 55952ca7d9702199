"""fromnoise.features: the 32 measured visual features of YouAndMeNet (reference 000).

    >>> from fromnoise.features import extract, FEATURE_NAMES
    >>> result = extract("cat.png")          # values (32,) raw, mask (H, W) bool
    >>> dict(zip(FEATURE_NAMES, result.values))

Raw values are turned into [0, 1] conditioning values by a :class:`FeatureNormalizer`
fitted on the training table (:func:`extract_folder`) and saved with the model.
Each feature's formula, library call and raw range: :data:`FEATURE_DOCS`.
"""

from fromnoise.features.explain import explain, explain_table
from fromnoise.features.extract import BACKGROUND, FeatureResult, extract, load_image
from fromnoise.features.mask import compute_mask
from fromnoise.features.names import FEATURE_DOCS, FEATURE_NAMES, GROUPS, NUM_FEATURES
from fromnoise.features.normalize import FeatureNormalizer
from fromnoise.features.table import extract_folder, read_table
from fromnoise.features.values import apply_overrides, parse_feature_values

__all__ = [
    "BACKGROUND", "FEATURE_DOCS", "FEATURE_NAMES", "GROUPS", "NUM_FEATURES", "FeatureNormalizer", "FeatureResult",
    "apply_overrides", "compute_mask", "explain", "explain_table", "extract", "extract_folder", "load_image",
    "parse_feature_values", "read_table",
]
