"""The kill harness: SIGKILL a real training run at random moments, rerun the same command, check.

    python bench/bench_kill.py --kills 25            # the many-kill run (results/kill.json)
    (tests/training/test_kill_harness.py runs a 3-kill version in the suite)

For each kill: start ``fromnoise train`` on a tiny folder (checkpoint every ``save_every``
steps, so many kills land inside a checkpoint write), wait a random time, SIGKILL it, then

- every checkpoint on disk loads (safetensors + config, through ``fromnoise.load``);
- the next start resumes at a step no more than one checkpoint interval behind the last
  step the killed run logged;
- the step count continues (it never goes back past a saved checkpoint).

After the kills the same command runs to the end and its final weights (model, EMA, AdamW
moments) are compared bit for bit with an uninterrupted run of the same command. A kill
that found a ``*.tmp`` or ``*.old`` directory behind it is counted as "inside a write".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_folder(folder: Path, n: int = 32, size: int = 16) -> Path:
    """A folder of ``n`` tiny grayscale PNGs (a bright square on black at a seeded position)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.zeros((size, size), np.uint8)
        r, c = rng.integers(0, size - 3, 2)
        img[r:r + 3, c:c + 3] = 255
        Image.fromarray(img).save(folder / f"img_{i:03d}.png")
    return folder


def train_command(folder: Path, out: Path, steps: int, save_every: int) -> list[str]:
    return [sys.executable, "-m", "fromnoise", "train", "--dataset", str(folder), "--preset", "micro",
            "--image-size", "16", "--channels", "1", "--steps", str(steps), "--batch-size", "16",
            "--save-every", str(save_every), "--sample-every", "100000", "--log-every", "1", "--num-samples", "2",
            "--keep", "2", "--seed", "0", "--no-progress", "--out", str(out)]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return env


def last_logged_step(run: Path) -> int:
    """The last step in metrics.jsonl (lines cut by the kill are ignored), 0 when none."""
    path = run / "metrics.jsonl"
    step = 0
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                step = max(step, int(json.loads(line)["step"]))
            except (ValueError, KeyError):
                continue
    return step


def check_checkpoints(run: Path) -> tuple[int, int, str | None]:
    """(number of checkpoints, newest step, error) after loading every checkpoint on disk."""
    import fromnoise
    from fromnoise.checkpoint import list_checkpoints

    ckpts = list_checkpoints(run)
    for ckpt in ckpts:
        try:
            fromnoise.load(ckpt)
        except Exception as err:  # any failure to load is what this harness looks for
            return len(ckpts), -1, f"{ckpt.name}: {err}"
    newest = int(ckpts[-1].name.split("_")[1]) if ckpts else 0
    return len(ckpts), newest, None


def final_weights(run: Path) -> dict:
    from safetensors.torch import load_file

    from fromnoise.checkpoint import list_checkpoints

    ckpt = list_checkpoints(run)[-1]
    return {f: load_file(str(ckpt / f)) for f in ("model.safetensors", "ema.safetensors", "optimizer.safetensors")}


def same_weights(a: dict, b: dict) -> tuple[bool, float]:
    """(bitwise equal, largest absolute difference) over every tensor of every file."""
    import torch

    worst, equal = 0.0, True
    for f in a:
        if a[f].keys() != b[f].keys():
            return False, float("inf")
        for k in a[f]:
            if not torch.equal(a[f][k], b[f][k]):
                equal = False
                worst = max(worst, float((a[f][k].double() - b[f][k].double()).abs().max()))
    return equal, worst


def _resumes(run: Path) -> int:
    """How many times the run's log says it resumed (the trainer notes it after repairing and truncating)."""
    log = run / "log.txt"
    if not log.exists():
        return 0
    text = log.read_text(errors="replace")
    return text.count("resumed from") + text.count("started a new run")


def _wait_for_moment(proc, run: Path, target: int, in_write: bool, extra: float, deadline: float) -> bool:
    """Poll until the moment to kill: this run logged ``target`` (then ``extra`` seconds more), or, with
    ``in_write``, a checkpoint write is in progress. True when the process ended first.

    A resumed invocation first repairs the checkpoints and drops the metrics after its checkpoint;
    nothing is read before it has said so in log.txt, so only this invocation's steps count."""
    root = run / "checkpoints"
    resumes = _resumes(run)
    while _resumes(run) == resumes:
        if proc.poll() is not None:
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.002)

    def writing() -> bool:
        return root.is_dir() and any(p.name.endswith(".tmp") for p in root.iterdir())

    while time.time() < deadline:
        if proc.poll() is not None:
            return True
        if in_write:
            if writing():
                return False
        elif last_logged_step(run) >= target:
            time.sleep(extra)
            return proc.poll() is not None
        time.sleep(0.002)
    return proc.poll() is not None


