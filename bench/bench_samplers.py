"""Samplers at few steps against 1,000-step DDPM, on one trained model.

The reference is ancestral DDPM (Ho et al. 2020) over all 1,000 training timesteps; the fast
samplers are DPM-Solver++(2M) (Lu et al. 2022) and DDIM (Song et al. 2021) at 10 and 20 network
evaluations. Every sampler starts from the same seeded noise. KID and FID are measured against
``--samples`` Fashion-MNIST test images; the figure of merit is each one's FID (and KID) as a
ratio of DDPM-1000's. Goal: <= 1.3x at 10 NFE, <= 1.1x at 20 NFE.

    python bench/bench_samplers.py [--checkpoint RUN] [--samples 2000] [--ddpm-steps 1000]

The default checkpoint is the fromnoise run that bench_quality.py trained. N is kept modest
because DDPM-1000 costs 1,000 network evaluations per image; FID below 2,048 samples is biased
(only ratios at equal N are meaningful), KID is not. Generated images are cached per checkpoint,
sampler and steps (``samplers/`` beside the checkpoint's run), so adding a setting or raising N
later costs only the new images.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from bench_quality import cached_features, fromnoise_run_dir
from bench_zero_point import score, test_reference
from common import write_result

DEFAULT_SETTINGS = "ddpm:1000,dpmpp_2m:10,dpmpp_2m:20,dpmpp_2m_sde:10,dpmpp_2m_sde:20,ddim:10,ddim:20"


def cached_samples(denoiser, checkpoint: Path, sampler: str, steps: int, n: int,
                   spacing: str = "trailing") -> tuple[torch.Tensor, Path, float]:
    """(uint8 images (n, C, H, W), their cache folder, seconds per image): the first n images of seed 0,
    reusing those generated before for the same checkpoint (image i depends only on seed + i)."""
    import numpy as np

    import fromnoise
    from fromnoise.checkpoint import resolve_checkpoint
    from fromnoise.data import unit_to_uint8
    from fromnoise.io import atomic_write, write_json

    ckpt = resolve_checkpoint(checkpoint)
    folder = ckpt.parent.parent / "samplers" / (f"{ckpt.name}-{sampler}-{steps}" +
                                                ("" if spacing == "trailing" else f"-{spacing}"))
    path, stats = folder / "samples.npy", folder / "stats.json"
    have = np.load(path) if path.exists() else np.zeros((0, *denoiser.image_shape), np.uint8)
    if len(have) < n:
        t0 = time.time()
        new = unit_to_uint8(fromnoise.generate(denoiser, n - len(have), sampler=sampler, steps=steps,
                                               spacing=spacing, seed=len(have))).numpy()
        write_json(stats, {"seconds_per_image": (time.time() - t0) / len(new), "threads": torch.get_num_threads()})
        have = np.concatenate([have, new])
        atomic_write(path, lambda tmp: np.save(open(tmp, "wb"), have))
    return torch.from_numpy(have[:n]), folder, json.loads(stats.read_text())["seconds_per_image"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=fromnoise_run_dir() / "run",
                    help="a fromnoise run or checkpoint directory")
    ap.add_argument("--samples", type=int, default=2000, help="images per sampler setting and reference images")
    ap.add_argument("--settings", default=DEFAULT_SETTINGS,
                    help="sampler:steps[:spacing],... (spacing trailing|karras|logsnr; the first is the baseline)")
    ap.add_argument("--results", default="samplers", help="name of the results file (bench/results/NAME.json)")
    ap.add_argument("--note", default="", help="a remark stored with the results and shown in the report")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--cache-only", action="store_true",
                    help="generate and featurise the settings into the cache, write no result (to split the "
                         "work between processes; a later full run assembles the table from the cache)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import fromnoise
    from fromnoise.evaluation import InceptionFeatures

    denoiser = fromnoise.load(args.checkpoint)
    inception = InceptionFeatures()
    ref = test_reference(args.samples, inception)
    load_before, rows = os.getloadavg(), []
    for setting in args.settings.split(","):
        sampler, steps, spacing = (setting.split(":") + ["trailing"])[:3]
        images, folder, gen_s = cached_samples(denoiser, args.checkpoint, sampler, int(steps), args.samples, spacing)
        features = cached_features(folder, images, inception)
        if args.cache_only:
            print(f"{sampler} {steps}: {len(images)} images and features cached in {folder}", flush=True)
            continue
        s = score(features, ref)
        rows.append({"sampler": sampler, "steps": int(steps), "spacing": spacing,
                     "nfe": fromnoise.sampling.nfe(sampler, int(steps)), "kid": s["kid"], "kid_std": s["kid_std"],
                     "fid": s["fid"], "seconds_per_image": gen_s})
        print(f"{sampler:9s} {steps:>5s} steps {spacing:8s}: KID {s['kid']:.5f} ± {s['kid_std']:.5f}  "
              f"FID {s['fid']:.2f}  ({gen_s:.2f} s per image)", flush=True)
    if args.cache_only:
        return
    base = rows[0]
    for r in rows:
        r["fid_ratio"] = r["fid"] / base["fid"]
        r["kid_ratio"] = r["kid"] / base["kid"] if base["kid"] > 0 else None
    goals = {}
    for steps, limit in ((10, 1.3), (20, 1.1)):
        fast = [r for r in rows[1:] if r["nfe"] == steps]
        if fast:
            best = min(fast, key=lambda r: r["fid_ratio"])
            goals[f"best_at_{steps}_nfe_fid_ratio_at_most_{limit}"] = {
                "sampler": best["sampler"], "spacing": best["spacing"], "fid_ratio": round(best["fid_ratio"], 3),
                "met": best["fid_ratio"] <= limit}
    print("goals:", goals)
    best_kid = {nfe: min((r for r in rows if r["nfe"] <= nfe), key=lambda r: r["kid"], default=None)
                for nfe in (10, 20)}
    write_result(args.results, {"best_kid_within_nfe": best_kid, "checkpoint": str(args.checkpoint), "n": args.samples,
                              "baseline": rows[0], "rows": rows, "goals": goals, "note": args.note,
                              "load_avg_before": load_before, "load_avg_after": os.getloadavg()})


if __name__ == "__main__":
    main()
