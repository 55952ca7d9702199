"""Feature fidelity: does a feature-conditioned model draw the features it is asked for?

For N requested feature vectors (normalised, in [0, 1]; usually those of held-out images)
the model generates one image each; the 32 features of every generated image are measured
again (``fromnoise.features.extract``, on the pixels alone) and normalised with the model's
own normaliser. Per feature: Pearson r between requested and measured values across the N
images, and the mean absolute error (in normalised units, so 0.1 is a tenth of the training
range). The baseline draws the same N images (same seeds) with the null condition, i.e.
unconditionally: its r is about 0 by construction, its MAE is what "not listening" costs.

Pearson r is undefined when either side is constant over the N images (a held-out set in
which no object has holes, say); it is then NaN and left out of the group means.

Circular features (``dominant_hue``: 0 and 1 are both red) get the circular analogues: the
circular correlation coefficient of Jammalamadaka & SenGupta (2001), which is Pearson r of the
sines of the deviations from each side's circular mean, and the MAE of the shorter way round
the circle. Linear Pearson r would count a red drawn at hue 0.99 for a red asked at 0.01 as
the largest possible error.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ..conditioning.features import measure_images
from ..data.transforms import unit_to_uint8
from ..errors import UserError
from ..features import FEATURE_DOCS, FEATURE_NAMES, GROUPS
from ..features.names import CIRCULAR
from ..sampling.generate import generate
from ..sampling.samplers import DEFAULT_SAMPLER
from ..viz.grids import save_grid
from ..viz.plots import save_figure


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each column pair of a and b, both (N, F): (F,), NaN where a column is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (N, F) arrays of one shape, got {a.shape} and {b.shape}")
    da, db = a - a.mean(axis=0), b - b.mean(axis=0)
    denom = np.sqrt((da**2).sum(axis=0) * (db**2).sum(axis=0))
    num = (da * db).sum(axis=0)
    # a spread below float noise counts as constant: r would be rounding error
    scale = np.maximum(np.abs(a).max(axis=0), 1.0) * np.maximum(np.abs(b).max(axis=0), 1.0)
    defined = denom > 1e-12 * scale * len(a)
    return np.where(defined, np.clip(num / np.where(defined, denom, 1.0), -1.0, 1.0), np.nan)


def mae_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute error of each column pair, (N, F) -> (F,)."""
    return np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean(axis=0)


def circular_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Jammalamadaka-SenGupta circular correlation of two samples on [0, 1) taken as a full turn;
    NaN when either side has no spread around its circular mean."""
    from scipy.stats import circmean

    ta, tb = 2 * np.pi * np.asarray(a, dtype=np.float64), 2 * np.pi * np.asarray(b, dtype=np.float64)
    sa, sb = np.sin(ta - circmean(ta)), np.sin(tb - circmean(tb))
    denom = np.sqrt((sa**2).sum() * (sb**2).sum())
    return float(np.clip((sa * sb).sum() / denom, -1.0, 1.0)) if denom > 1e-12 * len(sa) else float("nan")


def circular_mae(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance the shorter way round a circle of circumference 1."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) % 1.0
    return float(np.minimum(d, 1.0 - d).mean())


def agreement(requested: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(r, MAE) per feature of (N, 32) arrays: Pearson and absolute error, circular for ``CIRCULAR``."""
    r, mae = pearson_columns(requested, measured), mae_columns(requested, measured)
    for j, name in enumerate(FEATURE_NAMES):
        if name in CIRCULAR:
            r[j] = circular_correlation(requested[:, j], measured[:, j])
            mae[j] = circular_mae(requested[:, j], measured[:, j])
    return r, mae


