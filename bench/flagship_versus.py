"""The flagship contenders side by side in one run (issue 24): latent versus pixel-space patch at 256x256.

Two processes start together, one torch thread each, the same total CPU budget (``--clock cpu``):
the latent contender trains its autoencoder (``train-autoencoder``'s defaults, ``--ae-minutes``) and then
``youandme-latent`` for the rest; the patch contender trains ``youandme-patch`` (its own defaults: x0
prediction) for the whole budget. Both are measured by ``bench_latent.py``'s one evaluation (all held-out
clip art: KID, feature fidelity per group, object pixels outside the mask, a grid). This script waits for
both and writes ``bench/results/flagship_versus.json`` (both rows, the load average at the start and the
end) and ``flagship_versus.md`` (the table).

    python bench/flagship_versus.py --minutes 120 --ae-minutes 30      # ~2 h 15 min wall on 2 free cores
    python bench/flagship_versus.py --minutes 6 --ae-minutes 2 --train 200 --heldout 40 --tag _vsmoke  # does it work?
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.common import RESULTS, write_result  # noqa: E402
from fromnoise.io import write_text  # noqa: E402

# issue 24's goals: feature fidelity r per group (at least), object pixels outside the mask and KID (at most)
GOALS = {"color": 0.9, "lighting": 0.8, "material": 0.8, "shape": 0.8, "topology": 0.7}
GROUPS = tuple(GOALS)
MAX_OUTSIDE, MAX_KID = 0.02, 0.05


def goals_met(r: dict) -> list[str]:
    """The names of the issue's goals this row meets."""
    met = [g for g, v in GOALS.items() if r[f"{g}_r"] >= v]
    return met + ["outside mask"] * (r["mask_outside_share"] < MAX_OUTSIDE) + ["KID"] * (r["kid"] <= MAX_KID)


def winner(rows: list[dict]) -> dict:
    """The row that meets more of the goals; on a tie the lower KID (the goal furthest from both, so far)."""
    return max(rows, key=lambda r: (len(goals_met(r)), -r["kid"]))


def scores(q: dict) -> dict:
    """What a table row holds of one bench_latent evaluation: steps, KID, held-out N, spill, r per group, grid."""
    groups = q["fidelity_groups"]
    return {"steps": q["steps"], "kid": q["kid"], "n_heldout": q["n_generated"],
            "mask_outside_share": q["mask_outside_share"], **{f"{g}_r": groups[g]["r"] for g in GROUPS},
            "grid": q["grid"]}


def row(name: str, q: dict, minutes: float) -> dict:
    return {"contender": name, "cpu_minutes_budget": minutes, **scores(q)}


def table(rows: list[dict]) -> str:
    head = ("| contender | steps | KID | " + " | ".join(f"{g} r" for g in GROUPS)
            + " | outside mask | goals met (of 7) |")
    lines = [head, "|" + "---|" * (len(GROUPS) + 5)]
    for r in rows:
        lines.append(f"| {r['contender']} | {r['steps']} | {r['kid']:.4f} | "
                     + " | ".join(f"{r[f'{g}_r']:.2f}" for g in GROUPS) + f" | {100 * r['mask_outside_share']:.1f}% | "
                     + f"{len(goals_met(r))}: {', '.join(goals_met(r)) or '-'} |")
    return "\n".join(lines)


def write(a: argparse.Namespace, name: str, load_start, prev: dict | None = None) -> None:
    """Read both contenders' results, table them and name the winner (flagship_versus{tag}.json / .md);
    ``prev``: the earlier table's JSON when re-tabling (its time, loads and machine are the run's, kept)."""
    prev = prev or {}
    out = {k: json.loads((RESULTS / f"{name}_{k}.json").read_text()) for k in ("latent", "patch")}
    rows = [row("latent (autoencoder + youandme-latent)", out["latent"]["results"]["quality"], a.minutes),
            row("patch (youandme-patch)", out["patch"]["results"]["patch_quality"], a.minutes)]
    best = winner(rows)
    payload = {"args": vars(a), "time": prev.get("time") or time.strftime("%Y-%m-%d %H:%M:%S"),
               **({"machine": prev["machine"]} if "machine" in prev else {}), "load_avg_start": load_start,
               "load_avg_end": prev.get("load_avg_end") or os.getloadavg(), "rows": rows, "winner": best["contender"],
               "goals_met": {r["contender"]: goals_met(r) for r in rows},
               "ae_steps": out["latent"]["results"]["quality"]["ae_steps"]}
    write_result(name, payload)
    write_text(RESULTS / f"{name}.md", table(rows) + f"\n\nWinner: {best['contender']}\n")
    print(table(rows))
    print(f"winner: {best['contender']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0, help="CPU minutes per contender, autoencoder included")
    ap.add_argument("--ae-minutes", type=float, default=30.0, help="of which the latent contender's autoencoder")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--tag", default="_versus", help="suffix of the run folders and results")
    ap.add_argument("--report-only", action="store_true",
                    help="only re-table the contenders' results of an earlier run (and name the winner)")
    a = ap.parse_args()
    if not 0 < a.ae_minutes < a.minutes:
        raise SystemExit(f"--ae-minutes {a.ae_minutes} must lie between 0 and --minutes {a.minutes}")
    name = f"flagship{a.tag}"
    if a.report_only:
        old = RESULTS / f"{name}.json"
        prev = json.loads(old.read_text()) if old.is_file() else {}
        write(a, name, prev.get("load_avg_start"), prev)
        return
    common = ["--threads", "1", "--clock", "cpu", "--train", str(a.train), "--heldout", str(a.heldout),
              "--tag", a.tag, "--fresh"]
    jobs = {"latent": ["--part", "latent", "--ae-minutes", str(a.ae_minutes), "--minutes",
                       str(a.minutes - a.ae_minutes), "--results", f"{name}_latent"],
            "patch": ["--part", "patch", "--minutes", str(a.minutes), "--results", f"{name}_patch"]}
    load_start = os.getloadavg()
    procs = {k: subprocess.Popen([sys.executable, str(HERE / "bench_latent.py"), *common, *v]) for k, v in jobs.items()}
    failed = [k for k, p in procs.items() if p.wait() != 0]
    if failed:
        raise SystemExit(f"the {', '.join(failed)} contender failed; see its output above")
    write(a, name, load_start)


if __name__ == "__main__":
    main()
