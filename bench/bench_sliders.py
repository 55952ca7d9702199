"""Sliders that do what they say: move one feature at a time, re-measure what comes out (issue 24, item 4).

    python bench/bench_sliders.py --run RUN --data EMOJI32 [--holdout 128] [--objects 16] [--steps 25]

``RUN`` is a features (+ mask) model, e.g. from ``bench/bench_features.py train --data EMOJI32 --run RUN``;
``--data``/``--holdout``/``--split-seed`` give the same seeded held-out split as that script (or
``--heldout FOLDER``: held-out objects from their own folder, all of ``--data`` is the training set).

For each of K held-out objects (the first K of the split with a non-empty mask) and each of the 32
features: the object's measured feature vector (normalised with the model's own normaliser, as the
conditioning takes it) with that one feature set to 5 evenly spaced values from its 10th to its 90th
percentile over the training images (``fromnoise.viz.sliders.sweep_grid``; a feature whose p10 and p90
coincide, e.g. no object has a hole, is swept over the normaliser's whole range [0, 1], column ``range``),
drawn with the object's mask on one seed for all 5 steps, then re-measured by the same extractor.

Per feature, over the K objects:

* ``median_rho``: the median of the Spearman rank correlation between the 5 set and the 5 measured values
  (``scipy.stats.spearmanr``). A sweep whose measured value does not change at all counts rho = 0 (the
  slider did nothing), not "undefined". Hue is circular: each measured hue is taken the shorter way round
  to its set value before ranking (a red at 0.99 asked for at 0.01 is 0.02 off, not 0.98).
* ``share_right_way``: the share of objects whose measured value at the top of the sweep (p90) is strictly
  above the one at the bottom (p10): moving the slider the whole way moves the image the way it names.

The SHAPE and TOPOLOGY groups are measured on the object mask (``fromnoise.features.names.MASK_GROUPS``;
9 of their 13 features read the mask alone, ``SILHOUETTE_ONLY``): a given mask fixes them, so they are swept
WITHOUT a mask (column ``masked``: no). Goals (issue 24): median rho >= 0.8 for every COLOR and LIGHTING
feature, >= 0.6 for every MATERIAL, SHAPE and TOPOLOGY feature.

Sweep (feature, object) r of a generate() call uses seed + r at every step, so its 5 images share their
starting noise (and the fresh noise of a stochastic sampler). Writes ``--out/NAME.json``, ``NAME.md`` and
one picture per group, ``NAME_<group>.png`` (one object, the group's representative feature,
``fromnoise.viz.sliders.REPRESENTATIVE``); prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_features import split  # noqa: E402  (the held-out split the feature models were trained on)
from fromnoise.choices import SAMPLER_NAMES  # noqa: E402
from fromnoise.features.names import (  # noqa: E402
    CIRCULAR,
    FEATURE_DOCS,
    FEATURE_NAMES,
    GROUPS,
    MASK_GROUPS,
    SILHOUETTE_ONLY,
)
from fromnoise.io import write_text  # noqa: E402
from fromnoise.viz.sliders import (  # noqa: E402
    REPRESENTATIVE,
    SWEEP_PERCENTILES,
    SWEEP_STEPS,
    save_slider_row,
    sweep_conditions,
    sweep_grid,
)

RESULTS = ROOT / "bench" / "results"
GOALS = {"color": 0.8, "lighting": 0.8, "material": 0.6, "shape": 0.6, "topology": 0.6}  # median rho, per feature


# ------------------------------------------------------------------------------------ the measures
def unwrap(set_values: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Circular values (period 1) moved by whole turns to lie within half a turn of their set values."""
    return measured + np.round(np.asarray(set_values) - measured)


def rank_correlations(set_values, measured, circular: bool = False) -> np.ndarray:
    """Spearman rho between the S set values and each object's S measured values.

    Args:
        set_values: (S,) the sweep.
        measured: (K, S) the values re-measured on each object's S images.
        circular: the feature wraps around at 1 (hue).
    Returns:
        (K,) rho in [-1, 1]; 0 where an object's measured values are all equal (nothing moved);
        NaN for every object when the set values themselves are all equal.
    """
    from scipy.stats import spearmanr

    set_values = np.asarray(set_values, dtype=np.float64)
    measured = np.atleast_2d(np.asarray(measured, dtype=np.float64))
    if circular:
        measured = unwrap(set_values, measured)
    if np.ptp(set_values) == 0:
        return np.full(len(measured), np.nan)
    out = np.zeros(len(measured))
    for k, row in enumerate(measured):
        if np.ptp(row) > 0:
            out[k] = spearmanr(set_values, row).statistic
    return out


