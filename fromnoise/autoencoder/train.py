"""Training the autoencoder from scratch: the house's conventions, a loss of its own.

    AutoencoderTrainer(AutoencoderConfig(image_size=256, channels=4, factor=8), data,
                       AutoencoderTrainingConfig(out="runs/ae", minutes=30)).run()

Like the diffusion trainer (``fromnoise.training.trainer``): HuggingFace accelerate (one
process; bf16 autocast on CUDA, fp32 on the CPU), AdamW with a linear warm-up, gradient
clipping, a tqdm bar, crash-safe checkpoints (``save_checkpoint``) that hold the weights, the
optimizer, the data order and every random generator's state, so rerunning the same command
resumes where it stopped; SIGINT / SIGTERM save and stop. Pictures: ``samples/step_*.png`` with
the originals in the top row and their reconstructions below, and ``loss.png``.

The optional discriminator (``disc_start``) is saved beside the checkpoint's files as
``discriminator.safetensors`` (+ ``disc_optimizer.safetensors``), written after the checkpoint
directory is complete: a kill between the two leaves a checkpoint whose discriminator restarts
fresh on resume (log.txt says so).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from ..data import ImageData, TensorBatches
from ..errors import UserError
from ..rules import Field, check_dataclass_fields, check_keys, located
from ..checkpoint import (
    list_checkpoints,
    load_weights,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_checkpoint,
    read_rng_state,
    recover_checkpoints,
    save_checkpoint,
    set_rng_state,
)
from ..training.logging import RunLogger
from ..training.signals import catch_stop_signals, restore_signals
from ..training.trainer import (
    TrainingInterrupted,
    budget_clock,
    learning_rate,
    optimizer_options,
    seed_everything,
)
from .latents import check_data, composite_alpha
from .losses import PatchDiscriminator, adaptive_weight, hinge_d_loss, patch_layers, reconstruction_loss
from .model import KIND, Autoencoder, AutoencoderConfig, autoencoder_config


@dataclass
class AutoencoderTrainingConfig:
    """How to train the autoencoder; validated on construction. Its defaults are the CLI's."""

    out: str = "runs/autoencoder"      # run directory: checkpoints, samples, logs
    steps: int | None = None           # stop after this many optimizer steps in total
    minutes: float | None = None       # ... or after this much time in this invocation (see clock)
    clock: str = "wall"                # minutes of "wall" time, or of this process's "cpu" time (benchmarks)
    batch_size: int = 8
    lr: float = 4e-4                   # peak AdamW learning rate
    warmup: int = 50                   # linear lr warm-up steps
    grad_clip: float = 1.0             # max gradient norm (0: off)
    kl_weight: float = 1e-6            # LDM's KL weight (see fromnoise.autoencoder.losses)
    ssim_weight: float = 1.0           # weight of (1 - SSIM) beside L1
    disc_start: int | None = None      # step at which the PatchGAN discriminator switches on (None: never)
    disc_weight: float = 0.5           # LDM's discriminator weight (times the adaptive weight)
    hflip: bool = True                 # random horizontal flips (the mask channel flips with the image)
    sample_every: int = 500            # steps between reconstruction grids (and loss plots)
    save_every: int = 1000             # steps between checkpoints
    keep: int = 3                      # checkpoints kept
    num_samples: int = 8               # images in each reconstruction grid
    log_every: int = 10
    seed: int = 0
    progress: bool = True

    _RULES = {
        "out": Field("str"), "steps": Field("int", 1, None, none=True),
        "minutes": Field("float", 0, None, none=True, lo_open=True),
        "clock": Field("choice", choices=("wall", "cpu")), "batch_size": Field("int", 1, 65536),
        "lr": Field("float", 0, 1, lo_open=True), "warmup": Field("int", 0, None),
        "grad_clip": Field("float", 0, None), "kl_weight": Field("float", 0, 1),
        "ssim_weight": Field("float", 0, 100), "disc_start": Field("int", 0, None, none=True),
        "disc_weight": Field("float", 0, 100), "hflip": Field("bool"), "sample_every": Field("int", 1, None),
        "save_every": Field("int", 1, None), "keep": Field("int", 1, None), "num_samples": Field("int", 1, 256),
        "log_every": Field("int", 1, None), "seed": Field("int"), "progress": Field("bool"),
    }

    def __post_init__(self):
        try:
            check_dataclass_fields(self, "autoencoder training")
        except UserError as err:
            raise UserError(f"{err}; fix that training option") from None

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> AutoencoderTrainingConfig:
        try:
            check_keys("training", d, [f.name for f in fields(cls)])
            return cls(**d)
        except UserError as err:
            raise located(where, err) from None


