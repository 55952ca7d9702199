"""FID and KID from Inception features, and the statistics kept to compute them.

* FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule"):
  the Fréchet distance between Gaussians fitted to two feature sets,
  ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``. It is biased for small N,
  and below 2,048 samples the 2,048-d covariance is singular.
* KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate
  of the squared MMD with the cubic polynomial kernel ``k(x, y) = (x.y/d + 1)^3``,
  averaged over random subsets. Unbiased, so two samples of one distribution
  give a mean near 0 at any N, which makes it the measure for small N.

All arithmetic is float64. :class:`FeatureStats` is what a reference data set
is reduced to, saved as safetensors (arrays) + JSON (metadata); no pickle.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from fromnoise.errors import UserError
from fromnoise.io import atomic_write

MAX_KEPT_FEATURES = 10_000  # raw features kept in FeatureStats for KID (10k x 2048 float32 = 80 MB)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); means ``(d,)``, covariances ``(d, d)``."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise UserError(f"Feature statistics have different sizes ({mu1.shape} vs {mu2.shape}); "
                        "both sets must come from the same feature network.")
    # tr((S1 S2)^(1/2)) = tr((R S2 R)^(1/2)) with R = S1^(1/2), since R^-1 (R S2 R) R = S1 S2 is
    # similar to it. R S2 R is symmetric PSD, so two symmetric eigendecompositions give the trace
    # exactly, in real arithmetic (no imaginary round-off as with sqrtm of the non-symmetric
    # S1 S2), and faster than scipy.linalg.sqrtm at d = 2048.
    w1, v1 = scipy.linalg.eigh(sigma1)
    root1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T
    inner = scipy.linalg.eigvalsh(root1 @ sigma2 @ root1)
    tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()  # clip: round-off makes zero eigenvalues ~ -1e-12
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of features ``(n, d)``, float64."""
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def check_fid_size(n: int, dim: int, allow_small: bool) -> None:
    """Raise UserError (or warn, if ``allow_small``) when ``n`` is below the feature dimension."""
    if n >= dim:
        return
    message = (f"FID needs at least {dim:,} samples (the {dim:,}-d feature covariance is singular "
               f"below that), got {n:,}; use KID, which is unbiased at small N, or more samples.")
    if not allow_small:
        raise UserError(message)
    warnings.warn(message + " FID computed anyway (allow_small=True): compare it only at equal N.", stacklevel=2)


def fid_from_features(f1: np.ndarray, f2: np.ndarray, allow_small: bool = False) -> float:
    """FID between feature sets ``f1 (n1, d)`` and ``f2 (n2, d)``.

    Raises:
        UserError: if either set has fewer than ``d`` rows, unless ``allow_small``.
    """
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    check_fid_size(min(len(f1), len(f2)), f1.shape[1], allow_small)
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    if len(f1) + len(f2) < f1.shape[1]:
        # Few samples: both covariances vanish outside the span of the centred features, so
        # FID is unchanged when computed in an orthonormal basis Q of that span (k << d dims).
        q, _ = np.linalg.qr(np.concatenate([f1 - mu1, f2 - mu2]).T)  # (d, k)
        s1, s2 = np.cov((f1 - mu1) @ q, rowvar=False), np.cov((f2 - mu2) @ q, rowvar=False)
        zero = np.zeros(q.shape[1])
        return float(np.sum((mu1 - mu2) ** 2)) + frechet_distance(zero, s1, zero, s2)
    return frechet_distance(mu1, np.cov(f1, rowvar=False), mu2, np.cov(f2, rowvar=False))


def kid_from_features(f1: np.ndarray, f2: np.ndarray, num_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets) between features ``f1 (n1, d)`` and ``f2 (n2, d)``.

    Each subset draws ``m = min(subset_size, n1, n2)`` rows of each set without
    replacement and computes the unbiased MMD^2 (Binkowski et al. 2018, eq. 4):
    the mean of ``k(x_i, x_j)`` over ``i != j``, plus the same for ``y``, minus
    twice the mean of ``k(x_i, y_j)``.
    """
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if f1.shape[1] != f2.shape[1]:
        raise UserError(f"KID feature sets have different widths ({f1.shape[1]} vs {f2.shape[1]}).")
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise UserError(f"KID needs at least 2 samples in each set, got {len(f1)} and {len(f2)}.")
    dim = f1.shape[1]
    rng = np.random.default_rng(seed)
    estimates = np.empty(num_subsets)
    for i in range(num_subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        estimates[i] = within - 2.0 * k_xy.mean()
    return float(estimates.mean()), float(estimates.std())


@dataclass
class FeatureStats:
    """Inception statistics of one image set: what FID and KID compare against.

    Attributes:
        mu: mean feature ``(d,)``, float64.
        sigma: feature covariance ``(d, d)``, float64.
        n: number of images the statistics were computed from.
        features: raw features ``(k, d)`` kept for KID, ``k <= MAX_KEPT_FEATURES``
            (a random subset when ``n`` is larger).
        meta: JSON-able description (dataset, split, image_size, channels, network).
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_features(cls, features: np.ndarray, meta: dict[str, Any] | None = None,
                      max_kept: int = MAX_KEPT_FEATURES, seed: int = 0) -> FeatureStats:
        """Reduce features ``(n, d)`` to statistics, keeping up to ``max_kept`` rows for KID."""
        features = np.asarray(features, np.float64)
        if len(features) < 2:
            raise UserError(f"Feature statistics need at least 2 images, got {len(features)}.")
        mu, sigma = mean_cov(features)
        kept = features
        if len(features) > max_kept:
            kept = features[np.sort(np.random.default_rng(seed).choice(len(features), max_kept, replace=False))]
        return cls(mu=mu, sigma=sigma, n=len(features), features=kept, meta=dict(meta or {}))

    def save(self, path: str | Path) -> None:
        """Write ``path`` (.safetensors) and its ``.json`` metadata, each atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"mu": self.mu, "sigma": self.sigma}
        if self.features is not None:
            arrays["features"] = self.features.astype(np.float32)  # halves the file; KID is insensitive
        atomic_write(path, lambda tmp: save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp))
        text = json.dumps({"n": self.n, **self.meta}, indent=2, sort_keys=True)
        atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        """Read statistics written by :meth:`save`."""
        path = Path(path)
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise UserError(f"FID statistics '{path}' (and its .json) not found; "
                            "build them with 'fromnoise evaluate --reference DATASET'.")
        try:
            arrays = load_file(str(path))
            meta = json.loads(meta_path.read_text())
            n = int(meta.pop("n"))
            mu, sigma = arrays["mu"].astype(np.float64), arrays["sigma"].astype(np.float64)
        except (OSError, ValueError, KeyError, SafetensorError) as err:
            raise UserError(f"FID statistics '{path}' are unreadable ({err!r}); delete them to rebuild.") from None
        features = arrays.get("features")
        return cls(mu=mu, sigma=sigma, n=n, features=None if features is None else features.astype(np.float64),
                   meta=meta)


