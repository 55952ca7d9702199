"""Feature edits of art objects (issue 26, item 4; reference 000: "the features are invertible").

    python bench/img2img_features.py --run RUN --data EMOJI32 [--holdout 128] [--objects 16] [--steps 20]

The command line's edit is ``fromnoise sample RUN --init OBJ.png --set temperature=0.9 --strength S``: an edit
of a feature model keeps the object's own 32 features and mask (as ``--like OBJ.png`` would), ``--set`` replaces
one feature, and the object is noised to S and sampled back (SDEdit, arxiv 2108.01073) under that condition.
This bench makes the same condition rows directly (a test checks them against ``build_condition``) and calls the
same ``generate(init=, strength=)``.

``RUN`` is a features + mask model; ``--data``/``--holdout``/``--split-seed`` give the held-out split of
``bench/bench_features.py`` (or ``--heldout FOLDER``: objects from their own folder, all of ``--data`` trains;
as ``bench/bench_sliders.py``, whose helpers this imports). For K held-out objects
(the first K with a non-empty mask) and one feature per group (``fromnoise.viz.sliders.REPRESENTATIVE``):

* the target: the feature's 90th percentile over the training images when the object's own value is below the
  median, its 10th when above (at the median: the farther of the two); normalised as the conditioning takes it;
  where p10 = p90 (most objects have no hole) the normaliser's ends 0 and 1 (``sweep_grid``);
* the condition: the object's own features with that one replaced, and its own mask; SHAPE and TOPOLOGY are read
  off the mask, which would fix them, so they are edited without it (as the sliders bench);
* each strength in ``--strengths``: the edited image is re-measured (``fromnoise.features``). ``moved``: the share
  of objects with |after - target| < |before - target| (hue the shorter way round); ``movement``: the median of
  |before - target| - |after - target| (normalised units, > 0 toward the target); ``iou``: the mean IoU of the
  edited and the input object masks (alpha > 0.5, or the measured mask of an image without alpha).
* the control: the same objects, noise and strength under their own unchanged features (and mask, as the feature
  is edited): how often does re-sampling alone land nearer the target? (``control_moved``)

``--invert`` starts from the DDIM inversion of the object under its own features instead (``generate(invert=True,
source={"features": own})``, as the CLI's ``--invert`` does for a feature model).

Goal (issue 26): moved >= 0.9 with IoU >= 0.9. Object k uses seed + k for every feature and strength. Writes
``--out/NAME.json``, ``NAME.md``, ``NAME.png`` (the curves) and ``NAME_examples.png`` (object 0: one row per
feature, the input then one edit per strength).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_sliders import _objects, add_object_options, train_and_heldout  # noqa: E402
from fromnoise.features.names import CIRCULAR, FEATURE_DOCS, FEATURE_NAMES, MASK_GROUPS  # noqa: E402
from fromnoise.io import write_json, write_text  # noqa: E402
from fromnoise.viz.sliders import REPRESENTATIVE, SWEEP_PERCENTILES, sweep_grid  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STRENGTHS = (0.3, 0.5, 0.7, 0.85, 1.0)
GOAL_MOVED, GOAL_IOU = 0.9, 0.9


# ------------------------------------------------------------------------------------ the measures
def distance(a, b, circular: bool = False) -> np.ndarray:
    """|a - b| elementwise; on a circle of circumference 1 (hue) the shorter way round."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return np.minimum(d % 1.0, 1.0 - d % 1.0) if circular else d


def movement(before, after, target, circular: bool = False) -> np.ndarray:
    """How much nearer the target the edit came: |before - target| - |after - target| (> 0: toward it)."""
    return distance(before, target, circular) - distance(after, target, circular)


def moved_toward(before, after, target, circular: bool = False) -> np.ndarray:
    """(K,) bool: strictly nearer the target after the edit than before."""
    return movement(before, after, target, circular) > 0


def mask_iou(a, b) -> np.ndarray:
    """(K,) IoU of two stacks of masks (K, H, W) (or (K, 1, H, W)), each thresholded at 0.5; 1 where both are empty."""
    a, b = np.asarray(a, dtype=np.float64) > 0.5, np.asarray(b, dtype=np.float64) > 0.5
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    inter, union = (a & b).sum(axis=1), (a | b).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def edit_targets(table: np.ndarray, own: np.ndarray,
                 percentiles: tuple[float, float] = SWEEP_PERCENTILES) -> np.ndarray:
    """Each object's target for each feature, normalised: (K, 32).

    Args:
        table: normalised features of the training images (N, 32).
        own: the objects' own normalised features (K, 32).
    The high percentile where an object is below the training median, the low one where it is above; at the
    median the one farther from it. Where the two percentiles coincide they widen to 0 and 1 (``sweep_grid``).
    """
    ends, _ = sweep_grid(table, percentiles, 2)  # (32, 2): low, high
    lo, hi = ends[:, 0], ends[:, 1]
    median = np.median(np.asarray(table, dtype=np.float64), axis=0)
    own = np.atleast_2d(np.asarray(own, dtype=np.float64))
    farther_high = np.abs(hi - own) > np.abs(own - lo)
    return np.where(own < median, hi, np.where(own > median, lo, np.where(farther_high, hi, lo)))


