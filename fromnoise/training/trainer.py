"""The trainer: HuggingFace accelerate, AdamW, warm-up, clipping, EMA, accumulation, pictures, checkpoints.

    Trainer(config, data, TrainOptions(out="runs/fashion", minutes=10)).run()

It rebuilds nothing it can resume: rerunning the same command continues from the
newest complete checkpoint in ``out`` (step count, weights, EMA, optimizer, data order and
every random generator's state), so N steps in one run and N/2 + resume + N/2 give the same
weights, bit for bit, on the CPU. SIGINT and SIGTERM save a checkpoint and stop cleanly;
a non-finite loss in any micro-batch stops training before the optimizer step, naming the
last good checkpoint. fp32 on the CPU; bf16 autocast only on CUDA (bf16 on these CPUs is
50-390x slower).
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..build import build_denoiser
from ..conditioning import dropout_mask
from ..config import TrainingConfig, as_config
from ..data import ImageData, TensorBatches
from ..diffusion import diffusion_loss, q_sample, target, to_eps_x0
from ..errors import UserError
from .checkpoint import (list_checkpoints, load_weights, optimizer_from_tensors, read_checkpoint,
                         recover_checkpoints, save_checkpoint, set_rng_state)
from .conditions import batch_condition
from .ema import EMA
from .logging import RunLogger


LR_DECAYS = ("none", "cosine")


class TrainingInterrupted(UserError):
    """SIGINT or SIGTERM stopped training; a checkpoint was saved (the message names it).

    ``exit_code`` is the shell's convention for a process ended by that signal (130, 143).
    """

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + int(signum)
        self.prefix = "Stopped"


def learning_rate(peak: float, step: int, warmup: int, decay: str, progress: float) -> float:
    """The learning rate of optimizer step ``step``: a linear warm-up over ``warmup`` steps, then
    ``peak``, or with ``decay="cosine"`` peak * (1 + cos(pi * progress)) / 2, where ``progress``
    (0..1) is how much of the budget is spent (Loshchilov & Hutter 2017, without restarts)."""
    if decay not in LR_DECAYS:
        raise UserError(f"unknown lr decay '{decay}'; choose one of {', '.join(LR_DECAYS)}")
    lr = peak * min(1.0, (step + 1) / max(1, warmup))
    if decay == "cosine":
        lr *= 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return lr


# How to train: fromnoise.config.TrainingConfig (validated on construction; its defaults are the CLI's).
TrainOptions = TrainingConfig


class Trainer:
    """Trains the Denoiser that ``config`` describes on ``data``.

    Args:
        config: the model config (``fromnoise.build.make_config``), saved in every checkpoint.
        data: the in-memory training images.
        options: how long and how to train, and where to write.
        tables: per-image condition tables (``fromnoise.training.conditions``), may be empty.
        hooks: callables ``hook(trainer, step)`` run after every step (in-training evaluation).
    """

    def __init__(self, config: dict, data: ImageData, options: TrainOptions, tables: dict | None = None,
                 hooks: list | None = None):
        from accelerate import Accelerator

        self.opt = options
        self.out = Path(options.out)
        self.data = data
        self.tables = tables or {}
        self.hooks = hooks or []
        cuda = torch.cuda.is_available()
        self.acc = Accelerator(mixed_precision="bf16" if cuda and torch.cuda.is_bf16_supported() else "no",
                               gradient_accumulation_steps=options.grad_accum, cpu=not cuda)
        torch.manual_seed(options.seed)  # a resumed run restores every generator's saved state instead
        np.random.seed(options.seed % 2**32)
        random.seed(options.seed)
        config = as_config(config)  # validated: known keys, ranges (a dict from make_config works too)
        self.config = dict(config.to_dict(), data=data.description, training=asdict(options))
        self.denoiser = build_denoiser(config)
        self.optimizer = torch.optim.AdamW(self.denoiser.parameters(), lr=options.lr,
                                           weight_decay=options.weight_decay, betas=(0.9, 0.99))
        hflip = options.hflip and "mask" not in self.tables  # a flipped image would not match its mask
        self.batches = TensorBatches(data, options.batch_size, hflip=hflip, color_jitter=options.color_jitter,
                                     seed=options.seed, device=self.acc.device)
        self.step = 0
        self.ema = EMA(self.denoiser, options.ema_decay)
        self.logger = RunLogger(self.out)
        self._resume()
        self.model, self.optimizer = self.acc.prepare(self.denoiser, self.optimizer)
        self.ema.model.to(self.acc.device)
        self.forward = torch.compile(self.model) if options.compile else self.model

    # ----------------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        for note in recover_checkpoints(self.out):
            self.logger.note(f"recovered after a crash: {note}")
        if not list_checkpoints(self.out):
            return
        ckpt, saved, state = read_checkpoint(self.out)
        mine = {k: self.config[k] for k in ("model", "diffusion", "image", "conditioning")}
        theirs = {k: saved.get(k) for k in mine}
        if _jsonable(mine) != _jsonable(theirs):
            raise UserError(f"'{self.out}' already holds a run of a different model ({ckpt.name}); "
                            "resume it with the same settings, or train into a new --out directory")
        load_weights(self.denoiser, ckpt / "model.safetensors")
        load_weights(self.ema.model, ckpt / ("ema.safetensors" if (ckpt / "ema.safetensors").exists()
                                             else "model.safetensors"))
        if (ckpt / "optimizer.safetensors").exists() and "optimizer" in state:
            from safetensors.torch import load_file

            self.optimizer.load_state_dict(optimizer_from_tensors(load_file(str(ckpt / "optimizer.safetensors")),
                                                                  state["optimizer"]))
        self.step = int(state.get("step", 0))
        self.ema.updates = int(state.get("ema_updates", self.step))
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])
        if (ckpt / "rng.safetensors").exists() and "rng" in state:
            from safetensors.torch import load_file

            set_rng_state(load_file(str(ckpt / "rng.safetensors")), state["rng"])
        else:  # a checkpoint from before the generators were saved: fresh randomness, not a replay
            self.logger.note(f"{ckpt.name} holds no random-generator state; reseeding from seed + step")
            torch.manual_seed(self.opt.seed + self.step)
        self.logger.truncate(self.step)  # steps logged after this checkpoint are trained again
        self.logger.note(f"resumed from {ckpt} at step {self.step}")

    def save(self) -> Path:
        state = {"ema_updates": self.ema.updates, "batches": self.batches.state_dict(),
                 "images_seen": self.step * self.opt.batch_size * self.opt.grad_accum}
        return save_checkpoint(self.out, self.step, model=self.acc.unwrap_model(self.model), ema=self.ema.model,
                               optimizer=self.optimizer, config=self.config, trainer_state=state, keep=self.opt.keep)

    # ------------------------------------------------------------------------------------- loop
    def _lr(self, step: int, progress: float = 0.0) -> float:
        return learning_rate(self.opt.lr, step, self.opt.warmup, self.opt.lr_decay, progress)

    def _progress(self, goal: int | None, start: float, deadline: float | None) -> float:
        """How far through its budget this invocation is, 0..1: the further of steps and wall time."""
        done = [self.step / goal] if goal else []
        if deadline is not None:
            done.append((time.time() - start) / (deadline - start))
        return min(1.0, max(done, default=0.0))

    def _target_steps(self) -> int | None:
        per_epoch = math.ceil(len(self.data) / (self.opt.batch_size * self.opt.grad_accum))
        goals = [g for g in (self.opt.steps, self.opt.epochs and math.ceil(self.opt.epochs * per_epoch)) if g]
        return min(goals) if goals else None

    def train_step(self, x0: torch.Tensor, info: dict) -> dict:
        """One forward/backward on a batch; returns its loss and pseudo-accuracy (reference 003)."""
        d = self.denoiser
        b = x0.shape[0]
        t = torch.randint(0, d.num_timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = q_sample(x0, t, noise, d.alpha_bar)
        cond = batch_condition(self.tables, info["indices"])
        if cond:  # tables stay on the CPU; a batch's rows go where the model is
            cond = {k: v.to(x0.device) for k, v in cond.items()}
        drop = dropout_mask(b, self.opt.condition_dropout, device=x0.device) if cond else None
        with self.acc.autocast():
            out = self.forward(x_t, t, cond, drop)
        per_sample = diffusion_loss(out, target(d.prediction, x0, noise, t, d.alpha_bar), t, d.alpha_bar,
                                    d.prediction, self.opt.min_snr_gamma)
        loss = per_sample.mean()
        self.acc.backward(loss)
        with torch.no_grad():
            _, x0_hat = to_eps_x0(d.prediction, out.detach().float(), x_t, t, d.alpha_bar)
            acc = 1 - (x0_hat.clamp(-1, 1) - x0).pow(2).mean()
        return {"loss": loss.detach(), "pseudo_acc": acc}

    def run(self) -> Path:
        """Train until the step, epoch or time budget; returns the run directory."""
        goal = self._target_steps()
        if goal is None and self.opt.minutes is None:
            raise UserError("say how long to train: --steps, --epochs or --minutes")
        if goal is not None and self.step >= goal:
            self.logger.note(f"already at step {self.step} >= {goal}; nothing to train")
            return self.out
        start, last_log, seen_since = time.time(), time.time(), 0
        deadline = start + 60 * self.opt.minutes if self.opt.minutes else None
        bar = tqdm(total=goal, initial=self.step, desc="train", unit="step", disable=not self.opt.progress,
                   dynamic_ncols=True)
        self.model.train()
        batches = iter(self.batches)
        stats: dict = {}
        self._stop_signal = None
        handlers = self._catch_signals()
        try:
            while (goal is None or self.step < goal) and (deadline is None or time.time() < deadline):
                if self._stop_signal is not None:
                    break
                last_log, seen_since = self._one_step(batches, goal, start, deadline, last_log, seen_since, bar,
                                                      stats)
        finally:
            self._restore_signals(handlers)
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
        self.pictures()
        self.logger.note(f"saved {path} after {time.time() - start:.0f} s at step {self.step}")
        self.logger.close()
        return self.out

    def _catch_signals(self) -> dict:
        """SIGINT / SIGTERM set a flag that the loop reads after the current step (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def stop(signum, _frame):
            self._stop_signal = signal.Signals(signum)

        return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signals(handlers: dict) -> None:
        for sig, old in handlers.items():
            signal.signal(sig, old)

    def _check_finite(self, loss: float, micro: int) -> None:
        if math.isfinite(loss):
            return
        last = list_checkpoints(self.out)
        where = f" (micro-batch {micro + 1} of {self.opt.grad_accum})" if self.opt.grad_accum > 1 else ""
        raise UserError(f"the loss became {loss} at step {self.step + 1}{where}; training stopped before the "
                        f"optimizer step. The last good checkpoint is "
                        f"{last[-1] if last else 'none (none was saved yet)'}; lower --lr or raise --grad-clip "
                        "and rerun")

    def _one_step(self, batches, goal, start, deadline, last_log, seen_since, bar, stats):
        """One optimizer step over ``grad_accum`` micro-batches, each checked for a finite loss."""
        lr = self._lr(self.step, self._progress(goal, start, deadline))
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        for micro in range(self.opt.grad_accum):
            x0, info = next(batches)
            with self.acc.accumulate(self.model):
                stats.update(self.train_step(x0, info))
                self._check_finite(float(stats["loss"]), micro)
                if self.acc.sync_gradients and self.opt.grad_clip:
                    self.acc.clip_grad_norm_(self.model.parameters(), self.opt.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            seen_since += x0.shape[0]
        self.ema.update(self.acc.unwrap_model(self.model))
        self.step += 1
        if self.step % self.opt.log_every == 0 or self.step == 1:
            last_log, seen_since = self._log(stats, last_log, seen_since, bar)
        bar.update(1)
        if self.step % self.opt.sample_every == 0:
            self.pictures()
        if self.step % self.opt.save_every == 0:
            self.save()
        for hook in self.hooks:
            hook(self, self.step)
        return last_log, seen_since

    def _log(self, stats: dict, last_log: float, seen_since: int, bar) -> tuple[float, int]:
        now = time.time()
        ips = seen_since / max(now - last_log, 1e-9)
        loss = float(stats["loss"])
        self.logger.scalars(self.step, {"loss": loss, "pseudo_acc": float(stats["pseudo_acc"]),
                                        "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": ips,
                                        "epoch": self.batches.epoch})
        bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{ips:.0f}", epoch=self.batches.epoch)
        return now, 0

    @torch.no_grad()
    def pictures(self) -> None:
        """A sample grid from the EMA weights (one row per class when class-conditional) and the loss plot."""
        from ..sampling import generate
        from ..viz import save_grid

        n = self.opt.num_samples
        cond, nrow = None, None
        if "class" in self.ema.model.encoders:
            k = self.ema.model.encoders["class"].num_classes
            per = max(1, n // k)
            cond, nrow = {"labels": torch.arange(k).repeat_interleave(per)}, per
            n = per * k
        elif self.tables:  # other conditions: the conditions of the first n training images
            idx = torch.arange(min(n, len(self.data)))
            cond, n = batch_condition(self.tables, idx), len(idx)
        images = generate(self.ema.model, n, sampler=self.opt.sampler, steps=self.opt.sample_steps, seed=0,
                          condition=cond, batch_size=64)
        self.ema.model.eval()
        path = save_grid(images, self.out / "samples" / f"step_{self.step:08d}.png", nrow=nrow)
        save_grid(images, self.out / "samples" / "latest.png", nrow=nrow)
        self.logger.images(self.step, images, path)
        self.logger.plot()


def _jsonable(obj):
    import json

    return json.loads(json.dumps(obj, default=str))
