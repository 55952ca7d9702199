"""The trainer: HuggingFace accelerate, AdamW, warm-up, clipping, EMA, accumulation, pictures, checkpoints.

    Trainer(config, data, TrainOptions(out="runs/fashion", minutes=10)).run()

It rebuilds nothing it can resume: rerunning the same command continues from the
newest complete checkpoint in ``out`` (step count, weights, EMA, optimizer, data order and
every random generator's state), so N steps in one run and N/2 + resume + N/2 give the same
weights, bit for bit, on the CPU. SIGINT and SIGTERM save a checkpoint and stop cleanly;
a non-finite loss in any micro-batch stops training before the optimizer step, naming the
last good checkpoint. fp32 on the CPU; bf16 autocast only on CUDA (bf16 on these CPUs is
50-390x slower).

Data parallel (``accelerate launch -m fromnoise train``, ``fromnoise train --processes N``):
``batch_size`` is the global batch B; each of the N processes trains on its B / N slice of
every global batch (``TensorBatches``), with its own timesteps, noise and dropout (seeded from
the run seed and its rank), and accelerate averages the gradients, so one step on N processes
is one step on one. Everything that writes (checkpoints, logs, tensorboard, pictures, hooks)
runs on the main process only; the loss logged is the mean over every process; stops (budget,
signals, a non-finite loss) are agreed by all processes before they act. Each process's
generator states are saved (rng.safetensors, rng_rank1.safetensors, ...); a resume on another
process count reseeds every process from (seed, step, rank) and says so in log.txt.

On CUDA: bf16 autocast with fp32 master weights, channels_last, fused AdamW, TF32 matmuls and
convolutions, the data set copied to the GPU once through pinned memory.
"""

from __future__ import annotations

import math
import random
import signal
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..build import build_denoiser
from ..conditioning import dropout_mask
from ..config import TrainingConfig, as_config
from ..data import ImageData, TensorBatches
from ..diffusion import (UncertaintyWeighting, diffusion_loss, lognormal_timesteps, q_sample, target, to_eps_x0,
                         uncertainty_weighted)
from ..diffusion.process import log_sigma
from ..errors import UserError
from ..checkpoint import (list_checkpoints, load_weights, optimizer_from_tensors, read_checkpoint, read_rng_state,
                         recover_checkpoints, rng_state, save_checkpoint, set_rng_state)
from ..conditioning.tables import batch_condition
from .ema import EMA, PostHocEMA, drop_snapshots_after, save_snapshot
from .logging import RunLogger
from .signals import catch_stop_signals, restore_signals


LR_DECAYS = ("none", "cosine")
WEIGHTING_FILE = "loss_weighting.safetensors"  # a checkpoint's learned loss weighting (--loss-weighting)
POSTHOC_FILE = "posthoc_ema.safetensors"  # a checkpoint's post-hoc EMA trackers (--ema-snapshots)


def budget_clock(clock: str) -> float:
    """The seconds a ``--minutes`` budget counts: wall time, or this process's CPU time (``clock="cpu"``:
    a benchmark's budget that other jobs on a shared machine do not eat into)."""
    return time.process_time() if clock == "cpu" else time.time()


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


