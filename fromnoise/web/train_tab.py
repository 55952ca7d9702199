"""The Train tab: ``fromnoise train`` as a separate process, watched and stoppable from the page.

The page builds the same command a person would type and starts it with the same Python
(``python -m fromnoise.cli.main train ...``): the trainer is the CLI's, not a second one. The
process writes what every run writes (``metrics.jsonl``, ``samples/latest.png``, checkpoints)
and the page reads those files. Only folders under the ``--data-root`` directories given to
``fromnoise serve`` can be chosen, and runs go under ``--runs``. Stop sends SIGINT; the run keeps
its last checkpoint (one every "checkpoint every" steps), and starting the same run name again
resumes from it.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..checkpoint import list_checkpoints
from ..errors import UserError
from ..models import PRESETS
from ..training.logging import RunLogger
from ..viz import loss_figure
from .common import page_errors

CONDITIONS = ("none", "class", "text", "features")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_MINUTES = 24 * 60
MAX_STEPS = 10**7


def read_losses(run_dir: str | Path) -> tuple[list[int], list[float]]:
    """The (steps, losses) a run has logged so far (``metrics.jsonl``)."""
    if not (Path(run_dir) / "metrics.jsonl").exists():
        return [], []
    return RunLogger(run_dir).read("loss")


def run_loss_figure(run_dir: str | Path):
    """The run's loss plot (:func:`fromnoise.viz.loss_figure`, the trainer's own), or None before two points."""
    steps, losses = read_losses(run_dir)
    return loss_figure(steps, losses) if len(steps) >= 2 else None


class TrainJobs:
    """The one training process of the page (one at a time): start, watch, stop.

    Args:
        runs_dir: where runs are written (``serve --runs``).
        data_roots: the only directories whose folders may be trained on (``serve --data-root``).
    """

    def __init__(self, runs_dir: Path | None, data_roots: list[Path]):
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.data_roots = [Path(r).resolve() for r in data_roots]
        self.proc: subprocess.Popen | None = None
        self.out: Path | None = None
        self.command: list[str] = []
        self.goal: tuple[str, float] | None = None
        self.started = 0.0
        self.stopped = False
        atexit.register(self.stop)

    # ---------------------------------------------------------------------------------- checks
    def folders(self) -> list[str]:
        """Folders that can be trained on: each data root and its sub-folders (two levels)."""
        out = []
        for root in self.data_roots:
            if not root.is_dir():
                continue
            out.append(str(root))
            for p in sorted(root.glob("*")) + sorted(root.glob("*/*")):
                if p.is_dir() and not p.name.startswith("."):
                    out.append(str(p))
        return out

    def check_folder(self, folder: str) -> Path:
        if not self.data_roots:
            raise UserError("training from the page is off: start the page with 'fromnoise serve --data-root DIR' "
                            "to allow the folders under DIR")
        if not folder or not str(folder).strip():
            raise UserError("choose a folder of images to train on")
        path = Path(folder).expanduser().resolve()
        if not any(path == r or path.is_relative_to(r) for r in self.data_roots):
            raise UserError(f"'{folder}' is not under the data roots of this page "
                            f"({', '.join(map(str, self.data_roots))}); choose a folder inside one of them")
        if not path.is_dir():
            raise UserError(f"'{folder}' is not a folder; choose a folder of images")
        return path

    def build_command(self, folder: str, name: str, preset: str, condition: str, image_size: int | None,
                      budget: str, amount: float, every: int) -> tuple[list[str], Path]:
        """The ``fromnoise train`` command line for these choices, and the run directory it writes."""
        path = self.check_folder(folder)
        if self.runs_dir is None:
            raise UserError("training from the page needs a runs directory: start it with --runs DIR")
        if not name or not _NAME.match(name):
            raise UserError(f"the run name {name!r} must be 1-64 letters, digits, '.', '_' or '-' (it becomes "
                            f"a folder under {self.runs_dir})")
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        if condition not in CONDITIONS:
            raise UserError(f"unknown condition {condition!r}; choose one of: {', '.join(CONDITIONS)}")
        try:
            amount = float(amount)
        except (TypeError, ValueError):
            raise UserError(f"the budget must be a number, got {amount!r}") from None
        if budget == "minutes":
            if not 0 < amount <= MAX_MINUTES:
                raise UserError(f"the budget in minutes must be in (0, {MAX_MINUTES}], got {amount:g}")
            how = ["--minutes", f"{amount:g}"]
        elif budget == "steps":
            if amount != int(amount) or not 1 <= amount <= MAX_STEPS:
                raise UserError(f"the budget in steps must be a whole number in [1, {MAX_STEPS}], got {amount:g}")
            how = ["--steps", str(int(amount))]
        else:
            raise UserError(f"the budget is counted in 'minutes' or 'steps', not {budget!r}")
        if int(every) < 1:
            raise UserError("checkpoint every must be at least 1 step")
        out = self.runs_dir / name
        cmd = [sys.executable, "-m", "fromnoise.cli.main", "train", "--dataset", str(path), "--preset", preset,
               "--condition", condition, *how, "--out", str(out), "--sample-every", str(int(every)),
               "--save-every", str(int(every)), "--num-samples", "16", "--no-progress"]
        if image_size:
            cmd += ["--image-size", str(int(image_size))]
        self.goal = (budget, amount)
        return cmd, out

    # ------------------------------------------------------------------------------- process
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *args) -> str:
        """Start training (``build_command``'s arguments); a UserError while one is running."""
        if self.running():
            raise UserError(f"a training is already running ({self.out}); stop it first")
        cmd, out = self.build_command(*args)
        out.mkdir(parents=True, exist_ok=True)
        resumed = bool(list_checkpoints(out))
        log = open(out / "web_train.log", "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        log.close()
        self.out, self.command, self.started, self.stopped = out, cmd, time.time(), False
        return (f"started{' (resuming)' if resumed else ''}: " +
                shlex.join(["fromnoise", *cmd[cmd.index("train"):]]))

    def stop(self, wait: float = 20.0) -> str:
        """Interrupt the training (SIGINT, then SIGKILL after ``wait`` s); says where it can resume from."""
        if not self.running():
            return "no training is running"
        self.stopped = True
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        ckpts = list_checkpoints(self.out)
        where = f"checkpoint {ckpts[-1].name}" if ckpts else "the start (no checkpoint was written yet)"
        return f"stopped; starting the same run again resumes from {where}"

    def status(self) -> dict:
        """What the page shows: state line, step and loss, log tail, latest sample grid, loss figure."""
        if self.out is None:
            return {"text": "No training started from this page yet.", "running": False}
        steps, losses = read_losses(self.out)
        log = self.out / "web_train.log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-12:]) if log.exists() else ""
        sample = self.out / "samples" / "latest.png"
        image = None
        if sample.exists():
            try:
                with Image.open(sample) as im:
                    image = np.asarray(im.convert("RGB"))
            except OSError:  # being replaced right now: the next tick shows it
                image = None
        figure = run_loss_figure(self.out)
        # the process state is read last, after the slow parts (the figure), so that a tick that began before a
        # Stop cannot answer "running" after the Stop has answered "stopped"
        rc = None if self.proc is None else self.proc.poll()
        if rc is None:
            state = "stopping" if self.stopped else "running"
        elif self.stopped:
            state = "stopped"
        else:
            state = "finished" if rc == 0 else f"failed (exit status {rc})"
        progress = ""
        if steps and self.goal and self.goal[0] == "steps":
            progress = f", {100 * min(1.0, steps[-1] / self.goal[1]):.0f}% of {int(self.goal[1])} steps"
        elif self.goal and self.goal[0] == "minutes" and rc is None:
            progress = f", {(time.time() - self.started) / 60:.1f} of {self.goal[1]:g} minutes"
        line = f"**{state}** · {self.out}" + (f" · step {steps[-1]}, loss {losses[-1]:.4f}{progress}" if steps
                                               else " · starting (loading data, building the model)")
        return {"text": line, "running": rc is None, "log": tail, "sample": image, "loss": figure,
                "step": steps[-1] if steps else 0}


# ------------------------------------------------------------------------------------- page
def build(ctx):
    """Lay out the Train tab and wire its events."""
    import gradio as gr

    jobs: TrainJobs = ctx.jobs
    folders = jobs.folders()
    if not jobs.data_roots:
        gr.Markdown("Training from the page is **off**: start it with `fromnoise serve --data-root DIR` to allow "
                    "the folders under DIR.")
    with gr.Row():
        with gr.Column():
            folder = gr.Dropdown(folders, value=folders[0] if folders else None, allow_custom_value=True,
                                 label="folder of images (under the data roots)", elem_id="train-folder")
            name = gr.Textbox("web-run", label=f"run name (a folder under {ctx.runs_dir})", elem_id="train-name")
            with gr.Row():
                preset = gr.Dropdown(list(PRESETS), value="micro" if "micro" in PRESETS else None, label="preset",
                                     elem_id="train-preset")
                condition = gr.Dropdown(list(CONDITIONS), value="none", label="condition",
                                        elem_id="train-condition")
                size = gr.Number(None, precision=0, label="image size (empty: the data's)", minimum=8,
                                 maximum=1024, elem_id="train-size")
            with gr.Row():
                budget = gr.Radio(["minutes", "steps"], value="minutes", label="budget in",
                                  elem_id="train-budget-kind")
                amount = gr.Number(5, label="budget", minimum=0, elem_id="train-budget")
                every = gr.Number(100, precision=0, minimum=1, label="checkpoint and sample every (steps)",
                                  elem_id="train-every")
            with gr.Row():
                start = gr.Button("Start (or resume)", variant="primary", elem_id="train-start")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
            message = gr.Markdown("", elem_id="train-message")
        with gr.Column():
            state = gr.Markdown("No training started from this page yet.", elem_id="train-state")
            loss = gr.Plot(label="training loss", format="png", elem_id="train-loss")
            sample = gr.Image(label="latest sample grid", format="png", interactive=False, elem_id="train-sample")
            log = gr.Code(label="log", lines=8, interactive=False, elem_id="train-log")
    timer = gr.Timer(1.0, active=False)

    def on_start(*args):
        text = page_errors(jobs.start, *args)
        return text, gr.Timer(active=True)

    start.click(on_start, [folder, name, preset, condition, size, budget, amount, every], [message, timer],
                api_name="train_start", concurrency_limit=1, concurrency_id="train")

    def on_tick():
        st = jobs.status()
        # a Stop pressed while this tick ran answers after it (stop() waits for the process), so a tick never
        # overwrites "stopped" with an older "running"; once stopping, the ticks end
        return (st["text"], st.get("loss") or gr.update(),
                st["sample"] if st.get("sample") is not None else gr.update(), st.get("log", ""),
                gr.Timer(active=st["running"] and not jobs.stopped))

    timer.tick(on_tick, None, [state, loss, sample, log, timer], api_visibility="private", concurrency_limit=None)

    def on_stop():
        text = jobs.stop()
        st = jobs.status()
        return text, st["text"], st.get("log", ""), gr.Timer(active=False)

    stop.click(on_stop, None, [message, state, log, timer], api_name="train_stop", concurrency_limit=None)

    def train_status() -> dict:
        """The training process's state: {"text", "running", "step"}."""
        st = jobs.status()
        return {"text": st["text"], "running": st["running"], "step": st.get("step", 0)}

    gr.api(train_status, api_name="train_status", concurrency_limit=None)
