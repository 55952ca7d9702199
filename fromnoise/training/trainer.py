"""The diffusion trainer: the one training loop (:mod:`.loop`) with the diffusion objective.

    Trainer(config, data, TrainOptions(out="runs/fashion", minutes=10)).run()

It rebuilds nothing it can resume: rerunning the same command continues from the newest complete
checkpoint in ``out`` (step count, weights, EMA, optimizer, data order and every random generator's
state), so N steps in one run and N/2 + resume + N/2 give the same weights, bit for bit, on the
CPU. SIGINT and SIGTERM save a checkpoint and stop cleanly; a non-finite loss in any micro-batch
stops training before the optimizer step, naming the last good checkpoint.

Data parallel (``accelerate launch -m fromnoise train``, ``fromnoise train --processes N``):
``batch_size`` is the global batch B; each of the N processes trains on its B / N slice of every
global batch (``TensorBatches``), with its own timesteps, noise and dropout (seeded from the run
seed and its rank), and accelerate averages the gradients, so one step on N processes is one step
on one. A resume on another process count reseeds every process from (seed, step, rank).

On CUDA: bf16 autocast with fp32 master weights, channels_last, fused AdamW, TF32 matmuls and
convolutions, the data set copied to the GPU once through pinned memory.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..build import build_denoiser
from ..conditioning.tables import batch_condition
from ..config import TrainingConfig, as_config
from ..data import ImageData, TensorBatches
from ..errors import UserError
from ..sampling import generate
from ..viz import save_grid
from .diffusion_objective import WEIGHTING_FILE, DiffusionObjective
from .loop import TrainingLoop
from .runtime import optimizer_options, process_seed
from .schedule import LR_DECAYS, budget_clock, learning_rate
from .signals import TrainingInterrupted
from .state import POSTHOC_FILE, jsonable

# How to train: fromnoise.config.TrainingConfig (validated on construction; its defaults are the CLI's).
TrainOptions = TrainingConfig

# the names callers import from here (kept as they were before the loop moved out)
__all__ = ["LR_DECAYS", "POSTHOC_FILE", "WEIGHTING_FILE", "Trainer", "TrainOptions", "TrainingInterrupted",
           "budget_clock", "learning_rate", "optimizer_options", "process_seed"]


class Trainer(TrainingLoop):
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
        super().__init__(options, data, hooks)
        self.tables = tables or {}
        config = as_config(config)  # validated: known keys, ranges (a dict from make_config works too)
        self.config = dict(config.to_dict(), data=data.description, training=asdict(options))
        self.denoiser = build_denoiser(config)
        # NHWC convolutions on tensor cores; on the CPU NCHW is as fast
        self.channels_last = self.acc.device.type == "cuda"
        if self.channels_last:
            self.denoiser.to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(self.denoiser.parameters(), lr=options.lr, weight_decay=options.weight_decay,
                                      betas=(0.9, 0.99), **optimizer_options(self.acc.device))
        self.objective = DiffusionObjective(self.denoiser, options, self.tables, self.acc.device, self.acc.autocast,
                                            self.channels_last, draw=self.draw)
        if self.objective.parameters():
            optimizer.add_param_group({"params": self.objective.parameters(), "weight_decay": 0.0})
        self.start(self.denoiser, optimizer, self.make_batches(data, options), self.objective, ema=True)

    @property
    def weighting(self):
        """EDM2's learned loss weighting (``--loss-weighting uncertainty``), or None."""
        return self.objective.weighting

    def make_batches(self, data: ImageData, options: TrainOptions) -> TensorBatches:
        """The training batches of this process (a latent trainer batches its cached latents instead)."""
        hflip = options.hflip and "mask" not in self.tables  # a flipped image would not match its mask
        return TensorBatches(data, options.batch_size, hflip=hflip, color_jitter=options.color_jitter,
                             seed=options.seed, device=self.acc.device, rank=self.rank, world=self.world)

    def check_same_model(self, ckpt: Path, saved: dict) -> None:
        mine = {k: self.config[k] for k in ("model", "diffusion", "image", "conditioning")}
        theirs = {k: saved.get(k) for k in mine}
        if jsonable(mine) != jsonable(theirs):
            raise UserError(f"'{self.out}' already holds a run of a different model ({ckpt.name}); "
                            "resume it with the same settings, or train into a new --out directory")

    def draw(self, x0: torch.Tensor, info: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The timesteps (b,) and the noise (like x0) of a batch, from this process's generator.

        A subclass may replace it (the multi-process tests make them functions of the image index)."""
        return self.objective.draw(x0, info)

    @torch.no_grad()
    def pictures(self) -> None:
        """A sample grid from the EMA weights (one row per class when class-conditional) and the loss plot
        (main process only)."""
        if not self.main:
            return
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
