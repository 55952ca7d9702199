"""The diffusers peer for the quality benchmark: a UNet2DModel trained the way diffusers' example
``examples/unconditional_image_generation/train_unconditional.py`` trains one, scaled to 28x28.

What is kept from that script's defaults: a UNet2DModel with two ResNet layers per block and
attention in the lower blocks, DDPMScheduler with 1,000 linear betas and epsilon prediction,
AdamW (lr 1e-4, betas 0.95/0.999, weight decay 1e-6, eps 1e-8), 500 warm-up steps then a cosine
learning rate, an EMA with warm-up (inv_gamma 1, power 3/4, max decay 0.9999), batch 16.
What is scaled: the script's six 64-px levels (128, 128, 256, 256, 512, 512; attention at the
4-px level) become three 28-px levels (28, 14, 7; attention at 14 and 7, the lower blocks).
Since training is bounded by wall-clock time rather than epochs, the cosine decay runs over the
step count that the measured speed of the first steps predicts for the budget.

Sampling uses diffusers' DPMSolverMultistepScheduler (DPM-Solver++(2M), the same method as
fromnoise's ``dpmpp_2m``) at 20 steps from the EMA weights.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

# name -> UNet2DModel widths and ResNet layers per block. "gpu" is the script's default scaled to
# 28x28; "cpu" is a narrow one sized for a CPU (similar images/s to fromnoise's fashion preset).
SIZES = {"gpu": ((128, 256, 512), 2), "cpu": ((32, 64, 64), 1)}


def build_unet(size: str, image_size: int = 28, channels: int = 1):
    """A UNet2DModel of the named size (see ``SIZES``), attention in the two lower levels."""
    from diffusers import UNet2DModel

    widths, layers = SIZES[size]
    return UNet2DModel(sample_size=image_size, in_channels=channels, out_channels=channels,
                       layers_per_block=layers, block_out_channels=widths,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                       norm_num_groups=min(32, widths[0]))


def train_peer(images_uint8: torch.Tensor, size: str, minutes: float, batch_size: int = 16, seed: int = 0,
               warmup: int = 500, lr: float = 1e-4, log=print, clock: str = "wall") -> tuple[torch.nn.Module, dict]:
    """Train the peer for ``minutes`` of wall time (``clock="cpu"``: this process's CPU time) on uint8
    ``(N, C, H, W)`` images.

    Returns:
        (the UNet2DModel holding the EMA weights, stats: steps, images_per_s, params, seconds).
    """
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel

    torch.manual_seed(seed)
    data = images_uint8.float() / 127.5 - 1.0  # [-1, 1], as the script's Normalize([0.5], [0.5])
    model = build_unet(size, data.shape[-1], data.shape[1])
    noise_scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    ema = EMAModel(model.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    gen = torch.Generator().manual_seed(seed)
    now = time.process_time if clock == "cpu" else time.time  # as fromnoise's --clock
    budget, start = 60.0 * minutes, now()
    lr_sched, step, probe = None, 0, 10
    model.train()
    while now() - start < budget:
        if lr_sched is None and step == probe:
            # the cosine needs a length: the step count the first steps' speed predicts for the budget
            total = max(warmup + 1, int(budget / ((now() - start) / probe)))
            for g in opt.param_groups:  # LambdaLR scales the lr it finds: give it the peak lr
                g["lr"] = lr
                g.pop("initial_lr", None)
            lr_sched = get_cosine_schedule_with_warmup(opt, warmup, total)
            with warnings.catch_warnings():  # fast-forward to this step (torch warns: no optimizer step yet)
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(step):
                    lr_sched.step()
        elif lr_sched is None:
            for g in opt.param_groups:  # the same linear warm-up as the schedule, until it exists
                g["lr"] = lr * step / warmup
        idx = torch.randint(0, len(data), (batch_size,), generator=gen)
        x0 = data[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (batch_size,), generator=gen)
        loss = torch.nn.functional.mse_loss(model(noise_scheduler.add_noise(x0, noise, t), t).sample, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if lr_sched is not None:
            lr_sched.step()
        opt.zero_grad(set_to_none=True)
        ema.step(model.parameters())
        step += 1
        if step % 200 == 0:
            log(f"peer-{size} step {step} loss {loss.item():.4f} lr {opt.param_groups[0]['lr']:.2e}")
    seconds = now() - start
    ema.copy_to(model.parameters())
    stats = {"steps": step, "images_per_s": step * batch_size / seconds, "seconds": seconds,
             "params": sum(p.numel() for p in model.parameters()), "batch_size": batch_size,
             "final_lr": opt.param_groups[0]["lr"], "widths": SIZES[size][0], "clock": clock}
    return model, stats


@torch.no_grad()
def sample_peer(model, n: int, steps: int = 20, seed: int = 0, batch_size: int = 100) -> torch.Tensor:
    """``n`` images, uint8 ``(n, C, H, W)``, with DPM-Solver++(2M) at ``steps`` model evaluations."""
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                            prediction_type="epsilon", algorithm_type="dpmsolver++",
                                            solver_order=2)
    model.eval()
    cfg = model.config
    out = []
    for b, first in enumerate(range(0, n, batch_size)):
        m = min(batch_size, n - first)
        x = torch.randn((m, cfg.in_channels, cfg.sample_size, cfg.sample_size),
                        generator=torch.Generator().manual_seed(seed + b))
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            x = scheduler.step(model(x, t).sample, t, x).prev_sample
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
    return torch.cat(out)


def save_uint8(path, images: torch.Tensor) -> None:
    """Save uint8 images as .npy (read back with ``np.load(path, allow_pickle=False)``)."""
    np.save(path, images.numpy(), allow_pickle=False)
