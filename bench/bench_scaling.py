"""Issue 16 item 4 on the CPU: training images/s of the ``fashion`` preset at 1 and 2 processes, in one run.

    python bench/bench_scaling.py [--steps 12] [--warmup 3] [--batch 64] [--limit 4096]

Each setting trains Fashion-MNIST (offline copy) through the real Trainer, launched by
``fromnoise.training.launch`` exactly as ``fromnoise train --processes N`` does; the global batch
is the same at every process count (B images per optimizer step, B / N per process), so the
images/s compare like for like. Threads: every setting uses all the cores (1 process x all
threads, N processes x cores / N threads), plus 1 process x 1 thread for reference. The time of
a step is the main process's wall time between steps, so it includes the gradient all-reduce and
waiting for the slower process. The machine may be shared: the load average before and after each
setting is recorded beside it. Writes bench/results/scaling_cpu.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import write_result  # noqa: E402

from fromnoise.build import make_config  # noqa: E402
from fromnoise.data import load_dataset  # noqa: E402
from fromnoise.training import Trainer, TrainOptions  # noqa: E402
from fromnoise.training.launch import launch  # noqa: E402


def _worker(data, out: str, steps: int, warmup: int, batch: int, threads: int, result: str) -> None:
    torch.set_num_threads(threads)
    config = make_config("fashion", image_size=28, channels=1)
    options = TrainOptions(out=out, steps=steps + warmup, batch_size=batch, sample_every=10**9, save_every=10**9,
                           progress=False, log_every=10**9, num_samples=1, sample_steps=1)
    stamps: list[float] = []
    trainer = Trainer(config, data, options, hooks=[lambda tr, step: stamps.append(time.perf_counter())])
    trainer.pictures = lambda: None  # the timing is of training only
    trainer.run()
    if trainer.main:
        timed = stamps[warmup:]  # stamps after the warm-up steps; their gaps are steps warmup+1..
        per_step = [b - a for a, b in zip(timed, timed[1:])]
        per_step.sort()
        median = per_step[len(per_step) // 2]
        Path(result).write_text(f"{median}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12, help="timed optimizer steps per setting")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64, help="global batch (the fashion preset's)")
    ap.add_argument("--limit", type=int, default=4096, help="training images loaded")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    data = load_dataset("fashion-mnist", limit=args.limit)
    settings = [(1, 1), (1, cores), (2, max(1, cores // 2))]
    rows = []
    for processes, threads in settings:
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "median.txt"
            load_before = os.getloadavg()
            t0 = time.perf_counter()
            launch(_worker, (data, str(Path(tmp) / "run"), args.steps, args.warmup, args.batch, threads, str(result)),
                   processes=processes)
            wall = time.perf_counter() - t0
            load_after = os.getloadavg()
            median = float(result.read_text())
        row = {"processes": processes, "threads_per_process": threads, "global_batch": args.batch,
               "per_process_batch": args.batch // processes, "median_step_s": round(median, 4),
               "images_per_s": round(args.batch / median, 1), "wall_s": round(wall, 1),
               "load_avg_before": [round(x, 2) for x in load_before],
               "load_avg_after": [round(x, 2) for x in load_after]}
        rows.append(row)
        print(row, flush=True)
    base = next(r for r in rows if r["processes"] == 1 and r["threads_per_process"] == cores)
    for r in rows:
        r["speed_vs_1_process_all_threads"] = round(r["images_per_s"] / base["images_per_s"], 2)
    write_result("scaling_cpu", {"preset": "fashion", "data": f"fashion-mnist, first {args.limit} images",
                                 "timed_steps": args.steps, "warmup_steps": args.warmup, "cores": cores,
                                 "note": "the machine is shared with other jobs: read the load averages", "rows": rows})


if __name__ == "__main__":
    main()
