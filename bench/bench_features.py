"""Feature-conditioned training on the emoji set, then the fidelity of the 32 features.

    python bench/bench_features.py train --data EMOJI32 --run RUN --minutes 18
    python bench/bench_features.py eval --data EMOJI32 --run RUN [--guidance 1 3]

``train``: 32x32 RGB emoji (``bench/emoji_dataset.py OUT --size 32``), a seeded held-out
split (``--holdout`` images never trained on), a preset (``--preset``, default ``fashion``: 2x2 patches) with
features + mask conditioning, for a bounded wall time on the CPU. ``eval``: generates one image per held-out
feature vector (with its mask), re-measures the 32 features, and writes per-feature Pearson r
and MAE beside the unconditional baseline (the null condition, same seeds) to
``bench/results/features_fidelity.{json,md}`` and one scatter PNG per feature group.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fromnoise.build import make_config  # noqa: E402
from fromnoise.data import load_dataset  # noqa: E402
from fromnoise.data.image_data import ImageData  # noqa: E402
from fromnoise.io import write_text  # noqa: E402
from fromnoise.sampling.samplers import SAMPLERS  # noqa: E402
from fromnoise.training.trainer import LR_DECAYS  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def split(data: ImageData, holdout: int, seed: int = 0) -> tuple[ImageData, ImageData]:
    """(train, held out): a seeded random split of an image folder."""
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    parts = []
    for idx in (perm[holdout:].sort().values, perm[:holdout].sort().values):
        files = [data.files[i] for i in idx] if data.files else None
        parts.append(ImageData(images=data.images[idx], description=dict(data.description, n=len(idx)), files=files))
    return parts[0], parts[1]


def train(args) -> None:
    from fromnoise.conditioning.tables import setup_conditioning
    from fromnoise.training.trainer import Trainer, TrainOptions

    torch.set_num_threads(args.threads)
    data, _ = split(load_dataset(args.data, image_size=32, channels=3), args.holdout)
    overrides = {"channels": tuple(args.channels)} if args.channels else None
    config = make_config(args.preset, image_size=32, channels=3, model_overrides=overrides)
    net = config["model"]["kwargs"]
    emb_dim = net.get("emb_dim") or 4 * net["channels"][0]  # the U-Net's time-embedding width
    t0 = time.time()
    config["conditioning"], tables = setup_conditioning("features", data, emb_dim, mask=args.mask)
    measure_s = time.time() - t0
    from fromnoise.models import get_preset

    lr = args.lr or get_preset(args.preset).defaults.get("lr", 1e-3)
    opts = TrainOptions(out=args.run, minutes=args.minutes, clock=args.clock, batch_size=args.batch, lr=lr,
                        warmup=args.warmup, lr_decay=args.lr_decay,
                        condition_dropout=0.1, sample_every=10**9, save_every=10**9, num_samples=16, progress=False)
    trainer = Trainer(config, data, opts, tables)
    step0, t1 = trainer.step, time.time()
    trainer.run()
    secs = time.time() - t1
    before = Path(args.run) / "bench_train.json"  # a rerun resumes the run: report its whole training
    earlier = json.loads(before.read_text()) if before.is_file() and step0 > 0 else {}
    info = {"train_images": len(data), "holdout": args.holdout, "mask": args.mask, "measure_s": round(measure_s, 1),
            "train_s": round(secs + earlier.get("train_s", 0.0), 1), "steps": trainer.step, "batch_size": args.batch,
            "images_per_s": round((trainer.step - step0) * args.batch / secs, 1), "threads": args.threads,
            "sessions": earlier.get("sessions", 1 if earlier else 0) + 1, "preset": args.preset, "lr": lr,
            "clock": args.clock, "minutes": args.minutes,
            "lr_decay": (earlier.get("lr_decay", "none") + f" -> {args.lr_decay} from step {step0}"
                         if earlier and args.lr_decay != earlier.get("lr_decay", "none") else args.lr_decay),
            "model_channels": list(net["channels"]), "load_avg_1min_end": os.getloadavg()[0]}
    write_text(Path(args.run) / "bench_train.json", json.dumps(info, indent=2))
    print(json.dumps(info))


def evaluate(args) -> None:
    from fromnoise import load
    from fromnoise.evaluation.fidelity import evaluate_fidelity, held_out_targets, markdown_table, save_report

    torch.set_num_threads(args.threads)
    _, held = split(load_dataset(args.data, image_size=32, channels=3), args.holdout)
    denoiser = load(args.run)
    targets, masks = held_out_targets(denoiser, held.images)
    if args.repeats > 1:  # each held-out vector asked K times (image i has seed i): r over K x N pairs
        import numpy as np

        targets = np.tile(targets, (args.repeats, 1))
        masks = masks.repeat(args.repeats, 1, 1, 1) if masks is not None else None
    train_info = json.loads((Path(args.run) / "bench_train.json").read_text())
    summary = {"train": train_info, "sampler": args.sampler, "steps": args.steps, "repeats": args.repeats, "runs": {}}
    tables = {}
    for g in args.guidance:
        t0 = time.time()
        # the baseline (null condition) does not depend on the guidance scale: draw it once
        report = evaluate_fidelity(denoiser, targets, masks, guidance=g, steps=args.steps, sampler=args.sampler,
                                   baseline=g == args.guidance[0])
        summary["runs"][f"guidance_{g:g}"] = dict(report.to_dict(), seconds=round(time.time() - t0, 1))
        save_report(report, RESULTS / f"features_fidelity_g{g:g}", title=f"guidance {g:g}")
        tables[g] = markdown_table(report.groups)
    write_text(RESULTS / "features_fidelity.json", json.dumps(summary, indent=2))
    lines = ["# Feature fidelity on held-out emoji (bench/bench_features.py)", "",
             "Training: " + ", ".join(f"{k}={v}" for k, v in train_info.items()), "",
             f"Sampling: {args.sampler} x{args.steps}, {args.repeats} image(s) per held-out feature vector (with its "
             f"mask; {len(targets)} pairs).", ""]
    for g, table in tables.items():
        lines += [f"## guidance {g:g} (baseline: null condition, same seeds)", "", table, ""]
        outside = summary["runs"][f"guidance_{g:g}"]["settings"].get("mask_outside_share")
        if outside is not None:
            lines += [f"Generated object pixels outside the requested mask: {100 * outside:.2f}%.", ""]
    write_text(RESULTS / "features_fidelity.md", "\n".join(lines))
    print(json.dumps({k: v["groups"] for k, v in summary["runs"].items()}, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["train", "eval"])
    p.add_argument("--data", required=True, help="32x32 RGBA emoji folder")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--holdout", type=int, default=128, help="held-out images (never trained on)")
    p.add_argument("--minutes", type=float, default=18.0, help="training time (see --clock)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="cpu",
                   help="what --minutes counts: this process's CPU time (default; fair on a shared machine) "
                        "or wall time")
    p.add_argument("--no-mask", dest="mask", action="store_false", help="features only, no mask channel")
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 3.0], help="guidance scales to evaluate")
    p.add_argument("--steps", type=int, default=20, help="sampler steps")
    p.add_argument("--repeats", type=int, default=1,
                   help="images per held-out vector (different seeds): r over repeats x holdout pairs")
    p.add_argument("--sampler", choices=list(SAMPLERS), default="dpmpp_2m", help="sampler")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--batch", type=int, default=64, help="batch size")
    p.add_argument("--warmup", type=int, default=200, help="lr warm-up steps")
    p.add_argument("--preset", default="fashion",
                   help="model preset at 32x32 RGB (fashion: 2x2 patches, 16-8-4 px, the fastest per image; cpu32)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    p.add_argument("--lr-decay", choices=list(LR_DECAYS), default="none",
                   help="cosine: decay to 0 over this invocation's --minutes (e.g. to finish a resumed run)")
    p.add_argument("--channels", type=int, nargs="+", default=None,
                   help="U-Net widths per level (fashion: 32 64 128; cpu32: 32 64 128 128)")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (train if args.phase == "train" else evaluate)(args)


if __name__ == "__main__":
    main()
