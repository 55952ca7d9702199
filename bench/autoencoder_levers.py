"""A quick probe of autoencoder levers (bench/results/autoencoder_levers.json).

One variant per run: 400 steps (or CPU-minutes when the number is below 20) on 64x64 crops of the clip art
(batch 16, AdamW lr 1e-3 with a cosine decay, one thread), measured on the first 48 held-out 256x256 images:
PSNR / SSIM of the colour, PSNR of the mask and the chroma kept (mean |channel - grey| of the reconstructions
over the originals'). Variants that are not options of ``train-autoencoder`` (nonorm, logvar) are patched in here, for
the probe only.

    python bench/autoencoder_levers.py base 400          # NAME[+NAME...] STEPS-or-MINUTES [FACTOR]
    python bench/autoencoder_levers.py l2+dc 400         # squared error + DC-AE shortcuts
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_autoencoder import CACHE, reconstruction_metrics
from bench.clipart_dataset import make_clipart_folders
from fromnoise.autoencoder import AutoencoderConfig, composite_alpha
from fromnoise.autoencoder import model as model_module
from fromnoise.autoencoder.config import AutoencoderTrainingConfig
from fromnoise.data import ImageData, load_dataset, to_float
from fromnoise.training import autoencoder as trainer_module

OUT = Path(__file__).parent / "cache" / "levers"


class _NoNorm(torch.nn.Identity):
    def __init__(self, *args, **kwargs):
        super().__init__()


def chroma(t: torch.Tensor) -> float:
    return (t[:, :3] - t[:, :3].mean(1, keepdim=True)).abs().mean().item()


def main() -> None:
    name, budget = sys.argv[1], float(sys.argv[2])
    factor = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    v = set(name.split("+"))
    torch.set_num_threads(1)
    train_dir, held_dir = make_clipart_folders(CACHE / "clipart256_2000_200", 256, 2000, 200)
    train = load_dataset(train_dir, channels=4, labels_from="none")
    held = load_dataset(held_dir, channels=4, labels_from="none")
    held = ImageData(images=held.images[:48], description=held.description)
    cfg = dict(image_size=256, channels=4, factor=factor, shortcut="dc" in v)
    if "wide" in v:
        cfg["widths"] = (32, 64, 128) if factor == 4 else (32, 64, 128, 128)
    if "lat8" in v:
        cfg["latent_channels"] = 8
    # the probe's base, pinned (train-autoencoder's defaults have moved on since): L1 + SSIM, a posterior
    # sample, LDM's betas, NCHW
    opt = dict(batch_size=16, lr=2e-3 if "lr2" in v else 1e-3, lr_decay="cosine", crop_size=64,
               pixel_loss="l1", ssim_weight=1.0, posterior="sample", adam_beta1=0.5, adam_beta2=0.9,
               channels_last=False, sample_every=10**6, save_every=10**6, progress=False,
               **({"minutes": budget} if budget < 20 else {"steps": int(budget)}))
    if "nossim" in v:
        opt["ssim_weight"] = 0.0
    if "l2" in v:
        opt.update(pixel_loss="l2", ssim_weight=0.25 * opt["ssim_weight"])
    if "mode" in v:  # train on the posterior mean instead of a sample
        opt["posterior"] = "mode"
    if "nonorm" in v:
        model_module.nn.GroupNorm = _NoNorm
    if "betas" in v:
        opt.update(adam_beta1=0.9, adam_beta2=0.99)
    out = OUT / f"{name}_f{factor}_{budget:g}"
    shutil.rmtree(out, ignore_errors=True)
    t = time.process_time()
    trainer = trainer_module.AutoencoderTrainer(AutoencoderConfig(**cfg), train,
                                                AutoencoderTrainingConfig(out=str(out), clock="cpu", **opt))
    if "logvar" in v:  # start the posterior narrow
        with torch.no_grad():
            trainer.ae.quant_conv.bias[trainer.ae.config.latent_channels:] -= 8.0
    trainer.run()
    cpu = (time.process_time() - t) / 60
    ae = trainer.acc.unwrap_model(trainer.model).eval()
    m = reconstruction_metrics(ae, held)
    x = to_float(composite_alpha(held).images)
    with torch.no_grad():
        rec = torch.cat([ae.decode(ae.encode(c).mode()).clamp(-1, 1) for c in x.split(8)])
    row = {"name": name, "factor": factor, "steps": trainer.step, "cpu_min": cpu, "psnr": m["psnr_rgb"],
           "ssim": m["ssim_rgb"], "mask": m["psnr_mask"], "chroma": chroma(rec) / chroma(x),
           "params": sum(p.numel() for p in ae.parameters())}
    print(json.dumps(row))
    with open(OUT.parent / "levers.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