def right_way(set_values, measured, circular: bool = False) -> np.ndarray:
    """(K,) bool: the measured value at the top of the sweep is strictly above the one at the bottom."""
    set_values = np.asarray(set_values, dtype=np.float64)
    measured = np.atleast_2d(np.asarray(measured, dtype=np.float64))
    if circular:
        measured = unwrap(set_values, measured)
    lo, hi = int(np.argmin(set_values)), int(np.argmax(set_values))
    return measured[:, hi] > measured[:, lo]


def feature_row(name: str, set_values, measured, *, masked: bool, widened: bool) -> dict:
    """One feature's result from its sweep (S,) and the K objects' measured values (K, S)."""
    circular = name in CIRCULAR
    rho = rank_correlations(set_values, measured, circular)
    right = right_way(set_values, measured, circular)
    group = FEATURE_DOCS[name].group
    median = float(np.median(rho)) if np.isfinite(rho).all() else None
    return {"name": name, "group": group, "masked": "yes" if masked else "no",
            "silhouette_only": name in SILHOUETTE_ONLY, "range": "full [0, 1] (p10 = p90)" if widened else "p10-p90",
            "set_values": [round(float(v), 4) for v in set_values], "median_rho": median,
            "share_right_way": float(right.mean()), "rho_per_object": [round(float(r), 3) for r in rho],
            # a rank correlation of 5 values is a multiple of 0.05: a median of 0.7 and 0.9 is the goal 0.8, not
            # the 0.7999999999999998 that float arithmetic makes of it
            "goal": GOALS[group], "pass": median is not None and median >= GOALS[group] - 1e-9}


def group_summary(rows: list[dict]) -> dict:
    """Per group: the medians over its features of median_rho and share_right_way, the goal, and pass
    (every feature of the group measured and at or above the goal)."""
    out = {}
    for group in GROUPS:
        mine = [r for r in rows if r["group"] == group]
        if not mine:
            continue
        rhos = [r["median_rho"] for r in mine if r["median_rho"] is not None]
        out[group] = {"features": len(mine), "median_rho": float(np.median(rhos)) if rhos else None,
                      "median_share_right_way": float(np.median([r["share_right_way"] for r in mine])),
                      "goal": GOALS[group], "features_passing": sum(r["pass"] for r in mine),
                      "pass": all(r["pass"] for r in mine)}
    return out


def markdown(rows: list[dict], groups: dict) -> str:
    """The per-feature table and the per-group table, as markdown."""
    def num(v):
        return "n/a" if v is None else f"{v:.2f}"
    lines = ["| feature | group | mask | range | median rho | right way | goal | pass |", "|" + "---|" * 8]
    lines += [f"| {r['name']} | {r['group']} | {r['masked']} | {r['range']} | {num(r['median_rho'])} | "
              f"{r['share_right_way']:.2f} | {r['goal']:.1f} | {'yes' if r['pass'] else 'no'} |" for r in rows]
    lines += ["", "| group | features | median rho | median right way | goal | passing | pass |", "|" + "---|" * 7]
    lines += [f"| {g} | {s['features']} | {num(s['median_rho'])} | {s['median_share_right_way']:.2f} | "
              f"{s['goal']:.1f} | {s['features_passing']}/{s['features']} | {'yes' if s['pass'] else 'no'} |"
              for g, s in groups.items()]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ the sweeps
