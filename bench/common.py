"""Shared helpers for the benchmark scripts: timing, FLOP counting, results files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "platform": platform.platform(), "load_avg": os.getloadavg()}


def train_step_flops(model, make_batch) -> float:
    """FLOPs of one forward + backward of ``model`` on ``make_batch()`` (torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    args = make_batch()
    with FlopCounterMode(display=False) as fc:
        model(*args).float().pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    return float(fc.get_total_flops())


def time_train_steps(model, make_batch, steps: int = 10, warmup: int = 3, lr: float = 1e-4,
                     clock=time.perf_counter) -> float:
    """Seconds per optimizer step (forward, backward, AdamW), median of ``steps`` after ``warmup``.

    ``clock=time.process_time``: this process's CPU seconds, for one-thread timings on a machine that
    other jobs share (wall time would count their turns on the core too)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    times = []
    for i in range(warmup + steps):
        args = make_batch()
        t0 = clock()
        loss = model(*args).float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(clock() - t0)
    times.sort()
    return times[len(times) // 2]


def conv_peak_gflops(batch: int = 64, ch: int = 128, size: int = 28, reps: int = 5, clock=time.perf_counter) -> float:
    """Achieved GFLOP/s of a large 3x3 convolution forward + backward: the machine's practical peak
    (``clock=time.process_time`` counts this process's CPU time, like a one-thread timing on a shared machine)."""
    x = torch.randn(batch, ch, size, size, requires_grad=True)
    conv = torch.nn.Conv2d(ch, ch, 3, padding=1)
    flops = 3 * 2 * batch * ch * ch * 9 * size * size  # forward, grad input, grad weight
    best = float("inf")
    for i in range(reps + 1):
        t0 = clock()
        conv(x).sum().backward()
        if i:
            best = min(best, clock() - t0)
    return flops / best / 1e9


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"), **payload},
                              indent=2, default=str))
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path
