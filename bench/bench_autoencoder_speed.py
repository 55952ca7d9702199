"""The autoencoder's training step on the CPU: images/s, FLOPs and the share of the machine's conv peak.

For each autoencoder (factor 4 and 8, with and without DC-AE's shortcut) one optimizer step of the real
objective (L1 + SSIM + KL, ``fromnoise.autoencoder.objective``) on a batch of crops, timed in this
process's CPU seconds (median of ``--steps``), in the default memory format and in channels_last. The
FLOPs of a step come from torch's FlopCounterMode; the peak is a large 3x3 convolution's forward +
backward measured in the same run (``bench.common.conv_peak_gflops``).

    python bench/bench_autoencoder_speed.py --threads 1          # bench/results/autoencoder_speed.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import conv_peak_gflops, write_result
from fromnoise.autoencoder import Autoencoder, AutoencoderConfig
from fromnoise.autoencoder.losses import reconstruction_loss


def step_loss(ae, x):
    rec, posterior = ae(x)
    return reconstruction_loss(x, rec, 1.0).mean() + 1e-6 * posterior.kl().mean() / x[0].numel()


def measure(config: AutoencoderConfig, batch: int, crop: int, steps: int, channels_last: bool) -> dict:
    torch.manual_seed(0)
    ae = Autoencoder(config)
    x = torch.rand(batch, config.channels, crop, crop) * 2 - 1
    if channels_last:
        ae, x = ae.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        step_loss(ae, x).backward()
    flops = float(fc.get_total_flops())
    opt = torch.optim.AdamW(ae.parameters(), lr=1e-4, betas=(0.5, 0.9))
    times = []
    for i in range(steps + 2):
        t0 = time.process_time()
        step_loss(ae, x).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 2:
            times.append(time.process_time() - t0)
    t = sorted(times)[len(times) // 2]
    return {"seconds_per_step": t, "images_per_s": batch / t, "gflop_per_step": flops / 1e9,
            "gflop_per_s": flops / t / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--crop-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    peak = conv_peak_gflops(reps=7, clock=time.process_time)  # CPU time, as the steps are timed
    print(f"conv 3x3 peak (fwd + bwd, {a.threads} thread(s)): {peak:.1f} GFLOP/s")
    rows = []
    for factor in (4, 8):
        for shortcut in (False, True):
            config = AutoencoderConfig(image_size=256, channels=4, factor=factor, shortcut=shortcut)
            for cl in (False, True):
                r = measure(config, a.batch_size, a.crop_size, a.steps, cl)
                r.update(factor=factor, shortcut=shortcut, channels_last=cl, widths=list(config.widths),
                         share_of_peak=r["gflop_per_s"] / peak)
                rows.append(r)
                print(f"f{factor} shortcut={shortcut!s:5} channels_last={cl!s:5} {r['images_per_s']:6.1f} img/s "
                      f"({a.crop_size}x{a.crop_size} crops), {r['gflop_per_s']:5.1f} GFLOP/s = "
                      f"{100 * r['share_of_peak']:.0f}% of the conv peak")
    write_result("autoencoder_speed", {"args": vars(a), "conv_peak_gflops": peak, "rows": rows})


if __name__ == "__main__":
    main()
