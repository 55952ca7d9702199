"""Edits that keep what they should (issue 26): the success-versus-faithfulness curve.

Part of ``bench/bench_img2img.py --curve`` (driver: :mod:`bench.img2img_edits`); every held-out image is asked for
another class, every source class to each of the others in turn (image i: class (label + 1 + i mod 9) mod 10).

- **The curve** (``curve``): a sweep of strength x guidance for SDEdit (``--init IMG --class NEW``, arxiv
  2108.01073) and for inversion under the input's own class (``--init IMG --from-class OLD --invert --sampler ddim
  --class NEW``: inverted under OLD, and with guidance > 1 guided from OLD to NEW). Each setting: the share the
  bench classifier calls the new class against the mean SSIM to the input, the Pareto front of the settings, and
  the nearest-real-image bound (the mean SSIM of the nearest of 150 real training images of the new class).
- **Text models** (``kind="text"``): the same sweep with the prompts the model was trained on naming the classes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.classifier import load_classifier, predict
from fromnoise.data import load_dataset
from fromnoise.io import write_json
from fromnoise.sampling import generate

GOAL_SHARE, GOAL_SSIM = 0.8, 0.36  # issue 26: >= 80% new class at a mean SSIM above the nearest real image's
METHODS = {"sdedit": "SDEdit (--init --class NEW)",
           "invert": "inversion (--init --from-class OLD --invert --sampler ddim --class NEW)"}


def edit_targets(labels: torch.Tensor) -> torch.Tensor:
    """Another class for every image, cycling through all nine others: every source class to every other."""
    return (labels + 1 + torch.arange(len(labels)) % 9) % 10


def ssim_each(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """(N,) SSIM between (N, 1, H, W) images in [0, 1]."""
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(x, y, data_range=1.0) for x, y in zip(a[:, 0].numpy(), b[:, 0].numpy())])


def wilson(share: float, n: int, z: float = 1.96) -> list[float]:
    """The 95% Wilson interval of a share measured on n images."""
    mid = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return [round(mid - half, 4), round(mid + half, 4)]


def pareto(points: list[dict]) -> list[bool]:
    """On the front: no other setting has both a share and an SSIM at least as high, one of them higher."""
    def beats(q, p):
        return (q["to_new_class"] >= p["to_new_class"] and q["ssim_to_input"] >= p["ssim_to_input"]
                and (q["to_new_class"] > p["to_new_class"] or q["ssim_to_input"] > p["ssim_to_input"]))
    return [not any(beats(q, p) for q in points) for p in points]


def choose(points: list[dict], bound: float) -> dict:
    """The setting to recommend: of those meeting the goal, the highest SSIM; else (said) the front's highest share
    among the settings above max(bound, GOAL_SSIM)."""
    met = [p for p in points if p["to_new_class"] >= GOAL_SHARE and p["ssim_to_input"] >= GOAL_SSIM]
    if met:
        return {"goal_met": True, **max(met, key=lambda p: p["ssim_to_input"])}
    above = [p for p in points if p["on_front"] and p["ssim_to_input"] >= max(bound, GOAL_SSIM)]
    best = max(above or points, key=lambda p: p["to_new_class"])
    return {"goal_met": False, **best}


def nearest_real_ssim(truth: torch.Tensor, target: torch.Tensor, pool: int = 150) -> float:
    """The mean over inputs of the best SSIM between the input and ``pool`` real training images of its
    target class: what a perfect edit that returned a real image of the new class could score."""
    from skimage.metrics import structural_similarity

    train = load_dataset("fashion-mnist", train=True)
    images, labels = train.images[:, 0].float().numpy() / 255, train.labels
    best = []
    for x, c in zip(truth[:, 0].numpy(), target.tolist()):
        cands = images[(labels == c).numpy()][:pool]
        best.append(max(structural_similarity(x, y, data_range=1.0) for y in cands))
    return float(np.mean(best))


def edit_options(method: str, guidance: float, source: dict, sampler: str) -> dict:
    """generate()'s keywords for one method, as ``fromnoise sample`` builds them from its flags."""
    if method == "sdedit":
        return {"sampler": sampler, "guidance": guidance}
    # --from-class / --from-prompt: inverted under it, and the guidance pushes away from it
    return {"sampler": "ddim", "invert": True, "source": source, "guidance": guidance,
            **({"negative": source} if guidance != 1 else {})}


