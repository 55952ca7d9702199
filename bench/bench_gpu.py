"""Issue 16 item 4 on one CUDA GPU, in one go (about 8 minutes on an H200): writes bench/results/gpu.json.

    python bench/bench_gpu.py [--quality-minutes 4.5] [--samples 2000] [--skip-quality]

1. Training images/s of the fashion, cifar, youandme and youandme-latent presets (a preset this
   version lacks is recorded as missing), through the real Trainer on its GPU path (bf16 autocast
   with fp32 master weights, channels_last, fused AdamW, TF32), each at its preset batch size on
   synthetic images of its resolution (speed does not depend on the pixels); the median step after
   a warm-up. fashion also with torch.compile (the compile time is recorded too).
2. The achieved share of the card's bf16 peak: FLOPs of one training step (torch's FlopCounterMode)
   over the measured step time, against the measured peak (a large bf16 matmul) and the datasheet
   figure where the card is known.
3. Peak GPU memory of youandme at batch 4 (``torch.cuda.max_memory_allocated``) and the largest
   batch that fits (doubling, then bisecting, a few steps per try).
4. Quality: the fashion preset on Fashion-MNIST for ``--quality-minutes``, then KID (and FID) of
   ``--samples`` images at 20 NFE (dpmpp_2m) against as many Fashion-MNIST test images, beside the
   zero point (training images against test images, bench/results/zero_point.json, measured at
   N = 2000 on the CPU; the Inception network is the same). A missing data set or Inception file is
   recorded as the reason the quality figure is absent; the rest still runs.

5. With ``--flagship DIR`` (a folder of 256x256 RGBA clip art, e.g. bench/clipart_dataset.py's train split; issue
   24 item 7): the pixel-space ``youandme`` (84M, reference 000's own network) and ``youandme-patch`` trained
   features + mask conditioned on it for ``--flagship-minutes`` wall-minutes each (``fromnoise train``'s own
   path, bf16 autocast on the GPU): steps, images/s, peak GPU memory, and the end-of-run sample grid copied to
   bench/results/gpu_flagship_<preset>.png.

Every section writes into the JSON as soon as it is done, so a run stopped early keeps what it measured.

    python bench/bench_gpu.py --skip-quality --flagship data/clipart/train --flagship-minutes 2
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, write_result  # noqa: E402

from fromnoise.build import make_config  # noqa: E402
from fromnoise.data import ImageData  # noqa: E402
from fromnoise.errors import UserError  # noqa: E402
from fromnoise.models import PRESETS, count_parameters, get_preset  # noqa: E402
from fromnoise.training import Trainer, TrainOptions  # noqa: E402

SPEED_PRESETS = ("fashion", "cifar", "youandme", "youandme-latent", "youandme-patch")
# dense bf16 tensor-core peaks from the vendors' datasheets (TFLOP/s, without sparsity)
DATASHEET_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}

RESULT: dict = {}


def _save() -> None:
    write_result("gpu", RESULT)


def _shape(preset: str) -> tuple[int, int]:
    """(image size, channels) a preset is made for: its function's defaults."""
    params = inspect.signature(PRESETS[preset]).parameters
    return int(params["image_size"].default), int(params["channels"].default)


def _synthetic(preset: str, n: int = 256) -> ImageData:
    size, channels = _shape(preset)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return ImageData(images=images, description={"source": "synthetic", "n": n})


def _trainer(preset: str, batch: int, steps: int, out: Path, compile_: bool = False, data=None) -> Trainer:
    size, channels = _shape(preset)
    options = TrainOptions(out=str(out), steps=steps, batch_size=batch, sample_every=10**9, save_every=10**9,
                           progress=False, log_every=10**9, num_samples=1, sample_steps=1, compile=compile_)
    trainer = Trainer(make_config(preset, image_size=size, channels=channels),
                      data if data is not None else _synthetic(preset, max(batch, 64)), options)
    trainer.pictures = lambda: None  # timing and memory are of training only
    trainer.save = lambda: out  # no checkpoint writes in the timed runs
    return trainer