class AutoencoderTrainer:
    """Trains an :class:`Autoencoder` described by ``config`` on ``data`` (RGBA composited over white)."""

    def __init__(self, config: AutoencoderConfig, data: ImageData, options: AutoencoderTrainingConfig):
        from accelerate import Accelerator

        self.opt, self.out = options, Path(options.out)
        cuda = torch.cuda.is_available()
        self.acc = Accelerator(mixed_precision="bf16" if cuda and torch.cuda.is_bf16_supported() else "no",
                               cpu=not cuda)
        seed_everything(options.seed)
        self.ae = Autoencoder(config)
        check_data(self.ae, data, "the training images")
        self.data = composite_alpha(data)
        self.config = {"kind": KIND, "autoencoder": config.to_dict(), "data": data.description,
                       "training": asdict(options)}
        self.optimizer = torch.optim.AdamW(self.ae.parameters(), lr=options.lr, betas=(0.5, 0.9),
                                           **optimizer_options(self.acc.device))
        self.disc = self.disc_opt = None
        if options.disc_start is not None:
            self.disc = PatchDiscriminator(config.channels, layers=patch_layers(config.image_size))
            self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=options.lr, betas=(0.5, 0.9),
                                              **optimizer_options(self.acc.device))
        self.batches = TensorBatches(self.data, options.batch_size, hflip=options.hflip, seed=options.seed,
                                     device=self.acc.device)
        self.step = 0
        self.logger = RunLogger(self.out)
        self._resume()
        self.ae, self.optimizer = self.acc.prepare(self.ae, self.optimizer)
        if self.disc is not None:
            self.disc, self.disc_opt = self.acc.prepare(self.disc, self.disc_opt)
        self._stop_signal = None

    # ----------------------------------------------------------------------------------- resume
    def _resume(self) -> None:
        for note in recover_checkpoints(self.out):
            self.logger.note(f"recovered after a crash: {note}")
        if not list_checkpoints(self.out):
            self.logger.truncate(0)
            self.logger.note("started a new autoencoder run at step 0")
            return
        ckpt, saved, state = read_checkpoint(self.out)
        if autoencoder_config(saved, where=f"'{ckpt}'").to_dict() != self.config["autoencoder"]:
            raise UserError(f"'{self.out}' already holds an autoencoder of other settings ({ckpt.name}); resume it "
                            "with the same --factor, --image-size, channels and widths, or train into a new --out")
        load_weights(self.ae, ckpt / "model.safetensors")
        if (ckpt / "optimizer.safetensors").exists() and "optimizer" in state:
            self.optimizer.load_state_dict(optimizer_from_tensors(load_file(str(ckpt / "optimizer.safetensors")),
                                                                  state["optimizer"]))
        self.step = int(state.get("step", 0))
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])
        if self.disc is not None:
            if (ckpt / "discriminator.safetensors").exists() and "disc_optimizer" in state:
                load_weights(self.disc, ckpt / "discriminator.safetensors")
                self.disc_opt.load_state_dict(optimizer_from_tensors(
                    load_file(str(ckpt / "disc_optimizer.safetensors")), state["disc_optimizer"]))
            else:
                self.logger.note(f"{ckpt.name} holds no discriminator; it starts fresh")
        saved_rng = read_rng_state(ckpt, state, 0)
        if saved_rng is not None:
            set_rng_state(*saved_rng)
        else:
            seed_everything(self.opt.seed + self.step)
        self.logger.truncate(self.step)
        self.logger.note(f"resumed from {ckpt} at step {self.step}")

    def save(self) -> Path:
        """Write a checkpoint of this step (and the discriminator beside it)."""
        state = {"batches": self.batches.state_dict(), "images_seen": self.step * self.opt.batch_size}
        extra = None
        if self.disc is not None:  # written inside the checkpoint before it is renamed into place
            disc_tensors, state["disc_optimizer"] = optimizer_to_tensors(self.disc_opt)
            extra = {"discriminator.safetensors": self.acc.unwrap_model(self.disc),
                     "disc_optimizer.safetensors": disc_tensors}
        return save_checkpoint(self.out, self.step, model=self.acc.unwrap_model(self.ae), optimizer=self.optimizer,
                               config=self.config, trainer_state=state, keep=self.opt.keep, extra=extra)

    # ------------------------------------------------------------------------------------- step
    def _gan_on(self) -> bool:
        return self.disc is not None and self.step >= self.opt.disc_start

    def train_step(self, x: torch.Tensor) -> dict:
        """One optimizer step of the autoencoder (and of the discriminator once it is on)."""
        o = self.opt
        with self.acc.autocast():
            rec, posterior = self.ae(x)
        rec = rec.float()
        rec_loss = reconstruction_loss(x, rec, o.ssim_weight).mean()
        kl = posterior.kl().float().mean() / x[0].numel()
        loss = rec_loss + o.kl_weight * kl
        stats = {"rec": rec_loss.detach(), "kl": kl.detach()}
        gan = self._gan_on()
        if gan:
            g_loss = -self.disc(rec).mean()
            last = self.acc.unwrap_model(self.ae).decoder.conv_out.weight
            lam = adaptive_weight(rec_loss, g_loss, last) * o.disc_weight
            loss = loss + lam * g_loss
            stats.update(g_loss=g_loss.detach(), disc_lambda=lam)
        self.optimizer.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        if o.grad_clip:
            self.acc.clip_grad_norm_(self.ae.parameters(), o.grad_clip)
        self.optimizer.step()
        if gan:
            self.disc_opt.zero_grad(set_to_none=True)  # drop what the generator's loss left in D
            d_loss = hinge_d_loss(self.disc(x), self.disc(rec.detach()))
            self.acc.backward(d_loss)
            self.disc_opt.step()
            stats["d_loss"] = d_loss.detach()
        with torch.no_grad():
            mse = ((rec.clamp(-1, 1) - x) / 2).pow(2).mean()
            stats["psnr"] = -10 * torch.log10(mse.clamp_min(1e-10))
        stats["loss"] = loss.detach()
        return stats

    # ------------------------------------------------------------------------------------- loop
    def run(self) -> Path:
        """Train until ``steps`` or ``minutes``; returns the run directory."""
        goal, o = self.opt.steps, self.opt
        if goal is None and o.minutes is None:
            raise UserError("say how long to train the autoencoder: --steps or --minutes")
        if goal is not None and self.step >= goal:
            self.logger.note(f"already at step {self.step} >= {goal}; nothing to train")
            return self.out
        start = self._now()
        deadline = start + 60 * o.minutes if o.minutes else None
        bar = tqdm(total=goal, initial=self.step, desc="train-autoencoder", unit="step", disable=not o.progress,
                   dynamic_ncols=True)
        self.ae.train()
        batches = iter(self.batches)
        handlers = self._catch_signals()
        stats, last_log, seen = {}, time.time(), 0
        try:
            while goal is None or self.step < goal:
                if (deadline is not None and self._now() >= deadline) or self._stop_signal is not None:
                    break
                progress = max([self.step / goal] if goal else [0.0])
                for g in self.optimizer.param_groups:
                    g["lr"] = learning_rate(o.lr, self.step, o.warmup, "none", progress)
                x, _ = next(batches)
                stats = self.train_step(x)
                if not math.isfinite(float(stats["loss"])):
                    last = list_checkpoints(self.out)
                    raise UserError(f"the autoencoder's loss became {float(stats['loss'])} at step {self.step + 1}; "
                                    f"the last good checkpoint is {last[-1] if last else 'none'}; lower --lr and rerun")
                self.step += 1
                seen += x.shape[0]
                if self.step % o.log_every == 0 or self.step == 1:
                    last_log, seen = self._log(stats, last_log, seen, bar)
                bar.update(1)
                if self.step % o.sample_every == 0:
                    self.pictures()
                if self.step % o.save_every == 0:
                    self.save()
        finally:
            self._restore_signals(handlers)
        bar.close()
        if stats and self.step % o.log_every:
            self._log(stats, last_log, seen, bar)
        path = self.save()
        if self._stop_signal is not None:
            name = self._stop_signal.name
            self.logger.note(f"stopped by {name} at step {self.step}: saved {path}")
            self.logger.close()
            raise TrainingInterrupted(f"{name} at step {self.step}; saved {path}. Rerun the same command to resume",
                                      int(self._stop_signal))
        self.pictures()
        self.logger.note(f"saved {path} after {self._now() - start:.0f} s ({o.clock}) at step {self.step}")
        self.logger.close()
        return self.out

    def _now(self) -> float:
        return budget_clock(self.opt.clock)

    def _log(self, stats: dict, last_log: float, seen: int, bar) -> tuple[float, int]:
        now = time.time()
        values = {k: float(v) for k, v in stats.items()}
        values.update(lr=self.optimizer.param_groups[0]["lr"], images_per_s=seen / max(now - last_log, 1e-9),
                      epoch=self.batches.epoch)
        self.logger.scalars(self.step, values)
        bar.set_postfix(loss=f"{values['loss']:.4f}", psnr=f"{values['psnr']:.1f}")
        return now, 0

    @torch.no_grad()
    def reconstruct(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(originals, reconstructions) of the first ``n`` training images, in [0, 1], from the posterior mode."""
        from ..data import to_float

        ae = self.acc.unwrap_model(self.ae)
        was = ae.training
        ae.eval()
        x = to_float(self.data.images[:n]).to(self.acc.device)
        rec = ae.decode(ae.encode(x).mode()).float().clamp(-1, 1)
        ae.train(was)
        return ((x + 1) / 2).cpu(), ((rec + 1) / 2).cpu()

    def pictures(self) -> None:
        """``samples/step_*.png`` (originals on top, reconstructions below; the colour of RGBA images) and loss.png."""
        from ..viz import save_grid

        orig, rec = self.reconstruct(min(self.opt.num_samples, len(self.data)))
        show = torch.cat([orig, rec])[:, :3]
        path = save_grid(show, self.out / "samples" / f"step_{self.step:08d}.png", nrow=orig.shape[0])
        save_grid(show, self.out / "samples" / "latest.png", nrow=orig.shape[0])
        self.logger.images(self.step, show, path)
        self.logger.plot()

    # ---------------------------------------------------------------------------------- signals
    def _catch_signals(self) -> dict:
        """SIGINT / SIGTERM set a flag read after the current step (main thread only)."""
        return catch_stop_signals(lambda sig: setattr(self, "_stop_signal", sig))

    @staticmethod
    def _restore_signals(handlers: dict) -> None:
        restore_signals(handlers)
