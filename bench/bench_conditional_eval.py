"""Conditional models scored before and after the evaluation fix (issue 12 item 1).

    python bench/bench_conditional_eval.py --minutes 4 -n 500

For a class, a text and a feature(+mask) model, each trained for ``--minutes`` on one core,
KID at 20 NFE against the training images, three ways:

- ``null``: what ``fromnoise evaluate`` did before the fix: no condition, so every image is
  the model's null-condition (unconditional) sample and ``--guidance`` was silently ignored;
- ``drawn g=1``: conditions drawn as the field does (``fromnoise.evaluation.conditions``);
- ``drawn g=3``: the same with classifier-free guidance 3.

Writes bench/results/conditional_eval.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, machine  # noqa: E402

RUNS = {
    "class": ["--dataset", "fashion-mnist", "--preset", "fashion", "--condition", "class"],
    "text": ["--dataset", "fashion-mnist", "--preset", "fashion", "--condition", "text"],
    "features": ["--condition", "features", "--mask", "--preset", "cpu32", "--image-size", "32", "--channels", "3"],
}


def train(kind: str, out: Path, minutes: float, emoji: Path) -> None:
    args = list(RUNS[kind])
    if kind == "features":
        args = ["--dataset", str(emoji)] + args
    cmd = [sys.executable, "-m", "fromnoise", "train", *args, "--minutes", str(minutes), "--out", str(out),
           "--no-progress"]
    subprocess.run(cmd, check=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                                          "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})


def score(run: Path, n: int, seed: int = 0) -> dict:
    import fromnoise
    from fromnoise.data import unit_to_uint8
    from fromnoise.evaluation.conditions import draw_conditions, recorded_source
    from fromnoise.evaluation.inception import InceptionFeatures
    from fromnoise.evaluation.reference import compare, reference_stats

    d = fromnoise.load(run)
    c, size, _ = d.image_shape
    source = recorded_source(d.config)
    net = InceptionFeatures()
    ref = reference_stats(source, size, c, n=max(n, 1000), inception=net)
    cond, record = draw_conditions(d, n, seed=seed)
    out = {"step": d.step, "drawn": record}
    for name, condition, guidance in (("null", None, 1.0), ("drawn_g1", cond, 1.0), ("drawn_g3", cond, 3.0)):
        t0 = time.time()
        images = fromnoise.generate(d, n, steps=20, seed=seed, condition=condition, guidance=guidance, batch_size=100)
        s = compare(unit_to_uint8(images), ref, inception=net, seed=seed)
        out[name] = {"kid": s["kid"], "kid_std": s["kid_std"], "seconds": round(time.time() - t0, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--kinds", default="class,text,features")
    ap.add_argument("--work", default=str(ROOT / "bench" / "cache" / "conditional_eval"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    work = Path(args.work)
    emoji = work / "emoji"
    if "features" in args.kinds and not emoji.exists():
        from bench.emoji_dataset import make_emoji_folder

        make_emoji_folder(emoji, size=32)
    results = {"machine": machine(), "minutes": args.minutes, "n": args.n, "runs": {}}
    for kind in args.kinds.split(","):
        run = work / kind
        if not run.exists():
            train(kind, run, args.minutes, emoji)
        results["runs"][kind] = score(run, args.n)
        r = results["runs"][kind]
        print(f"{kind:9s} step {r['step']:5d}  KID null {r['null']['kid']:.4f}  drawn g1 {r['drawn_g1']['kid']:.4f}"
              f"  drawn g3 {r['drawn_g3']['kid']:.4f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "conditional_eval.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
