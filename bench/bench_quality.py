"""Quality per CPU-minute: fromnoise's "fashion" preset against the diffusers peer, side by side.

Each contender trains on Fashion-MNIST for the same budget in its own process, all at the same
time with one torch thread each, so every contender sees the same machine load (the machine is
shared). The budget counts each process's own CPU time (``--clock cpu``, the default), so other
jobs on the machine do not eat into it; ``--clock wall`` counts wall time, as runs before 2026-12 did.
Then each draws ``--samples`` images at 20 NFE (fromnoise: dpmpp_2m; the peer:
diffusers' DPMSolverMultistepScheduler, the same method) from its EMA weights, and KID and FID
are computed against the same number of Fashion-MNIST test images.

    python bench/bench_quality.py [--minutes 15] [--samples 2000] [--peers gpu,cpu] [--clock cpu]

Contenders: ``fromnoise`` (preset "fashion", its defaults: v-prediction, cosine schedule, lr 2e-3,
batch 64); ``peer-gpu`` (diffusers' train_unconditional defaults scaled to 28x28, see
diffusers_peer.py); ``peer-cpu`` (a narrow UNet2DModel sized for the CPU, same recipe).
FID is biased at small N and needs N >= 2,048; below that it is computed anyway and is only
comparable at equal N (see bench_zero_point.py for the floor at that N). Goal: fromnoise's
KID <= 0.02 and <= 0.1x the GPU-sized peer's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_zero_point import score, test_reference
from common import write_result

HERE = Path(__file__).resolve().parent
WORK = HERE / "cache" / "quality"  # gitignored: runs and samples
CONTENDERS = {"fromnoise": None, "peer-gpu": "gpu", "peer-cpu": "cpu"}


def fromnoise_run_dir(work: Path = WORK) -> Path:
    """Where the fromnoise contender's run (checkpoints) is written; bench_samplers.py reads it."""
    return work / "fromnoise"


