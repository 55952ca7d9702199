"""Evaluation: FID and KID with the standard Inception network (offline), cached reference
statistics, in-training KID, and the feature-fidelity metric of the 32 visual features."""

from .fid import FeatureStats, fid_from_features, frechet_distance, kid_from_features
from .inception import InceptionFeatures, find_inception
from .reference import compare, reference_stats

__all__ = ["FeatureStats", "fid_from_features", "frechet_distance", "kid_from_features", "InceptionFeatures",
           "find_inception", "compare", "reference_stats"]