def fidelity_tables(requested: np.ndarray, measured: np.ndarray,
                    baseline: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-feature table indexed by feature, per-group table) from normalised (N, 32) arrays.

    Columns: ``group``, ``r``, ``mae``, ``requested_std`` (and ``r_baseline``, ``mae_baseline``);
    the group table holds the means over the group's features (NaN r left out) and ``n_r``,
    the number of features whose r is defined.
    """
    requested, measured = np.asarray(requested, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    r, mae = agreement(requested, measured)
    table = pd.DataFrame({"group": [FEATURE_DOCS[n].group for n in FEATURE_NAMES], "r": r, "mae": mae,
                          "requested_std": requested.std(axis=0)}, index=list(FEATURE_NAMES))
    if baseline is not None:
        table["r_baseline"], table["mae_baseline"] = agreement(requested, np.asarray(baseline, dtype=np.float64))
    table.index.name = "feature"
    cols = [c for c in ("r", "mae", "r_baseline", "mae_baseline") if c in table]
    groups = table.groupby("group", sort=False)[cols].mean()  # pandas' mean skips NaN
    groups["n_r"] = table.groupby("group", sort=False)["r"].count()
    return table, groups.loc[list(GROUPS)]


@dataclass
class FidelityReport:
    """Everything one fidelity run measured; arrays are normalised features (N, 32)."""

    table: pd.DataFrame
    groups: pd.DataFrame
    requested: np.ndarray
    measured: np.ndarray
    baseline: np.ndarray | None
    images: torch.Tensor  # (N, C, H, W) the conditional images in [0, 1]
    settings: dict

    def to_dict(self) -> dict:
        """JSON-able summary (NaN becomes None)."""
        def clean(df):
            return json.loads(df.to_json(orient="index"))
        return {"settings": self.settings, "groups": clean(self.groups), "features": clean(self.table)}

    def to_markdown(self, title: str = "") -> str:
        """The group and feature tables as markdown."""
        settings = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        head = f"## Feature fidelity {title}".rstrip() + "\n\n" + settings
        return (f"{head}\n\n### Per group (mean over features)\n\n{markdown_table(self.groups)}\n\n"
                f"### Per feature\n\n{markdown_table(self.table)}\n")


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (floats rounded; NaN shown as "n/a")."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "n/a" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    # itertuples keeps each column's type (an int count stays an int)
    lines += ["| " + " | ".join([str(i)] + [cell(v) for v in row]) + " |"
              for i, row in zip(df.index, df.itertuples(index=False))]
    return "\n".join(lines)


def measure_normalised(denoiser, images: torch.Tensor, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(normalised features (N, 32), masks (N, H, W) bool) of uint8 or [0, 1] float images (N, C, H, W)."""
    enc = _feature_encoder(denoiser)
    if images.dtype != torch.uint8:
        images = unit_to_uint8(images)
    raw, masks = measure_images(images, workers)
    return enc.normalizer.transform(raw), masks


def outside_share(requested: torch.Tensor | np.ndarray, measured: np.ndarray) -> float:
    """The share of the generated object's pixels that lie outside the requested silhouette.

    ``requested``: (N, 1, H, W) or (N, H, W) masks in {0, 1} that the model was asked for;
    ``measured``: (N, H, W) bool object masks re-measured on the generated images
    (``measure_images``). 0 when every object pixel is inside its silhouette; 0 also when no
    object pixel was generated at all (nothing is outside).
    """
    want = np.asarray(requested).reshape(np.shape(measured)) > 0.5
    got = np.asarray(measured, dtype=bool)
    return float((got & ~want).sum() / max(1, got.sum()))


def held_out_targets(denoiser, images: torch.Tensor) -> tuple[np.ndarray, torch.Tensor | None]:
    """Requested vectors (N, 32) and, for a mask-conditioned model, masks (N, 1, H, W) from held-out images.

    ``images``: uint8 (N, C, H, W) at the model's size and channels (``load_dataset(folder,
    image_size=..., channels=...).images``), measured exactly as training images are.
    """
    c, h, w = denoiser.image_shape
    if tuple(images.shape[1:]) != (c, h, w):
        raise UserError(f"held-out images are {tuple(images.shape[1:])} but the model makes {(c, h, w)}; "
                        "load them at the model's size and channels.")
    targets, masks = measure_normalised(denoiser, images)
    mask_t = torch.from_numpy(masks).float()[:, None] if "mask" in denoiser.encoders else None
    return targets, mask_t


def _feature_encoder(denoiser):
    enc = denoiser.encoders["features"] if "features" in denoiser.encoders else None
    if enc is None:
        raise UserError("this checkpoint is not feature-conditioned; train it with --condition features "
                        "to measure feature fidelity.")
    return enc