def conditions(model, labels: torch.Tensor, target: torch.Tensor, kind: str) -> tuple[dict, dict]:
    """(the new condition, the input's own) per image: class labels, or for a text model the prompt it was trained
    on (bench_conditional's template, "a photo of a {class}") naming the new class and the old one."""
    if kind == "class":
        return {"labels": target}, {"labels": labels}
    from bench.bench_conditional import TEMPLATES
    from fromnoise.conditioning.captions import fill_template
    from fromnoise.conditioning.request import build_condition

    names = load_dataset("fashion-mnist", train=False, limit=1).class_names
    prompts = [[fill_template(TEMPLATES["fashion-mnist"], names[int(c)]) for c in cs] for cs in (target, labels)]
    return tuple(build_condition(model, {"prompts": p}, 1)[0] for p in prompts)


def curve(model, truth, labels, a, out_dir: Path, kind: str = "class", facts=None) -> dict:
    """The sweep of ``a.strengths`` x ``a.guidances`` x ``a.methods``; ``img2img_curve[_text].json`` is rewritten
    after every setting, so a cut-off run keeps its points. ``a.add``: the settings are added to those of the JSON
    there (same images, steps and seed), a second, finer pass where the first one shows the knee."""
    n = len(truth)
    classifier, cfacts = load_classifier("fashion-mnist")
    target = edit_targets(labels)
    new, source = conditions(model, labels, target, kind)
    path = out_dir / f"img2img_curve{'' if kind == 'class' else '_' + kind}.json"
    if a.add and path.is_file():
        result = json.loads(path.read_text())
        assert (result["images"], result["steps"]) == (n, a.curve_steps), "--add: other images or steps"
        result["added"] = result.get("added", []) + [{"command": "python " + " ".join(sys.argv),
                                                      "strengths": a.strengths, "guidances": a.guidances,
                                                      "methods": a.methods}]
        result["strengths"] = sorted(set(result["strengths"]) | set(a.strengths))
        result["guidances"] = sorted(set(result["guidances"]) | set(a.guidances))
        result["model"], result["complete"] = result.get("model") or facts, False
    else:
        t0 = time.process_time()
        result = {"command": "python " + " ".join(sys.argv), "model": facts, "condition": kind, "images": n,
                  "steps": a.curve_steps, "sdedit_sampler": a.sampler, "inversion_sampler": "ddim",
                  "strengths": a.strengths, "guidances": a.guidances, "seed": 1,
                  "pairs_covered": len(set(zip(labels.tolist(), target.tolist()))),
                  "classifier_held_out_accuracy": cfacts["held_out_accuracy"],
                  "inputs_already_new_class": float((predict(classifier, truth) == target).float().mean()),
                  "nearest_real_image_ssim": nearest_real_ssim(truth, target),
                  "nearest_real_cpu_s": round(time.process_time() - t0, 1),
                  "goal": {"to_new_class": GOAL_SHARE, "ssim_to_input": GOAL_SSIM}, "points": [], "complete": False}
    bound = result["nearest_real_image_ssim"]
    print("curve: nearest real image of the new class, SSIM", round(bound, 4), flush=True)
    done = {(p["method"], p["strength"], p["guidance"]) for p in result["points"]}
    for strength in a.strengths:
        for guidance in a.guidances:
            for method in a.methods:
                if (method, strength, guidance) in done:
                    continue
                t0 = time.process_time()
                edited = generate(model, n, init=truth, strength=strength, condition=new, seed=1,
                                  steps=a.curve_steps, batch_size=250, **edit_options(method, guidance, source,
                                                                                      a.sampler))
                share = float((predict(classifier, edited) == target).float().mean())
                point = {"method": method, "strength": strength, "guidance": guidance, "to_new_class": share,
                         "to_new_class_95": wilson(share, n), "ssim_to_input": float(ssim_each(truth, edited).mean()),
                         "cpu_s": round(time.process_time() - t0, 1)}
                result["points"].append(point)
                print("curve", point, flush=True)
                write_json(path, result)
    result["points"].sort(key=lambda p: (p["strength"], p["guidance"], list(METHODS).index(p["method"])))
    for p, front in zip(result["points"], pareto(result["points"])):
        p["on_front"] = front
    result["chosen"] = c = choose(result["points"], bound)
    result["complete"] = True
    write_json(path, result)
    # the first 8 inputs, then the chosen setting by each method (image i depends only on seed + i, not on n)
    k = 8
    examples = [truth[:k]] + [generate(model, k, init=truth[:k], strength=c["strength"], seed=1, steps=a.curve_steps,
                                       condition={key: v[:k] for key, v in new.items()},
                                       **edit_options(m, c["guidance"], {key: v[:k] for key, v in source.items()},
                                                      a.sampler)) for m in METHODS]
    from fromnoise.viz import save_grid

    save_grid(torch.cat(examples), path.with_name(path.stem + "_examples.png"), nrow=k)
    return result


