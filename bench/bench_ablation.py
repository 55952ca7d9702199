"""The training recipe, one ingredient at a time: KID after the same one-core CPU budget (issue 17).

Each contender is the ``fashion`` preset on Fashion-MNIST with the recipe of the row above plus
one change. Every contender trains in its own process with one torch thread, all at the same
time, for ``--minutes`` of its own CPU time (``fromnoise train --clock cpu``), so other jobs on
the shared machine do not eat into one contender's budget more than another's. Then each draws
``--samples`` images at 20 NFE (DPM-Solver++(2M), seed 0) and the parent scores KID and FID
against the Fashion-MNIST test images (bench_zero_point's reference: train vs test is KID 0.000,
FID 12.4 at N = 2,000).

    python bench/bench_ablation.py                       # all rows, 15 CPU-minutes each
    python bench/bench_ablation.py --minutes 5 --rows today,cosine --tag 5min
    python bench/bench_ablation.py --rows lognormal,power0.05 --posthoc 0.02,0.08 --posthoc-rows power0.05

Rows (each is the recipe of the row it builds on plus one change; ``--rows`` picks any subset):

| row | on | adds | paper |
|---|---|---|---|
| today | | lr 2e-3 constant after 100 warm-up steps, uniform t, plain v-MSE, batch 64 | the preset before issue 17 |
| cosine | today | learning rate decayed to 0 over the budget (cosine) | Loshchilov & Hutter, arxiv 1608.03983 |
| lognormal | cosine | EDM's log-normal noise levels, ln sigma ~ N(-1.2, 1.2^2) | Karras et al., arxiv 2206.00364 |
| minsnr | lognormal | min-SNR-5 loss weighting | Hang et al., arxiv 2303.09556 |
| compile | minsnr | torch.compile of the network (its compile time counts in the budget) | |
| lr4e-3 | lognormal | peak learning rate 4e-3 (twice the preset's) | |
| batch32 | lognormal | batch 32 (twice the steps) | |
| pmean-0.8 | lognormal | ln sigma ~ N(-0.8, 1.2^2): noisier levels, for data std ~0.7 instead of EDM's 0.5 | Karras et al.; Hoogeboom et al., arxiv 2301.11093 |
| ema0 | lognormal | no EMA: sample the live weights (the lr decays to 0 anyway) | |
| uncertainty | lognormal | EDM2's learned loss weighting per noise level (``--loss-weighting uncertainty``) | Karras et al., arxiv 2312.02696 |
| power0.10 | lognormal | EDM2's power-function EMA, sigma_rel 0.10, instead of decay 0.999 (``--ema-std``) | Karras et al., arxiv 2312.02696 |
| power0.05 | lognormal | the same, sigma_rel 0.05 | Karras et al., arxiv 2312.02696 |
| slim | lognormal | U-Net widths 24-48-96 instead of 32-64-128 (~0.56x the FLOPs: more steps) | |
| wide | lognormal | U-Net widths 48-96-192 (~2.2x the FLOPs: fewer steps) | |
| pmean-1.6 | power0.05 | ln sigma ~ N(-1.6, 1.2^2): cleaner levels (pmean-0.8, noisier, was worse) | |
| pstd-1.6 | power0.05 | ln sigma ~ N(-1.2, 1.6^2): a wider spread of levels | |
| batch128 | power0.05 | batch 128 (half the steps, each less noisy; batch 32 was worse) | |

A change under the key ``model`` overrides the preset's network (``make_config(model_overrides=)``); the
others are ``TrainOptions`` fields.

Results: ``bench/results/ablation[_TAG].json`` and a section in ``bench/results/report.md``
(``bench/run_all.py --report``).
"""  # noqa: E501 (the rows of the markdown table above cannot be wrapped without breaking the table)

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_quality import cached_features  # noqa: E402
from bench_zero_point import score, test_reference  # noqa: E402
from common import write_result  # noqa: E402

WORK = HERE / "cache" / "ablation"

