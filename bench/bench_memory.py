"""Peak memory of training each preset at its default batch size.

Each preset trains for a few steps in its own subprocess (so peaks do not mix) on synthetic
images of the preset's resolution, through the real Trainer (AdamW, EMA, one checkpoint save).
The figure is the process's peak resident set size (``resource.getrusage().ru_maxrss``); the RSS
after imports and data, before the model is built, is recorded too, so the training share is the
difference.

    python bench/bench_memory.py [--presets all] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_result


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc; peak via getrusage elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(preset: str, steps: int) -> None:
    """Train ``preset`` for ``steps`` steps; print one JSON line with the memory figures."""
    import torch

    from fromnoise.build import make_config
    from fromnoise.data import ImageData
    from fromnoise.models import count_parameters, get_preset
    from fromnoise.training import Trainer, TrainOptions

    torch.set_num_threads(1)
    spec = get_preset(preset)
    config = make_config(preset)
    size, channels = config["image"]["size"], config["image"]["channels"]
    batch = int(spec.defaults.get("batch_size", 64))
    images = torch.randint(0, 256, (max(batch, 64), channels, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    data = ImageData(images=images, description={"source": "synthetic", "n": len(images)})
    before = rss_mib()
    with tempfile.TemporaryDirectory() as out:
        opts = TrainOptions(out=out, steps=steps, batch_size=batch, progress=False, sample_every=10**9,
                            save_every=10**9, num_samples=1, sample_steps=1, log_every=1)
        trainer = Trainer(config, data, opts)
        t0 = time.time()
        trainer.run()
        seconds = time.time() - t0
        params = count_parameters(trainer.denoiser)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"preset": preset, "batch_size": batch, "image_size": size, "channels": channels,
                      "params": params, "rss_before_mib": before, "peak_rss_mib": peak,
                      "training_mib": peak - before, "seconds_per_step": seconds / steps}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="all", help="comma-separated preset names, or all")
    ap.add_argument("--steps", type=int, default=3, help="training steps per preset")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per preset")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.steps)
    from fromnoise.models.presets import PRESETS

    names = list(PRESETS) if args.presets == "all" else args.presets.split(",")
    rows, load_before = [], os.getloadavg()
    for name in names:
        try:
            proc = subprocess.run([sys.executable, __file__, "--worker", name, "--steps", str(args.steps)],
                                  capture_output=True, text=True, cwd=Path(__file__).parent, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{name}: over {args.timeout} s, skipped")
            rows.append({"preset": name, "error": f"over the {args.timeout} s limit"})
            save(args, rows, load_before)
            continue
        if proc.returncode:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            rows.append({"preset": name, "error": proc.stderr.strip().splitlines()[-1:]})
            save(args, rows, load_before)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{name:13s} batch {row['batch_size']:4d} at {row['image_size']}px  {row['params'] / 1e6:6.2f}M params  "
              f"peak RSS {row['peak_rss_mib']:7.0f} MiB (training {row['training_mib']:6.0f} MiB)  "
              f"{row['seconds_per_step']:.2f} s/step", flush=True)
        save(args, rows, load_before)  # after each preset, so a long one cut short loses nothing


def save(args, rows: list[dict], load_before) -> None:
    """Write this run's rows, keeping the rows of presets it did not measure (a partial rerun)."""
    from common import RESULTS

    for row in rows:
        row.setdefault("steps", args.steps)
    path = RESULTS / "memory.json"
    mine = {r["preset"] for r in rows}
    kept = [r for r in json.loads(path.read_text()).get("rows", [])
            if r.get("preset") not in mine] if path.is_file() else []
    write_result("memory", {"steps": args.steps, "threads": 1, "rows": kept + rows, "load_avg_before": load_before,
                            "load_avg_after": os.getloadavg()})


if __name__ == "__main__":
    main()