def plot_curve(out_dir: Path, paths: list[Path]) -> None:
    """Share of the new class against SSIM to the input (``img2img_curve.json``; the text model's points of
    ``img2img_curve_text.json`` beside them when present): a line per method and guidance (strength rising along
    it), the Pareto front of the class edits, the nearest-real-image bound and the goal's corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not (out_dir / "img2img_curve.json").is_file():
        return
    r = json.loads((out_dir / "img2img_curve.json").read_text())
    fig, ax = plt.subplots(figsize=(9.5, 5.2), dpi=120)
    colours = dict(zip(r["guidances"], plt.cm.viridis(np.linspace(0, 0.85, len(r["guidances"])))))
    for method, marker, style in (("sdedit", "o", "-"), ("invert", "s", "--")):
        for g in r["guidances"]:
            pts = [p for p in r["points"] if p["method"] == method and p["guidance"] == g]
            if pts:
                ax.plot([p["ssim_to_input"] for p in pts], [100 * p["to_new_class"] for p in pts], style,
                        marker=marker, color=colours[g], ms=5, lw=1,
                        label=f"{'SDEdit' if method == 'sdedit' else 'inversion'}, guidance {g:g}")
                for p in pts:
                    ax.annotate(f"{p['strength']:g}", (p["ssim_to_input"], 100 * p["to_new_class"]), fontsize=6,
                                xytext=(3, 2), textcoords="offset points", color="0.35")
    text = out_dir / "img2img_curve_text.json"
    if text.is_file():
        t = json.loads(text.read_text())
        for method, marker, colour in (("sdedit", "^", "tab:red"), ("invert", "v", "tab:orange")):
            pts = [p for p in t["points"] if p["method"] == method]
            ax.scatter([p["ssim_to_input"] for p in pts], [100 * p["to_new_class"] for p in pts], marker=marker,
                       s=18, color=colour, label=f"text model, {'SDEdit' if method == 'sdedit' else 'inversion'} "
                       f"(strength {', '.join(f'{v:g}' for v in t['strengths'])}; guidance "
                       f"{', '.join(f'{g:g}' for g in t['guidances'])})")
    front = sorted((p for p in r["points"] if p.get("on_front")), key=lambda p: p["ssim_to_input"])
    if front:
        ax.plot([p["ssim_to_input"] for p in front], [100 * p["to_new_class"] for p in front], color="crimson",
                lw=2, alpha=0.5, zorder=0, label="Pareto front")
    ax.axvline(r["nearest_real_image_ssim"], color="k", ls=":", lw=1.2,
               label=f"nearest real image of the new class ({r['nearest_real_image_ssim']:.2f})")
    ax.fill_between([GOAL_SSIM, 1], 100 * GOAL_SHARE, 100, color="gold", alpha=0.15, label="goal (>= 80%, >= 0.36)")
    if r.get("chosen"):
        c = r["chosen"]
        ax.plot(c["ssim_to_input"], 100 * c["to_new_class"], "*", ms=16, mfc="none", mec="crimson", mew=1.5,
                label="chosen: meets the goal" if c["goal_met"] else "chosen: best trade-off (goal not met)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel("mean SSIM to the input (1 = unchanged)")
    ax.set_ylabel("classified as the new class (%)")
    ax.set_title(f"Class edits of {r['images']} held-out Fashion-MNIST images ({r['steps']} steps; "
                 "numbers: strength)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)