def run_harness(work: Path, kills: int = 20, steps: int = 60, save_every: int = 3, seed: int = 0,
                max_wait: float = 300.0, log=print) -> dict:
    """Run the harness in ``work``; returns its figures (see the module docstring)."""
    work = Path(work)
    folder = make_folder(work / "data")
    ref, run = work / "reference", work / "killed"
    t0 = time.time()
    done = subprocess.run(train_command(folder, ref, steps, save_every), env=_env(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the reference run failed: {done.stderr[-2000:]}")
    ref_seconds = time.time() - t0
    rng = random.Random(seed)
    records, failures, prev_newest = [], [], 0
    for k in range(kills):
        t_kill = time.time()
        start_step = check_checkpoints(run)[1] if run.exists() else 0
        proc = subprocess.Popen(train_command(folder, run, steps, save_every), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Every third kill lands inside a checkpoint write (the moment a step_*.tmp appears); the
        # others at a random step of this invocation, a random fraction of a step later.
        in_write = k % 3 == 2
        target = rng.randint(min(start_step + 1, steps - 1), steps - 1)
        extra = rng.uniform(0.0, 0.05)
        finished = _wait_for_moment(proc, run, target, in_write, extra, deadline=time.time() + max_wait)
        delay = time.time() - t_kill
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        logged = last_logged_step(run)
        ckroot = run / "checkpoints"
        inside = ckroot.is_dir() and any(p.name.endswith((".tmp", ".old")) for p in ckroot.iterdir())
        n_ckpt, newest, error = check_checkpoints(run)
        lost = logged - newest if newest >= 0 else None
        rec = {"kill": k + 1, "after_s": round(delay, 2), "aimed_at": "a checkpoint write" if in_write else target,
               "finished_first": finished, "logged_step": logged,
               "resumable_step": newest, "steps_lost": lost, "inside_write": inside, "checkpoints": n_ckpt,
               "error": error, "went_back": 0 <= newest < prev_newest}
        if error:
            failures.append(f"kill {k + 1}: a checkpoint does not load: {error}")
        if rec["went_back"]:
            failures.append(f"kill {k + 1}: the newest checkpoint went back from {prev_newest} to {newest}")
        if lost is not None and lost > save_every:
            failures.append(f"kill {k + 1}: {lost} steps lost, more than one interval ({save_every})")
        if finished:  # the run reached its end before the kill: start the next one from scratch
            records.append(rec)
            log(f"kill {k + 1}: the run finished within {delay:.1f} s; restarting it from scratch")
            import shutil

            shutil.rmtree(run)
            prev_newest = 0
            continue
        prev_newest = max(prev_newest, newest)
        records.append(rec)
        log(f"kill {k + 1}/{kills} after {delay:.1f} s: logged step {logged}, resumable {newest}, "
            f"lost {lost}, inside a write: {inside}")
    final = subprocess.run(train_command(folder, run, steps, save_every), env=_env(), capture_output=True, text=True)
    if final.returncode:
        failures.append(f"the final rerun failed: {final.stderr.strip().splitlines()[-1:]}")
        equal, worst = False, float("inf")
    else:
        equal, worst = same_weights(final_weights(ref), final_weights(run))
        if not equal:
            failures.append(f"the final weights differ from the uninterrupted run's (max |diff| {worst:g})")
    killed = [r for r in records if not r["finished_first"]]
    return {
        "kills_tried": len(killed), "kills_survived": sum(1 for r in killed if not r["error"]
                                                          and (r["steps_lost"] or 0) <= save_every),
        "kills_inside_a_write": sum(1 for r in killed if r["inside_write"]),
        "max_steps_lost": max((r["steps_lost"] or 0 for r in killed), default=0),
        "save_every": save_every, "steps": steps, "final_bitwise_equal": equal, "final_max_abs_diff": worst,
        "reference_seconds": round(ref_seconds, 1), "failures": failures, "records": records,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(ROOT / "bench" / "cache" / "kill"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "kill.json"))
    args = ap.parse_args()
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    res = run_harness(Path(args.work), args.kills, args.steps, args.save_every, args.seed)
    res["load_average"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"kills survived {res['kills_survived']} of {res['kills_tried']} "
          f"({res['kills_inside_a_write']} inside a checkpoint write); at most {res['max_steps_lost']} steps lost "
          f"(interval {res['save_every']}); final weights bitwise equal to the uninterrupted run: "
          f"{res['final_bitwise_equal']}")
    for f in res["failures"]:
        print("FAIL:", f)
    sys.exit(1 if res["failures"] else 0)


if __name__ == "__main__":
    main()
