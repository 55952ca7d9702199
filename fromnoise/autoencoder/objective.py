"""The autoencoder objective: reconstruction (L1 + SSIM) + KL, and the PatchGAN discriminator as an aux part.

    objective = AutoencoderObjective(options, channels, image_size, device, autocast)
    per_sample, stats = objective(net, x, info)    # stats: rec, kl, [g_loss, disc_lambda], psnr, loss
    stats = objective.after_step(loop)             # the discriminator's own step: d_loss

The training loop (``fromnoise.training.loop``) calls it as it calls the diffusion objective; the
losses are :mod:`.losses`. From ``disc_start`` on, the discriminator adds LDM's adaptive-weighted
adversarial term to the autoencoder's loss and, after the autoencoder's optimizer step, takes a
hinge-loss step of its own optimizer on the batch's originals and (detached) reconstructions. Its
weights and optimizer are saved in every checkpoint as ``discriminator.safetensors`` and
``disc_optimizer.safetensors`` (``disc_optimizer`` in trainer.json).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..checkpoint import load_weights, optimizer_from_tensors, optimizer_to_tensors
from .config import AutoencoderTrainingConfig
from .losses import PatchDiscriminator, adaptive_weight, hinge_d_loss, patch_layers, reconstruction_loss

DISC_FILE, DISC_OPTIMIZER_FILE = "discriminator.safetensors", "disc_optimizer.safetensors"


class AutoencoderObjective:
    """LDM's autoencoder loss (see the module docstring and :mod:`.losses`).

    Args:
        options: kl_weight, ssim_weight, disc_start (None: no discriminator), disc_weight, lr.
        channels, image_size: of the images (the discriminator's input and depth).
        autocast: a context-manager factory around the autoencoder's forward (bf16 on CUDA).
        step: a callable returning the loop's optimizer step (the discriminator switches on at disc_start).
        optimizer: builds the discriminator's optimizer from its parameters (the autoencoder's kind).
    """

    def __init__(self, options: AutoencoderTrainingConfig, channels: int, image_size: int, device,
                 autocast: Callable, step: Callable[[], int], optimizer: Callable):
        self.opt, self.autocast, self.step = options, autocast, step
        self.disc = self.disc_opt = None
        if options.disc_start is not None:
            self.disc = PatchDiscriminator(channels, layers=patch_layers(image_size)).to(device)
            self.disc_opt = optimizer(self.disc.parameters())
        self._pending = None  # (originals, reconstructions) of the micro-batch the discriminator trains on

    def gan_on(self) -> bool:
        return self.disc is not None and self.step() >= self.opt.disc_start

    def __call__(self, net, x: torch.Tensor, info: dict) -> tuple[torch.Tensor, dict]:
        """(per-sample loss (B,), stats) of the autoencoder on images ``x`` in [-1, 1]."""
        o = self.opt
        if o.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            rec, posterior = net(x, sample=o.posterior == "sample")
        rec = rec.float()
        rec_ps = reconstruction_loss(x, rec, o.ssim_weight, o.pixel_loss)
        kl_ps = posterior.kl().float() / x[0].numel()  # per pixel value: LDM's kl_weight (see .losses)
        per_sample = rec_ps + o.kl_weight * kl_ps
        stats = {"rec": rec_ps.mean().detach(), "kl": kl_ps.mean().detach()}
        self._pending = None
        if self.gan_on():
            g_loss = -self.disc(rec).mean()
            decoder = net.module.decoder if hasattr(net, "module") else net.decoder  # DDP wraps the network
            lam = adaptive_weight(rec_ps.mean(), g_loss, decoder.conv_out.weight) * o.disc_weight
            per_sample = per_sample + lam * g_loss
            stats.update(g_loss=g_loss.detach(), disc_lambda=lam)
            self._pending = (x, rec.detach())
        with torch.no_grad():
            mse = ((rec.clamp(-1, 1) - x) / 2).pow(2).mean()
            stats["psnr"] = -10 * torch.log10(mse.clamp_min(1e-10))
        stats["loss"] = per_sample.mean().detach()
        return per_sample, stats

    def parameters(self) -> list:
        return []  # the discriminator has its own optimizer (after_step)

    def after_step(self, loop) -> dict:
        """The discriminator's hinge-loss step on the last micro-batch (once it is on); {"d_loss"}."""
        if self._pending is None:
            return {}
        x, rec = self._pending
        self._pending = None
        self.disc_opt.zero_grad(set_to_none=True)  # drop what the autoencoder's loss left in D
        d_loss = hinge_d_loss(self.disc(x), self.disc(rec))
        loop.acc.backward(d_loss)
        loop.average_gradients(self.disc.parameters())  # not wrapped by DDP: averaged over the processes here
        self.disc_opt.step()
        return {"d_loss": d_loss.detach()}

    def checkpoint(self) -> tuple[dict, dict]:
        if self.disc is None:
            return {}, {}
        tensors, scalars = optimizer_to_tensors(self.disc_opt)
        return {DISC_FILE: self.disc, DISC_OPTIMIZER_FILE: tensors}, {"disc_optimizer": scalars}

    def load(self, ckpt: Path, state: dict, note: Callable[[str], None]) -> bool:
        """The discriminator and its optimizer from ``ckpt``; a checkpoint without them (killed between the
        two writes of an older version, or trained without one) starts it fresh."""
        if self.disc is not None:
            if (ckpt / DISC_FILE).exists() and "disc_optimizer" in state:
                load_weights(self.disc, ckpt / DISC_FILE)
                self.disc_opt.load_state_dict(optimizer_from_tensors(load_file(str(ckpt / DISC_OPTIMIZER_FILE)),
                                                                     state["disc_optimizer"]))
            else:
                note(f"{ckpt.name} holds no discriminator; it starts fresh")
        return True