def sweep(denoiser, bases: np.ndarray, masks: torch.Tensor | None, grid: np.ndarray, features: list[str], *,
          generate_options: dict, keep_images: tuple[str, ...] = (), workers: int = 1,
          log=print) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Generate and re-measure every sweep of ``features`` on K objects.

    One generate() call per sweep step: its rows are the (feature, object) pairs, so row r draws seed + r
    at each of the S steps. ``masks`` (K, 1, H, W) or None; features of ``MASK_GROUPS`` never get one.
    Returns (measured raw values (F, K, S), the images of the ``keep_images`` features (K, S, C, H, W)).
    """
    from fromnoise.conditioning.features import measure_images
    from fromnoise.data.transforms import unit_to_uint8
    from fromnoise.sampling.generate import generate

    k, s = len(bases), grid.shape[1]
    measured = np.zeros((len(features), k, s))
    kept: dict[str, list[torch.Tensor]] = {}
    parts = {True: [f for f in features if masks is not None and FEATURE_DOCS[f].group not in MASK_GROUPS]}
    parts[False] = [f for f in features if f not in parts[True]]
    for masked, names in parts.items():
        if not names:
            continue
        for step in range(s):
            t0 = time.time()
            conds = [sweep_conditions(bases, FEATURE_NAMES.index(f), grid[FEATURE_NAMES.index(f), step:step + 1],
                                      masks if masked else None) for f in names]
            cond = {key: torch.cat([c[key] for c in conds]) for key in conds[0]}  # rows: feature-major
            out = generate(denoiser, len(cond["features"]), condition=cond, **generate_options)  # (F * K, C, H, W)
            raw, _ = measure_images(unit_to_uint8(out), workers)  # (F * K, 32); images are measured and dropped
            for i, name in enumerate(names):
                measured[features.index(name), :, step] = raw[i * k:(i + 1) * k, FEATURE_NAMES.index(name)]
                if name in keep_images:
                    kept.setdefault(name, []).append(out[i * k:(i + 1) * k])
            log(f"  {'masked' if masked else 'unmasked'} step {step + 1}/{s}: {len(out)} images generated and "
                f"measured in {time.time() - t0:.1f} s")
    images = {name: torch.stack(steps, dim=1) for name, steps in kept.items()}  # (K, S, C, H, W)
    return measured, images


def _objects(denoiser, held, count: int, workers: int, seed: int = 0):
    """``count`` held-out objects with a non-empty mask, a draw seeded by ``seed`` (-1: the first ``count``; a
    folder sorted by name would otherwise give one topic, e.g. grey icons): (normalised features, masks,
    indices in ascending order)."""
    from fromnoise.errors import UserError
    from fromnoise.evaluation.fidelity import held_out_targets, measure_normalised

    if len(held) == 0:
        raise UserError("no held-out images: give --holdout N (N > 0) or a --heldout folder.")
    held_out_targets(denoiser, held.images[:1])  # checks the model: features, size, channels
    targets, found = measure_normalised(denoiser, held.images, workers)
    keep = np.flatnonzero(found.reshape(len(found), -1).any(axis=1))
    keep = np.sort(keep[:count] if seed < 0 else np.random.default_rng(seed).permutation(keep)[:count])
    if len(keep) < min(count, 2):
        raise UserError(f"only {len(keep)} held-out images have an object (non-empty mask); need at least 2: "
                        "give more held-out images (--holdout) or a folder of objects on a plain background.")
    masks = torch.from_numpy(found[keep]).float()[:, None] if "mask" in denoiser.encoders else None
    return targets[keep], masks, keep


def add_object_options(p: argparse.ArgumentParser, run_help: str) -> None:
    """The run and the held-out objects: what :func:`train_and_heldout` and :func:`_objects` read (this bench's and
    ``img2img_features.py``'s)."""
    p.add_argument("--run", required=True, help=run_help)
    p.add_argument("--data", required=True, help="the image folder the run was trained from")
    p.add_argument("--holdout", type=int, default=128, help="held-out images of the split (as bench_features.py)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the held-out split (as bench_features.py)")
    p.add_argument("--heldout", default=None, help="a folder of held-out objects instead of the split")
    p.add_argument("--objects", type=int, default=16, help="held-out objects K")
    p.add_argument("--object-seed", type=int, default=0,
                   help="the K objects are a draw with this seed from the held-out objects (-1: the first K)")


def train_and_heldout(den, args):
    """(training images, held-out images) at the model's size and channels: ``--heldout FOLDER`` beside all of
    ``--data``, or the seeded split of ``--data`` (``--holdout``, ``--split-seed``)."""
    from fromnoise.data import load_dataset

    c, h, _ = den.image_shape
    data = load_dataset(args.data, image_size=h, channels=c)
    if args.heldout:
        return data, load_dataset(args.heldout, image_size=h, channels=c)
    return split(data, args.holdout, args.split_seed)


def run(args) -> dict:
    from fromnoise import load
    from fromnoise.evaluation.fidelity import measure_normalised
    from fromnoise.sampling.generate import suggested_guidance

    torch.set_num_threads(args.threads)
    t0, cpu0 = time.time(), time.process_time()
    den = load(args.run)
    train, held = train_and_heldout(den, args)
    table, _ = measure_normalised(den, train.images, args.workers)
    grid, widened = sweep_grid(table, (args.low, args.high), args.sweep_steps)
    bases, masks, keep = _objects(den, held, args.objects, args.workers, args.object_seed)
    if args.guidance is None:  # the scale fromnoise sample and the page take for this model (recorded as used)
        args.guidance = suggested_guidance(den)
    features = args.features or list(FEATURE_NAMES)
    print(f"{len(train)} training images, {len(bases)} held-out objects, {len(features)} features x "
          f"{args.sweep_steps} steps ({args.sampler} x{args.steps}, guidance {args.guidance:g})")
    gen = {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance, "seed": args.seed,
           "batch_size": args.batch}
    measured, images = sweep(den, bases, masks, grid, features, generate_options=gen,
                             keep_images=tuple(REPRESENTATIVE.values()), workers=args.workers)
    norm = den.encoders["features"].normalizer
    rows = []
    for i, name in enumerate(features):
        j = FEATURE_NAMES.index(name)
        masked = masks is not None and FEATURE_DOCS[name].group not in MASK_GROUPS
        rows.append(feature_row(name, grid[j], measured[i], masked=masked, widened=bool(widened[j])))
        rows[-1]["set_values_raw"] = [round(float(norm.low[j] + v * (norm.high[j] - norm.low[j])), 4)
                                      for v in grid[j]]
    groups = group_summary(rows)
    out = Path(args.out)
    pictures = []
    for group, name in REPRESENTATIVE.items():
        if name not in images:
            continue
        j, obj, row = FEATURE_NAMES.index(name), min(args.picture_object, len(bases) - 1), features.index(name)
        shown = (measured[row, obj] - norm.low[j]) / (norm.high[j] - norm.low[j])  # normalised, as the sliders
        rho = rows[row]["median_rho"]
        note = (f"held-out object {int(keep[obj])}, seed {args.seed}; median rho over {len(bases)} objects "
                + ("n/a" if rho is None else f"{rho:.2f}"))
        pictures.append(str(save_slider_row(images[name][obj], grid[j], out / f"{args.name}_{group}.png",
                                            feature=name, measured=shown, masked=rows[row]["masked"] == "yes",
                                            note=note)))
    files = held.files or []
    summary = {
        "settings": {"run": str(args.run), "data": str(args.data), "heldout": args.heldout, "holdout": args.holdout,
                     "split_seed": args.split_seed, "train_images": len(train), "objects": len(bases),
                     "object_indices": [int(i) for i in keep],
                     "object_files": [Path(files[i]).name for i in keep] if files else None,
                     "percentiles": [args.low, args.high], "sweep_steps": args.sweep_steps, **gen,
                     "mask_model": masks is not None, "masked_groups_swept_without_mask": list(MASK_GROUPS),
                     "threads": args.threads, "seconds": round(time.time() - t0, 1),
                     "cpu_seconds": round(time.process_time() - cpu0, 1), "load_avg_1min_end": os.getloadavg()[0]},
        "definitions": {"median_rho": "median over objects of Spearman rho(set, measured) over the sweep's steps; "
                                      "0 when the measured value never changes",
                        "share_right_way": "share of objects with measured(p90 end) > measured(p10 end)",
                        "masked": "no: swept without a mask (the mask fixes SHAPE and TOPOLOGY)"},
        "groups": groups, "features": rows, "pictures": pictures}
    write_text(out / f"{args.name}.json", json.dumps(summary, indent=2))
    table_md = markdown(rows, groups)
    write_text(out / f"{args.name}.md", "# Sliders (bench/bench_sliders.py)\n\n"
               + ", ".join(f"{k}={v}" for k, v in summary["settings"].items() if k != "object_indices")
               + "\n\n" + table_md + "\n")
    print(table_md)
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_object_options(p, "a features (+ mask) run directory")
    p.add_argument("--features", nargs="+", choices=FEATURE_NAMES, default=None, help="sweep only these")
    p.add_argument("--steps", type=int, default=25, help="sampler steps")
    p.add_argument("--sampler", choices=SAMPLER_NAMES, default="ddim", help="sampler")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (default: the model's suggestion, as fromnoise sample)")
    p.add_argument("--seed", type=int, default=0, help="sweep r of a call uses seed + r at every step")
    p.add_argument("--low", type=float, default=SWEEP_PERCENTILES[0], help="percentile a sweep starts at")
    p.add_argument("--high", type=float, default=SWEEP_PERCENTILES[1], help="percentile a sweep ends at")
    p.add_argument("--sweep-steps", type=int, default=SWEEP_STEPS, help="images per sweep")
    p.add_argument("--batch", type=int, default=80, help="images per network batch")
    p.add_argument("--picture-object", type=int, default=0, help="which of the K objects the pictures show")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--workers", type=int, default=1, help="processes measuring features")
    p.add_argument("--out", default=str(RESULTS), help="results folder")
    p.add_argument("--name", default="sliders", help="file name stem: NAME.json, NAME.md, NAME_<group>.png")
    return p


def main(argv: list[str] | None = None) -> dict:
    p = parser()
    args = p.parse_args(argv)
    if args.sweep_steps < 2 or args.objects < 1 or not 0 <= args.low < args.high <= 100:
        p.error("need --sweep-steps >= 2, --objects >= 1 and 0 <= --low < --high <= 100")
    return run(args)


if __name__ == "__main__":
    main()
