"""The flagship recipe chosen by measurement (issue 24, item 3): youandme-patch with one change per row.

Every row trains the flagship (``youandme-patch``, x0-prediction) on the same clip art as
``flagship_versus.py`` (1,969 training objects at 256x256, features + mask) in its own process with one
torch thread for ``--minutes`` of its own CPU time, then is measured by ``bench_latent.py``'s one
evaluation on all held-out objects (KID, feature fidelity per group, object pixels outside the mask, a
grid). ``--jobs`` rows run at once (two on a 2-core machine: side by side, equal threads).

| row | on | changes |
|---|---|---|
| bench | | what ``bench_latent.py`` and ``flagship_versus.py`` trained: the preset's batch and lr, constant lr, uniform t, EMA decay 0.999 (TrainingConfig's defaults; the preset's own recipe since it won below), on the network the screen started from (widths 64-128-256-256, condition dropout 0.1: ``SCREENED``) |
| recipe | | ``fashion``'s recipe (``fromnoise.models.presets.RECIPE``), which the preset carried until this screen: cosine lr decay, EDM's log-normal t, power EMA sigma_rel 0.05 |
| slim | bench | widths 48-96-192-192 instead of 64-128-256-256 (~0.56x the FLOPs: more steps) |
| deep | bench | two ResBlocks per level instead of one (~2x the FLOPs) |
| attn4 | bench | attention at 4x4 and in the middle only (not at 8x8) |
| maskdrop0.3 | bench | the mask alone dropped for 30% of the rows instead of 10% (features without a mask: the SHAPE and TOPOLOGY sliders) |
| drop0 | bench | no condition dropout (every row keeps its features and mask; guidance then has no unconditional model) |
| slim-drop0 | slim | both changes that beat ``bench`` at 40 CPU-minutes (2026-12-05); it beat ``bench`` at 120 too and is the preset since |

``--posthoc 0.03,0.10`` adds rows ``recipe@STD``: the recipe run (power EMA) also saves post-hoc EMA snapshots
and is measured again with the EMA of each relative std, reconstructed after training (EDM2; no retraining).
Rows are ranked by ``flagship_versus.winner`` (more of issue 24's seven goals met; a tie: the lower KID), and
each row is judged against the row it builds on (``beats``: more goals, or as many and better on most of KID
and the five r).

    python bench/flagship_recipe.py --rows bench,recipe --minutes 40             # ~50 min wall, 2 cores
    python bench/flagship_recipe.py --minutes 60 --posthoc 0.03,0.10              # every row (~4 h wall)
    python bench/flagship_recipe.py --rows bench,slim-drop0 --minutes 120 --tag _2h  # the 40-minute winner at make art's budget
    python bench/flagship_recipe.py --rows bench,slim --minutes 0.3 --train 40 --heldout 8 --tag _smoke  # works?

Runs go to bench/cache/recipe/; results: ``bench/results/flagship_recipe[_TAG].json`` (all rows, the load
at the start and the end), ``.md`` (the table) and one grid per row.
"""  # noqa: E501 (the rows of the markdown table above cannot be wrapped)

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.common import RESULTS, machine, write_result  # noqa: E402
from bench.flagship_versus import GROUPS, goals_met, scores, winner  # noqa: E402
from fromnoise.io import write_text  # noqa: E402
from fromnoise.models.presets import RECIPE  # noqa: E402

PRESET = "youandme-patch"
CACHE = HERE / "cache" / "recipe"
BENCH = {"lr_decay": "none", "t_sampling": "uniform", "ema_std": None, "ema_decay": 0.999}
# youandme-patch's network and condition dropout as the screen ran them, pinned: every row stays the run it was
# when the screen's winner becomes the preset
SCREENED = {"model": {"channels": (64, 128, 256, 256)}, "condition_dropout": 0.1}
# (row, the row it builds on, its change: training options, "model" (network) and "mask_dropout")
ROWS: list[tuple[str, str | None, dict]] = [
    ("bench", None, BENCH),
    ("recipe", None, dict(RECIPE)),
    ("slim", "bench", {"model": {"channels": (48, 96, 192, 192)}}),
    ("deep", "bench", {"model": {"num_res_blocks": 2}}),
    ("attn4", "bench", {"model": {"attention": (False, False, False, True)}}),
    ("maskdrop0.3", "bench", {"mask_dropout": 0.3}),
    ("drop0", "bench", {"condition_dropout": 0.0}),
    ("slim-drop0", "slim", {"condition_dropout": 0.0}),  # the two that beat `bench` at 40 minutes, together
]
CHANGES = {name: change for name, _, change in ROWS}
BASES = {name: base for name, base, _ in ROWS}


