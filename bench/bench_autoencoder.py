"""Reconstruction of held-out clip art at 256x256 by autoencoders trained from scratch (issue 13).

For each factor (4, 8): train ``fromnoise.autoencoder`` for ``--minutes`` on the training split of
Debian's clip art (RGBA composited on white, alpha = the object mask; ``bench/clipart_dataset.py``),
then encode and decode the held-out split (posterior mode) and measure, per image, PSNR and SSIM
of the colour (``skimage.metrics``, data range 1) and PSNR of the mask; report the means. Also the
seconds per image to encode and to decode, and the latents' scale (``latent_scale``).

Goals (issue 24): PSNR >= 32 dB at factor 4 and >= 28 dB at factor 8 within 30 CPU-minutes (issue 13 asked 30 and 27).

    python bench/bench_autoencoder.py --checkpoints-at 5,15,30 --fresh   # the recipe (train-autoencoder's defaults)
    python bench/bench_autoencoder.py --minutes 1 --train 64 --heldout 16 --smoke   # does it work?
    python bench/bench_autoencoder.py --crop-size 0 --pixel-loss l1 --ssim-weight 1 --no-shortcut --batch-size 8 \
        --lr 4e-4 --lr-decay none --checkpoints-at 5,15 --fresh          # whole images, LDM's losses (the old way)

``--crop-size N`` trains on random N x N crops (``train-autoencoder --crop-size``); the held-out images
are still measured whole. ``--checkpoints-at 5,15,30`` measures the held-out metrics at each of those
minutes of one run (the ``curve`` of each row; the last point is the run's budget, which replaces
``--minutes``); the time spent measuring is not counted in the budget.

Runs go to bench/cache/autoencoder/f<factor>_... (``_crop<N>`` with crops); rerunning resumes them (add
--fresh to restart; a resumed run's --checkpoints-at counts from the resume).
Results: bench/results/autoencoder.json (``autoencoder_smoke.json`` with --smoke).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clipart_dataset import make_clipart_folders
from bench.common import write_result
from fromnoise.autoencoder import AutoencoderConfig, composite_alpha, latent_scale, load_autoencoder
from fromnoise.autoencoder.config import AutoencoderTrainingConfig, parse_widths
from fromnoise.data import load_dataset, to_float
from fromnoise.evaluation.fidelity import circular_correlation
from fromnoise.training.autoencoder import AutoencoderTrainer
from fromnoise.training.schedule import budget_clock

CACHE = Path(__file__).parent / "cache" / "autoencoder"
GOALS = {4: 32.0, 8: 28.0}  # issue 24 (issue 13 asked 30 and 27)


def feature_round_trip(originals: list, reconstructions: list) -> dict:
    """r between the COLOR and LIGHTING features measured on the originals and on their reconstructions,
    per feature over the images (each (H, W, 4) float in [0, 1]; the original's alpha is the mask of both),
    and the median over each group's features (issue 24's goal: r >= 0.98). Pearson's r, except for the
    circular features (the dominant hue: the circular correlation ``fromnoise.evaluation.fidelity`` uses)."""
    from fromnoise.features.color import color_features
    from fromnoise.features.common import prepare
    from fromnoise.features.lighting import lighting_features
    from fromnoise.features.names import CIRCULAR

    rows = {"color": ([], []), "lighting": ([], [])}
    for a, b in zip(originals, reconstructions):
        mask = a[..., 3] > 0.5
        if not mask.any():
            continue
        for group, fn in (("color", color_features), ("lighting", lighting_features)):
            for side, img in enumerate((a, b)):
                rows[group][side].append(fn(img[..., :3], mask, prepare(img[..., :3], mask)))
    out = {}
    for group, (orig, rec) in rows.items():
        per = {}
        for name in orig[0]:
            u = np.array([o[name] for o in orig])
            v = np.array([r[name] for r in rec])
            if u.std() == 0 or v.std() == 0:
                per[name] = float("nan")
            else:
                per[name] = circular_correlation(u, v) if name in CIRCULAR else float(np.corrcoef(u, v)[0, 1])
        out[group] = {"per_feature_r": per, "median_r": float(np.nanmedian(list(per.values()))),
                      "min_r": float(np.nanmin(list(per.values())))}
    return out


@torch.no_grad()
def reconstruction_metrics(ae, data, batch_size: int = 4, features: bool = False) -> dict:
    """Mean PSNR / SSIM of the colour, PSNR of the mask (4 channels), seconds per image to encode / decode."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x_all = composite_alpha(data).images
    device = next(ae.parameters()).device
    psnr, ssim, mask_psnr, latents, chroma = [], [], [], [], [[], []]
    kept = ([], [])
    t_enc = t_dec = 0.0
    for chunk in x_all.split(batch_size):
        x = to_float(chunk).to(device)
        t0 = time.perf_counter()
        z = ae.encode(x).mode()
        t1 = time.perf_counter()
        rec = ae.decode(z).clamp(-1, 1)
        t2 = time.perf_counter()
        t_enc, t_dec = t_enc + t1 - t0, t_dec + t2 - t1
        latents.append(z.cpu())
        a = ((x + 1) / 2).double().cpu().numpy()
        b = ((rec + 1) / 2).double().cpu().numpy()
        for side, t in enumerate((a, b)):  # colourfulness: mean |channel - grey| of the colour
            chroma[side].append(np.abs(t[:, :3] - t[:, :3].mean(1, keepdims=True)).mean(axis=(1, 2, 3)))
        if features:
            kept[0].extend(a.transpose(0, 2, 3, 1))
            kept[1].extend(b.transpose(0, 2, 3, 1))
        for i in range(len(a)):
            psnr.append(peak_signal_noise_ratio(a[i, :3], b[i, :3], data_range=1.0))
            ssim.append(structural_similarity(a[i, :3], b[i, :3], channel_axis=0, data_range=1.0))
            if a.shape[1] == 4:
                mask_psnr.append(peak_signal_noise_ratio(a[i, 3], b[i, 3], data_range=1.0))
    n = len(x_all)
    return {"psnr_rgb": float(np.mean(psnr)), "ssim_rgb": float(np.mean(ssim)),
            "psnr_mask": float(np.mean(mask_psnr)) if mask_psnr else None,
            "encode_s_per_image": t_enc / n, "decode_s_per_image": t_dec / n,
            "latent_scale": latent_scale(torch.cat(latents)), "n_heldout": n,
            "chroma_ratio": float(np.concatenate(chroma[1]).mean() / np.concatenate(chroma[0]).mean()),
            "psnr_rgb_quartiles": [float(q) for q in np.percentile(psnr, [25, 50, 75])],
            **({"feature_round_trip": feature_round_trip(*kept)} if features else {})}