def edit_condition(bases: np.ndarray, feature: int, values: np.ndarray,
                   masks: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """K objects' own features (K, 32) with column ``feature`` set to ``values`` (K,) [+ their masks (K, 1, H, W)]:
    the rows ``build_condition`` makes of ``--like OBJ --set NAME=V``."""
    rows = np.array(bases, dtype=np.float64, copy=True)
    rows[:, feature] = values
    cond = {"features": torch.from_numpy(rows).float()}
    if masks is not None:
        cond["mask"] = masks.float()
    return cond


# ------------------------------------------------------------------------------------ the edits
def run_edits(den, objects: torch.Tensor, bases: np.ndarray, masks: torch.Tensor | None, targets: np.ndarray,
              features: list[str], strengths, *, generate_options: dict, invert: bool = False, workers: int = 1,
              log=print) -> dict:
    """Edit K objects (K, C, H, W) in [0, 1] toward ``targets`` (K, 32), one feature at a time, plus the controls.

    ``invert``: start from the DDIM inversion of the object under its own features (``generate(invert=True,
    source=...)``, a deterministic sampler) instead of the noised object (SDEdit).

    Returns {"after": (F, S, K) normalised re-measured values of the edited feature, "iou": (F, S, K),
    "control_after": (F, S, K), "control_iou": (F, S, K), "images": (F, S, K, C, H, W)}.
    """
    from fromnoise.evaluation.fidelity import measure_normalised
    from fromnoise.sampling.generate import generate
    from fromnoise.sampling.samplers import randn

    k, f_n = len(bases), len(features)
    seed = generate_options.get("seed", 0)
    shape = den.latent_shape if getattr(den, "decode_latents", None) is not None else den.image_shape
    noise = randn([torch.Generator().manual_seed(seed + i) for i in range(k)], (k, *shape), "cpu")
    _, own_masks = measure_normalised(den, objects, workers)
    masked = {f: masks is not None and FEATURE_DOCS[f].group not in MASK_GROUPS for f in features}
    out = {name: np.zeros((f_n, len(strengths), k)) for name in ("after", "iou", "control_after", "control_iou")}
    images = torch.zeros(f_n, len(strengths), *objects.shape)
    # one generate() call per strength and mask setting (a zero mask means "all background", not "no mask"):
    # its blocks of K rows are the edits of the features of that setting, then the control
    for with_mask in (True, False):
        names = [f for f in features if masked[f] == with_mask]
        if not names:
            continue
        m = masks if with_mask else None
        blocks = [edit_condition(bases, FEATURE_NAMES.index(f), targets[:, FEATURE_NAMES.index(f)], m)
                  for f in names] + [edit_condition(bases, 0, bases[:, 0], m)]
        cond = {key: torch.cat([b[key] for b in blocks]) for key in blocks[0]}
        n, ctl = len(blocks) * k, slice(len(names) * k, None)
        own = torch.from_numpy(np.tile(bases, (len(blocks), 1))).float()  # the inversion runs under the object's own
        source = {"source": {"features": own}} if invert else {}
        for s, strength in enumerate(strengths):
            t0 = time.time()
            edited = generate(den, n, condition=cond, init=objects.repeat(len(blocks), 1, 1, 1), strength=strength,
                              noise=noise.repeat(len(blocks), 1, 1, 1), invert=invert, **source, **generate_options)
            measured, found = measure_normalised(den, edited, workers)  # (n, 32), (n, H, W)
            for b, f in enumerate(names):
                i, j, rows = features.index(f), FEATURE_NAMES.index(f), slice(b * k, (b + 1) * k)
                out["after"][i, s], out["iou"][i, s] = measured[rows, j], mask_iou(found[rows], own_masks)
                out["control_after"][i, s] = measured[ctl, j]
                out["control_iou"][i, s] = mask_iou(found[ctl], own_masks)
                images[i, s] = edited[rows]
            log(f"  {'masked' if with_mask else 'unmasked'}, strength {strength:g}: {n} edits generated and "
                f"measured in {time.time() - t0:.1f} s")
    out["images"] = images  # (F, S, K, C, H, W)
    out["masked"] = masked
    return out


def summarise(features: list[str], strengths, bases: np.ndarray, targets: np.ndarray, res: dict) -> list[dict]:
    """One row per (feature, strength): moved, movement, IoU, the control's, and whether the goal is met."""
    rows = []
    for i, f in enumerate(features):
        j, circ = FEATURE_NAMES.index(f), f in CIRCULAR
        before, target = bases[:, j], targets[:, j]
        for s, strength in enumerate(strengths):
            after, iou = res["after"][i, s], res["iou"][i, s]
            moved = moved_toward(before, after, target, circ)
            rows.append({"feature": f, "group": FEATURE_DOCS[f].group, "masked": bool(res["masked"][f]),
                         "strength": float(strength), "moved": float(moved.mean()),
                         "movement_median": float(np.median(movement(before, after, target, circ))),
                         "gap_median": float(np.median(distance(before, target, circ))),
                         "iou_mean": float(iou.mean()), "iou_median": float(np.median(iou)),
                         "moved_and_iou": float((moved & (iou >= GOAL_IOU)).mean()),
                         "control_moved": float(moved_toward(before, res["control_after"][i, s], target, circ).mean()),
                         "control_movement_median": float(np.median(movement(before, res["control_after"][i, s],
                                                                             target, circ))),
                         "control_iou_mean": float(res["control_iou"][i, s].mean()),
                         "pass": bool(moved.mean() >= GOAL_MOVED and iou.mean() >= GOAL_IOU)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| feature | group | mask | strength | moved | control moved | median movement (gap) | control movement "
             "| IoU mean | control IoU | moved & IoU>=0.9 | pass |", "|" + "---|" * 12]
    lines += [f"| {r['feature']} | {r['group']} | {'yes' if r['masked'] else 'no'} | {r['strength']:g} | "
              f"{r['moved']:.2f} | {r['control_moved']:.2f} | {r['movement_median']:+.3f} ({r['gap_median']:.3f}) | "
              f"{r['control_movement_median']:+.3f} | {r['iou_mean']:.2f} | {r['control_iou_mean']:.2f} | "
              f"{r['moved_and_iou']:.2f} | "
              f"{'yes' if r['pass'] else 'no'} |" for r in rows]
    return "\n".join(lines)


def curve_figure(rows: list[dict], title: str = ""):
    """Share moved toward the target and mean IoU against strength, one line per feature (control dashed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for idx, f in enumerate(dict.fromkeys(r["feature"] for r in rows)):
        mine = [r for r in rows if r["feature"] == f]
        x, colour = [r["strength"] for r in mine], f"C{idx}"
        style = {"color": colour, "marker": "osD^v"[idx % 5], "ms": 9 - 1.2 * (idx % 5), "alpha": 0.85}  # overlaps show
        left.plot(x, [r["moved"] for r in mine], "-", label=f"{f} ({mine[0]['group']})", **style)
        left.plot(x, [r["control_moved"] for r in mine], ":", color=colour, alpha=0.6)
        right.plot(x, [r["iou_mean"] for r in mine], "-", label=f, **style)
    for ax, name in ((left, "share moved toward the set value"), (right, "mean silhouette IoU with the input")):
        ax.axhline(GOAL_MOVED if ax is left else GOAL_IOU, color="k", lw=0.8, ls="--")
        ax.set(xlabel="strength", ylabel=name, ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    left.legend(fontsize=8, title="dotted: own features (control)", title_fontsize=8)
    fig.suptitle(title or "Feature edits: goal (dashed) moved >= 0.9 with IoU >= 0.9", fontsize=10)
    return fig


# ------------------------------------------------------------------------------------ the run
def run(args) -> dict:
    from fromnoise import load
    from fromnoise.evaluation.fidelity import measure_normalised
    from fromnoise.viz.grids import save_grid
    from fromnoise.viz.plots import save_figure

    torch.set_num_threads(args.threads)
    t0, cpu0 = time.time(), time.process_time()
    den = load(args.run)
    if "features" not in den.encoders:
        from fromnoise.errors import UserError
        raise UserError(f"{args.run} is not a features model: train one with bench/bench_features.py train")
    train, held = train_and_heldout(den, args)
    table, _ = measure_normalised(den, train.images, args.workers)
    bases, masks, keep = _objects(den, held, args.objects, args.workers, args.object_seed)
    objects = held.images[keep].float() / 255
    targets = edit_targets(table, bases, (args.low, args.high))
    features = args.features or list(REPRESENTATIVE.values())
    gen = {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance, "seed": args.seed,
           "batch_size": args.batch}
    print(f"{len(train)} training images, {len(bases)} held-out objects, features {', '.join(features)}, "
          f"strengths {args.strengths} ({args.sampler} x{args.steps})")
    res = run_edits(den, objects, bases, masks, targets, features, args.strengths, generate_options=gen,
                    invert=args.invert, workers=args.workers)
    rows = summarise(features, args.strengths, bases, targets, res)
    out = Path(args.out)
    curve = save_figure(curve_figure(rows, f"Feature edits of {len(bases)} held-out objects ({args.name}); goal "
                                           "(dashed): moved >= 0.9 with IoU >= 0.9"), out / f"{args.name}.png")
    show = torch.cat([torch.cat([objects[:1], res["images"][i, :, 0]]) for i in range(len(features))])
    examples = save_grid(show, out / f"{args.name}_examples.png", nrow=len(args.strengths) + 1)
    files = held.files or []
    summary = {
        "settings": {"run": str(args.run), "data": str(args.data), "heldout": args.heldout, "holdout": args.holdout,
                     "split_seed": args.split_seed, "train_images": len(train), "objects": len(bases),
                     "object_files": [Path(files[i]).name for i in keep] if files else None,
                     "features": features, "strengths": list(args.strengths), "percentiles": [args.low, args.high],
                     **gen, "invert": args.invert, "mask_model": masks is not None, "threads": args.threads,
                     "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - cpu0, 1),
                     "load_avg_1min_end": os.getloadavg()[0], "command": "python " + " ".join(sys.argv)},
        "definitions": {"moved": "share of objects with |after - target| < |before - target| (normalised)",
                        "movement_median": "median of |before - target| - |after - target|; > 0 toward the target",
                        "gap_median": "median |before - target|",
                        "iou_mean": "mean IoU of the edited and input object masks (alpha > 0.5 / measured mask)",
                        "control_moved": "moved, for the same edit under the object's own unchanged features",
                        "control_movement_median": "movement_median of that control edit",
                        "pass": f"moved >= {GOAL_MOVED} and iou_mean >= {GOAL_IOU}"},
        "targets": {f: [round(float(v), 4) for v in targets[:, FEATURE_NAMES.index(f)]] for f in features},
        "before": {f: [round(float(v), 4) for v in bases[:, FEATURE_NAMES.index(f)]] for f in features},
        "rows": rows, "pictures": [str(curve), str(examples)]}
    write_json(out / f"{args.name}.json", summary)
    table_md = markdown(rows)
    write_text(out / f"{args.name}.md", "# Feature edits of art objects (bench/img2img_features.py)\n\n"
               + ", ".join(f"{k}={v}" for k, v in summary["settings"].items() if k != "object_files")
               + "\n\n" + table_md + f"\n\nPictures: `{curve.name}`, `{examples.name}` (object 0, one row per feature "
               f"({', '.join(features)}): the input, then the edit at each strength).\n")
    print(table_md)
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_object_options(p, "a features + mask run directory")
    p.add_argument("--features", nargs="+", choices=FEATURE_NAMES, default=None,
                   help="features to edit (default: one per group, fromnoise.viz.sliders.REPRESENTATIVE)")
    p.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS), help="SDEdit strengths")
    p.add_argument("--invert", action="store_true",
                   help="start from the DDIM inversion under the object's own features (--sampler ddim), not SDEdit")
    p.add_argument("--steps", type=int, default=20, help="sampler steps (of a full walk)")
    p.add_argument("--sampler", default="ddim", help="sampler")
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale")
    p.add_argument("--seed", type=int, default=0, help="object k uses seed + k")
    p.add_argument("--low", type=float, default=SWEEP_PERCENTILES[0], help="percentile of a target above the median")
    p.add_argument("--high", type=float, default=SWEEP_PERCENTILES[1], help="percentile of a target below it")
    p.add_argument("--batch", type=int, default=64, help="images per network batch")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--workers", type=int, default=1, help="processes measuring features")
    p.add_argument("--out", default=str(RESULTS), help="results folder")
    p.add_argument("--name", default="img2img_features", help="file name stem: NAME.json, NAME.md, NAME.png")
    return p


def main(argv: list[str] | None = None) -> dict:
    p = parser()
    args = p.parse_args(argv)
    if args.objects < 1 or not all(0 < s <= 1 for s in args.strengths) or not 0 <= args.low < args.high <= 100:
        p.error("need --objects >= 1, every --strengths in (0, 1] and 0 <= --low < --high <= 100")
    return run(args)


if __name__ == "__main__":
    main()