def preset_recipe() -> dict:
    """The training options the preset suggests (what ``fromnoise train`` fills in when they are not given), with
    the network and condition dropout it had when this screen ran (``SCREENED``), so every row stays the run it was
    after the screen's winner became the preset."""
    from fromnoise.cli.train_run import AUTO_FIELDS
    from fromnoise.models import get_preset

    return {**{k: v for k, v in get_preset(PRESET).defaults.items() if k in AUTO_FIELDS}, **SCREENED}


def row_settings(row: str) -> dict:
    """The row's options: the preset's suggestions (batch, lr, ...), then the changes of the rows it builds on,
    then its own (network changes merged into the network's)."""
    if row not in CHANGES:
        raise SystemExit(f"unknown row {row!r}; choose from {', '.join(CHANGES)}")
    base = BASES[row]
    settings = row_settings(base) if base else preset_recipe()
    change = CHANGES[row]
    return {**settings, **change, "model": {**settings["model"], **change.get("model", {})}}


def worker(a: argparse.Namespace) -> None:
    """Train one row and measure it (and its post-hoc EMAs); writes ``flagship_recipe{tag}_{row}.json``."""
    import torch

    from bench.bench_latent import _clipart, _evaluate, _train_diffusion
    from fromnoise.training.ema import posthoc_checkpoint

    torch.set_num_threads(1)
    row = a.worker
    settings = dict(row_settings(row))
    model, mask_dropout = settings.pop("model", None), settings.pop("mask_dropout", None)
    stds = [float(v) for v in a.posthoc.split(",") if v.strip()]
    if stds:
        settings["ema_snapshots"] = a.snapshot_every
    out = CACHE / f"{row}{a.tag}"
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, never a resumed one
    train_dir, train, held = _clipart(a)
    load_start = os.getloadavg()
    cpu_minutes = _train_diffusion(a, train_dir, out, PRESET, None, model=model, training=settings,
                                   mask_dropout=mask_dropout)
    name = f"flagship_recipe{a.tag}_{row}"
    results = {row: {"cpu_minutes": cpu_minutes, "n_train": len(train), **_evaluate(out, held, f"{name}_grid")}}
    for std in stds:
        path = posthoc_checkpoint(out, std)
        results[f"{row}@{std:g}"] = {"cpu_minutes": cpu_minutes, "n_train": len(train),
                                     **_evaluate(path, held, f"{name}@{std:g}_grid")}
    write_result(name, {"row": row, "settings": {**row_settings(row), "ema_snapshots": settings.get("ema_snapshots")},
                        "load_avg_start": load_start, "load_avg_end": os.getloadavg(), "results": results})


def table_row(name: str, q: dict, run: dict) -> dict:
    """One row of the table: ``q`` its scores, ``run`` its worker's JSON (the load while it trained)."""
    return {"row": name, "cpu_minutes": q["cpu_minutes"], **scores(q),
            "load": [run["load_avg_start"][0], run["load_avg_end"][0]]}


def describe(name: str) -> tuple[str, str]:
    """(on, changes) of a row, ROW@STD being ROW's run with the post-hoc EMA of relative std STD."""
    base, _, std = name.partition("@")
    if std:
        return base, f"post-hoc EMA sigma_rel {std}"
    return BASES[base] or "", ", ".join(f"{k}={v}" for k, v in CHANGES[base].items())


MEASURES = ("kid", *(f"{g}_r" for g in GROUPS))  # what a change is judged on against the row it builds on


def better_on(r: dict, base: dict) -> list[str]:
    """The measures on which row ``r`` beats ``base``: a lower KID, a higher fidelity r per group."""
    return [m for m in MEASURES if (r[m] < base[m] if m == "kid" else r[m] > base[m])]


def beats(r: dict, base: dict) -> bool:
    """Whether a change beats the row it builds on: more of the issue's goals met, or as many and
    better on most of the six measures (one measure alone, e.g. a KID lower by 0.001, is within the noise of
    one evaluation of 197 objects)."""
    mine, theirs = len(goals_met(r)), len(goals_met(base))
    return mine > theirs or (mine == theirs and len(better_on(r, base)) > len(MEASURES) / 2)


def verdicts(rows: list[dict]) -> dict[str, str]:
    """Per row with a base in the table: 'yes' or 'no' (does it beat its base?) and the measures it is better on."""
    by_name, out = {r["row"]: r for r in rows}, {}
    for r in rows:
        base = on = describe(r["row"])[0]
        while on and on not in by_name and "@" not in r["row"]:  # its base is not in this table: the nearest
            on = BASES.get(on)                                    # row it builds on that is
        if on in by_name:
            better = better_on(r, by_name[on])
            against = "" if on == base else f" (against {on})"
            out[r["row"]] = (f"{'yes' if beats(r, by_name[on]) else 'no'}{against}: better on {len(better)} of "
                             f"{len(MEASURES)}" + (f" ({', '.join(m.removesuffix('_r') for m in better)})"
                                                   if better else ""))
    return out