class CurveTrainer(AutoencoderTrainer):
    """An AutoencoderTrainer that measures the held-out images when its budget clock passes each of
    ``points`` (minutes of this invocation): a hook after each step. The time spent measuring is taken
    out of the budget clock, so the training budget, and the cosine decay's progress, count training only."""

    def __init__(self, config, data, options, heldout, points: list[float]):
        self.heldout, self.points, self.curve, self.measuring = heldout, sorted(points), [], 0.0
        self.t0 = 0.0
        super().__init__(config, data, options, hooks=[self._measure])

    def _now(self) -> float:  # the loop's budget clock, less the time spent measuring
        return super()._now() - self.measuring

    def run(self):
        self.t0 = self._now()
        return super().run()

    def _measure(self, loop, step: int) -> None:
        elapsed = (self._now() - self.t0) / 60
        passed = [p for p in self.points if elapsed >= p]
        if not passed:
            return
        self.points = [p for p in self.points if p not in passed]
        t = budget_clock(self.opt.clock)
        ae = self.acc.unwrap_model(self.model)
        ae.eval()
        metrics = reconstruction_metrics(ae, self.heldout)
        ae.train()
        self.curve.append({"minutes": passed[-1], "budget_minutes": elapsed, "step": step, **metrics})
        self.measuring += budget_clock(self.opt.clock) - t
        print(f"  at {elapsed:.1f} min ({self.opt.clock}), step {step}: PSNR {metrics['psnr_rgb']:.2f} dB, "
              f"SSIM {metrics['ssim_rgb']:.3f}")