def worker(name: str, minutes: float, samples: int, work: Path, train_limit: int | None, clock: str = "cpu") -> None:
    """Train one contender for ``minutes`` and sample ``samples`` images (one torch thread)."""
    from fromnoise.data import load_dataset

    torch.set_num_threads(1)
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset("fashion-mnist", image_size=28, channels=1, train=True, limit=train_limit)
    load_start = os.getloadavg()
    t0 = time.process_time() if clock == "cpu" else time.time()
    if name == "fromnoise":
        import shutil

        from fromnoise.build import make_config
        from fromnoise.data import unit_to_uint8
        from fromnoise.models import count_parameters
        from fromnoise.sampling import generate
        from fromnoise.training import Trainer, TrainOptions

        shutil.rmtree(out / "run", ignore_errors=True)  # a fresh run, not a resumed one
        from fromnoise.models import get_preset
        from fromnoise.models.presets import RECIPE

        recipe = {k: get_preset("fashion").defaults[k] for k in RECIPE}  # what fromnoise train gives the preset
        opts = TrainOptions(out=str(out / "run"), minutes=minutes, batch_size=64, lr=2e-3, progress=False,
                            sample_every=10**9, save_every=10**9, log_every=50, clock=clock, **recipe)
        trainer = Trainer(make_config("fashion"), data, opts)
        trainer.run()
        # the loop stops at the deadline (within a step); the final save and sample grid come after it
        seconds = min((time.process_time() if clock == "cpu" else time.time()) - t0, 60.0 * minutes)
        stats = {"steps": trainer.step, "images_per_s": trainer.step * 64 / seconds, "seconds": seconds,
                 "params": count_parameters(trainer.denoiser), "batch_size": 64, "preset": "fashion", "clock": clock}
        t1 = time.time()
        images = unit_to_uint8(generate(trainer.ema.model, samples, sampler="dpmpp_2m", steps=20, seed=0))
    else:
        from diffusers_peer import sample_peer, train_peer

        model, stats = train_peer(data.images, CONTENDERS[name], minutes, clock=clock)
        t1 = time.time()
        images = sample_peer(model, samples, steps=20)
    stats.update(sample_seconds=time.time() - t1, load_avg_start=load_start, load_avg_end=os.getloadavg())
    np.save(out / "samples.npy", images.numpy(), allow_pickle=False)
    (out / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    print(f"{name}: {stats['steps']} steps, {stats['images_per_s']:.1f} img/s", flush=True)


def cached_features(folder: Path, images: torch.Tensor, inception) -> np.ndarray:
    """Inception features of ``images`` (the first N of ``folder``/samples.npy): re-scoring reuses the
    features saved for the same samples (``features-M.npy``) and featurises only images past M."""
    samples_time = (folder / "samples.npy").stat().st_mtime
    done = np.zeros((0, 2048), np.float32)
    for path in folder.glob("features-*.npy"):
        m = path.stem.split("-")[1]
        if m.isdigit() and path.stat().st_mtime > samples_time and min(int(m), len(images)) > len(done):
            done = np.load(path, allow_pickle=False)[:len(images)]
    if len(done) < len(images):
        from fromnoise.io import atomic_write

        features = np.concatenate([done, inception(images[len(done):], progress=False)])
        atomic_write(folder / f"features-{len(images)}.npy", lambda tmp: np.save(open(tmp, "wb"), features))
        return features
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget per contender (see --clock)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="what --minutes counts: each contender's own CPU time, or wall time")
    ap.add_argument("--samples", type=int, default=2000, help="generated and reference images per KID/FID")
    ap.add_argument("--peers", default="gpu,cpu", help="peer sizes to run beside fromnoise (gpu, cpu or both)")
    ap.add_argument("--work", type=Path, default=WORK, help="folder for runs and samples")
    ap.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
    ap.add_argument("--gpu-peer-samples", type=int, default=None,
                    help="samples from the GPU-sized peer (default --samples); it costs ~70x fromnoise's "
                         "FLOPs per image, and KID is unbiased at any N")
    ap.add_argument("--train-only", default=None,
                    help="comma-separated contenders to train and sample now (e.g. peer-gpu), without scoring; "
                         "--score-only later scores every contender's samples in --work")
    ap.add_argument("--score-only", action="store_true", help="score the samples already in --work")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads for scoring")
    ap.add_argument("--note", default="", help="a remark stored with the results and shown in the report")
    ap.add_argument("--worker", choices=list(CONTENDERS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.minutes, args.samples, args.work, args.train_limit, args.clock)
    names = ["fromnoise"] + [f"peer-{p}" for p in args.peers.split(",") if p]
    t0, load_before = time.time(), os.getloadavg()
    procs = []
    to_train = [] if args.score_only else args.train_only.split(",") if args.train_only else names
    for name in to_train:  # concurrently: the same load for all, one thread each
        n = args.gpu_peer_samples if name == "peer-gpu" and args.gpu_peer_samples else args.samples
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--minutes", str(args.minutes),
               "--samples", str(n), "--work", str(args.work), "--clock", args.clock]
        if args.train_limit:
            cmd += ["--train-limit", str(args.train_limit)]
        procs.append((name, subprocess.Popen(cmd, cwd=HERE)))
    for name, proc in procs:
        if proc.wait():
            raise SystemExit(f"{name} worker failed with exit code {proc.returncode}")
    if args.train_only:
        print(f"trained {', '.join(to_train)}; score all contenders with --score-only")
        return
    torch.set_num_threads(args.threads)
    from fromnoise.evaluation import InceptionFeatures

    inception = InceptionFeatures()
    ref = test_reference(args.samples, inception)
    rows = []
    for name in names:
        stats = json.loads((args.work / name / "stats.json").read_text())
        images = torch.from_numpy(np.load(args.work / name / "samples.npy", allow_pickle=False))[:args.samples]
        features = cached_features(args.work / name, images, inception)
        s = score(features, ref)  # FID at N < the reference's: see the row's n
        rows.append({"contender": name, **stats, "n": len(images), "kid": s["kid"], "kid_std": s["kid_std"],
                     "fid": s["fid"]})
        print(f"{name:10s} {stats['params'] / 1e6:6.2f}M params  {stats['steps']:6d} steps  "
              f"{stats['images_per_s']:6.1f} img/s  KID {s['kid']:.5f} ± {s['kid_std']:.5f}  FID {s['fid']:.2f}")
    ours = rows[0]["kid"]
    peer = next((r["kid"] for r in rows if r["contender"] == "peer-gpu"), None)
    goals = {"kid_at_most_0.02": ours <= 0.02,
             "kid_at_most_0.1x_peer_gpu": None if peer is None else ours <= 0.1 * peer}
    print("goals:", goals)
    write_result("quality", {"minutes": args.minutes, "clock": args.clock, "n": args.samples, "nfe": 20,
                             "threads_per_contender": 1, "rows": rows, "goals": goals, "note": args.note,
                             "seconds": time.time() - t0, "load_avg_before": load_before,
                             "load_avg_after": os.getloadavg()})


if __name__ == "__main__":
    main()