def table(rows: list[dict]) -> str:
    lines = ["| row | on | changes | steps | KID | " + " | ".join(f"{g} r" for g in GROUPS)
             + " | outside mask | goals met (of 7) | beats its base? | load |", "|" + "---|" * (len(GROUPS) + 9)]
    judged = verdicts(rows)
    for r in rows:
        on, changes = describe(r["row"])
        met = goals_met(r)
        lines.append(f"| {r['row']} | {on} | {changes} | {r['steps']} | {r['kid']:.4f} | "
                     + " | ".join(f"{r[f'{g}_r']:.3f}" for g in GROUPS)
                     + f" | {100 * r['mask_outside_share']:.1f}% | {len(met)}: {', '.join(met) or '-'} | "
                     + judged.get(r["row"], "") + " | "
                     + ("{:.1f}-{:.1f} |".format(*r["load"]) if "load" in r else "|"))
    return "\n".join(lines)


def gather(a: argparse.Namespace, rows: list[str], load_start, prev: dict | None = None) -> None:
    """All rows' results in one table, the best named; ``prev``: an earlier table's JSON (re-tabling)."""
    prev = prev or {}
    found = []
    for row in rows:
        path = RESULTS / f"flagship_recipe{a.tag}_{row}.json"
        if path.is_file():
            run = json.loads(path.read_text())
            found += [table_row(k, q, run) for k, q in run["results"].items()]
    if not found:
        raise SystemExit(f"no row's results under {RESULTS} (flagship_recipe{a.tag}_ROW.json)")
    best = winner(found)
    beat = [row for row, v in verdicts(found).items() if v.startswith("yes")]
    payload = {"args": prev.get("args") or {k: v for k, v in vars(a).items() if k not in ("worker", "report_only")},
               "time": prev.get("time") or time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": {**(prev.get("machine") or machine()), "threads": 1},  # per row (the parent has more)
               "load_avg_start": load_start,
               "load_avg_end": prev.get("load_avg_end") or os.getloadavg(), "rows": found, "best": best["row"],
               "goals_met": {r["row"]: goals_met(r) for r in found}, "beat_their_base": beat}
    name = f"flagship_recipe{a.tag}"
    write_result(name, payload)
    text = (table(found) + f"\n\nBest: {best['row']} (more goals met; a tie: the lower KID). Changes that beat "
            f"the row they build on (more goals, or as many and better on most of KID and the five r): "
            f"{', '.join(beat) or 'none'}\n")
    write_text(RESULTS / f"{name}.md", text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(CHANGES), help="comma-separated rows: " + ", ".join(CHANGES))
    ap.add_argument("--minutes", type=float, default=40.0, help="CPU minutes of training per row (one thread)")
    ap.add_argument("--jobs", type=int, default=2, help="rows trained at once, one thread each")
    ap.add_argument("--posthoc", default="", help="comma-separated EMA relative stds measured on the recipe row's "
                                                  "run from its snapshots (rows recipe@STD)")
    ap.add_argument("--snapshot-every", type=int, default=100, help="steps between post-hoc EMA snapshots")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--tag", default="", help="suffix of the run folders and results")
    ap.add_argument("--report-only", action="store_true", help="only re-table the rows' results of an earlier run")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.prediction = None  # bench_latent's training reads it: the preset's (x0)
    rows = a.rows.split(",")
    for row in rows:
        row_settings(row)  # unknown names fail before anything runs
    if a.worker:
        return worker(a)
    if a.report_only:
        old = RESULTS / f"flagship_recipe{a.tag}.json"
        prev = json.loads(old.read_text()) if old.is_file() else {}
        return gather(a, rows, prev.get("load_avg_start"), prev)
    load_start, pending, running, failed = os.getloadavg(), list(rows), {}, []
    common = ["--minutes", str(a.minutes), "--train", str(a.train), "--heldout", str(a.heldout), "--tag", a.tag,
              "--snapshot-every", str(a.snapshot_every)]
    while pending or running:
        while pending and len(running) < a.jobs:
            row = pending.pop(0)
            extra = ["--posthoc", a.posthoc] if row == "recipe" and a.posthoc else []
            running[row] = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", row,
                                             "--rows", row, *common, *extra])
        for row, proc in list(running.items()):
            if proc.poll() is not None:
                del running[row]
                if proc.returncode:
                    failed.append(row)
        time.sleep(2)
    gather(a, rows, load_start)
    if failed:
        raise SystemExit(f"rows failed: {', '.join(failed)}; see their output above")


if __name__ == "__main__":
    main()
