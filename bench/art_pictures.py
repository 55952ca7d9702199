"""The flagship's pictures (``make art``): generated objects beside the held-out originals they were asked to be.

For the first ``--n`` held-out images of a folder (RGBA, alpha = the object): the model is asked for each
image's 32 measured features and its mask (``--like`` and ``--mask`` of ``fromnoise sample``, the same
``generate()``), one image per original on fixed seeds; writes ``OUT/heldout_vs_generated.png`` (originals
composited on white on top, the generated objects below).

    python bench/art_pictures.py runs/art/model data/clipart/heldout --out runs/art/pictures
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fromnoise.api import load  # noqa: E402
from fromnoise.conditioning.request import build_condition  # noqa: E402
from fromnoise.data import composite_alpha, load_dataset, to_float  # noqa: E402
from fromnoise.sampling import generate  # noqa: E402
from fromnoise.viz import save_grid  # noqa: E402


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a features + mask run (fromnoise train --condition features --mask)")
    ap.add_argument("heldout", help="a folder of held-out RGBA images")
    ap.add_argument("--out", required=True, help="folder for the picture")
    ap.add_argument("--n", type=int, default=8, help="objects")
    ap.add_argument("--files", nargs="+", default=None, help="these held-out file names instead of the first --n")
    ap.add_argument("--steps", type=int, default=20, help="sampler steps (the model's default sampler)")
    ap.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance scale (default: the model's suggestion, as fromnoise sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="heldout_vs_generated", help="picture file name (without .png)")
    a = ap.parse_args(argv)
    den = load(a.run)
    held = load_dataset(a.heldout, channels=4, labels_from="none")
    names = a.files or (held.files or [])[:a.n]
    files = [Path(a.heldout) / f for f in names]
    if not files:
        raise SystemExit(f"{a.heldout}: no images")
    index = {Path(f).name: i for i, f in enumerate(held.files or [])}
    missing = [f.name for f in files if f.name not in index]
    if missing:
        raise SystemExit(f"{a.heldout}: no such images: {', '.join(missing)}")
    rows = []
    for i, f in enumerate(files):
        cond, _ = build_condition(den, {"like": str(f), "mask": str(f)}, 1)
        rows.append(generate(den, 1, condition=cond, steps=a.steps, guidance=a.guidance, seed=a.seed + i).cpu())
    generated = torch.cat(rows)[:, :3]
    originals = (to_float(composite_alpha(held).images[[index[f.name] for f in files]]) + 1) / 2
    size = generated.shape[-1]
    originals = torch.nn.functional.interpolate(originals[:, :3], size=(size, size), mode="area")
    path = save_grid(torch.cat([originals, generated.clamp(0, 1)]), Path(a.out) / f"{a.name}.png",
                     nrow=len(files))
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
