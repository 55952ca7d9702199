"""Report sections of the flagship wave (issues 24 and 25): latent versus patch, the autoencoder at 5 / 15 / 30
CPU-minutes, its training step's speed, the levers probe, the sliders bench and the memorization calibration.

``bench/run_all.py`` appends :func:`sections` to report.md; each section is skipped when its JSON is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.flagship_versus import GOALS as FLAGSHIP_GOALS

RESULTS = Path(__file__).parent / "results"
WAVE = (("f4_whole", "whole 256x256 images, today's defaults (L1 + SSIM, batch 8, lr 4e-4); 15 CPU-minutes only "
                     "(its first start was killed for memory beside the others, and restarted 15 minutes late)"),
        ("f4_new_noshortcut", "64x64 crops, squared error + 0.25 SSIM, batch 16, lr 1e-3 cosine"),
        ("f4_new", "the same + DC-AE shortcuts"),
        ("f8_new", "64x64 crops, squared error + 0.25 SSIM, batch 16, lr 1e-3 cosine, DC-AE shortcuts"))
# the second round (stop 26): the recipe above with the levers named, each a 30-CPU-minute run of its own
LEVERS_30 = (("stack_f4", "+ the posterior mean in training, AdamW betas (0.9, 0.99), channels_last"),
             ("stack_f8", "+ the posterior mean in training, AdamW betas (0.9, 0.99), channels_last"),
             ("stack_ssim05_f4", "the same with SSIM weight 0.05 instead of 0.25"),
             ("stack_ssim05_f8", "the same with SSIM weight 0.05 instead of 0.25"),
             ("stack_ssim05_c8_f8", "the same with 8 latent channels instead of 4"))


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _note(res: dict) -> str:
    m = res.get("machine", {})
    load = m.get("load_avg")
    return (f"Run {res.get('time', '?')}, {m.get('threads', '?')} thread(s), torch {m.get('torch', '?')}"
            + (f", load average {load[0]:.1f} at the end" if load else "") + ".")


def autoencoder_wave() -> list[str]:
    rows = [(key, what, _load(f"autoencoder_wave_{key}")) for key, what in WAVE]
    rows = [(k, w, r) for k, w, r in rows if r]
    if not rows:
        return []
    out = ["## The autoencoder per CPU-minute: crops and the squared error (bench_autoencoder.py, issue 24)", "",
           _note(rows[0][2]) + " The four contenders ran side by side in one run, each on one thread, budgets in "
           "this process's CPU time (`--clock cpu`); held-out PSNR / SSIM of all 197 held-out 256x256 clip-art "
           "images (posterior mode), measured at 5, 15 and 30 CPU-minutes of one run each (the measuring time is "
           "not counted). Chroma kept: mean |channel - grey| of the reconstructions over the originals'. Goals: "
           ">= 32 dB at factor 4, >= 28 dB at factor 8 within 30 CPU-minutes; the colour round trip r >= 0.98.", ""]
    out += _ae_table(rows)
    second = [(k, w, r) for k, w, r in ((k, w, _load(f"autoencoder_{k}")) for k, w in LEVERS_30) if r]
    if second:
        out += ["### Second round: levers at the full 30 CPU-minutes", "",
                _note(second[0][2]) + " The recipe above with the levers the 400-step probe (below) and the "
                "speed bench pointed at, one run per row, side by side in pairs, one thread each, measured as above "
                "(15 and 30 CPU-minutes).", ""]
        out += _ae_table(second)
    return out


def _ae_table(rows: list) -> list[str]:
    out = ["| factor | training | PSNR (dB) over CPU-minutes | SSIM at the end | steps | chroma kept | "
           "mask PSNR | COLOR r (median, min) | LIGHTING r (median, min) | goal |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for _key, what, res in rows:
        (r,) = res["results"].values()
        curve = r.get("curve", [])
        psnr = (" / ".join(f"{p['psnr_rgb']:.2f}" for p in curve)
                + " (" + " / ".join(f"{p['minutes']:g}" for p in curve) + " min)")
        rt = r.get("feature_round_trip", {})
        c, li = rt.get("color", {}), rt.get("lighting", {})
        goal = r.get("goal_psnr_rgb")
        met = "met" if goal and r["psnr_rgb"] >= goal else "not met"
        out.append(f"| {r['config']['factor']} | {what} | {psnr} | {r['ssim_rgb']:.3f} | {r['steps']:,} | "
                   f"{r.get('chroma_ratio', float('nan')):.2f} | {r['psnr_mask']:.2f} | "
                   f"{c.get('median_r', float('nan')):.3f}, {c.get('min_r', float('nan')):.3f} | "
                   f"{li.get('median_r', float('nan')):.3f}, {li.get('min_r', float('nan')):.3f} | "
                   f"{goal} dB: {met} |")
    out.append("")
    return out


def feature_noise_floor() -> list[str]:
    """The colour round trip of the best autoencoder beside changes that are not an autoencoder's."""
    fl = _load("feature_noise_floor")
    if not fl:
        return []
    rows = dict(fl["rows"])
    best = _load("autoencoder_stack_ssim05_f4")
    if best:
        (r,) = best["results"].values()
        rows[f"the factor-4 recipe's reconstructions ({r['psnr_rgb']:.1f} dB)"] = r["feature_round_trip"]
    names = list(next(iter(rows.values()))["color"]["per_feature_r"])
    out = ["### How closely can the COLOR features follow at all? (bench/feature_noise_floor.py)", "", _note(fl)
           + f" The colour round trip (r between the features of {fl['n_heldout']} held-out originals and of the "
           "changed images, the original's mask for both) for changes that are not an autoencoder's. A feature "
           "below 0.98 under 40 dB noise (invisible) is limited by its own measurement.", "",
           "| change | " + " | ".join(names) + " | LIGHTING median |", "|---" * (len(names) + 2) + "|"]
    for name, rt in rows.items():
        per = rt["color"]["per_feature_r"]
        out.append(f"| {name} | " + " | ".join(f"{per[n]:.3f}" for n in names)
                   + f" | {rt['lighting']['median_r']:.3f} |")
    out.append("")
    return out