# (row, the row it builds on, the change it adds, as TrainOptions fields). The first five rows are a chain
# (each with every change above it); later rows start from the kept recipe (lognormal) and add one change.
ROWS: list[tuple[str, str | None, dict]] = [
    ("today", None, {"lr": 2e-3, "lr_decay": "none", "min_snr_gamma": None, "t_sampling": "uniform", "compile": False,
                     "batch_size": 64}),
    ("cosine", "today", {"lr_decay": "cosine"}),
    ("lognormal", "cosine", {"t_sampling": "lognormal"}),
    ("minsnr", "lognormal", {"min_snr_gamma": 5.0}),
    ("compile", "minsnr", {"compile": True}),
    ("lr4e-3", "lognormal", {"lr": 4e-3}),
    ("batch32", "lognormal", {"batch_size": 32}),
    ("pmean-0.8", "lognormal", {"lognormal_mean": -0.8}),
    ("ema0", "lognormal", {"ema_decay": 0.0}),
    ("uncertainty", "lognormal", {"loss_weighting": "uncertainty"}),
    ("power0.10", "lognormal", {"ema_std": 0.10}),
    ("power0.05", "lognormal", {"ema_std": 0.05}),
    ("slim", "lognormal", {"model": {"channels": (24, 48, 96)}}),
    ("wide", "lognormal", {"model": {"channels": (48, 96, 192)}}),
    ("pmean-1.6", "power0.05", {"lognormal_mean": -1.6}),
    ("pstd-1.6", "power0.05", {"lognormal_std": 1.6}),
    ("batch128", "power0.05", {"batch_size": 128}),
]
CHANGES = {name: change for name, _, change in ROWS}
BASES = {name: base for name, base, _ in ROWS}


def recipe(row: str) -> dict:
    """The TrainOptions overrides of ``row``: its own change on top of the recipe of the row it builds on."""
    if row not in CHANGES:
        raise SystemExit(f"unknown row {row!r}; choose from {', '.join(CHANGES)}")
    base = BASES[row]
    return {**(recipe(base) if base else {}), **CHANGES[row]}


