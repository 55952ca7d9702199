"""Masked class edits (issue 26), part of ``bench/bench_img2img.py --masked``.

``--inpaint IMG --mask M --class NEW --strength S`` with the lower half or the sleeves (the left and right thirds)
masked, every held-out image asked for another class (:func:`bench.img2img_curve.edit_targets`): the SSIM to the
input outside the mask (the kept pixels come back exactly; the SSIM's 7x7 windows that straddle the seam also
see new pixels), the share the bench classifier calls the new class, over strength.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.classifier import load_classifier, predict
from bench.img2img_curve import edit_targets, ssim_each, wilson
from fromnoise.img2img_request import EDIT_DEFAULTS
from fromnoise.io import write_json
from fromnoise.sampling import generate


def region_masks(size: int) -> dict[str, torch.Tensor]:
    """(H, W) masks, 1 = regenerate: the lower half, and the sleeves (the left and right thirds)."""
    lower = torch.zeros(size, size)
    lower[size // 2:] = 1
    sleeves = torch.zeros(size, size)
    third = size // 3
    sleeves[:, :third] = 1
    sleeves[:, size - third:] = 1
    return {"lower half": lower, "sleeves": sleeves}


def outside_ssim(truth: torch.Tensor, edited: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """(N,) mean of each image's SSIM map over the kept (mask 0) pixels."""
    from skimage.metrics import structural_similarity

    keep = mask.numpy() < 0.5
    return np.array([structural_similarity(x, y, data_range=1.0, full=True)[1][keep].mean()
                     for x, y in zip(truth[:, 0].numpy(), edited[:, 0].numpy())])


def masked(model, truth, labels, a, out_dir: Path, facts=None) -> dict:
    """Masked class edits over strength; ``img2img_masked.json`` is rewritten after every setting."""
    n, size = len(truth), truth.shape[-1]
    classifier, _ = load_classifier("fashion-mnist")
    target = edit_targets(labels)
    result = {"command": "python " + " ".join(sys.argv), "model": facts, "images": n, "steps": a.curve_steps,
              "sampler": a.sampler, "guidance": a.masked_guidance,
              "feather": EDIT_DEFAULTS.feather, "resample": EDIT_DEFAULTS.resample,
              "strengths": a.masked_strengths, "seed": 1, "masks": {},
              "inputs_already_new_class": float((predict(classifier, truth) == target).float().mean()),
              "complete": False}
    path = out_dir / "img2img_masked.json"
    shown = {}
    for name, mask in region_masks(size).items():
        rows = result["masks"][name] = []
        for strength in a.masked_strengths:
            t0 = time.process_time()
            edited = generate(model, n, init=truth, mask=mask, strength=strength, condition={"labels": target},
                              guidance=a.masked_guidance, sampler=a.sampler, steps=a.curve_steps, seed=1,
                              batch_size=250)
            keep = mask < 0.5
            out_ssim = outside_ssim(truth, edited, mask)
            share = float((predict(classifier, edited) == target).float().mean())
            rows.append({"strength": strength, "to_new_class": share, "to_new_class_95": wilson(share, n),
                         "ssim_outside": float(out_ssim.mean()), "share_ssim_outside_ge_0.95":
                         float((out_ssim >= 0.95).mean()),
                         "max_change_outside": float((edited - truth)[..., keep].abs().max()),
                         "ssim_whole": float(ssim_each(truth, edited).mean()),
                         "cpu_s": round(time.process_time() - t0, 1)})
            shown[(name, strength)] = edited[:8]
            print("masked", name, rows[-1], flush=True)
            write_json(path, result)
    result["complete"] = True
    write_json(path, result)
    masked_picture(truth[:8], target[:8], shown, a.masked_strengths,
                   [out_dir / "img2img_masked.png", Path(a.docs_images) / "img2img_masked.png"])
    return result


def masked_picture(truth, target, shown: dict, strengths: list[float], paths: list[Path]) -> None:
    """Rows: the input, the mask over it, then the edit at up to three strengths, for each mask."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fromnoise.data import load_dataset

    names = load_dataset("fashion-mnist", train=False, limit=1).class_names
    picks = strengths if len(strengths) <= 3 else [strengths[0], strengths[len(strengths) // 2], strengths[-1]]
    masks = list(dict.fromkeys(k for k, _ in shown))
    rows = [("input", truth, None)]
    for m in masks:
        mk = region_masks(truth.shape[-1])[m]
        rows.append((f"mask: {m}", truth, mk))
        rows += [(f"strength {s:g}", shown[(m, s)], None) for s in picks]
    fig, axes = plt.subplots(len(rows), len(truth), figsize=(1.0 * len(truth) + 1.2, 1.0 * len(rows)), dpi=110)
    for i, (label, imgs, mk) in enumerate(rows):
        for j in range(len(truth)):
            ax = axes[i, j]
            img = imgs[j, 0].numpy()
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            if mk is not None:
                ax.imshow(np.ma.masked_where(mk.numpy() < 0.5, mk.numpy()), cmap="autumn", alpha=0.45, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"-> {names[int(target[j])]}", fontsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)
