"""Run every benchmark under bench/ and assemble bench/results/report.md (tables + plots).

    python bench/run_all.py                   # full budgets (hours on a 2-core CPU)
    python bench/run_all.py --quick           # a smoke version: minutes, tiny N
    python bench/run_all.py --report-only     # rebuild the report from the JSON already there

Order: zero point (caches the reference features the others reuse), engine speed and efficiency,
memory, quality (trains the model that samplers then evaluates), samplers. Each script also runs
on its own and writes bench/results/<name>.json; the report states every budget, N and the load
average that the JSON files record. The conditional-generation and feature-fidelity benchmarks
(bench_conditional.py, bench_features.py) train their own models and run on their own; their
markdown reports are included when present.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import report_flagship, report_wave  # noqa: E402 (the wave's sections, beside this file)
from bench.report_common import RESULTS, load_result  # noqa: E402


def plan(args) -> list[tuple[str, list[str]]]:
    """(script, arguments) for each benchmark at the chosen budgets."""
    n = str(args.samples)
    return [("bench_zero_point.py", ["--samples", n]),
            ("bench_engine.py", ["--steps", "3" if args.quick else "10"]),
            ("bench_memory.py", ["--steps", "2" if args.quick else "3"]),
            ("bench_quality.py", ["--minutes", str(args.minutes), "--samples", n,
                                  "--gpu-peer-samples", str(min(args.samples, args.gpu_peer_samples))]),
            ("bench_samplers.py", ["--samples", str(args.sampler_samples or args.samples),
                                   *(["--settings", "ddpm:100,dpmpp_2m:10,dpmpp_2m:20"] if args.quick else [])])]


def fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}f}" if abs(x) < 100 else f"{x:,.1f}"
    return str(x)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A markdown table of ``rows`` with (key, heading) ``columns``."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def load_note(res: dict) -> str:
    before, after = res.get("load_avg_before"), res.get("load_avg_after")
    machine = res.get("machine", {})
    la = before or machine.get("load_avg")
    text = f"load average (1/5/15 min) {', '.join(f'{v:.1f}' for v in la)}" if la else ""
    if after:
        text += f" before, {', '.join(f'{v:.1f}' for v in after)} after"
    return f"_{res.get('time', '')}; {machine.get('cpu_count', '?')} CPUs; {text}._"


def bar_plot(path: Path, labels: list[str], values: list[float], ylabel: str, title: str, log: bool = False) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(labels, values, color="tab:blue")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log and all(v > 0 for v in values):
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![{title}]({path.name})"


def sampler_plot(path: Path, rows: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for key, ax in zip(("fid", "kid"), axes):
        for sampler in dict.fromkeys(r["sampler"] for r in rows):
            pts = sorted((r["steps"], r[key]) for r in rows if r["sampler"] == sampler and r.get(key) is not None)
            ax.plot(*zip(*pts), marker="o", label=sampler)
        ax.set_xscale("log")
        ax.set_xlabel("network evaluations")
        ax.set_ylabel(key.upper())
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![FID and KID against NFE]({path.name})"


def latent_section() -> list[str]:
    """Issue 13's figures: the autoencoders' reconstruction, latent vs pixel speed, and the latent and
    pixel-space models after the same CPU budget on Debian's clip art at 256x256."""
    out = []
    aes = [(f, load_result(f"autoencoder_f{f}")) for f in (4, 8)]
    aes = [(f, r["results"][f"factor_{f}"], r) for f, r in aes if r]
    if aes:
        out += ["## Latent diffusion at 256x256: the autoencoders (bench_autoencoder.py, issue 13)", "",
                load_note(aes[0][2]), "",
                "Trained from scratch on the clip art's training split (RGBA on white; alpha is the object mask), "
                "one thread, `--clock cpu`; reconstruction of the held-out split (posterior mode).", "",
                "| factor | latent | params | CPU-min | steps | images seen | PSNR (dB) | goal | SSIM | mask PSNR | "
                "encode s/img | decode s/img |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for f, r, _ in aes:
            side = 256 // f
            out.append(f"| {f} | 4x{side}x{side} | {r['parameters']:,} | {fmt(r.get('train_cpu_minutes_this_run'), 1)} "
                       f"| {r['steps']:,} | {r['images_seen']:,} | {r['psnr_rgb']:.2f} | {r['goal_psnr_rgb']} | "
                       f"{r['ssim_rgb']:.3f} | {fmt(r['psnr_mask'], 2)} | {r['encode_s_per_image']:.3f} | "
                       f"{r['decode_s_per_image']:.3f} |")
        out.append("")
    sp = load_result("latent_speed")
    if sp:
        r = sp["results"]
        out += ["## Latent against pixel-space diffusion at 256x256 (bench_latent.py, issue 13)", "", load_note(sp), "",
                f"Training (forward + backward + AdamW, features + mask conditioned, median step): `youandme-latent` "
                f"{r['train_latent']['images_per_s']:.2f} images/s (batch {r['train_latent']['batch']}, "
                f"{r['train_latent']['parameters'] / 1e6:.2f}M parameters) against pixel-space `youandme` "
                f"{r['train_pixel']['images_per_s']:.3f} images/s ({r['train_pixel']['parameters'] / 1e6:.1f}M): "
                f"**{r['latent_vs_pixel_speedup']:.0f}x** (goal >= {r['goal_speedup']}x). Sampling: "
                f"{r['sample_latent']['seconds_per_image']:.2f} s per 256x256 image at 20 NFE including "
                f"{r['sample_latent']['decode_seconds_per_image']:.2f} s of decoding (goal <= 1.5 s), peak RSS "
                f"{r['sample_latent']['peak_rss_mb']:.0f} MB.", ""]
    lq, pq = load_result("latent_quality"), load_result("latent_pixel")
    if lq or pq:
        out += ["### After the same CPU budget on the clip art", "", load_note(lq or pq), "",
                "Conditioned on the held-out images' 32 features and masks; KID of the colour (composited on white) "
                "against the held-out images; mask spill = generated object pixels (alpha > 0.5) outside the "
                "requested mask (goal < 3%).", "",
                "| model | CPU-min (60 of them training) | steps | N | NFE | KID | mask spill |",
                "|---|---|---|---|---|---|---|"]
        if lq:
            q = lq["results"]["quality"]
            out.append(f"| youandme-latent (factor 4) | {q['latent_cpu_minutes']:.1f} (+ the autoencoder's) | "
                       f"{q['latent_steps']:,} | {q['n_generated']} | 20 | {q['kid']:.4f} ± {q['kid_std']:.4f} | "
                       f"{100 * q['mask_outside_share']:.1f}% |")
        if pq:
            q = pq["results"]["pixel_quality"]
            out.append(f"| youandme (pixel space) | {q['cpu_minutes']:.1f} | {q['steps']:,} | {q['n_generated']} | "
                       f"{q['nfe']} | {q['kid']:.4f} ± {q['kid_std']:.4f} | {100 * q['mask_outside_share']:.1f}% |")
        out.append("")
        if lq:
            groups = lq["results"]["quality"]["fidelity_groups"]
            cols = sorted({k for g in groups.values() for k in g})
            out += ["Feature fidelity of the latent model (requested vs re-measured on the generated images, by "
                    "group; goals: colour r >= 0.9, lighting and material >= 0.8, shape >= 0.8, topology >= 0.7):", "",
                    "| group | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            for g, row in groups.items():
                out.append(f"| {g} | " + " | ".join(fmt(row.get(c), 3) for c in cols) + " |")
            out.append("")
    return out


def report() -> Path:
    """Write bench/results/report.md from the JSON results present."""
    out = ["# fromnoise benchmarks", "", "Generated by `bench/run_all.py` from the JSON files beside this report. "
           "The machine is shared with other jobs; each section records the load average it ran under.", ""]
    zp = load_result("zero_point")
    if zp:
        out += ["## Zero point: Fashion-MNIST train vs test images", "", load_note(zp), "",
                table([zp], [("n", "N per side"), ("kid", "KID"), ("kid_std", "KID std"), ("fid", "FID")]),
                "", "The floor for every KID/FID below at the same N (FID is biased upwards below N = 2,048).", ""]
    eng = load_result("engine")
    if eng:
        out += ["## Training efficiency (engine)", "", load_note(eng), "",
                f"conv2d 3x3 forward+backward peak: {eng['conv_peak_gflops']:.1f} GFLOP/s; batch {eng['batch']}. "
                "Goal: a training step at >= 60% of that peak.", "",
                table(eng["rows"], [("model", "model"), ("params", "params"), ("images_per_s", "images/s"),
                                    ("gflop_per_image", "GFLOP/image"), ("achieved_gflops", "GFLOP/s"),
                                    ("share_of_peak", "share of peak")]), "",
                bar_plot(RESULTS / "engine.png", [r["model"][:24] for r in eng["rows"]],
                         [100 * r["share_of_peak"] for r in eng["rows"]], "% of conv peak", "training-step efficiency"),
                ""]
    mem = load_result("memory")
    if mem:
        ok = [r for r in mem["rows"] if "error" not in r]
        out += ["## Peak memory of training each preset", "", load_note(mem), "",
                "A few training steps per preset (column `steps`) in its own process, default batch size, "
                "synthetic images, one thread.", "",
                table(mem["rows"], [("preset", "preset"), ("steps", "steps"), ("batch_size", "batch"),
                                    ("image_size", "px"), ("params", "params"), ("rss_before_mib", "RSS before (MiB)"),
                                    ("peak_rss_mib", "peak RSS (MiB)"), ("training_mib", "training (MiB)"),
                                    ("seconds_per_step", "s/step")]), ""]
        if ok:
            out += [bar_plot(RESULTS / "memory.png", [r["preset"] for r in ok], [r["peak_rss_mib"] for r in ok],
                             "peak RSS (MiB)", "peak RSS while training"), ""]
    q = load_result("quality")
    if q:
        out += ["## Quality per CPU-minute: fromnoise vs the diffusers peer", "", load_note(q), "",
                f"Each contender trained for {q['minutes']} min of "
                f"{'its own CPU time' if q.get('clock') == 'cpu' else 'wall-clock time'}, all at once with "
                f"{q['threads_per_contender']} thread each; then {q['n']:,} samples at {q['nfe']} NFE, scored against "
                f"{q['n']:,} Fashion-MNIST test images.", "",
                table(q["rows"], [("contender", "contender"), ("params", "params"), ("steps", "steps"),
                                  ("images_per_s", "train images/s"), ("n", "N"), ("kid", "KID"),
                                  ("kid_std", "KID std"),
                                  ("fid", "FID")]), "",
                *([f"Note: {q['note']}", ""] if q.get("note") else []),
                "Goals (KID <= 0.02; KID <= 0.1x the GPU-sized peer's): "
                + ", ".join(f"{k}: {fmt(v)}" for k, v in q["goals"].items()), "",
                bar_plot(RESULTS / "quality.png", [r["contender"] for r in q["rows"]],
                         [max(r["kid"], 1e-6) for r in q["rows"]], "KID (log)",
                         f"KID after equal {'CPU time' if q.get('clock') == 'cpu' else 'wall-clock'}", log=True),
                ""]
    ab = load_result("ablation")
    if ab:
        out += ["## The training recipe, one ingredient at a time (bench_ablation.py, issue 17)", "", load_note(ab), "",
                f"The `fashion` preset on Fashion-MNIST; each row adds its change to the rows above and trains "
                f"{ab['cpu_minutes']} CPU-minutes on {ab['threads_per_row']} thread (`--clock cpu`), all rows at once; "
                f"then {ab['n']:,} samples at {ab['nfe']} NFE ({ab['sampler']}), scored against {ab['n']:,} test "
                "images. The new default of the CPU presets is the `lognormal` row (log-normal noise levels and "
                "cosine decay, without min-SNR).", "", ab["table"], "",
                "Before (`today`) and after (`lognormal`): `ablation_today.png`, `ablation_lognormal.png` "
                "(the first 64 samples of each).", ""]
    waves = [  # later waves of single changes on the new recipe: (results, title, text)
        ("ablation_n2000", "The old and the new recipe rescored at N = 2,000",
         lambda w: f"The `today` and `lognormal` rows of the run above, their samples scored again at N = {w['n']:,} "
                   "(`bench_ablation.py --score-only --rows today,lognormal --results ablation_n2000`)."),
        ("ablation_wave2", "More single changes on the new recipe",
         lambda w: f"Each row is the `lognormal` recipe plus one change, {w['cpu_minutes']} CPU-minutes, N = {w['n']} "
                   "(the `lognormal` row itself scored 0.0351 at this N in the first run). None beat it, so none is "
                   "a default."),
        ("ablation_wave3", "EDM2's learned loss weighting and the network's width on the new recipe",
         lambda w: f"Each row is the `lognormal` recipe plus one change, {w['cpu_minutes']} CPU-minutes, N = {w['n']}, "
                   "all in one run with the `lognormal` row itself (this run's machine was less loaded than the "
                   "earlier ones', so every row took ~45% more steps: compare within a table, not across). The "
                   "learned weighting is level with the recipe (within one KID std); the slimmer network's extra "
                   "steps do not make up for its width, and the wider one gets too few."),
        ("ablation_wave4", "EDM2's power-function EMA on the new recipe",
         lambda w: "The `lognormal` recipe (EMA decay 0.999 with warm-up) against the power-function EMA "
                   f"(`--ema-std`), {w['cpu_minutes']} CPU-minutes, N = {w['n']}, in one run (the test suite ran "
                   "beside it, load ~4: fewer steps than wave 3). Both widths beat the classic EMA, sigma_rel 0.05 "
                   "by 0.0037 KID (1.8 of its std): a candidate default, to confirm at N = 2,000."),
        ("ablation_wave5", "The power-function EMA confirmed at N = 2,000, and post-hoc EMA widths",
         lambda w: f"The `lognormal` recipe against it plus the power EMA (sigma_rel 0.05), {w['cpu_minutes']} "
                   f"CPU-minutes, N = {w['n']:,}, one run on a quiet machine (load 2; this machine does ~2.7x the "
                   "steps per CPU-second of the earlier waves'). The ROW@STD rows are the post-hoc EMA of that run's "
                   "snapshots (N = 600). The power EMA became the CPU presets' default."),
        ("ablation_wave6", "The old recipe beside the new default, and three more changes",
         lambda w: f"{w['cpu_minutes']} CPU-minutes, N = {w['n']:,}, five rows in one run (load ~7). With ~3,100 steps "
                   "the old and new recipes are closer than at ~1,200 steps; none of the three changes beats the "
                   "new default."),
    ]
    for name, title, text in waves:
        wave = load_result(name)
        if wave:
            out += [f"### {title}", "", load_note(wave), "", text(wave), "", wave["table"], ""]
    curve = {m: load_result(f"ablation_{m}min") for m in (5, 60)}
    if ab and all(curve.values()):
        by = {(15, r["row"]): r for r in ab["rows"]}
        for m, res in curve.items():
            by.update({(m, r["row"]): r for r in res["rows"]})
        out += ["### What longer training buys (KID against the test images, N = 600)", "",
                "| recipe | 5 CPU-min | 15 CPU-min | 60 CPU-min |", "|---|---|---|---|"]
        for row, name in (("today", "old (lr constant, uniform t)"), ("lognormal", "new (log-normal t, cosine lr)")):
            cells = [f"{by[(m, row)]['kid']:.4f} ({by[(m, row)]['steps']:,} steps)" if (m, row) in by else "-"
                     for m in (5, 15, 60)]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    sr = load_result("samplers_recipe")
    if sr:
        out += ["## Sampler and step spacing on the new recipe's model (bench_samplers.py)", "", load_note(sr), "",
                f"Model: `{sr['checkpoint']}`; N = {sr['n']:,}. {sr.get('note', '')}", "",
                table(sr["rows"], [("sampler", "sampler"), ("steps", "steps"), ("spacing", "spacing"), ("nfe", "NFE"),
                                   ("kid", "KID"), ("kid_std", "KID std"), ("fid", "FID"),
                                   ("seconds_per_image", "s / image")]), "",
                "Best KID within 10 and 20 NFE: " + ", ".join(
                    f"{nfe}: {r['sampler']} x{r['steps']} {r['spacing']} ({r['kid']:.4f})"
                    for nfe, r in sr["best_kid_within_nfe"].items() if r), ""]
    out += latent_section()
    out += report_flagship.sections() + report_wave.sections()
    for name, title in (("img2img", "Image-to-image (bench_img2img.py, issue 15)"),
                        ("img2img_edits", "Edits that keep what they should (bench_img2img.py --curve --masked, "
                                          "issue 26)"),
                        ("img2img_30min/img2img_edits", "Class edits with a model trained 30 CPU-minutes "
                                                        "(bench_img2img.py --curve, issue 26)")):
        md = RESULTS / f"{name}.md"
        if md.is_file():
            lines = md.read_text().splitlines()[1:]  # its own title dropped, its headings one level down
            if "/" in name:  # its figures sit in its own folder
                folder = name.rsplit("/", 1)[0]
                lines = [line.replace("`img2img_curve", f"`{folder}/img2img_curve") for line in lines]
            out += [f"## {title}", "", *[("#" + line) if line.startswith("#") else line for line in lines], ""]
    s = load_result("samplers")
    if s:
        out += ["## Samplers against 1,000-step DDPM", "", load_note(s), "",
                f"Model: `{s['checkpoint']}`; N = {s['n']:,} samples per setting and reference images; "
                f"baseline {s['baseline']['sampler']} at {s['baseline']['steps']} steps.", "",
                table(s["rows"], [("sampler", "sampler"), ("steps", "NFE"), ("kid", "KID"), ("kid_std", "KID std"),
                                  ("fid", "FID"), ("fid_ratio", "FID / baseline"), ("kid_ratio", "KID / baseline"),
                                  ("seconds_per_image", "s / image")]), "",
                *([f"Note: {s['note']}", ""] if s.get("note") else []),
                "Goals (FID ratio <= 1.3 at 10 NFE, <= 1.1 at 20 NFE; the best fast sampler counts): "
                + ", ".join(f"{k}: " + (f"{v['sampler']} {v['fid_ratio']:.3f}x, {'met' if v['met'] else 'not met'}"
                                        if isinstance(v, dict) else fmt(v)) for k, v in s["goals"].items()), "",
                sampler_plot(RESULTS / "samplers.png", s["rows"]), ""]
    for name, title in (("conditional", "Conditional generation (bench_conditional.py)"),
                        ("features_fidelity", "Feature fidelity (bench_features.py)"),
                        ("by_hand", "Summaries and figures measured outside run_all.py")):
        md = RESULTS / f"{name}.md"
        if md.is_file():  # written by scripts that run on their own (hours of training), not by run_all
            body = [("#" + line) if line.startswith("#") else line for line in md.read_text().splitlines()[1:]]
            out += [f"## {title}", "", *body, ""]
    path = RESULTS / "report.md"
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(out) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget per quality contender")
    ap.add_argument("--samples", type=int, default=2000, help="N for KID/FID (generated and reference)")
    ap.add_argument("--sampler-samples", type=int, default=500,
                    help="N for the sampler benchmark: DDPM-1000 costs 1,000 network evaluations per image "
                         "(about 20 CPU-minutes at 500); ratios at equal N are what it reports")
    ap.add_argument("--gpu-peer-samples", type=int, default=100,
                    help="samples from the GPU-sized peer (13.6 GFLOP per image per step: 2,000 would take a day)")
    ap.add_argument("--quick", action="store_true", help="smoke budgets: 2 minutes, 64 samples, DDPM at 100 steps")
    ap.add_argument("--only", default=None, help="comma-separated script names to run (e.g. bench_engine)")
    ap.add_argument("--report-only", action="store_true", help="only rebuild report.md from existing results")
    args = ap.parse_args()
    if args.quick:
        args.minutes, args.samples = min(args.minutes, 2.0), min(args.samples, 64)
        args.sampler_samples = min(args.sampler_samples, args.samples)
        args.gpu_peer_samples = min(args.gpu_peer_samples, 8)
    if not args.report_only:
        only = set(args.only.split(",")) if args.only else None
        for script, extra in plan(args):
            if only and script.removesuffix(".py") not in only:
                continue
            print(f"=== {script} {' '.join(extra)}", flush=True)
            t0 = time.time()
            code = subprocess.call([sys.executable, str(HERE / script), *extra], cwd=HERE)
            print(f"=== {script}: exit {code} after {time.time() - t0:.0f} s", flush=True)
    report()


if __name__ == "__main__":
    main()
