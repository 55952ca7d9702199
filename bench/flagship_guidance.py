"""Classifier-free guidance for the flagship (issue 24, item 3): one trained features + mask run, all held-out
clip art, the same seeds, guidance 1 (the conditional model alone) and above.

For each scale: KID against all held-out images, feature fidelity r per group (the requested held-out
feature vector against the generated image's re-measured one), object pixels outside the mask, and the
CPU minutes of generating (guidance > 1 evaluates the network twice per step). Measured exactly as
``bench_latent.py``'s ``_evaluate`` measures a run (its helpers), so the guidance-1 row repeats its figures.

    python bench/flagship_guidance.py bench/cache/latent/latent_f4_2000_flagship --guidance 1 1.5 2 3

Results: ``bench/results/flagship_guidance.json`` and ``.md``; ``flagship_guidance_grid.png`` (held-out
originals, then one row per scale).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_latent import _clipart, _score
from bench.common import write_result
from bench.report_flagship import guidance_table
from fromnoise import load
from fromnoise.data import composite_alpha, on_white, to_float
from fromnoise.evaluation.fidelity import evaluate_fidelity, held_out_targets
from fromnoise.viz import save_grid

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a features + mask run at 256x256 (bench_latent.py's)")
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--train", type=int, default=2000, help="the clip-art split the run was trained on")
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--name", default="flagship_guidance")
    a = ap.parse_args()
    torch.set_num_threads(1)
    _, _, held = _clipart(SimpleNamespace(train=a.train, heldout=a.heldout))
    denoiser = load(a.run)
    requested, masks = held_out_targets(denoiser, held.images)
    rows, shown = [], [(to_float(composite_alpha(held).images[:8]) + 1)[:, :3] / 2]
    for g in a.guidance:
        t0 = time.process_time()
        report = evaluate_fidelity(denoiser, requested, masks, guidance=g, steps=a.steps, baseline=False,
                                   batch_size=16)
        minutes = (time.process_time() - t0) / 60
        groups = {grp: (None if not np.isfinite(r) else round(float(r), 3))
                  for grp, r in report.groups["r"].items()}
        row = {"guidance": g, "generate_cpu_minutes": round(minutes, 2), "fidelity_r": groups,
               **_score(report.images, held, masks)}
        rows.append(row)
        shown.append(on_white(report.images[:8].clamp(0, 1))[:, :3])
        print(f"guidance {g}: KID {row['kid']:.4f}, outside {100 * row['mask_outside_share']:.1f}%, r {groups}",
              flush=True)
        write_result(a.name, {"run": a.run, "step": denoiser.step, "n_heldout": len(held), "steps": a.steps,
                              "threads": 1, "rows": rows})
    save_grid(torch.cat(shown), RESULTS / f"{a.name}_grid.png", nrow=8)
    lines = [f"Run `{a.run}` (step {denoiser.step}), all {len(held)} held-out clip-art images, one image per held-out "
             f"feature vector + mask, DPM-Solver++(2M) {a.steps} steps, seed 0; one thread.", "",
             *guidance_table(rows)]
    (RESULTS / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
