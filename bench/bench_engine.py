"""Issue 2's engine benchmark: training-step speed of fromnoise's presets against diffusers'
UNet2DModel at a matched parameter count, on the same batch, in one run; and the achieved GFLOP/s
of a training step as a share of the machine's measured conv2d peak.

    python bench/bench_engine.py [--batch 64] [--steps 10]
"""

from __future__ import annotations

import argparse
import math

import torch
from common import conv_peak_gflops, time_train_steps, train_step_flops, write_result

from fromnoise.models import build_network, count_parameters, get_preset


def diffusers_unet(target_params: int, size: int = 28):
    """UNet2DModel shaped as diffusers' examples (attention in the lower blocks), width scaled
    until its parameter count is within a few percent of ``target_params``."""
    from diffusers import UNet2DModel

    best = None
    for base in range(8, 129, 4):
        m = UNet2DModel(sample_size=size, in_channels=1, out_channels=1, layers_per_block=2,
                        block_out_channels=(base, base * 2, base * 2),
                        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                        norm_num_groups=math.gcd(32, base))
        n = count_parameters(m)
        if best is None or abs(n - target_params) < abs(best[1] - target_params):
            best = (m, n, base)
        if n > target_params * 1.2:
            break
    return best


class _Diffusers(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, t):
        return self.m(x, t).sample


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--presets", default="tiny,fashion")
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, 28, 28)
    t = torch.randint(0, 1000, (args.batch,))

    def batch():  # the same batch for every model
        return x, t

    peak = conv_peak_gflops()
    print(f"conv3x3 forward+backward peak: {peak:.1f} GFLOP/s")
    rows = []
    models = [(p, build_network(get_preset(p))) for p in args.presets.split(",")]
    dm, dn, base = diffusers_unet(count_parameters(models[0][1]))
    models.append((f"diffusers UNet2DModel (base {base}, matched to {models[0][0]})", _Diffusers(dm)))
    for name, model in models:
        flops = train_step_flops(model, batch)
        sec = time_train_steps(model, batch, steps=args.steps)
        gflops = flops / sec / 1e9
        row = {"model": name, "params": count_parameters(model), "images_per_s": args.batch / sec,
               "gflop_per_image": flops / args.batch / 1e9, "achieved_gflops": gflops, "share_of_peak": gflops / peak}
        rows.append(row)
        print(f"{name:55s} {row['params'] / 1e6:6.2f}M  {row['images_per_s']:7.1f} img/s  "
              f"{row['gflop_per_image']:.3f} GFLOP/img  {gflops:5.1f} GFLOP/s "
              f"({100 * row['share_of_peak']:.0f}% of peak)")
    write_result("engine", {"batch": args.batch, "conv_peak_gflops": peak, "rows": rows})


if __name__ == "__main__":
    main()
