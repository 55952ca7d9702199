"""Report sections of the flagship (issue 24): the recipe screen and its confirmation at make art's budget,
latent versus patch, the 2-CPU-hour flagship, guidance and the sliders bench.

``bench/run_all.py`` appends :func:`sections` to report.md; each section is skipped when its JSON is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.flagship_versus import GOALS as FLAGSHIP_GOALS
from bench.report_common import RESULTS, load_result, run_note


def flagship_recipe() -> list[str]:
    """Issue 24 item 3: youandme-patch with one change per row, side by side (flagship_recipe.py)."""
    v = load_result("flagship_recipe")
    if not v:
        return []
    md = (RESULTS / "flagship_recipe.md").read_text().strip()
    return ["## The flagship recipe, one change per row (flagship_recipe.py, issue 24 item 3)", "",
            run_note(v) + f" Every row trained `youandme-patch` for {v['args']['minutes']:.0f} CPU-minutes in its own "
            f"process, one thread, {v['args']['jobs']} rows at once (the load average at each row's start and end "
            "in its last column: the rows of one table may come from runs of their own), measured as the side by "
            "side above (all held-out "
            "objects, DPM-Solver++(2M) 20 steps, guidance 1). Row `bench` is how every earlier flagship run of the "
            "bench scripts trained (the preset's batch and lr only; since this run the preset's own training "
            "settings), on the network the screen started from (widths 64-128-256-256, condition dropout 0.1); row "
            "`recipe` is `fashion`'s recipe, which they applied "
            "to this preset before. ROW@STD: ROW's run with the post-hoc EMA of relative std STD. A change that "
            "beats its base here becomes the preset's only once a run at `make art`'s budget (120 CPU-minutes) "
            "confirms it: a narrower network's extra steps count most in a short budget.", "", md, "",
            *recipe_confirmed(), *recipe_sliders(("bench", "maskdrop0.3"))]


def recipe_confirmed() -> list[str]:
    """The screen's best row against ``bench`` at make art's budget (flagship_recipe.py --minutes 120 --tag _2h)."""
    v = load_result("flagship_recipe_2h")
    if not v:
        return []
    md = (RESULTS / "flagship_recipe_2h.md").read_text().strip()
    return [f"### At `make art`'s budget: {v['args']['minutes']:.0f} CPU-minutes per row", "",
            run_note(v) + f" Rows {', '.join(r['row'] for r in v['rows'])} again, side by side in one run (one thread "
            "each, measured as above). The row that wins here is `youandme-patch`'s network and training settings: "
            f"`{v['best']}` since {v['time'][:10]}.",
            "", md, ""]


def recipe_sliders(rows: tuple[str, ...]) -> list[str]:
    """The SHAPE and TOPOLOGY sliders (swept without a mask) of recipe rows, side by side (bench_sliders.py
    --features ..., one file per row: sliders_recipe_ROW.json)."""
    found = {row: v for row in rows if (v := load_result(f"sliders_recipe_{row}"))}
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


def flagship_versus() -> list[str]:
    """The 2-CPU-hour side by side of both contenders with today's recipes (flagship_versus.py)."""
    v = load_result("flagship_versus")
    if not v:
        return []
    lat = load_result("flagship_versus_latent") or {}
    out = ["## The flagship side by side with today's recipes (flagship_versus.py, issue 24)", "",
           run_note(lat) + f" Both contenders started together as two processes, one thread each, "
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
    mem = load_result("sample_memory_flagship_versus")
    if mem:
        out += [f"Memory of the winner (bench/sample_memory.py, `{mem.get('run', '?')}`): one "
                f"{mem['shape'][-1]}x{mem['shape'][-1]} image at {mem['steps']} steps peaks at "
                f"{mem['peak_rss_gib']:.2f} GiB resident in a fresh process ({mem['cpu_seconds']:.1f} CPU-s; "
                "goal 1.5 GB). Its sliders: \"Sliders that do what they say\" below.", ""]
    return out


def flagship() -> list[str]:
    """Latent versus patch (bench_latent.py --part latent / --part patch, run side by side)."""
    lat, pat = load_result("flagship_latent"), load_result("flagship_patch")
    if not (lat and pat):
        return []
    q, p = lat["results"]["quality"], pat["results"]["patch_quality"]
    ae_min = AE_RECIPE_MINUTES
    rows = [("youandme-latent (autoencoder + latent U-Net)", f"{ae_min:.0f} + {lat['args']['minutes']:.0f}",
             q["latent_steps"], q),
            ("youandme-patch (pixel space, 8x8 patches, cosine-shift4)", f"{pat['args']['minutes']:.0f}",
             p["steps"], p)]
    x0 = load_result("flagship_patch_x0")
    if x0:  # measured in a later run, beside other work (one thread, CPU-time budget as the two above)
        rows.append(("youandme-patch with x0-prediction (a later run, " + x0.get("time", "?")[:10] + ")",
                     f"{x0['args']['minutes']:.0f}", x0["results"]["patch_quality"]["steps"],
                     x0["results"]["patch_quality"]))
    out = ["## The flagship at 256x256: latent versus patch (bench_latent.py, issue 24)", "",
           run_note(lat) + " Both contenders ran side by side in one run, one thread each, budgets in each process's "
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
    mem, page = load_result("sample_memory_flagship_latent"), load_result("page_warmth_latent")
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
    g = load_result("flagship_guidance")
    if not g:
        return []
    out = ["### Guidance on the flagship (bench/flagship_guidance.py)", "",
           run_note(g) + f" The latent model above (step {g['step']}), all {g['n_heldout']} held-out objects, the same "
           f"seeds, DPM-Solver++(2M) {g['steps']} steps; guidance > 1 evaluates the network twice per step.", "",
           *guidance_table(g["rows"])]
    out += ["", "Guidance 2 meets the KID goal and is the best for shape and topology, but it breaks the colour "
            "sliders (\"The colour sliders and guidance\" below), so `youandme-latent` suggests no scale (1); "
            "`--guidance 2` for whole feature "
            "vectors. Held-out originals, then one row per scale: [grid](flagship_guidance_grid.png).", ""]
    return out


AE_RECIPE_MINUTES = 30  # the budget of autoencoder_wave_f4_new (--checkpoints-at 5,15,30), the latent contender's


def sliders() -> list[str]:
    """The slider tables: the side by side's winner and stop 24's latent model; a smoke run only when neither."""
    names = [n for n in ("sliders_flagship_recipe_2h", "sliders_flagship_versus", "sliders_flagship_latent")
             if (RESULTS / f"{n}.json").is_file()]
    names = names or [n for n in ("sliders", "sliders_smoke") if (RESULTS / f"{n}.json").is_file()][:1]
    if not names:
        return []
    out = []
    for i, name in enumerate(names):
        sl = load_result(name)
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


def sections() -> list[str]:
    return [*flagship_recipe(), *flagship_versus(), *flagship(), *guidance(), *sliders()]