def process_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of process ``rank`` (timesteps, noise, dropout): ``seed + step`` for process 0,
    numpy's SeedSequence of (seed, step, rank) for the others, so no two processes share a stream."""
    if rank == 0:
        return seed + step
    return int(np.random.SeedSequence([seed % 2**63, step, rank]).generate_state(1, np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global generator and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def optimizer_options(device: torch.device) -> dict:
    """AdamW's keyword arguments for ``device``: the fused CUDA kernel on a GPU (one launch for all
    parameters), the default for-each implementation on the CPU."""
    return {"fused": True} if torch.device(device).type == "cuda" else {}


def allow_tf32() -> None:
    """Let float32 matmuls and convolutions use TF32 tensor cores (CUDA only; a 10-bit mantissa in
    the products, fp32 accumulation: what PyTorch calls "high" precision)."""
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True


class _Quiet:
    """The logger of a process that is not the main one: every write is dropped."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class Trainer:
    """Trains the Denoiser that ``config`` describes on ``data``.

    Args:
        config: the model config (``fromnoise.build.make_config``), saved in every checkpoint.
        data: the in-memory training images.
        options: how long and how to train, and where to write.
        tables: per-image condition tables (``fromnoise.conditioning.tables``), may be empty.
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
        from accelerate.utils import InitProcessGroupKwargs

        cuda = torch.cuda.is_available()
        if cuda:
            allow_tf32()
        # a long in-training evaluation on the main process keeps the others waiting at the next step
        self.acc = Accelerator(mixed_precision="bf16" if cuda and torch.cuda.is_bf16_supported() else "no",
                               gradient_accumulation_steps=options.grad_accum, cpu=not cuda,
                               kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=2))])
        self.rank, self.world, self.main = self.acc.process_index, self.acc.num_processes, self.acc.is_main_process
        if options.batch_size % self.world:
            raise UserError(f"the batch size {options.batch_size} does not split into {self.world} processes; "
                            f"--batch-size is the global batch, so give a multiple of {self.world}")
        # the same seed on every process: the same initial weights (DDP checks nothing, it broadcasts)
        seed_everything(options.seed)  # a resumed run restores every generator's saved state instead
        config = as_config(config)  # validated: known keys, ranges (a dict from make_config works too)
        self.config = dict(config.to_dict(), data=data.description, training=asdict(options))
        self.denoiser = build_denoiser(config)
        self.channels_last = cuda  # NHWC convolutions on tensor cores; on the CPU NCHW is as fast
        if self.channels_last:
            self.denoiser.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.denoiser.parameters(), lr=options.lr,
                                           weight_decay=options.weight_decay, betas=(0.9, 0.99),
                                           **optimizer_options(self.acc.device))
        self.weighting = None  # EDM2's learned loss weighting: trained beside the model, not part of it
        if options.loss_weighting == "uncertainty":
            self.weighting = UncertaintyWeighting().to(self.acc.device)
            self.optimizer.add_param_group({"params": list(self.weighting.parameters()), "weight_decay": 0.0})
            # ln sigma of each timestep; clamped, as alpha_bar may reach 0 at t = T - 1 (ln sigma = inf)
            self._log_sigma = log_sigma(self.denoiser.alpha_bar.double()).clamp(-20, 20).float().to(self.acc.device)
        self.batches = self.make_batches(data, options)
        self.step = 0
        self.ema = EMA(self.denoiser, options.ema_decay, std=options.ema_std)
        self.posthoc = PostHocEMA(self.denoiser) if options.ema_snapshots else None
        if self.rank > 0:  # timesteps, noise and dropout of their own
            seed_everything(process_seed(options.seed, self.rank))
        self.logger = RunLogger(self.out) if self.main else _Quiet()  # the one guard on what is written
        self._collective = True  # False while the main process alone runs the hooks
        self._resume()
        self.model, self.optimizer = self.acc.prepare(self.denoiser, self.optimizer)
        self.ema.model.to(self.acc.device)
        for tracker in self.posthoc.emas if self.posthoc is not None else []:
            tracker.model.to(self.acc.device)
        self.forward = torch.compile(self.model) if options.compile else self.model

    def make_batches(self, data: ImageData, options: TrainOptions) -> TensorBatches:
        """The training batches of this process (a latent trainer batches its cached latents instead)."""
        hflip = options.hflip and "mask" not in self.tables  # a flipped image would not match its mask
        return TensorBatches(data, options.batch_size, hflip=hflip, color_jitter=options.color_jitter,
                             seed=options.seed, device=self.acc.device, rank=self.rank, world=self.world)

    # ----------------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        if self.main:
            for note in recover_checkpoints(self.out):
                self.logger.note(f"recovered after a crash: {note}")
        self.acc.wait_for_everyone()  # the others read what the main process repaired
        if not list_checkpoints(self.out):
            if self.main:
                self.logger.truncate(0)  # the metrics of a run killed before its first checkpoint
                self.logger.note("started a new run at step 0")
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
        self._resume_optimizer(ckpt, state)
        self.step = int(state.get("step", 0))
        self.ema.updates = int(state.get("ema_updates", self.step))
        self._resume_posthoc(ckpt)
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])
        saved_world = int(state.get("world_size", 1))
        saved_rng = read_rng_state(ckpt, state, self.rank) if saved_world == self.world else None
        if saved_rng is not None:
            set_rng_state(*saved_rng)
        else:  # fresh randomness, not a replay
            why = ("holds no random-generator state for this process" if saved_world == self.world else
                   f"was saved by {saved_world} process(es) and this run has {self.world}")
            self.logger.note(f"{ckpt.name} {why}; reseeding every process from seed, step and rank "
                             "(the run continues, but not as a replay of the same random draws)")
            seed_everything(process_seed(self.opt.seed, self.rank, self.step))
        self.logger.truncate(self.step)  # steps logged after this checkpoint are trained again
        self.logger.note(f"resumed from {ckpt} at step {self.step}")

    def _resume_posthoc(self, ckpt: Path) -> None:
        """The post-hoc EMA trackers from ``ckpt``; snapshots after it are dropped (those steps are trained again)."""
        if self.main:
            gone = drop_snapshots_after(self.out, self.step)
            if gone:
                self.logger.note(f"removed {gone} EMA snapshot(s) after step {self.step}: those steps are trained again")
        if self.posthoc is None:
            return
        if (ckpt / POSTHOC_FILE).is_file():
            from safetensors.torch import load_file

            self.posthoc.load(load_file(str(ckpt / POSTHOC_FILE)), self.step)
        else:
            self.posthoc = PostHocEMA(self.denoiser)  # the trackers start from this checkpoint's weights
            self.posthoc.updates = self.step
            self.logger.note(f"{ckpt.name} holds no post-hoc EMA trackers; they start from its weights")

    def _resume_optimizer(self, ckpt: Path, state: dict) -> None:
        """The optimizer's state (and the learned loss weighting's weights) from ``ckpt``; a run that
        switches --loss-weighting on or off keeps the model's weights and starts the optimizer afresh."""
        has_weighting = (ckpt / WEIGHTING_FILE).is_file()
        if self.weighting is not None and has_weighting:
            load_weights(self.weighting, ckpt / WEIGHTING_FILE)
        if has_weighting != (self.weighting is not None):
            self.logger.note(f"{ckpt.name} was trained with{'' if has_weighting else 'out'} --loss-weighting "
                             "uncertainty and this run is not: the optimizer starts afresh")
            return
        if (ckpt / "optimizer.safetensors").exists() and "optimizer" in state:
            from safetensors.torch import load_file

            self.optimizer.load_state_dict(optimizer_from_tensors(load_file(str(ckpt / "optimizer.safetensors")),
                                                                  state["optimizer"]))

    def save(self) -> Path:
        """Write a checkpoint of this step (on the main process; the path on every process).

        Called by every process, it gathers their generator states first; called by the main
        process alone (a hook), it saves the main process's and resuming reseeds the others."""
        state = {"ema_updates": self.ema.updates, "batches": self.batches.state_dict(),
                 "images_seen": self.step * self.opt.batch_size * self.opt.grad_accum, "world_size": self.world}
        ranks = None
        if self.world > 1 and self._collective:
            from accelerate.utils import gather_object

            ranks = gather_object([rng_state()])  # one (tensors, scalars) per process, in rank order
        path = self.out / "checkpoints" / f"step_{self.step:08d}"
        if self.main:
            path = save_checkpoint(self.out, self.step, model=self.acc.unwrap_model(self.model), ema=self.ema.model,
                                   optimizer=self.optimizer, config=self.config, trainer_state=state,
                                   keep=self.opt.keep, rng_ranks=ranks,
                                   extra=self._extra_files())
            if self.posthoc is not None:  # every checkpoint's step has its snapshot, for fromnoise posthoc-ema
                save_snapshot(self.out, self.step, self.posthoc)
        if self._collective:
            self.acc.wait_for_everyone()
        return path

    def _extra_files(self) -> dict:
        """What a checkpoint holds beside the model: the learned loss weighting, the post-hoc EMA trackers."""
        extra = {}
        if self.weighting is not None:
            extra[WEIGHTING_FILE] = self.weighting
        if self.posthoc is not None:
            extra[POSTHOC_FILE] = self.posthoc.state()
        return extra

    # ------------------------------------------------------------------------------------- loop
    def _lr(self, step: int, progress: float = 0.0) -> float:
        return learning_rate(self.opt.lr, step, self.opt.warmup, self.opt.lr_decay, progress)

    def _progress(self, goal: int | None, start: float, deadline: float | None) -> float:
        """How far through its budget this invocation is, 0..1: the further of steps and wall time."""
        done = [self.step / goal] if goal else []
        if deadline is not None:
            done.append((self._now() - start) / (deadline - start))
        return min(1.0, max(done, default=0.0))

    def _now(self) -> float:
        return budget_clock(self.opt.clock)

    def _target_steps(self) -> int | None:
        per_epoch = math.ceil(len(self.data) / (self.opt.batch_size * self.opt.grad_accum))
        goals = [g for g in (self.opt.steps, self.opt.epochs and math.ceil(self.opt.epochs * per_epoch)) if g]
        return min(goals) if goals else None

    def draw(self, x0: torch.Tensor, info: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The timesteps (b,) and the noise (like x0) of a batch, from this process's generator.

        A subclass may replace it (the multi-process tests make them functions of the image index)."""
        if self.opt.t_sampling == "lognormal":
            t = lognormal_timesteps(x0.shape[0], self.denoiser.alpha_bar, self.opt.lognormal_mean, self.opt.lognormal_std,
                                      device=x0.device)
        else:
            t = torch.randint(0, self.denoiser.num_timesteps, (x0.shape[0],), device=x0.device)
        return t, torch.randn_like(x0)

    def train_step(self, x0: torch.Tensor, info: dict) -> dict:
        """One forward/backward on a batch; returns its loss and pseudo-accuracy (reference 003)."""
        d = self.denoiser
        b = x0.shape[0]
        t, noise = self.draw(x0, info)
        x_t = q_sample(x0, t, noise, d.alpha_bar)
        if self.channels_last:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        cond = batch_condition(self.tables, info["indices"])
        if cond:  # tables stay on the CPU; a batch's rows go where the model is
            cond = {k: v.to(x0.device) for k, v in cond.items()}
        drop = dropout_mask(b, self.opt.condition_dropout, device=x0.device) if cond else None
        with self.acc.autocast():
            out = self.forward(x_t, t, cond, drop)
        per_sample = diffusion_loss(out, target(d.prediction, x0, noise, t, d.alpha_bar), t, d.alpha_bar,
                                    d.prediction, self.opt.min_snr_gamma)
        loss = per_sample.mean()  # what is logged and plotted: comparable with or without the weighting
        if self.weighting is not None:
            self.acc.backward(uncertainty_weighted(per_sample, self.weighting(self._log_sigma[t])).mean())
        else:
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
        start, last_log, seen_since = self._now(), time.time(), 0
        deadline = start + 60 * self.opt.minutes if self.opt.minutes else None
        bar = tqdm(total=goal, initial=self.step, desc="train", unit="step",
                   disable=not (self.opt.progress and self.main), dynamic_ncols=True)
        self.model.train()
        batches = iter(self.batches)
        stats: dict = {}
        self._stop_signal = None
        handlers = self._catch_signals()
        try:
            while goal is None or self.step < goal:
                progress, time_up = self._agree(goal, start, deadline)
                if time_up or self._stop_signal is not None:
                    break
                last_log, seen_since = self._one_step(batches, progress, last_log, seen_since, bar, stats)
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
        self.logger.note(f"saved {path} after {self._now() - start:.0f} s ({self.opt.clock}) at step {self.step}")
        self.logger.close()
        self.acc.wait_for_everyone()  # every process returns once the run's files are written
        return self.out

    def _agree(self, goal, start, deadline) -> tuple[float, bool]:
        """(budget progress, time is up) as the main process sees them, and any stop signal that
        reached any process: one all-reduce, so every process takes the same lr and stops together."""
        progress = self._progress(goal, start, deadline)
        time_up = deadline is not None and self._now() >= deadline
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

    def _catch_signals(self) -> dict:
        """SIGINT / SIGTERM set a flag that the loop reads after the current step (main thread only)."""
        return catch_stop_signals(lambda sig: setattr(self, "_stop_signal", sig))

    @staticmethod
    def _restore_signals(handlers: dict) -> None:
        restore_signals(handlers)

    def _check_finite(self, loss: float, micro: int) -> None:
        if math.isfinite(loss):
            return
        last = list_checkpoints(self.out)
        where = f" (micro-batch {micro + 1} of {self.opt.grad_accum})" if self.opt.grad_accum > 1 else ""
        raise UserError(f"the loss became {loss} at step {self.step + 1}{where}; training stopped before the "
                        f"optimizer step. The last good checkpoint is "
                        f"{last[-1] if last else 'none (none was saved yet)'}; lower --lr or raise --grad-clip "
                        "and rerun")

    def _one_step(self, batches, progress, last_log, seen_since, bar, stats):
        """One optimizer step over ``grad_accum`` micro-batches, each checked for a finite loss."""
        lr = self._lr(self.step, progress)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        for micro in range(self.opt.grad_accum):
            x0, info = next(batches)
            with self.acc.accumulate(self.model):
                stats.update(self.train_step(x0, info))
                if self.world > 1:  # the global figures, and every process sees the same non-finite loss
                    both = self.acc.reduce(torch.stack([stats["loss"].float(), stats["pseudo_acc"].float()]), "mean")
                    stats.update(loss=both[0], pseudo_acc=both[1])
                self._check_finite(float(stats["loss"]), micro)
                if self.weighting is not None and self.world > 1 and self.acc.sync_gradients:
                    self._average_weighting_grads()  # DDP averages the model's gradients, not these
                if self.acc.sync_gradients and self.opt.grad_clip:
                    self.acc.clip_grad_norm_(self.model.parameters(), self.opt.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            seen_since += x0.shape[0] * self.world
        self.ema.update(self.acc.unwrap_model(self.model))
        if self.posthoc is not None:
            self.posthoc.update(self.acc.unwrap_model(self.model))
        self.step += 1
        if self.posthoc is not None and self.main and self.step % self.opt.ema_snapshots == 0:
            save_snapshot(self.out, self.step, self.posthoc)
        if self.step % self.opt.log_every == 0 or self.step == 1:
            last_log, seen_since = self._log(stats, last_log, seen_since, bar)
        bar.update(1)
        if self.step % self.opt.sample_every == 0:
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

    def _average_weighting_grads(self) -> None:
        for p in self.weighting.parameters():
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad.div_(self.world)

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
        """A sample grid from the EMA weights (one row per class when class-conditional) and the loss plot
        (main process only)."""
        if not self.main:
            return
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
