"""Edits that keep what they should (issue 26): the driver of ``bench/bench_img2img.py --curve --masked --text-run``.

The models (:func:`load_or_train`: a run folder, trained there for ``--minutes`` of CPU time when missing), the
parts (:mod:`bench.img2img_curve`, :mod:`bench.img2img_masked`) and ``img2img_edits.md``, which
``bench/run_all.py`` includes in the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.img2img_curve import GOAL_SHARE, GOAL_SSIM, curve, plot_curve
from bench.img2img_masked import masked
from fromnoise.data import load_dataset
from fromnoise.io import write_text


def train_model(minutes: float, out: Path, kind: str = "class"):
    """The ``kind``-conditional (class or text) fashion preset on Fashion-MNIST for ``minutes`` of CPU time
    (bench_conditional's recipe)."""
    from bench.bench_conditional import train

    model, facts = train("fashion-mnist", kind, minutes, out)
    facts["minutes"] = minutes
    return model.eval(), facts


def load_or_train(run: str | None, minutes: float, tmp: str, kind: str = "class"):
    """(model, facts): the run at ``run``, or one trained for ``minutes`` into it (or a temporary folder)."""
    if run and Path(run).exists():
        import fromnoise

        model = fromnoise.load(run)
        return model, {"run": run, "condition": kind, "step": getattr(model, "step", None)}
    model, facts = train_model(minutes, Path(run) if run else Path(tmp) / "run", kind)
    return model, {**facts, "run": run, "condition": kind}


def edits(a, out_dir: Path) -> None:
    """Issue 26 alone (bench/img2img_curve.py, bench/img2img_masked.py): the curve of class edits, masked edits, the
    curve of a text model; then the figure and img2img_edits.md from the JSON present."""
    if (a.curve or a.masked) and not a.run:
        raise SystemExit("--curve and --masked need --run DIR: a class-conditional run (trained there for --minutes "
                         "when the folder does not exist), e.g. bench/cache/img2img_fashion")
    test = load_dataset("fashion-mnist", train=False)
    truth, labels = test.images[:a.num].float() / 255, test.labels[:a.num]
    if a.curve or a.masked:
        model, facts = load_or_train(a.run, a.minutes, "", "class")
        if a.curve:
            curve(model, truth, labels, a, out_dir, "class", facts)
        if a.masked:
            masked(model, truth, labels, a, out_dir, facts)
    if a.text_run:
        model, facts = load_or_train(a.text_run, a.minutes, "", "text")
        curve(model, truth, labels, a, out_dir, "text", facts)
    plot_curve(out_dir, [out_dir / "img2img_curve.png", Path(a.docs_images) / "img2img_curve.png"])
    write_text(out_dir / "img2img_edits.md", edits_report(out_dir))
    print(f"wrote {out_dir / 'img2img_edits.md'}")


def model_line(m: dict | None) -> str:
    """The model's run, condition and training in a few words."""
    m = m or {}
    keys = ("run", "condition", "minutes", "steps", "step", "epochs", "trained")
    return ", ".join(f"{k} {m[k]}" for k in keys if m.get(k) is not None) or "not recorded"


def curve_rows(r: dict, what: str) -> list[str]:
    """The markdown section of one curve JSON."""
    lines = [f"## {what}: the new class against SSIM to the input", "", f"Model: {model_line(r.get('model'))}.",
             f"{r['images']} held-out images ({r['pairs_covered']} of the 90 source -> new class pairs), "
             f"{r['steps']} steps (SDEdit: {r['sdedit_sampler']}; inversion: ddim), seed {r['seed']}. "
             f"Nearest real image of the new class: mean SSIM **{r['nearest_real_image_ssim']:.3f}**; "
             f"{100 * r['inputs_already_new_class']:.1f}% of the inputs are already called the new class. "
             f"{'' if r['complete'] else 'Cut off: a partial sweep.'}", "",
             "| method | strength | guidance | new class (95% CI) | SSIM to input | front | CPU s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {p['method']} | {p['strength']:g} | {p['guidance']:g} | {pct(p)} | "
              f"{p['ssim_to_input']:.3f} | {'yes' if p.get('on_front') else ''} | {p['cpu_s']} |" for p in r["points"]]
    c = r.get("chosen")
    if c:
        lines += ["", f"Goal (>= {100 * GOAL_SHARE:.0f}% at SSIM >= {GOAL_SSIM}): "
                  f"{'met' if c['goal_met'] else 'not met'}; "
                  f"{'best setting meeting it' if c['goal_met'] else 'best trade-off'}: {c['method']}, strength "
                  f"{c['strength']:g}, guidance {c['guidance']:g}: {100 * c['to_new_class']:.0f}% at SSIM "
                  f"{c['ssim_to_input']:.3f}."]
    return lines + [""]


def pct(p: dict) -> str:
    lo, hi = p["to_new_class_95"]
    return f"{100 * p['to_new_class']:.0f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def edits_report(out_dir: Path) -> str:
    """``img2img_edits.md`` from the curve and masked JSON present (run_all.py includes it in the report)."""
    lines = ["# Edits that keep what they should (issue 26)", ""]
    for name, what in (("img2img_curve", "Class edits"), ("img2img_curve_text", "Text edits (prompts)")):
        if (out_dir / f"{name}.json").is_file():
            lines += curve_rows(json.loads((out_dir / f"{name}.json").read_text()), what)
    if (out_dir / "img2img_curve.json").is_file():
        lines += ["Figures: `img2img_curve.png` (the curve), `img2img_curve_examples.png` (inputs, then the chosen "
                  "setting by SDEdit and by inversion).", ""]
    path = out_dir / "img2img_masked.json"
    if path.is_file():
        r = json.loads(path.read_text())
        lines += ["## Masked class edits (`--inpaint IMG --mask M --class NEW --strength S`)", "",
                  f"Model: {model_line(r.get('model'))}. {r['images']} held-out images, {r['sampler']} "
                  f"x{r['steps']}, guidance {r['guidance']:g}, feather {r['feather']:g} px. Outside SSIM: each "
                  "image's SSIM map averaged over the kept pixels (they are exact; windows at the seam see new "
                  "pixels).", "",
                  "| mask | strength | new class (95% CI) | SSIM outside | images >= 0.95 outside | "
                  "max change outside | whole SSIM | CPU s |", "|---|---|---|---|---|---|---|---|"]
        for name, rows in r["masks"].items():
            lines += [f"| {name} | {q['strength']:g} | {pct(q)} | {q['ssim_outside']:.3f} | "
                      f"{100 * q['share_ssim_outside_ge_0.95']:.0f}% | {q['max_change_outside']:.0e} | "
                      f"{q['ssim_whole']:.3f} | {q['cpu_s']} |" for q in rows]
        lines += ["", "Figure: `img2img_masked.png`.", ""]
    return "\n".join(lines) + "\n"
