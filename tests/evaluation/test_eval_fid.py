"""FID / KID arithmetic and FeatureStats storage, on synthetic features (no network)."""

import json
import warnings

import numpy as np
import pytest

from fromnoise.errors import UserError
from fromnoise.evaluation.fid import FeatureStats, fid_from_features, frechet_distance, kid_from_features, mean_cov


def gaussian(n, d, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def test_frechet_matches_closed_form_for_diagonal_covariances():
    # For diagonal covariances, tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_is_zero_for_identical_statistics_and_real_for_singular_ones():
    f = gaussian(10, 32)  # rank-9 covariance in 32 dimensions
    mu, sigma = mean_cov(f)
    value = frechet_distance(mu, sigma, mu, sigma)
    assert isinstance(value, float) and abs(value) < 1e-6 * np.trace(sigma)


def test_few_sample_fid_in_the_feature_span_equals_the_full_formula():
    f1, f2 = gaussian(9, 40, seed=5), gaussian(12, 40, shift=0.2, seed=6)  # 9 + 12 < 40: subspace path
    with pytest.warns(UserWarning):
        fast = fid_from_features(f1, f2, allow_small=True)
    assert fast == pytest.approx(frechet_distance(*mean_cov(f1), *mean_cov(f2)), rel=1e-7)


def test_fid_grows_with_a_shift_and_a_scale():
    ref = gaussian(400, 8, seed=1)
    fids = [fid_from_features(ref, gaussian(400, 8, shift=s, seed=2)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert fids == sorted(fids) and fids[0] < 0.2
    assert fid_from_features(ref, gaussian(400, 8, scale=2.0, seed=2)) > 1.0


def test_fid_below_feature_dimension_is_refused_unless_allowed():
    small = gaussian(50, 512)
    with pytest.raises(UserError, match="512.*KID"):
        fid_from_features(small, small)
    with pytest.warns(UserWarning, match="KID"):
        assert fid_from_features(small, small, allow_small=True) == pytest.approx(0.0, abs=1e-4)  # trace ~ 1,024


def test_kid_is_unbiased_for_one_distribution_and_positive_for_two():
    same = kid_from_features(gaussian(300, 32, seed=3), gaussian(300, 32, seed=4), num_subsets=50, subset_size=100)
    shifted = kid_from_features(gaussian(300, 32, seed=3), gaussian(300, 32, shift=0.3, seed=4),
                                num_subsets=50, subset_size=100)
    # The unbiased MMD^2 of one distribution is 0 in expectation; a small mean shift is clearly above it.
    assert abs(same[0]) < 3 * same[1] / np.sqrt(50) + 1e-3
    assert shifted[0] > 10 * abs(same[0]) and shifted[0] > 3 * shifted[1]


def test_kid_subset_size_is_capped_and_too_few_samples_raise():
    mean, std = kid_from_features(gaussian(20, 8), gaussian(30, 8, seed=1), num_subsets=5, subset_size=1000)
    assert np.isfinite(mean) and np.isfinite(std)
    with pytest.raises(UserError, match="at least 2"):
        kid_from_features(gaussian(1, 8), gaussian(30, 8))
    with pytest.raises(UserError, match="widths"):
        kid_from_features(gaussian(10, 8), gaussian(10, 9))


def test_feature_stats_round_trip_without_pickle(tmp_path):
    feats = gaussian(40, 16)
    stats = FeatureStats.from_features(feats, meta={"dataset": "toy", "image_size": 8}, max_kept=25)
    assert stats.n == 40 and stats.features.shape == (25, 16)
    path = tmp_path / "toy.safetensors"
    stats.save(path)
    assert json.loads(path.with_suffix(".json").read_text())["dataset"] == "toy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.json", "toy.safetensors"]  # no temp files left
    back = FeatureStats.load(path)
    np.testing.assert_allclose(back.mu, stats.mu)
    np.testing.assert_allclose(back.sigma, stats.sigma)
    np.testing.assert_allclose(back.features, stats.features, rtol=1e-6)
    assert back.n == 40 and back.meta == {"dataset": "toy", "image_size": 8}


def test_feature_stats_missing_or_corrupt_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--reference"):
        FeatureStats.load(tmp_path / "absent.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="unreadable"), warnings.catch_warnings():
        FeatureStats.load(tmp_path / "bad.safetensors")
