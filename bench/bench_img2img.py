"""Image-to-image with a model trained from scratch: inpainting quality, RePaint vs plain replacement, editing.

One class-conditional ``fashion`` model (trained for ``--minutes``, or loaded with ``--run``) serves every
part; with condition dropout it is an unconditional model too (the null class), which the inpainting uses.

1. Inpainting of held-out Fashion-MNIST images with the centre (a 14x14 square) or a random half masked:
   PSNR and SSIM on the masked region against the truth, for plain known-region replacement (resample 1)
   and RePaint (``--resample``, ``--jump-length``); with ``--kid``, the KID (Inception, offline) of the
   inpainted images and of the model's own unmasked samples against real held-out images
   (issue 15's goal: RePaint KID <= 1.5x the unmasked model's).
2. Editing: each held-out image asked for another class at strength 0.7, by SDEdit (arxiv 2108.01073) with
   and without guidance, and by DDIM inversion under the input's own class then sampling under the new one
   (``source=``/``negative=``); the share the bench classifier (``bench/classifier.py``) assigns to the new
   class (goal >= 80%) and the SSIM to the input (goal >= 0.5; a class edit changes the whole image, so this is
   the whole image's SSIM), beside the SSIM of the nearest real image of the new class (what a perfect edit
   that returns a real image of that class could score).
3. Emoji (``--emoji-run RUN --emoji-data FOLDER``: a features + mask model of ``bench/bench_features.py
   train``, whose held-out split it reuses): inpainting of held-out 32x32 RGB emoji as in 1, under the
   model's null condition (features and mask dropped), and mask-guided generation: each held-out image's
   silhouette (and its features) asked for, the share of generated object pixels outside it (goal < 2%).

4. Edits that keep what they should (issue 26, ``--curve``, ``--masked``, ``--text-run``; bench/img2img_edits.py):
   the share of class edits that take against the SSIM to the input over strength x guidance, for SDEdit and for
   inversion under the input's class, with its Pareto front and the nearest-real-image bound
   (``img2img_curve.json``, ``img2img_curve.png``); masked class edits (``img2img_masked.json``); the same curve
   for a text model (``img2img_curve_text.json``); all in ``img2img_edits.md``, figures also in docs/images.

    python bench/bench_features.py train --data EMOJI32 --run RUN --minutes 15      # the emoji model
    python bench/bench_img2img.py --minutes 10 --num 200 --kid --emoji-run RUN --emoji-data EMOJI32
    python bench/bench_img2img.py --run bench/cache/img2img_fashion --minutes 8 --curve --masked   # issue 26
    python bench/bench_img2img.py --text-run bench/cache/img2img_fashion_text --minutes 6 --strengths 1.0 \
        --guidances 1,1.5,3

Use one torch thread on the shared 2-core machine (the default here); the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.classifier import load_classifier, predict  # noqa: E402
from bench.common import machine  # noqa: E402
from bench.img2img_curve import nearest_real_ssim  # noqa: E402
from bench.img2img_edits import load_or_train  # noqa: E402
from fromnoise.data import load_dataset  # noqa: E402
from fromnoise.io import write_json, write_text  # noqa: E402
from fromnoise.sampling import generate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------------------------ masks and scores
def centre_mask(n: int, size: int) -> torch.Tensor:
    """(n, 1, size, size): the central half-side square (14x14 of 28x28) to regenerate."""
    m = torch.zeros(n, 1, size, size)
    q = size // 4
    m[..., q:size - q, q:size - q] = 1
    return m


def half_mask(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 1, size, size): a random half (left, right, top or bottom) of each image to regenerate."""
    g = torch.Generator().manual_seed(seed)
    m = torch.zeros(n, 1, size, size)
    h = size // 2
    for i, side in enumerate(torch.randint(0, 4, (n,), generator=g).tolist()):
        region = [(slice(None), slice(0, h)), (slice(None), slice(h, None)),
                  (slice(0, h), slice(None)), (slice(h, None), slice(None))][side]
        m[i, 0][region] = 1
    return m


