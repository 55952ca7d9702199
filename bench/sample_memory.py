"""Peak resident memory of sampling one image from a run, in a fresh process (issue 24: <= 1.5 GB at 256x256).

    python bench/sample_memory.py RUN LIKE.png [--steps 20] [--name sample_memory]

Loads the run (a latent run loads its autoencoder too), conditions on ``LIKE.png``'s features and mask (as
``fromnoise sample RUN --like LIKE.png``), draws one image on one thread and records the process's peak resident
set (``ru_maxrss``) and CPU seconds. Writes bench/results/NAME.json.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_result  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("like", help="an image whose features (and mask) condition the sample")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--name", default="sample_memory")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    from fromnoise import load
    from fromnoise.conditioning.request import build_condition
    from fromnoise.sampling import generate

    t0 = time.process_time()
    den = load(a.run)
    cond, _ = build_condition(den, {"like": a.like}, 1)
    image = generate(den, 1, condition=cond, steps=a.steps, seed=0)
    result = {"run": a.run, "shape": list(image.shape), "steps": a.steps,
              "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
              "cpu_seconds": time.process_time() - t0, "goal_gb": 1.5}
    write_result(a.name, result)
    print(f"{a.run}: one {tuple(image.shape[1:])} image at {a.steps} steps, peak {result['peak_rss_gib']:.2f} GiB, "
          f"{result['cpu_seconds']:.1f} CPU-s")
    return result


if __name__ == "__main__":
    main()