def _time_training(preset: str, batch: int, steps: int = 20, warmup: int = 5, compile_: bool = False) -> dict:
    stamps: list[float] = []

    def stamp(_trainer, _step):
        torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        trainer = _trainer(preset, batch, steps + warmup, Path(tmp) / "run", compile_)
        trainer.hooks.append(stamp)
        t0 = time.perf_counter()
        trainer.run()
        gaps = sorted(b - a for a, b in zip(stamps[warmup - 1:], stamps[warmup:]))
        step_s = gaps[len(gaps) // 2]
        row = {"preset": preset, "batch": batch, "params": count_parameters(trainer.denoiser),
               "image_size": trainer.denoiser.image_shape[-1], "median_step_s": step_s,
               "images_per_s": batch / step_s, "first_step_s": stamps[0] - t0, "compile": compile_}
        row["flops_per_step"] = _step_flops(trainer, batch)
        row["achieved_tflops"] = row["flops_per_step"] / step_s / 1e12
    del trainer
    _free()
    return row


def _step_flops(trainer: Trainer, batch: int) -> float:
    """FLOPs of one forward + backward of the network at ``batch`` (torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    d = trainer.denoiser
    x = torch.randn(batch, *d.image_shape, device=trainer.acc.device)
    t = torch.randint(0, d.num_timesteps, (batch,), device=x.device)
    with FlopCounterMode(display=False) as fc, trainer.acc.autocast():
        trainer.model(x, t, None, None).float().pow(2).mean().backward()
    trainer.optimizer.zero_grad(set_to_none=True)
    return float(fc.get_total_flops())


def _bf16_peak_tflops(n: int = 8192, reps: int = 20) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def _free() -> None:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def _peak_memory(preset: str, batch: int, steps: int = 3) -> int | None:
    """Peak allocated bytes of ``steps`` training steps at ``batch``; None when it does not fit."""
    _free()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = _trainer(preset, batch, steps, Path(tmp) / "run")
            trainer.run()
            peak = torch.cuda.max_memory_allocated()
        del trainer
        return peak
    except torch.OutOfMemoryError:
        return None
    finally:
        _free()


def _largest_batch(preset: str, start: int = 8, cap: int = 4096) -> dict:
    ok, bad, b = 4, None, start
    while b <= cap and _peak_memory(preset, b, steps=2) is not None:  # doubling
        ok, b = b, b * 2
    bad = b if b <= cap else None
    while bad is not None and bad - ok > max(1, ok // 16):  # bisection to ~6%
        mid = (ok + bad) // 2
        if _peak_memory(preset, mid, steps=2) is not None:
            ok = mid
        else:
            bad = mid
    return {"largest_batch_that_fits": ok, "first_batch_that_failed": bad, "cap": cap}


def _quality(minutes: float, samples: int) -> dict:
    from fromnoise.data import load_dataset, unit_to_uint8
    from fromnoise.evaluation import InceptionFeatures
    from fromnoise.evaluation.reference import compare, reference_stats
    from fromnoise.sampling import generate

    data = load_dataset("fashion-mnist")
    inception = InceptionFeatures(device="cuda")
    ref = reference_stats("fashion-mnist", 28, 1, split="test", n=samples, inception=inception, batch_size=256)
    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(out=str(Path(tmp) / "run"), minutes=minutes, batch_size=64, lr=2e-3, progress=False,
                               sample_every=10**9, save_every=10**9, log_every=100)
        trainer = Trainer(make_config("fashion"), data, options)
        t0 = time.time()
        trainer.run()
        seconds = min(time.time() - t0, 60 * minutes)
        t1 = time.time()
        images = unit_to_uint8(generate(trainer.ema.model, samples, sampler="dpmpp_2m", steps=20, seed=0,
                                        batch_size=500))
        sample_s = time.time() - t1
        scores = compare(images, ref, inception=inception, allow_small=True, seed=0, batch_size=256)
    zero = RESULTS / "zero_point.json"
    zero_point = json.loads(zero.read_text()) if zero.exists() else None
    return {"minutes": minutes, "steps": trainer.step, "train_images_per_s": trainer.step * 64 / seconds,
            "batch_size": 64, "n": samples, "nfe": 20, "sampler": "dpmpp_2m", "sample_seconds": sample_s,
            "kid": scores["kid"], "kid_std": scores["kid_std"], "fid": scores["fid"],
            "zero_point": None if zero_point is None
            else {k: zero_point.get(k) for k in ("n", "kid", "kid_std", "fid")}}


def _flagship(folder: str, minutes: float) -> list[dict]:
    """Issue 24 item 7: youandme and youandme-patch on real clip art for ``minutes`` each (see the docstring)."""
    import shutil

    from fromnoise.cli.train_run import run_training
    from fromnoise.config import ConditioningConfig, DataConfig, TrainingConfig

    rows = []
    for preset in ("youandme", "youandme-patch"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / preset
            torch.cuda.reset_peak_memory_stats()
            t0 = time.time()
            run_training(DataConfig(source=folder, channels=4, image_size=256),
                         TrainingConfig(out=str(out), minutes=minutes, progress=False, sample_every=10**9,
                                        save_every=10**9, num_samples=8, sample_steps=20, memorization_every=0),
                         preset=preset, conditioning=ConditioningConfig(kind="features", mask=True),
                         auto=frozenset({"batch_size", "lr", "hflip"}))
            seconds = time.time() - t0
            metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            step = metrics[-1]["step"] if metrics else 0
            grid = RESULTS / f"gpu_flagship_{preset}.png"
            if (out / "samples" / "latest.png").is_file():
                shutil.copyfile(out / "samples" / "latest.png", grid)
            rows.append({"preset": preset, "minutes": minutes, "steps": step, "wall_seconds": seconds,
                         "images_per_s": (metrics[-1].get("images_per_s") if metrics else None),
                         "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
                         "grid": str(grid) if grid.is_file() else None})
        print(rows[-1], flush=True)
        _free()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality-minutes", type=float, default=4.5)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--flagship", default=None, help="a folder of 256x256 RGBA clip art: train youandme and "
                                                     "youandme-patch on it (item 5 above)")
    ap.add_argument("--flagship-minutes", type=float, default=2.0, help="wall-minutes per flagship preset")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU; on the CPU run bench/bench_scaling.py")
    t_start = time.time()
    name = torch.cuda.get_device_name(0)
    RESULT.update(device=name, bf16=torch.cuda.is_bf16_supported(), sections={})
    peak = _bf16_peak_tflops()
    sheet = next((v for k, v in DATASHEET_BF16_TFLOPS.items() if k in name), None)
    RESULT["bf16_peak_tflops"] = {"measured_matmul_8192": peak, "datasheet_dense": sheet}
    _save()

    rows = []
    for preset in SPEED_PRESETS:
        if preset not in PRESETS:
            rows.append({"preset": preset, "missing": "no such preset in this version"})
            continue
        batch = int(get_preset(preset).defaults.get("batch_size", 64))
        rows.append(_time_training(preset, batch))
        print(rows[-1], flush=True)
    rows.append(_time_training("fashion", int(get_preset("fashion").defaults.get("batch_size", 64)), compile_=True))
    print(rows[-1], flush=True)
    for row in rows:
        if "achieved_tflops" in row:
            row["share_of_measured_bf16_peak"] = row["achieved_tflops"] / peak
            row["share_of_datasheet_bf16_peak"] = row["achieved_tflops"] / sheet if sheet else None
    RESULT["training_speed"] = rows
    _save()

    memory = {"preset": "youandme", "peak_bytes_at_batch_4": _peak_memory("youandme", 4)}
    memory["peak_gib_at_batch_4"] = (memory["peak_bytes_at_batch_4"] or 0) / 2**30
    memory.update(_largest_batch("youandme"))
    RESULT["memory"] = memory
    print(memory, flush=True)
    _save()

    if args.skip_quality:
        RESULT["quality"] = {"skipped": "--skip-quality"}
    else:
        try:
            RESULT["quality"] = _quality(args.quality_minutes, args.samples)
        except (UserError, FileNotFoundError, ImportError) as err:  # no data set or Inception file on this machine
            RESULT["quality"] = {"skipped": str(err)}
        print(RESULT["quality"], flush=True)
    if args.flagship:
        RESULT["flagship"] = _flagship(args.flagship, args.flagship_minutes)
        _save()
    RESULT["seconds"] = time.time() - t_start
    _save()


if __name__ == "__main__":
    main()