def masked_scores(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict:
    """Mean PSNR (dB) and SSIM over the masked pixels of (N, C, H, W) images in [0, 1] (all channels)."""
    from skimage.metrics import structural_similarity

    psnr, ssim = [], []
    for p, t, m in zip(pred.permute(0, 2, 3, 1).numpy(), truth.permute(0, 2, 3, 1).numpy(),
                       mask[:, 0].numpy().astype(bool)):
        mse = float(((p - t)[m] ** 2).mean())
        psnr.append(10 * np.log10(1 / max(mse, 1e-10)))
        _, smap = structural_similarity(t, p, data_range=1.0, full=True, channel_axis=-1)
        ssim.append(float(smap[m].mean()))
    return {"psnr_db": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


def kid(features, a: torch.Tensor, b_features: np.ndarray) -> dict:
    from fromnoise.data.transforms import unit_to_uint8
    from fromnoise.evaluation.fid import kid_from_features

    mean, std = kid_from_features(features(unit_to_uint8(a), progress=False), b_features, subset_size=min(len(a), 1000))
    return {"kid": mean, "kid_std": std}


# ------------------------------------------------------------------------------------------ options
def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0, help="training CPU-minutes (ignored with --run)")
    p.add_argument("--run", default=None, help="a trained class-conditional Fashion-MNIST run to use; a folder that "
                   "does not exist yet is trained for --minutes first (bench/cache/img2img_fashion)")
    p.add_argument("--num", type=int, default=200, help="held-out images per measurement")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--sampler", default="dpmpp_2m_sde")
    p.add_argument("--resample", type=int, default=5, help="RePaint's resample count")
    p.add_argument("--jump-length", type=int, default=5, help="RePaint's jump length (grid points)")
    p.add_argument("--strength", type=float, default=0.7, help="editing strength")
    p.add_argument("--kid", action="store_true", help="also the KID (Inception: ~0.55 s per image per core)")
    p.add_argument("--emoji-run", default=None, help="a features + mask run of bench_features.py (part 3)")
    p.add_argument("--emoji-data", default=None, help="its emoji folder (the held-out split is bench_features')")
    p.add_argument("--holdout", type=int, default=128, help="bench_features' held-out count")
    p.add_argument("--skip-edit", action="store_true", help="skip part 2 (its classifier trains ~10 min on first use)")
    p.add_argument("--only-edit", action="store_true",
                   help="run part 2 alone and update it in the existing img2img.json (the other parts are kept)")
    p.add_argument("--curve", action="store_true", help="only the success-vs-SSIM sweep of class edits (issue 26)")
    p.add_argument("--masked", action="store_true", help="only the masked class edits (issue 26)")
    p.add_argument("--text-run", default=None, help="the --curve sweep for a text model (prompts naming the classes): "
                   "this run, trained for --minutes first if the folder does not exist")
    p.add_argument("--edits-report", action="store_true", help="only redraw the curve and rewrite img2img_edits.md")
    p.add_argument("--methods", type=lambda t: t.split(","), default="sdedit,invert", help="--curve's methods")
    p.add_argument("--add", action="store_true", help="add --curve's settings to those already in its JSON")
    p.add_argument("--curve-steps", type=int, default=25, help="sampler steps of --curve and --masked")
    p.add_argument("--strengths", type=floats, default="0.3,0.5,0.7,0.85,1.0", help="--curve's strengths")
    p.add_argument("--guidances", type=floats, default="1,3,6,10", help="--curve's guidance scales")
    p.add_argument("--masked-strengths", type=floats, default="0.5,0.7,0.85,1.0", help="--masked's strengths")
    p.add_argument("--masked-guidance", type=float, default=3.0, help="--masked's guidance")
    p.add_argument("--docs-images", default=str(RESULTS.parents[1] / "docs" / "images"),
                   help="where --curve and --masked also write their figures (tutorial 07)")
    p.add_argument("--out", default=str(RESULTS), help="folder for img2img.{json,md} and the pictures")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.time()
    results: dict = {"settings": {k: v for k, v in vars(a).items()}, "load_avg_before": load_before}

    if a.curve or a.masked or a.text_run or a.edits_report:
        from bench.img2img_edits import edits

        return edits(a, out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        model, facts = load_or_train(a.run, a.minutes, tmp)
    results["train"] = facts
    print("model:", facts, flush=True)

    test = load_dataset("fashion-mnist", train=False)
    n = min(a.num, len(test))
    truth = test.images[:n].float() / 255
    labels = test.labels[:n]
    common = {"sampler": a.sampler, "steps": a.steps, "seed": 1, "batch_size": 250}

    if a.only_edit:  # part 2 again, the rest of the last full run kept
        results = {**json.loads((out_dir / "img2img.json").read_text()),
                   "editing": editing(model, truth, labels, a, common, out_dir),
                   "editing_run": {"train": facts, "load_avg_before": load_before, "load_avg_after": os.getloadavg()}}
        write_json(out_dir / "img2img.json", results)
        write_text(out_dir / "img2img.md", report(results))
        return print(f"wrote {out_dir / 'img2img.md'}")
    # 1. inpainting
    results["inpainting"], results["kid"] = inpainting(model, truth, a, common, out_dir, "fashion")

    # 2. editing towards another class at strength a.strength
    results["editing"] = "not measured (--skip-edit)" if a.skip_edit else editing(model, truth, labels, a, common,
                                                                                   out_dir)

    # 3. emoji: inpainting under the null condition, and mask-guided generation
    if a.emoji_run:
        results["emoji"] = emoji(a, common, out_dir)
    else:
        results["emoji"] = "not measured (no --emoji-run)"
    results["load_avg_after"] = os.getloadavg()
    results["machine"] = machine()
    results["seconds"] = round(time.time() - started, 1)
    write_json(out_dir / "img2img.json", results)
    write_text(out_dir / "img2img.md", report(results))
    print(f"wrote {out_dir / 'img2img.md'}")


# (name, generate() keywords besides init/strength/condition; "SRC" is replaced by the input's own class)
EDIT_METHODS = [
    ("SDEdit, guidance 1", {}),
    ("SDEdit, guidance 3", {"guidance": 3.0}),
    ("SDEdit, guidance 3 away from the input's class", {"guidance": 3.0, "negative": "SRC"}),
    ("inverted under its class, DDIM, guidance 5 away from it", {"sampler": "ddim", "invert": True, "source": "SRC",
                                                                  "negative": "SRC", "guidance": 5.0}),
    ("inverted under its class, DDIM, guidance 10", {"sampler": "ddim", "invert": True, "source": "SRC",
                                                      "guidance": 10.0}),
]


def editing(model, truth, labels, a, common, out_dir) -> dict:
    """Each held-out image asked for another class at ``a.strength`` by every method of ``EDIT_METHODS``:
    the share the classifier assigns to the new class and the SSIM to the input (whole image)."""
    from skimage.metrics import structural_similarity

    from fromnoise.viz import save_grid

    n = len(truth)
    classifier, cfacts = load_classifier("fashion-mnist")
    target = (labels + 1 + torch.arange(n) % 9) % 10  # another class for every image
    result = {"strength": a.strength,
              "inputs_already_new_class": float((predict(classifier, truth) == target).float().mean()),
              "inputs_classified_as_truth": float((predict(classifier, truth) == labels).float().mean()),
              "classifier_held_out_accuracy": cfacts["held_out_accuracy"], "methods": {}}
    shown = [truth[:10]]
    for name, opts in EDIT_METHODS:
        opts = {k: {"labels": labels} if v == "SRC" else v for k, v in opts.items()}
        t0 = time.time()
        edited = generate(model, n, init=truth, strength=a.strength, condition={"labels": target}, **{**common, **opts})
        ssim = [structural_similarity(t, e, data_range=1.0) for t, e in zip(truth[:, 0].numpy(), edited[:, 0].numpy())]
        result["methods"][name] = {"to_new_class": float((predict(classifier, edited) == target).float().mean()),
                                   "ssim_to_input": float(np.mean(ssim)), "seconds": round(time.time() - t0, 1)}
        print("editing", name, result["methods"][name], flush=True)
        shown.append(edited[:10])
    result["nearest_real_image_ssim"] = nearest_real_ssim(truth, target)
    print("editing: nearest real image of the new class, SSIM", result["nearest_real_image_ssim"], flush=True)
    save_grid(torch.cat(shown), out_dir / "img2img_edit.png", nrow=10)
    return result


def edit_rows(e) -> list[str]:
    if not isinstance(e, dict) or "methods" not in e:
        return [str(e)]
    rows = [f"Strength {e['strength']}; the bench classifier "
            f"({100 * e['classifier_held_out_accuracy']:.1f}% on held-out images) already calls "
            f"{100 * e['inputs_already_new_class']:.0f}% of the inputs the new class.", "",
            "| method | to the new class | SSIM to the input |", "|---|---|---|"]
    rows += [f"| {k} | {100 * v['to_new_class']:.0f}% | {v['ssim_to_input']:.3f} |" for k, v in e["methods"].items()]
    rows += ["", f"The nearest of 150 real training images of the new class has SSIM "
             f"{e['nearest_real_image_ssim']:.3f} to the input on average: a class edit that keeps SSIM >= 0.5 "
             "keeps more of the old garment than a real image of the new class does."]
    return rows


def inpainting(model, truth, a, common, out_dir, name) -> tuple[dict, dict | None]:
    """Centre and random-half masks, plain replacement vs RePaint: masked PSNR/SSIM and (``--kid``) KID."""
    from fromnoise.viz import save_grid

    n, size = len(truth), truth.shape[-1]
    scores, outputs = {}, {}
    for mask_name, mask in (("centre", centre_mask(n, size)), ("half", half_mask(n, size))):
        for method, opts in (("replace", {"resample": 1}),
                             ("repaint", {"resample": a.resample, "jump_length": a.jump_length})):
            t0 = time.time()
            out = generate(model, n, init=truth, mask=mask, **opts, **common)
            outputs[(mask_name, method)] = out
            scores[f"{mask_name}/{method}"] = {**masked_scores(out, truth, mask), "seconds": round(time.time() - t0, 1)}
            print(name, mask_name, method, scores[f"{mask_name}/{method}"], flush=True)
        show = torch.cat([truth[:8] * (1 - mask[:8]) + 0.5 * mask[:8], outputs[(mask_name, "replace")][:8],
                          outputs[(mask_name, "repaint")][:8], truth[:8]])
        save_grid(show, out_dir / f"img2img_{name}_inpaint_{mask_name}.png", nrow=8)
    if not a.kid:
        return scores, None
    from fromnoise.evaluation.inception import InceptionFeatures

    features = InceptionFeatures()
    real = features((truth * 255).round().to(torch.uint8), progress=False)
    kids = {"unmasked samples": kid(features, generate(model, n, **common), real)}
    for (mask_name, method), out in outputs.items():
        kids[f"{mask_name}/{method}"] = kid(features, out, real)
    print(name, "kid", kids, flush=True)
    return scores, kids


def emoji(a, common, out_dir) -> dict:
    """Held-out emoji of bench_features' split: inpainting under the null condition, and the share of
    generated object pixels outside each held-out image's silhouette when it (and its features) is asked for."""
    import fromnoise
    from bench.bench_features import split
    from fromnoise.evaluation.fidelity import held_out_targets, measure_normalised, outside_share

    model = fromnoise.load(a.emoji_run)
    c, size = model.image_shape[0], model.image_shape[-1]
    _, held = split(load_dataset(a.emoji_data, image_size=size, channels=c), a.holdout)
    n = min(a.num, len(held))
    truth = held.images[:n].float() / 255
    scores, kids = inpainting(model, truth, a, common, out_dir, "emoji")
    targets, masks = held_out_targets(model, held.images[:n])
    if masks is None:
        return {"inpainting": scores, "kid": kids, "silhouette": "not measured (the model has no mask channel)"}
    out = {}
    for label, cond in (("mask only", {"mask": masks}),
                        ("mask + features", {"mask": masks, "features": torch.from_numpy(targets).float()})):
        images = generate(model, n, condition=cond, **common)
        _, got = measure_normalised(model, images)
        out[label] = outside_share(masks.numpy(), got)
        print("emoji silhouette", label, out[label], flush=True)
    from fromnoise.viz import save_grid

    save_grid(torch.cat([masks[:8].expand(-1, c, -1, -1), images[:8], truth[:8]]), out_dir / "img2img_emoji_mask.png",
              nrow=8)
    return {"images": n, "step": model.step, "inpainting": scores, "kid": kids,
            "silhouette_outside_share": out}


def report(r: dict) -> str:
    s = r["settings"]
    lines = ["# Image-to-image (issue 15)", "",
             f"Model: class-conditional `fashion` preset, {r['train']}. Sampler {s['sampler']} x{s['steps']}, "
             f"{s['num']} held-out Fashion-MNIST images, {s['threads']} thread(s), load average before "
             f"{r['load_avg_before'][0]:.1f}, after {r['load_avg_after'][0]:.1f}.", "",
             "## Inpainting (masked region against the truth)", "",
             f"RePaint: resample {s['resample']}, jump length {s['jump_length']}.", "",
             "| mask | method | PSNR (dB) | SSIM | KID | seconds |", "|---|---|---|---|---|---|"]

    def inpaint_rows(scores, kids):
        rows = []
        for key, v in scores.items():
            m, meth = key.split("/")
            k = f"{kids[key]['kid']:.4f} ± {kids[key]['kid_std']:.4f}" if kids else "-"
            rows.append(f"| {m} | {meth} | {v['psnr_db']:.2f} | {v['ssim']:.3f} | {k} | {v['seconds']} |")
        if kids:
            u = kids["unmasked samples"]
            rows.append(f"| none | the model's own samples | | | {u['kid']:.4f} ± {u['kid_std']:.4f} | |")
        return rows

    lines += inpaint_rows(r["inpainting"], r.get("kid"))
    lines += ["", "## Editing towards another class", "", *edit_rows(r["editing"]), "",
              "## Emoji: inpainting (null condition) and mask-guided generation", ""]
    e = r["emoji"]
    if isinstance(e, dict):
        lines += [f"Features + mask model at step {e['step']}, {e['images']} held-out emoji.", "",
                  "| mask | method | PSNR (dB) | SSIM | KID | seconds |", "|---|---|---|---|---|---|",
                  *inpaint_rows(e["inpainting"], e["kid"]), "",
                  "Generated object pixels outside the requested silhouette: " + ", ".join(
                      f"{k} {100 * v:.2f}%" for k, v in e["silhouette_outside_share"].items()) + "."]
    else:
        lines.append(str(e))
    lines += ["", "Pictures: `img2img_{fashion,emoji}_inpaint_{centre,half}.png` (rows: masked input, replacement, "
              "RePaint, truth), `img2img_edit.png` (inputs, then their edits), `img2img_emoji_mask.png` (masks, "
              "generated, held-out originals)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