def worker(row: str, minutes: float, samples: int, work: Path, posthoc: list[float] = (), posthoc_samples: int = 600,
           snapshot_every: int = 50) -> None:
    """Train one row for ``minutes`` of CPU time (one thread), then sample ``samples`` images; with ``posthoc``
    the run also saves EMA snapshots every ``snapshot_every`` steps and, after training, samples
    ``posthoc_samples`` images from the post-hoc EMA of each relative std in ``posthoc`` (ROW/posthoc-STD/)."""
    from fromnoise.build import make_config
    from fromnoise.data import load_dataset, unit_to_uint8
    from fromnoise.sampling import generate
    from fromnoise.training import Trainer, TrainOptions

    torch.set_num_threads(1)
    out = work / row
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, never a resumed one
    out.mkdir(parents=True)
    data = load_dataset("fashion-mnist", image_size=28, channels=1, train=True)
    load_start, wall0, cpu0 = os.getloadavg(), time.time(), time.process_time()
    train = dict(recipe(row))
    net = train.pop("model", None)
    if posthoc:
        train["ema_snapshots"] = snapshot_every
    opts = TrainOptions(out=str(out / "run"), minutes=minutes, clock="cpu", progress=False,
                        sample_every=10**9, save_every=10**9, log_every=50, **train)
    trainer = Trainer(make_config("fashion", model_overrides=net), data, opts)
    trainer.run()
    cpu = time.process_time() - cpu0
    stats = {"row": row, "recipe": recipe(row), "parameters": sum(p.numel() for p in trainer.denoiser.net.parameters()),
             "steps": trainer.step, "cpu_seconds": cpu,
             "wall_seconds": time.time() - wall0, "images_per_cpu_s": trainer.step * opts.batch_size / cpu}
    t1 = time.process_time()
    images = unit_to_uint8(generate(trainer.ema.model, samples, sampler="dpmpp_2m", steps=20, seed=0))
    stats.update(sample_cpu_seconds=time.process_time() - t1, load_avg_start=load_start, load_avg_end=os.getloadavg())
    np.save(out / "samples.npy", images.numpy(), allow_pickle=False)
    (out / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    print(f"{row}: {trainer.step} steps in {cpu:.0f} CPU-s", flush=True)
    if posthoc:
        import copy

        from fromnoise.training.ema import reconstruct

        model = copy.deepcopy(trainer.ema.model)
        for std in posthoc:
            weights, used = reconstruct(Path(opts.out), std)
            model.load_state_dict(weights)
            images = unit_to_uint8(generate(model, posthoc_samples, sampler="dpmpp_2m", steps=20, seed=0))
            sub = out / f"posthoc-{std:g}"
            sub.mkdir()
            np.save(sub / "samples.npy", images.numpy(), allow_pickle=False)
            (sub / "stats.json").write_text(json.dumps({**stats, "row": f"{row}@{std:g}", "posthoc_std": std,
                                                        "posthoc_snapshots": len(used["snapshots"])}, indent=2,
                                                       default=str))
            print(f"{row}: post-hoc EMA sigma_rel {std:g} from {len(used['snapshots'])} snapshots", flush=True)


def report(rows: list[dict]) -> str:
    """The ablation as a markdown table (each row with every change above it)."""
    lines = ["| row | on | adds | steps | img/CPU-s | N | KID | FID |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name, _, std = r["row"].partition("@")  # ROW@STD: the post-hoc EMA of relative std STD of row ROW's run
        if std:
            on, adds = name, f"post-hoc EMA, sigma_rel {std} (from the run's snapshots)"
        else:
            on = BASES[name] or ""
            adds = ", ".join(f"{k}={v}" for k, v in CHANGES[name].items()) if name != "today" else "baseline"
        lines.append(f"| {r['row']} | {on} | {adds} | {r['steps']} | {r['images_per_cpu_s']:.1f} | {r['n']} | "
                     f"{r['kid']:.4f} ± {r['kid_std']:.4f} | {r['fid']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=15.0, help="CPU-minutes of training per row (one thread)")
    ap.add_argument("--samples", type=int, default=2000, help="generated and reference images per KID/FID")
    ap.add_argument("--score-samples", type=int, default=None,
                    help="score only the first N samples (default: --samples; N = 600 costs ~4 core-minutes a row)")
    ap.add_argument("--rows", default=",".join(CHANGES), help="comma-separated rows to run")
    ap.add_argument("--tag", default="", help="suffix of the results file (ablation_TAG.json)")
    ap.add_argument("--work", type=Path, default=WORK, help="folder for runs and samples")
    ap.add_argument("--score-only", action="store_true", help="score the samples already in --work")
    ap.add_argument("--results", default=None, help="name of the results file (default: ablation[_TAG])")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads for scoring")
    ap.add_argument("--posthoc", default="",
                    help="comma-separated EMA relative stds (e.g. 0.02,0.08): the rows of --posthoc-rows also save "
                         "EMA snapshots and are scored with the post-hoc EMA of each (rows ROW@STD)")
    ap.add_argument("--posthoc-rows", default="", help="the rows that get --posthoc (default: all)")
    ap.add_argument("--posthoc-samples", type=int, default=600, help="images per post-hoc EMA")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.work / (args.tag or "default")
    stds = [float(v) for v in args.posthoc.split(",") if v.strip()]
    rows = args.rows.split(",")
    sweep_rows = args.posthoc_rows.split(",") if args.posthoc_rows else rows
    if args.worker:  # the parent passes --posthoc only to the rows that get it
        return worker(args.worker, args.minutes, args.samples, work, stds, args.posthoc_samples)
    for row in rows + (sweep_rows if stds else []):
        recipe(row)  # unknown names fail before anything runs
    t0, load_before = time.time(), os.getloadavg()
    if not args.score_only:
        procs = [(row, subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", row, "--minutes",
                                         str(args.minutes), "--samples", str(args.samples), "--work", str(args.work),
                                         "--tag", args.tag, "--posthoc", args.posthoc if row in sweep_rows else "",
                                         "--posthoc-samples", str(args.posthoc_samples)],
                                        cwd=HERE, env={**os.environ, "OMP_NUM_THREADS": "1"}))
                 for row in rows]
        for row, proc in procs:
            if proc.wait():
                raise SystemExit(f"row {row} failed with exit code {proc.returncode}")
    torch.set_num_threads(args.threads)
    args.samples = args.score_samples or args.samples
    from fromnoise.evaluation import InceptionFeatures

    inception = InceptionFeatures()
    ref = test_reference(args.samples, inception)
    results = []
    folders = [(row, work / row) for row in rows]
    folders += [(f"{row}@{std:g}", work / row / f"posthoc-{std:g}")
                for row in rows if row in sweep_rows for std in stds]
    for row, folder in folders:
        stats = json.loads((folder / "stats.json").read_text())
        images = torch.from_numpy(np.load(folder / "samples.npy", allow_pickle=False))[:args.samples]
        s = score(cached_features(folder, images, inception), ref)
        results.append({**stats, "n": len(images), "kid": s["kid"], "kid_std": s["kid_std"], "fid": s["fid"]})
        print(f"{row:16s} {stats['steps']:6d} steps  KID {s['kid']:.5f} ± {s['kid_std']:.5f}  FID {s['fid']:.2f}",
              flush=True)
    from fromnoise.viz import save_grid

    for row in [] if args.results else rows:  # the first 64 samples of each row, for the before/after pictures
        grid = torch.from_numpy(np.load(work / row / "samples.npy", allow_pickle=False))[:64].float() / 255
        save_grid(grid, HERE / "results" / f"ablation{'_' + args.tag if args.tag else ''}_{row}.png", nrow=8)
    print(report(results))
    write_result(args.results or "ablation" + (f"_{args.tag}" if args.tag else ""),
                 {"cpu_minutes": args.minutes, "n": args.samples, "nfe": 20, "sampler": "dpmpp_2m",
                  "threads_per_row": 1, "rows": results, "table": report(results), "seconds": time.time() - t0,
                  "load_avg_before": load_before, "load_avg_after": os.getloadavg()})


if __name__ == "__main__":
    main()
