"""Latent versus pixel-space diffusion at 256x256 on this CPU (issue 13, part 2).

(a) Training images per second at the same 256x256 RGBA output, features + mask conditioned: the
    ``youandme`` preset in pixel space (84M parameters, 4+1 channels at 256x256) against
    ``youandme-latent`` on the 4x64x64 latents of a factor-4 autoencoder (the images are encoded once
    and cached, so encoding is not part of a training step). Forward + backward + AdamW of the whole
    Denoiser (``bench.common.time_train_steps``), median step. Goal: >= 30x.
(b) Seconds per 256x256 image at 20 network evaluations (DPM-Solver++(2M), 20 steps), decoding
    included, and the decoding alone; peak resident memory of the process. Goal: <= 1.5 s.
(c) With ``--ae-minutes`` and ``--minutes``: train the autoencoder, then the latent model
    (``fromnoise train --autoencoder``'s own code path, ``run_training``) on Debian's clip art
    (``bench/clipart_dataset.py``), and on held-out clip art measure: KID of the generated images
    (conditioned on the held-out images' 32 features and masks) against the held-out images (colour
    composited on white), feature fidelity (``fromnoise.evaluation.fidelity``: requested vs
    re-measured, per group; goals colour r >= 0.9, lighting and material >= 0.8, shape >= 0.8,
    topology >= 0.7) and the share of generated object pixels (alpha > 0.5) outside the requested
    mask (goal < 3%). The autoencoder's minutes are reported separately.
(d) ``--part patch``: the pixel-space ``youandme-patch`` preset (8x8 patch stem, shifted cosine) for
    ``--minutes`` on the same clip art, measured exactly as (c) (issue 24's flagship comparison: run (c) with
    the recipe autoencoder and (d) side by side, each on one thread, at the same total CPU budget).
    Both write ``bench/results/<results>_grid.png``: held-out originals above the objects made from them.
    (c) and (d) take every suggestion of the preset that ``fromnoise train`` takes (``AUTO_FIELDS``). Both
    flagship presets suggest TrainingConfig's plain settings (constant lr, uniform t, EMA decay 0.999), with
    which every recorded run of these parts trained (until 2026-12-05 the bench took only the batch size and
    learning rate, while the presets suggested ``fashion``'s recipe; ``flagship_recipe.py`` measured the two).

    python bench/bench_latent.py --threads 1 --ae-minutes 60 --minutes 60          # the real run
    python bench/bench_latent.py --threads 1 --part latent --minutes 60 \
        --autoencoder bench/cache/autoencoder/f4_256_2000 --results latent_quality   # reuse bench_autoencoder's
    python bench/bench_latent.py --threads 1 --part pixel --minutes 60 --results latent_pixel  # the peer
    python bench/bench_latent.py --threads 1 --smoke --part speed latent pixel       # does it work?
    python bench/bench_latent.py --threads 1 --part latent --autoencoder bench/cache/autoencoder/new_f4 \
        --minutes 90 --results flagship_latent --tag _flagship --fresh &                # issue 24: 30 + 90
    python bench/bench_latent.py --threads 1 --part patch --minutes 120 --results flagship_patch \
        --tag _flagship --fresh                                                          # ... beside 120

Runs go to bench/cache/latent/; results: bench/results/latent.json (``latent_smoke.json`` with --smoke).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clipart_dataset import make_clipart_folders
from bench.common import time_train_steps, write_result
from fromnoise.autoencoder import Autoencoder, AutoencoderConfig, composite_alpha
from fromnoise.autoencoder.model import weights_digest
from fromnoise.build import build_denoiser, make_config
from fromnoise.config import LatentConfig
from fromnoise.features import FeatureNormalizer
from fromnoise.sampling import generate

CACHE = Path(__file__).parent / "cache" / "latent"
SIZE, CHANNELS = 256, 4


def _conditioning(emb_dim: int) -> dict:
    """Features + mask encoders as training would configure them (a normaliser fitted on stand-in values)."""
    norm = FeatureNormalizer.fit(np.random.default_rng(0).random((64, 32))).to_dict()
    return {"features": {"emb_dim": emb_dim, "normalizer": norm, "image_size": SIZE, "channels": CHANNELS},
            "mask": {"image_size": SIZE, "channels": CHANNELS}}


def latent_denoiser(factor: int = 4, preset: str = "youandme-latent"):
    """An untrained youandme-latent model with an untrained autoencoder attached (timings only)."""
    ae = Autoencoder(AutoencoderConfig(image_size=SIZE, channels=CHANNELS, factor=factor)).eval()
    latent = LatentConfig(factor=factor, latent_channels=4, scale=1.0, autoencoder=ae.config.to_dict(),
                          autoencoder_sha256=weights_digest(ae))
    config = make_config(preset, image_size=SIZE, channels=CHANNELS, latent=latent,
                         conditioning=_conditioning(_emb_width(preset, SIZE // factor)))
    return build_denoiser(config).attach_autoencoder(ae)


def _emb_width(preset: str, side: int, channels: int = 4) -> int:
    from fromnoise.models import get_preset

    return get_preset(preset, image_size=side, channels=channels).embedding_width


def pixel_denoiser(preset: str = "youandme"):
    config = make_config(preset, image_size=SIZE, channels=CHANNELS,
                         conditioning=_conditioning(_emb_width(preset, SIZE, CHANNELS)))
    return build_denoiser(config)


def train_images_per_s(denoiser, shape, batch: int, steps: int, warmup: int, clock=time.perf_counter) -> dict:
    """Median seconds per training step of the whole Denoiser on (batch, *shape) inputs, conditioned."""
    denoiser.train()

    def make_batch():
        x = torch.randn(batch, *shape)
        t = torch.randint(0, denoiser.num_timesteps, (batch,))
        cond = {"features": torch.rand(batch, 32), "mask": (torch.rand(batch, 1, SIZE, SIZE) > 0.5).float()}
        return x, t, cond

    s = time_train_steps(denoiser, make_batch, steps=steps, warmup=warmup, clock=clock)
    return {"batch": batch, "seconds_per_step": s, "images_per_s": batch / s,
            "parameters": sum(p.numel() for p in denoiser.parameters())}


def sampling_seconds(denoiser, n: int, clock=time.perf_counter) -> dict:
    """Seconds per 256x256 image at 20 NFE (dpmpp_2m, 20 steps) including decoding, and decoding alone."""
    cond = {"features": torch.full((n, 32), 0.5), "mask": torch.zeros(n, 1, SIZE, SIZE)}
    generate(denoiser, 1, steps=2, condition={k: v[:1] for k, v in cond.items()})  # warm-up
    t0 = clock()
    images = generate(denoiser, n, sampler="dpmpp_2m", steps=20, condition=cond, batch_size=n)
    total = clock() - t0
    z = torch.randn(n, *denoiser.latent_shape)
    t1 = clock()
    denoiser.decode_latents(z)
    decode = clock() - t1
    assert images.shape == (n, CHANNELS, SIZE, SIZE)
    return {"n": n, "nfe": 20, "seconds_per_image": total / n, "decode_seconds_per_image": decode / n,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "goal_seconds": 1.5}


def _clipart(a):
    """The training and held-out clip art folders, shared with ``bench_autoencoder.py`` (same split)."""
    from bench.bench_autoencoder import CACHE as AE_CACHE
    from fromnoise.data import load_dataset

    train_dir, held_dir = make_clipart_folders(AE_CACHE / f"clipart{SIZE}_{a.train}_{a.heldout}", SIZE, a.train,
                                               a.heldout)
    return (train_dir, load_dataset(train_dir, channels=CHANNELS, labels_from="none"),
            load_dataset(held_dir, channels=CHANNELS, labels_from="none"))


def _train_diffusion(a, train_dir, out: Path, preset: str, autoencoder: str | None,
                     grid: tuple[int, int] = (8, 20), *, model: dict | None = None, training: dict | None = None,
                     mask_dropout: float | None = None) -> float:
    """``fromnoise train``'s own code path (``run_training``) for ``a.minutes`` of this process's CPU time;
    returns the CPU minutes spent. ``grid``: (images, steps) of the end-of-run sample grid; ``model``,
    ``training``, ``mask_dropout``: a recipe's changes to the preset's network, the training options and the
    mask's own dropout (``flagship_recipe.py``'s rows)."""
    from fromnoise.cli.train_run import AUTO_FIELDS, run_training
    from fromnoise.config import ConditioningConfig, DataConfig, DiffusionConfig, TrainingConfig

    t0 = time.process_time()
    options = {"sample_every": 1000, "memorization_every": 0, "save_every": 1000, **(training or {})}
    auto = AUTO_FIELDS - set(options)  # what fromnoise train fills in from the preset
    run_training(DataConfig(source=str(train_dir), channels=CHANNELS),
                 TrainingConfig(out=str(out), minutes=a.minutes, clock="cpu", progress=False, num_samples=grid[0],
                                sample_steps=grid[1], **options),
                 preset=preset, conditioning=ConditioningConfig(kind="features", mask=True, mask_dropout=mask_dropout),
                 diffusion=DiffusionConfig(prediction=a.prediction),
                 auto=auto, autoencoder=autoencoder, model_overrides=model)
    return (time.process_time() - t0) / 60


def _score(images: torch.Tensor, held, masks: torch.Tensor) -> dict:
    """KID of generated (N, 4, 256, 256) images in [0, 1] (colour on white + alpha) against the held-out
    images, and the share of generated object pixels (alpha > 0.5) outside the requested masks."""
    from fromnoise.data import on_white, unit_to_uint8
    from fromnoise.evaluation.fid import kid_from_features
    from fromnoise.evaluation.inception import InceptionFeatures

    inception = InceptionFeatures()
    f_real = inception(composite_alpha(held).images[:, :3], progress=False)
    f_fake = inception(unit_to_uint8(on_white(images)[:, :3]), progress=False)  # as the held-out images are
    kid, kid_std = kid_from_features(f_fake, f_real, subset_size=min(len(f_real), len(f_fake), 1000))
    obj = images[:, 3] > 0.5
    outside = obj & (masks[:, 0] < 0.5)
    return {"kid": float(kid), "kid_std": float(kid_std), "n_generated": len(images), "n_real": len(f_real),
            "mask_outside_share": float(outside.sum() / obj.sum().clamp_min(1)), "goal_mask_outside_share": 0.02}


def _as_json(table) -> dict:
    """A fidelity table (per group or per feature) as JSON: row -> numeric column -> value (NaN as None)."""
    return {name: {k: (None if not np.isfinite(v) else float(v)) for k, v in row.items() if k != "group"}
            for name, row in table.to_dict(orient="index").items()}


def _evaluate(out: Path, held, grid_name: str) -> dict:
    """A trained features + mask run measured on all held-out images: KID, feature fidelity per group and per
    feature, mask spill; ``bench/results/<grid_name>.png``: the first 8 held-out originals (top) and the objects
    generated from their features and masks (below)."""
    from fromnoise import load
    from fromnoise.data import on_white, to_float
    from fromnoise.evaluation.fidelity import evaluate_fidelity, held_out_targets
    from fromnoise.viz import save_grid

    denoiser = load(out)
    requested, masks = held_out_targets(denoiser, held.images)
    t0 = time.process_time()
    report = evaluate_fidelity(denoiser, requested, masks, steps=20, baseline=True, batch_size=16)
    sample_cpu_minutes = (time.process_time() - t0) / 60
    groups, features = _as_json(report.groups), _as_json(report.table)
    originals = (to_float(composite_alpha(held).images[:8]) + 1) / 2
    generated = on_white(report.images[:8].clamp(0, 1))[:, :3]  # as the originals are shown
    grid = save_grid(torch.cat([originals[:, :3], generated]),
                     Path(__file__).parent / "results" / f"{grid_name}.png", nrow=8)
    return {"steps": denoiser.step, "n_heldout": len(held), "eval_cpu_minutes": sample_cpu_minutes,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            **_score(report.images, held, masks), "fidelity_groups": groups, "fidelity_features": features,
            "grid": str(grid)}


def quality(a) -> dict:
    """(c): the latent model on clip art (training the autoencoder first unless ``--autoencoder`` names a
    trained run), measured on the held-out split: KID, feature fidelity, mask spill."""
    from fromnoise.autoencoder.config import AutoencoderTrainingConfig
    from fromnoise.checkpoint import read_checkpoint
    from fromnoise.training.autoencoder import AutoencoderTrainer

    train_dir, train, held = _clipart(a)
    out = CACHE / f"latent_f{a.factor}_{a.train}{a.tag}"
    ae_out = Path(a.autoencoder) if a.autoencoder else CACHE / f"ae_f{a.factor}_{a.train}{a.tag}"
    if a.fresh:
        shutil.rmtree(out, ignore_errors=True)
        if not a.autoencoder:
            shutil.rmtree(ae_out, ignore_errors=True)
    ae_cpu_minutes = None
    if not a.autoencoder:
        t0 = time.process_time()
        AutoencoderTrainer(AutoencoderConfig(image_size=SIZE, channels=CHANNELS, factor=a.factor), train,
                           AutoencoderTrainingConfig(out=str(ae_out), minutes=a.ae_minutes, clock="cpu",
                                                     progress=False, sample_every=500, save_every=500)).run()
        ae_cpu_minutes = (time.process_time() - t0) / 60
    ae_steps = int(read_checkpoint(ae_out)[2].get("step", 0))
    latent_cpu_minutes = _train_diffusion(a, train_dir, out, "youandme-latent", str(ae_out))
    scores = _evaluate(out, held, f"{a.results}_grid")
    return {"autoencoder": str(ae_out), "ae_steps": ae_steps, "ae_cpu_minutes_this_run": ae_cpu_minutes,
            "latent_cpu_minutes": latent_cpu_minutes, "latent_steps": scores["steps"], "n_train": len(train),
            **scores, "runs": [str(ae_out), str(out)]}


def patch_quality(a) -> dict:
    """(d): the pixel-space ``youandme-patch`` preset (8x8 patch stem, shifted cosine) for ``--minutes`` on
    the same clip art, measured exactly as the latent model is (``_evaluate``)."""
    train_dir, train, held = _clipart(a)
    out = CACHE / f"patch_{a.train}{a.tag}"
    if a.fresh:
        shutil.rmtree(out, ignore_errors=True)
    cpu_minutes = _train_diffusion(a, train_dir, out, "youandme-patch", None)
    return {"cpu_minutes": cpu_minutes, "n_train": len(train), **_evaluate(out, held, f"{a.results}_grid"),
            "run": str(out)}


def pixel_quality(a) -> dict:
    """The pixel-space ``youandme`` preset after the same budget on the same clip art: KID and mask spill
    of ``--pixel-eval`` images (conditioned on the first held-out images' features and masks)."""
    from fromnoise import load
    from fromnoise.evaluation.fidelity import held_out_targets

    train_dir, train, held = _clipart(a)
    out = CACHE / f"pixel_{a.train}"
    if a.fresh:
        shutil.rmtree(out, ignore_errors=True)
    # a small end-of-run grid: at 256x256 each network evaluation of the 84M model takes seconds
    cpu_minutes = _train_diffusion(a, train_dir, out, "youandme", None, grid=(2, 4))
    denoiser = load(out)
    requested, masks = held_out_targets(denoiser, held.images[:a.pixel_eval])
    t0 = time.process_time()
    images = generate(denoiser, len(requested), sampler="dpmpp_2m", steps=a.pixel_nfe, seed=0, batch_size=4,
                      condition={"features": torch.from_numpy(requested).float(), "mask": masks})
    sample_cpu_minutes = (time.process_time() - t0) / 60
    return {"cpu_minutes": cpu_minutes, "steps": denoiser.step, "nfe": a.pixel_nfe,
            "sample_cpu_minutes": sample_cpu_minutes,
            **_score(images, held, masks), "run": str(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--part", choices=("speed", "latent", "pixel", "patch"), nargs="+", default=["speed", "latent"],
                    help="speed: (a) and (b); latent: (c) for the latent model; pixel: (c) for the pixel-space "
                         "youandme preset (slow: about 25 s per training step of one image); patch: (d) the "
                         "youandme-patch preset, measured as the latent model is")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="speed: time with this process's CPU seconds (fair on a shared machine; with --threads 1) "
                         "or wall seconds")
    ap.add_argument("--factor", type=int, default=4, choices=(4, 8))
    ap.add_argument("--pixel-steps", type=int, default=2, help="timed pixel-space training steps (~1 min each)")
    ap.add_argument("--latent-steps", type=int, default=5, help="timed latent training steps")
    ap.add_argument("--latent-batch", type=int, default=32, help="latent training batch (the preset's)")
    ap.add_argument("--sample-images", type=int, default=4, help="images per timed sampling run")
    ap.add_argument("--autoencoder", default=None,
                    help="(c): a trained autoencoder run to use (e.g. bench_autoencoder.py's) instead of training one")
    ap.add_argument("--ae-minutes", type=float, default=None, help="(c): autoencoder training CPU minutes")
    ap.add_argument("--minutes", type=float, default=None, help="(c): diffusion training CPU minutes")
    ap.add_argument("--pixel-eval", type=int, default=16, help="(c) pixel: images generated for its KID")
    ap.add_argument("--pixel-nfe", type=int, default=10, help="(c) pixel: network evaluations per image")
    ap.add_argument("--train", type=int, default=2000, help="(c): training clip art images")
    ap.add_argument("--heldout", type=int, default=200, help="(c): held-out clip art images")
    ap.add_argument("--fresh", action="store_true", help="(c): delete earlier runs first")
    ap.add_argument("--prediction", choices=("eps", "x0", "v"), default=None,
                    help="(c), (d): the diffusion model's prediction target (default: the preset's)")
    ap.add_argument("--tag", default="", help="(c), (d): suffix of the run folders under bench/cache/latent/")
    ap.add_argument("--results", default="latent", help="results file name under bench/results/")
    ap.add_argument("--smoke", action="store_true", help="tiny settings everywhere; writes latent_smoke.json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.smoke:
        a.pixel_steps, a.latent_steps, a.latent_batch, a.sample_images = 1, 2, 8, 2
        a.ae_minutes, a.minutes, a.train, a.heldout, a.fresh, a.pixel_eval, a.pixel_nfe = 0.2, 0.3, 24, 8, True, 2, 2
        a.results = "latent_smoke"
    torch.manual_seed(0)
    results: dict = {}
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    if "speed" in a.part:
        lat = latent_denoiser(a.factor)
        results["train_latent"] = train_images_per_s(lat, lat.latent_shape, a.latent_batch, a.latent_steps, 1, clock)
        print(f"(a) latent: {results['train_latent']['images_per_s']:.2f} images/s")
        results["sample_latent"] = sampling_seconds(lat, a.sample_images, clock)
        print(f"(b) {results['sample_latent']['seconds_per_image']:.2f} s per 256x256 image at 20 NFE "
              f"(decoding {results['sample_latent']['decode_seconds_per_image']:.3f} s)")
        del lat
        pix = pixel_denoiser()
        results["train_pixel"] = train_images_per_s(pix, pix.image_shape, 1, a.pixel_steps, 0 if a.smoke else 1,
                                                    clock)
        del pix
        results["latent_vs_pixel_speedup"] = (results["train_latent"]["images_per_s"]
                                              / results["train_pixel"]["images_per_s"])
        results["goal_speedup"] = 30
        print(f"(a) pixel: {results['train_pixel']['images_per_s']:.3f} images/s; latent / pixel = "
              f"{results['latent_vs_pixel_speedup']:.0f}x")
    if "latent" in a.part and a.minutes and (a.ae_minutes or a.autoencoder):
        results["quality"] = q = quality(a)
        print(f"(c) latent: KID {q['kid']:.4f} +- {q['kid_std']:.4f}, object pixels outside the mask "
              f"{100 * q['mask_outside_share']:.1f}%, fidelity r by group "
              + ", ".join(f"{g} {v.get('r')}" for g, v in q["fidelity_groups"].items()))
    if "pixel" in a.part and a.minutes:
        results["pixel_quality"] = q = pixel_quality(a)
        print(f"(c) pixel: {q['steps']} steps, KID {q['kid']:.4f} +- {q['kid_std']:.4f} (N = {q['n_generated']}), "
              f"object pixels outside the mask {100 * q['mask_outside_share']:.1f}%")
    if "patch" in a.part and a.minutes:
        results["patch_quality"] = q = patch_quality(a)
        print(f"(d) patch: {q['steps']} steps, KID {q['kid']:.4f} +- {q['kid_std']:.4f} (N = {q['n_generated']}), "
              f"object pixels outside the mask {100 * q['mask_outside_share']:.1f}%, fidelity r by group "
              + ", ".join(f"{g} {v.get('r')}" for g, v in q["fidelity_groups"].items()))
    write_result(a.results, {"smoke_only": a.smoke, "args": vars(a), "results": results})


if __name__ == "__main__":
    main()