def autoencoder_speed() -> list[str]:
    sp = _load("autoencoder_speed")
    if not sp:
        return []
    a = sp["args"]
    out = ["### The autoencoder's training step on this CPU (bench_autoencoder_speed.py)", "", _note(sp),
           f" One step of the objective on {a['batch_size']} crops of {a['crop_size']}x{a['crop_size']}, median "
           f"of {a['steps']} in CPU time; the conv peak (a large 3x3 convolution, forward + backward) measured in the "
           f"same run: {sp['conv_peak_gflops']:.1f} GFLOP/s.", "",
           "| factor | shortcut | channels_last | images/s | GFLOP per step | GFLOP/s | share of the conv peak |",
           "|---|---|---|---|---|---|---|"]
    for r in sp["rows"]:
        out.append(f"| {r['factor']} | {r['shortcut']} | {r['channels_last']} | {r['images_per_s']:.1f} | "
                   f"{r['gflop_per_step']:.1f} | {r['gflop_per_s']:.1f} | {100 * r['share_of_peak']:.0f}% |")
    out.append("")
    return out


def levers() -> list[str]:
    lv = _load("autoencoder_levers")
    if not lv:
        return []
    out = ["### Levers probed first (autoencoder_levers.py)", "", lv["what"], "",
           "| variant | steps | CPU-min | PSNR (dB) | SSIM | mask PSNR | chroma kept |",
           "|---|---|---|---|---|---|---|"]
    for r in lv["rows"]:
        chroma = f"{r['chroma']:.2f}" if r.get("chroma") is not None else "-"
        out.append(f"| {r['name']} | {r['steps']} | {r['cpu_min']:.1f} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                   f"{r['mask']:.2f} | {chroma} |")
    out += ["", f"Finding: {lv['finding']}.", ""]
    return out


def sliders() -> list[str]:
    """The slider tables: the side by side's winner and stop 24's latent model; a smoke run only when neither."""
    names = [n for n in ("sliders_flagship_versus", "sliders_flagship_latent") if (RESULTS / f"{n}.json").is_file()]
    names = names or [n for n in ("sliders", "sliders_smoke") if (RESULTS / f"{n}.json").is_file()][:1]
    if not names:
        return []
    out = []
    for i, name in enumerate(names):
        sl = _load(name)
        s = sl["settings"]
        smoke = ", a smoke run" if name.endswith("smoke") else ""
        run = Path(s.get("run", "?")).name
        settings = ", ".join(f"{k} {v}" for k, v in s.items() if k != "run")
        title = f"## Sliders that do what they say (bench_sliders.py{smoke})" if i == 0 else f"### The same for `{run}`"
        out += [title,
                "", f"Model `{s.get('run', '?')}`; {settings}.",
                "", "| group | features | median rho | median share the right way | features passing | goal | pass |",
                "|---|---|---|---|---|---|---|"]
        for g, r in sl["groups"].items():
            out.append(f"| {g} | {r['features']} | {r['median_rho']:.2f} | {r['median_share_right_way']:.2f} | "
                       f"{r['features_passing']} | {r['goal']} | {r['pass']} |")
        out += ["", f"All 32 features: [{name}.md]({name}.md).", ""]
    return out + colour_sliders_by_guidance()


def colour_sliders_by_guidance() -> list[str]:
    """The COLOR sliders of the flagship on seeded (colourful) held-out objects at several guidance scales."""
    runs = sorted((json.loads(p.read_text()) for p in RESULTS.glob("sliders_flagship_color_g*.json")),
                  key=lambda r: r["settings"]["guidance"])
    if not runs:
        return []
    names = [f["name"] for f in runs[0]["features"]]
    s = runs[0]["settings"]
    out = ["### The colour sliders and guidance", "",
           f"The same model, the 8 COLOR features, {s['objects']} held-out objects drawn with seed 0 "
           f"({', '.join(s.get('object_files', []))}), p10 -> p90 in {s['sweep_steps']} steps, {s['sampler']} x"
           f"{s['steps']}; median rho per feature (pass: >= 0.8):", "",
           "| guidance | " + " | ".join(names) + " | passing |", "|---" * (len(names) + 2) + "|"]
    for r in runs:
        rho = {f["name"]: f for f in r["features"]}
        out.append(f"| {r['settings']['guidance']:g} | " + " | ".join(f"{rho[n]['median_rho']:.2f}" for n in names)
                   + f" | {sum(rho[n]['pass'] for n in names)}/{len(names)} |")
    out.append("")
    return out


def memorization() -> list[str]:
    m = _load("memorization_calibration")
    if not m:
        return []
    c = m["calibration"]
    pts = ", ".join(f"step {p['step']}: {100 * p['memorized_share']:.0f}%" for p in c["points"])
    out = ["## Memorization: calibration (bench_memorization.py, issue 25)", "", _note(m),
           f" `{m['preset']}` on {c['images']} {m['data'].split(',')[0]} images, {c['steps']} steps "
           f"({c['epochs']:.0f} epochs, {c['cpu_minutes']:.2f} CPU-minutes); {m['measure']}. Flagged share over "
           f"training: {pts} (goal: {c['goal']}).", ""]
    d = (_load("memorization_demo") or {}).get("demo")
    if d:
        pts = ", ".join(f"step {p['step']}: {100 * p['memorized_share']:.1f}%" for p in d["points"])
        out += [f"The other end, `make demo`'s model: `{m['preset']}` on all {d['images']:,} images, {d['steps']:,} "
                f"steps ({d['epochs']:.1f} epochs, {d['cpu_minutes']:.1f} CPU-minutes with the measuring). Flagged "
                f"share: {pts} (goal: {d['goal']}).", ""]
    return out


def memorization_effect(*names: str, copier: str | None = None) -> list[str]:
    """The effect of ``--augment`` (and the disjoint halves, when measured) of one bench_memorization run, or of
    its runs side by side in processes of their own (``--runs``, one result file each: the first names the set);
    ``copier``: the result file of the set's ``--runs copier`` (the KID of a model that copied every sample)."""
    parts = [m for m in map(_load, names) if m and "effect" in m]
    if not parts:
        return []
    copied = (_load(copier) or {}).get("effect_copier") if copier else None
    m = parts[0]
    runs = {run: rec for part in parts for run, rec in part["effect"].items()}
    out = [f"### Does augmentation stop the copying? {m['data']} (bench_memorization.py, issue 25)", "",
           _note(m) + f" `{m['preset']}`, every run the same steps ({m['steps_per_cpu_second']} steps per CPU-second "
           f"measured first); {m['measure']}. Goal: `--augment {m['augment']}` at least halves the flagged share at "
           "equal or better KID at the end.", "",
           "| run | step | epochs | flagged share | KID against held-out |", "|---|---|---|---|---|"]
    for run, rec in runs.items():
        for p in rec["points"]:
            epochs = p["step"] * rec["epochs"] / rec["steps"]
            kid = f"{p['kid']:.4f} ± {p['kid_std']:.4f}" if "kid" in p else ""
            out.append(f"| {run} | {p['step']:,} | {epochs:.0f} | {100 * p['memorized_share']:.1f}% | {kid} |")
    out.append("")
    for part in parts[1:]:  # a run measured differently (e.g. trained with flips) says how
        if part["measure"] != m["measure"]:
            out += [f"{', '.join(part['effect'])}: {part['measure']}.", ""]
    ends = {run: rec["points"][-1] for run, rec in runs.items() if rec["points"]}
    if len(ends) == 1:
        ((a, pa),) = ends.items()
        out += [f"Only the {a} run was measured ({runs[a]['epochs']:.0f} epochs, {runs[a]['cpu_minutes']:.1f} "
                f"CPU-minutes): it ended with {100 * pa['memorized_share']:.1f}% of its samples flagged"
                + (", so at this budget there was no copying for augmentation to stop; the comparison needs a "
                   "longer run, and the second run was stopped to give its CPU time to other measurements."
                   if pa["memorized_share"] == 0 else "."), ""]
    if len(ends) >= 2:  # every other run against the first (plain)
        (a, pa), *others = ends.items()
        verdicts = []
        for b, pb in others:
            halved = pb["memorized_share"] <= pa["memorized_share"] / 2
            kid_ok = pb.get("kid", 1) <= pa.get("kid", 0) + pa.get("kid_std", 0)
            verdicts.append(f"{b} {100 * pb['memorized_share']:.1f}% flagged (halved: {'yes' if halved else 'no'}), "
                            f"KID {pb.get('kid', 0):.4f} (equal or better: {'yes' if kid_ok else 'no'}; the goal "
                            + ("met" if halved and kid_ok else "not met") + f"; {runs[b]['cpu_minutes']:.1f} CPU-min)")
        out += [f"At the end, against {a} ({100 * pa['memorized_share']:.1f}% flagged, KID {pa.get('kid', 0):.4f}; "
                f"{runs[a]['cpu_minutes']:.1f} CPU-minutes of training and measuring): " + "; ".join(verdicts) + "."]
        clean = {run: min((p for p in rec["points"] if p["memorized_share"] <= 0.01 and "kid" in p),
                          key=lambda p: p["kid"], default=None) for run, rec in runs.items()}
        out += ["The best KID each run reached while it copied at most 1% of its samples (a copy of a training "
                "image is a real image, so copying lowers KID against held-out images too): "
                + "; ".join(f"{run} {p['kid']:.4f} at step {p['step']:,}" if p else f"{run} none"
                            for run, p in clean.items()) + ".", ""]
    if copied:
        out += [f"A model that copied every sample scores KID {copied['kid']:.4f} ± {copied['kid_std']:.4f} here "
                f"({copied['what']}, `{copier}.json`): KID against held-out images rewards copying, so a KID "
                "equal to a copying model's is not a fair bar for one that does not copy; the best KID while "
                "copying at most 1% is.", ""]
    if "halves" in m:
        out += ["Two models on disjoint halves (250 images each), samples from the same noise (Kadkhodaie et al.: "
                "models that generalize draw nearly the same image) against samples from different noise:", "",
                "| run | same noise | different noise | ratio |", "|---|---|---|---|"]
        for run, h in m["halves"].items():
            out.append(f"| {run} | {h['same_noise_mean_distance']:.2f} | {h['different_noise_mean_distance']:.2f} | "
                       f"{h['ratio']:.2f} |")
        out.append("")
    return out


def memorization_partial(name: str) -> list[str]:
    """A side-by-side run stopped early: the measuring points it reached, read from its runs' metrics.jsonl."""
    m = _load(name)
    if not m:
        return []
    out = [f"Longer, side by side, stopped early ({m['time']}): {m['what']}.", "",
           "| run | step | epochs | flagged share | median nearest distance | KID against held-out |",
           "|---|---|---|---|---|---|"]
    for run, pts in m["runs"].items():
        for p in pts:
            out.append(f"| {run} | {p['step']:,} | {p['epochs']} | {100 * p['memorized_share']:.1f}% | "
                       f"{p['memorized_d1']:.2f} | {p['kid']:.4f} ± {p['kid_std']:.4f} |")
    return out + [""]


def guidance_table(rows: list[dict]) -> list[str]:
    """bench/flagship_guidance.py's rows as a markdown table (its own .md and the report's section)."""
    names = list(rows[0]["fidelity_r"])
    out = ["| guidance | KID | " + " | ".join(f"{n} r" for n in names) + " | outside mask | CPU-minutes |",
           "|---" * (len(names) + 4) + "|"]
    for r in rows:
        out.append(f"| {r['guidance']:g} | {r['kid']:.4f} | " + " | ".join(f"{r['fidelity_r'][n]:.2f}" for n in names)
                   + f" | {100 * r['mask_outside_share']:.1f}% | {r['generate_cpu_minutes']:.1f} |")
    return out


def guidance() -> list[str]:
    """Classifier-free guidance scales on the flagship run (bench/flagship_guidance.py)."""
    g = _load("flagship_guidance")
    if not g:
        return []
    out = ["### Guidance on the flagship (bench/flagship_guidance.py)", "",
           _note(g) + f" The latent model above (step {g['step']}), all {g['n_heldout']} held-out objects, the same "
           f"seeds, DPM-Solver++(2M) {g['steps']} steps; guidance > 1 evaluates the network twice per step.", "",
           *guidance_table(g["rows"])]
    out += ["", "Guidance 2 meets the KID goal and is the best for shape and topology, but it breaks the colour "
            "sliders (\"The colour sliders and guidance\" below), so `youandme-latent` suggests no scale (1); "
            "`--guidance 2` for whole feature "
            "vectors. Held-out originals, then one row per scale: [grid](flagship_guidance_grid.png).", ""]
    return out


AE_RECIPE_MINUTES = 30  # the budget of autoencoder_wave_f4_new (--checkpoints-at 5,15,30), the latent contender's


def flagship() -> list[str]:
    """Latent versus patch (bench_latent.py --part latent / --part patch, run side by side)."""
    lat, pat = _load("flagship_latent"), _load("flagship_patch")
    if not (lat and pat):
        return []
    q, p = lat["results"]["quality"], pat["results"]["patch_quality"]
    ae_min = AE_RECIPE_MINUTES
    rows = [("youandme-latent (autoencoder + latent U-Net)", f"{ae_min:.0f} + {lat['args']['minutes']:.0f}",
             q["latent_steps"], q),
            ("youandme-patch (pixel space, 8x8 patches, cosine-shift4)", f"{pat['args']['minutes']:.0f}",
             p["steps"], p)]
    x0 = _load("flagship_patch_x0")
    if x0:  # measured in a later run, beside other work (one thread, CPU-time budget as the two above)
        rows.append(("youandme-patch with x0-prediction (a later run, " + x0.get("time", "?")[:10] + ")",
                     f"{x0['args']['minutes']:.0f}", x0["results"]["patch_quality"]["steps"],
                     x0["results"]["patch_quality"]))
    out = ["## The flagship at 256x256: latent versus patch (bench_latent.py, issue 24)", "",
           _note(lat) + " Both contenders ran side by side in one run, one thread each, budgets in each process's "
           "CPU time (`--clock cpu`), features + mask conditioned, trained on the same 1,969 clip-art images. The "
           "latent contender's autoencoder is the recipe run of the autoencoder table above (30 CPU-minutes), so "
           "its diffusion model had the rest of the budget. Measured on all held-out images: one image per "
           "held-out feature vector and mask (DPM-Solver++(2M), 20 steps, guidance 1), re-measured; KID against "
           "the held-out images (colour on white; one subset of all N, so no spread); object pixels (alpha > 0.5) "
           "outside the requested mask. Goals: colour r >= 0.9, lighting, material, shape >= 0.8, topology >= 0.7; "
           "outside the mask < 2%; "
           "KID <= 0.05.", "",
           "| contender | CPU-minutes | steps | KID (N) | colour r | lighting r | material r | shape r | "
           "topology r | outside mask |", "|---|---|---|---|---|---|---|---|---|---|"]
    for what, minutes, steps, r in rows:
        g = r["fidelity_groups"]
        fid = " | ".join(f"{g[k]['r']:.2f}" + (" (met)" if g[k]["r"] >= v else "") for k, v in FLAGSHIP_GOALS.items())
        out.append(f"| {what} | {minutes} | {steps:,} | {r['kid']:.3f} ({r['n_generated']} vs {r['n_real']}) | "
                   f"{fid} | {100 * r['mask_outside_share']:.1f}% |")
    out += ["", "Held-out originals (top) and the objects generated from their features and masks (below): "
            "[latent](flagship_latent_grid.png), [patch](flagship_patch_grid.png)"
            + (", [patch, x0-prediction](flagship_patch_x0_grid.png)" if x0 else "") + ".", ""]
    mem, page = _load("sample_memory_flagship_latent"), _load("page_warmth_latent")
    if mem:
        out += [f"Memory (bench/sample_memory.py): one {mem['shape'][-1]}x{mem['shape'][-1]} image from the latent "
                f"model at {mem['steps']} steps peaks at {mem['peak_rss_gib']:.2f} GiB resident in a fresh process "
                f"({mem['cpu_seconds']:.1f} CPU-s; goal 1.5 GB). Training peaked near 8 GB resident in both "
                "contenders, most of it a float copy of all RGBA images while compositing them on white (done a "
                "chunk at a time since: +1.0 GiB for 1,969 images).", ""]
    if page:
        p = page
        out += [f"The page in chromium (bench/page_warmth.py, the latent model): \"like this image\" set the "
                f"temperature slider to {p['slider_filled_by_like']:.3f} "
                f"(measured {p['measured_like_normalised']:.3f}) "
                f"and switched the mask on; moving the slider {p['low']} -> {p['high']} took the mean measured "
                f"warmth of {p['count']} images from {p['mean_warmth_low']:.2f} to {p['mean_warmth_high']:.2f} "
                f"({p['images_warmer']} of {p['count']} warmer).", ""]
    return out


def flagship_versus() -> list[str]:
    """The 2-CPU-hour side by side of both contenders with today's recipes (flagship_versus.py)."""
    v = _load("flagship_versus")
    if not v:
        return []
    lat = _load("flagship_versus_latent") or {}
    out = ["## The flagship side by side with today's recipes (flagship_versus.py, issue 24)", "",
           _note(lat) + f" Both contenders started together as two processes, one thread each, "
           f"{v['args']['minutes']:.0f} CPU-minutes each (`--clock cpu`; load average "
           + (f"{v['load_avg_start'][0]:.1f} at the start, " if v.get("load_avg_start") else "")
           + f"{v['load_avg_end'][0]:.1f} at the end): the latent contender trained its autoencoder with "
           f"`train-autoencoder`'s defaults for {v['args']['ae_minutes']:.0f} CPU-minutes ({v['ae_steps']:,} steps) "
           f"and `youandme-latent` for the rest; the patch contender trained `youandme-patch` (x0-prediction) for "
           "all of it. Measured as in the section below (all held-out images, one sample per feature vector and "
           "mask, DPM-Solver++(2M) 20 steps, guidance 1). Goals: colour r >= 0.9, lighting, material, shape >= 0.8, "
           "topology >= 0.7, outside the mask < 2%, KID <= 0.05; the winner meets more of them (a tie: the lower "
           "KID).", "",
           "| contender | steps | KID (N) | colour r | lighting r | material r | shape r | topology r | "
           "outside mask | goals met |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in v["rows"]:
        met = v["goals_met"][r["contender"]]
        out.append(f"| {r['contender']}{' **(winner)**' if r['contender'] == v['winner'] else ''} | "
                   f"{r['steps']:,} | {r['kid']:.3f} ({r['n_heldout']}) | "
                   + " | ".join(f"{r[f'{g}_r']:.3f}" for g in FLAGSHIP_GOALS)
                   + f" | {100 * r['mask_outside_share']:.1f}% | {len(met)} of 7 ({', '.join(met) or '-'}) |")
    out += ["", "Held-out originals (top) and the generated objects (below): "
            "[latent](flagship_versus_latent_grid.png), [patch](flagship_versus_patch_grid.png).", ""]
    mem = _load("sample_memory_flagship_versus")
    if mem:
        out += [f"Memory of the winner (bench/sample_memory.py, `{mem.get('run', '?')}`): one "
                f"{mem['shape'][-1]}x{mem['shape'][-1]} image at {mem['steps']} steps peaks at "
                f"{mem['peak_rss_gib']:.2f} GiB resident in a fresh process ({mem['cpu_seconds']:.1f} CPU-s; "
                "goal 1.5 GB). Its sliders: \"Sliders that do what they say\" below.", ""]
    return out


def flagship_recipe() -> list[str]:
    """Issue 24 item 3: youandme-patch with one change per row, side by side (flagship_recipe.py)."""
    v = _load("flagship_recipe")
    if not v:
        return []
    md = (RESULTS / "flagship_recipe.md").read_text().strip()
    return ["## The flagship recipe, one change per row (flagship_recipe.py, issue 24 item 3)", "",
            _note(v) + f" Every row trained `youandme-patch` for {v['args']['minutes']:.0f} CPU-minutes in its own "
            f"process, one thread, {v['args']['jobs']} rows at once (the load average at each row's start and end "
            "in its last column: the rows of one table may come from runs of their own), measured as the side by "
            "side above (all held-out "
            "objects, DPM-Solver++(2M) 20 steps, guidance 1). Row `bench` is how every earlier flagship run of the "
            "bench scripts trained (the preset's batch and lr only), and since this run the preset's own suggestion, "
            "so what `fromnoise train` and `make art` train; row `recipe` is `fashion`'s recipe, which they applied "
            "to this preset before. ROW@STD: ROW's run with the post-hoc EMA of relative std STD. A change that "
            "beats its base here becomes the preset's only once a run at `make art`'s budget (120 CPU-minutes) "
            "confirms it: a narrower network's extra steps count most in a short budget.", "", md, "",
            *recipe_sliders(("bench", "maskdrop0.3"))]


def recipe_sliders(rows: tuple[str, ...]) -> list[str]:
    """The SHAPE and TOPOLOGY sliders (swept without a mask) of recipe rows, side by side (bench_sliders.py
    --features ..., one file per row: sliders_recipe_ROW.json)."""
    found = {row: v for row in rows if (v := _load(f"sliders_recipe_{row}"))}
    if not found:
        return []
    some = next(iter(found.values()))["settings"]
    out = [f"SHAPE and TOPOLOGY sliders of these rows, swept without a mask (bench_sliders.py, {some['objects']} "
           f"held-out objects, {some['sampler']} {some['steps']} steps, guidance {some['guidance']:g}; "
           "`sliders_recipe_ROW.md` has every feature): features passing their goal (median rho >= 0.6)", "",
           "| row | " + " | ".join(f"{g} passing | {g} median rho" for g in ("shape", "topology")) + " |",
           "|---|---|---|---|---|"]
    for row, v in found.items():
        g = v["groups"]
        out.append(f"| {row} | " + " | ".join(f"{g[k]['features_passing']}/{g[k]['features']} | "
                                              f"{g[k]['median_rho']:.2f}" for k in ("shape", "topology")) + " |")
    return out + [""]


def sections() -> list[str]:
    return [*flagship_recipe(), *flagship_versus(), *flagship(), *guidance(),
            *autoencoder_wave(), *feature_noise_floor(), *autoencoder_speed(), *levers(),
            *sliders(),
            *memorization(), *memorization_effect("memorization_effect_s3", copier="memorization_fashion_copier"),
            *memorization_effect("memorization_clipart32"),
            *memorization_partial("memorization_clipart32_long_partial"),
            *memorization_partial("memorization_clipart32_long2_partial"),
            *memorization_effect("memorization_clipart32_plain", "memorization_clipart32_augment",
                                 "memorization_clipart32_augment005", "memorization_clipart32_hflip",
                                 copier="memorization_clipart32_copier")]