def evaluate_fidelity(denoiser, requested: np.ndarray, masks: torch.Tensor | None = None, *, guidance: float = 1.0,
                      steps: int = 20, sampler: str = DEFAULT_SAMPLER, seed: int = 0, batch_size: int = 64,
                      baseline: bool = True, progress: bool = False) -> FidelityReport:
    """Generate one image per requested vector, re-measure, compare.

    Args:
        denoiser: a feature-conditioned Denoiser (``fromnoise.load``).
        requested: (N, 32) normalised feature vectors in [0, 1].
        masks: (N, 1, H, W) masks in {0, 1} for a mask-conditioned model (None: no mask given).
        guidance: classifier-free guidance scale for the conditional images.
        baseline: also draw the same seeds unconditionally (null condition).
    Returns:
        :class:`FidelityReport` with per-feature r / MAE tables.
    """
    _feature_encoder(denoiser)
    requested = np.asarray(requested, dtype=np.float64)
    if requested.ndim != 2 or requested.shape[1] != len(FEATURE_NAMES) or len(requested) < 2:
        raise UserError(f"need (N >= 2, {len(FEATURE_NAMES)}) requested feature vectors, got {requested.shape}")
    if requested.min() < 0 or requested.max() > 1:
        raise UserError("requested feature vectors must be normalised to [0, 1]")
    n = len(requested)
    cond = {"features": torch.from_numpy(requested).float()}
    if masks is not None:
        cond["mask"] = masks.float()
    opts = {"sampler": sampler, "steps": steps, "seed": seed, "batch_size": batch_size, "progress": progress}
    images = generate(denoiser, n, condition=cond, guidance=guidance, **opts)
    measured, measured_masks = measure_normalised(denoiser, images)
    base = None
    if baseline:
        base, _ = measure_normalised(denoiser, generate(denoiser, n, condition=None, **opts))
    table, groups = fidelity_tables(requested, measured, base)
    settings = {"n": n, "guidance": guidance, "steps": steps, "sampler": sampler, "seed": seed,
                "mask_given": masks is not None}
    if masks is not None:  # reference 000's mask channel: how much of the object spills outside it
        settings["mask_outside_share"] = outside_share(masks.numpy(), measured_masks)
    return FidelityReport(table, groups, requested, measured, base, images, settings)


def scatter_plots(report: FidelityReport, out_dir: str | os.PathLike) -> list[Path]:
    """One PNG per feature group: requested (x) vs measured (y) per feature, baseline in grey."""
    out, paths = Path(out_dir), []
    for group, names in GROUPS.items():
        cols = 4
        rows = -(-len(names) // cols)
        fig = Figure(figsize=(3 * cols, 3 * rows))  # no pyplot: nothing global to close or leak
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, name in zip(axes.flat, names):
            i = FEATURE_NAMES.index(name)
            if report.baseline is not None:
                ax.scatter(report.requested[:, i], report.baseline[:, i], s=8, c="0.7", label="unconditional")
            ax.scatter(report.requested[:, i], report.measured[:, i], s=8, c="tab:blue", label="conditional")
            ax.plot([0, 1], [0, 1], c="k", lw=0.5)
            r = report.table.loc[name, "r"]
            ax.set(title=f"{name}  r={r:.2f}", xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), xlabel="requested",
                   ylabel="measured")
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7, loc="upper left")
        fig.suptitle(f"{group}: requested vs re-measured (normalised)")
        fig.tight_layout()
        paths.append(save_figure(fig, out / f"scatter_{group}.png"))
    return paths


def save_report(report: FidelityReport, out_dir: str | os.PathLike, title: str = "", plots: bool = True) -> list[Path]:
    """Write ``fidelity.json``, ``fidelity.md``, a grid of the images and (``plots``) the scatter PNGs into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("fidelity.json", json.dumps(report.to_dict(), indent=2)),
                       ("fidelity.md", report.to_markdown(title))):
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, out / name)
        paths.append(out / name)
    paths.append(save_grid(report.images, out / "generated.png"))
    return paths + (scatter_plots(report, out) if plots else [])