def _points(text: str | None) -> list[float] | None:
    if not text:
        return None
    points = sorted(float(p) for p in text.split(","))
    if points[0] <= 0:
        raise SystemExit(f"--checkpoints-at {text}: the minutes must be positive")
    return points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="training minutes per factor")
    ap.add_argument("--factors", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--train", type=int, default=2000, help="training images (evenly spread over the topics)")
    ap.add_argument("--heldout", type=int, default=200, help="held-out images")
    ap.add_argument("--batch-size", type=int, default=AutoencoderTrainingConfig.batch_size)
    ap.add_argument("--lr", type=float, default=AutoencoderTrainingConfig.lr)
    ap.add_argument("--disc-start", type=int, default=None)
    ap.add_argument("--crop-size", type=int, default=AutoencoderTrainingConfig.crop_size,
                    help="train on random crops of this side (train-autoencoder --crop-size); 0: whole images")
    ap.add_argument("--pixel-loss", choices=("l1", "l2"), default=AutoencoderTrainingConfig.pixel_loss)
    ap.add_argument("--ssim-weight", type=float, default=AutoencoderTrainingConfig.ssim_weight)
    ap.add_argument("--shortcut", action=argparse.BooleanOptionalAction, default=AutoencoderConfig.shortcut,
                    help="DC-AE's residual shortcuts (train-autoencoder --shortcut / --no-shortcut)")
    ap.add_argument("--latent-channels", type=int, default=AutoencoderConfig.latent_channels)
    ap.add_argument("--widths", default=None, help="comma-separated per-level widths (default: the factor's)")
    ap.add_argument("--posterior", choices=("sample", "mode"), default=AutoencoderTrainingConfig.posterior,
                    help="what the decoder sees in training (train-autoencoder --posterior)")
    ap.add_argument("--betas", default=None, help="AdamW betas, e.g. 0.9,0.99 (default: the training config's)")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                    default=AutoencoderTrainingConfig.channels_last, help="NHWC convolutions")
    ap.add_argument("--name", default=None, help="run directory name under bench/cache/autoencoder (default: from "
                                                "the settings)")
    ap.add_argument("--lr-decay", choices=("none", "cosine"), default=AutoencoderTrainingConfig.lr_decay)
    ap.add_argument("--checkpoints-at", default=None,
                    help="comma-separated minutes (e.g. 5,15,30): measure the held-out images at each point of one "
                         "run; the last is the budget (replaces --minutes)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="cpu",
                    help="what --minutes counts (cpu: this process's CPU time, fair on a shared machine)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--fresh", action="store_true", help="delete earlier runs first")
    ap.add_argument("--results", default="autoencoder", help="results file name under bench/results/")
    ap.add_argument("--smoke", action="store_true", help="label the result as a smoke run (autoencoder_smoke.json)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    points = _points(a.checkpoints_at)
    minutes = points[-1] if points else a.minutes

    t0 = time.time()
    train_dir, held_dir = make_clipart_folders(CACHE / f"clipart{a.size}_{a.train}_{a.heldout}", a.size,
                                               a.train, a.heldout)
    train = load_dataset(train_dir, channels=4, labels_from="none")
    held = load_dataset(held_dir, channels=4, labels_from="none")
    print(f"clip art: {len(train)} training, {len(held)} held-out images at {a.size}x{a.size} "
          f"({time.time() - t0:.0f} s to prepare)")

    results = {}
    for factor in a.factors:
        out = CACHE / (f"{a.name}_f{factor}" if a.name else
                       f"f{factor}_{a.size}_{a.train}" + (f"_crop{a.crop_size}" if a.crop_size else ""))
        if a.fresh:
            shutil.rmtree(out, ignore_errors=True)
        config = AutoencoderConfig(image_size=a.size, channels=4, factor=factor, shortcut=a.shortcut,
                                   latent_channels=a.latent_channels,
                                   widths=parse_widths(a.widths))
        betas = [float(b) for b in a.betas.split(",")] if a.betas else [AutoencoderTrainingConfig.adam_beta1,
                                                                        AutoencoderTrainingConfig.adam_beta2]
        options = AutoencoderTrainingConfig(out=str(out), minutes=minutes, clock=a.clock,
                                            batch_size=a.batch_size, lr=a.lr, lr_decay=a.lr_decay,
                                            crop_size=a.crop_size or None, disc_start=a.disc_start,
                                            pixel_loss=a.pixel_loss, ssim_weight=a.ssim_weight,
                                            posterior=a.posterior, adam_beta1=betas[0], adam_beta2=betas[1],
                                            channels_last=a.channels_last, sample_every=200, save_every=200)
        t1, c1 = time.time(), time.process_time()
        trainer = CurveTrainer(config, train, options, held, points[:-1] if points else [])
        trainer.run()
        ae = load_autoencoder(out)
        metrics = reconstruction_metrics(ae, held, features=True)
        extra = {}
        if points:  # the last point is the end of the run
            extra["curve"] = trainer.curve + [{"minutes": points[-1], "budget_minutes": points[-1],
                                               "step": trainer.step, **metrics}]
        results[f"factor_{factor}"] = {
            "config": config.to_dict(), "steps": trainer.step, "train_minutes_this_run": (time.time() - t1) / 60,
            "train_cpu_minutes_this_run": (time.process_time() - c1) / 60,
            "images_seen": trainer.step * a.batch_size, "goal_psnr_rgb": GOALS.get(factor),
            "parameters": sum(p.numel() for p in ae.parameters()), **metrics, "run": str(out),
            "crop_size": a.crop_size, "lr_decay": a.lr_decay, "pixel_loss": a.pixel_loss,
            "ssim_weight": a.ssim_weight, "shortcut": a.shortcut, "posterior": a.posterior, "betas": betas,
            "channels_last": a.channels_last, **extra}
        rt = metrics["feature_round_trip"]
        print(f"colour round trip: median r COLOR {rt['color']['median_r']:.3f}, LIGHTING "
              f"{rt['lighting']['median_r']:.3f}; chroma kept {metrics['chroma_ratio']:.2f}")
        print(f"factor {factor}: {trainer.step} steps, PSNR {metrics['psnr_rgb']:.2f} dB "
              f"(goal {GOALS.get(factor)}), SSIM {metrics['ssim_rgb']:.3f}, mask PSNR {metrics['psnr_mask']:.2f} dB")
    write_result("autoencoder_smoke" if a.smoke else a.results,
                 {"smoke_only": a.smoke, "args": vars(a), "results": results})


if __name__ == "__main__":
    main()
