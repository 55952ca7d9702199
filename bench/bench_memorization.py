"""Does the model copy its training images, and does non-leaking augmentation stop it? (issue 25)

Three measurements, one process, one torch thread, the ``fashion`` preset and its recipe on
Fashion-MNIST at 28x28 (pixel space), every budget in this process's CPU time:

1. calibration: a model trained on 50 images until it copies them; the share of its samples flagged
   by the 1/3 ratio test (Gu et al. 2023, arxiv 2310.02664) in pixel space should be >= 50%
   (exact copies flagged, fresh noise not: tests/evaluation/test_memorization.py); and (part "demo",
   not scaled) ``make demo``'s model, the preset on all 60,000 images for 10 CPU-minutes, whose
   ``--demo-samples`` samples should be flagged for <= 1%.
2. the effect: 500 images, with and without ``--augment 0.15``, the same number of steps; at 4
   points of the run (the in-training hooks of fromnoise.evaluation.in_training) the flagged share
   of ``--mem-samples`` samples and KID of ``--kid-samples`` samples against held-out images (the
   test split; KID is unbiased at small N).
3. the disjoint halves (Kadkhodaie et al. 2023, arxiv 2310.02557): two models on images 0-249 and
   250-499, with and without augmentation; the mean pixel distance between their samples from the
   same noise (models that generalize draw nearly the same image), beside the distance between
   samples from different noise (the baseline).

    python bench/bench_memorization.py                 # the full budget, ~40 CPU-minutes
    python bench/bench_memorization.py --scale 0.3     # every training budget x 0.3 (a reduced run)
    python bench/bench_memorization.py --data clipart --skip calibration,halves   # 500 clip-art objects

``--data clipart``: 500 of Debian's clip-art objects (``bench/clipart_dataset.py``'s split: every 10th file
held out) at ``--size`` (64) as RGBA, colour composited on white as ``fromnoise train`` does, in pixel space
with the flagship's network (``youandme-latent``: the same U-Net, here on pixels) and ``fashion``'s training
recipe (what that preset suggested when the clip-art runs were measured), unconditional; KID against
held-out clip art. The pixel-space ratio test compares the objects on white.

Side-by-side processes stopped before their end (``--runs plain|augment`` with a ``--tag`` each) are tabled
from their runs' metrics.jsonl by ``--from-metrics TAG,TAG --tag NAME --what "..."`` (the points they reached).

Results: ``bench/results/memorization[_TAG].json``. Training budgets are converted to steps from the
speed of a 10-step probe, so the 4 measuring points fall at known steps; the CPU minutes actually
spent (training and measuring apart) are recorded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from clipart_dataset import make_clipart_folders  # noqa: E402
from common import write_result  # noqa: E402

from fromnoise.build import make_config  # noqa: E402
from fromnoise.data import ImageData, composite_alpha, load_dataset, unit_to_uint8  # noqa: E402
from fromnoise.evaluation import FeatureStats, kid_from_features  # noqa: E402
from fromnoise.evaluation.in_training import make_kid_hook, make_memorization_hook  # noqa: E402
from fromnoise.evaluation.inception import InceptionFeatures  # noqa: E402
from fromnoise.models import get_preset  # noqa: E402
from fromnoise.models.presets import RECIPE  # noqa: E402
from fromnoise.sampling import generate  # noqa: E402
from fromnoise.training import Trainer, TrainOptions  # noqa: E402
from fromnoise.training.augment import AUGMENT_DIM  # noqa: E402

WORK = HERE / "cache" / "memorization"
# CPU-minutes of training at --scale 1: 3 (calibration) + 2 x 9 (effect) + 4 x 2.5 (halves) = 31, and
# ~8 more for sampling, the nearest-neighbour searches and Inception (KID): ~40 in all
BUDGET = {"calibration": 3.0, "effect": 9.0, "halves": 2.5}
KID_SUBSETS = 50  # KID subsets of every effect measurement
DEMO_MINUTES = 10.0  # the demo part: `make demo`'s recipe (fashion preset, all 60,000 images, MINUTES=10)


@dataclass(frozen=True)
class Setup:
    """Which network trains on which images."""
    preset: str
    image_size: int
    channels: int
    data: str  # a line for the results
    work: str  # its runs' folder under bench/cache/memorization/ (a run of one set never deletes another's)
    recipe: tuple = ()  # (key, value) training settings over the preset's suggestions


FASHION = Setup("fashion", 28, 1, "fashion-mnist, the first 500 training images, 28x28, pixel space", "fashion")


def clipart_setup(size: int) -> Setup:
    # fashion's recipe (cosine decay, log-normal t, power EMA 0.05): what youandme-latent suggested when the
    # clip-art runs were measured (it suggests the flagship's plain settings since)
    return Setup("youandme-latent", size, 4, f"clip art, 500 training objects, {size}x{size} RGBA composited on "
                                             "white, pixel space, unconditional", f"clipart{size}",
                 tuple(RECIPE.items()))


def load_data(setup: Setup, heldout: int) -> tuple[ImageData, ImageData]:
    """(the 500 training images, ``heldout`` images for KID)."""
    if setup.channels == 1:
        return (load_dataset("fashion-mnist", limit=500),
                load_dataset("fashion-mnist", train=False, limit=heldout))
    train_dir, held_dir = make_clipart_folders(HERE.parent / "data" / f"clipart_mem{setup.image_size}",
                                               setup.image_size, 500, heldout)
    return tuple(composite_alpha(load_dataset(d, channels=4, labels_from="none"))  # as fromnoise train does
                 for d in (train_dir, held_dir))


def cpu() -> float:
    return time.process_time()


def subset(data: ImageData, lo: int, hi: int) -> ImageData:
    return ImageData(images=data.images[lo:hi].clone(), description=dict(data.description, n=hi - lo, first=lo))


def options(setup: Setup, out: Path, steps: int, every: int, augment: float, seed: int = 0,
            hflip: bool = False) -> TrainOptions:
    rec = {**get_preset(setup.preset).defaults, **dict(setup.recipe)}
    return TrainOptions(out=str(out), steps=steps, batch_size=rec["batch_size"], lr=rec["lr"], lr_decay=rec["lr_decay"],
                        t_sampling=rec["t_sampling"], ema_std=rec["ema_std"], augment=augment, seed=seed, hflip=hflip,
                        sample_every=every, save_every=steps, keep=1, num_samples=16, progress=False, log_every=50)


def config(setup: Setup, augment: float) -> dict:
    return make_config(setup.preset, image_size=setup.image_size, channels=setup.channels,
                       model_overrides={"augment_dim": AUGMENT_DIM} if augment else None)


def copier_kid(inception, train: ImageData, ref: FeatureStats, n: int) -> dict:
    """KID of ``n`` training images themselves against the held-out reference, measured as the effect runs'
    samples are (the same subsets and seed): the score of a model that copied every sample. Copying lowers
    KID against held-out images, so a model that copies can score better than one that does not."""
    n = min(n, len(train.images))
    features = inception(train.images[:n], batch_size=64, progress=False)
    kid, kid_std = kid_from_features(features, ref.features, KID_SUBSETS, min(1000, n, ref.n), 0)
    return {"kid": float(kid), "kid_std": float(kid_std), "n": n,
            "what": f"the first {n} training images against the held-out reference: a model that copied every sample"}


def steps_per_cpu_second(setup: Setup, data: ImageData, augment: float) -> float:
    """Training speed of the preset at one thread (a 10-step probe after 3 warm-up steps)."""
    out = WORK / setup.work / "probe"
    shutil.rmtree(out, ignore_errors=True)
    tr = Trainer(config(setup, augment), data, options(setup, out, 3, 10_000, augment))
    tr.opt.num_samples = 1  # the picture drawn at the end of each run() is not training
    tr.run()
    tr.opt.steps = 13
    start = cpu()
    tr.run()
    shutil.rmtree(out, ignore_errors=True)
    return 10 / (cpu() - start)


def train(setup: Setup, name: str, data: ImageData, minutes: float, rate: float, augment: float, hooks_for=None,
          seed: int = 0, hflip: bool = False) -> tuple[Trainer, dict]:
    """Train ``minutes`` CPU-minutes' worth of steps (a multiple of 4), measuring at 4 points; ``hflip``: random
    left-right flips too (what ``fromnoise train`` does on a folder without a mask)."""
    every = max(1, round(minutes * 60 * rate / 4))
    out = WORK / setup.work / name
    shutil.rmtree(out, ignore_errors=True)
    hooks = hooks_for(every) if hooks_for else []
    start = cpu()
    tr = Trainer(config(setup, augment), data, options(setup, out, 4 * every, every, augment, seed, hflip),
                 hooks=hooks)
    tr.run()
    spent = (cpu() - start) / 60
    record = {"steps": tr.step, "epochs": round(tr.step * tr.opt.batch_size / len(data), 1), "images": len(data),
              "augment": augment, "hflip": hflip, "cpu_minutes": round(spent, 2)}
    print(f"{name}: {record}", flush=True)
    return tr, record


def points(hooks) -> list[dict]:
    """The 4 measuring points of a run: step, flagged share (and median nearest distance), KID."""
    mem, kid = hooks
    kids = {s: (k, ks) for s, k, ks in kid.history} if kid is not None else {}
    return [{"step": s, "memorized_share": share, **({"kid": kids[s][0], "kid_std": kids[s][1]} if s in kids else {})}
            for s, share in mem.history]


def from_metrics(setup: Setup, tags: list[str], n_train: int, what: str) -> dict:
    """The effect runs of side-by-side processes stopped before their end (``--from-metrics``): the measuring
    points each reached, read from its runs' metrics.jsonl (the hooks log them there as they are measured)."""
    batch = get_preset(setup.preset).defaults["batch_size"]
    runs: dict = {}
    last: dict = {}  # the last step each run logged
    for tag in tags:
        folders = sorted((WORK / f"{setup.work}_{tag}").glob("effect_*"))
        if not folders:
            raise SystemExit(f"no effect run under {WORK / f'{setup.work}_{tag}'}: was it started with --tag {tag}?")
        for folder in folders:
            lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
            mem = {r["step"]: r for r in lines if "memorized_share" in r}
            kid = {r["step"]: r for r in lines if "kid" in r}
            run = folder.name.removeprefix("effect_")
            runs[run] = [
                {"step": s, "epochs": round(s * batch / n_train), "memorized_share": mem[s]["memorized_share"],
                 "memorized_d1": mem[s]["memorized_d1"], "kid": kid[s]["kid"], "kid_std": kid[s]["kid_std"]}
                for s in sorted(mem) if s in kid]
            last[run] = max(r["step"] for r in lines)
    return {"what": what + "; stopped at steps " + ", ".join(f"{k} {v:,}" for k, v in last.items()),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), "images": n_train, "batch_size": batch, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="every training budget times this")
    ap.add_argument("--augment", type=float, default=0.15)
    ap.add_argument("--mem-samples", type=int, default=200, help="samples per memorization point")
    ap.add_argument("--kid-samples", type=int, default=128, help="samples per KID point")
    ap.add_argument("--heldout", type=int, default=300, help="held-out (test) images for KID")
    ap.add_argument("--pair-samples", type=int, default=64, help="samples per model in the disjoint-halves check")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: calibration,demo,effect,halves")
    ap.add_argument("--demo-samples", type=int, default=1000, help="demo part: samples for the ratio test")
    ap.add_argument("--data", choices=("fashion", "clipart"), default="fashion",
                    help="fashion: Fashion-MNIST at 28x28; clipart: clip-art objects at --size, RGBA")
    ap.add_argument("--size", type=int, default=64, help="clipart: image size")
    ap.add_argument("--tag", default="")
    ap.add_argument("--hflip", action="store_true",
                    help="effect runs: random left-right flips too, as fromnoise train does on a folder (runs named "
                         "RUN_hflip; copies are then searched up to mirroring)")
    ap.add_argument("--steps-per-second", type=float, default=None,
                    help="the training speed to budget with (default: a 10-step probe); give both processes of a "
                         "side-by-side run the same, so both train the same steps")
    ap.add_argument("--runs", default="plain,augment,copier",
                    help="effect: which runs (plain, augment; copier: the KID of training images themselves, what a "
                         "model that copied every sample scores); give each its own --tag to run them side by side "
                         "in two processes (the report joins memorization_TAG files listed together)")
    ap.add_argument("--from-metrics", default=None, metavar="TAG,TAG",
                    help="only table the effect runs of these tags (side-by-side processes stopped early) from their "
                         "metrics.jsonl: writes memorization_<--tag>.json in the partial format")
    ap.add_argument("--what", default="", help="--from-metrics: how the runs were started and why they stopped")
    args = ap.parse_args()
    torch.set_num_threads(1)
    setup = FASHION if args.data == "fashion" else clipart_setup(args.size)
    if args.from_metrics:
        train_all, _ = load_data(setup, args.heldout)
        write_result(f"memorization_{args.tag}", from_metrics(setup, args.from_metrics.split(","), len(train_all),
                                                             args.what))
        return
    skip = set(filter(None, args.skip.split(",")))
    t0 = cpu()
    setup = replace(setup, work=setup.work + (f"_{args.tag}" if args.tag else ""))
    train_all, test = load_data(setup, args.heldout)
    rate = args.steps_per_second or steps_per_cpu_second(setup, train_all, args.augment)
    budgets = {k: v * args.scale for k, v in BUDGET.items()}
    result: dict = {"preset": setup.preset, "data": setup.data, "n_train": len(train_all), "n_heldout": len(test),
                    "threads": 1, "scale": args.scale, "budget_cpu_minutes": budgets,
                    "steps_per_cpu_second": round(rate, 3), "augment": args.augment,
                    "measure": f"pixel space, 1/3 ratio test, {args.mem_samples} samples (20 steps, the preset's "
                               f"sampler, seed 0); KID of {args.kid_samples} samples against {args.heldout} "
                               "test images (Inception-v3 features)"
                               + ("; effect runs trained with left-right flips, nearest training images searched up "
                                  "to mirroring" if args.hflip else "")}
    print(f"{rate:.2f} steps per CPU-second", flush=True)

    name = f"memorization{'_' + args.tag if args.tag else ''}"

    def save() -> None:  # after each part, so a partial run leaves what it measured
        result["cpu_minutes_total"] = round((cpu() - t0) / 60, 2)
        write_result(name, result)

    def mem_hook(every):
        return make_memorization_hook(every, n=args.mem_samples, warn=lambda line: None)

    if "calibration" not in skip:
        hooks = []
        tr, rec = train(setup, "calibration", subset(train_all, 0, 50), BUDGET["calibration"] * args.scale, rate, 0.0,
                        lambda every: hooks.append(mem_hook(every)) or hooks)
        rec["points"] = [{"step": s, "memorized_share": v} for s, v in hooks[0].history]
        rec["goal"] = "flagged share >= 50% at the end"
        result["calibration"] = rec
        save()

    if "demo" not in skip and args.data == "fashion":
        # the other end of the calibration: `make demo`'s model on all 60,000 images should copy none
        hooks = []
        _, rec = train(setup, "demo", load_dataset("fashion-mnist"), DEMO_MINUTES, rate, 0.0,
                       lambda every: hooks.append(make_memorization_hook(every, n=args.demo_samples,
                                                                         warn=lambda line: None)) or hooks)
        rec["points"] = [{"step": s, "memorized_share": v} for s, v in hooks[0].history]
        rec["goal"] = f"flagged share <= 1% of {args.demo_samples} samples at the end"
        result["demo"] = rec
        save()

    if "effect" not in skip:
        net = InceptionFeatures()
        ref = FeatureStats.from_features(net(test.images, batch_size=64, progress=False),
                                         meta={"image_size": setup.image_size, "channels": setup.channels})
        result["effect"] = {}
        if "copier" in args.runs.split(","):
            result["effect_copier"] = copier_kid(net, train_all, ref, args.kid_samples)
            print(f"copier: {result['effect_copier']}", flush=True)
            save()
        flip = "_hflip" if args.hflip else ""
        for run, augment in ((f"plain{flip}", 0.0), (f"augment{args.augment}{flip}", args.augment)):
            if ("plain" if augment == 0 else "augment") not in args.runs.split(","):
                continue
            made = []

            def hooks_for(every, made=made):
                made[:] = [mem_hook(every), make_kid_hook(ref, every, n=args.kid_samples, inception=net,
                                                          kid_subsets=KID_SUBSETS)]
                return made

            _, rec = train(setup, f"effect_{run}", train_all, BUDGET["effect"] * args.scale, rate, augment, hooks_for,
                           hflip=args.hflip)
            rec["points"] = points(made)
            result["effect"][run] = rec
            save()

    if "halves" not in skip:
        result["halves"] = {}
        for run, augment in (("plain", 0.0), (f"augment{args.augment}", args.augment)):
            models, recs = [], []
            for half, (lo, hi) in enumerate(((0, 250), (250, 500))):
                tr, rec = train(setup, f"halves_{run}_{half}", subset(train_all, lo, hi), BUDGET["halves"] * args.scale,
                                rate, augment, seed=half)
                models.append(tr.ema.model.eval())
                recs.append(rec)
            n = args.pair_samples
            a = unit_to_uint8(generate(models[0], n, seed=0, steps=20)).float() / 255
            b = unit_to_uint8(generate(models[1], n, seed=0, steps=20)).float() / 255
            other = unit_to_uint8(generate(models[1], n, seed=10_000, steps=20)).float() / 255
            same = (a - b).flatten(1).norm(dim=1)
            diff = (a - other).flatten(1).norm(dim=1)
            result["halves"][run] = {"models": recs, "n": n,
                                      "same_noise_mean_distance": float(same.mean()),
                                      "different_noise_mean_distance": float(diff.mean()),
                                      "ratio": float(same.mean() / diff.mean()),
                                      "distance": f"Euclidean, pixels in [0, 1], {setup.image_size}x{setup.image_size}"}
            print(f"halves {run}: {result['halves'][run]}", flush=True)
            save()


if __name__ == "__main__":
    main()
