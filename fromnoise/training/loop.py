"""The one training loop (NVlabs/edm's ``training_loop.py``): it knows nothing of diffusion or autoencoders.

    loop: batch ─► objective(net, x, info) -> (per-sample loss, stats) ─► mean ─► backward
          ─► clip ─► optimizer step ─► objective.after_step (aux parts: a discriminator) ─► EMA
          ─► every N steps: log, pictures, checkpoint, hooks

It owns accelerate, sharding (``TensorBatches`` rank/world), resume and save (:mod:`.state`),
SIGINT / SIGTERM (save, then stop), the finite-loss check (every micro-batch, before the optimizer
step, agreed by every process), budgets (steps, epochs, minutes of wall or CPU time), the
learning-rate schedule, gradient clipping and accumulation, the EMA (classic or power, with
post-hoc snapshots), the run's logs and the tqdm bar. A subclass builds the network, optimizer,
batches and objective and calls :meth:`TrainingLoop.start`; it draws its own pictures.

The objective's contract (:class:`fromnoise.training.objective.Objective`): called as
``objective(net, x, info)`` on one micro-batch, it returns the per-sample loss (B,) that the loop
averages and back-propagates, and its stats (0-d tensors; ``stats["loss"]`` is the figure logged
and checked). Everything that writes runs on the main process only; the stats logged are the
means over every process; stops are agreed by all processes before they act.
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import list_checkpoints
from ..errors import UserError
from .ema import EMA, PostHocEMA, save_snapshot
from .logging import RunLogger
from .runtime import Quiet, average_gradients, make_accelerator, mean_over_processes, process_seed, seed_everything
from .schedule import budget_clock, budget_progress, learning_rate, target_steps
from .signals import TrainingInterrupted, catch_stop_signals, restore_signals
from .state import RunState

# What the loop reads beside the fields every training config has (out, steps, minutes, clock, batch_size,
# lr, warmup, grad_clip, sample_every, save_every, keep, log_every, seed, progress); a config without
# one of these (the autoencoder's) trains with the value here.
OPTIONAL = {"epochs": None, "grad_accum": 1, "lr_decay": "none", "compile": False}


class TrainingLoop(RunState):
    """Trains ``self.net`` with ``self.objective`` on ``data`` under ``options`` (see the module docstring).

    Args:
        options: a training config (``fromnoise.config.TrainingConfig``, ``AutoencoderTrainingConfig``).
        data: the training images (its length sets the epoch).
        hooks: callables ``hook(loop, step)`` run on the main process after every step.
    """

    desc = "train"  # the progress bar's label
    no_budget = "say how long to train: --steps, --epochs or --minutes"

    def __init__(self, options, data, hooks: list | None = None):
        self.opt, self.out, self.data = options, Path(options.out), data
        self.hooks = hooks or []
        self.grad_accum = self._option("grad_accum")
        self.acc = make_accelerator(self.grad_accum)
        self.rank, self.world, self.main = self.acc.process_index, self.acc.num_processes, self.acc.is_main_process
        if options.batch_size % self.world:
            raise UserError(f"the batch size {options.batch_size} does not split into {self.world} processes; "
                            f"--batch-size is the global batch, so give a multiple of {self.world}")
        # the same seed on every process: the same initial weights (DDP checks nothing, it broadcasts)
        seed_everything(options.seed)  # a resumed run restores every generator's saved state instead
        self.step = 0
        self.ema = self.posthoc = None
        self._stop_signal = None
        self._collective = True  # False while the main process alone runs the hooks

    def _option(self, name: str):
        return getattr(self.opt, name, OPTIONAL[name])

    def start(self, net: torch.nn.Module, optimizer, batches, objective, ema: bool = False) -> None:
        """Take the built parts, resume from ``out`` if it holds a run, and prepare them for accelerate.

        ``ema``: keep an EMA of ``net`` (``options.ema_decay`` / ``ema_std``; post-hoc trackers with
        ``ema_snapshots``)."""
        self.net, self.optimizer, self.batches, self.objective = net, optimizer, batches, objective
        if ema:
            self.ema = EMA(net, self.opt.ema_decay, std=self.opt.ema_std)
            self.posthoc = PostHocEMA(net) if self.opt.ema_snapshots else None
        if self.rank > 0:  # draws of their own
            seed_everything(process_seed(self.opt.seed, self.rank))
        self.logger = RunLogger(self.out) if self.main else Quiet()  # the one guard on what is written
        self._resume()
        self.model, self.optimizer = self.acc.prepare(net, optimizer)
        for copy in ([self.ema] if self.ema is not None else []) + (self.posthoc.emas if self.posthoc else []):
            copy.model.to(self.acc.device)
        self.forward = torch.compile(self.model) if self._option("compile") else self.model

    def pictures(self) -> None:
        """What the run shows every ``sample_every`` steps and at the end (main process only)."""

    # ------------------------------------------------------------------------------------- loop
    def _now(self) -> float:
        return budget_clock(self.opt.clock)

    def run(self) -> Path:
        """Train until the step, epoch or time budget; returns the run directory."""
        goal = target_steps(len(self.data), self.opt.batch_size, self.grad_accum, self.opt.steps,
                            self._option("epochs"))
        if goal is None and self.opt.minutes is None:
            raise UserError(self.no_budget)
        if goal is not None and self.step >= goal:
            self.logger.note(f"already at step {self.step} >= {goal}; nothing to train")
            return self.out
        start, last_log, seen_since = self._now(), time.time(), 0
        deadline = start + 60 * self.opt.minutes if self.opt.minutes else None
        bar = tqdm(total=goal, initial=self.step, desc=self.desc, unit="step",
                   disable=not (self.opt.progress and self.main), dynamic_ncols=True)
        self.model.train()
        batches = iter(self.batches)
        stats: dict = {}
        self._stop_signal = None
        handlers = catch_stop_signals(lambda sig: setattr(self, "_stop_signal", sig))
        try:
            while goal is None or self.step < goal:
                progress, time_up = self._agree(goal, start, deadline)
                if time_up or self._stop_signal is not None:
                    break
                last_log, seen_since = self._one_step(batches, progress, last_log, seen_since, bar, stats)
        finally:
            restore_signals(handlers)
        if self._stop_signal is not None:
            bar.close()
            path = self.save()
            name = self._stop_signal.name
            self.logger.note(f"stopped by {name} at step {self.step}: saved {path}")
            self.logger.close()
            raise TrainingInterrupted(f"{name} at step {self.step}; saved {path}. Rerun the same command to resume",
                                      int(self._stop_signal))
        if stats and self.step % self.opt.log_every and self.step != 1:  # the last step is always logged
            self._log(stats, last_log, seen_since, bar)
        bar.close()
        path = self.save()
        if self.main:
            self.pictures()
        self.logger.note(f"saved {path} after {self._now() - start:.0f} s ({self.opt.clock}) at step {self.step}")
        self.logger.close()
        self.acc.wait_for_everyone()  # every process returns once the run's files are written
        return self.out

    def _agree(self, goal, start, deadline) -> tuple[float, bool]:
        """(budget progress, time is up) as the main process sees them, and any stop signal that
        reached any process: one all-reduce, so every process takes the same lr and stops together."""
        now = self._now()
        progress = budget_progress(self.step, goal, now, start, deadline)
        time_up = deadline is not None and now >= deadline
        if self.world == 1:
            return progress, time_up
        signum = int(self._stop_signal) if self._stop_signal is not None else 0
        flags = torch.tensor([progress if self.main else 0.0, float(time_up), float(signum)], dtype=torch.float64,
                             device=self.acc.device)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        progress, time_up, signum = float(flags[0]), bool(flags[1]), int(flags[2])
        if signum and self._stop_signal is None:
            self._stop_signal = signal.Signals(signum)
        return progress, time_up

    def train_step(self, x: torch.Tensor, info: dict) -> dict:
        """One forward/backward on a micro-batch: the objective's per-sample loss, averaged; returns its stats."""
        per_sample, stats = self.objective(self.forward, x, info)
        self.acc.backward(per_sample.mean())
        return stats

    def _check_finite(self, loss: float, micro: int) -> None:
        if math.isfinite(loss):
            return
        last = list_checkpoints(self.out)
        where = f" (micro-batch {micro + 1} of {self.grad_accum})" if self.grad_accum > 1 else ""
        raise UserError(f"the loss became {loss} at step {self.step + 1}{where}; training stopped before the "
                        f"optimizer step. The last good checkpoint is "
                        f"{last[-1] if last else 'none (none was saved yet)'}; lower --lr or raise --grad-clip "
                        "and rerun")

    def _one_step(self, batches, progress, last_log, seen_since, bar, stats):
        """One optimizer step over ``grad_accum`` micro-batches, each checked for a finite loss."""
        lr = learning_rate(self.opt.lr, self.step, self.opt.warmup, self._option("lr_decay"), progress)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        for micro in range(self.grad_accum):
            x, info = next(batches)
            with self.acc.accumulate(self.model):
                stats.update(mean_over_processes(self.acc, self.train_step(x, info), self.world))
                self._check_finite(float(stats["loss"]), micro)
                if self.acc.sync_gradients:
                    self.average_gradients(self.objective.parameters())  # DDP averages only the network's
                    if self.opt.grad_clip:
                        self.acc.clip_grad_norm_(self.model.parameters(), self.opt.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.acc.sync_gradients:
                    stats.update(mean_over_processes(self.acc, self.objective.after_step(self), self.world))
            seen_since += x.shape[0] * self.world
        net = self.acc.unwrap_model(self.model)
        if self.ema is not None:
            self.ema.update(net)
        if self.posthoc is not None:
            self.posthoc.update(net)
        self.step += 1
        if self.posthoc is not None and self.main and self.step % self.opt.ema_snapshots == 0:
            save_snapshot(self.out, self.step, self.posthoc)
        if self.step % self.opt.log_every == 0 or self.step == 1:
            last_log, seen_since = self._log(stats, last_log, seen_since, bar)
        bar.update(1)
        if self.step % self.opt.sample_every == 0 and self.main:
            self.pictures()
        if self.step % self.opt.save_every == 0:
            self.save()
        if self.main and self.hooks:  # hooks write files (best/); the others wait at the next step
            self._collective = False
            try:
                for hook in self.hooks:
                    hook(self, self.step)
            finally:
                self._collective = True
        return last_log, seen_since

    def average_gradients(self, parameters) -> None:
        """Average the gradients of trained parts that DDP does not wrap over the processes (1: nothing to do)."""
        if self.world > 1:
            average_gradients(parameters, self.world)

    def _log(self, stats: dict, last_log: float, seen_since: int, bar) -> tuple[float, int]:
        now = time.time()
        values = {k: float(v) for k, v in stats.items()}
        values.update(lr=self.optimizer.param_groups[0]["lr"], images_per_s=seen_since / max(now - last_log, 1e-9),
                      epoch=self.batches.epoch)
        self.logger.scalars(self.step, values)
        bar.set_postfix(**self.postfix(values))
        return now, 0

    def postfix(self, values: dict) -> dict:
        """What the progress bar shows beside the step count."""
        return {"loss": f"{values['loss']:.4f}", "img_s": f"{values['images_per_s']:.0f}", "epoch": values["epoch"]}
