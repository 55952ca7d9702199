"""Report sections of the flagship wave's other benches (issues 24 and 25): the autoencoder at 5 / 15 / 30
CPU-minutes, its training step's speed, the levers probe, the features' noise floor and the memorization bench
(the flagship's own sections: ``report_flagship.py``).

``bench/run_all.py`` appends :func:`sections` to report.md; each section is skipped when its JSON is missing.
"""

from __future__ import annotations

from bench.report_common import load_result, run_note

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


def autoencoder_wave() -> list[str]:
    rows = [(key, what, load_result(f"autoencoder_wave_{key}")) for key, what in WAVE]
    rows = [(k, w, r) for k, w, r in rows if r]
    if not rows:
        return []
    out = ["## The autoencoder per CPU-minute: crops and the squared error (bench_autoencoder.py, issue 24)", "",
           run_note(rows[0][2]) + " The four contenders ran side by side in one run, each on one thread, budgets in "
           "this process's CPU time (`--clock cpu`); held-out PSNR / SSIM of all 197 held-out 256x256 clip-art "
           "images (posterior mode), measured at 5, 15 and 30 CPU-minutes of one run each (the measuring time is "
           "not counted). Chroma kept: mean |channel - grey| of the reconstructions over the originals'. Goals: "
           ">= 32 dB at factor 4, >= 28 dB at factor 8 within 30 CPU-minutes; the colour round trip r >= 0.98.", ""]
    out += _ae_table(rows)
    second = [(k, w, r) for k, w, r in ((k, w, load_result(f"autoencoder_{k}")) for k, w in LEVERS_30) if r]
    if second:
        out += ["### Second round: levers at the full 30 CPU-minutes", "",
                run_note(second[0][2]) + " The recipe above with the levers the 400-step probe (below) and the "
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
    fl = load_result("feature_noise_floor")
    if not fl:
        return []
    rows = dict(fl["rows"])
    best = load_result("autoencoder_stack_ssim05_f4")
    if best:
        (r,) = best["results"].values()
        rows[f"the factor-4 recipe's reconstructions ({r['psnr_rgb']:.1f} dB)"] = r["feature_round_trip"]
    names = list(next(iter(rows.values()))["color"]["per_feature_r"])
    out = ["### How closely can the COLOR features follow at all? (bench/feature_noise_floor.py)", "", run_note(fl)
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
    sp = load_result("autoencoder_speed")
    if not sp:
        return []
    a = sp["args"]
    out = ["### The autoencoder's training step on this CPU (bench_autoencoder_speed.py)", "", run_note(sp),
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
    lv = load_result("autoencoder_levers")
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


def memorization() -> list[str]:
    m = load_result("memorization_calibration")
    if not m:
        return []
    c = m["calibration"]
    pts = ", ".join(f"step {p['step']}: {100 * p['memorized_share']:.0f}%" for p in c["points"])
    out = ["## Memorization: calibration (bench_memorization.py, issue 25)", "", run_note(m),
           f" `{m['preset']}` on {c['images']} {m['data'].split(',')[0]} images, {c['steps']} steps "
           f"({c['epochs']:.0f} epochs, {c['cpu_minutes']:.2f} CPU-minutes); {m['measure']}. Flagged share over "
           f"training: {pts} (goal: {c['goal']}).", ""]
    d = (load_result("memorization_demo") or {}).get("demo")
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
    parts = [m for m in map(load_result, names) if m and "effect" in m]
    if not parts:
        return []
    copied = (load_result(copier) or {}).get("effect_copier") if copier else None
    m = parts[0]
    runs = {run: rec for part in parts for run, rec in part["effect"].items()}
    out = [f"### Does augmentation stop the copying? {m['data']} (bench_memorization.py, issue 25)", "",
           run_note(m) + f" `{m['preset']}`, every run the same steps ({m['steps_per_cpu_second']} steps per "
           f"CPU-second measured first); {m['measure']}. Goal: `--augment {m['augment']}` at least halves the "
           "flagged share at equal or better KID at the end.", "",
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
    m = load_result(name)
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


def sections() -> list[str]:
    return [*autoencoder_wave(), *feature_noise_floor(), *autoencoder_speed(), *levers(),
            *memorization(), *memorization_effect("memorization_effect_s3", copier="memorization_fashion_copier"),
            *memorization_effect("memorization_clipart32"),
            *memorization_partial("memorization_clipart32_long_partial"),
            *memorization_partial("memorization_clipart32_long2_partial"),
            *memorization_effect("memorization_clipart32_plain", "memorization_clipart32_augment",
                                 "memorization_clipart32_augment005", "memorization_clipart32_hflip",
                                 copier="memorization_clipart32_copier")]
